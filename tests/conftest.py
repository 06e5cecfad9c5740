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
