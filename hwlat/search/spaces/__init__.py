"""Search spaces: architectures as op lists and as whole networks.

>>> from hwlat.search.spaces import get_space
>>> space = get_space("nb201")
>>> arch = space.sample(0, 1)[0]
>>> specs = space.ops(arch)          # the OpSpecs a lookup predictor sums
>>> graph = space.build(arch)        # the whole network, for an end-to-end measurement
"""

from __future__ import annotations

import difflib
from typing import Any

from hwlat.errors import InputError
from hwlat.search.spaces.base import Arch, RngLike, SearchSpace, as_rng, unique_ops
from hwlat.search.spaces.nb201 import EDGES, OPERATIONS, NB201Space, load_benchmark_index
from hwlat.search.spaces.ofa_mbv3 import OFAMobileNetV3Space
from hwlat.search.spaces.proxyless import ProxylessSpace

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

#: registry name -> space class
SPACES: dict[str, type[SearchSpace]] = {
    NB201Space.name: NB201Space,
    OFAMobileNetV3Space.name: OFAMobileNetV3Space,
    ProxylessSpace.name: ProxylessSpace,
}


def get_space(name: str, **kwargs: Any) -> SearchSpace:
    """The search space registered as ``name`` ("nb201", "ofa-mbv3", "proxyless"), built with ``kwargs``."""
    cls = SPACES.get(str(name).strip().lower())
    if cls is None:
        close = difflib.get_close_matches(str(name), SPACES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown search space {name!r}{hint}; known spaces: {', '.join(SPACES)}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InputError(f"search space {name!r}: {exc}") from None
