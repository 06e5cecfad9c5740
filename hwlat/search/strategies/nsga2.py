"""NSGA-II with constrained domination on latency, accuracy and any extra objectives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hwlat.errors import InputError
from hwlat.search.pareto import crowding_distance, non_dominated_sort
from hwlat.search.strategies.archive import Archive
from hwlat.search.strategies.base import Strategy, check_int
from hwlat.search.strategies.genes import crossover_genes

__all__ = ["NSGA2"]


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
        self.population = check_int("NSGA2", "population", population, 4)
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

    def _rank_rows(self, rows: np.ndarray, archive: Archive) -> tuple[np.ndarray, np.ndarray]:
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

    def ask(self, n: int, archive: Archive) -> np.ndarray:
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

    def tell(self, rows: np.ndarray, archive: Archive) -> None:
        merged = np.asarray(self.members + [int(r) for r in rows], dtype=np.int64)
        if merged.size > self.population:
            # survivors: whole fronts by rank, the last one cut by crowding distance
            rank, crowd = self._rank_rows(merged, archive)
            merged = merged[np.sort(np.lexsort((-crowd, rank))[:self.population])]
        self.members = [int(r) for r in merged]
        # rank and crowding among the survivors drive the next tournaments
        self._refresh(archive)

    def _refresh(self, archive: Archive) -> None:
        if self.members:
            self._rank, self._crowd = self._rank_rows(np.asarray(self.members, dtype=np.int64), archive)

    def state_dict(self) -> dict[str, Any]:
        return {"members": list(self.members)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.members = [int(r) for r in state.get("members", [])]
        self._rank, self._crowd = np.zeros(0, dtype=np.int64), np.zeros(0)
