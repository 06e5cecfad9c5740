"""Layout conversions on cpu-ort: what a lone op pays for the NCHWc block layout, the in-network
cost the table derives from it, and the conversions a whole model really runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwlat.latency_tables import IN_GRAPH, LatencyTable, TableMetadata
from hwlat.ops import add, conv, pool
from hwlat.ops.ir import build_graph
from hwlat.predictors.graph import GraphPredictor
from hwlat.predictors.kernels import KernelRegressor
from hwlat.predictors.onnx_kernels import LAYOUT_OPS, analyse_model, kernel_specs_of
from hwlat.profiler import Protocol
from hwlat.profiler.profile import CHECKPOINT_NAME, profile_ops
from hwlat.profiler.runtimes.ort import OnnxRuntime, node_times_ms

CONV = conv((16, 32, 32), 16, 3)


def test_a_lone_conv_pays_conversions_an_add_does_not():
    rt = OnnxRuntime(threads=1, provider="cpu")
    r_in, r_out, traced = rt.layout_ms(build_graph(CONV))
    assert r_in > 0 and r_out > 0 and traced > 0
    r_in, r_out, traced = rt.layout_ms(build_graph(add((16, 32, 32), 2)))
    assert (r_in, r_out) == (0.0, 0.0) and traced > 0  # no conversions; the add itself is traced
    # no NCHWc layout below level all: nothing to convert, and no trace taken
    basic = OnnxRuntime(threads=1, provider="cpu", options={"graph_optimization_level": "basic"})
    assert basic.layout_ms(build_graph(CONV)) == (0.0, 0.0, None)


def test_node_times_take_the_fastest_run_after_the_warm_up():
    def run(t0, dur_in, dur_out, dur_op):
        return [{"cat": "Session", "name": "model_run", "ts": t0, "dur": 100},
                {"cat": "Node", "name": "r_kernel_time", "ts": t0 + 1, "dur": dur_in,
                 "args": {"op_name": "ReorderInput"}},
                {"cat": "Node", "name": "c_kernel_time", "ts": t0 + 10, "dur": dur_op,
                 "args": {"op_name": "Conv"}},
                {"cat": "Node", "name": "c_fence_before", "ts": t0 + 10, "dur": 5, "args": {"op_name": "Conv"}},
                {"cat": "Node", "name": "o_kernel_time", "ts": t0 + 50, "dur": dur_out,
                 "args": {"op_name": "ReorderOutput"}}]
    events = run(0, 900, 900, 900) + run(1000, 30, 40, 35) + run(2000, 20, 60, 25)
    assert node_times_ms(events, 1) == pytest.approx((0.020, 0.040, 0.025))
    assert node_times_ms(events, 3) == (0.0, 0.0, 0.0)


def _table(rows):
    md = TableMetadata(device={"name": "cpu-ort"}, runtime="onnxruntime", runtime_version="x", overhead_ms=0.0)
    return LatencyTable.from_rows(md, rows)


def test_in_graph_is_the_traced_time_else_latency_less_conversions_never_below_a_tenth():
    p = pool((16, 32, 32), 3)
    a = add((16, 32, 32), 2)
    p2 = pool((16, 32, 32), 2, 2)
    t = _table([(CONV, {"latency_ms": 1.0, "reorder_in_ms": 0.2, "reorder_out_ms": 0.3}),
                (p, {"latency_ms": 0.5, "reorder_in_ms": 0.4, "reorder_out_ms": 0.4}),
                (a, {"latency_ms": 0.25}),
                (p2, {"latency_ms": 0.5, "reorder_in_ms": 0.4, "reorder_out_ms": 0.4, "traced_ms": 0.12})])
    assert t.lookup_many([CONV, p, a, p2], IN_GRAPH) == pytest.approx([0.5, 0.05, 0.25, 0.12])
    assert t.lookup_many([CONV], "latency_ms") == pytest.approx([1.0])


def test_the_regressor_fits_in_graph_costs_by_default():
    rng = np.random.default_rng(0)
    specs = [conv((c, 16, 16), c, 3) for c in range(8, 40, 2)]
    rows = [(s, {"latency_ms": float(ms), "reorder_in_ms": float(ms) / 4, "reorder_out_ms": float(ms) / 4})
            for s, ms in zip(specs, rng.uniform(0.5, 2.0, len(specs)))]
    t = _table(rows)
    inside = KernelRegressor(target="ms").fit(t)
    alone = KernelRegressor(target="ms", in_graph=False).fit(t)
    assert np.median(inside.predict(specs) / alone.predict(specs)) == pytest.approx(0.5, rel=0.05)
    header, arrays = inside.to_state()
    assert KernelRegressor.from_state(header, arrays).in_graph is True


def _conv_net(path):
    torch = pytest.importorskip("torch")
    from torch import nn

    from hwlat.ops.onnx_emit import torch_to_onnx

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, 16, 3, 1, 1), nn.ReLU(),
                        nn.Conv2d(16, 16, 3, 1, 1)).eval()
    return torch_to_onnx(net, (16, 32, 32), path)


def test_profile_records_conversions_resumably_and_the_model_pays_them_once(tmp_path):
    model = _conv_net(tmp_path / "convs.onnx")
    kernels = analyse_model(model, "cpu-ort")
    layout = [k for k in kernels if k.op_type in LAYOUT_OPS]
    assert [k.op_type for k in layout] == ["ReorderInput", "ReorderOutput"]  # the network's boundaries only
    assert all(k.elements == 16 * 32 * 32 for k in layout)

    specs = kernel_specs_of(model, "cpu-ort")
    out = tmp_path / "t"
    table = profile_ops(specs, "cpu-ort", protocol=Protocol.quick(), out_dir=out, progress=False).table
    assert (table.df["reorder_out_ms"] > 0).all() and (table.df["traced_ms"] > 0).all()
    inside = table.lookup_many(specs, IN_GRAPH)
    assert (inside < table.lookup_many(specs)).all()
    assert inside == pytest.approx(table.df.set_index("key").loc[[s.key for s in specs], "traced_ms"].to_numpy())
    lines = (out / CHECKPOINT_NAME).read_text().splitlines()
    assert sum(json.loads(ln).get("key", "").startswith("__layout__|") for ln in lines[1:]) == len(specs)
    again = profile_ops(specs, "cpu-ort", protocol=Protocol.quick(), out_dir=out, progress=False)
    assert (out / CHECKPOINT_NAME).read_text().splitlines() == lines  # nothing measured twice
    assert again.table.df["reorder_out_ms"].tolist() == table.df["reorder_out_ms"].tolist()

    # a record made before the traced time existed is traced again, once; the rest resumes
    lines = (out / CHECKPOINT_NAME).read_text().splitlines()
    old = [json.loads(ln) for ln in lines]
    for rec in old[1:]:
        if rec.get("key", "").startswith("__layout__|"):
            rec.get("record", rec).pop("traced_ms", None)
    (out / CHECKPOINT_NAME).write_text("\n".join(json.dumps(r) for r in old) + "\n")
    redone = profile_ops(specs, "cpu-ort", protocol=Protocol.quick(), out_dir=out, progress=False)
    assert (redone.table.df["traced_ms"] > 0).all() and redone.n_measured == 0

    pred = GraphPredictor(table=table).fit()
    df = pred.kernels(model)
    conv_rows = df[df["source"] == "layout"]
    assert len(conv_rows) == 2 and (conv_rows["predicted_ms"] > 0).all()
    header, arrays = pred.to_state()
    back = GraphPredictor.from_state(header, arrays)
    assert back.predict(model) == pytest.approx(pred.predict(model))

    bare = _table([(s, {"latency_ms": float(v)}) for s, v in zip(specs, table.lookup_many(specs))])
    plain = GraphPredictor(table=bare).fit().kernels(model)
    assert set(plain[plain["op_type"].isin(LAYOUT_OPS)]["source"]) == {"zero-cost"}
