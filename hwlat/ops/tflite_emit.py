"""Emit a primitive :class:`~hwlat.ops.ir.Graph` (or op specs) as a TFLite flatbuffer.

The flatbuffer is written directly with the schema module bundled in ``ai-edge-litert``
(``ai_edge_litert.schema_py_generated``); TensorFlow is not needed.

The model is float32, batch 1 and channels-last: a graph tensor of shape ``(C, H, W)`` becomes
a TFLite tensor ``[1, H, W, C]`` and ``(C,)`` becomes ``[1, C]``. The mapping follows what the
TFLite converter produces for a PyTorch model:

* ``conv`` -> ``CONV_2D`` (weights OHWI), or ``DEPTHWISE_CONV_2D`` (weights ``[1, k, k, Cout]``)
  when ``groups == C_in``; grouped convolutions are ``CONV_2D`` with ``[Cout, k, k, C_in/g]``
  weights (op version 6). A bias is always present (zeros when the graph has none). A following
  ``relu``/``relu6`` whose input has no other consumer is fused into the op
  (``fused_activation_function``), as it is into ``fc`` and ``add``.
* Padding: explicit symmetric pads become ``SAME`` when they equal TFLite's SAME padding for that
  size and stride, ``VALID`` when they are zero, and an explicit ``PAD`` op + ``VALID``
  otherwise. Max pooling pads with the lowest float (``PADV2``); average pooling excludes the
  padding, so an explicitly padded average pool is ``PAD`` + ``AVERAGE_POOL_2D`` (VALID) times a
  constant ``k*k / count`` map -- exactly ``count_include_pad=False``.
* ``hsigmoid`` has no builtin: it is ``ADD(x, 3)`` with a fused ``RELU6``, then ``MUL(1/6)``;
  ``swish`` is ``LOGISTIC`` then ``MUL``; ``gelu`` is ``GELU`` (exact), ``tanh`` is ``TANH``.
* The tensor kinds (``matmul``, ``softmax``, ``layernorm``, ``eltwise``, ``transpose``, ``split``,
  ``slice``, ``cat``) are not expressed yet: their plain tensors have no NHWC counterpart here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hwlat._optional import import_optional
from hwlat.errors import UnsupportedOpError
from hwlat.ops.ir import Graph, Node, build_graph
from hwlat.ops.spec import TENSOR_KINDS, OpSpec

__all__ = ["to_tflite", "graph_to_tflite", "nhwc_shape", "to_nhwc", "to_nchw"]

_FUSABLE_ACTS = ("relu", "relu6")
#: primitives of the tensor kinds, which this emitter does not express yet
TENSOR_PRIMITIVES = frozenset(TENSOR_KINDS)
_FUSING_OPS = ("conv", "fc", "add")
_ALIGN = 16  # bytes; constant buffers are aligned as the TFLite converter aligns them


def to_tflite(specs: OpSpec | Sequence[OpSpec] | Graph, *, seed: int = 0) -> bytes:
    """A TFLite flatbuffer (bytes, NHWC float32) for an op spec, a chain of specs, or a graph."""
    graph = specs if isinstance(specs, Graph) else build_graph(specs, seed=seed)
    return graph_to_tflite(graph)


def nhwc_shape(shape: Sequence[int]) -> list[int]:
    """The TFLite (batch 1, channels-last) shape of a channels-first graph shape without batch."""
    shape = [int(x) for x in shape]
    if len(shape) == 3:
        c, h, w = shape
        return [1, h, w, c]
    return [1, *shape]


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """NCHW -> NHWC (other ranks are returned unchanged), as a contiguous array."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else np.ascontiguousarray(x)


def to_nchw(x: np.ndarray) -> np.ndarray:
    """NHWC -> NCHW (other ranks are returned unchanged), as a contiguous copy."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else np.array(x, copy=True)


def _same_pads(size: int, k: int, s: int, dil: int = 1) -> tuple[int, int]:
    """TFLite's SAME padding (before, after) along one axis."""
    eff = dil * (k - 1) + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _padding_mode(h: int, w: int, k: int, s: int, pads: Sequence[int], dil: int = 1) -> str:
    """'VALID', 'SAME' or 'EXPLICIT' for IR pads (top, left, bottom, right)."""
    top, left, bottom, right = (int(p) for p in pads)
    if top == left == bottom == right == 0:
        return "VALID"
    if (top, bottom) == _same_pads(h, k, s, dil) and (left, right) == _same_pads(w, k, s, dil):
        return "SAME"
    return "EXPLICIT"


class _Writer:
    """Accumulates tensors, buffers, operator codes and operators of one subgraph."""

    def __init__(self, schema: Any) -> None:
        self.s = schema
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [schema.BufferT()]  # buffer 0: the empty buffer
        self.opcodes: list[Any] = []
        self._opcode_index: dict[tuple[int, int], int] = {}
        self.operators: list[Any] = []

    def tensor(self, name: str, shape: Sequence[int], *, dtype: int | None = None,
               data: np.ndarray | None = None) -> int:
        t = self.s.TensorT()
        t.name = name
        t.shape = [int(x) for x in shape]
        t.type = self.s.TensorType.FLOAT32 if dtype is None else dtype
        if data is not None:
            b = _aligned_buffer_class(self.s)()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, name: str, arr: np.ndarray) -> int:
        arr = np.asarray(arr)
        if arr.dtype == np.float32:
            dtype = self.s.TensorType.FLOAT32
        elif arr.dtype == np.int32:
            dtype = self.s.TensorType.INT32
        else:  # pragma: no cover - the emitter only writes these two
            raise AssertionError(arr.dtype)
        return self.tensor(name, arr.shape, dtype=dtype, data=arr)

    def op(self, code: int, inputs: Sequence[int], outputs: Sequence[int], options_type: int = 0,
           options: Any = None, version: int = 1) -> None:
        key = (code, version)
        if key not in self._opcode_index:
            oc = self.s.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)  # PLACEHOLDER_FOR_GREATER_OP_CODES
            oc.version = version
            self.opcodes.append(oc)
            self._opcode_index[key] = len(self.opcodes) - 1
        o = self.s.OperatorT()
        o.opcodeIndex = self._opcode_index[key]
        o.inputs = [int(i) for i in inputs]
        o.outputs = [int(i) for i in outputs]
        o.builtinOptionsType = options_type
        o.builtinOptions = options
        self.operators.append(o)


_ALIGNED_BUFFER: dict[int, type] = {}


def _aligned_buffer_class(schema: Any) -> type:
    """A ``BufferT`` whose data vector starts on a 16-byte boundary of the file."""
    cls = _ALIGNED_BUFFER.get(id(schema))
    if cls is None:
        class _AlignedBufferT(schema.BufferT):
            def Pack(self, builder: Any) -> int:  # noqa: N802 - flatbuffers naming
                raw = self.data.tobytes()
                builder.StartVector(1, len(raw), _ALIGN)
                builder.head = builder.head - len(raw)
                builder.Bytes[builder.head:builder.head + len(raw)] = raw
                data = builder.EndVector()
                schema.BufferStart(builder)
                schema.BufferAddData(builder, data)
                return schema.BufferEnd(builder)

        cls = _AlignedBufferT
        _ALIGNED_BUFFER[id(schema)] = cls
    return cls


def graph_to_tflite(graph: Graph) -> bytes:
    """Serialise ``graph`` as a TFLite flatbuffer (NHWC, float32, batch 1)."""
    s = import_optional("ai_edge_litert.schema_py_generated", "writing TFLite models")
    flatbuffers = import_optional("flatbuffers", "writing TFLite models")
    B = s.BuiltinOperator
    OPT = s.BuiltinOptions
    ACT = {"none": s.ActivationFunctionType.NONE, "relu": s.ActivationFunctionType.RELU,
           "relu6": s.ActivationFunctionType.RELU6}

    w = _Writer(s)
    index: dict[str, int] = {}  # graph tensor -> TFLite tensor

    for name in graph.inputs:
        index[name] = w.tensor(name, nhwc_shape(graph.shapes[name]))

    # which activations get fused into their producer
    consumers: dict[str, int] = {}
    for n in graph.nodes:
        for t in n.inputs:
            consumers[t] = consumers.get(t, 0) + 1
    outputs = set(graph.outputs)
    producer = {n.output: n for n in graph.nodes}
    fused_into: dict[int, Node] = {}  # id(producer node) -> activation node
    fused_acts: set[int] = set()
    for n in graph.nodes:
        if n.op in _FUSABLE_ACTS:
            src = producer.get(n.inputs[0])
            if (src is not None and src.op in _FUSING_OPS and consumers.get(src.output) == 1
                    and src.output not in outputs and id(src) not in fused_into):
                fused_into[id(src)] = n
                fused_acts.add(id(n))

    def scalar(tag: str, value: float) -> int:
        return w.const(tag, np.array([value], np.float32))

    def pad_op(tag: str, x: int, shape: list[int], pads: Sequence[int],
               value: float | None = None) -> tuple[int, list[int]]:
        top, left, bottom, right = (int(p) for p in pads)
        paddings = np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32)
        out_shape = [shape[0], shape[1] + top + bottom, shape[2] + left + right, shape[3]]
        out = w.tensor(f"{tag}/pad", out_shape)
        if value is None:
            w.op(B.PAD, [x, w.const(f"{tag}/paddings", paddings)], [out], OPT.PadOptions, s.PadOptionsT())
        else:
            w.op(B.PADV2, [x, w.const(f"{tag}/paddings", paddings), scalar(f"{tag}/pad_value", value)], [out],
                 OPT.PadV2Options, s.PadV2OptionsT())
        return out, out_shape

    for i, n in enumerate(graph.nodes):
        if id(n) in fused_acts:
            continue
        a = n.attrs
        act_node = fused_into.get(id(n))
        fused = ACT[act_node.op] if act_node is not None else ACT["none"]
        final = act_node.output if act_node is not None else n.output
        tag = f"n{i}_{n.op}" + (f"_{act_node.op}" if act_node is not None else "")
        out_shape = nhwc_shape(graph.shapes[final])
        ins = [index[t] for t in n.inputs]
        in_shape = nhwc_shape(graph.shapes[n.inputs[0]])
        y = w.tensor(tag, out_shape)

        if n.op == "conv":
            k, st, dil, groups = int(a["k"]), int(a["stride"]), int(a["dil"]), int(a["groups"])
            W = n.weights["W"]
            cout, cin_g = W.shape[0], W.shape[1]
            cin = in_shape[3]
            b = n.weights.get("b", np.zeros(cout, np.float32))
            x = ins[0]
            mode = _padding_mode(in_shape[1], in_shape[2], k, st, a["pads"], dil)
            if mode == "EXPLICIT":
                x, _ = pad_op(tag, x, in_shape, a["pads"])
                mode = "VALID"
            padding = s.Padding.SAME if mode == "SAME" else s.Padding.VALID
            bias = w.const(f"{tag}/bias", b.astype(np.float32))
            if groups == cin and groups > 1:
                filt = w.const(f"{tag}/filter", np.ascontiguousarray(W.transpose(1, 2, 3, 0)))  # [1, k, k, cout]
                opt = s.DepthwiseConv2DOptionsT()
                opt.padding, opt.strideH, opt.strideW = padding, st, st
                opt.dilationHFactor = opt.dilationWFactor = dil
                opt.depthMultiplier = cout // cin
                opt.fusedActivationFunction = fused
                w.op(B.DEPTHWISE_CONV_2D, [x, filt, bias], [y], OPT.DepthwiseConv2DOptions, opt,
                     version=2 if dil != 1 else 1)
            else:
                filt = w.const(f"{tag}/filter", np.ascontiguousarray(W.transpose(0, 2, 3, 1)))  # OHWI
                opt = s.Conv2DOptionsT()
                opt.padding, opt.strideH, opt.strideW = padding, st, st
                opt.dilationHFactor = opt.dilationWFactor = dil
                opt.fusedActivationFunction = fused
                w.op(B.CONV_2D, [x, filt, bias], [y], OPT.Conv2DOptions, opt, version=6 if cin_g != cin else 1)
        elif n.op == "relu":
            w.op(B.RELU, ins, [y])
        elif n.op == "relu6":
            w.op(B.RELU6, ins, [y])
        elif n.op == "hswish":
            w.op(B.HARD_SWISH, ins, [y])
        elif n.op == "sigmoid":
            w.op(B.LOGISTIC, ins, [y])
        elif n.op == "swish":  # what the converter writes for x * sigmoid(x)
            sig = w.tensor(f"{tag}/sigmoid", out_shape)
            w.op(B.LOGISTIC, ins, [sig])
            w.op(B.MUL, [ins[0], sig], [y], OPT.MulOptions, s.MulOptionsT())
        elif n.op == "gelu":
            opt = s.GeluOptionsT()
            opt.approximate = False
            w.op(B.GELU, ins, [y], OPT.GeluOptions, opt)
        elif n.op == "tanh":
            w.op(B.TANH, ins, [y])
        elif n.op == "hsigmoid":
            mid = w.tensor(f"{tag}/relu6_x_plus_3", out_shape)
            opt = s.AddOptionsT()
            opt.fusedActivationFunction = ACT["relu6"]
            w.op(B.ADD, [ins[0], scalar(f"{tag}/three", 3.0)], [mid], OPT.AddOptions, opt)
            w.op(B.MUL, [mid, scalar(f"{tag}/one_sixth", 1.0 / 6.0)], [y], OPT.MulOptions, s.MulOptionsT())
        elif n.op in ("avgpool", "maxpool"):
            k, st = int(a["k"]), int(a["stride"])
            x = ins[0]
            mode = _padding_mode(in_shape[1], in_shape[2], k, st, a["pads"])
            correction = None
            if mode == "EXPLICIT":
                if n.op == "maxpool":
                    x, _ = pad_op(tag, x, in_shape, a["pads"], float(np.finfo(np.float32).min))
                else:
                    x, _ = pad_op(tag, x, in_shape, a["pads"])
                    correction = _avg_pool_correction(in_shape[1], in_shape[2], k, st, a["pads"],
                                                      out_shape[1], out_shape[2])
                mode = "VALID"
            opt = s.Pool2DOptionsT()
            opt.padding = s.Padding.SAME if mode == "SAME" else s.Padding.VALID
            opt.strideH = opt.strideW = st
            opt.filterHeight = opt.filterWidth = k
            code = B.AVERAGE_POOL_2D if n.op == "avgpool" else B.MAX_POOL_2D
            if correction is None:
                w.op(code, [x], [y], OPT.Pool2DOptions, opt)
            else:
                pooled = w.tensor(f"{tag}/sum_over_k2", out_shape)
                w.op(code, [x], [pooled], OPT.Pool2DOptions, opt)
                w.op(B.MUL, [pooled, w.const(f"{tag}/exclude_pad_scale", correction)], [y], OPT.MulOptions,
                     s.MulOptionsT())
        elif n.op == "gap":
            opt = s.ReducerOptionsT()
            opt.keepDims = True
            w.op(B.MEAN, [ins[0], w.const(f"{tag}/axes", np.array([1, 2], np.int32))], [y], OPT.ReducerOptions, opt)
        elif n.op in ("flatten", "identity"):
            opt = s.ReshapeOptionsT()
            opt.newShape = list(out_shape)
            w.op(B.RESHAPE, [ins[0], w.const(f"{tag}/shape", np.array(out_shape, np.int32))], [y],
                 OPT.ReshapeOptions, opt)
        elif n.op == "fc":
            Wfc = np.ascontiguousarray(n.weights["W"])  # [cout, cin]
            fin = [ins[0], w.const(f"{tag}/weights", Wfc)]
            fin.append(w.const(f"{tag}/bias", n.weights["b"]) if "b" in n.weights else -1)
            opt = s.FullyConnectedOptionsT()
            opt.fusedActivationFunction = fused
            w.op(B.FULLY_CONNECTED, fin, [y], OPT.FullyConnectedOptions, opt)
        elif n.op == "add":
            opt = s.AddOptionsT()
            opt.fusedActivationFunction = fused
            w.op(B.ADD, ins, [y], OPT.AddOptions, opt)
        elif n.op == "mul":
            w.op(B.MUL, ins, [y], OPT.MulOptions, s.MulOptionsT())
        elif n.op == "concat":
            opt = s.ConcatenationOptionsT()
            opt.axis = 3
            w.op(B.CONCATENATION, ins, [y], OPT.ConcatenationOptions, opt)
        elif n.op == "affine":
            mid = w.tensor(f"{tag}/scaled", out_shape)
            w.op(B.MUL, [ins[0], w.const(f"{tag}/scale", n.weights["scale"].astype(np.float32))], [mid],
                 OPT.MulOptions, s.MulOptionsT())
            w.op(B.ADD, [mid, w.const(f"{tag}/shift", n.weights["shift"].astype(np.float32))], [y],
                 OPT.AddOptions, s.AddOptionsT())
        elif n.op in TENSOR_PRIMITIVES:
            raise UnsupportedOpError(
                f"the TFLite emitter does not express the tensor primitive {n.op!r} yet; profile the tensor kinds "
                f"({', '.join(TENSOR_KINDS)}) on an onnxruntime or torch device")
        else:
            raise UnsupportedOpError(
                f"the TFLite emitter cannot express primitive {n.op!r}; export the model to ONNX instead"
            )
        index[final] = y

    for name in graph.outputs:
        if name not in index or name in graph.inputs:
            raise UnsupportedOpError(f"graph output {name!r} is not produced by any node; add an identity op")

    sg = s.SubGraphT()
    sg.name = graph.name
    sg.tensors = w.tensors
    sg.inputs = [index[t] for t in graph.inputs]
    sg.outputs = [index[t] for t in graph.outputs]
    sg.operators = w.operators

    model = s.ModelT()
    model.version = 3
    model.description = f"hwlat {graph.name}"
    model.operatorCodes = w.opcodes
    model.subgraphs = [sg]
    model.buffers = w.buffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _avg_pool_correction(h: int, w: int, k: int, s: int, pads: Sequence[int], ho: int, wo: int) -> np.ndarray:
    """``k*k / (number of real input pixels in each window)`` as a ``[1, Ho, Wo, 1]`` constant."""
    top, left = int(pads[0]), int(pads[1])

    def counts(size: int, pad: int, n_out: int) -> np.ndarray:
        start = np.arange(n_out) * s - pad
        return np.minimum(start + k, size) - np.maximum(start, 0)

    ch, cw = counts(h, top, ho), counts(w, left, wo)
    scale = (k * k) / np.outer(ch, cw).astype(np.float64)
    if not np.all(np.isfinite(scale)):  # pragma: no cover - OpSpec forbids pads >= kernel
        raise UnsupportedOpError(f"average pool k={k} with pads {tuple(pads)} has a window without input pixels")
    return scale.astype(np.float32).reshape(1, ho, wo, 1)

