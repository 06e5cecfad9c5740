"""Device tests see only the device folders they write: no user folder from $HWLAT_DEVICES."""

from __future__ import annotations

import pytest

from hwlat.devices.registry import ENV_VAR


@pytest.fixture(autouse=True)
def _no_user_devices(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
