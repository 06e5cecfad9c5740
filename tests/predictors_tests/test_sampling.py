"""Sampling kernels to profile: random configurations and nn-Meter's adaptive sampling."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor

from hwlat.errors import InputError
from hwlat.ops.spec import OpSpec
from hwlat.predictors.adaptive_sampling import (
    _oof_relative_errors,
    adaptive_kernel_specs,
    adaptive_sample,
    profiling_measure,
)
from hwlat.predictors.sampling import (
    DEFAULT_RANGES,
    SAMPLE_WEIGHTS,
    SAMPLED_KINDS,
    kernel_specs,
    perturb,
    sample_kernels,
)
from hwlat.profiler import Protocol

SMALL = {"c_max": 32, "hw": (7, 14), "hw_max": 16, "max_flops": 5e6}
# a small forest keeps the cross-validation of adaptive sampling fast in tests
LIGHT = ExtraTreesRegressor(n_estimators=25, max_features=0.8)
REGULAR = {"conv_types": {"regular": 1.0}}


@pytest.mark.parametrize("kind", SAMPLED_KINDS)
def test_samples_are_valid_distinct_bounded_and_seeded(kind):
    specs = sample_kernels(kind, 60, seed=3)
    assert len(specs) == 60 and all(isinstance(s, OpSpec) and s.kind == kind for s in specs)
    assert len({s.key for s in specs}) == 60
    assert all(s.flops <= DEFAULT_RANGES["max_flops"] for s in specs)
    assert all(OpSpec.from_key(s.key) == s for s in specs)
    again = sample_kernels(kind, 60, seed=3)
    assert [s.key for s in again] == [s.key for s in specs]
    other = sample_kernels(kind, 60, seed=4)
    assert [s.key for s in other] != [s.key for s in specs]
    # a longer sample starts with the shorter one (same generator)
    assert [s.key for s in sample_kernels(kind, 20, seed=3)] == [s.key for s in specs[:20]]


def test_conv_samples_cover_what_cnns_use():
    specs = sample_kernels("conv", 400, seed=0)
    c_in = np.array([s.input_shape[0] for s in specs])
    depthwise = [s for s in specs if s["groups"] == s.input_shape[0] > 1]
    assert all(s["cout"] == s.input_shape[0] for s in depthwise)
    assert 0.1 < len(depthwise) / len(specs) < 0.35
    grouped = [s for s in specs if 1 < s["groups"] < s.input_shape[0]]  # ResNeXt / RegNet group widths
    assert 0.05 < len(grouped) / len(specs) < 0.3
    assert all(s["cout"] == s.input_shape[0] and s["k"] == 3 for s in grouped)
    assert {s.input_shape[0] // s["groups"] for s in grouped} <= set(DEFAULT_RANGES["group_width"])
    regular = [s for s in specs if s["groups"] == 1 and s.input_shape[0] > 3]
    ratios = {s["cout"] / s.input_shape[0] for s in regular}
    usual = sum(s["cout"] / s.input_shape[0] in (1, 2, 0.5, 4, 0.25) for s in regular)
    assert usual > 0.5 * len(regular) and len(ratios) > 10  # mostly the usual ratios, not only those
    assert sum(s["k"] == 1 for s in specs) > 0.2 * len(specs)
    padded = [s for s in specs if s["pad"] < 0]
    assert {s["k"] for s in padded} == {1, 3, 5, 7} and {s["s"] for s in padded} == {1, 2}
    unpadded = [s for s in specs if s["pad"] == 0]  # patch embeddings (k = s) and 'valid' convolutions
    assert 0.02 < len(unpadded) / len(specs) < 0.15 and any(s["k"] == s["s"] > 1 for s in unpadded)
    assert {s["act"] for s in specs} == {"none", "relu", "relu6", "hswish"}
    assert np.all((c_in % 8 == 0) | (c_in == 3)) and (c_in == 3).any()
    assert c_in.min() == 8 or (c_in == 3).any()
    assert c_in.max() >= 512  # log-uniform up to 1024
    sizes = {s.input_shape[1] for s in specs}
    assert {7, 14, 28, 56, 112} <= sizes and any(h % 2 for h in sizes)
    assert np.median(c_in) < 128  # log-uniform: small channel counts are as common as big ones
    # image stems read 3 channels at (near) the input resolution, as a network's first conv does;
    # some are patch embeddings (k = s, no padding)
    stems = [s for s in specs if s.input_shape[0] == 3]
    assert 0.03 < len(stems) / len(specs) < 0.2  # cheap: more of them pass the FLOPs bound
    assert all(s.input_shape[1] >= DEFAULT_RANGES["hw_max"] // 2 for s in stems)
    assert any(s["k"] == s["s"] > 2 and s["pad"] == 0 for s in stems) and any(s["s"] == 2 for s in stems)


def test_ranges_bound_the_samples():
    specs = sample_kernels("conv", 50, seed=1, ranges=SMALL)
    assert all(s.flops <= 5e6 for s in specs)
    assert all(s.input_shape[0] <= 32 and s.input_shape[1] <= 16 for s in specs)


def test_bad_requests_say_what_to_do():
    with pytest.raises(InputError, match="cannot sample op kind 'identity'"):
        sample_kernels("identity", 5, seed=0)
    with pytest.raises(InputError, match="unknown sampling range"):
        sample_kernels("conv", 5, seed=0, ranges={"channels": 3})
    with pytest.raises(InputError, match="could only sample .* ask for fewer"):
        sample_kernels("gap", 50, seed=0, ranges={"c_max": 16, "hw": (7,), "odd_hw_share": 0.0})
    with pytest.raises(InputError, match="no op kinds"):
        kernel_specs([], 5, seed=0)


def test_kernel_specs_concatenates_kinds():
    specs = kernel_specs(["conv", "pool", "conv"], 7, seed=2)
    n_conv = 7 * SAMPLE_WEIGHTS["conv"]  # the kinds that carry most of a network's latency get more
    assert [s.kind for s in specs] == ["conv"] * n_conv + ["pool"] * 7
    assert [s.key for s in specs[:n_conv]] == [s.key for s in sample_kernels("conv", n_conv, seed=2)]


def _dims(s: OpSpec) -> dict:
    p = s.param_dict
    return {"c": s.input_shape[0], "hw": s.input_shape[1:], "cout": p.get("cout"), "k": p.get("k"), "s": p.get("s"),
            "mid": p.get("mid")}


@pytest.mark.parametrize("kind", ["conv", "mbconv", "pool", "fc", "add", "resblock"])
def test_perturb_moves_one_or_two_dimensions(kind):
    rng = np.random.default_rng(0)
    base = sample_kernels(kind, 30, seed=0)
    moved = 0
    for s in base:
        for _ in range(5):
            t = perturb(s, rng)
            if t is None or t.key == s.key:
                continue
            moved += 1
            assert t.kind == s.kind and t.flops <= DEFAULT_RANGES["max_flops"]
            a, b = _dims(s), _dims(t)
            changed = [d for d in a if a[d] != b[d]]
            assert 1 <= len(changed) <= 3  # channels move cout (depthwise) or mid (mbconv) along with c
            if kind == "conv" and s["groups"] == s.input_shape[0] > 1:
                assert t["groups"] == t.input_shape[0] == t["cout"]
            elif kind == "conv" and s["groups"] > 1:  # grouped: same group width, cout = cin
                assert t.input_shape[0] // t["groups"] == s.input_shape[0] // s["groups"]
                assert t["cout"] == t.input_shape[0]
            if kind == "conv" and s["k"] == 1 and s["groups"] == 1:
                assert t["k"] == 1
    assert moved > 60


def _synthetic_latency(specs):
    # a deterministic cost model with a sharp region (k=7 is 8x slower) for the regressor to find
    return np.array([1e-6 * s.flops * (8.0 if s["k"] == 7 else 1.0) + 0.01 for s in specs])


def test_adaptive_sampling_focuses_on_badly_predicted_configurations():
    calls = []

    def measure(specs):
        calls.append(len(specs))
        return _synthetic_latency(specs)

    specs, ms = adaptive_sample("conv", measure, n_initial=30, n_rounds=2, n_per_round=12, seed=0, ranges=REGULAR,
                                estimator=LIGHT)
    assert calls == [30, 12, 12]
    assert len(specs) == 54 and len({s.key for s in specs}) == 54
    assert np.array_equal(ms, _synthetic_latency(specs))
    assert [s.key for s in specs[:30]] == [s.key for s in sample_kernels("conv", 30, seed=0, ranges=REGULAR)]
    # round 1 draws its 12 new configurations next to the 3 the cross-validated model predicted worst
    err = _oof_relative_errors(specs[:30], ms[:30], estimator=LIGHT, seed=0)
    worst = [specs[i] for i in np.argsort(-err, kind="stable")[:3]]
    near = [any(sum(_dims(w)[d] != _dims(t)[d] for d in ("c", "hw", "cout", "k", "s")) <= 3 for w in worst)
            for t in specs[30:42]]
    assert all(near)
    assert np.mean(err[[specs.index(w) for w in worst]]) > 2 * np.mean(err)
    again, _ = adaptive_sample("conv", _synthetic_latency, n_initial=30, n_rounds=2, n_per_round=12, seed=0,
                               ranges=REGULAR, estimator=LIGHT)
    assert [s.key for s in again] == [s.key for s in specs]


def test_adaptive_sampling_rejects_bad_arguments():
    with pytest.raises(InputError, match="n_initial"):
        adaptive_sample("conv", _synthetic_latency, n_initial=3, n_rounds=1, n_per_round=5, seed=0)
    with pytest.raises(InputError, match="one per op"):
        adaptive_sample("conv", lambda specs: np.ones(2), n_initial=10, n_rounds=1, n_per_round=5, seed=0)


def test_adaptive_sampling_with_real_measurements(tmp_path):
    measure = profiling_measure("cpu-ort", protocol=Protocol.quick(), out_dir=tmp_path)
    specs, ms = adaptive_sample("pool", measure, n_initial=10, n_rounds=2, n_per_round=5, seed=1, ranges=SMALL,
                                estimator=LIGHT)
    assert len(specs) == 20 and len({s.key for s in specs}) == 20
    assert np.all(np.isfinite(ms)) and np.all(ms > 0)
    from hwlat.latency_tables import LatencyTable

    table = LatencyTable.load(tmp_path / "table.parquet")  # one resumable folder holds everything measured
    assert np.array_equal(table.lookup_many(specs), ms)
    # the CLI path: adaptive_kernel_specs returns every spec measured, all of them already in the folder
    more = adaptive_kernel_specs(["pool"], 20, seed=1, measure=measure, rounds=2, ranges=SMALL,
                                 estimator=LIGHT)
    assert [s.key for s in more] == [s.key for s in specs]
