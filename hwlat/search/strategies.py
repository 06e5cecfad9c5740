"""Search strategies: random search, aging evolution with the MnasNet reward, NSGA-II.

>>> from hwlat.search import get_space, run_search                           # doctest: +SKIP
>>> res = run_search(space, predictor, "nb201-csv:accuracy.csv:cifar10",      # doctest: +SKIP
...                  strategy="nsga2", n_evals=500, seed=0)
>>> res.front.best_under([1.0, 2.0])                                         # doctest: +SKIP

Strategies work on the integer encoding of a space (genes, :meth:`SearchSpace.gene_sizes`), in
an ask/tell loop: a strategy proposes a batch of gene rows, :func:`run_search` drops those
already evaluated (every architecture is evaluated once), evaluates the rest in one vectorised
call of the latency predictor (``predict_genes(genes) -> ms`` or ``predict(archs) -> ms``) and of
the accuracy source, stores them in the archive and tells the strategy. Everything random
comes from one seeded generator, and the archive, the strategy's state and the generator's
state can be written to a checkpoint (atomically) and resumed: a resumed search continues
exactly where the interrupted one stopped.

Latency budgets
---------------
``budget_ms`` is a real constraint: an architecture with ``latency_ms <= budget_ms`` is feasible.
Evolution's ``reward="hard"`` ranks every feasible architecture above every infeasible one (and
infeasible ones by latency); NSGA-II uses constrained domination (Deb). ``reward="soft"`` is
MnasNet's reward ``ACC * (LAT / T) ** w`` with ``w = -0.07``: an *exchange rate*, not a budget —
a network 10 % slower than ``T`` must be about 0.67 % (relative) more accurate to score the
same, and networks faster than ``T`` earn a bonus; the result can exceed ``T``. A budget below
the least latency the space can reach is an error that states that least latency.
"""

from __future__ import annotations

import json
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from hwlat._io import atomic_path
from hwlat._progress import progress_bar
from hwlat.errors import InputError
from hwlat.search.accuracy import AccuracySource, make_accuracy
from hwlat.search.pareto import ParetoFront, crowding_distance, non_dominated_sort
from hwlat.spaces.base import SearchSpace, as_rng

__all__ = [
    "Strategy",
    "RandomSearch",
    "AgingEvolution",
    "NSGA2",
    "STRATEGIES",
    "make_strategy",
    "run_search",
    "SearchResult",
    "mnasnet_reward",
    "min_latency",
    "mutate_genes",
    "crossover_genes",
    "canonical_genes",
    "predict_latency_genes",
]

log = logging.getLogger(__name__)

_CHECKPOINT_VERSION = 1
_ENUMERATE_LIMIT = 200_000  # spaces up to this size are enumerated for their least latency


# -- genes ------------------------------------------------------------------------------------------------
def canonical_genes(space: SearchSpace, genes: np.ndarray) -> np.ndarray:
    """``genes`` with the values that do not change the network set to 0 (a copy).

    Two gene rows describe the same network exactly when their canonical rows are equal. In the
    Once-for-All space, kernel and expand genes of layers beyond a stage's depth do not matter;
    a space can define ``canonical_genes(genes)`` itself.
    """
    g = np.array(genes, dtype=np.int64, copy=True)
    own = getattr(space, "canonical_genes", None)
    if callable(own):
        return np.asarray(own(g), dtype=np.int64)
    if _has_canonical(space) and g.size:
        s = space
        n_layers = s.N_STAGES * s.MAX_DEPTH
        d = np.asarray(s.D)[g[:, s._G_D:s._G_D + s.N_STAGES]]
        j = np.arange(n_layers) % s.MAX_DEPTH
        inactive = j[None, :] >= d[:, np.arange(n_layers) // s.MAX_DEPTH]
        g[:, s._G_K:s._G_K + n_layers][inactive] = 0
        g[:, s._G_E:s._G_E + n_layers][inactive] = 0
    return g


def _has_canonical(space: SearchSpace | None) -> bool:
    """Whether distinct gene rows of ``space`` can describe the same network."""
    if space is None:
        return False
    if callable(getattr(space, "canonical_genes", None)):
        return True
    from hwlat.spaces.ofa_mbv3 import OFAMobileNetV3Space

    return isinstance(space, OFAMobileNetV3Space)


def mutate_genes(genes: np.ndarray, sizes: Sequence[int], rng: np.random.Generator, *,
                 space: SearchSpace | None = None, max_rounds: int = 8) -> np.ndarray:
    """Each row with one gene changed to a different value (vectorised; a new array).

    With ``space``, a mutation that leaves the network unchanged (e.g. an inactive layer of the
    Once-for-All space) is redrawn, up to ``max_rounds`` times.
    """
    g = np.asarray(genes, dtype=np.int64)
    sz = np.asarray(sizes, dtype=np.int64)
    movable = np.flatnonzero(sz > 1)
    if movable.size == 0 or g.shape[0] == 0:
        return g.copy()
    out = g.copy()
    todo = np.arange(g.shape[0])
    check = _has_canonical(space)
    base = canonical_genes(space, g) if check else g  # type: ignore[arg-type]
    for _ in range(max_rounds):
        pos = movable[rng.integers(0, movable.size, todo.size)]
        shift = 1 + (rng.random(todo.size) * (sz[pos] - 1)).astype(np.int64)
        out[todo, pos] = (g[todo, pos] + shift) % sz[pos]
        if not check:
            break
        same = np.all(canonical_genes(space, out[todo]) == base[todo], axis=1)  # type: ignore[arg-type]
        out[todo[same]] = g[todo[same]]
        todo = todo[same]
        if todo.size == 0:
            break
    return out


def crossover_genes(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform crossover: each gene from ``a`` or ``b`` with probability 1/2 (vectorised)."""
    a, b = np.asarray(a), np.asarray(b)
    return np.where(rng.random(a.shape) < 0.5, a, b)


# -- objectives ----------------------------------------------------------------------------------------------
def mnasnet_reward(accuracy: np.ndarray, latency_ms: np.ndarray, target_ms: float, *, w: float = -0.07,
                   hard: bool = False) -> np.ndarray:
    """MnasNet's reward. Soft: ``ACC * (LAT / T) ** w`` (an exchange rate of accuracy for latency).

    Hard: ``ACC`` where ``LAT <= T``; infeasible architectures score below every feasible one
    and among themselves by latency (faster is better), so a search is pulled into the budget.
    """
    acc = np.asarray(accuracy, dtype=np.float64)
    lat = np.asarray(latency_ms, dtype=np.float64)
    if hard:
        return np.where(lat <= target_ms, acc, -1e12 - lat)
    if acc.size and np.any(acc <= 0):
        raise InputError("the soft MnasNet reward ACC*(LAT/T)^w needs positive accuracies; this accuracy source "
                         "gives values <= 0 — use reward='hard' or a positive score")
    return acc * (lat / float(target_ms)) ** w


def predict_latency_genes(latency: Any, space: SearchSpace, genes: np.ndarray) -> np.ndarray:
    """Latency (ms) of gene rows through ``predict_genes`` or, failing that, ``predict(archs)``."""
    g = np.asarray(genes, dtype=np.int64)
    if callable(getattr(latency, "predict_genes", None)):
        out = latency.predict_genes(g)
    elif callable(getattr(latency, "predict", None)):
        out = latency.predict([space.from_genes(row) for row in g])
    else:
        raise InputError(f"a latency predictor needs predict(archs) -> ms or predict_genes(genes) -> ms; "
                         f"{type(latency).__name__} has neither")
    y = np.asarray(out, dtype=np.float64).reshape(-1)
    if y.size != g.shape[0]:
        raise InputError(f"the latency predictor returned {y.size} values for {g.shape[0]} architectures")
    if not np.all(np.isfinite(y)):
        raise InputError("the latency predictor returned NaN or infinite latencies")
    return y


def _lookup_min(latency: Any, sizes: np.ndarray) -> tuple[float, str] | None:
    """Least latency from a lookup predictor's part tables, exact where shared genes are few."""
    try:
        pg, pd_, pt, coef = latency.part_genes_, latency.part_dims_, latency.part_tables_, latency.coef_
    except AttributeError:
        return None
    a, b = float(coef[0]), float(coef[1])
    if a < 0:
        return None
    count = np.zeros(sizes.size, dtype=np.int64)
    for genes in pg:
        count[np.asarray(genes, dtype=np.int64)] += 1
    shared = np.flatnonzero(count >= 2)
    grid = int(np.prod(sizes[shared])) if shared.size else 1
    if grid <= 2_000_000:
        total = np.zeros(tuple(sizes[shared]), dtype=np.float64) if shared.size else np.zeros(())
        pos = {int(gi): k for k, gi in enumerate(shared)}
        for genes, dims, tab in zip(pg, pd_, pt):
            genes = [int(x) for x in genes]
            t = np.asarray(tab, dtype=np.float64).reshape(dims) if dims else np.asarray(tab, dtype=np.float64)[0]
            private = tuple(k for k, gi in enumerate(genes) if gi not in pos)
            if private:
                t = t.min(axis=private)
            keep = [gi for gi in genes if gi in pos]
            if keep:
                order = np.argsort([pos[gi] for gi in keep])
                t = np.transpose(t, order)
                shape = [1] * shared.size
                for gi in keep:
                    shape[pos[gi]] = int(sizes[gi])
                t = t.reshape(shape)
            total = total + t
        return a * float(total.min()) + b, "exact, from the lookup part tables"
    lower = sum(float(np.min(t)) for t in pt)
    return a * lower + b, "a lower bound, from the minima of the lookup part tables"


def min_latency(space: SearchSpace, latency: Any, *, n_samples: int = 20_000, seed: int = 0) -> tuple[float, str]:
    """The least latency (ms) the space can reach under ``latency``, and how it was found.

    Exact for a lookup predictor (from its part tables) and for spaces of at most 200,000
    architectures (enumerated); otherwise the fastest of ``n_samples`` random architectures (an
    estimate: the true minimum may be lower).
    """
    sizes = np.asarray(space.gene_sizes(), dtype=np.int64)
    hit = _lookup_min(latency, sizes)
    if hit is not None:
        return hit
    total = math.prod(int(s) for s in sizes)
    limit = _ENUMERATE_LIMIT if callable(getattr(latency, "predict_genes", None)) else 20_000
    if total <= limit and total == space.size():
        best = math.inf
        for start in range(0, total, 50_000):
            g = np.stack(np.unravel_index(np.arange(start, min(total, start + 50_000)), tuple(sizes)), axis=1)
            best = min(best, float(predict_latency_genes(latency, space, g).min()))
        return best, f"exact, all {total:,} architectures enumerated"
    rng = np.random.default_rng(seed)
    best = math.inf
    for start in range(0, n_samples, 5000):
        g = space.sample_genes(rng, min(5000, n_samples - start))
        best = min(best, float(predict_latency_genes(latency, space, g).min()))
    return best, f"an estimate, the fastest of {n_samples:,} random architectures (the true minimum may be lower)"


# -- archive ---------------------------------------------------------------------------------------------------
class _Archive:
    """Every evaluated architecture: genes, latency (ms), accuracy, extra objectives, round."""

    def __init__(self, n_genes: int, extra_names: Sequence[str], sizes: Sequence[int] | None = None) -> None:
        self.extra_names = list(extra_names)
        # rows as one integer (mixed radix) where the space is small enough: a set of ints is
        # several times faster to probe than one of byte strings
        self._radix: np.ndarray | None = None
        if sizes is not None and float(np.prod(np.asarray(sizes, dtype=np.float64))) < 2.0 ** 62:
            sz = np.asarray(sizes, dtype=np.int64)
            self._radix = np.concatenate([np.cumprod(sz[::-1])[::-1][1:], [1]]).astype(np.int64)
        self.n = 0
        self._genes = np.zeros((64, n_genes), dtype=np.int64)
        self._lat = np.zeros(64)
        self._acc = np.zeros(64)
        self._extra = np.zeros((64, len(self.extra_names)))
        self._round = np.zeros(64, dtype=np.int64)
        self._keys: set[Any] = set()

    @property
    def genes(self) -> np.ndarray:
        return self._genes[:self.n]

    @property
    def latency_ms(self) -> np.ndarray:
        return self._lat[:self.n]

    @property
    def accuracy(self) -> np.ndarray:
        return self._acc[:self.n]

    @property
    def extra(self) -> np.ndarray:
        return self._extra[:self.n]

    @property
    def rounds(self) -> np.ndarray:
        return self._round[:self.n]

    def unseen(self, genes: np.ndarray) -> np.ndarray:
        """Rows of ``genes`` not in the archive, duplicates within ``genes`` dropped, order kept."""
        g = np.ascontiguousarray(genes, dtype=np.int64)
        keep = []
        seen: set[Any] = set()
        for i, k in enumerate(self._row_keys(g)):
            if k not in self._keys and k not in seen:
                seen.add(k)
                keep.append(i)
        return g[keep]

    def _row_keys(self, g: np.ndarray) -> list[Any]:
        if self._radix is not None:
            return (g @ self._radix).tolist()
        return [row.tobytes() for row in g]

    def add(self, genes: np.ndarray, lat: np.ndarray, acc: np.ndarray, extra: np.ndarray, rnd: int) -> np.ndarray:
        m = genes.shape[0]
        need = self.n + m
        if need > self._lat.size:
            cap = max(need, 2 * self._lat.size)
            self._genes = np.resize(self._genes, (cap, self._genes.shape[1]))
            self._lat, self._acc = np.resize(self._lat, cap), np.resize(self._acc, cap)
            self._extra = np.resize(self._extra, (cap, self._extra.shape[1]))
            self._round = np.resize(self._round, cap)
        sl = slice(self.n, need)
        self._genes[sl], self._lat[sl], self._acc[sl], self._extra[sl], self._round[sl] = genes, lat, acc, extra, rnd
        self._keys.update(self._row_keys(np.ascontiguousarray(genes, dtype=np.int64)))
        self.n = need
        return np.arange(sl.start, sl.stop)

    def objectives(self, rows: np.ndarray) -> np.ndarray:
        """Minimised objectives of ``rows``: latency (ms), -accuracy, then the extra objectives."""
        return np.column_stack([self._lat[rows], -self._acc[rows], self._extra[rows]])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"genes": self.genes.copy(), "latency_ms": self.latency_ms.copy(), "accuracy": self.accuracy.copy(),
                "extra": self.extra.copy(), "round": self.rounds.copy()}

    def load(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.n = 0
        self.add(np.asarray(arrays["genes"], dtype=np.int64), np.asarray(arrays["latency_ms"]),
                 np.asarray(arrays["accuracy"]), np.asarray(arrays["extra"]).reshape(len(arrays["latency_ms"]), -1),
                 0)
        self._round[:self.n] = np.asarray(arrays["round"], dtype=np.int64)


# -- strategies ---------------------------------------------------------------------------------------------------
class Strategy(ABC):
    """A search strategy in an ask/tell loop over gene rows (see :func:`run_search`).

    Subclasses take keyword-only parameters (validated at construction), propose candidates in
    :meth:`ask`, learn from evaluated rows in :meth:`tell`, and keep a state that
    :meth:`state_dict` / :meth:`load_state_dict` round-trip through JSON (archive row numbers,
    never copies of the data) so that a search can be checkpointed and resumed.
    """

    name: ClassVar[str] = ""

    def __init__(self, *, batch_size: int | None = None) -> None:
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise InputError(f"{type(self).__name__}: batch_size must be a positive integer, got {batch_size!r}")
        self._batch_size = batch_size

    # set by bind()
    space: SearchSpace
    rng: np.random.Generator
    budget_ms: float | None
    sizes: np.ndarray

    def bind(self, space: SearchSpace, rng: np.random.Generator, budget_ms: float | None) -> None:
        """Attach the space, the shared generator and the budget (called by :func:`run_search`)."""
        self.space, self.rng, self.budget_ms = space, rng, budget_ms
        self.sizes = np.asarray(space.gene_sizes(), dtype=np.int64)

    @property
    def batch_size(self) -> int:
        """Architectures proposed per round (evaluated in one vectorised call)."""
        return self._batch_size or self.default_batch_size()

    def default_batch_size(self) -> int:
        return 32

    def random_genes(self, n: int) -> np.ndarray:
        return canonical_genes(self.space, self.space.sample_genes(self.rng, n))

    def mutate(self, genes: np.ndarray) -> np.ndarray:
        return canonical_genes(self.space, mutate_genes(genes, self.sizes, self.rng, space=self.space))

    @abstractmethod
    def ask(self, n: int, archive: _Archive) -> np.ndarray:
        """Up to ``n`` candidate gene rows (the runner drops those already evaluated)."""

    def tell(self, rows: np.ndarray, archive: _Archive) -> None:
        """Archive rows just evaluated (the strategy's own proposals, deduplicated)."""

    def params(self) -> dict[str, Any]:
        """The constructor parameters (recorded in a checkpoint; a resume must use the same)."""
        return {"batch_size": self._batch_size}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class RandomSearch(Strategy):
    """Uniform random sampling (per gene), without repeats; large batches (default 1000)."""

    name = "random"

    def default_batch_size(self) -> int:
        return 1000

    def ask(self, n: int, archive: _Archive) -> np.ndarray:
        return self.random_genes(n)


class _Fitness:
    """Scalar fitness of archive rows under a reward and budget."""

    def __init__(self, reward: str, w: float) -> None:
        self.reward, self.w = reward, w

    def __call__(self, archive: _Archive, rows: np.ndarray, budget_ms: float | None) -> np.ndarray:
        acc, lat = archive.accuracy[rows], archive.latency_ms[rows]
        if budget_ms is None:
            return acc.copy()
        return mnasnet_reward(acc, lat, budget_ms, w=self.w, hard=self.reward == "hard")


def _check_int(owner: str, name: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < lo:
        raise InputError(f"{owner}: {name} must be an integer >= {lo}, got {v!r}")
    return int(v)


class AgingEvolution(Strategy):
    """Aging (regularised) evolution, Real et al. 2019, with MnasNet's reward.

    A population of ``population`` architectures (random at first); each child is a one-gene
    mutation of the fittest of ``sample_size`` members drawn at random; the oldest member dies
    when a child is born. ``batch_size`` children are bred from the same population and
    evaluated together (1 = the sequential algorithm). Fitness: accuracy without a budget;
    with one, MnasNet's reward — ``"hard"`` (a real constraint, the default) or ``"soft"``
    (``ACC * (LAT/T)^w``, ``w`` default -0.07: an exchange rate, not a budget).
    """

    name = "evolution"

    def __init__(self, *, population: int = 50, sample_size: int = 10, reward: str = "hard", w: float = -0.07,
                 batch_size: int | None = None) -> None:
        super().__init__(batch_size=batch_size)
        self.population = _check_int("AgingEvolution", "population", population, 2)
        self.sample_size = _check_int("AgingEvolution", "sample_size", sample_size, 1)
        if self.sample_size > self.population:
            raise InputError(f"AgingEvolution: sample_size ({sample_size}) cannot exceed population ({population})")
        if reward not in ("hard", "soft"):
            raise InputError(f"AgingEvolution: reward must be 'hard' (a real budget) or 'soft' (MnasNet's "
                             f"ACC*(LAT/T)^w exchange rate), got {reward!r}")
        if not isinstance(w, (int, float)) or isinstance(w, bool) or not math.isfinite(w) or w > 0:
            raise InputError(f"AgingEvolution: w must be a number <= 0 (MnasNet uses -0.07), got {w!r}")
        self.reward, self.w = reward, float(w)
        self._fitness = _Fitness(reward, self.w)
        self.members: list[int] = []  # archive rows, oldest first

    def default_batch_size(self) -> int:
        return max(1, self.population // 10)

    def params(self) -> dict[str, Any]:
        return {"population": self.population, "sample_size": self.sample_size, "reward": self.reward, "w": self.w,
                "batch_size": self._batch_size}

    def ask(self, n: int, archive: _Archive) -> np.ndarray:
        missing = self.population - len(self.members)
        if missing > 0:
            return self.random_genes(min(n, missing))
        pop = np.asarray(self.members, dtype=np.int64)
        fit = self._fitness(archive, pop, self.budget_ms)
        # n independent tournaments of sample_size distinct members each
        draws = np.argsort(self.rng.random((n, pop.size)), axis=1)[:, :self.sample_size]
        winners = draws[np.arange(n), np.argmax(fit[draws], axis=1)]
        return self.mutate(archive.genes[pop[winners]])

    def tell(self, rows: np.ndarray, archive: _Archive) -> None:
        self.members.extend(int(r) for r in rows)
        if len(self.members) > self.population:
            del self.members[:len(self.members) - self.population]

    def state_dict(self) -> dict[str, Any]:
        return {"members": list(self.members)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.members = [int(r) for r in state.get("members", [])]


class NSGA2(Strategy):
    """NSGA-II (Deb et al. 2002) on latency (ms, min), accuracy (max) and any extra objectives.

    Each generation breeds ``population`` children (binary tournaments on front rank, then
    crowding distance; uniform crossover with probability ``crossover_prob``; a one-gene
    mutation of every child), and the next population is the best ``population`` of parents and
    children. With a budget, constrained domination: every feasible architecture beats every
    infeasible one, and infeasible ones are ranked by how far they exceed the budget. The
    search result's front is taken from the archive of every evaluation, not only the last
    population.
    """

    name = "nsga2"

    def __init__(self, *, population: int = 20, crossover_prob: float = 0.9, batch_size: int | None = None) -> None:
        super().__init__(batch_size=batch_size)
        self.population = _check_int("NSGA2", "population", population, 4)
        if not isinstance(crossover_prob, (int, float)) or isinstance(crossover_prob, bool) \
                or not 0.0 <= crossover_prob <= 1.0:
            raise InputError(f"NSGA2: crossover_prob must be in [0, 1], got {crossover_prob!r}")
        self.crossover_prob = float(crossover_prob)
        self.members: list[int] = []
        self._rank = np.zeros(0, dtype=np.int64)
        self._crowd = np.zeros(0)

    def default_batch_size(self) -> int:
        return self.population

    def params(self) -> dict[str, Any]:
        return {"population": self.population, "crossover_prob": self.crossover_prob, "batch_size": self._batch_size}

    def _rank_rows(self, rows: np.ndarray, archive: _Archive) -> tuple[np.ndarray, np.ndarray]:
        """Front rank (constrained) and crowding distance of ``rows``."""
        F = archive.objectives(rows)
        rank = np.zeros(rows.size, dtype=np.int64)
        crowd = np.zeros(rows.size)
        feas = np.ones(rows.size, dtype=bool)
        if self.budget_ms is not None:
            feas = F[:, 0] <= self.budget_ms
        fi = np.flatnonzero(feas)
        if fi.size:
            rank[fi] = non_dominated_sort(F[fi])
            for r in np.unique(rank[fi]):
                members = fi[rank[fi] == r]
                crowd[members] = crowding_distance(F[members])
        ii = np.flatnonzero(~feas)
        if ii.size:
            top = int(rank[fi].max()) + 1 if fi.size else 0
            _, viol_rank = np.unique(F[ii, 0] - float(self.budget_ms or 0.0), return_inverse=True)
            rank[ii] = top + viol_rank
        return rank, crowd

    def ask(self, n: int, archive: _Archive) -> np.ndarray:
        missing = self.population - len(self.members)
        if missing > 0:
            return self.random_genes(min(n, missing))
        pop = np.asarray(self.members, dtype=np.int64)
        if self._rank.size != pop.size:
            self._refresh(archive)
        rank, crowd = self._rank, self._crowd
        # binary tournaments: lower rank, then larger crowding distance
        cand = self.rng.integers(0, pop.size, (2 * n, 2))
        a, b = cand[:, 0], cand[:, 1]
        a_wins = (rank[a] < rank[b]) | ((rank[a] == rank[b]) & (crowd[a] >= crowd[b]))
        parents = np.where(a_wins, a, b).reshape(n, 2)
        g1, g2 = archive.genes[pop[parents[:, 0]]], archive.genes[pop[parents[:, 1]]]
        child = crossover_genes(g1, g2, self.rng)
        keep = self.rng.random(n) >= self.crossover_prob
        child[keep] = g1[keep]
        return self.mutate(child)

    def tell(self, rows: np.ndarray, archive: _Archive) -> None:
        merged = np.asarray(self.members + [int(r) for r in rows], dtype=np.int64)
        if merged.size > self.population:
            # survivors: whole fronts by rank, the last one cut by crowding distance
            rank, crowd = self._rank_rows(merged, archive)
            merged = merged[np.sort(np.lexsort((-crowd, rank))[:self.population])]
        self.members = [int(r) for r in merged]
        # rank and crowding among the survivors drive the next tournaments
        self._refresh(archive)

    def _refresh(self, archive: _Archive) -> None:
        if self.members:
            self._rank, self._crowd = self._rank_rows(np.asarray(self.members, dtype=np.int64), archive)

    def state_dict(self) -> dict[str, Any]:
        return {"members": list(self.members)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.members = [int(r) for r in state.get("members", [])]
        self._rank, self._crowd = np.zeros(0, dtype=np.int64), np.zeros(0)


#: strategy name -> class (aliases included)
STRATEGIES: dict[str, type[Strategy]] = {
    "random": RandomSearch,
    "evolution": AgingEvolution,
    "aging-evolution": AgingEvolution,
    "rea": AgingEvolution,
    "nsga2": NSGA2,
    "nsga-ii": NSGA2,
}


def make_strategy(name: str | Strategy, **kw: Any) -> Strategy:
    """A strategy from its name (``random``, ``evolution``, ``nsga2``) and keyword parameters."""
    if isinstance(name, Strategy):
        if kw:
            raise InputError(f"strategy parameters {sorted(kw)} given with a ready-made {name!r}; set them on it")
        return name
    cls = STRATEGIES.get(str(name).strip().lower())
    if cls is None:
        raise InputError(f"unknown search strategy {name!r}; choose random, evolution or nsga2")
    try:
        return cls(**kw)
    except TypeError as exc:
        raise InputError(f"strategy {cls.name!r}: {exc}") from None


# -- result -----------------------------------------------------------------------------------------------------
class SearchResult:
    """What a search evaluated, and its front.

    ``archive`` is a DataFrame with one row per evaluation (``eval`` index, ``arch`` text,
    ``genes``, ``latency_ms``, ``accuracy``, extra objectives, ``feasible``, ``round``); ``genes``
    is the same as an ``(n, n_genes)`` array; ``front`` the latency–accuracy Pareto front of the
    whole archive. ``accuracy_name`` / ``accuracy_kind`` say where accuracy came from.
    """

    def __init__(self, *, space: SearchSpace, genes: np.ndarray, latency_ms: np.ndarray, accuracy: np.ndarray,
                 extra: Mapping[str, np.ndarray], rounds: np.ndarray, budget_ms: float | None, accuracy_name: str,
                 accuracy_kind: str, accuracy_unit: str, latency_name: str, strategy: str,
                 strategy_params: Mapping[str, Any], seed: int, wall_s: float, n_requested: int,
                 min_latency: tuple[float, str] | None) -> None:
        self.space = space
        self.genes = genes
        self.latency_ms = latency_ms
        self.accuracy = accuracy
        self.extra = dict(extra)
        self.rounds = rounds
        self.budget_ms = budget_ms
        self.accuracy_name = accuracy_name
        self.accuracy_kind = accuracy_kind
        self.accuracy_unit = accuracy_unit
        self.latency_name = latency_name
        self.strategy = strategy
        self.strategy_params = dict(strategy_params)
        self.seed = seed
        self.wall_s = wall_s
        self.n_requested = n_requested
        self.min_latency = min_latency
        self._archive: pd.DataFrame | None = None
        self._front: ParetoFront | None = None

    @property
    def n_evals(self) -> int:
        return int(self.latency_ms.size)

    @property
    def feasible(self) -> np.ndarray:
        if self.budget_ms is None:
            return np.ones(self.n_evals, dtype=bool)
        return self.latency_ms <= self.budget_ms

    @property
    def archive(self) -> pd.DataFrame:
        if self._archive is None:
            archs = [self.space.encode(self.space.from_genes(g)) for g in self.genes]
            df = pd.DataFrame({"eval": np.arange(self.n_evals), "arch": archs,
                               "genes": [tuple(int(x) for x in g) for g in self.genes],
                               "latency_ms": self.latency_ms, "accuracy": self.accuracy})
            for name, v in self.extra.items():
                df[name] = v
            df["feasible"] = self.feasible
            df["round"] = self.rounds
            self._archive = df
        return self._archive.copy()

    @property
    def front(self) -> ParetoFront:
        if self._front is None:
            df = self.archive
            self._front = ParetoFront.from_points(df["latency_ms"].to_numpy(), df["accuracy"].to_numpy(),
                                                  archs=df["arch"].tolist(), genes=df["genes"].tolist(),
                                                  eval=df["eval"].to_numpy(), accuracy_name=self.accuracy_name)
        return self._front

    def best(self, budget_ms: float | None = None) -> dict[str, Any] | None:
        """The most accurate evaluated architecture within ``budget_ms`` (default: the search's budget)."""
        b = self.budget_ms if budget_ms is None else float(budget_ms)
        if b is None:
            if not self.n_evals:
                return None
            i = int(np.argmax(self.accuracy))
            return self.archive.iloc[i].to_dict()
        return self.front.best_under(b)  # type: ignore[return-value]

    def __repr__(self) -> str:
        budget = f", budget {self.budget_ms:g} ms" if self.budget_ms is not None else ""
        return (f"SearchResult({self.strategy}, {self.n_evals} evaluations{budget}, accuracy from "
                f"{self.accuracy_name!r}, {self.wall_s:.2f} s)")


# -- the loop ------------------------------------------------------------------------------------------------------
def _latency_name(latency: Any) -> str:
    name = getattr(latency, "name", None)
    if isinstance(name, str):
        return name
    table = getattr(latency, "table", None)
    dev = getattr(getattr(table, "metadata", None), "device_name", None)
    return f"{type(latency).__name__}({dev})" if isinstance(dev, str) else type(latency).__name__


def _space_id(space: SearchSpace) -> dict[str, Any]:
    return json.loads(json.dumps({"name": space.name, "config": space.config()}, default=str))


class _Checkpoint:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def save(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        payload = {k: v for k, v in arrays.items()}
        payload["header"] = np.array(json.dumps(header))
        with atomic_path(self.path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **payload)

    def load(self) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                arrays = {k: z[k] for k in z.files if k != "header"}
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise InputError(f"{self.path} is not a readable hwlat search checkpoint ({exc}); delete it or choose "
                             "another checkpoint path") from None
        if header.get("format") != "hwlat-search-checkpoint" or header.get("version") != _CHECKPOINT_VERSION:
            raise InputError(f"{self.path} is not an hwlat search checkpoint of version {_CHECKPOINT_VERSION}; "
                             "delete it or choose another checkpoint path")
        return header, arrays


def run_search(space: SearchSpace, latency: Any, accuracy: Any, strategy: str | Strategy = "nsga2", *,
               budget_ms: float | None = None, n_evals: int = 1000, seed: int = 0,
               checkpoint: str | Path | None = None, checkpoint_every_s: float = 10.0, progress: bool = True,
               extra_objectives: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
               check_budget: bool = True, **strategy_kw: Any) -> SearchResult:
    """Search ``space`` for fast, accurate architectures.

    Parameters
    ----------
    space:
        A :class:`~hwlat.spaces.SearchSpace`.
    latency:
        A latency predictor: ``predict_genes(genes) -> ms`` (vectorised, preferred) or
        ``predict(archs) -> ms``.
    accuracy:
        An accuracy source or its text (see :func:`~hwlat.search.accuracy.make_accuracy`).
    strategy:
        ``"random"``, ``"evolution"`` (aging evolution, MnasNet reward), ``"nsga2"`` or a
        :class:`Strategy`; ``strategy_kw`` go to its constructor (e.g. ``population=50``,
        ``reward="soft"``).
    budget_ms:
        Latency budget (ms): a constraint for the strategy and the ``feasible`` column. A budget
        below the least latency of the space raises InputError stating that least latency
        (``check_budget=False`` skips the check).
    n_evals:
        Evaluations (distinct architectures) in total, counting those of a resumed checkpoint.
        Fewer are made when the space holds fewer architectures.
    seed:
        Seed of the one generator all randomness comes from.
    checkpoint:
        A file (``.npz``) to write the search state to, atomically, every
        ``checkpoint_every_s`` seconds, at the end and on an error or Ctrl-C; if it exists, the
        search resumes from it (it must come from the same space, strategy, seed, budget and
        accuracy source).
    progress:
        Show a progress bar on stderr.
    extra_objectives:
        More objectives to minimise, ``name -> f(genes) -> values`` (used by NSGA-II; all are
        stored in the archive).
    """
    t_start = time.perf_counter()
    if not isinstance(space, SearchSpace):
        raise InputError(f"space must be a SearchSpace (e.g. get_space('nb201')), got {type(space).__name__}")
    n_evals = _check_int("run_search", "n_evals", n_evals, 1)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"run_search takes an integer seed so that a search can be reproduced and resumed, "
                         f"got {seed!r}")
    rng = as_rng(seed)
    acc_src: AccuracySource = make_accuracy(accuracy, space)
    strat = make_strategy(strategy, **strategy_kw)
    extras = dict(extra_objectives or {})
    for k, f in extras.items():
        if not callable(f):
            raise InputError(f"extra objective {k!r} must be a function of a genes array")
        if k in ("eval", "arch", "genes", "latency_ms", "accuracy", "feasible", "round"):
            raise InputError(f"extra objective name {k!r} clashes with an archive column; rename it")
    if budget_ms is not None:
        if isinstance(budget_ms, bool) or not isinstance(budget_ms, (int, float, np.number)) \
                or not math.isfinite(float(budget_ms)) or float(budget_ms) <= 0:
            raise InputError(f"budget_ms must be a positive number of milliseconds, got {budget_ms!r}")
        budget_ms = float(budget_ms)
    if getattr(strat, "reward", None) == "soft" and budget_ms is None:
        raise InputError("the soft MnasNet reward ACC*(LAT/T)^w needs a target latency T: give budget_ms")

    lowest: tuple[float, str] | None = None
    if budget_ms is not None and check_budget:
        lowest = min_latency(space, latency, seed=int(seed))
        if budget_ms < lowest[0]:
            msg = (f"no architecture of the {space.name} space runs within {budget_ms:g} ms under "
                   f"{_latency_name(latency)}: the least latency it can reach is {lowest[0]:.4g} ms ({lowest[1]}); "
                   f"raise the budget to at least that")
            if getattr(strat, "reward", None) == "soft":
                log.warning("%s (the soft reward treats %g ms as an exchange-rate target, so the search goes on)",
                            msg, budget_ms)
            else:
                raise InputError(msg)

    archive = _Archive(len(space.gene_sizes()), list(extras), space.gene_sizes())
    strat.bind(space, rng, budget_ms)
    header_id = {"format": "hwlat-search-checkpoint", "version": _CHECKPOINT_VERSION, "space": _space_id(space),
                 "strategy": strat.name, "strategy_params": strat.params(), "seed": int(seed),
                 "budget_ms": budget_ms, "accuracy": acc_src.name, "latency": _latency_name(latency),
                 "extra_objectives": list(extras)}
    ckpt = _Checkpoint(checkpoint) if checkpoint is not None else None
    n_round, wall_before = 0, 0.0
    if ckpt is not None:
        loaded = ckpt.load()
        if loaded is not None:
            header, arrays = loaded
            diff = [k for k in header_id if header.get(k) != header_id[k]]
            if diff:
                detail = "; ".join(f"{k}: {header.get(k)!r} in the file vs {header_id[k]!r} now" for k in diff)
                raise InputError(f"checkpoint {ckpt.path} was written by a different search ({detail}); delete it, "
                                 "choose another checkpoint path, or run the same search again")
            archive.load(arrays)
            rng.bit_generator.state = header["rng_state"]
            strat.load_state_dict(header["strategy_state"])
            n_round, wall_before = int(header["rounds"]), float(header.get("wall_s", 0.0))
            log.info("resumed %s search from %s: %d evaluations done", strat.name, ckpt.path, archive.n)

    round_rng_state = rng.bit_generator.state
    t_loop = time.perf_counter()

    def save() -> None:
        if ckpt is None:
            return
        header = dict(header_id, rng_state=round_rng_state, strategy_state=strat.state_dict(), rounds=n_round,
                      n_evals=archive.n, wall_s=wall_before + time.perf_counter() - t_loop)
        ckpt.save(header, archive.arrays())

    total_space = space.size()
    exhausted = False
    bar = None
    if progress:
        bar = progress_bar(total=n_evals, initial=min(archive.n, n_evals), unit="arch",
                           desc=f"{strat.name} on {space.name}")
    last_save = time.perf_counter()
    try:
        while archive.n < n_evals and not exhausted:
            round_rng_state = rng.bit_generator.state
            want = min(strat.batch_size, n_evals - archive.n)
            first = strat.ask(want, archive)
            target = min(len(first), want)
            new = archive.unseen(first)[:target]
            tries = 0
            while new.shape[0] < target and tries < 16:
                more = strat.ask(max(4 * (target - new.shape[0]), 8), archive)  # spares: fewer rounds
                new = archive.unseen(np.concatenate([new, more]))[:target]
                tries += 1
            if new.shape[0] < target:
                new = _fill_unseen(space, archive, new, target, rng)
            if new.shape[0] == 0:
                exhausted = True
                break
            lat = predict_latency_genes(latency, space, new)
            acc = np.asarray(acc_src.evaluate_genes(new), dtype=np.float64).reshape(-1)
            if acc.size != new.shape[0] or not np.all(np.isfinite(acc)):
                raise InputError(f"accuracy source {acc_src.name!r} returned {acc.size} values (NaN or infinite "
                                 f"among them?) for {new.shape[0]} architectures")
            ex = np.column_stack([np.asarray(f(new), dtype=np.float64).reshape(-1) for f in extras.values()]) \
                if extras else np.zeros((new.shape[0], 0))
            rows = archive.add(new, lat, acc, ex, n_round)
            strat.tell(rows, archive)
            n_round += 1
            round_rng_state = rng.bit_generator.state
            if bar is not None:
                bar.update(int(new.shape[0]))
            if ckpt is not None and time.perf_counter() - last_save >= checkpoint_every_s:
                save()
                last_save = time.perf_counter()
            if archive.n >= total_space:
                exhausted = True
    except BaseException:
        save()  # the state of the last completed round
        raise
    finally:
        if bar is not None:
            bar.close()
    save()
    if archive.n < n_evals:
        log.warning("the %s space holds only %d distinct architectures; the search evaluated all of them",
                    space.name, archive.n)
    wall = wall_before + time.perf_counter() - t_loop
    log.info("%s search on %s: %d evaluations in %.2f s (setup %.2f s)", strat.name, space.name, archive.n, wall,
             t_loop - t_start)
    return SearchResult(space=space, genes=archive.genes.copy(), latency_ms=archive.latency_ms.copy(),
                        accuracy=archive.accuracy.copy(),
                        extra={k: archive.extra[:, i].copy() for i, k in enumerate(extras)},
                        rounds=archive.rounds.copy(), budget_ms=budget_ms, accuracy_name=acc_src.name,
                        accuracy_kind=acc_src.kind, accuracy_unit=getattr(acc_src, "unit", "%"),
                        latency_name=_latency_name(latency), strategy=strat.name, strategy_params=strat.params(),
                        seed=int(seed), wall_s=wall, n_requested=n_evals, min_latency=lowest)


def _fill_unseen(space: SearchSpace, archive: _Archive, new: np.ndarray, target: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Top ``new`` up to ``target`` rows with architectures never evaluated (random ones)."""
    for _ in range(4):
        cand = canonical_genes(space, space.sample_genes(rng, 4 * target))
        new = archive.unseen(np.concatenate([new, cand]))[:target]
        if new.shape[0] >= target:
            return new
    sizes = tuple(int(s) for s in space.gene_sizes())
    total = math.prod(sizes)
    if total <= 5_000_000 and total == space.size():
        # small space: draw directly from the architectures not yet evaluated
        used = np.ravel_multi_index(tuple(np.concatenate([archive.genes, new]).T), sizes) if archive.n or new.size \
            else np.zeros(0, dtype=np.int64)
        free = np.setdiff1d(np.arange(total), used)
        pick = rng.permutation(free)[:target - new.shape[0]]
        return np.concatenate([new, np.stack(np.unravel_index(pick, sizes), axis=1).astype(np.int64)])
    return new
