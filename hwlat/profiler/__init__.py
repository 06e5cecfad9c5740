"""Measuring latency: runtimes, the measurement protocol, op profiling and whole-model breakdowns.

>>> from hwlat.profiler import profile_ops, Protocol          # doctest: +SKIP
>>> from hwlat.spaces import get_space                 # doctest: +SKIP
>>> result = profile_ops(get_space("nb201").all_ops(), "cpu-ort", out_dir="tables/cpu-ort")  # doctest: +SKIP
"""

from __future__ import annotations

from hwlat.profiler.measurement import Measurement
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.runtimes import Prepared, Runtime, get_runtime_class, make_runtime

__all__ = [
    "Measurement", "Protocol", "Runtime", "Prepared", "get_runtime_class", "make_runtime",
    "profile_ops", "measure_specs", "measure_overhead", "ProfileResult",
    "profile_model", "measure_model", "ModelProfile", "runtime_for_device", "open_runtime",
]

_LAZY = {
    "profile_ops": "hwlat.profiler.profile", "measure_specs": "hwlat.profiler.profile",
    "measure_overhead": "hwlat.profiler.profile", "ProfileResult": "hwlat.profiler.profile",
    "profile_model": "hwlat.profiler.model", "measure_model": "hwlat.profiler.model",
    "ModelProfile": "hwlat.profiler.model",
    "runtime_for_device": "hwlat.profiler.transports", "open_runtime": "hwlat.profiler.transports",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hwlat.profiler' has no attribute {name!r}")
