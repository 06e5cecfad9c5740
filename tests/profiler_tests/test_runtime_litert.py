from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from hwlat.errors import InputError, UnsupportedOpError  # noqa: E402
from hwlat.ops import build_graph, conv, mbconv, to_tflite  # noqa: E402
from hwlat.ops.ir import Graph, Node  # noqa: E402
from hwlat.profiler.runtimes import get_runtime_class, make_runtime  # noqa: E402
from hwlat.profiler.runtimes.litert import LiteRTRuntime  # noqa: E402
from hwlat.testing.runtime import RuntimeContract, reference_outputs  # noqa: E402


class TestLiteRTXnnpack(RuntimeContract):
    def make(self):
        return LiteRTRuntime(threads=1, provider="xnnpack")


class TestLiteRTBuiltinKernels(RuntimeContract):
    def make(self):
        return LiteRTRuntime(threads=1, provider="none")


def test_registered_under_its_name() -> None:
    assert get_runtime_class("litert") is LiteRTRuntime
    rt = make_runtime("litert", threads=2, provider="none")
    assert (rt.name, rt.model_format, rt.provider, rt.threads) == ("litert", "tflite", "none", 2)
    assert LiteRTRuntime.is_available()
    assert LiteRTRuntime.version()[0].isdigit()


def test_default_provider_is_xnnpack_and_bad_ones_are_rejected() -> None:
    assert LiteRTRuntime().provider == "xnnpack"
    with pytest.raises(InputError, match="xnnpack"):
        LiteRTRuntime(provider="cpu")
    with pytest.raises(InputError, match="threads"):
        LiteRTRuntime(threads=-1)


def test_xnnpack_delegates_and_none_does_not() -> None:
    graph = build_graph(mbconv((16, 14, 14), 24, 5, 2, expand=4, se=1, act="hswish"))
    with LiteRTRuntime(provider="xnnpack").prepare(graph) as px, LiteRTRuntime(provider="none").prepare(graph) as pn:
        assert "DELEGATE" in px.op_names()
        assert "DELEGATE" not in pn.op_names()
        assert "DEPTHWISE_CONV_2D" in pn.op_names()
        np.testing.assert_allclose(px.outputs()[0], pn.outputs()[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", [0, 2])
def test_thread_counts_give_the_same_numbers(threads: int) -> None:
    graph = build_graph(conv((16, 20, 20), 32, 3, act="relu"), seed=2)
    with LiteRTRuntime(threads=threads).prepare(graph, seed=4) as p:
        got = p.outputs()[0]
        want = reference_outputs(graph, p.inputs)[0]
        assert p.time_calls(3).shape == (3,)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_inputs_are_the_graphs_nchw_inputs_and_outputs_are_copies() -> None:
    graph = build_graph(conv((3, 12, 12), 8, 3), seed=0)
    with LiteRTRuntime().prepare(graph, seed=9) as p:
        (x,) = p.inputs
        np.testing.assert_array_equal(x, graph.random_inputs(9)[0])
        a = p.outputs()[0]
        a[...] = 0
        b = p.outputs()[0]
    assert a.shape == b.shape == (1, 8, 12, 12)
    assert np.abs(b).max() > 0


def test_prepare_file_runs_in_the_files_layout(tmp_path) -> None:
    spec = conv((3, 10, 10), 4, 3, 2, act="relu6")
    path = tmp_path / "conv.tflite"
    path.write_bytes(to_tflite(spec, seed=1))
    rt = LiteRTRuntime(provider="none")
    with rt.prepare_file(path, seed=3) as pf, rt.prepare(build_graph(spec, seed=1), seed=3) as pg:
        (x,) = pf.inputs
        assert x.shape == (1, 10, 10, 3) and x.dtype == np.float32  # NHWC, as stored in the file
        out_file = pf.outputs()[0]
        assert out_file.shape == (1, 5, 5, 4)
        assert pf.time_calls(2).shape == (2,)
        # same weights; feed the file the graph's input converted to NHWC and compare
        pf.interpreter.set_tensor(pf.interpreter.get_input_details()[0]["index"],
                                  np.ascontiguousarray(pg.inputs[0].transpose(0, 2, 3, 1)))
        np.testing.assert_allclose(pf.outputs()[0].transpose(0, 3, 1, 2), pg.outputs()[0], rtol=1e-5, atol=1e-6)


def test_bad_files_are_input_errors(tmp_path) -> None:
    rt = LiteRTRuntime()
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"this is not a flatbuffer" * 4)
    with pytest.raises(InputError, match="junk.tflite"):
        rt.prepare_file(junk)
    with pytest.raises(InputError, match="missing.tflite"):
        rt.prepare_file(tmp_path / "missing.tflite")


@pytest.mark.parametrize("provider", ["xnnpack", "none"])
def test_an_op_the_interpreter_refuses_is_named(provider: str) -> None:
    # conv weights for 5 input channels applied to a 4-channel tensor: LiteRT's CONV_2D refuses it
    rng = np.random.default_rng(0)
    node = Node("conv", ["x"], "y", {"stride": 1, "pads": (1, 1, 1, 1), "dil": 1, "groups": 1, "k": 3},
                {"W": rng.standard_normal((8, 5, 3, 3)).astype(np.float32), "b": np.zeros(8, np.float32)})
    graph = Graph(["x"], [node], ["y"], {"x": (4, 6, 6), "y": (8, 6, 6)})
    with pytest.raises(UnsupportedOpError, match="CONV_2D"):
        LiteRTRuntime(provider=provider).prepare(graph)


def test_closed_model_cannot_run() -> None:
    p = LiteRTRuntime().prepare(build_graph(conv((3, 8, 8), 4, 1)))
    p.close()
    with pytest.raises(InputError, match="closed"):
        p.run()
