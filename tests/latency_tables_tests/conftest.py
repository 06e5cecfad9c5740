from __future__ import annotations

from pathlib import Path

import pytest

from hwlat.latency_tables import LatencyTable, TableMetadata
from hwlat.ops import spec as S

#: the shared data folder beside the repository root (<repo>/../shared/data)
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="session")
def ofa_dir() -> Path:
    d = SHARED_DATA / "ofa"
    if not (d / "note10_lut_224.yaml").is_file():
        pytest.skip(f"Once-for-All Note10 lookup tables not found in {d} (the shared data folder beside the repo)")
    return d


def make_meta(name: str = "cpu-ort-1t", *, runtime: str = "onnxruntime", threads: int = 1,
              host: dict | None = None, **kw) -> TableMetadata:
    return TableMetadata(
        device={"name": name, "runtime": runtime, "provider": "cpu", "threads": threads,
                "precision": "fp32", "location": "local"},
        host=host if host is not None else {"cpu": "Test CPU 3000", "cores": 2, "os": "Linux"},
        runtime=runtime,
        runtime_version="1.32.0",
        threads=threads,
        protocol={"warmup_min": 10, "rounds": 3},
        overhead_ms=0.012,
        **kw,
    )


def example_specs() -> list[S.OpSpec]:
    """A few ops of different kinds, including a 1-D fc input and add (parameter ``n``)."""
    return [
        S.conv((3, 32, 32), 16, 3, 2, act="relu"),
        S.dwconv((16, 16, 16), 3),
        S.pwconv((16, 16, 16), 32, act="relu6"),
        S.mbconv((16, 16, 16), 24, 5, 2, expand=6, se=1, act="hswish"),
        S.pool((16, 16, 16), 3, 2, mode="max"),
        S.gap((32, 8, 8)),
        S.fc((32,), 10),
        S.add((16, 16, 16)),
        S.act((16, 16, 16), "hswish"),
    ]


def stats(median: float, **kw) -> dict:
    return {"latency_ms": median, "median_ms": median, "min_ms": 0.85 * median, "iqr_ms": 0.1 * median,
            "p10_ms": 0.9 * median, "p90_ms": 1.2 * median, "mean_ms": 1.01 * median, "std_ms": 0.05 * median,
            "n": 200, "rounds": 12, "stability_pct": 0.4, "unstable": False, "remeasured": 0,
            "measured_utc": "2025-01-02T03:04:05+00:00", **kw}


@pytest.fixture
def table() -> LatencyTable:
    specs = example_specs()
    return LatencyTable.from_rows(make_meta(), [(s, stats(0.1 * (i + 1))) for i, s in enumerate(specs)])
