"""``OpSpec``: the vocabulary of what gets measured.

An ``OpSpec`` is a frozen, hashable description of one operator or block at one input shape
(batch 1, channels-first ``(C, H, W)``, or ``(C,)`` for a fully connected layer). Its canonical
string key is what latency tables are indexed by, e.g.::

    conv:3x32x32:act=none,bn=1,cout=16,dil=1,groups=1,k=3,pre_act=none,s=1

One computation has exactly one key: a depthwise convolution is a ``conv`` with
``groups == C``, a pointwise one is a ``conv`` with ``k == 1`` (see :func:`dwconv` and
:func:`pwconv`).

The *tensor kinds* (``matmul``, ``softmax``, ``layernorm``, ``eltwise``, ``transpose``,
``split``, ``slice``, ``cat``) are the kernels of transformers and of the tensor plumbing of
CNNs. Their shapes have no channels-first meaning: ``input_shape`` is the tensor's shape without
the batch axis, in the canonical form :mod:`hwlat.ops.canonical` gives it (size-1 axes dropped,
axes that move together merged), so that one computation has one key across models.
"""

from __future__ import annotations

import difflib
import functools
import math
from dataclasses import dataclass
from typing import Any

from hwlat.errors import InputError

__all__ = [
    "OpSpec",
    "KINDS",
    "ACTIVATIONS",
    "make_divisible",
    "conv",
    "dwconv",
    "pwconv",
    "mbconv",
    "pool",
    "gap",
    "fc",
    "add",
    "concat",
    "act",
    "bn",
    "resblock",
    "identity",
    "TENSOR_KINDS",
]

Value = int | float | str

ACTIVATIONS = ("none", "relu", "relu6", "hswish", "hsigmoid", "sigmoid", "swish", "gelu", "tanh")

#: kinds whose input is a plain tensor (any rank), not a channels-first feature map
TENSOR_KINDS = ("matmul", "softmax", "layernorm", "eltwise", "transpose", "split", "slice", "cat")

# kind -> {param: default or REQUIRED}; the order does not matter (keys are sorted)
_REQUIRED = object()
KINDS: dict[str, dict[str, Any]] = {
    # Convolution + (folded) batch norm + activation. pre_act='relu' gives ReLU-Conv-BN.
    # ``pad`` -1 is the symmetric dil*(k-1)//2 ("same" at stride 1); another value is a symmetric
    # padding of that many pixels (a patch embedding's k=s, pad=0).
    "conv": {"cout": _REQUIRED, "k": _REQUIRED, "s": 1, "groups": 1, "dil": 1, "bn": 1,
             "act": "none", "pre_act": "none", "pad": -1},
    # Inverted residual / MBConv: [1x1 expand] -> kxk depthwise -> [SE] -> 1x1 project (+ residual).
    # ``mid`` is the expanded channel count; mid == C means no expansion layer (expand ratio 1).
    "mbconv": {"cout": _REQUIRED, "k": _REQUIRED, "s": 1, "mid": _REQUIRED, "se": 0,
               "act": "relu6", "res": 0},
    # Pooling with symmetric padding ``pad``; average pooling excludes the padding.
    "pool": {"mode": "avg", "k": _REQUIRED, "s": 1, "pad": 0},
    # Global average pooling: (C, H, W) -> (C, 1, 1).
    "gap": {},
    # Fully connected: (C,) or (C, H, W) -> (cout,); with H*W > 1 a global average pool comes
    # first (the "Logits" block of MobileNet tables). An input of (C, 1, 1) is keyed as (C,).
    "fc": {"cout": _REQUIRED, "bias": 1},
    # Elementwise sum of n tensors of the input shape.
    "add": {"n": 2},
    # Channel concatenation of n tensors of the input shape.
    "concat": {"n": 2},
    # A standalone activation, on (C, H, W) or on a tensor of any other rank (flattened to (N,)).
    "act": {"fn": _REQUIRED},
    # A standalone (unfolded) batch norm followed by an activation.
    "bn": {"act": "none"},
    # ResNet basic block (NAS-Bench-201 reduction): ReLU-Conv(k,s)-BN, ReLU-Conv(k,1)-BN,
    # shortcut AvgPool(2,2)+Conv1x1 when s==2 or C != cout, else identity; then add.
    "resblock": {"cout": _REQUIRED, "k": 3, "s": 2},
    # Identity (skip connection): costs nothing inside a model; kept so that spaces can list it.
    "identity": {},
    # -- tensor kinds (input: a plain tensor, batch axis dropped) --
    # (B, M, K) @ (K, n) [+ bias] with a constant weight (w=1, a linear layer on tokens), or
    # (B, M, K) @ (B, K, n) of two activations (w=0, attention's products).
    "matmul": {"n": _REQUIRED, "w": 1, "bias": 0},
    # Softmax over the last axis of (R, L).
    "softmax": {},
    # Layer normalisation over the last axis of (R, D) with scale and shift; skip=1 adds a
    # residual input first (ONNX Runtime's SkipLayerNormalization).
    "layernorm": {"skip": 0},
    # Binary elementwise op of the input and an operand of shape ``rhs`` (same rank, each axis the
    # input's size or 1: broadcast), a constant (const=1) or a second input (const=0).
    "eltwise": {"op": _REQUIRED, "rhs": _REQUIRED, "const": 0},
    # Axis permutation ``perm`` of the input (axes joined by '_', e.g. 0_2_1_3).
    "transpose": {"perm": _REQUIRED},
    # (A, S, B) split into n equal parts along the middle axis.
    "split": {"n": 2},
    # (A, S, B) -> (A, len, B): a contiguous slice of the middle axis from ``start``.
    "slice": {"start": 0, "len": _REQUIRED},
    # Concatenation along the middle axis of (A, s_i, B) tensors, s_i listed in ``sizes`` joined
    # by '_' (the first is the input's).
    "cat": {"sizes": _REQUIRED},
}

#: parameters left out of the key while they hold their default (added after tables existed)
_QUIET_DEFAULTS: dict[tuple[str, str], Any] = {("conv", "pad"): -1}

_INT_PARAMS = {"cout", "k", "s", "groups", "dil", "bn", "mid", "se", "res", "pad", "n", "bias", "w", "skip",
               "const", "start", "len"}
STR_PARAMS = {"act", "pre_act", "mode", "fn", "op", "rhs", "perm", "sizes"}
ELTWISE_OPS = ("add", "mul", "sub", "div")
_CHOICES: dict[str, tuple[str, ...] | None] = {
    "act": ACTIVATIONS,
    "pre_act": ("none", "relu"),
    "fn": ACTIVATIONS[1:],
    "mode": ("avg", "max"),
    "op": ELTWISE_OPS,
    "rhs": None,  # free-form, checked by the kind's output shape
    "perm": None,
    "sizes": None,
}


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``v`` to the nearest multiple of ``divisor`` not below 90 % of ``v``.

    The rule MobileNetV2/V3, ProxylessNAS and Once-for-All use for channel counts.
    """
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


def _conv_out(size: int, k: int, s: int, pad: int, dil: int = 1) -> int:
    return (size + 2 * pad - dil * (k - 1) - 1) // s + 1


@dataclass(frozen=True)
class OpSpec:
    """One operator or block at one input shape (batch 1).

    Build it with :meth:`make` (validated, defaults filled in) or the helpers of this module;
    read its parameters with ``spec["k"]`` or :attr:`param_dict`.
    """

    kind: str
    input_shape: tuple[int, ...]
    params: tuple[tuple[str, Value], ...] = ()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def make(cls, kind: str, input_shape: tuple[int, ...] | list[int], **params: Value) -> OpSpec:
        if kind not in KINDS:
            close = difflib.get_close_matches(str(kind), KINDS, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InputError(f"unknown op kind {kind!r}{hint} (known: {', '.join(KINDS)})")
        schema = KINDS[kind]
        unknown = sorted(set(params) - set(schema))
        if unknown:
            raise InputError(
                f"op {kind!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {', '.join(sorted(schema)) or '(none)'}"
            )
        full: dict[str, Value] = {}
        for name, default in schema.items():
            if name in params:
                full[name] = params[name]
            elif default is _REQUIRED:
                raise InputError(f"op {kind!r} needs parameter {name!r}")
            else:
                full[name] = default
        for name, value in list(full.items()):
            full[name] = _coerce(kind, name, value)
        shape = tuple(int(x) for x in input_shape)
        if kind == "fc" and len(shape) == 3 and shape[1:] == (1, 1):
            shape = shape[:1]  # one computation, one key: fc on (C,1,1) is fc on (C,)
        spec = cls(kind, shape, tuple(sorted(full.items())))
        _ = spec.output_shape  # validates shapes and parameter combinations
        return spec

    @classmethod
    def from_key(cls, key: str) -> OpSpec:
        """Parse a canonical key (the inverse of :attr:`key`)."""
        parts = key.strip().split(":")
        if len(parts) not in (2, 3):
            raise InputError(
                f"malformed op key {key!r}; expected 'kind:CxHxW:name=value,...' "
                "e.g. 'conv:3x32x32:cout=16,k=3'"
            )
        kind, shape_s = parts[0], parts[1]
        try:
            shape = tuple(int(x) for x in shape_s.split("x"))
        except ValueError:
            raise InputError(f"malformed input shape {shape_s!r} in op key {key!r}; expected e.g. 16x32x32") from None
        params: dict[str, Value] = {}
        if len(parts) == 3 and parts[2]:
            for item in parts[2].split(","):
                name, sep, value = item.partition("=")
                if not sep:
                    raise InputError(f"malformed parameter {item!r} in op key {key!r}; expected name=value")
                params[name] = value
        return cls.make(kind, shape, **params)

    # -- views ----------------------------------------------------------------------------------
    @functools.cached_property
    def key(self) -> str:
        """The canonical key (computed once per spec)."""
        shape = "x".join(str(x) for x in self.input_shape)
        body = ",".join(f"{k}={_fmt(v)}" for k, v in self.key_params)
        return f"{self.kind}:{shape}:{body}" if body else f"{self.kind}:{shape}"

    @property
    def key_params(self) -> tuple[tuple[str, Value], ...]:
        """The parameters the key shows: all but those that hold a default added after tables existed."""
        return tuple((k, v) for k, v in self.params if _QUIET_DEFAULTS.get((self.kind, k), _REQUIRED) != v)

    @property
    def param_dict(self) -> dict[str, Value]:
        return dict(self.params)

    def __getitem__(self, name: str) -> Value:
        for k, v in self.params:
            if k == name:
                return v
        raise KeyError(name)

    def replace(self, **changes: Any) -> OpSpec:
        """A copy with some parameters (or ``input_shape``) changed."""
        shape = changes.pop("input_shape", self.input_shape)
        return OpSpec.make(self.kind, shape, **{**self.param_dict, **changes})

    def __str__(self) -> str:
        return self.key

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Output shape (batch 1, channels first); raises InputError when parameters clash."""
        p = self.param_dict
        shape = self.input_shape
        k = self.kind
        if k == "fc":
            if len(shape) not in (1, 3) or min(shape) < 1:
                raise InputError(f"fc takes input (C,) or (C, H, W), got {shape}")
            return (int(p["cout"]),)
        if k in TENSOR_KINDS or (k == "act" and len(shape) != 3):
            from hwlat.ops.canonical import tensor_output_shape

            return tensor_output_shape(k, shape, p)
        if len(shape) != 3 or min(shape) < 1:
            raise InputError(f"op {k!r} takes input shape (C, H, W) with positive sizes, got {shape}")
        c, h, w = shape
        if k == "conv":
            g, cout, ks, s, d = (int(p[n]) for n in ("groups", "cout", "k", "s", "dil"))
            if c % g or cout % g:
                raise InputError(f"conv groups={g} must divide input channels {c} and cout {cout}")
            pad = conv_pad(self)
            out = (cout, _conv_out(h, ks, s, pad, d), _conv_out(w, ks, s, pad, d))
            if min(out) < 1:
                raise InputError(f"conv k={ks} s={s} pad={pad} leaves no output of a {h}x{w} input")
            return out
        if k == "mbconv":
            ks, s = int(p["k"]), int(p["s"])
            if p["res"] and (s != 1 or c != p["cout"]):
                raise InputError(f"mbconv residual needs stride 1 and cout == C, got s={s}, C={c}, cout={p['cout']}")
            if int(p["mid"]) < c:
                raise InputError(f"mbconv mid channels {p['mid']} must be >= input channels {c}")
            pad = (ks - 1) // 2
            return (int(p["cout"]), _conv_out(h, ks, s, pad), _conv_out(w, ks, s, pad))
        if k == "pool":
            ks, s, pad = int(p["k"]), int(p["s"]), int(p["pad"])
            if pad * 2 >= ks + 1 and ks > 1:
                raise InputError(f"pool padding {pad} too large for kernel {ks}")
            return (c, _conv_out(h, ks, s, pad), _conv_out(w, ks, s, pad))
        if k == "gap":
            return (c, 1, 1)
        if k in ("add", "act", "bn", "identity"):
            if k == "add" and int(p["n"]) < 2:
                raise InputError("add needs n >= 2 inputs")
            return shape
        if k == "concat":
            if int(p["n"]) < 2:
                raise InputError("concat needs n >= 2 inputs")
            return (c * int(p["n"]), h, w)
        if k == "resblock":
            ks, s = int(p["k"]), int(p["s"])
            return (int(p["cout"]), _conv_out(h, ks, s, (ks - 1) // 2), _conv_out(w, ks, s, (ks - 1) // 2))
        raise AssertionError(k)  # pragma: no cover

    @property
    def n_inputs(self) -> int:
        if self.kind in ("add", "concat"):
            return int(self["n"])
        if self.kind == "eltwise":
            return 2 - int(self["const"])
        if self.kind == "cat":
            return len(str(self["sizes"]).split("_"))
        if self.kind == "layernorm":
            return 1 + int(self["skip"])
        if self.kind == "matmul":
            return 2 - int(self["w"])
        return 1

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """The shape of each input (they differ for ``eltwise``, ``cat`` and ``matmul`` with w=0)."""
        if self.kind in TENSOR_KINDS and self.n_inputs > 1:
            from hwlat.ops.canonical import tensor_input_shapes

            return tensor_input_shapes(self)
        return [self.input_shape] * self.n_inputs

    @property
    def flops(self) -> int:
        """Multiply-accumulate count x2 (FLOPs) of the op, batch 1; elementwise ops count 1 per element."""
        return _flops(self)


def _fmt(v: Value) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def conv_pad(spec: OpSpec) -> int:
    """The symmetric padding (pixels) of a ``conv`` spec."""
    pad = int(spec["pad"])
    return int(spec["dil"]) * (int(spec["k"]) - 1) // 2 if pad < 0 else pad


def _coerce(kind: str, name: str, value: Value) -> Value:
    if (kind, name) == ("conv", "pad") and str(value).strip() == "-1":
        return -1
    if name in _INT_PARAMS:
        try:
            if isinstance(value, bool):
                iv = int(value)
            elif isinstance(value, float) and not value.is_integer():
                raise ValueError
            else:
                iv = int(value)
        except (TypeError, ValueError):
            raise InputError(f"op {kind!r}: parameter {name!r} must be an integer, got {value!r}") from None
        if iv < 0 or (iv == 0 and name in {"cout", "k", "s", "groups", "dil", "mid", "n", "len"}):
            raise InputError(f"op {kind!r}: parameter {name!r} must be positive, got {iv}")
        if name in {"bn", "se", "res", "bias", "w", "skip", "const"} and iv not in (0, 1):
            raise InputError(f"op {kind!r}: parameter {name!r} is 0 or 1, got {iv}")
        return iv
    if name in STR_PARAMS:
        sv = str(value)
        choices = _CHOICES[name]
        if choices is None:  # lists join with '_' (',' separates a key's parameters)
            return sv.replace(" ", "").replace(",", "_")
        if sv not in choices:
            raise InputError(f"op {kind!r}: parameter {name!r} must be one of {', '.join(choices)}, got {sv!r}")
        return sv
    raise AssertionError(name)  # pragma: no cover


def _flops(spec: OpSpec) -> int:
    if spec.kind in TENSOR_KINDS:
        from hwlat.ops.canonical import tensor_flops

        return tensor_flops(spec)
    p = spec.param_dict
    out = spec.output_shape
    n_out = math.prod(out)
    c = spec.input_shape[0]
    if spec.kind == "conv":
        return 2 * n_out * (c // int(p["groups"])) * int(p["k"]) ** 2
    if spec.kind == "mbconv":
        _, h, w = spec.input_shape
        mid, k = int(p["mid"]), int(p["k"])
        _, ho, wo = out
        f = 0
        if mid != c:
            f += 2 * h * w * c * mid
        f += 2 * ho * wo * mid * k * k
        if p["se"]:
            r = make_divisible(mid // 4, 8)
            f += 4 * mid * r + ho * wo * mid * 2
        f += 2 * ho * wo * mid * int(p["cout"])
        return f
    if spec.kind == "fc":
        pooled = math.prod(spec.input_shape) if math.prod(spec.input_shape[1:]) > 1 else 0
        return 2 * c * int(p["cout"]) + pooled
    if spec.kind == "pool":
        return n_out * int(p["k"]) ** 2
    if spec.kind == "resblock":
        cout, k = int(p["cout"]), int(p["k"])
        _, ho, wo = out
        f = 2 * ho * wo * cout * c * k * k + 2 * ho * wo * cout * cout * k * k
        if int(p["s"]) != 1 or c != cout:
            f += 2 * ho * wo * c * cout
        return f
    if spec.kind in ("add", "concat"):
        return math.prod(spec.input_shape) * (spec.n_inputs - 1)
    return math.prod(spec.input_shape)


# -- convenience constructors ---------------------------------------------------------------------

def conv(input_shape: tuple[int, ...], cout: int, k: int, s: int = 1, *, groups: int = 1, dil: int = 1,
         bn: int = 1, act: str = "none", pre_act: str = "none") -> OpSpec:
    return OpSpec.make("conv", input_shape, cout=cout, k=k, s=s, groups=groups, dil=dil, bn=bn, act=act,
                       pre_act=pre_act)


def dwconv(input_shape: tuple[int, ...], k: int, s: int = 1, *, act: str = "none", bn: int = 1) -> OpSpec:
    """Depthwise convolution: a ``conv`` with ``groups == cout == C``."""
    c = input_shape[0]
    return conv(input_shape, c, k, s, groups=c, act=act, bn=bn)


def pwconv(input_shape: tuple[int, ...], cout: int, *, act: str = "none", bn: int = 1) -> OpSpec:
    """Pointwise (1x1) convolution."""
    return conv(input_shape, cout, 1, 1, act=act, bn=bn)


def mbconv(input_shape: tuple[int, ...], cout: int, k: int, s: int = 1, *, mid: int | None = None,
           expand: float | None = None, se: int = 0, act: str = "relu6", res: int | None = None) -> OpSpec:
    """MBConv block; give ``mid`` channels or an ``expand`` ratio (mid = make_divisible(C*expand, 8))."""
    c = input_shape[0]
    if mid is None:
        if expand is None:
            raise InputError("mbconv needs mid or expand")
        mid = c if expand == 1 else make_divisible(round(c * expand), 8)
    if res is None:
        res = int(s == 1 and c == cout)
    return OpSpec.make("mbconv", input_shape, cout=cout, k=k, s=s, mid=mid, se=se, act=act, res=res)


def pool(input_shape: tuple[int, ...], k: int, s: int = 1, *, mode: str = "avg", pad: int | None = None) -> OpSpec:
    return OpSpec.make("pool", input_shape, mode=mode, k=k, s=s, pad=(k - 1) // 2 if pad is None else pad)


def gap(input_shape: tuple[int, ...]) -> OpSpec:
    return OpSpec.make("gap", input_shape)


def fc(input_shape: tuple[int, ...], cout: int, *, bias: int = 1) -> OpSpec:
    return OpSpec.make("fc", input_shape, cout=cout, bias=bias)


def add(input_shape: tuple[int, ...], n: int = 2) -> OpSpec:
    return OpSpec.make("add", input_shape, n=n)


def concat(input_shape: tuple[int, ...], n: int = 2) -> OpSpec:
    return OpSpec.make("concat", input_shape, n=n)


def act(input_shape: tuple[int, ...], fn: str) -> OpSpec:
    return OpSpec.make("act", input_shape, fn=fn)


def bn(input_shape: tuple[int, ...], act: str = "none") -> OpSpec:
    return OpSpec.make("bn", input_shape, act=act)


def resblock(input_shape: tuple[int, ...], cout: int, k: int = 3, s: int = 2) -> OpSpec:
    return OpSpec.make("resblock", input_shape, cout=cout, k=k, s=s)


def identity(input_shape: tuple[int, ...]) -> OpSpec:
    return OpSpec.make("identity", input_shape)
