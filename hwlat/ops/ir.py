"""A tiny primitive graph that every emitter (ONNX, TFLite, torch) translates.

Lowering an :class:`~hwlat.ops.spec.OpSpec` happens once, here: the spec becomes a few primitive
nodes with concrete weights (drawn from a seeded generator). The three emitters then only map
primitives to their formats, so the same graph gives the same numbers on every runtime.

Shapes are batch-1, channels-first: ``(C, H, W)`` or ``(C,)``. Batch norm is folded into the
preceding convolution (as every deployment toolchain does); a standalone ``bn`` op becomes a
per-channel ``affine``.

Primitives (``Node.op``) and their attributes / weights:

==========  ==========================================  =================
op          attrs                                       weights
==========  ==========================================  =================
conv        stride, pads (top, left, bottom, right),    W (cout, cin/g, k, k), b (cout)
            dil, groups
relu, relu6, hswish, hsigmoid, sigmoid                  -
avgpool     k, stride, pads (count_include_pad=False)   -
maxpool     k, stride, pads                             -
gap         (C,H,W) -> (C,1,1)                           -
flatten     (C,1,1) -> (C,)                              -
fc          -                                           W (cout, cin), b (cout) or absent
add         two inputs, same shape                      -
mul         (C,H,W) * (C,1,1) broadcast                 -
concat      n inputs, along channels                    -
affine      per-channel x*scale+shift                   scale (C), shift (C)
identity    -                                           -
swish, gelu, tanh (any shape; gelu is the exact erf form) -
matmul      (B,M,K) @ W, or @ a second (B,K,N) input    W (K, N), b (N) or absent
softmax     over the last axis                          -
layernorm   over the last axis (+ a residual input)     scale (D), shift (D)
eltwise     op (add/mul/sub/div), broadcast operand     rhs (a constant) or a second input
transpose   perm (of the axes without batch)            -
split       n equal parts of axis 1 of (A,S,B); extra   -
            outputs in ``extra_outputs``
slice       start, len on axis 1 of (A,S,B)             -
cat         concatenation on axis 1 of (A,s_i,B)        -
==========  ==========================================  =================

Tensor-kind primitives (the last eight rows) work on plain tensors of any rank: only the ONNX
and torch emitters express them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwlat.errors import InputError, UnsupportedOpError
from hwlat.ops.canonical import parse_ints, parse_shape
from hwlat.ops.memory import check_op_memory
from hwlat.ops.spec import TENSOR_KINDS, OpSpec, conv_pad, make_divisible

__all__ = ["Node", "Graph", "GraphBuilder", "build_graph", "build_chain", "chainable", "ELEMENTWISE_ACTS"]

ELEMENTWISE_ACTS = ("relu", "relu6", "hswish", "hsigmoid", "sigmoid", "swish", "gelu", "tanh")


@dataclass
class Node:
    op: str
    inputs: list[str]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)  # per op: ints, floats, strings, int sequences
    weights: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Graph:
    """A primitive graph: inputs, nodes in topological order, outputs, and every tensor's shape."""

    inputs: list[str]
    nodes: list[Node]
    outputs: list[str]
    shapes: dict[str, tuple[int, ...]]
    name: str = "hwlat"

    def input_shapes(self) -> list[tuple[int, ...]]:
        return [self.shapes[n] for n in self.inputs]

    def output_shapes(self) -> list[tuple[int, ...]]:
        return [self.shapes[n] for n in self.outputs]

    def random_inputs(self, seed: int = 0) -> list[np.ndarray]:
        """Channels-first float32 inputs with a leading batch dimension of 1."""
        rng = np.random.default_rng(seed)
        return [rng.standard_normal((1, *s)).astype(np.float32) for s in self.input_shapes()]


class GraphBuilder:
    """Builds a :class:`Graph` from op specs; weights come from ``seed``.

    >>> b = GraphBuilder(seed=0)
    >>> x = b.input((3, 32, 32))
    >>> y = b.apply(conv((3, 32, 32), 16, 3), x)   # doctest: +SKIP
    >>> g = b.finish([y])
    """

    def __init__(self, seed: int = 0, name: str = "hwlat") -> None:
        self._rng = np.random.default_rng(seed)
        self._nodes: list[Node] = []
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._inputs: list[str] = []
        self._count = 0
        self._name = name

    # -- tensors --------------------------------------------------------------------------------
    def _new(self, shape: tuple[int, ...], prefix: str = "t") -> str:
        self._count += 1
        name = f"{prefix}{self._count}"
        self._shapes[name] = tuple(int(x) for x in shape)
        return name

    def input(self, shape: Sequence[int]) -> str:
        name = self._new(tuple(shape), prefix="input")
        self._inputs.append(name)
        return name

    def shape(self, tensor: str) -> tuple[int, ...]:
        return self._shapes[tensor]

    def _node(self, op: str, inputs: list[str], shape: tuple[int, ...], attrs: dict | None = None,
              weights: dict[str, np.ndarray] | None = None) -> str:
        out = self._new(shape)
        self._nodes.append(Node(op, list(inputs), out, dict(attrs or {}), dict(weights or {})))
        return out

    def finish(self, outputs: Sequence[str]) -> Graph:
        return Graph(list(self._inputs), list(self._nodes), list(outputs), dict(self._shapes), self._name)

    # -- primitives -----------------------------------------------------------------------------
    def conv(self, x: str, cout: int, k: int, s: int = 1, *, groups: int = 1, dil: int = 1,
             bias: bool = True, pads: tuple[int, int, int, int] | None = None) -> str:
        c, h, w = self.shape(x)
        if pads is None:
            p = dil * (k - 1) // 2
            pads = (p, p, p, p)
        fan_in = (c // groups) * k * k
        W = (self._rng.standard_normal((cout, c // groups, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (self._rng.standard_normal(cout) * 0.1).astype(np.float32)
        ho = (h + pads[0] + pads[2] - dil * (k - 1) - 1) // s + 1
        wo = (w + pads[1] + pads[3] - dil * (k - 1) - 1) // s + 1
        weights = {"W": W, "b": b} if bias else {"W": W}
        return self._node("conv", [x], (cout, ho, wo),
                          {"stride": s, "pads": tuple(pads), "dil": dil, "groups": groups, "k": k}, weights)

    def activation(self, x: str, fn: str) -> str:
        if fn == "none":
            return x
        if fn not in ELEMENTWISE_ACTS:
            raise UnsupportedOpError(f"unknown activation {fn!r}")
        return self._node(fn, [x], self.shape(x))

    def pool(self, x: str, mode: str, k: int, s: int, pad: int) -> str:
        c, h, w = self.shape(x)
        ho = (h + 2 * pad - k) // s + 1
        wo = (w + 2 * pad - k) // s + 1
        return self._node(f"{mode}pool", [x], (c, ho, wo), {"k": k, "stride": s, "pads": (pad,) * 4})

    def gap(self, x: str) -> str:
        return self._node("gap", [x], (self.shape(x)[0], 1, 1))

    def flatten(self, x: str) -> str:
        shape = self.shape(x)
        if len(shape) == 1:
            return x
        if shape[1:] != (1, 1):
            raise InputError(f"cannot flatten {shape} to a vector; apply global pooling first")
        return self._node("flatten", [x], (shape[0],))

    def fc(self, x: str, cout: int, bias: bool = True) -> str:
        x = self.flatten(x)
        (c,) = self.shape(x)
        W = (self._rng.standard_normal((cout, c)) * np.sqrt(1.0 / c)).astype(np.float32)
        weights = {"W": W}
        if bias:
            weights["b"] = (self._rng.standard_normal(cout) * 0.1).astype(np.float32)
        return self._node("fc", [x], (cout,), {}, weights)

    def add(self, xs: Sequence[str]) -> str:
        if len(xs) == 1:
            return xs[0]
        shape = self.shape(xs[0])
        for t in xs[1:]:
            if self.shape(t) != shape:
                raise InputError(f"add of tensors with different shapes {shape} and {self.shape(t)}")
        out = xs[0]
        for t in xs[1:]:
            out = self._node("add", [out, t], shape)
        return out

    def mul(self, x: str, gate: str) -> str:
        return self._node("mul", [x, gate], self.shape(x))

    def concat(self, xs: Sequence[str]) -> str:
        shapes = [self.shape(t) for t in xs]
        if any(s[1:] != shapes[0][1:] for s in shapes):
            raise InputError(f"concat of tensors with different spatial sizes: {shapes}")
        return self._node("concat", list(xs), (sum(s[0] for s in shapes), *shapes[0][1:]))

    def affine(self, x: str) -> str:
        c = self.shape(x)[0]
        scale = self._rng.uniform(0.5, 1.5, c).astype(np.float32)
        shift = (self._rng.standard_normal(c) * 0.1).astype(np.float32)
        return self._node("affine", [x], self.shape(x), {}, {"scale": scale, "shift": shift})

    def identity(self, x: str) -> str:
        return self._node("identity", [x], self.shape(x))

    # -- tensor primitives ----------------------------------------------------------------------
    def matmul(self, x: str, n: int, *, y: str | None = None, bias: bool = False) -> str:
        b, m, k = self.shape(x)
        if y is not None:
            return self._node("matmul", [x, y], (b, m, n))
        weights = {"W": (self._rng.standard_normal((k, n)) * np.sqrt(1.0 / k)).astype(np.float32)}
        if bias:
            weights["b"] = (self._rng.standard_normal(n) * 0.1).astype(np.float32)
        return self._node("matmul", [x], (b, m, n), {}, weights)

    def softmax(self, x: str) -> str:
        return self._node("softmax", [x], self.shape(x))

    def layernorm(self, x: str, residual: str | None = None) -> str:
        d = self.shape(x)[-1]
        weights = {"scale": self._rng.uniform(0.5, 1.5, d).astype(np.float32),
                   "shift": (self._rng.standard_normal(d) * 0.1).astype(np.float32)}
        return self._node("layernorm", [x] + ([residual] if residual else []), self.shape(x), {}, weights)

    def eltwise(self, x: str, op: str, rhs_shape: tuple[int, ...], *, other: str | None = None) -> str:
        if other is not None:
            return self._node("eltwise", [x, other], self.shape(x), {"op": op})
        rhs = self._rng.uniform(0.5, 1.5, rhs_shape).astype(np.float32)  # away from 0: div is safe
        return self._node("eltwise", [x], self.shape(x), {"op": op}, {"rhs": rhs})

    def transpose(self, x: str, perm: Sequence[int]) -> str:
        shape = self.shape(x)
        return self._node("transpose", [x], tuple(shape[a] for a in perm), {"perm": tuple(int(a) for a in perm)})

    def split(self, x: str, n: int) -> str:
        a, s, b = self.shape(x)
        part = (a, s // n, b)
        extra = [self._new(part) for _ in range(n - 1)]
        return self._node("split", [x], part, {"n": n, "extra_outputs": tuple(extra)})

    def slice(self, x: str, start: int, length: int) -> str:
        a, _, b = self.shape(x)
        return self._node("slice", [x], (a, length, b), {"start": start, "len": length})

    def cat(self, xs: Sequence[str]) -> str:
        shapes = [self.shape(t) for t in xs]
        return self._node("cat", list(xs), (shapes[0][0], sum(s[1] for s in shapes), shapes[0][2]))

    # -- op specs -------------------------------------------------------------------------------
    def apply(self, spec: OpSpec, *xs: str) -> str:
        """Lower ``spec`` applied to input tensor(s) ``xs``; returns the output tensor."""
        if len(xs) != spec.n_inputs:
            raise InputError(f"{spec.key} takes {spec.n_inputs} input(s), got {len(xs)}")
        for t, want in zip(xs, spec.input_shapes):
            shape = self.shape(t)
            if spec.kind == "fc" and len(spec.input_shape) == 1 and shape[1:] == (1, 1):
                shape = shape[:1]  # a (C,1,1) tensor feeds an fc on (C,)
            if spec.kind == "act" and math.prod(shape) == math.prod(want) and len(want) != 3:
                shape = want  # an activation on a flattened tensor
            if shape != want:
                raise InputError(f"{spec.key} expects input shape {want}, got {shape}")
        check_op_memory(spec)  # before a weight or an input is drawn
        p = spec.param_dict
        kind = spec.kind
        x = xs[0]
        if kind == "conv":
            if p["pre_act"] != "none":
                x = self.activation(x, str(p["pre_act"]))
            pad = conv_pad(spec)
            x = self.conv(x, int(p["cout"]), int(p["k"]), int(p["s"]), groups=int(p["groups"]), dil=int(p["dil"]),
                          bias=bool(p["bn"]), pads=(pad,) * 4)
            return self.activation(x, str(p["act"]))
        if kind == "mbconv":
            return self._mbconv(x, p)
        if kind == "pool":
            return self.pool(x, str(p["mode"]), int(p["k"]), int(p["s"]), int(p["pad"]))
        if kind == "gap":
            return self.gap(x)
        if kind == "fc":
            if len(spec.input_shape) == 3 and spec.input_shape[1:] != (1, 1):
                x = self.gap(x)
            return self.fc(x, int(p["cout"]), bool(p["bias"]))
        if kind == "add":
            return self.add(xs)
        if kind == "concat":
            return self.concat(xs)
        if kind == "act":
            return self.activation(x, str(p["fn"]))
        if kind == "bn":
            return self.activation(self.affine(x), str(p["act"]))
        if kind == "resblock":
            return self._resblock(x, p)
        if kind == "identity":
            return self.identity(x)
        if kind == "matmul":
            return self.matmul(x, int(p["n"]), y=xs[1] if len(xs) > 1 else None, bias=bool(p["bias"]))
        if kind == "softmax":
            return self.softmax(x)
        if kind == "layernorm":
            return self.layernorm(x, xs[1] if len(xs) > 1 else None)
        if kind == "eltwise":
            return self.eltwise(x, str(p["op"]), parse_shape(str(p["rhs"])), other=xs[1] if len(xs) > 1 else None)
        if kind == "transpose":
            return self.transpose(x, parse_ints(str(p["perm"]), "perm"))
        if kind == "split":
            return self.split(x, int(p["n"]))
        if kind == "slice":
            return self.slice(x, int(p["start"]), int(p["len"]))
        if kind == "cat":
            return self.cat(xs)
        raise UnsupportedOpError(f"no lowering for op kind {kind!r}")  # pragma: no cover

    def _mbconv(self, x: str, p: dict) -> str:
        c = self.shape(x)[0]
        mid, k, s, a = int(p["mid"]), int(p["k"]), int(p["s"]), str(p["act"])
        y = x
        if mid != c:
            y = self.activation(self.conv(y, mid, 1), a)
        y = self.activation(self.conv(y, mid, k, s, groups=mid), a)
        if p["se"]:
            r = make_divisible(mid // 4, 8)
            g = self.gap(y)
            g = self.activation(self.conv(g, r, 1), "relu")
            g = self.activation(self.conv(g, mid, 1), "hsigmoid")
            y = self.mul(y, g)
        y = self.conv(y, int(p["cout"]), 1)
        if p["res"]:
            y = self.add([y, x])
        return y

    def _resblock(self, x: str, p: dict) -> str:
        c = self.shape(x)[0]
        cout, k, s = int(p["cout"]), int(p["k"]), int(p["s"])
        a = self.conv(self.activation(x, "relu"), cout, k, s)
        b = self.conv(self.activation(a, "relu"), cout, k, 1)
        if s == 2:
            sc = self.conv(self.pool(x, "avg", 2, 2, 0), cout, 1, bias=False)
        elif c != cout:
            sc = self.conv(x, cout, 1, bias=False)
        else:
            sc = x
        return self.add([sc, b])


def build_graph(specs: OpSpec | Sequence[OpSpec], *, seed: int = 0, name: str | None = None) -> Graph:
    """The graph of one op spec, or of a chain of specs (each feeding the next).

    A multi-input op (``add``, ``concat``) may only come first in a chain; its inputs become
    the graph's inputs.
    """
    chain = [specs] if isinstance(specs, OpSpec) else list(specs)
    if not chain:
        raise InputError("build_graph needs at least one op spec")
    b = GraphBuilder(seed=seed, name=name or chain[0].kind)
    first = chain[0]
    xs = [b.input(shape) for shape in first.input_shapes]
    y = b.apply(first, *xs)
    for spec in chain[1:]:
        if spec.n_inputs != 1:
            raise InputError(f"{spec.key} takes {spec.n_inputs} inputs and can only start a chain")
        y = b.apply(spec, y)
    return b.finish([y])


def chainable(spec: OpSpec) -> bool:
    """True when ``spec``'s output has its input's shape, so copies of it can follow each other."""
    try:
        return spec.kind != "identity" and tuple(spec.output_shape) == tuple(spec.input_shape)
    except InputError:
        return False


def build_chain(spec: OpSpec, copies: int, *, seed: int = 0) -> Graph:
    """``copies`` copies of ``spec``, each feeding the next: the op timed *in context*, its input
    just written by an op like itself and in the runtime's own layout. A multi-input op (``add``)
    takes the previous copy's output and the graph's input for its other inputs."""
    if copies < 1:
        raise InputError(f"a chain needs at least one copy, got {copies}")
    if not chainable(spec):
        raise InputError(f"{spec.key} changes the shape of its input; copies of it cannot form a chain")
    b = GraphBuilder(seed=seed, name=f"{spec.kind}x{copies}")
    x0 = b.input(spec.input_shape)
    others = [x0] + [b.input(shape) for shape in spec.input_shapes[1:]] if spec.kind in TENSOR_KINDS else \
        [x0] * spec.n_inputs
    y = x0
    for _ in range(copies):
        y = b.apply(spec, y, *others[1:])
    return b.finish([y])
