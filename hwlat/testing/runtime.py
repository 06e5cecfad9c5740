"""The conformance suite of :class:`~hwlat.profiler.runtimes.Runtime` backends.

Subclass :class:`RuntimeContract` in a pytest test file and define ``make(self) -> Runtime``;
every test of the suite then runs on the runtime it returns (skipped when
``runtime.is_available()`` is false)::

    from hwlat.testing.runtime import RuntimeContract

    class TestMyRuntime(RuntimeContract):
        def make(self):
            return MyRuntime(threads=1, provider="cpu")

Class attributes tune the suite for runtimes that cannot do everything: ``returns_outputs =
False`` for one whose models run only inside a benchmark tool (adb's ``benchmark_model``), then
``outputs()`` must raise an :class:`~hwlat.errors.HwlatError` instead; ``times_scale_with_work =
False`` for one whose times do not come from this run's work (a recorded log); ``rtol``/``atol``
for the comparison with ONNX Runtime's outputs, the numerical reference (which needs
``onnxruntime``). ``make`` may return the same opened runtime every time (one agent for a whole
class): the suite closes a runtime only in its last test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hwlat.errors import HwlatError, UnsupportedOpError
from hwlat.ops import build_graph, conv, fc, mbconv, pool
from hwlat.ops.ir import Graph
from hwlat.profiler.runtimes.base import Prepared, Runtime
from hwlat.registry import RUNTIMES

__all__ = ["RuntimeContract", "reference_outputs", "CONTRACT_SPECS"]

#: the ops whose outputs every runtime must compute like ONNX Runtime
CONTRACT_SPECS = [
    conv((8, 16, 16), 16, 3),
    conv((8, 17, 17), 8, 3, 2, act="relu6"),
    mbconv((16, 14, 14), 24, 5, 2, expand=4, se=1, act="hswish"),
    pool((8, 16, 16), 3),
    fc((32, 4, 4), 10),
]


def reference_outputs(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Outputs of ONNX Runtime (CPU) on the same graph and inputs: the numerical reference."""
    from hwlat.ops.onnx_emit import graph_to_onnx

    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(graph_to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {n: x for n, x in zip(graph.inputs, inputs)})


class RuntimeContract:
    """Subclass with ``make(self) -> Runtime``; each test runs on that runtime (see the module doc)."""

    rtol = 1e-4
    atol = 1e-4
    #: False when a prepared model cannot return its outputs (then ``outputs()`` must raise)
    returns_outputs = True
    #: False when the times do not come from the work done here (a fake device, a recorded log)
    times_scale_with_work = True

    def make(self) -> Runtime:  # pragma: no cover - overridden
        raise NotImplementedError("subclass RuntimeContract and define make(self) -> Runtime")

    @pytest.fixture
    def runtime(self) -> Runtime:
        rt = self.make()
        if not rt.is_available():
            pytest.skip(f"{rt.name} is not available here")
        return rt

    # -- what it declares ----------------------------------------------------------------------------
    def test_declares_name_format_and_providers(self, runtime: Runtime) -> None:
        assert isinstance(runtime, Runtime)
        assert isinstance(runtime.name, str) and runtime.name
        assert isinstance(runtime.model_format, str) and runtime.model_format
        assert isinstance(runtime.providers, tuple) and runtime.providers
        assert runtime.provider in runtime.providers
        assert isinstance(type(runtime).cuda_available(), bool)
        if runtime.name in RUNTIMES:  # the registration's meta, where given, says what the class says
            declared = RUNTIMES.meta(runtime.name).get("providers")
            assert declared is None or tuple(declared) == tuple(runtime.providers)

    def test_version_and_info(self, runtime: Runtime) -> None:
        info = runtime.info()
        assert info["runtime"] == runtime.name
        assert info["runtime_version"] and info["runtime_version"] != "not installed"
        assert info["threads"] == runtime.threads
        assert info["provider"] == runtime.provider

    # -- running graphs ------------------------------------------------------------------------------
    @pytest.mark.parametrize("spec", CONTRACT_SPECS, ids=lambda s: s.kind)
    def test_outputs_match_reference(self, runtime: Runtime, spec: Any) -> None:
        graph = build_graph(spec, seed=3)
        with runtime.prepare(graph, seed=1) as prepared:
            assert isinstance(prepared, Prepared)
            if not self.returns_outputs:
                with pytest.raises(HwlatError):
                    prepared.outputs()
                return
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
            s = prepared.time_samples(3, 2)
        assert t.shape == (20,) and s.shape == (3,)
        assert np.all(t > 0) and np.all(s > 0)
        assert np.median(t) < 1.0  # seconds: a 16-channel 3x3 conv at 32x32 is far below that

    def test_bigger_op_takes_longer(self, runtime: Runtime) -> None:
        if not self.times_scale_with_work:
            pytest.skip("this runtime's times do not come from the work done here")
        small = build_graph(conv((8, 16, 16), 8, 1))
        big = build_graph(conv((64, 64, 64), 64, 3))
        with runtime.prepare(small) as ps, runtime.prepare(big) as pb:
            ps.time_calls(5), pb.time_calls(5)
            ts = np.median(ps.time_calls(30))
            tb = np.median(pb.time_calls(30))
        assert tb > 5 * ts  # ~300x more FLOPs

    # -- model files ---------------------------------------------------------------------------------
    def test_emitted_model_files_load(self, runtime: Runtime, tmp_path: Path) -> None:
        graph = build_graph(conv((8, 16, 16), 8, 3), seed=2)
        if not runtime.model_files:
            with pytest.raises(UnsupportedOpError):
                runtime.prepare_file(tmp_path / f"m.{runtime.model_format}")
            return
        data = runtime.emit(graph)
        assert isinstance(data, bytes) and data
        path = tmp_path / f"m.{runtime.model_format}"
        path.write_bytes(data)
        with runtime.prepare_file(path, seed=0) as from_file:
            assert np.all(from_file.time_calls(3) > 0)
        if not self.returns_outputs:
            return
        with runtime.prepare(graph, seed=1) as prepared:
            want = prepared.outputs()
            inputs = list(prepared.inputs)
        with runtime.prepare_file(path, inputs=inputs) as bound:
            got = bound.outputs()
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=self.rtol, atol=self.atol)

    # -- lifetime (last: a shared runtime is closed here) ----------------------------------------------
    def test_close_is_idempotent_and_a_context_manager(self) -> None:
        rt = self.make()
        if not rt.is_available():
            pytest.skip(f"{rt.name} is not available here")
        with rt as entered:
            assert entered is rt
        rt.close()  # a second close is harmless
