"""Latency-constrained architecture search: search spaces, strategies and Pareto fronts."""

from __future__ import annotations

from hwlat.search.spaces import (
    EDGES,
    OPERATIONS,
    SPACES,
    Arch,
    NB201Space,
    OFAMobileNetV3Space,
    ProxylessSpace,
    RngLike,
    SearchSpace,
    as_rng,
    get_space,
    load_benchmark_index,
    unique_ops,
)

__all__ = [
    "SearchSpace",
    "Arch",
    "RngLike",
    "as_rng",
    "unique_ops",
    "NB201Space",
    "OPERATIONS",
    "EDGES",
    "load_benchmark_index",
    "OFAMobileNetV3Space",
    "ProxylessSpace",
    "SPACES",
    "get_space",
]
