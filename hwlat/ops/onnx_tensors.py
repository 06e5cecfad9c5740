"""ONNX nodes of the tensor kinds (matrix products, softmax, layer norm, broadcast elementwise ops,
transposes, splits, slices, concatenations) read as op specs in canonical form, and the shapes of
the ONNX Runtime contrib ops ONNX's own shape inference does not know (``FusedMatMul``).

Used by :mod:`hwlat.ops.onnx_import`; each mapper returns ``(spec or None, note)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx

from hwlat.errors import InputError
from hwlat.ops.canonical import canon_axis, canon_broadcast, canon_transpose, fmt_shape
from hwlat.ops.spec import OpSpec

__all__ = ["TENSOR_MAPPERS", "act_spec", "add_contrib_shapes", "attrs", "cat_spec", "chw", "eltwise_spec",
           "fmt_or_unknown", "fused_matmul_operands", "matmul_spec"]


def attrs(node: Any) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def chw(shape: tuple[int, ...] | None) -> tuple[int, int, int] | None:
    if shape is None or len(shape) != 4 or shape[0] != 1:
        return None
    return (int(shape[1]), int(shape[2]), int(shape[3]))


def fmt_or_unknown(s: tuple[int, ...] | None) -> str:
    return "?" if s is None else "x".join(str(d) for d in s)


def _static_shapes(g: Any) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for vi in [*g.graph.input, *g.graph.value_info, *g.graph.output]:
        tt = vi.type.tensor_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            out[vi.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
    for init in g.graph.initializer:
        out[init.name] = tuple(int(d) for d in init.dims)
    return out


def fused_matmul_operands(xs: tuple[int, ...], ys: tuple[int, ...], a: dict[str, Any]
                          ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The operands of ``com.microsoft.FusedMatMul`` as a plain matrix product sees them:
    ``transBatch`` moves the first axis behind the batch axes, ``trans`` swaps the last two."""
    def view(s: tuple[int, ...], batch: int, trans: int) -> tuple[int, ...]:
        if batch and len(s) > 2:
            s = (*s[1:-1], s[0], s[-1])
        if trans:
            s = (*s[:-2], s[-1], s[-2])
        return s
    return (view(xs, int(a.get("transBatchA", 0)), int(a.get("transA", 0))),
            view(ys, int(a.get("transBatchB", 0)), int(a.get("transB", 0))))


def add_contrib_shapes(g: Any) -> bool:
    """Add the output shape of every FusedMatMul whose inputs are known; True when any was added."""
    known = _static_shapes(g)
    added = False
    for n in g.graph.node:
        if n.op_type != "FusedMatMul" or n.output[0] in known or len(n.input) < 2:
            continue
        xs, ys = known.get(n.input[0]), known.get(n.input[1])
        if xs is None or ys is None or len(xs) < 2 or len(ys) < 2:
            continue
        xa, yb = fused_matmul_operands(xs, ys, attrs(n))
        rank = max(len(xa), len(yb))
        lx, ly = (1,) * (rank - len(xa)) + xa[:-2], (1,) * (rank - len(yb)) + yb[:-2]
        lead = tuple(max(i, j) for i, j in zip(lx, ly))
        out = (*lead, xa[-2], yb[-1])
        g.graph.value_info.append(onnx.helper.make_tensor_value_info(n.output[0], onnx.TensorProto.FLOAT, out))
        added = True
    return added


# -- tensor kinds -----------------------------------------------------------------------------------

def act_spec(shape: tuple[int, ...], fn: str) -> OpSpec:
    """An activation on (C, H, W) keeps that shape; on any other tensor it is keyed flat, (N,)."""
    x = chw(shape)
    return OpSpec.make("act", x if x is not None else (math.prod(shape),), fn=fn)


Mapped = tuple["OpSpec | None", str]


def matmul_spec(n: Any, a: dict[str, Any], shapes: dict, inits: set[str]) -> Mapped:
    xs, ys = shapes.get(n.input[0]), shapes.get(n.input[1])
    if xs is None or ys is None or len(xs) < 2 or len(ys) < 2:
        return None, "matrix product with unknown shapes"
    tb = int(a.get("transB", 0))
    fused = n.op_type == "FusedMatMul"
    if fused:
        xs, ys = fused_matmul_operands(xs, ys, a)
        tb = 0
    elif int(a.get("transA", 0)):
        return None, "matrix product with a transposed first operand"
    m, kdim = math.prod(xs[:-1]), xs[-1]
    nn = ys[-2] if tb else ys[-1]
    if (ys[-1] if tb else ys[-2]) != kdim:
        return None, f"matrix product of {fmt_or_unknown(xs)} and {fmt_or_unknown(ys)}: inner sizes differ"
    if len(ys) == 2 and n.input[1] in inits:  # a linear layer over every row of x
        bias = int(n.op_type == "Gemm" and len(n.input) > 2 and bool(n.input[2]))
        return OpSpec.make("matmul", (1, m, kdim), n=nn, w=1, bias=bias), ""
    lead_x, lead_y = xs[:-2], ys[:-2]
    rank = max(len(lead_x), len(lead_y))
    lx, ly = (1,) * (rank - len(lead_x)) + tuple(lead_x), (1,) * (rank - len(lead_y)) + tuple(lead_y)
    if lx != ly:
        return None, f"batched matrix product with broadcast batch axes {fmt_or_unknown(xs)} @ {fmt_or_unknown(ys)}"
    trans = fused and any(int(a.get(t, 0)) for t in ("transA", "transB", "transBatchA", "transBatchB"))
    note = "read as the plain product of its operands' transposed views" if trans else ""
    return OpSpec.make("matmul", (math.prod(lx), xs[-2], kdim), n=nn, w=0), note


def eltwise_spec(n: Any, op: str, shapes: dict, inits: set[str]) -> Mapped:
    ins = [i for i in n.input if i]
    out = shapes.get(n.output[0])
    data = [shapes.get(i) for i in ins]
    if len(ins) != 2 or out is None or any(d is None for d in data):
        return None, f"{n.op_type} of {', '.join(fmt_or_unknown(d) for d in data)}: not a binary op of known shapes"
    full = [j for j, d in enumerate(data) if math.prod(d) == math.prod(out) and len(d) == len(out)]  # type: ignore[arg-type]
    if not full:
        return None, f"{n.op_type} of {', '.join(fmt_or_unknown(d) for d in data)}: both operands broadcast"
    j = 1 if (len(full) == 2 and ins[0] in inits) else full[0]
    other = ins[1 - j]
    try:
        shape, rhs = canon_broadcast(out, data[1 - j])  # type: ignore[arg-type]
    except InputError as exc:
        return None, str(exc)
    note = "operands in the other order (same work)" if j == 1 and op in ("sub", "div") else ""
    return OpSpec.make("eltwise", shape, op=op, rhs=fmt_shape(rhs), const=int(other in inits)), note


def _binary(op: str) -> Any:
    return lambda n, a, shapes, consts, inits: eltwise_spec(n, op, shapes, inits)


def _softmax_spec(n: Any, a: dict[str, Any], shapes: dict, consts: dict, inits: set[str]) -> Mapped:
    x = shapes.get(n.input[0])
    if x is None:
        return None, "Softmax of unknown shape"
    if int(a.get("axis", -1)) % len(x) != len(x) - 1:
        return None, f"Softmax over axis {a.get('axis')} of {fmt_or_unknown(x)}, not the last"
    return OpSpec.make("softmax", (math.prod(x[:-1]), x[-1])), ""


def _layernorm_spec(n: Any, a: dict[str, Any], shapes: dict, consts: dict, inits: set[str]) -> Mapped:
    x = shapes.get(n.input[0])
    if x is None:
        return None, f"{n.op_type} of unknown shape"
    axis = int(a.get("axis", -1)) % len(x) if n.op_type == "LayerNormalization" else len(x) - 1
    skip = int(n.op_type == "SkipLayerNormalization")
    return OpSpec.make("layernorm", (math.prod(x[:axis]), math.prod(x[axis:])), skip=skip), ""


def _gelu_spec(n: Any, a: dict[str, Any], shapes: dict, consts: dict, inits: set[str]) -> Mapped:
    x = shapes.get(n.input[0])
    if x is None:
        return None, f"{n.op_type} of unknown shape"
    if n.op_type == "QuickGelu":
        alpha = float(a.get("alpha", 1.702))
        if abs(alpha - 1.0) > 1e-6:
            return None, f"QuickGelu(alpha={alpha:g}) = x*sigmoid({alpha:g}x): only alpha=1 (swish) is a kind"
        return act_spec(x, "swish"), ""
    if n.op_type == "Gelu" and str(a.get("approximate", "none")) != "none":
        return None, "tanh-approximated Gelu is not in the vocabulary"
    return act_spec(x, "gelu" if n.op_type == "Gelu" else "tanh"), ""


def _transpose_spec(n: Any, a: dict[str, Any], shapes: dict, consts: dict, inits: set[str]) -> Mapped:
    x = shapes.get(n.input[0])
    if x is None:
        return None, "Transpose of unknown shape"
    perm = a.get("perm", list(range(len(x)))[::-1])
    canon = canon_transpose(x, [int(p) for p in perm])
    if canon is None:
        return None, "zero-cost"
    return OpSpec.make("transpose", canon[0], perm="_".join(map(str, canon[1]))), ""


def _split_spec(n: Any, a: dict[str, Any], shapes: dict, consts: dict, inits: set[str]) -> Mapped:
    x = shapes.get(n.input[0])
    outs = [shapes.get(o) for o in n.output if o]
    if x is None or any(o is None for o in outs):
        return None, "Split of unknown shapes"
    axis = int(a.get("axis", 0)) % len(x)
    parts = [int(o[axis]) for o in outs]  # type: ignore[index]
    if len(outs) < 2:
        return None, "Split into one part"
    if len(set(parts)) != 1:  # reads the axis once and writes it once, as the concatenation undoing it
        a_, _, b_ = canon_axis(x, axis)
        return (OpSpec.make("cat", (a_, parts[0], b_), sizes="_".join(map(str, parts))),
                "unequal Split timed as the concatenation that undoes it (the same bytes moved)")
    return OpSpec.make("split", canon_axis(x, axis), n=len(outs)), ""


def _einsum_spec(n: Any, a: dict[str, Any], shapes: dict, consts: dict, inits: set[str]) -> Mapped:
    """A two-operand Einsum as the batched matrix product it is: indices in both operands and the
    output are batch, in one operand and the output rows or columns, in both operands only summed."""
    eq = str(a.get("equation", "")).replace(" ", "")
    ins = [i for i in n.input if i]
    if "->" not in eq or "." in eq or len(ins) != 2:
        return None, f"Einsum {eq!r}: only two-operand equations with an explicit output"
    lhs, out = eq.split("->")
    terms = lhs.split(",")
    xs, ys = shapes.get(ins[0]), shapes.get(ins[1])
    if len(terms) != 2 or xs is None or ys is None or len(terms[0]) != len(xs) or len(terms[1]) != len(ys):
        return None, f"Einsum {eq!r} with unknown shapes"
    size = {**dict(zip(terms[1], ys)), **dict(zip(terms[0], xs))}
    t0, t1 = set(terms[0]), set(terms[1])
    batch = [c for c in out if c in t0 and c in t1]
    rows = [c for c in terms[0] if c in out and c not in t1]
    cols = [c for c in terms[1] if c in out and c not in t0]
    summed = [c for c in terms[0] if c in t1 and c not in out]
    if set(out) != set(batch) | set(rows) | set(cols):
        return None, f"Einsum {eq!r}: not a (batched) matrix product"

    def prod(cs: list[str]) -> int:
        return math.prod(int(size[c]) for c in cs)

    return (OpSpec.make("matmul", (prod(batch), prod(rows), prod(summed)), n=prod(cols), w=0),
            f"Einsum {eq} read as a batched matrix product")


def _slice_spec(n: Any, a: dict[str, Any], shapes: dict, consts: dict, inits: set[str]) -> Mapped:
    x, y = shapes.get(n.input[0]), shapes.get(n.output[0])
    if x is None or y is None or len(x) != len(y):
        return None, "Slice of unknown shapes"
    moved = [i for i in range(len(x)) if x[i] != y[i]]
    if not moved:
        return None, "zero-cost"
    if len(moved) != 1:
        return None, f"Slice of {fmt_or_unknown(x)} to {fmt_or_unknown(y)} along several axes"
    ax = moved[0]
    starts = consts.get(n.input[1]) if len(n.input) > 1 else None
    steps = consts.get(n.input[4]) if len(n.input) > 4 and n.input[4] else None
    if steps is not None and any(int(v) != 1 for v in np.ravel(steps)):
        return None, "strided Slice"
    start = 0
    if starts is not None and np.size(starts) == 1:
        start = int(np.ravel(starts)[0])
        start = min(max(start + x[ax] if start < 0 else start, 0), x[ax] - y[ax])
    return OpSpec.make("slice", canon_axis(x, ax), start=start, len=y[ax]), ""


def _gather_spec(n: Any, a: dict[str, Any], shapes: dict, consts: dict, inits: set[str]) -> Mapped:
    x = shapes.get(n.input[0])
    idx = consts.get(n.input[1]) if len(n.input) > 1 else None
    if x is None or idx is None or np.size(idx) != 1:
        return None, "Gather other than of one constant index (e.g. an embedding lookup)"
    axis = int(a.get("axis", 0)) % len(x)
    start = int(np.ravel(idx)[0])
    start = start + x[axis] if start < 0 else start
    if x[axis] == 1:
        return None, "zero-cost"
    return OpSpec.make("slice", canon_axis(x, axis), start=start, len=1), "one index taken: a slice of length 1"


def cat_spec(n: Any, a: dict[str, Any], shapes: dict) -> Mapped:
    data = [shapes.get(i) for i in n.input if i]
    if len(data) < 2 or any(d is None for d in data) or len({len(d) for d in data}) != 1:  # type: ignore[arg-type]
        return None, f"Concat of {', '.join(fmt_or_unknown(d) for d in data)}: shapes unknown or of different ranks"
    axis = int(a.get("axis", 1)) % len(data[0])  # type: ignore[arg-type]
    rest = {tuple(d[:axis]) + tuple(d[axis + 1:]) for d in data}  # type: ignore[index]
    if len(rest) != 1:
        return None, f"Concat of {', '.join(fmt_or_unknown(d) for d in data)}: sizes differ off the axis"
    first = canon_axis(data[0], axis)  # type: ignore[arg-type]
    sizes = "_".join(str(d[axis]) for d in data)  # type: ignore[index]
    return OpSpec.make("cat", first, sizes=sizes), ""


TENSOR_MAPPERS = {
    "Mul": _binary("mul"), "Sub": _binary("sub"), "Div": _binary("div"),
    "Softmax": _softmax_spec, "LayerNormalization": _layernorm_spec, "SkipLayerNormalization": _layernorm_spec,
    "Gelu": _gelu_spec, "QuickGelu": _gelu_spec, "Tanh": _gelu_spec,
    "Transpose": _transpose_spec, "Split": _split_spec, "Slice": _slice_spec, "Gather": _gather_spec,
    "Einsum": _einsum_spec,
    "FusedMatMul": lambda n, a, shapes, consts, inits: matmul_spec(n, a, shapes, inits),
}
