"""Emit a primitive :class:`~hwlat.ops.ir.Graph` (or op specs) as a ``torch.nn.Module``.

Every primitive becomes a real torch layer with the graph's weights copied in, so the module
computes the same numbers as the ONNX and TFLite emitters' models (float32, NCHW, eval mode):

==========  ==========================================================================
primitive   torch layer
==========  ==========================================================================
conv        ``nn.Conv2d`` (symmetric pads as ``padding=``; asymmetric ones as
            ``nn.ZeroPad2d`` then a padding-0 ``nn.Conv2d``, both in an ``nn.Sequential``)
relu ...    ``nn.ReLU`` / ``nn.ReLU6`` / ``nn.Hardswish`` / ``nn.Hardsigmoid`` / ``nn.Sigmoid``
avgpool     ``nn.AvgPool2d(count_include_pad=False)``
maxpool     ``nn.MaxPool2d``
gap         ``nn.AdaptiveAvgPool2d(1)``
flatten     ``nn.Flatten(1)``
fc          ``nn.Linear``
add, mul    :class:`Add`, :class:`Mul` (``a + b``, ``x * gate`` with broadcasting)
concat      :class:`Concat` (``torch.cat(xs, dim=1)``)
affine      :class:`Affine` (``x * scale + shift`` with ``(1, C, 1, 1)`` buffers)
identity    ``nn.Identity``
swish ...   ``nn.SiLU`` / ``nn.GELU`` / ``nn.Tanh``
matmul      :class:`MatMul` (``x @ W (+ b)`` or ``x @ y``)
softmax     ``nn.Softmax(dim=-1)``
layernorm   :class:`LayerNorm` (``F.layer_norm`` over the last axis, after ``x + r``)
eltwise     :class:`Eltwise` (``x op rhs`` with a constant buffer or a second input)
transpose   :class:`Transpose`; split, slice, cat: :class:`Split`, :class:`Slice`,
            :class:`Cat` (on dim 2: the middle axis of ``(1, A, S, B)``)
==========  ==========================================================================

The result is a :class:`TorchGraph`: an ordered ``nn.ModuleList`` plus the wiring (which tensors
each layer reads), so chains and DAGs (NAS-Bench-201 cells) work alike. Its ``forward`` takes the
graph inputs positionally and returns one tensor, or a tuple when the graph has several outputs;
it can be traced with ``torch.jit.trace`` and exported with ``torch.onnx.export``.

torch is an optional dependency (``pip install 'hwlat[torch]'``), imported only when a module is
built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hwlat._optional import import_optional
from hwlat.errors import UnsupportedOpError
from hwlat.ops.ir import Graph, Node, build_graph
from hwlat.ops.spec import OpSpec

__all__ = ["to_torch", "graph_to_torch"]

_ACT_LAYERS = {"relu": "ReLU", "relu6": "ReLU6", "hswish": "Hardswish", "hsigmoid": "Hardsigmoid",
               "sigmoid": "Sigmoid", "swish": "SiLU", "gelu": "GELU", "tanh": "Tanh"}
_TENSOR_CLASSES = ("MatMul", "LayerNorm", "Eltwise", "Transpose", "Split", "Slice", "Cat")

# The module classes need torch at class-definition time; they are built once, on first use.
_CLASSES: dict[str, type] = {}


def _torch() -> Any:
    return import_optional("torch", "the torch emitter")


def _classes() -> dict[str, type]:
    if _CLASSES:
        return _CLASSES
    _torch()  # MissingDependencyError, naming the extra to install, when torch is missing
    import torch
    from torch import nn

    class Add(nn.Module):
        """Elementwise sum of two tensors of one shape."""

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return a + b

    class Mul(nn.Module):
        """``x * gate`` with broadcasting (a ``(N, C, 1, 1)`` gate scales every channel)."""

        def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
            return x * gate

    class Concat(nn.Module):
        """Concatenation along the channel dimension (dim 1)."""

        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            return torch.cat(xs, dim=1)

    class Affine(nn.Module):
        """Per-channel ``x * scale + shift`` (an unfolded batch norm in eval mode)."""

        def __init__(self, scale: np.ndarray, shift: np.ndarray) -> None:
            super().__init__()
            c = int(scale.shape[0])
            self.register_buffer("scale", _tensor(scale).reshape(1, c, 1, 1))
            self.register_buffer("shift", _tensor(shift).reshape(1, c, 1, 1))
            # what the buffers are, for type checkers (not a class annotation: TorchScript would read it)
            self.scale: torch.Tensor
            self.shift: torch.Tensor

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.scale + self.shift

        def extra_repr(self) -> str:
            return f"channels={self.scale.shape[1]}"

    class MatMul(nn.Module):
        """``x @ W (+ b)`` with constant buffers, or ``x @ y`` of two inputs."""

        def __init__(self, w: np.ndarray | None = None, b: np.ndarray | None = None) -> None:
            super().__init__()
            self.register_buffer("w", None if w is None else _tensor(w))
            self.register_buffer("b", None if b is None else _tensor(b))

        def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
            w: Any = self.w if y is None else y
            out = torch.matmul(x, w)
            b: Any = self.b
            return out if b is None else out + b

    class LayerNorm(nn.Module):
        """Layer normalisation over the last axis, of ``x`` or of ``x + residual``."""

        def __init__(self, scale: np.ndarray, shift: np.ndarray) -> None:
            super().__init__()
            self.register_buffer("scale", _tensor(scale))
            self.register_buffer("shift", _tensor(shift))

        def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
            if residual is not None:
                x = x + residual
            scale: Any = self.scale
            shift: Any = self.shift
            return torch.nn.functional.layer_norm(x, (x.shape[-1],), scale, shift, 1e-5)

    class Eltwise(nn.Module):
        """``x op rhs`` (add, mul, sub, div) with broadcasting; ``rhs`` a buffer or a second input."""

        def __init__(self, op: str, rhs: np.ndarray | None = None) -> None:
            super().__init__()
            self.op = op
            self.register_buffer("rhs", None if rhs is None else _tensor(rhs)[None])

        def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
            y: Any = self.rhs if other is None else other
            if self.op == "add":
                return x + y
            if self.op == "mul":
                return x * y
            if self.op == "sub":
                return x - y
            return x / y

    class Transpose(nn.Module):
        """An axis permutation (batch axis kept first), made contiguous as a runtime's kernel is."""

        def __init__(self, perm: Sequence[int]) -> None:
            super().__init__()
            self.perm = [0, *(int(a) + 1 for a in perm)]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.permute(self.perm).contiguous()

    class Split(nn.Module):
        """The first of ``n`` equal parts along dim 2 (every part is written)."""

        def __init__(self, n: int) -> None:
            super().__init__()
            self.n = n

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            parts = [p.contiguous() for p in torch.chunk(x, self.n, dim=2)]
            return parts[0]

    class Slice(nn.Module):
        """``x[:, :, start:start + len]``, copied."""

        def __init__(self, start: int, length: int) -> None:
            super().__init__()
            self.start, self.length = start, length

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :, self.start:self.start + self.length].contiguous()

    class Cat(nn.Module):
        """Concatenation along dim 2 (the middle axis of ``(1, A, S, B)``)."""

        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            return torch.cat(xs, dim=2)

    class TorchGraph(nn.Module):
        """A primitive graph as a module: ``layers`` run in order, wired by tensor names.

        ``inputs`` / ``outputs`` / ``wiring`` keep the graph's tensor names (``wiring[i]`` is
        ``(input names, output name)`` of ``layers[i]``); ``input_shapes`` are the batch-1 NCHW
        shapes the graph was built for (any batch size works).
        """

        def __init__(self, layers: list[nn.Module], graph: Graph) -> None:
            super().__init__()
            self.layers = nn.ModuleList(layers)
            self.graph_name = graph.name
            self.inputs = list(graph.inputs)
            self.outputs = list(graph.outputs)
            self.wiring = [(tuple(n.inputs), n.output) for n in graph.nodes]
            self.input_shapes = [(1, *graph.shapes[t]) for t in graph.inputs]
            # integer slots: graph inputs first, then each layer's output
            slot = {name: i for i, name in enumerate(self.inputs)}
            for i, n in enumerate(graph.nodes):
                slot[n.output] = len(self.inputs) + i
            self._n_slots = len(self.inputs) + len(graph.nodes)
            self._args = [tuple(slot[t] for t in n.inputs) for n in graph.nodes]
            self._out_slots = [slot[t] for t in self.outputs]
            # free each intermediate after its last reader, as a hand-written forward would
            last: dict[int, int] = {}
            for i, args in enumerate(self._args):
                for s in args:
                    last[s] = i
            keep = set(self._out_slots)
            self._release: list[tuple[int, ...]] = [() for _ in graph.nodes]
            for s, i in last.items():
                if s not in keep:
                    self._release[i] += (s,)

        def forward(self, *xs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
            if len(xs) != len(self.inputs):
                raise TypeError(f"{self.graph_name} takes {len(self.inputs)} input tensor(s), got {len(xs)}")
            env: list[Any] = [*xs, *([None] * (self._n_slots - len(xs)))]
            base = len(xs)
            for i, layer in enumerate(self.layers):
                env[base + i] = layer(*[env[s] for s in self._args[i]])
                for s in self._release[i]:
                    env[s] = None
            if len(self._out_slots) == 1:
                return env[self._out_slots[0]]
            return tuple(env[s] for s in self._out_slots)

        def example_inputs(self, seed: int = 0) -> tuple[torch.Tensor, ...]:
            """Seeded standard-normal float32 inputs of :attr:`input_shapes` (batch 1)."""
            rng = np.random.default_rng(seed)
            return tuple(torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in self.input_shapes)

        def extra_repr(self) -> str:
            return f"name={self.graph_name!r}, inputs={self.input_shapes}"

    for cls in (Add, Mul, Concat, Affine, MatMul, LayerNorm, Eltwise, Transpose, Split, Slice, Cat, TorchGraph):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
        _CLASSES[cls.__name__] = cls
    return _CLASSES


def _tensor(arr: np.ndarray) -> Any:
    torch = _torch()
    return torch.from_numpy(np.array(arr, dtype=np.float32, copy=True))


def to_torch(specs: OpSpec | Sequence[OpSpec] | Graph, *, seed: int = 0) -> Any:
    """A ``torch.nn.Module`` (float32, NCHW, eval mode) for an op spec, a chain of specs, or a graph.

    Weights come from ``seed`` (ignored when a :class:`~hwlat.ops.ir.Graph` is given, which
    carries its own weights).
    """
    graph = specs if isinstance(specs, Graph) else build_graph(specs, seed=seed)
    return graph_to_torch(graph)


def graph_to_torch(graph: Graph) -> Any:
    """The :class:`TorchGraph` module of a primitive graph, weights copied in, in eval mode."""
    classes = _classes()
    layers = [_layer(n, graph) for n in graph.nodes]
    module = classes["TorchGraph"](layers, graph)
    return module.float().eval()


def _layer(n: Node, graph: Graph) -> Any:
    torch = _torch()
    nn = torch.nn
    classes = _classes()
    a = n.attrs
    if n.op == "conv":
        w = n.weights["W"]
        cout, cin_g, k, _ = w.shape
        cin = graph.shapes[n.inputs[0]][0]
        top, left, bottom, right = (int(p) for p in a["pads"])
        symmetric = top == bottom and left == right
        conv = torch.nn.utils.skip_init(
            nn.Conv2d, cin, int(cout), int(k), stride=int(a["stride"]), padding=(top, left) if symmetric else 0,
            dilation=int(a["dil"]), groups=int(a["groups"]), bias="b" in n.weights)
        if cin_g * int(a["groups"]) != cin:
            raise UnsupportedOpError(
                f"conv node {n.output}: weight shape {w.shape} does not match {cin} input channels "
                f"with groups={a['groups']}; rebuild the graph with GraphBuilder")
        conv.weight = nn.Parameter(_tensor(w))
        if "b" in n.weights:
            conv.bias = nn.Parameter(_tensor(n.weights["b"]))
        if symmetric:
            return conv
        return nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)), conv)
    if n.op in _ACT_LAYERS:
        return getattr(nn, _ACT_LAYERS[n.op])()
    if n.op in ("avgpool", "maxpool"):
        top, left, bottom, right = (int(p) for p in a["pads"])
        k = int(a["k"])
        if top != bottom or left != right or 2 * max(top, left) > k:
            raise UnsupportedOpError(
                f"the torch emitter supports pooling with symmetric padding of at most k/2 only; node "
                f"{n.output} has k={k}, pads={a['pads']}; use symmetric pads")
        if n.op == "avgpool":
            return nn.AvgPool2d(k, int(a["stride"]), padding=(top, left), count_include_pad=False)
        return nn.MaxPool2d(k, int(a["stride"]), padding=(top, left))
    if n.op == "gap":
        return nn.AdaptiveAvgPool2d(1)
    if n.op == "flatten":
        return nn.Flatten(1)
    if n.op == "fc":
        w = n.weights["W"]
        fc = torch.nn.utils.skip_init(nn.Linear, int(w.shape[1]), int(w.shape[0]), bias="b" in n.weights)
        fc.weight = nn.Parameter(_tensor(w))
        if "b" in n.weights:
            fc.bias = nn.Parameter(_tensor(n.weights["b"]))
        return fc
    if n.op == "add":
        return classes["Add"]()
    if n.op == "mul":
        return classes["Mul"]()
    if n.op == "concat":
        return classes["Concat"]()
    if n.op == "affine":
        return classes["Affine"](n.weights["scale"], n.weights["shift"])
    if n.op == "identity":
        return nn.Identity()
    if n.op == "matmul":
        return classes["MatMul"](n.weights.get("W"), n.weights.get("b"))
    if n.op == "softmax":
        return nn.Softmax(dim=-1)
    if n.op == "layernorm":
        return classes["LayerNorm"](n.weights["scale"], n.weights["shift"])
    if n.op == "eltwise":
        return classes["Eltwise"](str(a["op"]), n.weights.get("rhs"))
    if n.op == "transpose":
        return classes["Transpose"](a["perm"])
    if n.op == "split":
        return classes["Split"](int(a["n"]))
    if n.op == "slice":
        return classes["Slice"](int(a["start"]), int(a["len"]))
    if n.op == "cat":
        return classes["Cat"]()
    raise UnsupportedOpError(
        f"the torch emitter cannot express primitive {n.op!r} (node {n.output}); "
        "it knows: conv, " + ", ".join(_ACT_LAYERS) + ", avgpool, maxpool, gap, flatten, fc, add, mul, concat, "
        "affine, identity, matmul, softmax, layernorm, eltwise, transpose, split, slice, cat")


def __getattr__(name: str) -> type:
    # TorchGraph, Add, Mul, Concat and Affine exist once torch is imported; this makes them
    # importable (and torch.save / pickle of an emitted module work) without importing torch early.
    if name in ("TorchGraph", "Add", "Mul", "Concat", "Affine", *_TENSOR_CLASSES):
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
