"""Search spaces: what a network of a space is — genes, op lists, whole graphs, each space with
its own quirks (resolutions, default accuracy source, trainable torch network).

>>> from hwlat.spaces import get_space
>>> space = get_space("nb201")
>>> arch = space.sample(0, 1)[0]
>>> specs = space.ops(arch)          # the OpSpecs a lookup predictor sums
>>> graph = space.build(arch)        # the whole network, for an end-to-end measurement
"""

from __future__ import annotations

from typing import Any

from hwlat.registry import SPACES as _REGISTRY
from hwlat.spaces.base import Arch, RngLike, SearchSpace, as_rng, unique_ops
from hwlat.spaces.nb201 import EDGES, OPERATIONS, NB201Space, load_benchmark_index
from hwlat.spaces.ofa_mbv3 import OFAMobileNetV3Space
from hwlat.spaces.proxyless import ProxylessSpace

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

#: space name -> space class; a new space is one file and one ``SPACES.register(name, "module:Class")``
SPACES = _REGISTRY


def get_space(name: str, **kwargs: Any) -> SearchSpace:
    """The search space registered as ``name`` ("nb201", "ofa-mbv3", "proxyless"), built with ``kwargs``
    (through the space's :meth:`~SearchSpace.from_config`)."""
    return SPACES.get(str(name).strip().lower()).from_config(kwargs)
