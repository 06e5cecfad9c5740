"""hwlat: a hardware-aware latency toolkit for neural networks.

Profile a device (``hwlat.profiler``), store latency tables (``hwlat.latency_tables``), predict
latency (``hwlat.predictors``) and search under a latency budget (``hwlat.search``).
``import hwlat`` is light: runtimes and torch are imported only when used.
"""

from __future__ import annotations

from hwlat.errors import HwlatError

__version__ = "0.1.0"

__all__ = ["__version__", "HwlatError"]
