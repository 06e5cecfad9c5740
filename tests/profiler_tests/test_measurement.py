"""Statistics of Measurement, Protocol validation and the timing loop, on synthetic times and on a
simulated machine with two-speed interference."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.ops.ir import build_graph
from hwlat.ops.spec import conv, pool
from hwlat.profiler import Measurement, Protocol
from hwlat.profiler.measurement import STATISTICS
from hwlat.profiler.meter import Meter
from hwlat.profiler.profile import measure_specs, profile_ops
from hwlat.profiler.runtimes.base import Prepared
from hwlat.profiler.timer import runs_for_round, warm_up

from .fake_machine import TwoSpeedMachine, TwoSpeedRuntime, true_latency_s


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
    assert m.latency_ms == m.min_ms == pytest.approx(all_ms.min())  # the default statistic
    assert m.estimate_ms("p5") == pytest.approx(np.percentile(all_ms, 5))
    assert m.estimate_ms("median") == pytest.approx(m.median_ms)
    stats = m.to_stats()
    assert set(stats) >= {"latency_ms", "min_ms", "median_ms", "iqr_ms", "p10_ms", "p90_ms", "n", "rounds",
                          "stability_pct", "unstable"}


@pytest.mark.parametrize("statistic", STATISTICS)
def test_every_statistic_is_a_latency_within_the_samples(statistic):
    rng = np.random.default_rng(2)
    m = Measurement("op", [rng.uniform(1e-3, 2e-3, 50) for _ in range(6)], statistic=statistic)
    assert 1.0 <= m.latency_ms <= 2.0 and m.statistic == statistic


def test_quiet_statistic_is_the_median_of_the_quiet_rounds():
    quiet = [np.array([1.00e-3, 1.01e-3, 1.02e-3])] * 2
    slow = [np.array([1.7e-3, 1.8e-3, 1.9e-3])] * 4
    m = Measurement("op", slow[:2] + quiet + slow[2:], statistic="quiet")
    assert m.latency_ms == pytest.approx(1.01)
    assert m.median_ms == pytest.approx(1.7)  # the median lands on the slow speed, which dominates


def test_unknown_statistic_is_an_error():
    with pytest.raises(InputError, match="unknown statistic 'fastest'"):
        Measurement("op", [np.ones(3)], statistic="fastest")
    with pytest.raises(InputError, match="unknown statistic"):
        Protocol(statistic="fastest")


def test_unstable_when_the_halves_disagree():
    steady = [np.full(5, 1e-3)] * 4
    assert Measurement("a", steady).stability == 0 and not Measurement("a", steady).unstable
    # the quiet level was only seen in one round: the even and odd halves disagree
    once = [np.full(5, 1.0e-3), np.full(5, 1.5e-3), np.full(5, 1.5e-3), np.full(5, 1.5e-3)]
    m = Measurement("b", once)
    assert m.halves_ms() == pytest.approx((1.0, 1.5))
    assert m.stability == pytest.approx(0.4) and m.unstable
    assert Measurement("c", [np.full(5, 1e-3)]).stability == 0  # one round: nothing to compare


def test_repr_is_one_readable_line():
    m = Measurement("dwconv k3 c32 56x56", [np.full(400, 43.1e-6)])
    r = repr(m)
    assert r.startswith("dwconv k3 c32 56x56: 43.1 µs (min; median 43.1), n=400")
    assert "\n" not in r


# -- two-speed interference, simulated ------------------------------------------------------------

def _specs():
    return [conv((c, 16, 16), c, k) for c in (8, 16, 32) for k in (1, 3)] + [pool((16, 32, 32), 3, 1)]


def test_minimum_recovers_the_quiet_latency_where_the_median_does_not():
    """A machine slowed 1.7x in long spells (2/3 of the time): the minimum of interleaved single
    calls lands within 2 % of the undisturbed latency of every op; the median is off by 20 %+."""
    machine = TwoSpeedMachine(factor=1.7, quiet_s=0.3, slow_s=0.6, seed=3)
    rt = TwoSpeedRuntime(machine)
    specs = _specs()
    ms = measure_specs(rt, specs, Protocol(rounds=30, round_time_s=0.004, warmup_max_s=0.2))
    truth = np.array([true_latency_s(build_graph(s)) * 1e3 for s in specs])
    got = np.array([m.latency_ms for m in ms])
    med = np.array([m.median_ms for m in ms])
    assert machine.slow_calls / machine.calls > 0.5  # the slow speed dominated
    np.testing.assert_array_less(np.abs(got / truth - 1), 0.02)
    assert np.all(med / truth - 1 > 0.20)


def _copies_agree(budget: float, seed: int) -> tuple[float, float, float]:
    """Seven ops measured as two copies each in one chunk, on a host slow 98 % of the time whose
    quiet spells (0.5 ms on average) are shorter than the calls (0.9-1.5 ms): the share of copies
    within 2 % of each other, the median error against the truth, and the simulated time."""
    specs = _specs()
    machine = TwoSpeedMachine(factor=1.7, quiet_s=0.0005, slow_s=0.005, seed=seed, partial=True)
    meter = Meter(TwoSpeedRuntime(machine, scale=40), Protocol(warmup_max_s=0.2, settle_budget=budget,
                                                                reference=False))
    ms = meter.measure([meter.spec_item(s, f"{s.key}#{c}") for s in specs for c in (0, 1)])[:-1]
    got = np.array([m.latency_ms for m in ms]).reshape(-1, 2)
    truth = np.array([true_latency_s(build_graph(s)) * 1e3 * 40 for s in specs])
    return (float(np.mean(np.abs(got[:, 0] / got[:, 1] - 1) < 0.02)), float(np.median(got[:, 0] / truth - 1)),
            machine.now)


def test_a_busy_host_costs_time_not_accuracy():
    """Where few calls ever run undisturbed, the minimum settles only with more rounds: the
    settle budget gives them to the items whose estimate is still moving, and the two copies of
    each op then agree; without it they often do not."""
    off = [_copies_agree(0.0, seed) for seed in range(4)]
    on = [_copies_agree(6.0, seed) for seed in range(4)]
    agree_off, agree_on = np.mean([a for a, _, _ in off]), np.mean([a for a, _, _ in on])
    assert agree_off < 0.7 and agree_on > agree_off + 0.1, (agree_off, agree_on)
    assert max(abs(e) for _, e, _ in on) < 0.01
    assert sum(t for _, _, t in on) < 3 * sum(t for _, _, t in off)  # at a bounded cost


def test_canary_gives_the_interference_figure():
    machine = TwoSpeedMachine(factor=1.7, quiet_s=0.3, slow_s=0.6, seed=4)
    meter = Meter(TwoSpeedRuntime(machine), Protocol(rounds=20, round_time_s=0.004, warmup_max_s=0.2))
    for _ in range(3):
        meter.measure([meter.spec_item(s) for s in _specs()])
    f = meter.interference()
    share = machine.slow_calls / machine.calls
    assert f.rounds >= 3 * 20  # every round of every chunk, and the extra rounds of unstable items
    assert abs(f.slow_pct / 100 - share) < 0.2  # the share of slow rounds tracks the share of slow time
    assert f.slowdown == pytest.approx(1.7, rel=0.05)
    quiet = Meter(TwoSpeedRuntime(TwoSpeedMachine(factor=1.0)), Protocol(rounds=6, warmup_max_s=0.1))
    quiet.measure([quiet.spec_item(s) for s in _specs()[:2]])
    assert quiet.interference().slow_pct == 0 and "none seen" in quiet.interference().summary()


def test_a_chunk_measured_entirely_in_a_slow_spell_is_measured_again(tmp_path):
    """The first chunk runs in one long slow spell; only the canary of later chunks shows it."""
    specs = _specs()
    proto = Protocol(rounds=8, round_time_s=0.002, warmup_max_s=0.1, reference=False)
    first = Meter(TwoSpeedRuntime(TwoSpeedMachine(factor=1.0)), proto)
    ms = first.measure([first.spec_item(s) for s in specs[:3]])
    span = sum(sum(r.sum() for r in m.rounds) for m in ms)  # simulated seconds one chunk takes
    machine = TwoSpeedMachine(factor=1.7, schedule=[(2.5 * span, True), (1e9, False)])
    res = profile_ops(specs, "cpu-ort", runtime=TwoSpeedRuntime(machine), protocol=proto, out_dir=tmp_path,
                      progress=False, chunk_size=3, overhead=False)
    truth = {s.key: true_latency_s(build_graph(s)) * 1e3 for s in specs}
    for key in res.table.keys():
        assert res.table.lookup(key) == pytest.approx(truth[key], rel=0.02), key
    assert res.interference.chunks_remeasured >= 1 and res.interference.slow_pct > 0
    assert res.table.metadata.interference["chunks_remeasured"] >= 1
    assert res.table.metadata.statistic == "min"


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


def test_a_run_entirely_in_a_slow_spell_is_caught_by_the_remembered_quiet_level(tmp_path, monkeypatch):
    """A short run that falls wholly in one slow spell cannot see it from inside; the quiet level
    remembered from an earlier run on this host can, and the run waits for the spell to end."""
    monkeypatch.setenv("HWLAT_CACHE", str(tmp_path / "cache"))
    specs = _specs()
    proto = Protocol(rounds=8, round_time_s=0.002, warmup_max_s=0.1)
    quiet = profile_ops(specs, "cpu-ort", runtime=TwoSpeedRuntime(TwoSpeedMachine(factor=1.0, jitter=0.002)),
                        protocol=proto, progress=False, overhead=False)
    assert (tmp_path / "cache" / "quiet-levels.json").exists()
    truth = {s.key: true_latency_s(build_graph(s)) * 1e3 for s in specs}
    # the whole of the first 2 simulated seconds is slow: more than the run itself takes
    machine = TwoSpeedMachine(factor=1.7, jitter=0.002, schedule=[(2.0, True), (1e9, False)])
    slow = profile_ops(specs, "cpu-ort", runtime=TwoSpeedRuntime(machine), protocol=proto, progress=False,
                       overhead=False)
    for key in slow.table.keys():
        assert slow.table.lookup(key) == pytest.approx(truth[key], rel=0.02), key
    assert quiet.interference.slow_pct == 0 and slow.interference.slow_pct > 0
    assert slow.interference.reference_ms == pytest.approx(quiet.interference.run_quiet_ms)
    # without the remembered level the same run is wrong by the spell's factor, and cannot know it
    blind = profile_ops(specs, "cpu-ort", runtime=TwoSpeedRuntime(TwoSpeedMachine(
        factor=1.7, jitter=0.002, schedule=[(2.0, True), (1e9, False)])), protocol=proto.replace(reference=False),
        progress=False, overhead=False)
    key = specs[0].key
    assert blind.table.lookup(key) == pytest.approx(1.7 * truth[key], rel=0.03)
    assert blind.interference.slow_pct == 0
