"""Reading an ONNX graph as hwlat ops: each node becomes a :class:`KernelInfo`, mapped to an
:class:`~hwlat.ops.spec.OpSpec` where the vocabulary covers it.

The graph read here is the one a runtime runs (for ONNX Runtime: its optimised graph, see
:mod:`hwlat.predictors.onnx_kernels`); this module knows ONNX and the vocabulary, nothing of devices.
:func:`map_graph` infers static shapes (symbolic batch -> 1), folds an inlined HardSwish
(``x * HardSigmoid(x; 1/6, 1/2)``) back into one kernel, folds activations a runtime fused into
a convolution into that convolution's spec, and notes why each unmapped node is unmapped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from hwlat.errors import InputError
from hwlat.ops.onnx_tensors import (
    TENSOR_MAPPERS,
    act_spec,
    add_contrib_shapes,
    attrs,
    cat_spec,
    chw,
    eltwise_spec,
    fmt_or_unknown,
    matmul_spec,
)
from hwlat.ops.spec import OpSpec

__all__ = ["ZERO_COST_OPS", "FUSABLE_OPS", "UNNAMED_PREFIX", "KernelInfo", "map_graph", "name_unnamed_nodes"]

log = logging.getLogger(__name__)

#: ops whose ONNX Runtime kernels alias their input buffer (output shares the input's memory)
ZERO_COST_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})
#: elementwise ops the NCHWc level may fuse into a convolution
FUSABLE_OPS = frozenset({"Add", "Sum", "Relu", "Clip", "HardSigmoid", "Sigmoid", "HardSwish"})
_COMPUTE = frozenset({"Conv", "FusedConv", "ConvTranspose", "Gemm", "FusedGemm", "MatMul", "FusedMatMul",
                      "Einsum", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul"})
#: contrib ops whose output has their first input's shape (QuickGelu(alpha=1) is x*sigmoid(x))
_SHAPE_PRESERVING = frozenset({"QuickGelu", "Gelu", "FastGelu", "BiasGelu", "BiasSoftmax"})
_HS_ALPHA, _HS_BETA = 1.0 / 6.0, 0.5
#: the name prefix :func:`name_unnamed_nodes` gives nodes without a name
UNNAMED_PREFIX = "hwlat_node_"


@dataclass
class KernelInfo:
    """One kernel of the optimised graph and what hwlat makes of it.

    ``spec`` is the mapped op (None when the vocabulary cannot express it); ``zero_reason`` is
    set for kernels that cost nothing (aliasing ops, nodes fused into a convolution);
    ``flops``/``elements`` (inputs + outputs) feed the fallback estimate; ``note`` says why a
    kernel is unmapped or how it was read.
    """

    node: str
    op_type: str
    shapes: str
    spec: OpSpec | None = None
    zero_reason: str = ""
    note: str = ""
    flops: float | None = None
    elements: float | None = None
    compute: bool = False


def name_unnamed_nodes(m: Any) -> None:
    """Name every unnamed node of ``m`` in place (inlined function bodies come unnamed)."""
    for i, n in enumerate(m.graph.node):
        if not n.name:
            n.name = f"{UNNAMED_PREFIX}{i}"


# -- shapes ----------------------------------------------------------------------------------------

def _infer_shapes(m: Any, label: str) -> dict[str, tuple[int, ...] | None]:
    """Static shapes of every tensor of the optimised graph (symbolic batch -> 1)."""
    g = onnx.ModelProto()
    g.CopyFrom(m)
    for vi in list(g.graph.input):
        dims = vi.type.tensor_type.shape.dim
        for j, d in enumerate(dims):
            if not d.HasField("dim_value"):
                if j == 0:
                    d.dim_value = 1
                else:
                    raise InputError(
                        f"{label}: input {vi.name!r} has a symbolic dimension {d.dim_param or '?'} at axis {j}; "
                        "export the model with a fixed input size")
        if dims and dims[0].dim_value not in (0, 1) and len(dims) >= 2:
            raise InputError(f"{label}: input {vi.name!r} has batch {dims[0].dim_value}; hwlat predicts batch-1 "
                             "latency: export the model with batch 1")
    del g.graph.value_info[:]
    for n in g.graph.node:  # contrib ops -> their standard counterparts, for shape inference only
        if n.domain == "com.microsoft" and n.op_type == "SkipLayerNormalization":
            # output 0 and the optional sum output 3 have the input's shape
            extra = [o for j, o in enumerate(n.output) if j == 3 and o]
            n.op_type, n.domain = "Identity", ""
            del n.input[1:]
            del n.output[1:]
            del n.attribute[:]
            for o in extra:
                g.graph.node.append(onnx.helper.make_node("Identity", [n.input[0]], [o]))
        elif n.domain == "com.microsoft" and n.op_type in _SHAPE_PRESERVING:
            n.op_type, n.domain = "Identity", ""
            del n.input[1:]
            del n.attribute[:]
        elif n.domain == "com.microsoft" and n.op_type in ("FusedConv", "FusedGemm"):
            n.op_type = n.op_type[len("Fused"):]
            n.domain = ""
            keep = [a for a in n.attribute if not a.name.startswith("activation")]
            del n.attribute[:]
            n.attribute.extend(keep)
            if n.op_type == "Conv" and len(n.input) > 3:
                del n.input[3:]
    for _ in range(64):  # ONNX infers no contrib op: give it FusedMatMul's outputs, then infer again
        try:
            g = onnx.shape_inference.infer_shapes(g, data_prop=True)
        except Exception as exc:  # noqa: BLE001 - shape inference raises several types
            log.debug("shape inference of %s failed: %s", label, exc)
            break
        if not add_contrib_shapes(g):
            break
    shapes: dict[str, tuple[int, ...] | None] = {}
    for vi in [*g.graph.input, *g.graph.value_info, *g.graph.output]:
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = tt.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = tuple(int(d.dim_value) for d in dims)
    for init in g.graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    return shapes


# -- mapping ---------------------------------------------------------------------------------------

def _const_values(m: Any) -> dict[str, np.ndarray]:
    """Values of the small constants (Clip bounds, shapes) that stayed inside the model."""
    vals: dict[str, np.ndarray] = {}
    for init in m.graph.initializer:
        if init.data_location == 1 or init.external_data:  # external: a weight, not needed
            continue
        try:
            vals[init.name] = numpy_helper.to_array(init)
        except Exception:  # noqa: BLE001  # pragma: no cover - exotic tensor types
            log.debug("cannot read constant %s", init.name)
            continue
    for n in m.graph.node:
        if n.op_type == "Constant" and n.output:
            for a in n.attribute:
                if a.name == "value":
                    vals[n.output[0]] = numpy_helper.to_array(a.t)
    return vals


def _act_of(fn: str, params: Sequence[float] | None) -> str | None:
    """hwlat activation name of an ONNX activation (with its parameters), None if none fits."""
    p = [float(x) for x in (params or [])]
    if fn == "Relu":
        return "relu"
    if fn == "Clip":
        return "relu6" if len(p) == 2 and abs(p[0]) < 1e-6 and abs(p[1] - 6) < 1e-6 else None
    if fn == "HardSigmoid":
        a, b = (p + [0.2, 0.5][len(p):])[:2]
        return "hsigmoid" if abs(a - _HS_ALPHA) < 1e-4 and abs(b - _HS_BETA) < 1e-4 else None
    if fn == "HardSwish":
        return "hswish"
    if fn == "Sigmoid":
        return "sigmoid"
    return None


def _resolve_pads(a: dict[str, Any], in_hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
                  d: tuple[int, int]) -> list[int] | None:
    ap = a.get("auto_pad", "NOTSET")
    if ap in ("NOTSET", ""):
        return list(a.get("pads", [0, 0, 0, 0]))
    if ap == "VALID":
        return [0, 0, 0, 0]
    if ap in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, kk, ss, dd in zip(in_hw, k, s, d):
            out = -(-size // ss)
            total = max(0, (out - 1) * ss + dd * (kk - 1) + 1 - size)
            lo = total // 2 if ap == "SAME_UPPER" else total - total // 2
            begins.append(lo)
            ends.append(total - lo)
        return begins + ends
    return None


def _conv_spec(node: Any, a: dict[str, Any], shapes: dict, act: str) -> tuple[OpSpec | None, str]:
    x = chw(shapes.get(node.input[0]))
    w = shapes.get(node.input[1])
    y = chw(shapes.get(node.output[0]))
    if x is None or y is None or w is None or len(w) != 4:
        return None, "not a batch-1 2-D convolution with known shapes"
    k = list(a.get("kernel_shape", w[2:]))
    s = list(a.get("strides", [1, 1]))
    d = list(a.get("dilations", [1, 1]))
    g = int(a.get("group", 1))
    if len(set(k)) != 1 or len(set(s)) != 1 or len(set(d)) != 1:
        return None, f"non-square kernel/stride/dilation k={k} s={s} dil={d}"
    pads = _resolve_pads(a, x[1:], (k[0], k[1]), (s[0], s[1]), (d[0], d[1]))
    want = d[0] * (k[0] - 1) // 2
    if pads is None or len(set(pads)) != 1:
        return None, f"padding {pads} is not symmetric, as the vocabulary's convolutions are"
    bias = int(len(node.input) > 2 and node.input[2] != "")
    try:
        spec = OpSpec.make("conv", x, cout=int(w[0]), k=k[0], s=s[0], groups=g, dil=d[0], bn=bias, act=act,
                           pad=-1 if pads[0] == want else pads[0])
    except InputError as exc:
        return None, str(exc)
    if spec.output_shape != y:
        return None, f"output {y} differs from the vocabulary's {spec.output_shape}"
    return spec, ""


def _pool_spec(node: Any, a: dict[str, Any], shapes: dict) -> tuple[OpSpec | None, str]:
    x = chw(shapes.get(node.input[0]))
    y = chw(shapes.get(node.output[0]))
    if x is None or y is None:
        return None, "not a batch-1 2-D pooling with known shapes"
    if len(node.output) > 1 and node.output[1]:
        return None, "MaxPool with indices output"
    k = list(a.get("kernel_shape", []))
    s = list(a.get("strides", [1] * len(k)))
    if len(k) != 2 or len(set(k)) != 1 or len(set(s)) != 1 or any(dd != 1 for dd in a.get("dilations", [1, 1])):
        return None, f"non-square or dilated pooling k={k} s={s}"
    pads = _resolve_pads(a, x[1:], (k[0], k[1]), (s[0], s[1]), (1, 1))
    if pads is None or len(set(pads)) != 1:
        return None, f"asymmetric padding {pads}"
    note = ""
    mode = "max" if node.op_type == "MaxPool" else "avg"
    if mode == "avg" and int(a.get("count_include_pad", 0)) and pads[0]:
        note = "count_include_pad=1 timed as the exclude-pad kernel (the same work)"
    try:
        spec = OpSpec.make("pool", x, mode=mode, k=k[0], s=s[0], pad=pads[0])
    except InputError as exc:
        return None, str(exc)
    if spec.output_shape != y:
        return None, f"output {y} differs from the vocabulary's {spec.output_shape} (ceil_mode?)"
    return spec, note


def _numel(shape: tuple[int, ...] | None) -> int | None:
    return None if shape is None else int(math.prod(shape))


def map_graph(m: Any, fused_away: set[str] | None, label: str,
              shapes_out: dict[str, tuple[int, ...] | None] | None = None) -> list[KernelInfo]:
    shapes = _infer_shapes(m, label)
    if shapes_out is not None:  # the caller's copy of every tensor's static shape
        shapes_out.update(shapes)
    consts = _const_values(m)
    for name, v in consts.items():
        shapes.setdefault(name, tuple(int(d) for d in v.shape))
    inits = {i.name for i in m.graph.initializer} | {n.output[0] for n in m.graph.node if n.op_type == "Constant"}
    nodes = [n for n in m.graph.node if n.op_type != "Constant"]
    producer: dict[str, Any] = {o: n for n in nodes for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    graph_outputs = {o.name for o in m.graph.output}

    # the runtime inlines HardSwish as y = x * HardSigmoid(x; 1/6, 1/2): read it back as one kernel
    hswish_of: dict[str, Any] = {}  # Mul node name -> its HardSigmoid node
    absorbed: set[str] = set()
    for n in nodes:
        if n.op_type == "HardSigmoid" and n.domain in ("", "ai.onnx"):
            a = attrs(n)
            if _act_of("HardSigmoid", [a.get("alpha", 0.2), a.get("beta", 0.5)]) != "hsigmoid":
                continue
            users = consumers.get(n.output[0], [])
            if len(users) == 1 and users[0].op_type == "Mul" and n.output[0] not in graph_outputs:
                mul = users[0]
                if set(mul.input) == {n.input[0], n.output[0]}:
                    hswish_of[mul.name] = n
                    absorbed.add(n.name)

    kernels: list[KernelInfo] = []
    by_name: dict[str, KernelInfo] = {}
    conv_act: dict[str, str] = {}  # conv node name -> activation fused into it at level all

    def effective_op(n: Any) -> str:
        return "HardSwish" if n.name in hswish_of else n.op_type

    def conv_source(t: str, seen: int = 0) -> Any | None:
        """The convolution a fused elementwise node's input comes from (through fused Adds)."""
        p = producer.get(t)
        if p is None or seen > 4:
            return None
        if p.op_type in ("Conv", "FusedConv"):
            return p
        if fused_away and p.name in fused_away and p.op_type in ("Add", "Sum"):
            cands = [conv_source(i, seen + 1) for i in p.input]
            cands = [c for c in cands if c is not None]
            return cands[-1] if cands else None
        return None

    # activations fused into a convolution at level all: fold them into its spec
    if fused_away:
        for n in nodes:
            if n.name in absorbed or n.name not in fused_away and not (
                    n.name in hswish_of and hswish_of[n.name].name in fused_away):
                continue
            op = effective_op(n)
            if op in ("Add", "Sum"):
                continue
            a = attrs(n)
            params = None
            if op == "Clip":
                lo, hi = (consts.get(i) if i else None for i in (list(n.input) + ["", ""])[1:3])
                params = [float(lo) if lo is not None else -np.inf, float(hi) if hi is not None else np.inf]
            elif op == "HardSigmoid":
                params = [a.get("alpha", 0.2), a.get("beta", 0.5)]
            act = _act_of(op, params)
            c = conv_source(n.input[0])
            if act is not None and c is not None and c.name not in conv_act:
                conv_act[c.name] = act

    for n in nodes:
        if n.name in absorbed:
            continue
        op = effective_op(n)
        in_names = [hswish_of[n.name].input[0]] if n.name in hswish_of else [i for i in n.input if i]
        ins = [shapes.get(i) for i in in_names]
        outs = [shapes.get(o) for o in n.output if o]
        shape_s = ",".join(fmt_or_unknown(s) for s, i in zip(ins, in_names) if i not in inits)
        shape_s = f"{shape_s or '-'} -> {','.join(fmt_or_unknown(s) for s in outs)}"
        k = KernelInfo(node=n.name if not n.name.startswith(UNNAMED_PREFIX) else f"({op} {n.output[0]})",
                       op_type=op if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}", shapes=shape_s)
        moved = [_numel(s) for i, s in zip(in_names, ins) if i not in inits] + \
                [_numel(s) for s in outs]
        known = [v for v in moved if v is not None]
        k.elements = float(sum(known)) if moved and len(known) == len(moved) else None
        kernels.append(k)
        by_name[n.name] = k
        a = attrs(n)
        fused_name = hswish_of[n.name].name if n.name in hswish_of else n.name
        if fused_away is not None and (n.name in fused_away or fused_name in fused_away):
            c = conv_source(n.input[0]) if op not in ("Add", "Sum") else \
                next((cs for cs in (conv_source(i) for i in reversed(list(n.input))) if cs is not None), None)
            where = f" into {c.name}" if c is not None else ""
            k.zero_reason = f"fused{where} by the runtime's NCHWc level (runs in the convolution's epilogue)"
            continue
        try:
            _map_node(n, op, a, k, shapes, consts, inits, conv_act)
        except InputError as exc:  # a shape the vocabulary rejects
            k.spec, k.note = None, str(exc)
        if k.spec is None and not k.zero_reason:
            k.compute = n.op_type in _COMPUTE
            if k.compute:
                k.flops = _node_flops(n, a, shapes)
    return kernels


def _map_node(n: Any, op: str, a: dict[str, Any], k: KernelInfo, shapes: dict, consts: dict, inits: set[str],
              conv_act: dict[str, str]) -> None:
    x_shape = shapes.get(n.input[0]) if n.input else None
    if op in ZERO_COST_OPS:
        k.zero_reason = "aliases its input buffer in ONNX Runtime (no copy)"
        return
    if op in ("Conv", "FusedConv"):
        act = "none"
        if op == "FusedConv":
            fused = _act_of(str(a.get("activation", "")), a.get("activation_params"))
            if fused is None:
                k.note = (f"fused activation {a.get('activation')}{a.get('activation_params', '')} "
                          "is not in the vocabulary")
                return
            act = fused
            if len(n.input) > 3 and n.input[3]:
                k.note = "residual Add fused into the kernel"
        act = conv_act.get(n.name, act) if act == "none" else act
        k.spec, note = _conv_spec(n, a, shapes, act)
        k.note = "; ".join(x for x in (k.note, note) if x)
        return
    if op in ("MaxPool", "AveragePool"):
        k.spec, k.note = _pool_spec(n, a, shapes)
        return
    if op == "GlobalAveragePool":
        x = chw(x_shape)
        if x is None:
            k.note = "not a batch-1 2-D tensor"
            return
        k.spec = OpSpec.make("gap", x)
        return
    if op == "ReduceMean":
        x = chw(x_shape)
        axes = a.get("axes")
        if axes is None and len(n.input) > 1:
            v = consts.get(n.input[1])
            axes = None if v is None else [int(t) for t in np.ravel(v)]
        if x is not None and axes is not None and sorted(int(t) % 4 for t in axes) == [2, 3]:
            k.spec = OpSpec.make("gap", x)
            k.note = "ReduceMean over H,W read as global average pooling"
            return
        k.note = "ReduceMean other than over H,W"
        return
    if op in ("Gemm", "MatMul"):
        xs, ws = x_shape, shapes.get(n.input[1])
        if (xs is None or ws is None or len(xs) != 2 or xs[0] != 1 or len(ws) != 2 or n.input[1] not in inits
                or int(a.get("transA", 0))):
            k.spec, k.note = matmul_spec(n, a, shapes, inits)
            return
        cout = ws[0] if int(a.get("transB", 0)) else ws[1]
        bias = int(op == "Gemm" and len(n.input) > 2 and bool(n.input[2]))
        k.spec = OpSpec.make("fc", (int(xs[1]),), cout=int(cout), bias=bias)
        return
    if op in ("Add", "Sum"):
        data = [shapes.get(i) for i in n.input]
        x = chw(data[0]) if data else None
        if x is None or any(s != data[0] for s in data) or any(i in inits for i in n.input) or len(data) < 2:
            k.spec, k.note = eltwise_spec(n, "add", shapes, inits)
            return
        k.spec = OpSpec.make("add", x, n=len(data))
        return
    if op == "Concat":
        data = [shapes.get(i) for i in n.input]
        x = chw(data[0]) if data else None
        if x is None or int(a.get("axis", 1)) % 4 != 1 or any(s != data[0] for s in data) or len(data) < 2:
            k.spec, k.note = cat_spec(n, a, shapes)
            return
        k.spec = OpSpec.make("concat", x, n=len(data))
        return
    if op in ("Relu", "Clip", "HardSigmoid", "Sigmoid", "HardSwish"):
        params = None
        if op == "Clip":
            lo, hi = (consts.get(i) if i else None for i in (list(n.input) + ["", ""])[1:3])
            params = [float(lo) if lo is not None else -np.inf, float(hi) if hi is not None else np.inf]
        elif op == "HardSigmoid":
            params = [a.get("alpha", 0.2), a.get("beta", 0.5)]
        fn = _act_of(op, params)
        if fn is None or x_shape is None:
            k.note = f"{op}{params or ''} on {fmt_or_unknown(x_shape)}: not a vocabulary activation"
            return
        k.spec = act_spec(x_shape, fn)
        return
    if op == "BatchNormalization":
        x = chw(x_shape)
        if x is None:
            k.note = "not a batch-1 2-D tensor"
            return
        k.spec = OpSpec.make("bn", x)
        return
    if op in TENSOR_MAPPERS:
        k.spec, k.note = TENSOR_MAPPERS[op](n, a, shapes, consts, inits)
        if k.note == "zero-cost":
            k.note, k.zero_reason = "", "moves data along size-1 axes only (a reshape: no copy)"
        return
    k.note = f"{op} has no kind in the vocabulary"


def _node_flops(n: Any, a: dict[str, Any], shapes: dict) -> float | None:
    out = shapes.get(n.output[0]) if n.output else None
    if out is None:
        return None
    op = n.op_type
    if op in ("Conv", "FusedConv", "ConvTranspose", "QLinearConv", "ConvInteger"):
        w = shapes.get(n.input[1 if op != "QLinearConv" else 3])
        if w is None or len(w) < 3:
            return None
        if op == "ConvTranspose":
            x = shapes.get(n.input[0])
            return None if x is None else 2.0 * math.prod(x) * math.prod(w[1:])
        return 2.0 * math.prod(out) * math.prod(w[1:])
    if op in ("Gemm", "FusedGemm", "MatMul", "FusedMatMul", "MatMulInteger", "QLinearMatMul"):
        x = shapes.get(n.input[0])
        if x is None or not x:
            return None
        kdim = x[0] if int(a.get("transA", 0)) and len(x) == 2 else x[-1]
        return 2.0 * math.prod(out) * kdim
    return None
