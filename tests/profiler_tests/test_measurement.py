"""Statistics of Measurement, Protocol validation and the timing loop, on synthetic times."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.profiler import Measurement, Protocol
from hwlat.profiler.runtimes.base import Prepared
from hwlat.profiler.timer import runs_for_round, warm_up


def test_statistics_match_numpy():
    rng = np.random.default_rng(0)
    rounds = [rng.normal(1e-3, 1e-5, 200) for _ in range(4)]
    m = Measurement("op", rounds)
    all_ms = np.concatenate(rounds) * 1e3
    assert m.n == 800
    assert m.median_ms == pytest.approx(np.median(all_ms))
    q25, q75 = np.percentile(all_ms, [25, 75])
    assert m.iqr_ms == pytest.approx(q75 - q25)
    assert m.p10_ms == pytest.approx(np.percentile(all_ms, 10))
    assert m.p90_ms == pytest.approx(np.percentile(all_ms, 90))
    assert m.mean_ms == pytest.approx(all_ms.mean())
    assert not m.noisy
    stats = m.to_stats()
    assert set(stats) >= {"median_ms", "iqr_ms", "p10_ms", "p90_ms", "n", "noisy"}


def test_noisy_when_rounds_disagree():
    steady = [np.full(50, 1e-3), np.full(50, 1e-3)]
    drift = [np.full(50, 1e-3), np.full(50, 1.3e-3)]
    assert not Measurement("a", steady).noisy
    m = Measurement("b", drift)
    assert m.round_spread == pytest.approx(0.3 / 1.15, rel=1e-6)
    assert m.noisy


def test_noisy_when_iqr_is_wide():
    rng = np.random.default_rng(1)
    m = Measurement("c", [rng.uniform(0.5e-3, 1.5e-3, 400)])
    assert m.relative_iqr > 0.4 and m.noisy


def test_repr_is_one_readable_line():
    m = Measurement("dwconv k3 c32 56x56", [np.full(400, 43.1e-6)])
    r = repr(m)
    assert r.startswith("dwconv k3 c32 56x56: 43.1 µs ± 0.0 (IQR), n=400")
    assert "\n" not in r


def test_merge_pools_rounds():
    a = Measurement("x", [np.full(10, 1e-3)])
    b = Measurement("x", [np.full(10, 2e-3)])
    assert a.merge(b).n == 20 and len(a.merge(b).rounds) == 2


def test_empty_measurement_rejected():
    with pytest.raises(ValueError):
        Measurement("x", [])


@pytest.mark.parametrize("bad", [{"rounds": 0}, {"round_time_s": -1.0}, {"min_runs": 10, "max_runs": 5},
                                 {"warmup_tol": float("nan")}, {"rounds": 2.5}])
def test_protocol_validation(bad):
    with pytest.raises(InputError):
        Protocol(**bad)


def test_protocol_round_trip_and_unknown_field():
    p = Protocol(rounds=3)
    assert Protocol.from_dict(p.to_dict()) == p
    with pytest.raises(InputError, match="unknown protocol field"):
        Protocol.from_dict({"roundz": 3})


class _Scripted(Prepared):
    """Returns scripted call times: slow at first (cold caches), then steady."""

    def __init__(self, cold: int, cold_s: float, warm_s: float) -> None:
        self.inputs = []
        self.calls = 0
        self.cold, self.cold_s, self.warm_s = cold, cold_s, warm_s

    def run(self) -> None:  # pragma: no cover - time_calls is overridden
        pass

    def outputs(self):  # pragma: no cover
        return []

    def time_calls(self, n: int) -> np.ndarray:
        out = np.array([self.cold_s if self.calls + i < self.cold else self.warm_s for i in range(n)])
        self.calls += n
        return out


class _Decaying(_Scripted):
    """Call i takes warm * (1 + 4 exp(-i / 8)): caches and allocators settling."""

    def time_calls(self, n: int) -> np.ndarray:
        i = np.arange(self.calls, self.calls + n)
        self.calls += n
        return 1e-3 * (1 + 4 * np.exp(-i / 8.0))


def test_warm_up_runs_until_stable():
    proto = Protocol(warmup_min_runs=10, warmup_batch=5, warmup_tol=0.05, warmup_max_runs=500, warmup_max_s=10)
    runs, est = warm_up(_Decaying(0, 0, 0), proto)
    # batch medians agree within 5 % only once 4 exp(-i/8) has decayed: after ~35 calls
    assert 35 <= runs <= 60
    assert est == pytest.approx(1e-3, rel=0.05)


def test_warm_up_does_at_least_the_minimum():
    runs, _ = warm_up(_Scripted(0, 1e-3, 1e-3), Protocol(warmup_min_runs=20, warmup_batch=5))
    assert runs == 20


def test_warm_up_stops_at_the_cap():
    class Drifting(_Scripted):
        def time_calls(self, n):
            self.calls += n
            return np.full(n, 1e-3 * (1 + self.calls))  # never stable

    runs, _ = warm_up(Drifting(0, 0, 0), Protocol(warmup_max_runs=60, warmup_max_s=10))
    assert runs == 60


def test_runs_for_round_clamps():
    proto = Protocol(round_time_s=0.05, min_runs=5, max_runs=1000)
    assert runs_for_round(1e-3, proto) == 50
    assert runs_for_round(1.0, proto) == 5
    assert runs_for_round(1e-7, proto) == 1000
    assert runs_for_round(float("nan"), proto) == 5
