"""Shared helpers of the search-space tests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from hwlat.ops.ir import Graph, build_graph
from hwlat.ops.onnx_emit import graph_to_onnx
from hwlat.ops.spec import OpSpec

#: measured benchmark data kept beside the repository (absent in some checkouts)
DATA_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


def run_onnx(graph: Graph, seed: int = 0, inputs: list[np.ndarray] | None = None) -> np.ndarray:
    """Run the graph in ONNX Runtime (CPU, 1 thread); returns its single output."""
    import onnxruntime as ort

    model = graph_to_onnx(graph)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    xs = graph.random_inputs(seed) if inputs is None else inputs
    feed = {i.name: x for i, x in zip(sess.get_inputs(), xs)}
    (out,) = sess.run(None, feed)
    return out


def primitive_counts(graph: Graph) -> Counter:
    """Multiset of (primitive, output shape) of a graph's nodes that compute something.

    ``flatten`` is left out: (C,1,1) -> (C,) is a reshape of metadata, present in a whole network
    before its classifier but not when the classifier (keyed on (C,)) is lowered alone.
    """
    return Counter((n.op, graph.shapes[n.output]) for n in graph.nodes if n.op != "flatten")


def expected_counts(specs: list[OpSpec]) -> Counter:
    """Multiset of primitives the specs lower to, each lowered on its own."""
    total: Counter = Counter()
    for s in specs:
        total += primitive_counts(build_graph(s))
    return total
