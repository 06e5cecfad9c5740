"""DevicePrior: a new device from a few measurements through what reference devices share, with
the degenerate cases of real devices (cells cut off from their input, near-zero measurements, a
single bad measurement)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from hwlat.cli import main
from hwlat.errors import InputError
from hwlat.predictors import load_predictor, save_predictor
from hwlat.predictors.device_prior import DevicePrior, ReferenceLatencies, read_references
from hwlat.spaces import get_space


@pytest.fixture(scope="module")
def world():
    """Every NB201 architecture on 9 synthetic devices: per-op costs that differ by device (a
    GPU-like one where the constant dominates, CPU-like ones where 3x3 convolutions do), the
    cells' ops summed (dead ones too, as NB201's own forward computes them), 2 % noise."""
    space = get_space("nb201")
    genes = np.array(np.unravel_index(np.arange(15625), space.gene_sizes())).T
    archs = [space.encode(space.from_genes(g)) for g in genes]
    counts = np.stack([(genes == v).sum(1) for v in range(5)], 1).astype(float)
    rng = np.random.default_rng(0)
    devices = []
    for _ in range(9):
        cost = np.array([0.0, 0.05, 0.4, 1.2, 0.3]) * rng.uniform(0.5, 2.0, 5)
        const = rng.uniform(0.5, 4.0)
        devices.append((counts @ cost + const) * rng.lognormal(0, 0.02, len(genes)))
    ms = np.column_stack(devices)
    refs = ReferenceLatencies(archs, [f"dev{d}" for d in range(8)], ms[:, :8])
    return space, archs, genes, refs, ms[:, 8]


def _fit(space, archs, refs, y, idx):
    return DevicePrior(space=space, references=refs).fit([space.decode(archs[i]) for i in idx], y[idx])


def test_a_new_device_from_ten_measurements(world):
    space, archs, genes, refs, y = world
    idx = np.random.default_rng(1).choice(len(y), 10, replace=False)
    m = _fit(space, archs, refs, y, idx)
    pred = m.predict_genes(genes)
    assert spearmanr(pred, y)[0] > 0.97
    assert np.median(np.abs(pred / y - 1)) < 0.06
    assert (pred > 0).all() and m.min_latency() > 0
    lo, hi = m.predict_interval([space.decode(a) for a in archs[:2000]], level=0.9)
    assert (lo < pred[:2000]).all() and (pred[:2000] < hi).all()
    assert m.outliers_ == [] and m.layer_tables() is None


def test_intervals_hold_about_their_level_over_draws(world):
    """One draw of 10 estimates its error scale roughly; over draws the 90 % intervals hold about
    90 % of the truths, and a wider level holds more."""
    space, archs, genes, refs, y = world
    dec = [space.decode(a) for a in archs[:3000]]
    held, wide = [], []
    for seed in range(1, 9):
        m = _fit(space, archs, refs, y, np.random.default_rng(seed).choice(len(y), 10, replace=False))
        lo, hi = m.predict_interval(dec, level=0.9)
        held.append(np.mean((y[:3000] >= lo) & (y[:3000] <= hi)))
        lo, hi = m.predict_interval(dec, level=0.99)
        wide.append(np.mean((y[:3000] >= lo) & (y[:3000] <= hi)))
    assert 0.75 < np.mean(held) < 0.98
    assert np.mean(wide) > np.mean(held) + 0.03


def test_no_prediction_is_zero_even_for_cells_of_skips_and_nones(world):
    """Fitted on measurements where op counts explain everything, the all-skip and all-none cells
    keep the network's stem and head: never 0 ms."""
    space, archs, genes, refs, y = world
    idx = np.random.default_rng(2).choice(len(y), 6, replace=False)
    for blend in ("auto", "counts", "prior"):
        m = DevicePrior(space=space, references=refs, blend=blend).fit([space.decode(archs[i]) for i in idx], y[idx])
        only = (genes <= 1).all(axis=1)  # none and skip edges only: 64 cells
        assert only.sum() == 64 and (m.predict_genes(genes[only]) > 0.05 * y.min()).all()


def test_a_runtime_that_prunes_dead_cells_does_not_collapse_the_fit(world):
    """Two measurements of cells cut off from their input at 0.003 ms (a runtime that prunes
    them): they are recognised, set apart, and every other architecture is predicted as well
    as without them; the degenerate ones are predicted at what was measured."""
    space, archs, genes, refs, y = world
    deg = space.degenerate_genes(genes)
    assert deg.sum() == 341
    y2 = np.where(deg, 0.003, y)
    rng = np.random.default_rng(3)
    idx = np.r_[rng.choice(np.nonzero(~deg)[0], 10, replace=False), np.nonzero(deg)[0][:2]]
    m = _fit(space, archs, refs, y2, idx)
    assert m.degenerate_apart_ and "apart" in m.degenerate_
    pred = m.predict_genes(genes)
    assert spearmanr(pred[~deg], y[~deg])[0] > 0.97
    assert pred[deg] == pytest.approx(0.003)
    # where the device runs them like any other cell, they are fitted with the others
    m = _fit(space, archs, refs, y, idx)
    assert not m.degenerate_apart_ and "with the others" in m.degenerate_


def test_one_bad_measurement_is_named_and_does_not_pull_the_fit(world):
    space, archs, genes, refs, y = world
    idx = np.random.default_rng(4).choice(len(y), 12, replace=False)
    bad = y.copy()
    bad[idx[3]] *= 5
    m = _fit(space, archs, refs, bad, idx)
    assert [o["arch"] for o in m.outliers_] == [archs[idx[3]]]
    assert spearmanr(m.predict_genes(genes), y)[0] > 0.95


def test_suggest_proposes_distinct_informative_architectures(world):
    space, archs, genes, refs, y = world
    prior = DevicePrior(space=space, references=refs)
    got = prior.suggest(5)
    g = space.to_genes(got)
    assert len({space.encode(a) for a in got}) == 5 and not space.degenerate_genes(g).any()
    again = prior.suggest(3, exclude=got[:2])
    assert not {space.encode(a) for a in again} & {space.encode(a) for a in got[:2]}
    with pytest.raises(InputError, match="k >= 1"):
        prior.suggest(0)


def test_save_load_and_input_errors(world, tmp_path):
    space, archs, genes, refs, y = world
    idx = np.arange(0, 15625, 1500)
    m = _fit(space, archs, refs, y, idx)
    back = load_predictor(save_predictor(m, tmp_path / "p.npz"))
    assert isinstance(back, DevicePrior)
    assert np.array_equal(back.predict_genes(genes), m.predict_genes(genes))
    lo, hi = back.predict_interval([space.decode(archs[5])])
    assert lo[0] < back.predict([space.decode(archs[5])])[0] < hi[0]
    with pytest.raises(InputError, match="positive"):
        DevicePrior(space=space, references=refs).fit([space.decode(archs[0])] * 3, [1.0, -1.0, 2.0])
    with pytest.raises(InputError, match="at least 3"):
        DevicePrior(space=space, references=refs).fit([space.decode(archs[i]) for i in (5, 6)], [1.0, 2.0])
    few = ReferenceLatencies(archs[:100], refs.devices, refs.ms[:100])
    m = DevicePrior(space=space, references=few).fit([space.decode(archs[i]) for i in range(0, 60, 6)], y[0:60:6])
    with pytest.raises(InputError, match="no reference latencies"):
        m.predict([space.decode(archs[200])])
    with pytest.raises(InputError, match="at least 2 reference devices"):
        ReferenceLatencies(archs[:3], ["a"], np.ones((3, 1)))
    with pytest.raises(InputError, match="positive number"):
        ReferenceLatencies(archs[:2], ["a", "b"], np.array([[1.0, 0.0], [1.0, 1.0]]))


def test_cli_suggest_adapt_query_with_intervals(world, tmp_path, capsys):
    space, archs, genes, refs, y = world
    ref_csv = tmp_path / "devices.csv"
    import pandas as pd

    pd.DataFrame(refs.ms, columns=refs.devices).assign(arch=archs).to_csv(ref_csv, index=False)
    assert main(["adapt", "--space", "nb201", "--reference-devices", str(ref_csv), "--suggest", "8",
                 "--format", "csv"]) == 0
    proposed = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert list(proposed.columns) == ["arch", "latency_ms"] and len(proposed) == 8
    row = {a: i for i, a in enumerate(archs)}
    proposed["latency_ms"] = [y[row[space.encode(space.decode(a))]] for a in proposed["arch"]]
    meas = tmp_path / "phone.csv"
    proposed.to_csv(meas, index=False)
    out = tmp_path / "phone.npz"
    assert main(["adapt", "--space", "nb201", "--reference-devices", str(ref_csv), "--measurements", str(meas),
                 "-o", str(out), "--format", "json"]) == 0
    cap = capsys.readouterr()
    assert "leave-one-out error" in cap.err and json.loads(cap.out)["n_fit"] == 8
    assert main(["query", "--space", "nb201", "--predictor", str(out), archs[77], "--interval", "--format",
                 "json"]) == 0
    (got,) = json.loads(capsys.readouterr().out)
    assert got["low_ms"] < got["latency_ms"] < got["high_ms"]
    assert got["latency_ms"] == pytest.approx(y[77], rel=0.15)
    # usage errors
    with pytest.raises(SystemExit) as exc:
        main(["adapt", "--space", "nb201", "--measurements", str(meas), "-o", str(out)])
    assert exc.value.code == 2 and "either --reference-devices" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["adapt", "--space", "nb201", "--reference-devices", str(ref_csv), "--measurements", str(meas)])
    assert exc.value.code == 2 and "-o/--output" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("name,dev0\nx,1.0\n")
    assert main(["adapt", "--space", "nb201", "--reference-devices", str(bad), "--suggest", "3"]) == 1
    assert "needs a column arch" in capsys.readouterr().err


def test_leave_one_device_out_on_published_latencies(shared_data):
    """The held-out device (a Xeon) never reaches the prior; from 10 measurements the other
    devices' structure ranks its 15,615 other architectures."""
    space = get_space("nb201")
    refs = read_references([shared_data / "nb201" / "latency_ms.csv"], space)
    assert len(refs.devices) == 15 and len(refs.archs) == 15625
    j = refs.devices.index("gold_6226")
    y = refs.ms[:, j]
    rho = []
    for seed in range(3):
        idx = np.random.default_rng(seed).choice(len(y), 10, replace=False)
        m = DevicePrior(space=space, references=refs.without("gold_6226")).fit(
            [space.decode(refs.archs[i]) for i in idx], y[idx])
        test = np.setdiff1d(np.arange(len(y)), idx)
        rho.append(spearmanr(m.predict_genes(m.ref_genes_[test]), y[test])[0])
    assert np.mean(rho) > 0.95


def _device_table(space, rng, name, k7=1.0):
    """A synthetic latency table whose op costs weigh FLOPs and each kind of op differently
    (``k7``: a factor on 7x7 MBConv blocks)."""
    from hwlat.latency_tables import LatencyTable, TableMetadata

    per_kind: dict[str, float] = {}
    a = rng.uniform(0.5, 2.0)
    rows = []
    for s in space.all_ops():
        w = per_kind.setdefault(s.kind, rng.uniform(0.2, 3.0))
        f = k7 if s.kind == "mbconv" and int(s.param_dict["k"]) == 7 else 1.0
        rows.append((s, {"median_ms": f * (0.002 * w + a * s.flops * 1e-8)}))
    md = TableMetadata(device={"name": name}, runtime="onnxruntime", threads=1, overhead_ms=0.05)
    return LatencyTable.from_rows(md, rows)


def _device_tables(space, rng, folder, n):
    """``n`` synthetic reference devices' tables saved as ``folder/dev<d>.parquet``; their paths."""
    paths = []
    for d in range(n):
        p = folder / f"dev{d}.parquet"
        _device_table(space, rng, f"dev{d}").save(p)
        paths.append(p)
    return paths


def test_tables_as_reference_devices_predict_any_architecture(tmp_path, capsys):
    """ProxylessNAS is far too large to list: five devices' latency tables stand for them, and a
    sixth device, seen only through 10 whole-network measurements, is predicted for architectures
    no reference ever listed (the CLI path too: tables given to --reference-devices)."""
    from hwlat.predictors.lookup import LookupPredictor

    space = get_space("proxyless", resolution=128)
    rng = np.random.default_rng(5)
    paths = _device_tables(space, rng, tmp_path, 5)
    truth = LookupPredictor(space=space, table=_device_table(space, rng, "new")).fit()
    refs = read_references(paths, space)
    assert refs.devices == [f"dev{d}" for d in range(5)] and len(refs.tables) == 5
    fit_genes = space.sample_genes(1, 10)
    y = truth.predict_genes(fit_genes) * np.random.default_rng(2).lognormal(0, 0.02, 10)
    m = DevicePrior(space=space, references=refs).fit([space.from_genes(g) for g in fit_genes], y)
    test = space.sample_genes(3, 500)
    pred, want = m.predict_genes(test), truth.predict_genes(test)
    assert spearmanr(pred, want)[0] > 0.95 and np.median(np.abs(pred / want - 1)) < 0.05
    back = load_predictor(save_predictor(m, tmp_path / "p.npz"))
    assert np.allclose(back.predict_genes(test), pred)
    assert len(m.suggest(4)) == 4
    meas = tmp_path / "new.csv"
    import pandas as pd

    pd.DataFrame({"arch": [space.encode(space.from_genes(g)) for g in fit_genes], "latency_ms": y}).to_csv(
        meas, index=False)
    out = tmp_path / "new.npz"
    assert main(["adapt", "--space", "proxyless", "--resolution", "128", "--reference-devices", *map(str, paths),
                 "--measurements", str(meas), "-o", str(out), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["reference_devices"] == [f"dev{d}" for d in range(5)]
    with pytest.raises(InputError, match="at least 2 devices"):
        read_references(paths[:1], space)


def test_ofa_device_slow_at_one_kernel_size_is_followed_by_the_counts(tmp_path):
    """Once-for-All through three reference tables, and a new device on which 7x7 layers cost 4x
    what the references say (as LiteRT's XNNPACK runs them on some CPUs): the counts of the
    layers that run, by kernel size, carry what no reference shows; save and load keep it."""
    from hwlat.predictors.lookup import LookupPredictor

    space = get_space("ofa-mbv3", resolutions=[160])
    rng = np.random.default_rng(3)
    paths = _device_tables(space, rng, tmp_path, 3)
    truth = LookupPredictor(space=space, table=_device_table(space, rng, "new", k7=4.0)).fit()
    refs = read_references(paths, space)
    fit_genes = space.sample_genes(1, 20)
    y = truth.predict_genes(fit_genes)
    m = DevicePrior(space=space, references=refs).fit([space.from_genes(g) for g in fit_genes], y)
    test = space.sample_genes(2, 400)
    pred, want = m.predict_genes(test), truth.predict_genes(test)
    plain = refs.tables_ms(test).mean(axis=1)
    assert spearmanr(pred, want)[0] > max(0.9, spearmanr(plain, want)[0] + 0.05)
    assert np.median(np.abs(pred / want - 1)) < 0.10
    back = load_predictor(save_predictor(m, tmp_path / "p.npz"))
    assert np.allclose(back.predict_genes(test), pred)
