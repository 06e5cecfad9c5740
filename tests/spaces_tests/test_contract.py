"""The search-space conformance suite (hwlat.testing.space) over the built-in spaces."""

from __future__ import annotations

from hwlat.spaces import get_space
from hwlat.testing.space import SearchSpaceContract


class TestNB201(SearchSpaceContract):
    def make_space(self):
        return get_space("nb201")


class TestNB201ZeroEdges(SearchSpaceContract):
    def make_space(self):
        return get_space("nb201", none_edges="zero")


class TestOFAMobileNetV3(SearchSpaceContract):
    def make_space(self):
        return get_space("ofa-mbv3", resolutions=[160, 224])


class TestProxyless(SearchSpaceContract):
    def make_space(self):
        return get_space("proxyless", resolution=128)
