"""Aging (regularised) evolution with MnasNet's reward."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hwlat.errors import InputError
from hwlat.search.strategies.archive import Archive
from hwlat.search.strategies.base import Strategy, check_int

__all__ = ["AgingEvolution", "mnasnet_reward"]


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


class _Fitness:
    """Scalar fitness of archive rows under a reward and budget."""

    def __init__(self, reward: str, w: float) -> None:
        self.reward, self.w = reward, w

    def __call__(self, archive: Archive, rows: np.ndarray, budget_ms: float | None) -> np.ndarray:
        acc, lat = archive.accuracy[rows], archive.latency_ms[rows]
        if budget_ms is None:
            return acc.copy()
        return mnasnet_reward(acc, lat, budget_ms, w=self.w, hard=self.reward == "hard")


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
        self.population = check_int("AgingEvolution", "population", population, 2)
        self.sample_size = check_int("AgingEvolution", "sample_size", sample_size, 1)
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

    def ask(self, n: int, archive: Archive) -> np.ndarray:
        missing = self.population - len(self.members)
        if missing > 0:
            return self.random_genes(min(n, missing))
        pop = np.asarray(self.members, dtype=np.int64)
        fit = self._fitness(archive, pop, self.budget_ms)
        # n independent tournaments of sample_size distinct members each
        draws = np.argsort(self.rng.random((n, pop.size)), axis=1)[:, :self.sample_size]
        winners = draws[np.arange(n), np.argmax(fit[draws], axis=1)]
        return self.mutate(archive.genes[pop[winners]])

    def tell(self, rows: np.ndarray, archive: Archive) -> None:
        self.members.extend(int(r) for r in rows)
        if len(self.members) > self.population:
            del self.members[:len(self.members) - self.population]

    def state_dict(self) -> dict[str, Any]:
        return {"members": list(self.members)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.members = [int(r) for r in state.get("members", [])]
