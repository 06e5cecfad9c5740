"""The common interface of search spaces.

A search space turns an architecture (a small plain-Python value: a tuple of choices or a dict)
into what the rest of hwlat understands:

* :meth:`SearchSpace.ops` — the :class:`~hwlat.ops.spec.OpSpec` list the network executes, in
  execution order, with repeats (what a lookup predictor sums);
* :meth:`SearchSpace.all_ops` — the distinct specs a full latency table needs (what a profiler
  measures);
* :meth:`SearchSpace.build` — the whole network as a primitive :class:`~hwlat.ops.ir.Graph`, to be
  emitted as ONNX / TFLite / torch and measured end to end.

Architectures have a canonical text form (:meth:`SearchSpace.encode` / :meth:`SearchSpace.decode`)
used in files, galleries and on the command line.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Union

import numpy as np

from hwlat.errors import InputError
from hwlat.ops.ir import Graph, GraphBuilder
from hwlat.ops.spec import OpSpec

__all__ = ["SearchSpace", "Part", "Arch", "RngLike", "as_rng", "unique_ops"]

Arch = Any
RngLike = Union[int, np.integer, np.random.Generator]


def as_rng(rng_or_seed: RngLike) -> np.random.Generator:
    """A numpy ``Generator`` from a seed (int) or a generator (returned as is)."""
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    if isinstance(rng_or_seed, (int, np.integer)) and not isinstance(rng_or_seed, bool):
        if int(rng_or_seed) < 0:
            raise InputError(f"a seed must be a non-negative integer, got {rng_or_seed}")
        return np.random.default_rng(int(rng_or_seed))
    raise InputError(
        f"expected an integer seed or a numpy.random.Generator, got {type(rng_or_seed).__name__}; "
        "pass e.g. seed=0 or numpy.random.default_rng(0) so that results can be reproduced"
    )


def unique_ops(specs: Iterable[OpSpec]) -> list[OpSpec]:
    """``specs`` without duplicates, first occurrence order kept."""
    seen: set[OpSpec] = set()
    out: list[OpSpec] = []
    for s in specs:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) < 0:
        raise InputError(f"the number of architectures to sample must be a non-negative integer, got {n!r}")
    return int(n)


@dataclass(frozen=True)
class Part:
    """A piece of every network of a space whose ops depend only on a few genes.

    ``genes`` are indices into the gene vector (:meth:`SearchSpace.to_genes`); the ops of the part
    for given values of those genes come from :meth:`SearchSpace.part_ops`. The parts of a space
    together list every op of every architecture exactly once; that is what lets a lookup
    table predict a million architectures with a few numpy gathers.
    """

    name: str
    genes: tuple[int, ...] = ()


class SearchSpace(ABC):
    """A family of architectures, its op vocabulary and its networks."""

    #: registry name ("nb201", "ofa-mbv3", "proxyless")
    name: ClassVar[str] = ""

    # -- sampling --------------------------------------------------------------------------------
    def sample(self, rng_or_seed: RngLike, n: int = 1) -> list[Arch]:
        """``n`` architectures drawn uniformly (per choice) from the space; seeded."""
        rng = as_rng(rng_or_seed)
        return [self._sample_one(rng) for _ in range(_check_n(n))]

    @abstractmethod
    def _sample_one(self, rng: np.random.Generator) -> Arch:
        """One architecture drawn with ``rng``."""

    @abstractmethod
    def mutate(self, arch: Arch, rng_or_seed: RngLike) -> Arch:
        """A copy of ``arch`` with one choice changed to a different value (for evolution)."""

    # -- ops -------------------------------------------------------------------------------------
    @abstractmethod
    def ops(self, arch: Arch) -> list[OpSpec]:
        """Every op the network executes, in execution order, with repeats."""

    @abstractmethod
    def all_ops(self, **kw: Any) -> list[OpSpec]:
        """The distinct op specs a full latency table of the space needs (deterministic order)."""

    @abstractmethod
    def input_shape(self, arch: Arch) -> tuple[int, int, int]:
        """Input shape ``(C, H, W)`` (batch 1) of the network of ``arch``."""

    def flops(self, arch: Arch) -> int:
        """FLOPs (2 x multiply-accumulates) of the network, batch 1."""
        return int(sum(s.flops for s in self.ops(arch)))

    def build(self, arch: Arch, *, seed: int = 0) -> Graph:
        """The whole network as a primitive graph; weights drawn from ``seed``.

        The default chains :meth:`ops`; spaces whose networks are not a chain override it.
        """
        self.validate(arch)
        b = GraphBuilder(seed=seed, name=self.name)
        x = b.input(self.input_shape(arch))
        for spec in self.ops(arch):
            x = b.apply(spec, x)
        return b.finish([x])

    # -- text form -------------------------------------------------------------------------------
    @abstractmethod
    def encode(self, arch: Arch) -> str:
        """The canonical text form of ``arch``."""

    @abstractmethod
    def decode(self, text: str) -> Arch:
        """Parse :meth:`encode`'s text form; raises InputError showing a valid example."""

    # -- size and validity -----------------------------------------------------------------------
    @abstractmethod
    def size(self) -> int:
        """Number of distinct architectures (networks) in the space; may be huge."""

    @abstractmethod
    def validate(self, arch: Arch) -> None:
        """Raise :class:`~hwlat.errors.InputError` saying what is wrong with ``arch``."""

    def is_valid(self, arch: Arch) -> bool:
        try:
            self.validate(arch)
        except InputError:
            return False
        return True

    def example(self) -> str:
        """The encoded text of a valid architecture (for messages and docs)."""
        return self.encode(self.sample(0, 1)[0])

    # -- integer encoding (vectorised queries) ------------------------------------------------------
    @abstractmethod
    def gene_sizes(self) -> tuple[int, ...]:
        """Number of values of each gene; an architecture is one integer per gene."""

    @abstractmethod
    def to_genes(self, archs: Sequence[Arch]) -> np.ndarray:
        """Integer array ``(len(archs), n_genes)`` encoding ``archs``."""

    @abstractmethod
    def from_genes(self, genes: Sequence[int] | np.ndarray) -> Arch:
        """The architecture of one gene vector (the inverse of :meth:`to_genes`)."""

    @abstractmethod
    def parts(self) -> list[Part]:
        """The parts every network is made of (see :class:`Part`)."""

    @abstractmethod
    def part_ops(self, part: int, values: Sequence[int]) -> list[OpSpec]:
        """Ops of part number ``part`` when its genes take ``values`` (in the part's gene order)."""

    def sample_genes(self, rng_or_seed: RngLike, n: int) -> np.ndarray:
        """``n`` random gene vectors, uniform per gene (vectorised; same law as :meth:`sample` where
        the space's sampling is uniform per choice)."""
        rng = as_rng(rng_or_seed)
        sizes = np.asarray(self.gene_sizes())
        return (rng.random((_check_n(n), sizes.size)) * sizes).astype(np.int64)

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this space: ``get_space(name, **config())``."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, size~1e{int(math.log10(max(self.size(), 1)))})"
