"""Named numeric features of single ops, for the kernel regressors (:mod:`hwlat.predictors.kernels`).

Shapes, FLOPs, weights, bytes moved, arithmetic intensity and each kind's own parameters, one
named column each (:func:`featurize`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hwlat.errors import InputError
from hwlat.ops.canonical import parse_ints, parse_shape
from hwlat.ops.spec import ACTIVATIONS, TENSOR_KINDS, OpSpec, make_divisible

__all__ = ["BASE_FEATURES", "KIND_FEATURES", "as_spec", "featurize", "params_count"]

#: bytes per element (float32)
_BYTES = 4
#: float32 lanes of the widest vector registers of the CPUs hwlat targets (AVX-512; the 4 and 8
#: lanes of NEON and AVX2 divide it): runtimes block channels by it and pad the last block
_LANES = 16


def _fill(n: int) -> float:
    """The share of its padded vector blocks that ``n`` channels fill (1.0: a multiple of 16)."""
    return n / (_LANES * math.ceil(n / _LANES)) if n > 0 else 1.0

#: features every op has
BASE_FEATURES: tuple[str, ...] = (
    "c_in", "h_in", "w_in", "c_out", "h_out", "w_out", "flops", "params",
    "input_bytes", "output_bytes", "weight_bytes", "intensity",
)
_ACT_COLS: tuple[str, ...] = tuple(f"act_{a}" for a in ACTIVATIONS)

#: kind -> the kind-specific features its model uses (besides :data:`BASE_FEATURES`)
KIND_FEATURES: dict[str, tuple[str, ...]] = {
    "conv": ("k", "s", "groups", "dil", "depthwise", "pointwise", "bn", "pre_act", "c_in_fill", "c_out_fill",
             "flops_blocked", *_ACT_COLS),
    "mbconv": ("k", "s", "mid", "expand", "se", "res", "mid_bytes", *_ACT_COLS),
    "pool": ("k", "s", "pad", "mode_max", "c_in_fill"),
    "gap": ("c_in_fill",),
    "fc": ("bias", "pooled"),
    "add": ("n_inputs",),
    "concat": ("n_inputs",),
    "act": _ACT_COLS,
    "bn": _ACT_COLS,
    "resblock": ("k", "s", "shortcut_conv"),
    "identity": (),
    # tensor kinds: c_in, h_in, w_in are the first three axes of the plain shape
    "matmul": ("mm_b", "mm_m", "mm_k", "mm_n", "weight_const", "bias", "mm_k_fill", "mm_n_fill"),
    "softmax": ("rows", "last_dim"),
    "layernorm": ("rows", "last_dim", "skip"),
    "eltwise": ("rank", "last_dim", "rhs_elems", "rhs_last", "const", "op_add", "op_mul", "op_sub", "op_div"),
    "transpose": ("rank", "last_dim", "out_last_dim", "last_moves", "elements"),
    "split": ("outer", "axis_size", "inner", "n_inputs", "parts"),
    "slice": ("outer", "axis_size", "inner", "slice_len"),
    "cat": ("outer", "axis_size", "inner", "n_inputs"),
}
_ALL_FEATURES: tuple[str, ...] = tuple(dict.fromkeys(
    [*BASE_FEATURES, *(f for fs in KIND_FEATURES.values() for f in fs)]))


def params_count(spec: OpSpec) -> int:
    """Number of weights (float32 values) of ``spec`` as hwlat lowers it (folded batch norm = a bias)."""
    p = spec.param_dict
    c = spec.input_shape[0]
    kind = spec.kind
    if kind == "conv":
        cout, k, g = int(p["cout"]), int(p["k"]), int(p["groups"])
        return cout * (c // g) * k * k + (cout if int(p["bn"]) else 0)
    if kind == "mbconv":
        mid, k, cout = int(p["mid"]), int(p["k"]), int(p["cout"])
        n = 0
        if mid != c:
            n += c * mid + mid
        n += mid * k * k + mid
        if int(p["se"]):
            r = make_divisible(mid // 4, 8)
            n += mid * r + r + r * mid + mid
        n += mid * cout + cout
        return n
    if kind == "fc":
        cout = int(p["cout"])
        return c * cout + (cout if int(p["bias"]) else 0)
    if kind == "bn":
        return 2 * c  # folded to a per-channel scale and shift
    if kind == "resblock":
        cout, k, s = int(p["cout"]), int(p["k"]), int(p["s"])
        n = c * cout * k * k + cout + cout * cout * k * k + cout
        if s != 1 or c != cout:
            n += c * cout
        return n
    if kind == "matmul" and int(p["w"]):
        return spec.input_shape[2] * int(p["n"]) + (int(p["n"]) if int(p["bias"]) else 0)
    if kind == "layernorm":
        return 2 * spec.input_shape[-1]
    if kind == "eltwise" and int(p["const"]):
        return math.prod(parse_shape(str(p["rhs"])))
    return 0


def _features_of(spec: OpSpec) -> dict[str, float]:
    p = spec.param_dict
    kind = spec.kind
    shape = spec.input_shape
    c_in = shape[0]
    h_in, w_in = (shape[1], shape[2]) if len(shape) == 3 else (1, 1)
    out = spec.output_shape
    c_out = out[0]
    h_out, w_out = (out[1], out[2]) if len(out) == 3 else (1, 1)
    if kind in TENSOR_KINDS:
        h_in, w_in = (shape[1] if len(shape) > 1 else 1), (shape[2] if len(shape) > 2 else 1)
        h_out, w_out = (out[1] if len(out) > 1 else 1), (out[2] if len(out) > 2 else 1)
    flops = float(spec.flops)
    n_params = params_count(spec)
    in_bytes = float(sum(math.prod(s) for s in spec.input_shapes) * _BYTES)
    out_bytes = float(math.prod(out) * _BYTES)
    w_bytes = float(n_params * _BYTES)
    f: dict[str, float] = dict.fromkeys(_ALL_FEATURES, 0.0)
    f.update(c_in=c_in, h_in=h_in, w_in=w_in, c_out=c_out, h_out=h_out, w_out=w_out, flops=flops,
             params=float(n_params), input_bytes=in_bytes, output_bytes=out_bytes, weight_bytes=w_bytes,
             intensity=flops / (in_bytes + out_bytes + w_bytes))
    if kind in ("conv", "mbconv", "pool", "resblock"):
        f["k"], f["s"] = float(p["k"]), float(p["s"])
    if kind == "conv":
        g = int(p["groups"])
        dw = g == c_in and g > 1 and int(p["cout"]) == c_in
        # an image stem (fewer input channels than a vector block) is read as it is, unpadded
        fills = (_fill(c_in),) if dw else (1.0 if g == 1 and c_in < _LANES else _fill(c_in // g), _fill(c_out // g))
        f.update(groups=g, dil=float(p["dil"]), depthwise=float(dw), pointwise=float(int(p["k"]) == 1),
                 bn=float(p["bn"]), pre_act=float(p["pre_act"] != "none"), c_in_fill=fills[0],
                 c_out_fill=fills[-1], flops_blocked=flops / math.prod(fills))
        f[f"act_{p['act']}"] = 1.0
    elif kind == "mbconv":
        mid = int(p["mid"])
        f.update(mid=mid, expand=mid / c_in, se=float(p["se"]), res=float(p["res"]),
                 mid_bytes=float(mid * h_in * w_in * _BYTES))
        f[f"act_{p['act']}"] = 1.0
    elif kind == "pool":
        f.update(pad=float(p["pad"]), mode_max=float(p["mode"] == "max"), c_in_fill=_fill(c_in))
    elif kind == "gap":
        f["c_in_fill"] = _fill(c_in)
    elif kind == "fc":
        f.update(bias=float(p["bias"]), pooled=float(len(shape) == 3))
    elif kind in ("add", "concat"):
        f["n_inputs"] = float(spec.n_inputs)
    elif kind == "act":
        f[f"act_{p['fn']}"] = 1.0
    elif kind == "bn":
        f[f"act_{p['act']}"] = 1.0
    elif kind == "resblock":
        f["shortcut_conv"] = float(int(p["s"]) != 1 or c_in != int(p["cout"]))
    elif kind in TENSOR_KINDS:
        _tensor_features(spec, f)
    return f


def _tensor_features(spec: OpSpec, f: dict[str, float]) -> None:
    p = spec.param_dict
    shape = spec.input_shape
    kind = spec.kind
    if kind == "matmul":
        b, m, k = shape
        f.update(mm_b=b, mm_m=m, mm_k=k, mm_n=float(p["n"]), weight_const=float(p["w"]), bias=float(p["bias"]),
                 mm_k_fill=_fill(k), mm_n_fill=_fill(int(p["n"])))
    elif kind in ("softmax", "layernorm"):
        f.update(rows=shape[0], last_dim=shape[1])
        if kind == "layernorm":
            f["skip"] = float(p["skip"])
    elif kind == "eltwise":
        rhs = parse_shape(str(p["rhs"]))
        f.update(rank=len(shape), last_dim=shape[-1], rhs_elems=float(math.prod(rhs)), rhs_last=rhs[-1],
                 const=float(p["const"]))
        f[f"op_{p['op']}"] = 1.0
    elif kind == "transpose":
        perm = parse_ints(str(p["perm"]), "perm")
        f.update(rank=len(shape), last_dim=shape[-1], out_last_dim=shape[perm[-1]],
                 last_moves=float(perm[-1] != len(shape) - 1), elements=float(math.prod(shape)))
    else:  # split, slice, cat on (A, S, B)
        a, s, b = shape
        f.update(outer=a, axis_size=s, inner=b, n_inputs=float(spec.n_inputs))
        if kind == "split":
            f["parts"] = float(p["n"])
        elif kind == "slice":
            f["slice_len"] = float(p["len"])


def featurize(specs: Sequence[OpSpec]) -> pd.DataFrame:
    """Named numeric features of each op, one row per spec (index = op key).

    Columns: :data:`BASE_FEATURES` for every op (channels, sizes, ``flops``, ``params`` (weights
    count), ``input_bytes``/``output_bytes``/``weight_bytes`` (float32), ``intensity`` = FLOPs per
    byte moved) and every kind-specific feature of :data:`KIND_FEATURES` (0 where it does not apply).
    """
    specs = [as_spec(s) for s in specs]
    rows = [_features_of(s) for s in specs]
    df = pd.DataFrame(rows, columns=list(_ALL_FEATURES), dtype=np.float64)
    df.index = pd.Index([s.key for s in specs], name="key")
    return df


def as_spec(s: Any) -> OpSpec:
    """``s`` as an OpSpec (an op key string is parsed)."""
    if isinstance(s, OpSpec):
        return s
    if isinstance(s, str):
        return OpSpec.from_key(s)
    raise InputError(f"expected an OpSpec or an op key string, got {type(s).__name__}")
