from __future__ import annotations

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.ops.spec import conv, fc, mbconv
from hwlat.spaces import ProxylessSpace

from ._helpers import expected_counts, primitive_counts, run_onnx


@pytest.fixture(scope="module")
def space() -> ProxylessSpace:
    return ProxylessSpace()


def test_structure(space):
    assert space.n_layers == 21
    assert space.size() == 6 ** 6 * 7 ** 15
    a = ("k3_e6",) * 21
    ops = space.ops(a)
    assert len(ops) == 2 + 21 + 2
    assert ops[0] == conv((3, 224, 224), 32, 3, 2, act="relu6")
    assert ops[1] == mbconv((32, 112, 112), 16, 3, 1, mid=32, act="relu6", res=0)
    assert ops[2] == mbconv((16, 112, 112), 24, 3, 2, mid=96, act="relu6", res=0)
    assert ops[3] == mbconv((24, 56, 56), 24, 3, 1, mid=144, act="relu6", res=1)
    assert ops[-3] == mbconv((192, 7, 7), 320, 3, 1, mid=1152, act="relu6", res=0)
    assert ops[-2] == conv((320, 7, 7), 1280, 1, act="relu6")
    assert ops[-1] == fc((1280, 7, 7), 1000)


def test_zero_layers_skip(space):
    a = list(("k5_e3",) * 21)
    a[1] = a[2] = "zero"
    ops = space.ops(tuple(a))
    assert len(ops) == 2 + 19 + 2
    with pytest.raises(InputError, match="first layer of a stage"):
        space.validate(("zero",) + ("k3_e3",) * 20)


def test_all_ops(space):
    specs = space.all_ops()
    assert len(specs) == len(set(specs)) == 2 + 5 * 12 + 6 + 2
    assert specs == space.all_ops()
    table = set(specs)
    for a in space.sample(4, 200):
        assert set(space.ops(a)) <= table
    assert space.all_ops(resolution=160)[0].input_shape == (3, 160, 160)


def test_encode_decode(space):
    for a in space.sample(2, 50):
        assert space.decode(space.encode(a)) == a
    s = "k3_e6,k5_e3,zero," + ",".join(["k7_e6"] * 18)
    assert space.encode(space.decode(s)) == s


@pytest.mark.parametrize("text, fragment", [
    ("k3_e6,k5_e3", "21 layers"),
    ("k4_e6," + ",".join(["k7_e6"] * 20), "choose from"),
    ("zero," + ",".join(["k7_e6"] * 20), "first layer of a stage"),
])
def test_invalid_strings(space, text, fragment):
    with pytest.raises(InputError) as info:
        space.decode(text)
    msg = str(info.value)
    assert fragment in msg and "a valid one: " in msg
    space.decode(msg.split("a valid one: ")[1])


def test_sample_and_mutate(space):
    assert space.sample(3, 10) == space.sample(3, 10)
    assert space.sample(3, 10) != space.sample(4, 10)
    for i, a in enumerate(space.sample(3, 30)):
        m = space.mutate(a, i)
        assert sum(x != y for x, y in zip(a, m)) == 1
        space.validate(m)


@pytest.mark.parametrize("seed", [0, 1])
def test_build_runs(seed):
    space = ProxylessSpace(resolution=128)
    a = space.sample(seed, 1)[0]
    g = space.build(a, seed=seed)
    assert primitive_counts(g) == expected_counts(space.ops(a))
    out = run_onnx(g)
    assert out.shape == (1, 1000) and np.all(np.isfinite(out))
