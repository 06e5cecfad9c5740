"""Whole networks measured beside the space's reference network: drift that the canary lets pass
(a few per cent for minutes) is taken out, within one run and between calibration and gallery."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.profiler import Protocol
from hwlat.profiler.networks import CHECKPOINT_NAME, CHUNK_SHARE, measure_archs, reference_levels
from hwlat.spaces import get_space

from .fake_machine import TwoSpeedMachine, TwoSpeedRuntime, true_latency_s

PROTO = Protocol(rounds=6, round_time_s=0.002, warmup_max_s=0.1, remeasure=1, reference=False)


@pytest.fixture(scope="module")
def nb201():
    space = get_space("nb201")
    archs = space.sample(11, 16)
    truth = np.array([true_latency_s(space.build(a)) * 1e3 for a in archs])
    return space, archs, truth


def _measure(space, archs, machine, **kw):
    return measure_archs(space, archs, "cpu-ort", protocol=PROTO, progress=False, chunk_size=4,
                         runtime=TwoSpeedRuntime(machine), **kw)


def test_drift_within_a_run_is_taken_out(nb201):
    space, archs, truth = nb201
    quiet = TwoSpeedMachine(factor=1.0)
    _measure(space, archs, quiet)
    span = quiet.now  # the simulated time a run takes
    got = _measure(space, archs, TwoSpeedMachine(factor=1.0, level=lambda t: 1.07 - 0.07 * min(t / span, 1.0)))
    raw, lev = got.raw_ms[:, 0] / truth, got.ms[:, 0] / truth
    assert raw.max() / raw.min() > 1.04  # the first chunks ran up to 7 % slow, and the canary let them pass
    assert lev.max() / lev.min() < 1.02  # beside the reference, every network is at one level
    assert got.interference.chunks_remeasured == 0
    d = got.drift
    assert d["chunk_ratio_max"] / d["chunk_ratio_min"] == pytest.approx(1.07, abs=0.025)
    assert d["trend_first"] / d["trend_last"] == pytest.approx(1.07, abs=0.025)
    assert d["reference"] == space.encode(space.reference_arch())
    assert "drift: the reference network ran" in got.drift_summary()


def test_reference_levels_follow_the_trend_and_half_of_a_chunk_of_its_own():
    """A steady drift is followed whole; one chunk whose reference alone ran 20 % slow moves the
    networks beside it by the square root of that, not by all of it; a chunk's own departure
    from the trend is kept at CHUNK_SHARE in log terms."""
    drift = {c: 1.0 * 1.01 ** c for c in range(10)}
    levels, trend = reference_levels(drift)
    assert all(levels[c] == pytest.approx(drift[c]) and trend[c] == pytest.approx(drift[c]) for c in drift)
    spiked = {**drift, 4: drift[4] * 1.2}
    levels, trend = reference_levels(spiked)
    assert trend[4] == pytest.approx(drift[4], rel=0.015)  # the line is robust to one outlier
    assert levels[4] == pytest.approx(trend[4] * (spiked[4] / trend[4]) ** CHUNK_SHARE)
    assert 1.05 < levels[4] / drift[4] < 1.11
    assert reference_levels({0: 2.0, 1: 3.0})[1] == {0: pytest.approx(6 ** 0.5), 1: pytest.approx(6 ** 0.5)}
    assert reference_levels({}) == ({}, {})


def test_a_later_run_is_measured_at_the_level_of_an_earlier_one(nb201):
    """Calibration in a 7 % slow spell, gallery in a quiet one: measured at the calibration's level,
    the gallery agrees with what the calibration saw; raw, it would be 7 % off."""
    space, archs, truth = nb201
    cal = _measure(space, archs[:8], TwoSpeedMachine(factor=1.0, level=lambda t: 1.07))
    gal = _measure(space, archs[8:], TwoSpeedMachine(factor=1.0), level_ms=cal.reference_level_ms)
    cal_ratio = np.median(cal.ms[:, 0] / truth[:8])
    assert np.median(gal.raw_ms[:, 0] / truth[8:]) / cal_ratio == pytest.approx(1 / 1.07, abs=0.01)
    assert np.median(gal.ms[:, 0] / truth[8:]) / cal_ratio == pytest.approx(1.0, abs=0.01)
    assert gal.reference_level_ms == cal.reference_level_ms


def test_without_reference_latencies_are_as_measured(nb201):
    space, archs, _ = nb201
    got = _measure(space, archs[:4], TwoSpeedMachine(factor=1.0), reference=False)
    assert np.array_equal(got.ms, got.raw_ms) and got.drift is None and got.reference_level_ms is None
    assert "not measured" in got.drift_summary()
    with pytest.raises(InputError, match="level_ms needs the reference"):
        _measure(space, archs[:4], TwoSpeedMachine(factor=1.0), reference=False, level_ms=1.0)


def test_real_runtime_records_the_reference_and_resumes_at_the_same_level(tmp_path):
    space = get_space("nb201")
    archs = space.sample(5, 3)
    proto = Protocol.quick()
    got = measure_archs(space, archs, "cpu-ort", protocol=proto, out_dir=tmp_path, progress=False)
    lines = [json.loads(x) for x in (tmp_path / CHECKPOINT_NAME).read_text().splitlines()[1:]]
    refs = [r for r in lines if r["key"].startswith("__reference__#")]
    # a network measured again (its chunk ran in a slow spell) is written again: the last line counts
    nets = list({r["key"]: r for r in lines if r["key"].startswith("pass0|")}.values())
    # one chunk, and one more for each time it ran in a slow spell and was measured again
    ref_ms = {r["latency_ms"] for r in refs}
    assert len(refs) >= 1 and len(nets) == 3 and all(r["reference_ms"] in ref_ms for r in nets)
    assert got.reference_level_ms == pytest.approx(np.percentile(sorted(ref_ms), 25))
    levels, _ = reference_levels({int(r["key"].split("#")[1]): r["latency_ms"] for r in refs})
    expect = [r["latency_ms"] * got.reference_level_ms / levels[r["chunk"]] for r in nets]
    assert sorted(got.ms[:, 0]) == pytest.approx(sorted(expect))
    again = measure_archs(space, archs, "cpu-ort", protocol=proto, out_dir=tmp_path, progress=False)
    assert np.array_equal(again.ms, got.ms)  # resumed: nothing measured again, the same level
