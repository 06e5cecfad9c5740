"""The vocabulary of what hwlat measures: op specs and their emitters (ONNX, TFLite, torch)."""

from __future__ import annotations

from hwlat.ops.ir import Graph, GraphBuilder, build_graph
from hwlat.ops.spec import (
    ACTIVATIONS,
    KINDS,
    OpSpec,
    act,
    add,
    bn,
    concat,
    conv,
    dwconv,
    fc,
    gap,
    identity,
    make_divisible,
    mbconv,
    pool,
    pwconv,
    resblock,
)

__all__ = [
    "OpSpec", "KINDS", "ACTIVATIONS", "Graph", "GraphBuilder", "build_graph", "make_divisible",
    "conv", "dwconv", "pwconv", "mbconv", "pool", "gap", "fc", "add", "concat", "act", "bn", "resblock",
    "identity", "to_onnx", "to_tflite", "to_torch",
]


def to_onnx(specs, *, seed: int = 0):
    """An ``onnx.ModelProto`` for an op spec, a chain of specs or a :class:`Graph`."""
    from hwlat.ops.onnx_emit import to_onnx as _to_onnx

    return _to_onnx(specs, seed=seed)


def to_tflite(specs, *, seed: int = 0) -> bytes:
    """A TFLite flatbuffer (bytes, NHWC) for an op spec, a chain of specs or a :class:`Graph`."""
    from hwlat.ops.tflite_emit import to_tflite as _to_tflite

    return _to_tflite(specs, seed=seed)


def to_torch(specs, *, seed: int = 0):
    """A ``torch.nn.Module`` (NCHW, eval mode) for an op spec, a chain of specs or a :class:`Graph`."""
    from hwlat.ops.torch_emit import to_torch as _to_torch

    return _to_torch(specs, seed=seed)
