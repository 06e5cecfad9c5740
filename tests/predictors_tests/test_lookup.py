"""LookupPredictor: exact sums on synthetic tables, calibration, persistence; validation for real."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwlat.errors import InputError, MissingEntryError
from hwlat.latency_tables import LatencyTable, TableMetadata
from hwlat.predictors import LookupPredictor, load_predictor, save_predictor
from hwlat.predictors.validate import metrics
from hwlat.spaces import get_space

SPACES = [("nb201", {}), ("ofa-mbv3", {"resolutions": [160, 224]}), ("proxyless", {"resolution": 160})]


def synthetic_table(space, overhead_ms=0.01, scale=1e-8):
    """Each op 'costs' overhead + flops*scale ms: known values to check the arithmetic."""
    ops = space.all_ops() if space.name != "ofa-mbv3" else [s for r in space.resolutions
                                                             for s in space.all_ops(resolution=r)]
    md = TableMetadata(device={"name": "synthetic"}, runtime="onnxruntime", threads=1, overhead_ms=overhead_ms)
    return LatencyTable.from_rows(md, [(s, {"median_ms": overhead_ms + s.flops * scale}) for s in ops])


@pytest.fixture(params=SPACES, ids=[n for n, _ in SPACES])
def space(request):
    name, kw = request.param
    return get_space(name, **kw)


def test_predict_is_the_overhead_corrected_sum(space):
    table = synthetic_table(space)
    pred = LookupPredictor(space=space, table=table).fit()
    archs = space.sample(0, 30)
    kernels = space.for_runtime("onnxruntime")  # the table's runtime: the kernels it runs are summed
    want = [sum(table.lookup(s) - 0.01 for s in kernels.ops(a)) + 0.01 for a in archs]
    np.testing.assert_allclose(pred.predict(archs), want, rtol=1e-9)
    plain = [sum(table.lookup(s) - 0.01 for s in space.ops(a)) + 0.01 for a in archs]
    assert np.all(np.asarray(want) <= np.asarray(plain) + 1e-12)
    if space.name == "nb201":  # ONNX Runtime fuses ReLUs and adds away in most of its networks
        assert np.mean(np.asarray(want) < np.asarray(plain)) > 0.5
    # the same through genes, and for a large batch in one call
    genes = space.sample_genes(1, 20000)
    batch = pred.predict_genes(genes)
    assert batch.shape == (20000,)
    some = [space.from_genes(g) for g in genes[:25]]
    np.testing.assert_allclose(batch[:25], pred.predict(some), rtol=1e-12)


def test_calibration_recovers_affine_gap(space):
    table = synthetic_table(space)
    pred = LookupPredictor(space=space, table=table, calibration="affine").fit()
    archs = space.sample(2, 12)
    s = pred.raw_sum(archs)
    y = 1.25 * s + 0.3  # an exact non-negative affine gap is recovered exactly
    pred.calibrate(archs, y)
    assert pred.calibrated_ == "affine" and pred.group_coef_["total"] == pytest.approx(1.25, rel=1e-6)
    assert pred.coef_[1] == pytest.approx(0.3, rel=1e-6)
    test = space.sample(3, 10)
    np.testing.assert_allclose(pred.predict(test), 1.25 * pred.raw_sum(test) + 0.3, rtol=1e-9)


def _type_truth(space, table, scales, const):
    """Whole-network latencies where each op type runs ``scales[type]`` times its table entry."""
    from hwlat.predictors.fewshot import op_group

    def y(arch):
        total = const
        genes = space.to_genes([arch])[0]
        for pi, part in enumerate(space.parts()):
            for spec in space.part_ops(pi, [int(genes[g]) for g in part.genes]):
                adj = table.lookup(spec) - 0.01
                total += adj * (1.0 if not part.genes else scales.get(op_group(spec, "type"), 1.0))
        return total
    return y


def test_type_calibration_recovers_a_gap_per_op_type():
    """Inside a network 3x3 convolutions run at 0.6 of their table time, pools at 0.9, the rest as
    measured: one factor for all cannot fit it, one per op type does, from 30 networks."""
    space = get_space("nb201")
    table = synthetic_table(space)
    from hwlat.predictors.fewshot import op_group

    types = {op_group(s, "type") for s in space.all_ops()}
    scales = {t: (0.6 if t.startswith("conv:") and "k=3" in t else 0.9 if t.startswith("pool") else 1.0)
              for t in types}
    truth = _type_truth(space.for_runtime(table.metadata.runtime), table, scales, const=0.05)  # the kernels run
    archs, test = space.sample(4, 30), space.sample(5, 40)
    y, y_test = np.array([truth(a) for a in archs]), np.array([truth(a) for a in test])
    typed = LookupPredictor(space=space, table=table, calibration="type", alpha=0.0).fit(archs, y)
    affine = LookupPredictor(space=space, table=table, calibration="affine").fit(archs, y)
    assert typed.calibrated_ == "type"
    np.testing.assert_allclose(typed.predict(test), y_test, rtol=1e-3)
    assert metrics(affine.predict(test), y_test)["mape_pct"] > 10 * metrics(typed.predict(test), y_test)["mape_pct"]
    # the calibration is baked into the part tables: still a gather per query, and it explains itself
    g = space.sample_genes(6, 5000)
    assert typed.predict_genes(g).shape == (5000,)
    df = typed.explain(test[0])
    assert df["contribution_ms"].sum() == pytest.approx(float(typed.predict([test[0]])[0]))
    conv3 = df[df["key"].str.startswith("conv:16x32x32") & df["key"].str.contains("k=3")]
    if len(conv3):
        assert conv3["scale"].to_numpy() == pytest.approx(0.6, rel=1e-3)


def test_budget_margin_is_how_far_networks_ran_over_their_leave_one_out_prediction():
    space = get_space("nb201")
    table = synthetic_table(space)
    archs = space.sample(7, 12)
    pred = LookupPredictor(space=space, table=table, calibration="affine").fit()
    assert pred.budget_margin() is None  # not calibrated: nothing to say
    s = pred.raw_sum(archs)
    exact = LookupPredictor(space=space, table=table, calibration="affine").fit(archs, 1.25 * s + 0.3)
    assert exact.budget_margin() == pytest.approx(0.0, abs=1e-6)
    # every other network runs 10 % slower than the affine law: their leave-one-out predictions fall short
    noisy = (1.25 * s + 0.3) * np.where(np.arange(12) % 2 == 0, 1.10, 1.0)
    for mode in ("affine", "auto"):
        p = LookupPredictor(space=space, table=table, calibration=mode).fit(archs, noisy)
        m = p.budget_margin()
        assert len(p.loo_errors_) == 12 and 0.03 < m < 0.15, (mode, m)
        assert p.budget_margin(q=0.5) < m


def test_group_calibration_is_saved_and_loaded(tmp_path):
    space = get_space("proxyless", resolution=160)
    table = synthetic_table(space)
    archs = space.sample(0, 20)
    y = LookupPredictor(space=space, table=table).fit().raw_sum(archs) * np.linspace(0.7, 0.9, 20) + 0.2
    pred = LookupPredictor(space=space, table=table).fit(archs, y)
    back = load_predictor(save_predictor(pred, tmp_path / "p.npz"), table=table)
    g = space.sample_genes(1, 300)
    np.testing.assert_array_equal(back.predict_genes(g), pred.predict_genes(g))
    assert back.calibrated_ == pred.calibrated_ and back.group_coef_ == pred.group_coef_
    np.testing.assert_allclose(back.raw_sum_genes(g), pred.raw_sum_genes(g))
    arch = space.sample(2, 1)[0]
    assert back.explain(arch)["contribution_ms"].sum() == pytest.approx(float(pred.predict([arch])[0]))


def test_a_network_with_a_stem_and_a_head_is_never_predicted_at_zero():
    """Measurements that would pull every multiplier and the constant to 0."""
    space = get_space("nb201")
    table = synthetic_table(space)
    archs = space.sample(7, 12)
    raw = LookupPredictor(space=space, table=table).fit().raw_sum(archs)
    y = np.full(12, 1e-6) + 1e-9 * raw  # absurdly fast, the same for every network
    for calibration in ("type", "kind", "key", "affine"):
        pred = LookupPredictor(space=space, table=table, calibration=calibration).fit(archs, y)
        p = pred.predict_genes(space.sample_genes(0, 5000))
        assert (p > 0).all(), calibration
        assert p.min() > 0.05 * y.min(), calibration  # the guard keeps a share of the constant part


def test_missing_ops_are_an_error_that_names_them():
    space = get_space("nb201")
    full = synthetic_table(space)
    keys = [k for k in full.keys() if not k.startswith("pool:")]
    part = LatencyTable.from_rows(full.metadata, [(full.specs()[i], {"median_ms": full.lookup(k)})
                                                  for i, k in enumerate(full.keys()) if k in keys])
    with pytest.raises(MissingEntryError, match="pool:16x32x32"):
        LookupPredictor(space=space, table=part).fit()


def test_explain_adds_up():
    space = get_space("proxyless", resolution=160)
    pred = LookupPredictor(space=space, table=synthetic_table(space)).fit()
    arch = space.sample(5, 1)[0]
    df = pred.explain(arch)
    assert df["contribution_ms"].sum() == pytest.approx(float(pred.predict([arch])[0]))
    assert df["share_pct"].sum() == pytest.approx(100)


def test_save_load_round_trip_and_table_mismatch_warns(tmp_path):
    space = get_space("ofa-mbv3", resolutions=[160, 224])
    table = synthetic_table(space)
    pred = LookupPredictor(space=space, table=table).fit(space.sample(0, 5), np.linspace(5, 9, 5))
    path = save_predictor(pred, tmp_path / "p.npz")
    back = load_predictor(path, table=table)
    g = space.sample_genes(4, 500)
    np.testing.assert_array_equal(back.predict_genes(g), pred.predict_genes(g))
    other = synthetic_table(space, scale=2e-8)
    with pytest.warns(UserWarning, match="another latency table"):
        load_predictor(path, table=other)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not an hwlat predictor"):
        load_predictor(tmp_path / "bad.npz")


def test_predictor_file_holds_no_pickle(tmp_path):
    space = get_space("nb201")
    path = save_predictor(LookupPredictor(space=space, table=synthetic_table(space)).fit(), tmp_path / "p.npz")
    with np.load(path, allow_pickle=False) as z:  # would raise if any entry needed unpickling
        header = json.loads(str(z["header"]))
    assert header["format"] == "hwlat-predictor" and header["space"]["name"] == "nb201"


def test_metrics_on_known_values():
    m = metrics(np.array([1.0, 2.15, 2.9, 4.5]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert m["within_10_pct"] == pytest.approx(75.0)
    assert m["within_5_pct"] == pytest.approx(50.0)
    assert m["spearman"] == pytest.approx(1.0)
    assert m["mape_pct"] == pytest.approx(100 * (0 + 0.075 + 1 / 30 + 0.125) / 4)


def test_validate_for_real_and_resume(tmp_path):
    """Whole NB201 networks measured on ONNX Runtime against a table profiled just before."""
    from hwlat.predictors.validate import validate_space
    from hwlat.profiler import Protocol, profile_ops

    space = get_space("nb201")
    proto = Protocol.quick()
    table = profile_ops(space.all_ops(), "cpu-ort", protocol=proto, out_dir=tmp_path / "t", progress=False).table
    res = validate_space(space, table, "cpu-ort", n=6, calibrate=3, seed=0, protocol=proto, out_dir=tmp_path / "v",
                         progress=False)
    assert len(res.rows) == 6 and res.calibration["n"] == 3
    assert (res.rows["measured_ms"] > 0).all() and (res.rows["repeat_ms"] > 0).all()
    # calibrated on 3 networks, the predictor is right in scale and in order (statistics, not
    # single networks: a burst of load on this machine can slow any one measurement)
    ratio = res.rows["predicted_ms"] / res.rows["measured_ms"]
    assert 0.5 < ratio.median() < 2.0
    assert res.prediction["spearman"] > 0
    for f in ("validation.csv", "validation.png", "validation.json", "predictor.npz"):
        assert (tmp_path / "v" / f).stat().st_size > 0
    lines = (tmp_path / "v" / "validate.jsonl").read_text().splitlines()
    import json
    keys = {json.loads(ln)["key"] for ln in lines[1:]} - {"__canary__"}
    keys = {k for k in keys if not k.startswith(("__canary__", "__reference__"))}
    # both copies of every network (a chunk that ran in a slow spell is re-measured: more lines, same keys)
    assert len(keys) == 2 * (3 + 6)
    again = validate_space(space, table, "cpu-ort", n=6, calibrate=3, seed=0, protocol=proto,
                           out_dir=tmp_path / "v", progress=False)
    assert (tmp_path / "v" / "validate.jsonl").read_text().splitlines() == lines  # nothing re-measured
    np.testing.assert_allclose(again.rows["measured_ms"], res.rows["measured_ms"])
    assert res.drift is not None and res.to_dict()["drift"]["level_ms"] > 0 and "drift:" in res.summary()


def test_validate_refuses_a_table_of_another_device(tmp_path):
    from hwlat.predictors.validate import validate_space

    space = get_space("nb201")
    t = synthetic_table(space)
    t.metadata.source = "measured"
    t.metadata.device = {"name": "cpu-litert"}
    with pytest.raises(InputError, match="cpu-litert"):
        validate_space(space, t, "cpu-ort", n=5, calibrate=0, out_dir=tmp_path)


def test_calibration_never_predicts_negative_latency():
    """Noisy calibration points that a free affine fit would turn into a negative intercept."""
    space = get_space("nb201")
    pred = LookupPredictor(space=space, table=synthetic_table(space)).fit()
    archs = space.sample(9, 3)
    s = pred.raw_sum(archs)
    order = np.argsort(s)
    y = np.empty(3)
    y[order] = [s[order[0]] * 0.3, s[order[1]] * 2.0, s[order[2]] * 2.1]  # steep: free fit has b < 0
    pred.calibrate(archs, y)
    assert pred.coef_[0] > 0 and pred.coef_[1] >= 0
    assert (pred.predict_genes(space.sample_genes(0, 5000)) > 0).all()


def test_spread_sample_covers_the_latency_range(space):
    """A calibration set spread over the table sum's range: its fastest and slowest candidates,
    targets between them evenly, no network twice; a random draw of the same size bunches."""
    from hwlat.predictors.validate import spread_sample

    pred = LookupPredictor(space=space, table=synthetic_table(space)).fit()
    picked = spread_sample(space, pred, 8, seed=5)
    assert len({space.encode(a) for a in picked}) == 8
    s = np.sort(pred.raw_sum(picked))
    from hwlat.predictors.validate import _distinct_sample

    pool = pred.raw_sum(_distinct_sample(space, 8 * 20, 5))
    assert s[0] == pytest.approx(pool.min()) and s[-1] == pytest.approx(pool.max())
    # evenly spread: no gap between neighbours far wider than an eighth of the range, and a wider
    # range than 8 drawn at random from the same candidates
    widest = np.diff(s).max() / (s[-1] - s[0])
    rand = np.sort(pool[:8])
    assert widest < 0.4 and (s[-1] - s[0]) > (rand[-1] - rand[0])
