"""Conformance suite every runtime backend passes: subclass ``RuntimeContract`` and set ``make``."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.ops import build_graph, conv, fc, mbconv, pool
from hwlat.ops.onnx_emit import graph_to_onnx
from hwlat.profiler.runtimes.base import Prepared, Runtime


def reference_outputs(graph, inputs):
    """Outputs of ONNX Runtime on the same graph: the numerical reference."""
    import onnxruntime as ort

    sess = ort.InferenceSession(graph_to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {n: x for n, x in zip(graph.inputs, inputs)})


class RuntimeContract:
    """Subclass with ``make(self) -> Runtime``; each test runs on that runtime."""

    rtol = 1e-4
    atol = 1e-4

    def make(self) -> Runtime:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def runtime(self) -> Runtime:
        rt = self.make()
        if not rt.is_available():
            pytest.skip(f"{rt.name} is not available here")
        return rt

    def test_version_and_info(self, runtime: Runtime) -> None:
        info = runtime.info()
        assert info["runtime"] == runtime.name
        assert info["runtime_version"] and info["runtime_version"] != "not installed"
        assert info["threads"] == runtime.threads

    @pytest.mark.parametrize(
        "spec",
        [
            conv((8, 16, 16), 16, 3),
            conv((8, 17, 17), 8, 3, 2, act="relu6"),
            mbconv((16, 14, 14), 24, 5, 2, expand=4, se=1, act="hswish"),
            pool((8, 16, 16), 3),
            fc((32, 4, 4), 10),
        ],
        ids=lambda s: s.kind,
    )
    def test_outputs_match_reference(self, runtime: Runtime, spec) -> None:
        graph = build_graph(spec, seed=3)
        with runtime.prepare(graph, seed=1) as prepared:
            assert isinstance(prepared, Prepared)
            got = prepared.outputs()
            want = reference_outputs(graph, prepared.inputs)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=self.rtol, atol=self.atol)

    def test_time_calls_returns_positive_seconds(self, runtime: Runtime) -> None:
        graph = build_graph(conv((16, 32, 32), 16, 3), seed=0)
        with runtime.prepare(graph) as prepared:
            t = prepared.time_calls(20)
        assert t.shape == (20,)
        assert np.all(t > 0)
        assert np.median(t) < 1.0  # seconds: a 16-channel 3x3 conv at 32x32 is far below that

    def test_bigger_op_takes_longer(self, runtime: Runtime) -> None:
        small = build_graph(conv((8, 16, 16), 8, 1))
        big = build_graph(conv((64, 64, 64), 64, 3))
        with runtime.prepare(small) as ps, runtime.prepare(big) as pb:
            ps.time_calls(5), pb.time_calls(5)
            ts = np.median(ps.time_calls(30))
            tb = np.median(pb.time_calls(30))
        assert tb > 5 * ts  # ~300x more FLOPs
