from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hwlat.errors import InputError, UnsupportedOpError  # noqa: E402
from hwlat.ops import GraphBuilder, add, build_graph, conv, gap, mbconv  # noqa: E402
from hwlat.profiler.runtimes import make_runtime  # noqa: E402
from hwlat.profiler.runtimes.torch_rt import TorchRuntime  # noqa: E402
from hwlat.testing.runtime import RuntimeContract, reference_outputs  # noqa: E402


class TestTorchCPUEager(RuntimeContract):
    def make(self):
        return TorchRuntime(threads=1, provider="cpu")


class TestTorchCPUJit(RuntimeContract):
    def make(self):
        return TorchRuntime(threads=1, provider="cpu", options={"mode": "jit"})


def _has_cuda() -> bool:
    return bool(torch.cuda.is_available())


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda(), reason="needs an NVIDIA GPU and a CUDA build of torch")
class TestTorchCUDAEager(RuntimeContract):
    rtol = 1e-3
    atol = 1e-3

    def make(self):
        return TorchRuntime(threads=1, provider="cuda")

    def test_time_calls_use_cuda_events(self, runtime):
        graph = build_graph(conv((64, 56, 56), 64, 3), seed=0)
        with runtime.prepare(graph) as p:
            assert p._args[0].is_cuda
            t = p.time_calls(10)
        assert t.shape == (10,) and np.all(t > 0) and np.all(t < 1.0)


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda(), reason="needs an NVIDIA GPU and a CUDA build of torch")
class TestTorchCUDAJit(RuntimeContract):
    rtol = 1e-3
    atol = 1e-3

    def make(self):
        return TorchRuntime(threads=1, provider="cuda", options={"mode": "jit"})


def test_registered_by_name():
    rt = make_runtime("torch", threads=2, options={"mode": "jit"})
    assert isinstance(rt, TorchRuntime) and rt.threads == 2 and rt.mode == "jit"
    assert rt.name == "torch" and rt.model_format == "torch" and rt.providers == ("cpu", "cuda")
    info = rt.info()
    assert info["options"]["mode"] == "jit"
    assert info["runtime_version"].split("+")[0] == torch.__version__.split("+")[0]
    assert TorchRuntime().info()["options"] == {"mode": "eager"}


def test_is_available_knows_the_provider():
    assert TorchRuntime.is_available() is True
    assert TorchRuntime(provider="cpu").is_available() is True
    assert TorchRuntime(provider="cuda").is_available() is torch.cuda.is_available()
    assert TorchRuntime.is_available(provider="cuda") is torch.cuda.is_available()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where there is no GPU")
def test_cuda_without_gpu_is_a_device_error():
    from hwlat.errors import DeviceError

    with pytest.raises(DeviceError, match="provider 'cpu'"):
        TorchRuntime(provider="cuda").prepare(build_graph(conv((4, 8, 8), 4, 3)))


def test_bad_options_are_rejected():
    with pytest.raises(InputError, match="mode"):
        TorchRuntime(options={"mode": "compile"})
    with pytest.raises(InputError, match="unknown torch runtime option"):
        TorchRuntime(options={"graph_optimization_level": "all"})
    with pytest.raises(InputError, match="provider"):
        TorchRuntime(provider="xnnpack")


def test_model_files_are_refused_with_a_way_out(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"")
    with pytest.raises(UnsupportedOpError, match="prepare_module"):
        TorchRuntime().prepare_file(path)


def test_threads_are_set_while_prepared_and_restored_on_close():
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    rt = TorchRuntime(threads=wanted)
    with rt.prepare(build_graph(conv((8, 16, 16), 8, 3))) as p:
        assert torch.get_num_threads() == wanted
        torch.set_num_threads(before)  # someone else changes the global setting ...
        p.time_calls(2)
        assert torch.get_num_threads() == wanted  # ... and the prepared model takes it back
    assert torch.get_num_threads() == before
    with TorchRuntime(threads=0).prepare(build_graph(conv((8, 16, 16), 8, 3))):
        assert torch.get_num_threads() == before  # 0 = leave torch's default alone


def test_threads_restored_when_models_close_in_preparation_order():
    before = torch.get_num_threads()
    graph = build_graph(conv((8, 16, 16), 8, 3))
    a = TorchRuntime(threads=2 if before != 2 else 3).prepare(graph)
    b = TorchRuntime(threads=1).prepare(graph)
    a.time_calls(1), b.time_calls(1)
    a.close()  # first in, first out, as a profiler closes a chunk of ops
    assert torch.get_num_threads() == 1  # b is still open and holds its setting
    b.close()
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_dag_with_two_outputs(mode):
    b = GraphBuilder(seed=2)
    x = b.input((16, 10, 10))
    y1 = b.apply(conv((16, 10, 10), 16, 3, act="relu"), x)
    y2 = b.apply(add((16, 10, 10)), y1, x)
    z = b.apply(gap((16, 10, 10)), y2)
    graph = b.finish([y2, z])
    with TorchRuntime(options={"mode": mode}).prepare(graph, seed=4) as p:
        got = p.outputs()
        want = reference_outputs(graph, p.inputs)
    assert [g.shape for g in got] == [(1, 16, 10, 10), (1, 16, 1, 1)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_inputs_are_seeded():
    graph = build_graph(conv((8, 16, 16), 8, 3))
    rt = TorchRuntime()
    with rt.prepare(graph, seed=1) as a, rt.prepare(graph, seed=1) as b, rt.prepare(graph, seed=2) as c:
        np.testing.assert_array_equal(a.inputs[0], b.inputs[0])
        assert not np.array_equal(a.inputs[0], c.inputs[0])
        np.testing.assert_array_equal(a.inputs[0], graph.random_inputs(1)[0])


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_prepare_module_times_a_users_module(mode):
    nn = torch.nn
    gen = torch.Generator().manual_seed(0)
    user = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 5))
    with torch.no_grad():
        for p in user.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    user.train()
    rt = TorchRuntime(options={"mode": mode})
    with rt.prepare_module(user, [(2, 3, 8, 8)], seed=3) as p:
        assert not user.training  # put in eval mode
        (out,) = p.outputs()
        t = p.time_calls(5)
    assert out.shape == (2, 5) and np.all(t > 0)
    with torch.inference_mode():
        want = user(torch.from_numpy(p.inputs[0])).numpy()
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_prepare_module_rejects_bad_input():
    with pytest.raises(InputError, match="nn.Module"):
        TorchRuntime().prepare_module(lambda x: x, [(1, 3)])
    with pytest.raises(InputError, match="input_shapes"):
        TorchRuntime().prepare_module(torch.nn.Identity(), [])
    with pytest.raises(InputError, match="input_shapes"):
        TorchRuntime().prepare_module(torch.nn.Identity(), [(1, 0, 4)])


def test_jit_mode_runs_a_frozen_script_module():
    graph = build_graph(mbconv((16, 8, 8), 16, 3, 1, expand=4, se=1, act="hswish"), seed=1)
    with TorchRuntime(options={"mode": "jit"}).prepare(graph) as p:
        assert isinstance(p.module, torch.jit.ScriptModule)
        np.testing.assert_allclose(p.outputs()[0], reference_outputs(graph, p.inputs)[0], rtol=1e-4, atol=1e-4)
