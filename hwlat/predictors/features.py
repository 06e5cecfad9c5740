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
from hwlat.ops.spec import ACTIVATIONS, OpSpec, make_divisible

__all__ = ["BASE_FEATURES", "KIND_FEATURES", "as_spec", "featurize", "params_count"]

#: bytes per element (float32)
_BYTES = 4

#: features every op has
BASE_FEATURES: tuple[str, ...] = (
    "c_in", "h_in", "w_in", "c_out", "h_out", "w_out", "flops", "params",
    "input_bytes", "output_bytes", "weight_bytes", "intensity",
)
_ACT_COLS: tuple[str, ...] = tuple(f"act_{a}" for a in ACTIVATIONS)

#: kind -> the kind-specific features its model uses (besides :data:`BASE_FEATURES`)
KIND_FEATURES: dict[str, tuple[str, ...]] = {
    "conv": ("k", "s", "groups", "dil", "depthwise", "pointwise", "bn", "pre_act", *_ACT_COLS),
    "mbconv": ("k", "s", "mid", "expand", "se", "res", "mid_bytes", *_ACT_COLS),
    "pool": ("k", "s", "pad", "mode_max"),
    "gap": (),
    "fc": ("bias", "pooled"),
    "add": ("n_inputs",),
    "concat": ("n_inputs",),
    "act": _ACT_COLS,
    "bn": _ACT_COLS,
    "resblock": ("k", "s", "shortcut_conv"),
    "identity": (),
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
    flops = float(spec.flops)
    n_params = params_count(spec)
    in_bytes = float(math.prod(shape) * spec.n_inputs * _BYTES)
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
        f.update(groups=g, dil=float(p["dil"]), depthwise=float(g == c_in and g > 1 and int(p["cout"]) == c_in),
                 pointwise=float(int(p["k"]) == 1), bn=float(p["bn"]), pre_act=float(p["pre_act"] != "none"))
        f[f"act_{p['act']}"] = 1.0
    elif kind == "mbconv":
        mid = int(p["mid"])
        f.update(mid=mid, expand=mid / c_in, se=float(p["se"]), res=float(p["res"]),
                 mid_bytes=float(mid * h_in * w_in * _BYTES))
        f[f"act_{p['act']}"] = 1.0
    elif kind == "pool":
        f.update(pad=float(p["pad"]), mode_max=float(p["mode"] == "max"))
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
    return f


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
