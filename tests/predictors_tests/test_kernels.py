"""KernelRegressor: features, fitting on real measurements, errors, scikit-learn conventions, saving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression

from hwlat.errors import InputError, NotFittedError, UnsupportedOpError
from hwlat.latency_tables._table import in_graph_ms
from hwlat.ops.ir import build_graph
from hwlat.ops.spec import (
    add,
    bn,
    conv,
    dwconv,
    fc,
    gap,
    mbconv,
    pool,
    pwconv,
    resblock,
)
from hwlat.predictors import load_predictor, save_predictor
from hwlat.predictors.features import BASE_FEATURES, featurize, params_count
from hwlat.predictors.kernels import KernelRegressor
from hwlat.predictors.sampling import sample_kernels
from hwlat.profiler import Protocol, profile_ops

# small kernels: each runs in well under a millisecond, so profiling them all takes seconds
SMALL = {"c_max": 64, "hw": (7, 14, 28), "hw_max": 28, "max_flops": 4e7}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    specs = sample_kernels("conv", 40, seed=0, ranges=SMALL) + sample_kernels("pool", 12, seed=0, ranges=SMALL)
    specs += [add((16, 14, 14))] * 3  # a kind with too few rows for a model (duplicates are measured once)
    res = profile_ops(specs, "cpu-ort", protocol=Protocol.quick(), out_dir=tmp_path_factory.mktemp("kernels"),
                      progress=False)
    return res.table


@pytest.fixture(scope="module")
def fitted(table):
    return KernelRegressor().fit(table)


# -- features -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    conv((3, 32, 32), 16, 3, 2, act="relu"), conv((16, 14, 14), 32, 3, bn=0), dwconv((32, 28, 28), 5, 2),
    pwconv((24, 7, 7), 48), mbconv((16, 14, 14), 24, 5, 2, expand=6, se=1), mbconv((16, 14, 14), 16, 3, expand=1),
    fc((64,), 10), fc((32, 7, 7), 10, bias=0), bn((8, 14, 14), act="relu"), resblock((16, 8, 8), 32),
    resblock((16, 8, 8), 16, s=1),
])
def test_params_count_matches_the_lowered_graph(spec):
    graph = build_graph(spec)
    assert params_count(spec) == sum(w.size for node in graph.nodes for w in node.weights.values())


def test_featurize_gives_named_columns_with_the_right_values():
    specs = [conv((16, 28, 28), 32, 3, 2, act="hswish"), dwconv((32, 14, 14), 3), pool((8, 16, 16), 3, 2),
             fc((128,), 10), add((8, 7, 7), n=3), gap((8, 7, 7))]
    df = featurize(specs)
    assert isinstance(df, pd.DataFrame)
    assert list(df.index) == [s.key for s in specs]
    assert set(BASE_FEATURES) <= set(df.columns)
    assert all(df.dtypes == np.float64)
    c = df.iloc[0]
    assert (c.c_in, c.h_in, c.c_out, c.h_out, c.k, c.s) == (16, 28, 32, 14, 3, 2)
    assert c.flops == specs[0].flops == 2 * 32 * 14 * 14 * 16 * 9
    assert c.params == 32 * 16 * 9 + 32
    assert c.input_bytes == 4 * 16 * 28 * 28 and c.output_bytes == 4 * 32 * 14 * 14 and c.weight_bytes == 4 * c.params
    assert c.intensity == pytest.approx(c.flops / (c.input_bytes + c.output_bytes + c.weight_bytes))
    assert (c.act_hswish, c.act_none, c.depthwise) == (1, 0, 0)
    assert df.iloc[1].depthwise == 1 and df.iloc[1].groups == 32
    assert df.iloc[3].h_in == 1 and df.iloc[3].c_out == 10
    assert df.iloc[4].n_inputs == 3 and df.iloc[4].input_bytes == 3 * 4 * 8 * 7 * 7
    assert df.iloc[5].params == 0 and df.iloc[5].h_out == 1
    assert featurize([s.key for s in specs]).equals(df)


# -- fitting on real measurements ---------------------------------------------------------------

def test_fit_on_a_measured_table(fitted, table):
    assert fitted.kinds_ == ["conv", "pool"]
    assert fitted.skipped_kinds_ == {"add": 1}
    assert fitted.n_samples_ == {"conv": 40, "pool": 12}
    keep = np.array([k != "add" for k in table.df["kind"]])
    pred = fitted.predict([s for s, k in zip(table.specs(), keep) if k])
    meas = in_graph_ms(table.df)[keep]  # what the trees are fitted on: the in-network cost
    assert np.all(np.isfinite(pred)) and np.all(pred > 0)
    # in-sample the trees follow the measurements closely
    assert np.median(np.abs(pred / meas - 1)) < 0.25


def test_held_out_report_is_finite_and_ranks_ops(table):
    rep = KernelRegressor().held_out_report(table, test_size=0.25, random_state=1)
    assert list(rep.columns) == ["kind", "n_train", "n_test", "mape_pct", "within_10_pct", "within_5_pct",
                                 "spearman", "rmse_ms"]
    rows = rep.set_index("kind")
    assert rows.loc["conv", "n_train"] + rows.loc["conv", "n_test"] == 40
    assert rows.loc["conv", "n_test"] == 10
    for kind in ("conv", "all"):
        assert np.isfinite(rows.loc[kind, ["mape_pct", "within_10_pct", "spearman", "rmse_ms"]].astype(float)).all()
    # conv latencies span an order of magnitude or more; a held-out ranking must follow them
    assert rows.loc["conv", "spearman"] > 0.6
    assert rows.loc["conv", "mape_pct"] < 100
    assert np.isnan(rows.loc["add", "mape_pct"])  # too few rows to split: listed, not scored


def test_bigger_ops_are_predicted_slower(fitted, table):
    small = conv((8, 7, 7), 8, 1)
    big = conv((48, 28, 28), 48, 3, act="relu")
    mid = conv((32, 14, 14), 32, 3)
    p = fitted.predict([small, mid, big])
    assert p[0] < p[1] < p[2]
    assert p[2] > 5 * p[0]
    # alone (the in-network cost of a pool of a few microseconds is a difference of traced
    # microseconds: its layout conversions can be nearly all of it)
    alone = KernelRegressor(in_graph=False).fit(table)
    assert alone.predict([pool((32, 28, 28), 3, 1)])[0] > alone.predict([pool((8, 7, 7), 2, 2)])[0]


@pytest.mark.parametrize("target", ["residual", "roofline", "log", "ms"])
@pytest.mark.parametrize("estimator", ["rf", "et"])
def test_other_estimators_and_targets(table, estimator, target):
    reg = KernelRegressor(estimator=estimator, target=target).fit(table)
    p = reg.predict([conv((8, 7, 7), 8, 1), conv((48, 28, 28), 48, 3)])
    assert np.all(p > 0) and p[0] < p[1]


def test_the_roofline_baseline_extrapolates_in_work():
    """target="roofline": trees over ``c + flops/P + bytes/B``. Trained on ops of a known cost
    model, it recovers the terms and prices an op 4x and 16x the largest trained one at about
    4x and 16x its cost (trees alone would stay at the largest latency they saw)."""
    rng = np.random.default_rng(0)
    specs = [conv((int(c), int(h), int(h)), int(c), 3) for c, h in
             zip(rng.choice([8, 16, 24, 32], 60), rng.choice([7, 8, 10, 12, 14], 60))]
    specs = list({s.key: s for s in specs}.values())
    feats = featurize(specs)
    cost = lambda f: 0.002 + f["flops"] / 50e9 + (f["input_bytes"] + f["output_bytes"] + f["weight_bytes"]) / 20e9  # noqa: E731
    ms = cost(feats).to_numpy()
    big = [conv((64, 28, 28), 64, 3), conv((128, 56, 56), 128, 3)]
    truth = cost(featurize(big)).to_numpy()
    roof = KernelRegressor(target="roofline", min_samples=5).fit(specs, ms).predict(big)
    trees = KernelRegressor(target="log", min_samples=5).fit(specs, ms).predict(big)
    assert np.allclose(roof, truth, rtol=0.1)
    assert trees[1] < 0.5 * truth[1]
    with pytest.raises(InputError, match="roofline"):
        KernelRegressor(target="roof").fit(specs, ms)


def test_a_scikit_learn_regressor_instance_is_cloned_per_kind(table):
    base = LinearRegression()
    reg = KernelRegressor(estimator=base).fit(table)
    assert reg.models_["conv"].estimator is not base and reg.models_["conv"].estimator is not reg.models_[
        "pool"].estimator
    assert not hasattr(base, "coef_")
    assert np.all(reg.predict([conv((16, 14, 14), 16, 3)]) > 0)


def test_unknown_kinds_raise_and_name_them(fitted):
    ops = [conv((8, 14, 14), 8, 3), fc((64,), 10), add((16, 14, 14)), fc((32,), 10)]
    with pytest.raises(UnsupportedOpError) as e:
        fitted.predict(ops)
    msg = str(e.value)
    assert "fc (not in the training data)" in msg
    assert "add (only 1 measured rows" in msg
    assert ops[1].key in msg and ops[2].key in msg and ops[3].key in msg
    assert ops[0].key not in msg.split("need one:")[1].split(". Profile")[0]
    assert "--kernels add,fc" in msg


def test_predict_lists_the_first_ten_offending_ops(fitted):
    ops = [fc((8 * (i + 1),), 10) for i in range(13)]
    with pytest.raises(UnsupportedOpError, match="13 op\\(s\\) need one") as e:
        fitted.predict(ops)
    assert ops[9].key in str(e.value) and ops[10].key not in str(e.value) and "and 3 more" in str(e.value)


def test_bad_training_data_is_rejected(table):
    specs = [conv((8, 14, 14), 8, 3), conv((8, 14, 14), 16, 3)]
    with pytest.raises(InputError, match="2 ops but 1 latencies"):
        KernelRegressor().fit(specs, [0.1])
    with pytest.raises(InputError, match="not positive finite"):
        KernelRegressor().fit(specs, [0.1, -1.0])
    with pytest.raises(InputError, match="pass a LatencyTable"):
        KernelRegressor().fit(specs)
    with pytest.raises(InputError, match="min_samples=8"):
        KernelRegressor().fit(specs, [0.1, 0.2])
    with pytest.raises(InputError, match="target must be one of"):
        KernelRegressor(target="sqrt").fit(table)
    with pytest.raises(InputError, match="unknown estimator 'svm'"):
        KernelRegressor(estimator="svm").fit(table)
    with pytest.raises(InputError, match="do not pass y"):
        KernelRegressor().fit(table, np.ones(len(table)))


# -- scikit-learn conventions ---------------------------------------------------------------------

def test_scikit_learn_conventions(table):
    # check_estimator does not apply (inputs are op specs, not numeric arrays); the conventions it checks do
    reg = KernelRegressor(estimator="rf", min_samples=5)
    assert reg.get_params() == {"estimator": "rf", "target": "roofline", "min_samples": 5, "random_state": 0,
                                "in_graph": True}
    assert reg.set_params(random_state=3) is reg and reg.random_state == 3
    with pytest.raises(NotFittedError):
        reg.predict([conv((8, 14, 14), 8, 3)])
    assert reg.fit(table) is reg
    assert reg.get_params()["min_samples"] == 5  # fit leaves the parameters as given
    twin = clone(reg)
    assert twin.get_params() == reg.get_params() and not hasattr(twin, "models_")
    assert "KernelRegressor(estimator='rf'" in repr(reg)
    with pytest.raises(TypeError):
        KernelRegressor("rf")  # keyword-only


def test_same_seed_same_predictions(table):
    specs = sample_kernels("conv", 10, seed=5, ranges=SMALL)
    a = KernelRegressor(random_state=7).fit(table).predict(specs)
    b = KernelRegressor(random_state=7).fit(table).predict(specs)
    assert np.array_equal(a, b)


# -- saving ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("estimator,target", [("gbrt", "log"), ("rf", "residual"), ("gbrt", "roofline"),
                                              ("hgb", "roofline"), ("et", "ms")])
def test_save_load_round_trip_predicts_identically(table, tmp_path, estimator, target):
    reg = KernelRegressor(estimator=estimator, target=target, random_state=2).fit(table)
    path = save_predictor(reg, tmp_path / "kernels.npz")
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert all(z[k].dtype != object for k in z.files)
    back = load_predictor(path, table=table)
    assert isinstance(back, KernelRegressor)
    assert back.get_params() == reg.get_params()
    assert back.kinds_ == reg.kinds_ and back.skipped_kinds_ == reg.skipped_kinds_
    specs = sample_kernels("conv", 20, seed=9, ranges=SMALL) + sample_kernels("pool", 5, seed=9, ranges=SMALL)
    assert np.array_equal(back.predict(specs), reg.predict(specs))
    # loaded from its packed trees, not refitted; they predict what the fitted estimator does
    assert all(m.estimator is None and m.packed is not None for m in back.models_.values())
    conv_model, cols = reg.models_["conv"], reg.feature_names_["conv"]
    X = featurize(specs[:20])[cols].to_numpy(np.float64)
    sk = conv_model.estimator.predict(pd.DataFrame(X, columns=cols))
    np.testing.assert_allclose(conv_model.packed.predict(X), sk, rtol=0, atol=1e-12)
    with pytest.raises(UnsupportedOpError, match="add"):
        back.predict([add((16, 14, 14))])


def test_a_file_without_packed_trees_is_refitted_to_the_same_predictions(table):
    reg = KernelRegressor(random_state=1).fit(table)
    header, arrays = reg.to_state()
    del header["packed"]
    old = {k: v for k, v in arrays.items() if "_trees." not in k and not k.endswith("_baseline")}
    back = KernelRegressor.from_state(header, old)
    assert all(m.estimator is not None for m in back.models_.values())
    specs = sample_kernels("conv", 10, seed=4, ranges=SMALL)
    np.testing.assert_allclose(back.predict(specs), reg.predict(specs), rtol=1e-12)


def test_corrupt_packed_trees_are_a_clear_error(table):
    header, arrays = KernelRegressor(random_state=1).fit(table).to_state()
    bad = dict(arrays, **{"k0_trees.left": arrays["k0_trees.left"] + 10_000})
    with pytest.raises(InputError, match="corrupt"):
        KernelRegressor.from_state(header, bad)
    bad = dict(arrays, k0_baseline=arrays["k0_baseline"][:2])
    with pytest.raises(InputError, match="corrupt"):
        KernelRegressor.from_state(header, bad)


def test_loading_with_another_table_warns(table, tmp_path):
    reg = KernelRegressor(estimator="et").fit(table)
    path = save_predictor(reg, tmp_path / "k.npz")
    other = table.copy()
    key = other.keys()[0]
    other.add(key, {**{k: v for k, v in other.row(key).items() if k in ("iqr_ms", "n")}, "median_ms": 123.0})
    with pytest.warns(UserWarning, match="another latency table"):
        load_predictor(path, table=other)


def test_a_custom_estimator_cannot_be_saved(table, tmp_path):
    reg = KernelRegressor(estimator=LinearRegression()).fit(table)
    with pytest.raises(InputError, match="cannot be saved pickle-free"):
        save_predictor(reg, tmp_path / "k.npz")
    assert not (tmp_path / "k.npz").exists()
