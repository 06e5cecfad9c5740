"""Sampling op configurations to profile, for the kernel regressors.

:func:`sample_kernels` draws random, distinct configurations of one op kind over the ranges CNNs
use (nn-Meter-style): channel counts log-uniform over multiples of 8 (3 for an image stem at the
input resolution, or a patch embedding), resolutions
from the usual pyramid plus odd sizes, kernel sizes 1/3/5/7, strides 1/2, the common activations;
convolutions include depthwise (``groups == C``), grouped (ResNeXt/RegNet group widths) and
pointwise (``k == 1``) ones; most have ``cout`` a usual multiple of ``cin``. Sizes are
bounded by FLOPs and tensor size so that each op runs in about 20 ms or less on one CPU core.

:func:`adaptive_sample` is nn-Meter's adaptive data sampling: fit a regressor on what has been
measured, find the configurations it predicts worst (out-of-fold relative error), sample new
configurations near them by perturbing one or two parameters, measure those, repeat.

For ``hwlat profile --kernels conv,pool --samples N``::

    specs = kernel_specs(["conv", "pool"], N, seed=seed)
    profile_ops(specs, device, protocol=protocol, out_dir=out)

and with ``--adaptive`` see :mod:`hwlat.predictors.adaptive_sampling`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat.errors import InputError
from hwlat.ops.spec import TENSOR_KINDS, OpSpec, make_divisible

if TYPE_CHECKING:
    pass

__all__ = [
    "DEFAULT_RANGES",
    "KERNEL_KINDS",
    "SAMPLED_KINDS",
    "SAMPLE_WEIGHTS",
    "kernel_specs",
    "perturb",
    "resolve_kinds",
    "sample_kernels",
]

log = logging.getLogger(__name__)

#: kinds :func:`sample_kernels` can sample
SAMPLED_KINDS: tuple[str, ...] = ("conv", "mbconv", "pool", "fc", "add", "gap", "act", "concat", "bn", "resblock",
                                  *TENSOR_KINDS)
#: the kinds ``--kernels all`` samples: every kernel kind (blocks, mbconv and resblock, are left out:
#: no runtime runs them as one kernel)
KERNEL_KINDS: tuple[str, ...] = tuple(k for k in SAMPLED_KINDS if k not in ("mbconv", "resblock"))

#: samples per kind as a multiple of ``samples`` in :func:`kernel_specs`: the kinds that carry most
#: of a network's latency and have the most shape parameters get more
SAMPLE_WEIGHTS: dict[str, int] = {"conv": 12, "matmul": 3, "fc": 2}

#: sampling ranges; override any of them with ``ranges={...}``
DEFAULT_RANGES: dict[str, Any] = {
    "c_min": 8,                # channels: multiples of 8, log-uniform between c_min and c_max
    "c_max": 1024,
    "stem_share": 0.15,        # share of regular convolutions that are an image stem: 3 channels, hw >= hw_max / 2
    "stem_cout": (16, 128),    # output channels of a stem (log-uniform; patch embeddings up to c_max)
    "hw": (7, 14, 28, 56, 112, 224),
    "odd_hw_share": 0.2,       # share of resolutions drawn uniformly from [hw_min, hw_max] instead
    "hw_min": 4,
    "hw_max": 224,
    "k": (1, 3, 5, 7),
    "dw_k": (3, 5, 7),
    "s": (1, 2),
    "act": ("none", "relu", "relu6", "hswish"),
    "conv_types": {"regular": 0.45, "depthwise": 0.2, "pointwise": 0.2, "grouped": 0.15},
    "group_width": (4, 8, 16, 24, 32, 48, 64),  # channels per group of grouped convs (ResNeXt, RegNet)
    "cout_ratio": (1, 1, 2, 0.5, 4, 0.25, 6),  # cout / cin of most convs in real networks
    "cout_ratio_share": 0.7,   # share of regular and pointwise convs with cout = cin x a cout_ratio
    "expand": (1, 3, 4, 6),
    "pool_k": (2, 3, 5),
    "fc_c_max": 2048,
    "fc_cout": (10, 100, 1000),
    "fc_cout_max": 2048,
    "valid_share": 0.08,       # share of convolutions without padding (patch embeddings, 'valid' convs)
    "flat_act_share": 0.3,     # share of activations on a flat tensor (tokens) rather than (C, H, W)
    "max_flops": 3e8,          # FLOPs bound (about 20 ms on one core of a desktop CPU)
    "max_elems": 3_000_000,    # bound on the elements of any input/output/intermediate tensor
}

_MAX_TRIES_PER_SAMPLE = 200


def _ranges(ranges: dict[str, Any] | None) -> dict[str, Any]:
    r = dict(DEFAULT_RANGES)
    if ranges:
        unknown = sorted(set(ranges) - set(DEFAULT_RANGES))
        if unknown:
            raise InputError(f"unknown sampling range(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_RANGES)}")
        r.update(ranges)
    if not 1 <= r["c_min"] <= r["c_max"]:
        raise InputError(f"sampling needs 1 <= c_min <= c_max, got {r['c_min']}, {r['c_max']}")
    return r


def _channels(rng: np.random.Generator, lo: int, hi: int) -> int:
    """A multiple of 8, log-uniform between ``lo`` and ``hi`` (both kept within range)."""
    v = math.exp(rng.uniform(math.log(max(lo, 1)), math.log(hi)))
    c = round(v / 8) * 8
    return int(min(max(c, 8 * math.ceil(lo / 8)), 8 * (hi // 8))) if hi >= 8 else int(max(1, round(v)))


def _hw(rng: np.random.Generator, r: dict[str, Any]) -> int:
    if rng.random() < r["odd_hw_share"]:
        return int(rng.integers(r["hw_min"], r["hw_max"] + 1))
    return int(rng.choice(r["hw"]))


def _choice(rng: np.random.Generator, seq: Sequence[Any]) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _draw(kind: str, rng: np.random.Generator, r: dict[str, Any]) -> OpSpec:
    if kind in TENSOR_KINDS:
        from hwlat.predictors.tensor_sampling import draw_tensor_kind

        return draw_tensor_kind(kind, rng, r)
    hw = _hw(rng, r)
    c = _channels(rng, r["c_min"], r["c_max"])
    acts = tuple(r["act"])
    if kind == "conv":
        types = r["conv_types"]
        t = rng.choice(list(types), p=np.asarray(list(types.values()), dtype=float) / sum(types.values()))
        a = _choice(rng, acts)
        if t == "depthwise":
            return OpSpec.make("conv", (c, hw, hw), cout=c, k=int(_choice(rng, r["dw_k"])),
                               s=int(_choice(rng, r["s"])), groups=c, act=a)
        if t == "grouped":  # cout = cin, as in ResNeXt and RegNet blocks
            gw = int(_choice(rng, r["group_width"]))
            if c % gw or c // gw < 2:
                raise InputError(f"{c} channels do not form groups of {gw}")
            return OpSpec.make("conv", (c, hw, hw), cout=c, k=3, s=int(_choice(rng, r["s"])), groups=c // gw, act=a)
        cout = _channels(rng, r["c_min"], r["c_max"])
        if rng.random() < r["cout_ratio_share"]:
            cout = int(min(max(make_divisible(c * float(_choice(rng, r["cout_ratio"])), 8), r["c_min"]), r["c_max"]))
        if t == "pointwise":
            return OpSpec.make("conv", (c, hw, hw), cout=cout, k=1, s=1, act=a)
        if rng.random() < r["stem_share"]:  # the network's first conv reads the image at full resolution
            c, hw = 3, int(rng.integers(max(r["hw_min"], r["hw_max"] // 2), r["hw_max"] + 1))
            cout = _channels(rng, *r["stem_cout"])
            if rng.random() < 0.3:  # a patch embedding (ViT, Swin, ConvNeXt): k = s, no padding, wide
                k = int(_choice(rng, (4, 8, 16, 32)))
                return OpSpec.make("conv", (c, max(hw, k), max(hw, k)), cout=_channels(rng, 32, r["c_max"]), k=k,
                                   s=k, act="none", pad=0)
            return OpSpec.make("conv", (c, hw, hw), cout=cout, k=int(_choice(rng, (3, 3, 3, 5, 7))), s=2, act=a)
        if rng.random() < r["valid_share"]:  # unpadded: a patch embedding (k = s) or a 'valid' conv
            k = int(_choice(rng, (2, 4, 4, 7, 8, 16)))
            k, s, hw = (k, k, max(hw, k)) if rng.random() < 0.6 else (int(_choice(rng, (1, 3, 7))), 2, hw)
            return OpSpec.make("conv", (c, hw, hw), cout=cout, k=k, s=s, act=a, pad=0)
        pre = "relu" if rng.random() < 0.1 else "none"
        return OpSpec.make("conv", (c, hw, hw), cout=cout, k=int(_choice(rng, r["k"])), s=int(_choice(rng, r["s"])),
                           act=a, pre_act=pre)
    if kind == "mbconv":
        e = _choice(rng, r["expand"])
        mid = c if e == 1 else make_divisible(c * e, 8)
        s = int(_choice(rng, r["s"]))
        cout = c if (s == 1 and rng.random() < 0.4) else _channels(rng, r["c_min"], r["c_max"])
        a = _choice(rng, ("relu", "relu6", "hswish"))
        return OpSpec.make("mbconv", (c, hw, hw), cout=cout, k=int(_choice(rng, r["dw_k"])), s=s, mid=mid,
                           se=int(rng.random() < 0.5), act=a, res=int(s == 1 and cout == c))
    if kind == "pool":
        k = int(_choice(rng, r["pool_k"]))
        s = 2 if k == 2 else int(_choice(rng, r["s"]))
        return OpSpec.make("pool", (c, hw, hw), mode=_choice(rng, ("avg", "max")), k=k, s=s, pad=(k - 1) // 2)
    if kind == "fc":
        cin = _channels(rng, max(16, r["c_min"]), r["fc_c_max"])
        if rng.random() < 0.5:
            cout = int(_choice(rng, r["fc_cout"]))
        else:
            cout = _channels(rng, r["c_min"], r["fc_cout_max"])
        if rng.random() < 0.15:
            side = int(_choice(rng, (7, 4, 5, 8)))
            return OpSpec.make("fc", (cin, side, side), cout=cout, bias=1)
        return OpSpec.make("fc", (cin,), cout=cout, bias=int(rng.random() < 0.9))
    if kind == "add":
        return OpSpec.make("add", (c, hw, hw), n=int(_choice(rng, (2, 2, 2, 3))))
    if kind == "concat":
        return OpSpec.make("concat", (c, hw, hw), n=int(_choice(rng, (2, 2, 3, 4))))
    if kind == "gap":
        return OpSpec.make("gap", (c, hw, hw))
    if kind == "act":
        fn = _choice(rng, ("relu", "relu6", "hswish", "hsigmoid", "sigmoid", "swish", "swish", "gelu", "tanh"))
        if rng.random() < r["flat_act_share"]:  # on tokens or a vector: (N,)
            return OpSpec.make("act", (_channels(rng, 64, 4096) * int(_choice(rng, (1, 49, 64, 196, 197, 784))),),
                               fn=fn)
        return OpSpec.make("act", (c, hw, hw), fn=fn)
    if kind == "bn":
        return OpSpec.make("bn", (c, hw, hw), act=_choice(rng, acts))
    if kind == "resblock":
        s = int(_choice(rng, r["s"]))
        cout = c if (s == 1 and rng.random() < 0.5) else _channels(rng, r["c_min"], r["c_max"])
        return OpSpec.make("resblock", (c, hw, hw), cout=cout, k=3, s=s)
    raise InputError(f"cannot sample op kind {kind!r}; samplable kinds: {', '.join(SAMPLED_KINDS)}")


def _max_elems(spec: OpSpec) -> int:
    sizes = [math.prod(spec.input_shape), math.prod(spec.output_shape)]
    if spec.kind == "mbconv":
        sizes.append(int(spec["mid"]) * spec.input_shape[1] * spec.input_shape[2])
    return max(sizes) * spec.n_inputs


def _within(spec: OpSpec, r: dict[str, Any]) -> bool:
    if spec.flops > r["max_flops"] or _max_elems(spec) > r["max_elems"]:
        return False
    return min(spec.output_shape) >= 1


def _check_kind(kind: str) -> None:
    if kind not in SAMPLED_KINDS:
        raise InputError(f"cannot sample op kind {kind!r}; samplable kinds: {', '.join(SAMPLED_KINDS)}")


def sample_kernels(kind: str, n: int, *, seed: int, ranges: dict[str, Any] | None = None,
                   exclude: Sequence[OpSpec | str] = ()) -> list[OpSpec]:
    """``n`` distinct random configurations of op ``kind`` (deterministic given ``seed``).

    ``ranges`` overrides entries of :data:`DEFAULT_RANGES`; ``exclude`` lists specs (or keys)
    not to return (e.g. those already measured). Raises InputError when the ranges hold fewer
    than ``n`` distinct configurations.
    """
    _check_kind(kind)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"number of samples must be a non-negative integer, got {n!r}")
    r = _ranges(ranges)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), SAMPLED_KINDS.index(kind)]))
    seen = {s.key if isinstance(s, OpSpec) else str(s) for s in exclude}
    out: list[OpSpec] = []
    for _ in range(int(n) * _MAX_TRIES_PER_SAMPLE + 100):
        if len(out) >= n:
            break
        try:
            spec = _draw(kind, rng, r)
        except InputError:
            continue  # a parameter clash (e.g. output smaller than the kernel): draw again
        if spec.key in seen or not _within(spec, r):
            continue
        seen.add(spec.key)
        out.append(spec)
    if len(out) < n:
        raise InputError(f"could only sample {len(out)} distinct {kind} configurations of the {n} asked within "
                         f"the ranges (max_flops={r['max_flops']:g}, max_elems={r['max_elems']}); ask for fewer "
                         "samples or widen the ranges")
    return out


def resolve_kinds(kinds: Sequence[str]) -> list[str]:
    """``kinds`` as given to ``--kernels``: stripped, ``all`` expanded to :data:`KERNEL_KINDS`,
    each once and checked; raises InputError for none or an unknown one."""
    out = list(dict.fromkeys(x for k in kinds if k.strip()
                             for x in (KERNEL_KINDS if k.strip() == "all" else (k.strip(),))))
    if not out:
        raise InputError(f"no op kinds to sample (--kernels); give some of: {', '.join(SAMPLED_KINDS)}")
    for k in out:
        _check_kind(k)
    return out


def kernel_specs(kinds: Sequence[str], samples: int, seed: int, *, ranges: dict[str, Any] | None = None
                 ) -> list[OpSpec]:
    """``samples`` random configurations of each kind in ``kinds`` (times its :data:`SAMPLE_WEIGHTS`),
    concatenated (for ``hwlat profile --kernels``); the kind ``all`` stands for every kernel kind
    (:data:`KERNEL_KINDS`)."""
    kinds = resolve_kinds(kinds)
    out: list[OpSpec] = []
    for k in kinds:
        out.extend(sample_kernels(k, samples * SAMPLE_WEIGHTS.get(k, 1), seed=seed, ranges=ranges))
    return out


# -- adaptive sampling -----------------------------------------------------------------------------

def _neighbour_channels(c: int, rng: np.random.Generator, r: dict[str, Any]) -> int:
    if c < 8:
        return c
    f = float(_choice(rng, (0.5, 0.75, 0.875, 1.125, 1.25, 1.5, 2.0)))
    return int(min(max(make_divisible(c * f, 8), 8 * math.ceil(r["c_min"] / 8)), max(8, 8 * (r["c_max"] // 8))))


def _neighbour_hw(h: int, rng: np.random.Generator, r: dict[str, Any]) -> int:
    f = float(_choice(rng, (0.5, 0.75, 0.9, 1.1, 1.25, 1.5, 2.0)))
    v = round(h * f)
    if v == h:
        v = h + int(_choice(rng, (-1, 1)))
    return int(min(max(v, r["hw_min"]), r["hw_max"]))


def _neighbour_in(v: int, options: Sequence[int], rng: np.random.Generator) -> int:
    opts = sorted({int(o) for o in options} | {int(v)})
    i = opts.index(int(v))
    j = min(max(i + int(_choice(rng, (-1, 1))), 0), len(opts) - 1)
    return opts[j]


def perturb(spec: OpSpec, rng: np.random.Generator, *, ranges: dict[str, Any] | None = None) -> OpSpec | None:
    """A configuration near ``spec``: one or two of its dimensions moved to a neighbouring value.

    Keeps the kind's structure (a depthwise conv stays depthwise, a pointwise one pointwise).
    Returns None when the move gives an invalid or out-of-range configuration.
    """
    r = _ranges(ranges)
    if spec.kind in TENSOR_KINDS:
        return _perturb_tensor(spec, rng, r)
    p = spec.param_dict
    shape = list(spec.input_shape)
    kind = spec.kind
    dims: list[str] = ["c"]
    if len(shape) == 3:
        dims.append("hw")
    depthwise = kind == "conv" and int(p["groups"]) == shape[0] and int(p["cout"]) == shape[0] and shape[0] > 1
    grouped = kind == "conv" and 1 < int(p["groups"]) < shape[0]  # keeps its group width, cout = cin
    if kind in ("conv", "mbconv", "fc", "resblock") and not depthwise and not grouped:
        dims.append("cout")
    if kind in ("conv", "mbconv", "pool") and not (kind == "conv" and int(p["k"]) == 1 and not depthwise):
        dims.append("k")
    if kind in ("conv", "mbconv", "resblock", "pool"):
        dims.append("s")
    if kind == "mbconv":
        dims.append("mid")
    moves = [dims[i] for i in rng.choice(len(dims), size=min(len(dims), int(rng.integers(1, 3))), replace=False)]
    new = dict(p)
    for m in moves:
        if m == "c":
            c = _neighbour_channels(shape[0], rng, r) if kind != "fc" else _neighbour_channels(
                shape[0], rng, {**r, "c_max": r["fc_c_max"]})
            if kind == "mbconv":
                e = int(p["mid"]) / shape[0]
                new["mid"] = c if int(p["mid"]) == shape[0] else make_divisible(c * e, 8)
            if depthwise:
                new["cout"] = new["groups"] = c
            elif grouped:
                width = shape[0] // int(p["groups"])
                if c % width or c // width < 2:
                    return None
                new["cout"], new["groups"] = c, c // width
            shape[0] = c
        elif m == "hw":
            shape[1] = shape[2] = _neighbour_hw(shape[1], rng, r)
        elif m == "cout":
            hi = r["fc_cout_max"] if kind == "fc" else r["c_max"]
            new["cout"] = _neighbour_channels(int(p["cout"]), rng, {**r, "c_max": hi})
        elif m == "k":
            opts = r["pool_k"] if kind == "pool" else (r["dw_k"] if depthwise or kind == "mbconv" else r["k"])
            new["k"] = _neighbour_in(int(p["k"]), opts, rng)
            if kind == "pool":
                new["pad"] = (int(new["k"]) - 1) // 2
                if int(new["k"]) == 2:
                    new["s"] = 2
        elif m == "s":
            new["s"] = 1 if int(p["s"]) == 2 else 2
        elif m == "mid":
            new["mid"] = max(shape[0], _neighbour_channels(int(p["mid"]), rng, {**r, "c_max": 8 * r["c_max"]}))
    if kind == "mbconv":
        new["res"] = int(int(new["s"]) == 1 and int(new["cout"]) == shape[0])
        new["mid"] = max(int(new["mid"]), shape[0])
    if kind == "resblock" and int(new["s"]) == 1 and "cout" not in moves and int(p["cout"]) == spec.input_shape[0]:
        new["cout"] = shape[0]
    try:
        out = OpSpec.make(kind, tuple(shape), **new)
    except InputError:
        return None
    return out if _within(out, r) else None


def _perturb_tensor(spec: OpSpec, rng: np.random.Generator, r: dict[str, Any]) -> OpSpec | None:
    """A neighbour of a tensor-kind spec: one axis (or a matmul's ``n``) scaled, the parameters
    that follow that axis (a broadcast operand, the first concatenated size) kept consistent."""
    from hwlat.ops.canonical import fmt_shape, parse_ints, parse_shape

    p = dict(spec.param_dict)
    shape = list(spec.input_shape)
    f = float(_choice(rng, (0.5, 0.75, 1.25, 1.5, 2.0)))
    if spec.kind == "matmul" and rng.random() < 0.3:
        p["n"] = max(1, round(int(p["n"]) * f))
    else:
        i = int(rng.integers(len(shape)))
        old, new = shape[i], max(1, round(shape[i] * f))
        if spec.kind == "split" and i == 1:
            new = max(1, round(new / int(p["n"]))) * int(p["n"])
        shape[i] = new
        if spec.kind == "eltwise":
            rhs = list(parse_shape(str(p["rhs"])))
            rhs[i] = new if rhs[i] == old and old != 1 else rhs[i]
            p["rhs"] = fmt_shape(rhs)
        elif spec.kind == "cat" and i == 1:
            p["sizes"] = "_".join(map(str, (new, *parse_ints(str(p["sizes"]), "sizes")[1:])))
    try:
        out = OpSpec.make(spec.kind, tuple(shape), **p)
    except InputError:
        return None
    return out if _within(out, r) else None
