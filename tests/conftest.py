"""Shared fixtures: the benchmark data folder beside the repository (../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data folder {SHARED_DATA} is absent (NAS-Bench-201 / Once-for-All files)")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _private_quiet_levels(tmp_path_factory):
    """The machine's remembered quiet level (hwlat.profiler.quiet) lives in a folder of this test
    session, not in the user's cache; subprocesses inherit it."""
    import os

    old = os.environ.get("HWLAT_CACHE")
    os.environ["HWLAT_CACHE"] = str(tmp_path_factory.mktemp("hwlat-cache"))
    yield
    if old is None:
        os.environ.pop("HWLAT_CACHE", None)
    else:
        os.environ["HWLAT_CACHE"] = old
