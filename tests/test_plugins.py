"""A space and a strategy added from outside hwlat: one class and one registration each, then
the registry, the conformance suites, run_search and the command line know them."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.ops.spec import conv, fc, gap
from hwlat.registry import SPACES, STRATEGIES
from hwlat.search import get_space, make_strategy, run_search
from hwlat.search.strategies import Strategy
from hwlat.spaces.base import Part, SearchSpace, as_rng
from hwlat.testing.space import SearchSpaceContract
from hwlat.testing.strategy import GeneCostLatency, GeneScoreAccuracy, StrategyContract

WIDTHS = (8, 16, 24)


class ToyChain(SearchSpace):
    """Three 3x3 convs whose widths are searched, then pooling and a classifier."""

    name = "toy-chain"

    def __init__(self, resolution: int = 16) -> None:
        self.resolution = int(resolution)

    def config(self):
        return {"resolution": self.resolution}

    def with_resolutions(self, resolutions):
        (r,) = resolutions
        return ToyChain(resolution=int(r))

    def _sample_one(self, rng):
        return tuple(int(WIDTHS[i]) for i in rng.integers(0, len(WIDTHS), 3))

    def mutate(self, arch, rng_or_seed):
        rng, a = as_rng(rng_or_seed), list(self._check(arch))
        i = int(rng.integers(3))
        a[i] = int(rng.choice([w for w in WIDTHS if w != a[i]]))
        return tuple(a)

    def _check(self, arch):
        if not isinstance(arch, tuple) or len(arch) != 3 or any(w not in WIDTHS for w in arch):
            raise InputError(f"a toy-chain arch is 3 widths from {WIDTHS}, got {arch!r}")
        return arch

    def validate(self, arch):
        self._check(arch)

    def input_shape(self, arch=None):
        return (3, self.resolution, self.resolution)

    def _layer(self, i, cin, w):
        return conv((cin, self.resolution, self.resolution), w, 3, act="relu")

    def ops(self, arch):
        out, cin = [], 3
        for i, w in enumerate(self._check(arch)):
            out.append(self._layer(i, cin, w))
            cin = w
        pooled = gap((cin, self.resolution, self.resolution))
        return out + [pooled, fc(pooled.output_shape, 10)]

    def all_ops(self, **kw):
        out, seen = [], set()
        for g in np.ndindex(*self.gene_sizes()):
            for s in self.ops(self.from_genes(g)):
                if s not in seen:
                    seen.add(s)
                    out.append(s)
        return out

    def encode(self, arch):
        return "-".join(map(str, self._check(arch)))

    def decode(self, text):
        try:
            return self._check(tuple(int(x) for x in str(text).split("-")))
        except ValueError:
            raise InputError(f"a toy-chain arch string is three widths like 8-16-24, got {text!r}") from None

    def size(self):
        return len(WIDTHS) ** 3

    def gene_sizes(self):
        return (len(WIDTHS),) * 3

    def to_genes(self, archs):
        return np.array([[WIDTHS.index(w) for w in self._check(a)] for a in archs], dtype=np.int64).reshape(-1, 3)

    def from_genes(self, genes):
        g = [int(x) for x in genes]
        if len(g) != 3 or not all(0 <= x < len(WIDTHS) for x in g):
            raise InputError(f"a toy-chain gene vector is 3 integers in 0..{len(WIDTHS) - 1}, got {g}")
        return tuple(WIDTHS[x] for x in g)

    def parts(self):
        return [Part("whole", (0, 1, 2))]

    def part_ops(self, part, values):
        return self.ops(self.from_genes(values))


class CoordinateDescent(Strategy):
    """Random rows first, then mutations of the best row seen so far."""

    name = "toy-descent"

    def ask(self, n, archive):
        if archive.n == 0:
            return self.random_genes(n)
        best = int(np.argmax(archive.accuracy))
        return self.mutate(np.repeat(archive.genes[best:best + 1], n, axis=0))


@pytest.fixture(autouse=True, scope="module")
def registered():
    SPACES.register("toy-chain", ToyChain)
    STRATEGIES.register("toy-descent", CoordinateDescent)
    yield
    SPACES.unregister("toy-chain")
    STRATEGIES.unregister("toy-descent")


class TestToySpace(SearchSpaceContract):
    def make_space(self):
        return ToyChain()


class TestToyStrategy(StrategyContract):
    n_evals = 40

    def make_strategy(self):
        return CoordinateDescent(batch_size=4)


def test_the_toys_are_found_by_name():
    space = get_space("toy-chain", resolution=8)
    assert isinstance(space, ToyChain) and space.input_shape() == (3, 8, 8)
    res = run_search(space, GeneCostLatency(space), GeneScoreAccuracy(space), "toy-descent", n_evals=20,
                     progress=False, batch_size=5)
    assert res.strategy == "toy-descent" and res.n_evals == 20
    assert isinstance(make_strategy("toy-descent"), CoordinateDescent)


def test_the_command_line_knows_the_toys(capsys):
    from hwlat.cli import build_parser, main

    args = build_parser().parse_args(["search", "--device", "cpu-ort", "--space", "toy-chain", "--strategy",
                                      "toy-descent", "-o", "out"])
    assert (args.space, args.strategy) == ("toy-chain", "toy-descent")
    assert main(["ops", "list", "--space", "toy-chain", "--resolution", "12", "--format", "keys"]) == 0
    keys = capsys.readouterr().out.split()
    assert keys == [s.key for s in ToyChain(resolution=12).all_ops()]
