"""Runtime backends. Each is imported lazily: asking for one does not import the others."""

from __future__ import annotations

from hwlat.errors import InputError
from hwlat.profiler.runtimes.base import Prepared, Runtime

__all__ = ["Runtime", "Prepared", "RUNTIMES", "get_runtime_class", "make_runtime"]

#: runtime name -> "module:Class"
RUNTIMES = {
    "onnxruntime": "hwlat.profiler.runtimes.ort:OnnxRuntime",
    "litert": "hwlat.profiler.runtimes.litert:LiteRTRuntime",
    "torch": "hwlat.profiler.runtimes.torch_rt:TorchRuntime",
}


def get_runtime_class(name: str) -> type[Runtime]:
    import importlib

    if name not in RUNTIMES:
        raise InputError(f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}")
    module, cls = RUNTIMES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make_runtime(name: str, **kwargs) -> Runtime:
    """A runtime instance by name (``threads=``, ``provider=``, ``precision=``, ``options=``)."""
    return get_runtime_class(name)(**kwargs)
