"""Accuracy sources: NAS-Bench-201 table, Once-for-All's predictor, user callables, the registry."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.search import get_space
from hwlat.search.accuracy import (
    AccuracySource,
    CallableAccuracy,
    NB201TableAccuracy,
    OFAPredictorAccuracy,
    make_accuracy,
)

OFA_RES = [160, 176, 192, 208, 224]


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


@pytest.fixture(scope="module")
def nb201_csv(shared_data):
    return shared_data / "nb201" / "accuracy.csv"


@pytest.fixture(scope="module")
def ofa_pth(shared_data):
    return shared_data / "ofa" / "acc_predictor.pth"


# -- NAS-Bench-201 ----------------------------------------------------------------------------------
def test_nb201_table_matches_csv_rows(nb201, nb201_csv):
    import pandas as pd

    df = pd.read_csv(nb201_csv)
    src = make_accuracy(f"nb201-csv:{nb201_csv}:cifar100", nb201)
    assert isinstance(src, NB201TableAccuracy) and src.kind == "accuracy" and "cifar100" in src.name
    rows = df.sample(50, random_state=0)
    archs = [nb201.decode(s) for s in rows["arch_str"]]
    assert np.allclose(src.evaluate(archs), rows["cifar100_test_acc"].to_numpy())
    # genes path agrees, and the whole space is covered
    all_genes = np.stack(np.unravel_index(np.arange(nb201.size()), nb201.gene_sizes()), axis=1)
    acc = src.evaluate_genes(all_genes)
    assert acc.shape == (15625,) and np.isfinite(acc).all() and 0 < acc.min() and acc.max() < 100
    c10 = make_accuracy(f"nb201-csv:{nb201_csv}", nb201)  # cifar10 is the default
    best = df.loc[df["cifar10_test_acc"].idxmax()]
    assert c10.evaluate([nb201.decode(best["arch_str"])])[0] == pytest.approx(best["cifar10_test_acc"])


def test_nb201_partial_file_and_bad_files(nb201, nb201_csv, tmp_path):
    lines = nb201_csv.read_text().splitlines()
    part = tmp_path / "part.csv"
    part.write_text("\n".join(lines[:101]) + "\n")
    src = NB201TableAccuracy(part, nb201, dataset="imagenet16_120")
    first = nb201.decode(lines[1].split(",")[1])
    assert np.isfinite(src.evaluate([first])).all()
    missing = next(a for a in nb201.sample(0, 500) if nb201.encode(a) not in "\n".join(lines[:101]))
    with pytest.raises(InputError, match="no imagenet16-120 accuracy for cell"):
        src.evaluate([missing])
    with pytest.raises(InputError, match="does not exist.*NATS-Bench"):
        make_accuracy(f"nb201-csv:{tmp_path / 'nope.csv'}", nb201)
    other = tmp_path / "other.csv"
    other.write_text("index,arch_str,cifar10_test_acc\n0,k3_e6,90\n")
    with pytest.raises(InputError, match="not a NAS-Bench-201 cell"):
        make_accuracy(f"nb201-csv:{other}", nb201)
    with pytest.raises(InputError, match="needs the columns"):
        make_accuracy(f"nb201-csv:{other}:cifar100", nb201)
    with pytest.raises(InputError, match="unknown NAS-Bench-201 dataset"):
        NB201TableAccuracy(nb201_csv, nb201, dataset="svhn")


def test_accuracy_of_wrong_space_is_rejected(nb201, nb201_csv, ofa_pth):
    with pytest.raises(InputError, match="nb201 search space"):
        make_accuracy(f"nb201-csv:{nb201_csv}", get_space("proxyless"))
    with pytest.raises(InputError, match="ofa-mbv3 search space"):
        make_accuracy(f"ofa-predictor:{ofa_pth}", nb201)


# -- Once-for-All predictor ----------------------------------------------------------------------------
def reference_features(arch: dict) -> np.ndarray:
    """OFA's tutorial encoding (spec2feats), written out per layer as in the once-for-all repository."""
    ks, ex, d = list(arch["ks"]), list(arch["e"]), list(arch["d"])
    for stage, depth in enumerate(d):
        for j in range(4 * stage + depth, 4 * stage + 4):
            ks[j] = ex[j] = 0
    kmap, emap = {3: 0, 5: 1, 7: 2}, {3: 0, 4: 1, 6: 2}
    k1, e1, r1 = [0] * 60, [0] * 60, [0] * 8
    for i in range(20):
        if ks[i]:
            k1[3 * i + kmap[ks[i]]] = 1
        if ex[i]:
            e1[3 * i + emap[ex[i]]] = 1
    r1[(arch["r"] - 112) // 16] = 1
    return np.array(k1 + e1 + r1, dtype=np.float32)


@pytest.fixture(scope="module")
def ofa_space():
    return get_space("ofa-mbv3", resolutions=OFA_RES)


@pytest.fixture(scope="module")
def ofa_pred(ofa_pth, ofa_space):
    pytest.importorskip("torch")
    return OFAPredictorAccuracy(ofa_pth, ofa_space)


def test_ofa_encoding_matches_reference(ofa_pred, ofa_space):
    archs = ofa_space.sample(0, 200)
    X = ofa_pred.features(ofa_space.to_genes(archs))
    assert X.shape == (200, 128)
    for a, row in zip(archs, X):
        assert (row == reference_features(a)).all()


def test_ofa_predictions_sane_and_ordered(ofa_pred, ofa_space):
    big = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": 224}
    small = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 160}
    y_big, y_small = ofa_pred.evaluate([big, small])
    assert y_big > y_small + 2.0  # points of top-1
    y = ofa_pred.evaluate_genes(ofa_space.sample_genes(1, 2000))
    assert 70.0 < y.min() and y.max() < 86.0, (y.min(), y.max())
    assert ofa_pred.name.startswith("ofa-predictor:") and ofa_pred.unit == "%"
    # depth and resolution raise the prediction on average
    g = ofa_space.sample_genes(2, 500)
    lo, hi = g.copy(), g.copy()
    lo[:, 0], hi[:, 0] = 0, len(OFA_RES) - 1
    assert ofa_pred.evaluate_genes(hi).mean() > ofa_pred.evaluate_genes(lo).mean()


def test_ofa_numpy_forward_equals_torch(ofa_pred, ofa_space):
    import torch

    g = ofa_space.sample_genes(3, 300)
    y_np = ofa_pred.evaluate_genes(g)
    y_t = ofa_pred.evaluate_genes(g, backend="torch")
    assert np.allclose(y_np, y_t, atol=1e-3)
    # and both equal OFA's own torch module (nn.Sequential of Linear/ReLU) loaded from the file
    sd = torch.load(ofa_pred.path, map_location="cpu", weights_only=True)
    net = torch.nn.Sequential(torch.nn.Linear(128, 400), torch.nn.ReLU(), torch.nn.Linear(400, 400),
                              torch.nn.ReLU(), torch.nn.Linear(400, 400), torch.nn.ReLU(), torch.nn.Linear(400, 1))
    net.load_state_dict(sd)
    feats = np.stack([reference_features(a) for a in (ofa_space.from_genes(r) for r in g)])
    with torch.no_grad():
        ref = net(torch.from_numpy(feats)).numpy()[:, 0] * 100
    assert np.allclose(y_np, ref, atol=1e-3)


def test_ofa_predictor_errors(ofa_space, tmp_path, ofa_pth):
    pytest.importorskip("torch")
    import torch

    with pytest.raises(InputError, match="hanlab.mit.edu"):
        OFAPredictorAccuracy(tmp_path / "missing.pth", ofa_space)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a PyTorch state dict"):
        OFAPredictorAccuracy(junk, ofa_space)
    wrong = tmp_path / "wrong.pth"
    torch.save({f"{i}.weight": torch.zeros(4, 4) for i in (0, 2, 4, 6)} | {f"{i}.bias": torch.zeros(4) for i in
                                                                           (0, 2, 4, 6)}, wrong)
    with pytest.raises(InputError, match="another space"):
        OFAPredictorAccuracy(wrong, ofa_space)
    with pytest.raises(InputError, match="112-239"):
        OFAPredictorAccuracy(ofa_pth, get_space("ofa-mbv3", resolutions=[96, 224]))


# -- callables and the registry ---------------------------------------------------------------------------
def test_callable_accuracy_from_file_and_module_path(tmp_path, nb201, monkeypatch):
    mod = tmp_path / "myacc.py"
    mod.write_text("def acc(archs):\n    return [10.0 * sum(op == 'nor_conv_3x3' for op in a) for a in archs]\n"
                   "def bad(archs):\n    return [1.0]\n")
    src = make_accuracy(f"{mod}:acc", nb201)
    assert isinstance(src, CallableAccuracy) and src.name == f"callable:{mod}:acc"
    archs = nb201.sample(0, 5)
    want = [10.0 * sum(op == "nor_conv_3x3" for op in a) for a in archs]
    assert src.evaluate(archs).tolist() == want
    assert src.evaluate_genes(nb201.to_genes(archs)).tolist() == want
    monkeypatch.syspath_prepend(str(tmp_path))
    assert make_accuracy("myacc:acc", nb201).evaluate(archs).tolist() == want
    with pytest.raises(InputError, match="returned 1 values for 5"):
        make_accuracy("myacc:bad", nb201).evaluate(archs)


@pytest.mark.parametrize("spec, match", [
    ("no_such_module_xyz:f", "cannot import module"),
    ("os.path:no_such_function", "has no attribute"),
    ("os:sep", "not a function"),
    ("bad module:f", "not a module name"),
    (":f", "must look like module:function"),
    ("mod:1f", "must look like module:function"),
    ("just-text", "unknown accuracy source"),
])
def test_malformed_callable_paths(spec, match, nb201):
    with pytest.raises(InputError, match=match):
        make_accuracy(spec, nb201)


def test_protocol_objects_are_accepted(nb201):
    class Proxy:
        name = "proxy:count-convs"
        kind = "proxy"

        def evaluate_genes(self, genes):
            return (np.asarray(genes) >= 2).sum(axis=1).astype(float)

    src = make_accuracy(Proxy(), nb201)
    assert isinstance(src, AccuracySource) and src.kind == "proxy" and src.unit == "score"
    archs = nb201.sample(0, 4)
    assert (src.evaluate(archs) == Proxy().evaluate_genes(nb201.to_genes(archs))).all()

    class NoKind:
        name = "x"
        kind = "metric"

        def evaluate(self, archs):
            return [0.0] * len(archs)

    with pytest.raises(InputError, match="'accuracy' or 'proxy'"):
        make_accuracy(NoKind(), nb201)
    with pytest.raises(InputError, match="proxy name"):
        make_accuracy("proxy:", nb201)


def test_zero_cost_proxy_through_the_registry(nb201):
    pytest.importorskip("torch")
    pytest.importorskip("hwlat.search.proxies")
    src = make_accuracy("proxy:naswot", nb201, batch_size=8)
    assert isinstance(src, AccuracySource) and src.kind == "proxy" and src.name == "proxy:naswot"
    archs = nb201.sample(0, 2)
    scores = src.evaluate_genes(nb201.to_genes(archs))
    assert scores.shape == (2,) and np.isfinite(scores).all()
    with pytest.raises(InputError, match="unknown zero-cost proxy"):
        make_accuracy("proxy:nope", nb201)
