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

A space also owns its quirks, so that no other part of hwlat needs to know which space it has:
which gene rows describe the same network (:meth:`SearchSpace.canonical_genes`), the input
resolutions it can be built at (:meth:`SearchSpace.with_resolutions`,
:meth:`SearchSpace.table_ops`), the accuracy source used when the user gives none
(:meth:`SearchSpace.default_accuracy`), its trainable torch network (:meth:`SearchSpace.torch_net`)
and supernet (:meth:`SearchSpace.supernet`), and how it is rebuilt from a saved description
(:meth:`SearchSpace.from_config`). Every one of them has a default here, so a new space
overrides only what it has.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hwlat.errors import InputError
from hwlat.ops.ir import Graph, GraphBuilder
from hwlat.ops.spec import OpSpec

__all__ = ["SearchSpace", "Part", "Arch", "RngLike", "as_rng", "unique_ops"]

Arch = Any
RngLike = int | np.integer | np.random.Generator


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

    def reference_arch(self) -> Arch:
        """A fixed, mid-sized network of the space: the median by FLOPs of nine seeded samples.

        Whole networks are measured with it beside them in every chunk (see
        :func:`~hwlat.profiler.networks.measure_archs`), so that the machine's slow drift between
        chunks, and between calibration and gallery, can be taken out.
        """
        archs = self.sample(20_261_201, 9)
        return sorted(archs, key=self.flops)[len(archs) // 2]

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

    def canonical_genes(self, genes: np.ndarray) -> np.ndarray:
        """``genes`` (``(n, n_genes)``) with the values that do not change the network set to 0 (a copy).

        Two gene rows describe the same network exactly when their canonical rows are equal. The
        default (every gene matters) returns a copy; a space whose genes can be inactive overrides
        it (:attr:`has_redundant_genes` then says so).
        """
        return np.array(genes, dtype=np.int64, copy=True)

    @property
    def has_redundant_genes(self) -> bool:
        """Whether distinct gene rows can describe the same network (the space overrides
        :meth:`canonical_genes`)."""
        return type(self).canonical_genes is not SearchSpace.canonical_genes

    # -- resolutions -----------------------------------------------------------------------------
    def with_resolutions(self, resolutions: Sequence[int]) -> SearchSpace:
        """This space with networks at input ``resolutions`` (px). A space of one fixed input size
        raises :class:`~hwlat.errors.InputError` (the default)."""
        raise InputError(f"the {self.name} space has a fixed input size; it takes no resolution")

    def table_ops(self, resolutions: Sequence[int] | None = None) -> list[OpSpec]:
        """The ops a latency table of the space needs: :meth:`all_ops`, or, with ``resolutions``
        (px), the ops of the space at each of them, concatenated in that order."""
        if not resolutions:
            return list(self.all_ops())
        return [s for r in resolutions for s in self.with_resolutions([int(r)]).all_ops()]

    # -- what search needs from a space ------------------------------------------------------------
    def default_accuracy(self) -> str:
        """The accuracy source (text for :func:`hwlat.search.make_accuracy`) used when the user gives
        none; the default raises an :class:`~hwlat.errors.InputError` that says what to give."""
        raise InputError(f"the {self.name} space has no built-in accuracy; give --accuracy module:function "
                         "(your own accuracy for its architectures)")

    def torch_net(self, arch: Arch, *, bn: bool = True, seed: int = 0, num_classes: int | None = None) -> Any:
        """The trainable ``torch.nn.Module`` of ``arch`` (train mode, PyTorch's default initialisation
        drawn from ``seed``; ``bn=False``: the same weights without batch norm), what zero-cost
        proxies score. The default raises: the space has none."""
        raise InputError(f"the {self.name} space has no trainable torch network; score it with an accuracy "
                         "predictor or a user callable")

    @property
    def has_torch_net(self) -> bool:
        """Whether :meth:`torch_net` is implemented."""
        return type(self).torch_net is not SearchSpace.torch_net

    def supernet(self, *, num_classes: int, input_size: int, width_mult: float, shared_weights: bool = True,
                 seed: int = 0) -> Any:
        """A torch supernet for gradient search: every choice of every gene in one network.

        ``forward(x, plan)`` where ``plan[g]`` lists ``(choice index, weight or None)`` of gene
        ``g``; the network is narrow (``width_mult``) and takes ``input_size`` px images. Spaces
        with a supernet have one gene per searchable layer, and parts ``[fixed] + [one per gene]``.
        The default raises: the space has none.
        """
        raise InputError(f"gradient search needs a space with a supernet (the built-in one is 'proxyless'), got "
                         f"{self.name!r}; evolution strategies handle the other spaces")

    @property
    def has_supernet(self) -> bool:
        """Whether :meth:`supernet` is implemented (gradient search can run on the space)."""
        return type(self).supernet is not SearchSpace.supernet

    # -- description -------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this space: ``from_config(config())``."""
        return {}

    def degenerate_genes(self, genes: np.ndarray) -> np.ndarray:
        """Which gene rows are degenerate networks: ones whose searched part computes nothing of
        the input (an NB201 cell whose output is cut off from it), measured near-constant or near
        zero. By default, none."""
        return np.zeros(np.asarray(genes).shape[0], dtype=bool)

    def op_counts(self, genes: np.ndarray) -> np.ndarray:
        """``(n, m)`` counts of the choices each gene row makes, the features of a count model
        (a few-shot fit from whole networks): by default, how many genes take each value but the
        first (an NB201 cell: how many edges hold each op but ``none``). A space whose genes mix
        kinds of choice, or can be inactive, overrides it."""
        g = np.asarray(genes)
        return np.stack([(g == v).sum(axis=1) for v in range(1, max(self.gene_sizes()))], axis=1).astype(np.float64)

    def for_runtime(self, runtime: str) -> SearchSpace:
        """This space with :meth:`ops` and :meth:`part_ops` listing the kernels ``runtime`` runs,
        where it fuses ops the space lists apart (a latency table of that runtime sums these);
        the networks it builds are the same. By default, the space itself."""
        return self

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SearchSpace:
        """The space :meth:`config` describes (what saved predictors and checkpoints record)."""
        try:
            return cls(**dict(config))
        except TypeError as exc:
            raise InputError(f"search space {cls.name!r}: {exc}") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, size~1e{int(math.log10(max(self.size(), 1)))})"
