"""Emit a primitive :class:`~hwlat.ops.ir.Graph` (or op specs) as an ONNX model with ``onnx.helper``;
export a ``torch.nn.Module`` to an ONNX file (:func:`torch_to_onnx`)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwlat._io import atomic_path
from hwlat._optional import import_optional
from hwlat.errors import InputError, UnsupportedOpError
from hwlat.ops.ir import Graph, build_graph
from hwlat.ops.spec import OpSpec

__all__ = ["to_onnx", "graph_to_onnx", "torch_to_onnx", "OPSET"]

OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime release of the last years


def to_onnx(specs: OpSpec | Sequence[OpSpec] | Graph, *, seed: int = 0):
    """An ``onnx.ModelProto`` for an op spec, a chain of specs, or a primitive graph."""
    graph = specs if isinstance(specs, Graph) else build_graph(specs, seed=seed)
    return graph_to_onnx(graph)


def graph_to_onnx(graph: Graph):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list = []
    inits: list = []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    for i, n in enumerate(graph.nodes):
        tag = f"n{i}_{n.op}"
        a = n.attrs
        if n.op == "conv":
            ins = [n.inputs[0], const(f"{tag}_W", n.weights["W"])]
            if "b" in n.weights:
                ins.append(const(f"{tag}_b", n.weights["b"]))
            k = int(a["k"])
            nodes.append(helper.make_node(
                "Conv", ins, [n.output], name=tag, kernel_shape=[k, k], strides=[a["stride"]] * 2,
                pads=[a["pads"][0], a["pads"][1], a["pads"][2], a["pads"][3]],
                dilations=[a["dil"]] * 2, group=a["groups"]))
        elif n.op == "relu":
            nodes.append(helper.make_node("Relu", n.inputs, [n.output], name=tag))
        elif n.op == "relu6":
            lo = const(f"{tag}_min", np.array(0.0, np.float32))
            hi = const(f"{tag}_max", np.array(6.0, np.float32))
            nodes.append(helper.make_node("Clip", [n.inputs[0], lo, hi], [n.output], name=tag))
        elif n.op == "hswish":
            nodes.append(helper.make_node("HardSwish", n.inputs, [n.output], name=tag))
        elif n.op == "hsigmoid":
            nodes.append(helper.make_node("HardSigmoid", n.inputs, [n.output], name=tag, alpha=1.0 / 6, beta=0.5))
        elif n.op == "sigmoid":
            nodes.append(helper.make_node("Sigmoid", n.inputs, [n.output], name=tag))
        elif n.op in ("avgpool", "maxpool"):
            k = int(a["k"])
            kw: dict[str, Any] = {"count_include_pad": 0} if n.op == "avgpool" else {}
            nodes.append(helper.make_node(
                "AveragePool" if n.op == "avgpool" else "MaxPool", n.inputs, [n.output], name=tag,
                kernel_shape=[k, k], strides=[a["stride"]] * 2, pads=list(a["pads"]), **kw))
        elif n.op == "gap":
            nodes.append(helper.make_node("GlobalAveragePool", n.inputs, [n.output], name=tag))
        elif n.op == "flatten":
            nodes.append(helper.make_node("Flatten", n.inputs, [n.output], name=tag, axis=1))
        elif n.op == "fc":
            ins = [n.inputs[0], const(f"{tag}_W", n.weights["W"])]
            if "b" in n.weights:
                ins.append(const(f"{tag}_b", n.weights["b"]))
            nodes.append(helper.make_node("Gemm", ins, [n.output], name=tag, transB=1))
        elif n.op == "add":
            nodes.append(helper.make_node("Add", n.inputs, [n.output], name=tag))
        elif n.op == "mul":
            nodes.append(helper.make_node("Mul", n.inputs, [n.output], name=tag))
        elif n.op == "concat":
            nodes.append(helper.make_node("Concat", n.inputs, [n.output], name=tag, axis=1))
        elif n.op == "affine":
            c = len(n.weights["scale"])
            eps = 1e-5
            ins = [n.inputs[0], const(f"{tag}_scale", n.weights["scale"]), const(f"{tag}_shift", n.weights["shift"]),
                   const(f"{tag}_mean", np.zeros(c, np.float32)),
                   const(f"{tag}_var", np.full(c, 1.0 - eps, np.float32))]
            nodes.append(helper.make_node("BatchNormalization", ins, [n.output], name=tag, epsilon=eps))
        elif n.op == "identity":
            nodes.append(helper.make_node("Identity", n.inputs, [n.output], name=tag))
        elif n.op in _TENSOR_EMITTERS:
            nodes.extend(_TENSOR_EMITTERS[n.op](helper, n, tag, const))
        else:
            raise UnsupportedOpError(f"the ONNX emitter cannot express primitive {n.op!r}")

    def vi(name: str):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, *graph.shapes[name]])

    g = helper.make_graph(nodes, graph.name, [vi(t) for t in graph.inputs], [vi(t) for t in graph.outputs], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="hwlat")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


# -- tensor primitives: ONNX tensors are (1, *shape), so axes of the IR shift by one -----------------

def _f32(v: float) -> np.ndarray:
    return np.array(v, np.float32)


def _emit_swish(helper: Any, n: Any, tag: str, const: Any) -> list:
    # x * sigmoid(x), the form torch exports SiLU in; ONNX Runtime fuses it into one kernel
    return [helper.make_node("Sigmoid", n.inputs, [f"{tag}_sig"], name=f"{tag}_sigmoid"),
            helper.make_node("Mul", [n.inputs[0], f"{tag}_sig"], [n.output], name=tag)]


def _emit_gelu(helper: Any, n: Any, tag: str, const: Any) -> list:
    # the exact (erf) GELU as torch exports it at opset 17; ONNX Runtime fuses it into one kernel
    x = n.inputs[0]
    return [helper.make_node("Div", [x, const(f"{tag}_sqrt2", _f32(2 ** 0.5))], [f"{tag}_d"], name=f"{tag}_div"),
            helper.make_node("Erf", [f"{tag}_d"], [f"{tag}_e"], name=f"{tag}_erf"),
            helper.make_node("Add", [f"{tag}_e", const(f"{tag}_one", _f32(1.0))], [f"{tag}_a"], name=f"{tag}_add"),
            helper.make_node("Mul", [x, f"{tag}_a"], [f"{tag}_m"], name=f"{tag}_mul"),
            helper.make_node("Mul", [f"{tag}_m", const(f"{tag}_half", _f32(0.5))], [n.output], name=tag)]


def _emit_tanh(helper: Any, n: Any, tag: str, const: Any) -> list:
    return [helper.make_node("Tanh", n.inputs, [n.output], name=tag)]


def _emit_matmul(helper: Any, n: Any, tag: str, const: Any) -> list:
    if "W" not in n.weights:
        return [helper.make_node("MatMul", n.inputs, [n.output], name=tag)]
    w = const(f"{tag}_W", n.weights["W"])
    if "b" not in n.weights:
        return [helper.make_node("MatMul", [n.inputs[0], w], [n.output], name=tag)]
    return [helper.make_node("MatMul", [n.inputs[0], w], [f"{tag}_mm"], name=f"{tag}_matmul"),
            helper.make_node("Add", [f"{tag}_mm", const(f"{tag}_b", n.weights["b"])], [n.output], name=tag)]


def _emit_softmax(helper: Any, n: Any, tag: str, const: Any) -> list:
    return [helper.make_node("Softmax", n.inputs, [n.output], name=tag, axis=-1)]


def _emit_layernorm(helper: Any, n: Any, tag: str, const: Any) -> list:
    out: list = []
    x = n.inputs[0]
    if len(n.inputs) > 1:
        out.append(helper.make_node("Add", n.inputs, [f"{tag}_skip"], name=f"{tag}_add"))
        x = f"{tag}_skip"
    out.append(helper.make_node("LayerNormalization", [x, const(f"{tag}_scale", n.weights["scale"]),
                                                       const(f"{tag}_shift", n.weights["shift"])],
                                [n.output], name=tag, axis=-1, epsilon=1e-5))
    return out


def _emit_eltwise(helper: Any, n: Any, tag: str, const: Any) -> list:
    op = {"add": "Add", "mul": "Mul", "sub": "Sub", "div": "Div"}[n.attrs["op"]]
    ins = list(n.inputs) if "rhs" not in n.weights else [n.inputs[0], const(f"{tag}_rhs", n.weights["rhs"][None])]
    return [helper.make_node(op, ins, [n.output], name=tag)]


def _emit_transpose(helper: Any, n: Any, tag: str, const: Any) -> list:
    return [helper.make_node("Transpose", n.inputs, [n.output], name=tag, perm=[0, *(a + 1 for a in n.attrs["perm"])])]


def _emit_split(helper: Any, n: Any, tag: str, const: Any) -> list:
    return [helper.make_node("Split", n.inputs, [n.output, *n.attrs["extra_outputs"]], name=tag, axis=2,
                             num_outputs=int(n.attrs["n"])) if OPSET >= 18 else
            helper.make_node("Split", n.inputs, [n.output, *n.attrs["extra_outputs"]], name=tag, axis=2)]


def _emit_slice(helper: Any, n: Any, tag: str, const: Any) -> list:
    start, length = int(n.attrs["start"]), int(n.attrs["len"])
    ins = [n.inputs[0], const(f"{tag}_starts", np.array([start], np.int64)),
           const(f"{tag}_ends", np.array([start + length], np.int64)), const(f"{tag}_axes", np.array([2], np.int64))]
    return [helper.make_node("Slice", ins, [n.output], name=tag)]


def _emit_cat(helper: Any, n: Any, tag: str, const: Any) -> list:
    return [helper.make_node("Concat", n.inputs, [n.output], name=tag, axis=2)]


_TENSOR_EMITTERS = {"swish": _emit_swish, "gelu": _emit_gelu, "tanh": _emit_tanh, "matmul": _emit_matmul,
                    "softmax": _emit_softmax, "layernorm": _emit_layernorm, "eltwise": _emit_eltwise,
                    "transpose": _emit_transpose, "split": _emit_split, "slice": _emit_slice, "cat": _emit_cat}


def torch_to_onnx(module: Any, input_shape: Sequence[int], path: str | os.PathLike[str], *,
                  opset: int = 17) -> Path:
    """Export a ``torch.nn.Module`` (in eval mode, batch 1) to an ONNX file, atomically.

    ``input_shape`` is ``(C, H, W)`` (or ``(1, C, H, W)``). The module's training flag is
    restored afterwards. Returns the path.
    """
    torch = import_optional("torch", "exporting a torch module to ONNX")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or shape[0] != 1 or min(shape) < 1:
        raise InputError(f"input_shape must be (C, H, W) or (1, C, H, W) with positive sizes, got {tuple(input_shape)}")
    was_training = bool(getattr(module, "training", False))
    module.eval()
    try:
        with atomic_path(path) as tmp, torch.no_grad():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (torch.zeros(shape),), str(tmp), dynamo=False, opset_version=opset,
                                  input_names=["input"], output_names=["output"])
    finally:
        module.train(was_training)
    return Path(path)
