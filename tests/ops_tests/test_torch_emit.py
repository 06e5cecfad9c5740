from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest

from hwlat.errors import UnsupportedOpError
from hwlat.ops import (
    KINDS,
    GraphBuilder,
    OpSpec,
    act,
    add,
    bn,
    build_graph,
    concat,
    conv,
    dwconv,
    fc,
    gap,
    identity,
    mbconv,
    pool,
    pwconv,
    resblock,
)
from hwlat.ops.onnx_emit import graph_to_onnx

torch = pytest.importorskip("torch")

from hwlat.ops.torch_emit import graph_to_torch, to_torch  # noqa: E402

ort = pytest.importorskip("onnxruntime")

SPECS = [
    # conv: stride 1/2, odd and even sizes, k 1/3/5/7, depthwise, grouped, dilation, pre-act, no bias
    conv((3, 32, 32), 16, 3),
    conv((8, 17, 17), 8, 3, 2, act="relu6"),
    conv((8, 16, 16), 12, 5, 2, act="hswish"),
    conv((4, 15, 15), 8, 7, 1, act="sigmoid"),
    conv((4, 14, 14), 8, 7, 2, act="relu"),
    pwconv((16, 9, 9), 24, act="hsigmoid"),
    conv((16, 8, 8), 16, 1, 2),
    dwconv((16, 13, 13), 3, 2, act="relu"),
    dwconv((24, 10, 10), 5),
    conv((16, 12, 12), 32, 3, groups=4),
    conv((8, 16, 16), 8, 3, dil=2),
    conv((8, 11, 11), 8, 3, pre_act="relu"),
    conv((8, 10, 10), 8, 3, bn=0),
    # mbconv: expand / no expand, SE, residual, stride 2
    mbconv((16, 14, 14), 24, 5, 2, expand=4, se=1, act="hswish"),
    mbconv((16, 14, 14), 16, 3, 1, expand=6),
    mbconv((16, 13, 13), 16, 7, 1, expand=1, act="relu"),
    mbconv((24, 8, 8), 24, 3, 1, expand=3, se=1, act="relu"),
    # pools: avg/max, with and without pad, stride 1/2, odd sizes
    pool((8, 16, 16), 3),
    pool((8, 17, 17), 3, 2, mode="max"),
    pool((8, 15, 15), 2, 2, pad=0),
    pool((8, 16, 16), 5, 1, mode="max"),
    pool((8, 9, 9), 3, 2, pad=1),
    gap((16, 7, 7)),
    gap((32, 8, 6)),
    fc((32,), 10),
    fc((32, 7, 7), 10),
    fc((64, 1, 1), 100, bias=0),
    add((8, 16, 16)),
    add((8, 9, 9), n=3),
    concat((8, 16, 16)),
    concat((4, 7, 7), n=3),
    *[act((8, 11, 11), fn) for fn in ("relu", "relu6", "hswish", "hsigmoid", "sigmoid")],
    bn((8, 12, 12)),
    bn((8, 12, 12), act="relu"),
    resblock((16, 16, 16), 32, 3, 2),
    resblock((16, 15, 15), 32, 3, 1),
    resblock((16, 8, 8), 16, 3, 1),
    identity((8, 16, 16)),
    # tensor kinds, and the activations transformers and EfficientNets use
    OpSpec.make("matmul", (1, 13, 24), n=40, bias=1),
    OpSpec.make("matmul", (3, 9, 16), n=9, w=0),
    OpSpec.make("softmax", (12, 17)),
    OpSpec.make("layernorm", (9, 32)),
    OpSpec.make("layernorm", (9, 32), skip=1),
    OpSpec.make("eltwise", (16, 25), op="mul", rhs="16x1"),
    OpSpec.make("eltwise", (9, 32), op="div", rhs="1x32", const=1),
    OpSpec.make("eltwise", (300,), op="sub", rhs="1", const=1),
    OpSpec.make("transpose", (3, 5, 4, 6), perm="0_2_1_3"),
    OpSpec.make("split", (1, 16, 25), n=2),
    OpSpec.make("slice", (1, 10, 8), start=2, len=5),
    OpSpec.make("cat", (1, 8, 25), sizes="8_16_4"),
    act((8, 6, 6), "swish"),
    act((200,), "gelu"),
    act((64,), "tanh"),
    OpSpec.make("conv", (3, 32, 32), cout=16, k=4, s=4, pad=0),
]


def ort_outputs(graph, inputs):
    sess = ort.InferenceSession(graph_to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, dict(zip(graph.inputs, inputs)))


def torch_outputs(module, inputs):
    with torch.inference_mode():
        out = module(*[torch.from_numpy(x) for x in inputs])
    outs = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in outs]


def assert_same_as_ort(graph, seed=1):
    inputs = graph.random_inputs(seed)
    got = torch_outputs(graph_to_torch(graph), inputs)
    want = ort_outputs(graph, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_specs_cover_every_kind():
    assert {s.kind for s in SPECS} == set(KINDS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_matches_onnxruntime(spec: OpSpec):
    assert_same_as_ort(build_graph(spec, seed=7))


def test_module_is_eval_float32_and_shapes_match_spec():
    spec = mbconv((16, 14, 14), 24, 5, 2, expand=4, se=1, act="hswish")
    m = to_torch(spec, seed=3)
    assert isinstance(m, torch.nn.Module)
    assert not m.training and all(not sub.training for sub in m.modules())
    assert all(p.dtype == torch.float32 for p in m.parameters())
    assert m.input_shapes == [(1, 16, 14, 14)]
    y = m(*m.example_inputs(0))
    assert tuple(y.shape) == (1, *spec.output_shape)
    # real torch layers, with the graph's weights
    convs = [layer for layer in m.layers if isinstance(layer, torch.nn.Conv2d)]
    assert len(convs) == 5 and convs[1].groups == convs[1].in_channels == 64
    assert any(isinstance(layer, torch.nn.Hardswish) for layer in m.layers)


def test_weights_are_copied_from_the_graph_and_seeded():
    spec = conv((8, 16, 16), 16, 3)
    g = build_graph(spec, seed=5)
    m = graph_to_torch(g)
    np.testing.assert_array_equal(m.layers[0].weight.detach().numpy(), g.nodes[0].weights["W"])
    g.nodes[0].weights["W"][...] = 0  # the module owns a copy
    assert m.layers[0].weight.abs().sum() > 0
    a, b, c = to_torch(spec, seed=5), to_torch(spec, seed=5), to_torch(spec, seed=6)
    assert torch.equal(a.layers[0].weight, b.layers[0].weight)
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)


def test_batch_larger_than_one():
    m = to_torch(resblock((16, 16, 16), 32, 3, 2))
    x = torch.randn(3, 16, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        y = m(x)
        y0 = m(x[1:2])
    assert tuple(y.shape) == (3, 32, 8, 8)
    torch.testing.assert_close(y[1:2], y0, rtol=1e-5, atol=1e-5)


def test_chain_matches_onnxruntime():
    chain = [
        conv((3, 32, 32), 16, 3, 2, act="hswish"),
        mbconv((16, 16, 16), 16, 3, 1, expand=1, se=1, act="relu"),
        mbconv((16, 16, 16), 24, 5, 2, expand=4, act="hswish"),
        pool((24, 8, 8), 3, 1, mode="max"),
        bn((24, 8, 8), act="relu6"),
        fc((24, 8, 8), 10),
    ]
    g = build_graph(chain, seed=2)
    assert_same_as_ort(g)
    assert tuple(to_torch(chain, seed=2)(*graph_to_torch(g).example_inputs()).shape) == (1, 10)


def _two_branch_graph():
    """A NAS-Bench-201-like DAG: x feeds two branches and a skip, summed; plus a second output."""
    b = GraphBuilder(seed=4, name="cell")
    x = b.input((16, 12, 12))
    b1 = b.apply(conv((16, 12, 12), 16, 3, pre_act="relu"), x)
    b2 = b.apply(pool((16, 12, 12), 3), x)
    s = b.apply(add((16, 12, 12), n=3), b1, b2, x)
    t = b.apply(conv((16, 12, 12), 16, 1, pre_act="relu"), s)
    y = b.apply(add((16, 12, 12)), t, b1)  # b1 is read again, late
    z = b.apply(gap((16, 12, 12)), s)
    return b.finish([y, z])


def test_dag_with_two_branches_matches_onnxruntime():
    g = _two_branch_graph()
    assert_same_as_ort(g)
    m = graph_to_torch(g)
    out = m(*m.example_inputs())
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == [(1, 16, 12, 12), (1, 16, 1, 1)]
    assert m.inputs == g.inputs and m.outputs == g.outputs and len(m.wiring) == len(g.nodes)


def test_dag_with_two_inputs_and_concat():
    b = GraphBuilder(seed=1)
    x1, x2 = b.input((8, 9, 9)), b.input((8, 9, 9))
    c = b.apply(concat((8, 9, 9)), b.apply(dwconv((8, 9, 9), 3), x1), x2)
    y = b.apply(conv((16, 9, 9), 8, 3, 2), c)
    assert_same_as_ort(b.finish([y]))


def test_asymmetric_conv_pads_use_zero_pad():
    b = GraphBuilder(seed=0)
    x = b.input((4, 10, 10))
    y = b.conv(x, 8, 3, 2, pads=(0, 1, 1, 0))  # TF "SAME" style: pad bottom/left only
    g = b.finish([y])
    m = graph_to_torch(g)
    assert isinstance(m.layers[0], torch.nn.Sequential)
    assert isinstance(m.layers[0][0], torch.nn.ZeroPad2d) and m.layers[0][1].padding == (0, 0)
    assert_same_as_ort(g)


def test_asymmetric_pool_pads_are_refused():
    b = GraphBuilder(seed=0)
    x = b.input((4, 10, 10))
    b._node("maxpool", [x], (4, 5, 5), {"k": 2, "stride": 2, "pads": (0, 0, 1, 1)})
    with pytest.raises(UnsupportedOpError, match="symmetric"):
        graph_to_torch(b.finish([b._nodes[-1].output]))


def test_unknown_primitive_is_refused():
    b = GraphBuilder(seed=0)
    x = b.input((4, 10, 10))
    y = b._node("einsum", [x], (4, 10, 10))
    with pytest.raises(UnsupportedOpError, match="einsum"):
        graph_to_torch(b.finish([y]))


def test_trace_and_onnx_export_reproduce_the_module():
    g = _two_branch_graph()
    m = graph_to_torch(g)
    x = m.example_inputs(3)
    with torch.no_grad():
        want = m(*x)
        traced = torch.jit.trace(m, x)
        got = traced(*x)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated but needs no onnxscript
        torch.onnx.export(m, x, buf, dynamo=False, input_names=["x"], output_names=["y", "z"], opset_version=17)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {"x": x[0].numpy()})
    for a, b in zip(outs, want):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-4, atol=1e-4)


def test_torch_save_round_trip():
    m = to_torch(mbconv((8, 8, 8), 8, 3, 1, expand=3, se=1))
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    m2 = torch.load(buf, weights_only=False)
    x = m.example_inputs()
    with torch.inference_mode():
        torch.testing.assert_close(m2(*x), m(*x))


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_import_hwlat_ops_does_not_import_torch():
    r = _run(
        "import sys, hwlat, hwlat.ops, hwlat.ops.torch_emit\n"
        "from hwlat.ops import to_torch\n"
        "print('torch' in sys.modules)\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_missing_torch_names_the_extra():
    r = _run(
        "import sys\n"
        "sys.modules['torch'] = None  # as if torch were not installed\n"
        "from hwlat.ops import to_torch, conv\n"
        "from hwlat.errors import MissingDependencyError\n"
        "try:\n"
        "    to_torch(conv((3, 8, 8), 4, 3))\n"
        "except MissingDependencyError as e:\n"
        "    print(e)\n"
    )
    assert r.returncode == 0, r.stderr
    assert "pip install 'hwlat[torch]'" in r.stdout and "torch emitter" in r.stdout
