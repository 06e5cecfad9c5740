"""Sampling configurations of the tensor kinds from the geometry of real networks.

nn-Meter's lesson is that uniform ranges waste samples on shapes no network has. A draw here
starts from the geometry transformers and CNNs are built on, never from any one model's layers:

* a token grid of side ``g`` (the usual pyramid 7..56, or any side 4..64), ``g*g`` tokens, plus a
  class token in a third of the draws; attention either global or in windows of 7x7 / 8x8;
* a width ``D``: a multiple of 32, log-uniform in 64..1024, split into heads of 32 or 64;
* an MLP ratio of 2, 3 or 4; CNN feature maps of the sampler's channels and resolutions.

Each kernel of a block built on that geometry is then one draw: a linear layer on the tokens,
the two attention products, the softmax, a layer norm, a bias or residual add, the head-split
transpose, a window partition, a channel-shuffle... Every draw is put in its canonical form
(:mod:`hwlat.ops.canonical`), as the graph reader puts a model's kernels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hwlat.ops.canonical import canon_axis, canon_broadcast, canon_transpose, fmt_shape
from hwlat.ops.spec import OpSpec

__all__ = ["draw_tensor_kind"]

_GRID = (7, 8, 12, 14, 16, 24, 28, 32, 48, 56)
_WINDOW = (7, 8)


def _pick(rng: np.random.Generator, seq: Any) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _mult(rng: np.random.Generator, lo: int, hi: int, step: int) -> int:
    v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    return int(max(step, round(v / step) * step))


class _Geometry:
    """One draw of a transformer stage's geometry."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.g = int(_pick(rng, _GRID)) if rng.random() < 0.8 else int(rng.integers(4, 65))
        self.cls = int(rng.random() < 0.33)
        self.d = _mult(rng, 64, 1024, 32)
        self.head = int(_pick(rng, (32, 64))) if self.d >= 64 else 32
        self.heads = max(1, self.d // self.head)
        self.ratio = int(_pick(rng, (2, 3, 4, 4)))
        windowed = rng.random() < 0.4
        w = int(_pick(rng, _WINDOW))
        if windowed and self.g % w == 0 and self.g > w:
            self.windows, self.t = (self.g // w) ** 2, w * w
        else:
            self.windows, self.t = 1, self.g * self.g + self.cls
        self.tokens = self.windows * self.t


def _feature_map(rng: np.random.Generator, r: dict[str, Any]) -> tuple[int, int]:
    """(channels, H*W) of a CNN feature map."""
    from hwlat.predictors.sampling import _channels, _hw

    hw = _hw(rng, r)
    return _channels(rng, r["c_min"], r["c_max"]), hw * hw


def draw_tensor_kind(kind: str, rng: np.random.Generator, r: dict[str, Any]) -> OpSpec:
    """One configuration of tensor kind ``kind`` (InputError on a clash: the caller draws again)."""
    geo = _Geometry(rng)
    d, t, b = geo.d, geo.t, geo.heads * geo.windows
    out: tuple[int, ...]
    shape: tuple[int, ...]
    perm: tuple[int, ...]
    if kind == "matmul":
        u = rng.random()
        if u < 0.55:  # a linear layer on the tokens: qkv, projection, MLP in or out, or a head
            head = int(_pick(rng, (10, 100, 1000)))
            k, n = _pick(rng, ((d, 3 * d), (d, d), (d, geo.ratio * d), (geo.ratio * d, d), (d, head)))
            m = 1 if n == head and k == d else geo.tokens
            return OpSpec.make("matmul", (1, m, k), n=n, w=1, bias=int(rng.random() < 0.9))
        if u < 0.8:  # scores: (B, t, head) @ (B, head, t)
            return OpSpec.make("matmul", (b, t, geo.head), n=t, w=0)
        return OpSpec.make("matmul", (b, t, t), n=geo.head, w=0)  # weighted values
    if kind == "softmax":
        return OpSpec.make("softmax", (b * t, t))
    if kind == "layernorm":
        if rng.random() < 0.25:  # channels-last CNN blocks normalise each pixel's channels
            c, hw = _feature_map(rng, r)
            return OpSpec.make("layernorm", (hw, c))
        return OpSpec.make("layernorm", (geo.tokens, d), skip=int(rng.random() < 0.15))
    if kind == "eltwise":
        u = rng.random()
        c, hw = _feature_map(rng, r)
        if u < 0.2:  # residual add or a product of two activations
            out, rhs, const = (geo.tokens, d) if rng.random() < 0.5 else (c, hw), None, 0
            op = "add" if rng.random() < 0.7 else "mul"
        elif u < 0.4:  # bias row or layer scale on tokens / channels-last pixels
            out, rhs, const = (geo.tokens, d) if rng.random() < 0.6 else (hw, c), "row", 1
            op = "add" if rng.random() < 0.6 else "mul"
        elif u < 0.6:  # a channel gate (squeeze-excite) or a per-channel scale
            out, rhs, const, op = (c, hw), "col", int(rng.random() < 0.3), "mul"
        elif u < 0.8:  # a scalar: attention scaling, x/2, x+1
            out, rhs, const = (geo.tokens * d,) if rng.random() < 0.5 else (c * hw,), "scalar", 1
            op = _pick(rng, ("mul", "div", "add", "sub"))
        else:  # a bias over attention scores: (windows, heads*t*t) + (1, heads*t*t)
            out, rhs, const, op = (geo.windows, geo.heads * t * t), "row", int(rng.random() < 0.5), "add"
        full = tuple(out)
        if rhs is None:
            rhs_shape = full
        elif rhs == "row":
            rhs_shape = (1,) * (len(full) - 1) + full[-1:]
        elif rhs == "col":
            rhs_shape = full[:1] + (1,) * (len(full) - 1)
        else:
            rhs_shape = (1,)
        shape, rhs_c = canon_broadcast(full, rhs_shape)
        return OpSpec.make("eltwise", shape, op=op, rhs=fmt_shape(rhs_c), const=const)
    if kind == "transpose":
        u = rng.random()
        c, hw = _feature_map(rng, r)
        if u < 0.3:  # split into heads: (t, heads, head) -> (heads, t, head), or back
            shape, perm = (geo.windows, t, geo.heads, geo.head), (0, 2, 1, 3)
        elif u < 0.45:  # qkv: (t, 3, heads, head) -> (3, heads, t, head)
            shape, perm = (geo.windows * t, 3, geo.heads, geo.head), (1, 2, 0, 3)
        elif u < 0.6:  # keys transposed: (B, t, head) -> (B, head, t)
            shape, perm = (b, t, geo.head), (0, 2, 1)
        elif u < 0.75:  # channels first <-> channels last
            shape, perm = (c, hw), (1, 0)
        elif u < 0.9:  # window partition of a (g, g, d) map
            w = int(_pick(rng, _WINDOW))
            g = max(w, geo.g - geo.g % w)
            shape, perm = (g // w, w, g // w, w * d), (0, 2, 1, 3)
        else:  # channel shuffle: (groups, C/groups, HW) -> (C/groups, groups, HW)
            groups = int(_pick(rng, (2, 2, 3, 4, 8)))
            shape, perm = (groups, max(1, c // groups), hw), (1, 0, 2)
        canon = canon_transpose(shape, perm)
        if canon is None:
            canon = ((2, max(2, c)), (1, 0))
        return OpSpec.make("transpose", canon[0], perm="_".join(map(str, canon[1])))
    if kind == "split":
        c, hw = _feature_map(rng, r)
        if rng.random() < 0.5:  # ShuffleNet's channel split
            n = 2
            shape = canon_axis((2 * max(1, c // 2), hw), 0)
        else:  # q, k, v out of one linear layer, or GLU-style halves
            n = int(_pick(rng, (3, 3, 2)))
            shape = canon_axis((geo.tokens, n * d), 1)
        return OpSpec.make("split", shape, n=n)
    if kind == "slice":
        c, hw = _feature_map(rng, r)
        u = rng.random()
        if u < 0.35:  # the class token, or the tokens after it
            length = 1 if rng.random() < 0.6 else geo.g * geo.g
            return OpSpec.make("slice", (1, geo.g * geo.g + 1, d), start=0 if length == 1 else 1, len=length)
        if u < 0.7:  # a cyclic shift's halves: rows of a (g, g, d) map
            k = int(rng.integers(1, max(2, geo.g // 2)))
            return OpSpec.make("slice", (1, geo.g, geo.g * d), start=int(rng.random() < 0.5) * k, len=geo.g - k)
        k = _mult(rng, 8, max(8, c - 8), 8) if c > 16 else c // 2
        return OpSpec.make("slice", (1, c, hw), start=0, len=max(1, min(k, c - 1)))
    if kind == "cat":
        c, hw = _feature_map(rng, r)
        u = rng.random()
        if u < 0.5:  # feature maps of different widths along channels (dense and inception blocks)
            n = int(_pick(rng, (2, 2, 3, 4, 6)))
            sizes = [c] + [_mult(rng, 16, 256, 16) for _ in range(n - 1)]
            return OpSpec.make("cat", (1, c, hw), sizes="_".join(map(str, sizes)))
        if u < 0.7:  # the class token in front of the patches
            return OpSpec.make("cat", (1, 1, d), sizes=f"1_{geo.g * geo.g}")
        k = int(rng.integers(1, max(2, geo.g // 2)))  # a cyclic shift put back together
        return OpSpec.make("cat", (1, geo.g - k, geo.g * d), sizes=f"{geo.g - k}_{k}")
    raise AssertionError(kind)  # pragma: no cover
