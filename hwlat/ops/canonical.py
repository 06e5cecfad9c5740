"""Shapes of the tensor kinds, and the canonical form that gives one computation one key.

A transpose of ``(1, 8, 7, 8, 7, 96)`` by ``(0, 1, 3, 2, 4, 5)`` moves the same bytes in the same
order as one of ``(8, 7, 8, 672)`` by ``(0, 2, 1, 3)``: size-1 axes carry nothing and axes that stay
next to each other move as one. The functions here put a tensor op in that form (the batch axis
goes too, as every size-1 axis), so that kernels of different models that do the same work share
a key, a table row and a regressor's training point:

* :func:`canon_transpose`: drop size-1 axes, merge axes adjacent in both the input and the output;
* :func:`canon_broadcast`: for a binary elementwise op, drop size-1 output axes and merge adjacent
  axes with the same broadcast pattern;
* :func:`canon_axis`: an op along one axis (split, slice, concat) as ``(A, S, B)``: everything
  before the axis, the axis, everything after it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hwlat.errors import InputError

if TYPE_CHECKING:
    from hwlat.ops.spec import OpSpec

__all__ = [
    "canon_axis",
    "canon_broadcast",
    "canon_transpose",
    "fmt_shape",
    "parse_ints",
    "parse_shape",
    "tensor_flops",
    "tensor_input_shapes",
    "tensor_output_shape",
]


def fmt_shape(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def parse_shape(text: str, what: str = "shape") -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in str(text).split("x"))
    except ValueError:
        raise InputError(f"malformed {what} {text!r}; expected sizes joined by 'x', e.g. 64x1x1") from None
    if not dims or min(dims) < 1:
        raise InputError(f"{what} {text!r} needs positive sizes")
    return dims


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in str(text).replace(",", "_").split("_"))
    except ValueError:
        raise InputError(f"malformed {what} {text!r}; expected integers joined by '_', e.g. 0_2_1") from None


# -- canonical forms -------------------------------------------------------------------------------

def canon_transpose(shape: Sequence[int], perm: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """``(shape, perm)`` with size-1 axes dropped and axes that stay adjacent merged; None when the
    transpose moves nothing (a copy or a reshape at most)."""
    if sorted(perm) != list(range(len(shape))):
        raise InputError(f"perm {tuple(perm)} is not a permutation of the {len(shape)} axes of {tuple(shape)}")
    keep = [a for a in range(len(shape)) if shape[a] != 1]
    new_index = {a: i for i, a in enumerate(keep)}
    p = [new_index[a] for a in perm if a in new_index]
    dims = [int(shape[a]) for a in keep]
    # merge input axes i, i+1 that follow each other in the output as well
    groups: list[list[int]] = []
    for a in p:
        if groups and groups[-1][-1] + 1 == a:
            groups[-1].append(a)
        else:
            groups.append([a])
    order = sorted(range(len(groups)), key=lambda g: groups[g][0])  # groups in input order
    merged_shape = tuple(math.prod(dims[a] for a in groups[g]) for g in order)
    rank_of = {g: r for r, g in enumerate(order)}
    merged_perm = tuple(rank_of[g] for g in range(len(groups)))
    if merged_perm == tuple(range(len(merged_perm))):
        return None
    return merged_shape, merged_perm


def canon_broadcast(out: Sequence[int], rhs: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(out, rhs)`` of a broadcast elementwise op, right-aligned to one rank, size-1 output axes
    dropped and adjacent axes with the same pattern (full or broadcast) merged."""
    out = [int(d) for d in out]
    rhs = [int(d) for d in rhs]
    if len(rhs) > len(out):
        raise InputError(f"operand {tuple(rhs)} has more axes than the result {tuple(out)}")
    rhs = [1] * (len(out) - len(rhs)) + rhs
    if any(r not in (1, o) for r, o in zip(rhs, out)):
        raise InputError(f"operand {tuple(rhs)} does not broadcast to {tuple(out)}")
    axes = [(o, r == o) for o, r in zip(out, rhs) if o != 1]
    if not axes:
        return (1,), (1,)
    m_out: list[int] = []
    m_full: list[bool] = []
    for o, full in axes:
        if m_full and m_full[-1] == full:
            m_out[-1] *= o
        else:
            m_out.append(o)
            m_full.append(full)
    return tuple(m_out), tuple(o if f else 1 for o, f in zip(m_out, m_full))


def canon_axis(shape: Sequence[int], axis: int) -> tuple[int, int, int]:
    """``(A, S, B)``: the product of the axes before ``axis``, its size, the product after it."""
    axis = axis % len(shape)
    return (math.prod(shape[:axis]), int(shape[axis]), math.prod(shape[axis + 1:]))


# -- shapes and work of the tensor kinds ----------------------------------------------------------

def _rank(kind: str, shape: tuple[int, ...], ranks: Sequence[int], what: str) -> None:
    if len(shape) not in ranks or min(shape, default=0) < 1:
        raise InputError(f"op {kind!r} takes input shape {what} with positive sizes, got {shape}")


def tensor_output_shape(kind: str, shape: tuple[int, ...], p: dict[str, Any]) -> tuple[int, ...]:
    if kind == "act":
        _rank(kind, shape, (1, 2, 4, 5), "(N,) (or any rank but 3, which is (C, H, W))")
        return shape
    if kind == "matmul":
        _rank(kind, shape, (3,), "(B, M, K)")
        if int(p["w"]) and shape[0] != 1:
            raise InputError(f"matmul with a constant weight (w=1) takes (1, M, K), got {shape}")
        if int(p["bias"]) and not int(p["w"]):
            raise InputError("matmul bias=1 needs a constant weight (w=1)")
        return (shape[0], shape[1], int(p["n"]))
    if kind in ("softmax", "layernorm"):
        _rank(kind, shape, (2,), "(R, L)")
        return shape
    if kind == "eltwise":
        _rank(kind, shape, (1, 2, 3, 4), "of rank 1-4")
        rhs = parse_shape(str(p["rhs"]), "eltwise operand shape rhs")
        if len(rhs) != len(shape) or any(r not in (1, o) for r, o in zip(rhs, shape)):
            raise InputError(f"eltwise operand rhs={p['rhs']} must have the input's rank {len(shape)}, each size "
                             f"equal to the input's {fmt_shape(shape)} or 1")
        return shape
    if kind == "transpose":
        _rank(kind, shape, (2, 3, 4, 5), "of rank 2-5")
        perm = parse_ints(str(p["perm"]), "perm")
        if sorted(perm) != list(range(len(shape))):
            raise InputError(f"transpose perm={p['perm']} is not a permutation of {len(shape)} axes")
        return tuple(shape[a] for a in perm)
    if kind == "split":
        _rank(kind, shape, (3,), "(A, S, B)")
        n = int(p["n"])
        if n < 2 or shape[1] % n:
            raise InputError(f"split n={n} must be >= 2 and divide the middle axis {shape[1]}")
        return (shape[0], shape[1] // n, shape[2])
    if kind == "slice":
        _rank(kind, shape, (3,), "(A, S, B)")
        start, length = int(p["start"]), int(p["len"])
        if start + length > shape[1] or length == shape[1]:
            raise InputError(f"slice start={start} len={length} must lie inside, and be shorter than, the middle "
                             f"axis {shape[1]}")
        return (shape[0], length, shape[2])
    if kind == "cat":
        _rank(kind, shape, (3,), "(A, S, B)")
        sizes = parse_ints(str(p["sizes"]), "sizes")
        if len(sizes) < 2 or min(sizes) < 1 or sizes[0] != shape[1]:
            raise InputError(f"cat sizes={p['sizes']} needs >= 2 positive sizes, the first the input's {shape[1]}")
        return (shape[0], sum(sizes), shape[2])
    raise AssertionError(kind)  # pragma: no cover


def tensor_input_shapes(spec: OpSpec) -> list[tuple[int, ...]]:
    shape = spec.input_shape
    if spec.kind == "eltwise":
        return [shape, parse_shape(str(spec["rhs"]))]
    if spec.kind == "cat":
        return [(shape[0], s, shape[2]) for s in parse_ints(str(spec["sizes"]), "sizes")]
    if spec.kind == "matmul":
        return [shape, (shape[0], shape[2], int(spec["n"]))]
    if spec.kind == "layernorm":
        return [shape, shape]
    return [shape]


def tensor_flops(spec: OpSpec) -> int:
    """FLOPs of a tensor kind: 2·B·M·K·N for matmul, a few per element for softmax and layer
    norm, 1 per output element for elementwise ops, 0 for pure data movement."""
    shape = spec.input_shape
    n_out = math.prod(spec.output_shape)
    if spec.kind == "matmul":
        b, m, k = shape
        return 2 * b * m * k * int(spec["n"]) + (b * m * int(spec["n"]) if int(spec["bias"]) else 0)
    if spec.kind == "softmax":
        return 5 * n_out
    if spec.kind == "layernorm":
        return (8 + int(spec["skip"])) * n_out
    if spec.kind == "eltwise":
        return n_out
    return 0
