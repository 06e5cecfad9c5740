"""The TFLite emitter: every op kind computes in LiteRT what it computes in ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
pytest.importorskip("onnxruntime")

import flatbuffers  # noqa: E402
from ai_edge_litert import schema_py_generated as schema  # noqa: E402

from hwlat.errors import InputError, UnsupportedOpError  # noqa: E402
from hwlat.ops import (  # noqa: E402
    KINDS,
    Graph,
    GraphBuilder,
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
    to_tflite,
)
from hwlat.ops.ir import Node  # noqa: E402
from hwlat.ops.onnx_emit import graph_to_onnx  # noqa: E402
from hwlat.ops.spec import TENSOR_KINDS, OpSpec  # noqa: E402
from hwlat.ops.tflite_emit import graph_to_tflite  # noqa: E402
from hwlat.profiler.runtimes.litert import LiteRTRuntime  # noqa: E402

RTOL = 1e-4
ATOL = 1e-4

CASES = [
    # conv: k 1/3/5/7, stride 1/2, odd and even sizes (SAME vs explicit PAD), groups, dilation
    conv((8, 16, 16), 16, 3),
    conv((8, 17, 17), 8, 3, 2, act="relu6"),
    conv((8, 16, 16), 8, 3, 2, act="relu"),
    conv((3, 15, 15), 8, 1),
    pwconv((4, 16, 16), 8, act="relu"),
    conv((4, 16, 16), 8, 1, 2),
    conv((8, 13, 13), 8, 5, 2, act="hswish"),
    conv((8, 14, 14), 8, 5, 1, act="sigmoid"),
    conv((4, 14, 14), 8, 7, 2),
    conv((4, 15, 15), 8, 7, 1, act="hsigmoid"),
    conv((8, 16, 16), 16, 3, groups=2),
    conv((8, 15, 15), 16, 3, 2, groups=4, act="relu"),
    conv((8, 12, 12), 16, 3, groups=8),  # depth multiplier 2
    conv((8, 16, 16), 8, 3, dil=2),
    conv((8, 17, 17), 8, 3, groups=8, dil=2),
    conv((8, 12, 12), 8, 3, bn=0),
    conv((8, 12, 12), 8, 3, pre_act="relu"),
    dwconv((16, 16, 16), 3, 2),
    dwconv((16, 15, 15), 5, 1, act="relu6"),
    dwconv((8, 14, 14), 7, 2),
    dwconv((8, 13, 13), 3, 2, act="relu"),
    # mbconv: expansion, SE, residual, k 3/5/7
    mbconv((16, 14, 14), 24, 5, 2, expand=4, se=1, act="hswish"),
    mbconv((16, 14, 14), 16, 3, 1, expand=6),
    mbconv((16, 15, 15), 16, 3, 1, expand=1, se=1, act="relu"),
    mbconv((24, 16, 16), 40, 7, 2, expand=3, se=1, act="hswish"),
    mbconv((16, 9, 9), 16, 5, 1, expand=3, se=1, act="relu6"),
    # pool: avg/max, padded and not, odd and even sizes
    pool((8, 16, 16), 3),
    pool((8, 16, 16), 3, 2),
    pool((8, 17, 17), 3, 2),
    pool((8, 16, 16), 3, 2, mode="max"),
    pool((8, 17, 17), 3, 2, mode="max"),
    pool((8, 16, 16), 2, 2),
    pool((8, 16, 16), 2, 2, mode="max"),
    pool((8, 15, 15), 5, 1),
    pool((8, 14, 14), 5, 2),
    pool((8, 16, 16), 3, 1, pad=0),
    pool((8, 15, 15), 3, 2, pad=0, mode="max"),
    pool((8, 14, 14), 3, 1, pad=1, mode="max"),
    # gap, fc
    gap((16, 7, 7)),
    gap((8, 16, 16)),
    fc((32,), 10),
    fc((32, 7, 7), 10),
    fc((32,), 10, bias=0),
    fc((64, 1, 1), 10),
    # add, concat
    add((8, 5, 5)),
    add((8, 16, 16), 3),
    concat((8, 5, 5)),
    concat((8, 8, 8), 3),
    # standalone activations
    act((8, 6, 6), "relu"),
    act((8, 6, 6), "relu6"),
    act((8, 6, 6), "hswish"),
    act((8, 6, 6), "hsigmoid"),
    act((8, 6, 6), "sigmoid"),
    # bn
    bn((8, 6, 6)),
    bn((8, 6, 6), "relu"),
    bn((8, 7, 7), "hswish"),
    # resblock: reduction (avg-pool shortcut), identity shortcut, conv shortcut
    resblock((8, 16, 16), 16),
    resblock((16, 8, 8), 16, s=1),
    resblock((8, 8, 8), 16, s=1),
    resblock((8, 9, 9), 8, k=1, s=1),
    identity((8, 5, 5)),
    act((8, 6, 6), "swish"),
    act((200,), "gelu"),
    act((8, 5, 5), "tanh"),
    OpSpec.make("conv", (3, 32, 32), cout=16, k=4, s=4, pad=0),
]


def _reference(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(graph_to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, dict(zip(graph.inputs, inputs)))


def _assert_matches_ort(graph: Graph, provider: str = "xnnpack") -> None:
    with LiteRTRuntime(provider=provider, threads=1).prepare(graph, seed=7) as prepared:
        got = prepared.outputs()
        want = _reference(graph, prepared.inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def _model(data: bytes):
    return schema.ModelT.InitFromPackedBuf(data, 0)


def _op_names(data: bytes) -> list[str]:
    m = _model(data)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return [names[m.operatorCodes[o.opcodeIndex].builtinCode] for o in m.subgraphs[0].operators]


def test_cases_cover_every_kind() -> None:
    # the tensor kinds have no NHWC counterpart in the emitter yet (see the module doc)
    assert {s.kind for s in CASES} == set(KINDS) - set(TENSOR_KINDS)


@pytest.mark.parametrize("kind", TENSOR_KINDS)
def test_tensor_kinds_are_refused_clearly(kind: str) -> None:
    from hwlat.predictors.sampling import sample_kernels

    spec = sample_kernels(kind, 1, seed=0)[0]
    with pytest.raises(UnsupportedOpError, match="onnxruntime or torch device"):
        to_tflite(spec)


@pytest.mark.parametrize("provider", ["xnnpack", "none"])
@pytest.mark.parametrize("spec", CASES, ids=lambda s: s.key)
def test_litert_matches_onnxruntime(spec, provider: str) -> None:
    _assert_matches_ort(build_graph(spec, seed=3), provider)


@pytest.mark.parametrize(
    "chain",
    [
        [conv((3, 32, 32), 16, 3, 2, act="relu"), mbconv((16, 16, 16), 24, 3, 2, expand=4, se=1, act="hswish"),
         pool((24, 8, 8), 3, 2), gap((24, 4, 4)), fc((24, 1, 1), 10)],
        [resblock((8, 16, 16), 16), act((16, 8, 8), "relu"), bn((16, 8, 8), "relu6"), identity((16, 8, 8))],
        [add((8, 8, 8), 2), dwconv((8, 8, 8), 3, act="relu"), pwconv((8, 8, 8), 16, act="relu6")],
    ],
    ids=["stem-mbconv-head", "resblock-act-bn", "add-dw-pw"],
)
def test_chain_matches_onnxruntime(chain) -> None:
    _assert_matches_ort(build_graph(chain, seed=5))


def test_shared_conv_output_is_not_fused() -> None:
    """A conv output read by a ReLU and by another op keeps its own tensor (no fused activation)."""
    b = GraphBuilder(seed=1)
    x = b.input((8, 10, 10))
    c = b.conv(x, 8, 3)
    r = b.activation(c, "relu")
    g = b.finish([b.add([c, r])])
    data = graph_to_tflite(g)
    assert _op_names(data) == ["CONV_2D", "RELU", "ADD"]
    _assert_matches_ort(g)


def test_model_structure() -> None:
    data = to_tflite(conv((8, 16, 16), 16, 3, 2, act="relu"), seed=0)
    assert data[4:8] == b"TFL3"
    m = _model(data)
    assert m.version == 3
    assert m.buffers[0].data is None  # buffer 0 is the empty buffer
    sg = m.subgraphs[0]
    assert _op_names(data) == ["PAD", "CONV_2D"]  # even size, stride 2: explicit pad, as converters do
    conv_op = sg.operators[1]
    assert conv_op.builtinOptions.padding == schema.Padding.VALID
    assert conv_op.builtinOptions.fusedActivationFunction == schema.ActivationFunctionType.RELU
    names = [t.name.decode() if isinstance(t.name, bytes) else t.name for t in sg.tensors]
    assert "input1" in names and any(n.endswith("/filter") for n in names) and any(n.endswith("/bias") for n in names)
    shapes = {n: list(t.shape) for n, t in zip(names, sg.tensors)}
    assert shapes["input1"] == [1, 16, 16, 8]
    filt = next(n for n in names if n.endswith("/filter"))
    assert shapes[filt] == [16, 3, 3, 8]  # OHWI
    out = sg.tensors[sg.outputs[0]]
    assert list(out.shape) == [1, 8, 8, 16]


def test_constant_buffers_are_16_byte_aligned() -> None:
    data = to_tflite(mbconv((16, 14, 14), 24, 5, 2, expand=4, se=1, act="hswish"))
    m = schema.Model.GetRootAs(data, 0)
    n_data = 0
    for i in range(m.BuffersLength()):
        buf = m.Buffers(i)
        if buf.DataLength():
            o = flatbuffers.number_types.UOffsetTFlags.py_type(buf._tab.Offset(4))
            assert buf._tab.Vector(o) % 16 == 0
            n_data += 1
    assert n_data >= 8


@pytest.mark.parametrize(
    ("spec", "ops"),
    [
        (conv((8, 17, 17), 8, 3, 2, act="relu6"), ["CONV_2D"]),  # pads equal SAME
        (conv((8, 16, 16), 8, 1, 2), ["CONV_2D"]),  # VALID
        (conv((8, 16, 16), 8, 3, act="hswish"), ["CONV_2D", "HARD_SWISH"]),
        (dwconv((8, 16, 16), 3), ["DEPTHWISE_CONV_2D"]),
        (conv((8, 16, 16), 16, 3, groups=2), ["CONV_2D"]),
        (pool((8, 16, 16), 3, 2), ["PAD", "AVERAGE_POOL_2D", "MUL"]),
        (pool((8, 16, 16), 3, 2, mode="max"), ["PADV2", "MAX_POOL_2D"]),
        (pool((8, 17, 17), 3, 2), ["AVERAGE_POOL_2D"]),
        (act((8, 4, 4), "hsigmoid"), ["ADD", "MUL"]),
        (act((8, 4, 4), "sigmoid"), ["LOGISTIC"]),
        (gap((8, 4, 4)), ["MEAN"]),
        (fc((8, 4, 4), 4), ["MEAN", "RESHAPE", "FULLY_CONNECTED"]),
        (concat((8, 4, 4), 3), ["CONCATENATION"]),
        (bn((8, 4, 4)), ["MUL", "ADD"]),
        (identity((8, 4, 4)), ["RESHAPE"]),
    ],
    ids=lambda v: v.key if hasattr(v, "key") else "",
)
def test_op_mapping(spec, ops: list[str]) -> None:
    assert _op_names(to_tflite(spec)) == ops


def test_grouped_and_depthwise_weights() -> None:
    m = _model(to_tflite(conv((8, 16, 16), 16, 3, groups=2)))
    (code,) = m.operatorCodes
    assert code.version == 6  # grouped CONV_2D
    filt = m.subgraphs[0].tensors[m.subgraphs[0].operators[0].inputs[1]]
    assert list(filt.shape) == [16, 3, 3, 4]
    m = _model(to_tflite(conv((8, 12, 12), 16, 3, groups=8)))
    op = m.subgraphs[0].operators[0]
    assert op.builtinOptions.depthMultiplier == 2
    assert list(m.subgraphs[0].tensors[op.inputs[1]].shape) == [1, 3, 3, 16]


def test_same_seed_same_bytes() -> None:
    spec = mbconv((16, 8, 8), 16, 3, expand=3, se=1)
    assert to_tflite(spec, seed=1) == to_tflite(spec, seed=1)
    assert to_tflite(spec, seed=1) != to_tflite(spec, seed=2)


def test_unknown_primitive_is_rejected() -> None:
    g = Graph(["x"], [Node("softmax", ["x"], "y")], ["y"], {"x": (4, 2, 2), "y": (4, 2, 2)})
    with pytest.raises(UnsupportedOpError, match="softmax"):
        graph_to_tflite(g)


def test_truncated_model_file_is_an_input_error(tmp_path) -> None:
    data = to_tflite(conv((3, 8, 8), 4, 3))
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="cut.tflite"):
        LiteRTRuntime().prepare_file(path)
