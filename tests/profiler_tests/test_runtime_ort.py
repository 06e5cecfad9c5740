from __future__ import annotations

import pytest

from hwlat.errors import InputError
from hwlat.profiler.runtimes.ort import OnnxRuntime
from hwlat.testing.runtime import RuntimeContract


class TestOnnxRuntimeCPU(RuntimeContract):
    def make(self):
        return OnnxRuntime(threads=1, provider="cpu")


def _has_cuda_ep() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda_ep(), reason="no CUDA execution provider (needs onnxruntime-gpu and an NVIDIA GPU)")
class TestOnnxRuntimeCUDA(RuntimeContract):
    rtol = 1e-3
    atol = 1e-3

    def make(self):
        return OnnxRuntime(threads=1, provider="cuda")


def test_bad_options_are_rejected():
    with pytest.raises(InputError, match="graph_optimization_level"):
        OnnxRuntime(options={"graph_optimization_level": "max"})
    with pytest.raises(InputError, match="provider"):
        OnnxRuntime(provider="tpu")
