"""A toy hwlat plugin: one runtime, one search space, one strategy and one accuracy source, each
one class plus one registration in :func:`register` (the ``hwlat.plugins`` entry point)."""

from __future__ import annotations

import numpy as np

from hwlat.errors import InputError
from hwlat.ops.spec import conv, fc, gap
from hwlat.profiler.runtimes.ort import OnnxRuntime
from hwlat.search.accuracy import AccuracySource
from hwlat.search.strategies import Strategy
from hwlat.spaces.base import Part, SearchSpace, as_rng

__all__ = ["ToyOrt", "ToyChain", "CoordinateDescent", "WidthAccuracy", "register"]


class ToyOrt(OnnxRuntime):
    """ONNX Runtime with basic graph optimisation only, registered under a name of its own."""

    name = "toy-ort"
    providers = ("cpu",)

    def __init__(self, **kwargs):
        options = {"graph_optimization_level": "basic", **(kwargs.pop("options", None) or {})}
        super().__init__(options=options, **kwargs)


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


class WidthAccuracy(AccuracySource):
    """A made-up accuracy that grows with the widths (wider is better, with diminishing returns)."""

    name = "toy-width"
    kind = "accuracy"
    unit = "%"
    spaces = ("toy-chain",)
    label = "the toy width accuracy"

    def evaluate(self, archs):
        return np.array([50 + 10 * sum(np.log2(w / 4) for w in a) / 3 for a in archs], dtype=np.float64)


def width_accuracy(rest, space, **kw):
    return WidthAccuracy(space)


def register():
    from hwlat.registry import ACCURACY, RUNTIMES, SPACES, STRATEGIES

    RUNTIMES.register("toy-ort", "hwlat_toy:ToyOrt", providers=("cpu",), model_format="onnx")
    SPACES.register("toy-chain", "hwlat_toy:ToyChain")
    STRATEGIES.register("toy-descent", "hwlat_toy:CoordinateDescent")
    ACCURACY.register("toy-width", "hwlat_toy:width_accuracy", syntax="toy-width:")
