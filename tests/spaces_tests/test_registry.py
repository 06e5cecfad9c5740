from __future__ import annotations

import pytest

import hwlat.search as search  # the search part re-exports get_space
from hwlat.errors import InputError
from hwlat.spaces import SPACES, SearchSpace, get_space


def test_registry_names():
    assert list(SPACES) == ["nb201", "ofa-mbv3", "proxyless"]
    for name in SPACES:
        s = get_space(name)
        assert isinstance(s, SearchSpace) and s.name == name
    assert get_space("nb201", num_classes=100).num_classes == 100
    assert search.get_space is get_space


def test_unknown_space_lists_names():
    with pytest.raises(InputError) as info:
        get_space("nb-201")
    assert "nb201, ofa-mbv3, proxyless" in str(info.value)
    with pytest.raises(InputError, match="unexpected keyword"):
        get_space("proxyless", depth=3)


@pytest.mark.parametrize("name", list(SPACES))
def test_common_contract(name):
    s = get_space(name)
    archs = s.sample(0, 5)
    assert s.sample(0, 5) == archs
    assert s.sample(0, 0) == []
    for a in archs:
        s.validate(a)
        assert s.decode(s.encode(a)) == a
        assert s.flops(a) > 0
        assert s.ops(a)[0].input_shape == s.input_shape(a)
    with pytest.raises(InputError):
        s.sample(0, -1)
    with pytest.raises(InputError):
        s.validate(object())
    s.decode(s.example())
