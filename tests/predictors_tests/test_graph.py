"""GraphPredictor: kernels found by ONNX Runtime's optimiser, mapped to specs, predicted for real.

Models come from hwlat's own emitter (op chains and a whole ProxylessNAS network) and from small
torch CNNs written here (a ResNet basic-block net, a MobileNetV2-like net with BN and ReLU6).
Their kernels are profiled on cpu-ort with the quick protocol, and predictions are compared with
end-to-end measurements of the same models (generous tolerances: this machine is shared).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from hwlat.devices import load_device
from hwlat.errors import InputError, NotFittedError, UnsupportedOpError
from hwlat.ops import spec as S
from hwlat.ops.onnx_emit import graph_to_onnx, to_onnx, torch_to_onnx
from hwlat.predictors.graph import GraphPredictor
from hwlat.predictors.onnx_kernels import LAYOUT_OPS, analyse_model, kernel_specs_of
from hwlat.profiler.model import measure_model
from hwlat.profiler.profile import profile_ops
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.runtimes import make_runtime
from hwlat.spaces import get_space

torch = pytest.importorskip("torch")
nn = torch.nn


# -- small real CNNs ----------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 32, 1))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.body(x)
        return x + y if self.res else y


class TinyMobileNetV2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.blocks = nn.Sequential(InvertedResidual(16, 16, 1, 1), InvertedResidual(16, 24, 2, 4),
                                    InvertedResidual(24, 24, 1, 4))
        self.head = nn.Sequential(nn.Conv2d(24, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU6())
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(x.mean((2, 3)))


class ShuffleSE(nn.Module):
    """A channel shuffle (Reshape/Transpose/Reshape) and a squeeze-excite gate (tensor kinds)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1)
        self.se1 = nn.Conv2d(16, 8, 1)
        self.se2 = nn.Conv2d(8, 16, 1)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        b, c, h, w = x.shape
        x = x.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)
        g = torch.sigmoid(self.se2(torch.relu(self.se1(nn.functional.adaptive_avg_pool2d(x, 1)))))
        return x * g


def _randomise_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return module.eval()


# -- fixtures -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("graph_models")
    torch.manual_seed(0)
    out = {}
    out["resnet"] = torch_to_onnx(_randomise_bn(TinyResNet()), (3, 64, 64), d / "resnet.onnx")
    out["mbv2"] = torch_to_onnx(_randomise_bn(TinyMobileNetV2()), (3, 64, 64), d / "mbv2.onnx")
    out["shuffle"] = torch_to_onnx(ShuffleSE().eval(), (3, 32, 32), d / "shuffle.onnx")
    space = get_space("proxyless", resolution=64)
    arch = space.sample(0, 1)[0]
    p = d / "proxyless.onnx"
    onnx.save(graph_to_onnx(space.build(arch)), str(p))
    out["proxyless"] = p
    return out


@pytest.fixture(scope="module")
def table(models, tmp_path_factory):
    specs = [s for name in ("resnet", "mbv2", "proxyless") for s in kernel_specs_of(models[name])]
    # elementwise rows give the fallback rule its rate
    specs += [S.add((16, 32, 32)), S.act((16, 32, 32), "relu"), S.act((16, 32, 32), "sigmoid")]
    res = profile_ops(specs, "cpu-ort", protocol=Protocol.quick(), progress=False,
                      out_dir=tmp_path_factory.mktemp("graph_table"))
    return res.table


@pytest.fixture(scope="module")
def measured(models):
    dev = load_device("cpu-ort")
    rt = make_runtime(dev.runtime, **dev.runtime_kwargs())
    return {k: measure_model(rt, models[k], Protocol.quick()).median_ms for k in ("resnet", "mbv2", "proxyless")}


# -- structure: what the runtime's optimiser made of the model ----------------------------------------

@pytest.mark.parametrize("chain", [
    [S.conv((3, 32, 32), 16, 3, 2, act="relu")],
    [S.conv((3, 32, 32), 16, 3, 1, act="relu6"), S.dwconv((16, 32, 32), 5, 2, act="hswish"),
     S.pwconv((16, 16, 16), 24, act="hsigmoid")],
    [S.conv((8, 16, 16), 8, 3, dil=2, act="sigmoid")],
    [S.pool((8, 16, 16), 3, 2, mode="max"), S.act((8, 8, 8), "relu"), S.bn((8, 8, 8)), S.gap((8, 8, 8)),
     S.fc((8,), 10)],
    [S.add((8, 16, 16)), S.pool((8, 16, 16), 2, 2, mode="avg", pad=0)],
    [S.concat((8, 16, 16), 3), S.conv((24, 16, 16), 8, 1, bn=0)],
    [S.act((8, 16, 16), "hswish")],
], ids=["conv-relu", "mbv2ish", "dilated", "pool-act-bn-gap-fc", "add-pool", "concat-conv-nobias", "hswish"])
def test_emitted_chains_map_back_to_their_specs(chain):
    got = kernel_specs_of(to_onnx(chain, seed=1))
    assert [s.key for s in got] == [s.key for s in chain]


def test_bn_folded_and_activations_fused(models):
    for name in ("resnet", "mbv2"):
        kernels = analyse_model(models[name])
        specs = kernel_specs_of(models[name])
        assert not any(s.kind == "bn" for s in specs), f"{name}: a BatchNorm was not folded"
        assert not any(k.op_type == "BatchNormalization" for k in kernels)
        acts = {s["act"] for s in specs if s.kind == "conv"}
        assert ("relu" if name == "resnet" else "relu6") in acts
        # a conv+activation became ONE conv kernel: no standalone activation kernel is left
        assert not any(s.kind == "act" for s in specs), [s.key for s in specs if s.kind == "act"]
        assert all(s["bn"] == 1 for s in specs if s.kind == "conv")  # folded BN = a bias
    # the stem: Conv(3->16, k3 s2) + BN + ReLU -> one conv spec with act=relu
    stem = kernel_specs_of(models["resnet"])[0]
    assert stem.key == S.conv((3, 64, 64), 16, 3, 2, act="relu").key


def test_residual_add_and_relu_fused_at_the_device_level(models):
    # at level 'all' the runtime fuses the block's Add (+ReLU) into a convolution: reported, costs 0
    fused = [k for k in analyse_model(models["resnet"]) if k.op_type in ("Add", "Relu") and k.zero_reason]
    assert fused and all("fused" in k.zero_reason for k in fused)


def test_flatten_is_zero_cost_and_proxyless_network_maps_fully(models):
    kernels = analyse_model(models["proxyless"])
    assert all(k.spec is not None or k.zero_reason or k.op_type in LAYOUT_OPS for k in kernels), \
        [(k.node, k.op_type, k.note) for k in kernels if k.spec is None and not k.zero_reason]
    flat = [k for k in kernels if k.op_type == "Flatten"]
    assert flat and all("alias" in k.zero_reason for k in flat)


# -- predictions against real measurements -----------------------------------------------------------

def test_predictions_are_within_a_sane_factor_of_measurements(models, table, measured):
    pred = GraphPredictor(table=table).fit()
    for name, meas in measured.items():
        got = float(pred.predict([models[name]])[0])
        assert 0.4 * meas < got < 2.5 * meas, (name, got, meas)
        df = pred.kernels(models[name])
        assert set(df["source"]) <= {"table", "layout", "zero-cost"}
        assert np.isclose(df["predicted_ms"].sum() + pred.coef_[1], got)
    # a bigger network is predicted slower than a smaller one, as measured (when clearly apart)
    p = {k: float(pred.predict(models[k])[0]) for k in measured}
    a, b = min(measured, key=measured.get), max(measured, key=measured.get)
    if measured[b] > 2 * measured[a]:
        assert p[b] > p[a]


def test_inputs_paths_bytes_and_protos_agree_and_are_cached(models, table):
    pred = GraphPredictor(table=table).fit()
    path = models["mbv2"]
    proto = onnx.load(str(path))
    ms = [pred.predict([path])[0], pred.predict([proto])[0], pred.predict([proto.SerializeToString()])[0],
          pred.predict(str(path))[0]]
    np.testing.assert_allclose(ms, ms[0])
    from hwlat.predictors import onnx_kernels as K

    before = len(K._cache)
    pred.predict([path, path])
    assert len(K._cache) == before  # served from the cache


def test_calibration_moves_predictions_toward_measurements(models, table, measured):
    names = list(measured)
    raw = GraphPredictor(table=table).fit()
    cal = GraphPredictor(table=table).fit([models[n] for n in names], [measured[n] for n in names])
    assert cal.n_calibration_ == 3
    y = np.array([measured[n] for n in names])
    # calibration minimises the squared relative error over a set that contains the uncalibrated
    # predictor (a = 1, b = overhead), so on the calibration models it can only lower that error
    err_raw = np.sqrt(np.mean((raw.predict([models[n] for n in names]) / y - 1) ** 2))
    err_cal = np.sqrt(np.mean((cal.predict([models[n] for n in names]) / y - 1) ** 2))
    assert err_cal <= err_raw + 1e-9


def test_unpredictable_nodes_raise_listing_each_of_them(models, table):
    pred = GraphPredictor(table=table).fit()
    with pytest.raises(UnsupportedOpError) as ei:
        pred.predict([models["shuffle"]])
    msg = str(ei.value)
    assert "Transpose" in msg and "/Transpose" in msg
    assert "/Mul (Mul" in msg  # the channel gate: an eltwise kernel this table lacks
    assert "allow_fallback" in msg


def test_allow_fallback_estimates_and_reports_each_fallback_node(models, table):
    pred = GraphPredictor(table=table, allow_fallback=True).fit()
    ms = float(pred.predict([models["shuffle"]])[0])
    assert np.isfinite(ms) and ms > 0
    df = pred.kernels(models["shuffle"])
    fb = df[df["source"] == "fallback"]
    assert {"Transpose", "Mul"} <= set(fb["op_type"])
    assert (fb["predicted_ms"] > 0).all()
    assert fb["note"].str.contains("fallback:").all()
    # the Reshapes around the Transpose alias their input: zero cost, with the reason
    assert (df.loc[df["op_type"] == "Reshape", "source"] == "zero-cost").all()


def test_missing_table_entry_is_an_error_not_a_zero(models, table):
    from hwlat.latency_tables import LatencyTable

    keys = table.keys()
    spec = kernel_specs_of(models["mbv2"])[0]
    rows = [(s, table.row(s)) for s in table.specs() if s.key != spec.key]
    partial = LatencyTable.from_rows(table.metadata, [(s, {"median_ms": r["median_ms"]}) for s, r in rows])
    assert len(partial) == len(keys) - 1
    with pytest.raises(UnsupportedOpError, match="not in the table"):
        GraphPredictor(table=partial).fit().predict([models["mbv2"]])


class FlopsRegressor:
    """A user-supplied kernel regressor: conv latency proportional to FLOPs; other kinds unknown."""

    def __init__(self, ms_per_flop: float, overhead_ms: float) -> None:
        self.ms_per_flop = ms_per_flop
        self.overhead_ms = overhead_ms

    def predict(self, specs):
        if any(s.kind != "conv" for s in specs):
            raise UnsupportedOpError("FlopsRegressor has no model for kind(s): " +
                                     ", ".join(sorted({s.kind for s in specs if s.kind != 'conv'})))
        return np.array([self.overhead_ms + s.flops * self.ms_per_flop for s in specs])


def test_regressor_answers_what_the_table_lacks(models, table):
    from hwlat.latency_tables import LatencyTable

    convs = [s for s in kernel_specs_of(models["mbv2"]) if s.kind == "conv"]
    drop = {convs[1].key}
    partial = LatencyTable.from_rows(table.metadata, [(s, {"median_ms": table.lookup(s)})
                                                      for s in table.specs() if s.key not in drop])
    reg = FlopsRegressor(1e-8, table.metadata.overhead_ms)
    pred = GraphPredictor(table=partial, regressor=reg).fit()
    df = pred.kernels(models["mbv2"])
    row = df[df["key"] == convs[1].key]
    assert (row["source"] == "regressor").all()
    np.testing.assert_allclose(row["predicted_ms"], convs[1].flops * 1e-8)
    assert np.isfinite(pred.predict([models["mbv2"]])[0])


def test_saved_predictor_is_self_contained_and_predicts_the_same(models, table, measured, tmp_path):
    import warnings

    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors import load_predictor, save_predictor

    names = list(measured)
    pred = GraphPredictor(table=table, allow_fallback=True)
    pred.fit([models[n] for n in names], [measured[n] for n in names])
    path = save_predictor(pred, tmp_path / "graph.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same table: no warning
        back = load_predictor(path, table=table)
    assert isinstance(back, GraphPredictor) and back.allow_fallback
    np.testing.assert_allclose(back.coef_, pred.coef_)
    assert back.n_calibration_ == 3
    assert back.table.keys() == table.keys()
    assert back.table.metadata.device_name == table.metadata.device_name
    every = [models[n] for n in ("resnet", "mbv2", "proxyless", "shuffle")]
    np.testing.assert_allclose(back.predict(every), pred.predict(every))
    a, b = pred.kernels(models["shuffle"]), back.kernels(models["shuffle"])
    assert list(a["source"]) == list(b["source"])
    np.testing.assert_allclose(a["predicted_ms"].to_numpy(float), b["predicted_ms"].to_numpy(float))
    # a table other than the one it was fitted on: a warning says so
    other = LatencyTable.from_rows(table.metadata, [(s, {"median_ms": 2 * table.lookup(s)}) for s in table.specs()])
    with pytest.warns(UserWarning, match="another latency table"):
        load_predictor(path, table=other)
    # a regressor without a saved form cannot be written pickle-free
    with pytest.raises(InputError, match="no saved form"):
        save_predictor(GraphPredictor(table=table, regressor=FlopsRegressor(1e-8, 0.0)).fit(), tmp_path / "r.npz")


def test_bad_inputs_say_what_is_wrong(tmp_path, table):
    pred = GraphPredictor(table=table).fit()
    with pytest.raises(InputError, match="does not exist"):
        pred.predict([tmp_path / "nope.onnx"])
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not an onnx file")
    with pytest.raises(InputError, match="bad.onnx"):
        pred.predict([bad])
    with pytest.raises(NotFittedError, match="not fitted"):
        GraphPredictor(table=table).predict([bad])
    with pytest.raises(UnsupportedOpError, match="onnxruntime device"):
        GraphPredictor(table=table, device="cpu-litert").fit()


def test_torch_to_onnx_restores_the_training_flag(tmp_path):
    m = TinyMobileNetV2().train()
    p = torch_to_onnx(m, (3, 32, 32), tmp_path / "m.onnx")
    assert m.training and p.exists()
    onnx.checker.check_model(onnx.load(str(p)))
    with pytest.raises(InputError):
        torch_to_onnx(m, (2, 3, 32, 32), tmp_path / "x.onnx")


def test_cli_query_prints_latency_and_explains(models, table, tmp_path, capsys):
    import json

    from hwlat.cli import main

    t = tmp_path / "t.parquet"
    table.save(t)
    assert main(["query", str(models["mbv2"]), "--device", "cpu-ort", "--table", str(t)]) == 0
    out = capsys.readouterr().out
    assert "latency_ms" in out and "mbv2.onnx" in out
    assert main(["query", str(models["mbv2"]), "--table", str(t), "--explain", "--format", "json"]) == 0
    rec = json.loads(capsys.readouterr().out)[0]
    assert rec["latency_ms"] > 0 and any(r["source"] == "table" for r in rec["explain"])
    assert main(["query", str(models["shuffle"]), "--table", str(t), "--allow-fallback"]) == 0
    cap = capsys.readouterr()
    assert "fallback estimate for /Transpose" in cap.err
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00garbage")
    assert main(["query", str(bad), "--table", str(t)]) == 1
    assert "broken.onnx" in capsys.readouterr().err


def test_cli_saves_a_graph_predictor_and_queries_with_it(models, table, tmp_path, capsys):
    from hwlat.cli import main

    t = tmp_path / "t.parquet"
    table.save(t)
    g = tmp_path / "graph.npz"
    assert main(["query", str(models["mbv2"]), "--table", str(t), "--save-predictor", str(g), "--format", "csv"]) == 0
    first = capsys.readouterr().out
    assert g.exists()
    # the saved file alone answers: no table, the same latency
    assert main(["query", str(models["mbv2"]), "--predictor", str(g), "--format", "csv"]) == 0
    assert capsys.readouterr().out == first
    # an architecture predictor is not a graph predictor
    from hwlat.predictors import save_predictor

    lk = save_predictor(_lookup_predictor(), tmp_path / "lk.npz")
    assert main(["query", str(models["mbv2"]), "--predictor", str(lk)]) == 1
    assert "lk.npz is a lookup predictor" in capsys.readouterr().err


def _lookup_predictor():
    """A lookup predictor of the NB201 space (its table's values do not matter here)."""
    from hwlat.latency_tables import LatencyTable, TableMetadata
    from hwlat.predictors import LookupPredictor

    nb = get_space("nb201")
    tab = LatencyTable.from_rows(TableMetadata(), [(s, {"median_ms": 0.01}) for s in nb.all_ops()])
    return LookupPredictor(space=nb, table=tab).fit()
