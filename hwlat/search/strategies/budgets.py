"""Budget-aware evolution: one run that aims at every budget a gallery is read at."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hwlat.errors import InputError
from hwlat.search.strategies.archive import Archive
from hwlat.search.strategies.base import Strategy, check_budgets, check_int
from hwlat.search.strategies.genes import canonical_genes, crossover_genes

__all__ = ["BudgetEvolution"]

_SCREEN_ROUNDS = 24  # breeding rounds to find children within a target (latency checks only)


class BudgetEvolution(Strategy):
    """Constrained evolution at several budgets at once, sharing one archive.

    The run takes turns among its targets: the budgets it is given (a gallery's; those over
    ``budget_ms`` left out), else ``n_targets`` budgets spread evenly from the fastest network
    of the first random population (``init`` networks) up to ``budget_ms``, or up to the slowest
    of that population. A turn breeds children for one target from the ``parents`` most
    accurate architectures the archive holds within it:

    * a ``local_share`` of them are small steps (one or two genes changed) from the best three,
      which keep improving a subnet after a population has converged;
    * the rest are, half and half, mutations (each gene redrawn with probability
      ``mutate_prob``, at least one changed) and uniform crossovers of two parents.

    Children are screened by predicted latency before they are evaluated (as Once-for-All's
    EvolutionFinder does): a child over the target, or one already evaluated, is bred again, so
    evaluations are spent on distinct feasible candidates. Every evaluation serves every target
    it fits, so a good network found for a loose budget still counts for the others.
    """

    name = "budgets"

    def __init__(self, *, budgets: Any = None, n_targets: int = 6, parents: int = 25, mutate_prob: float = 0.1,
                 local_share: float = 0.5, init: int = 100, batch_size: int | None = None) -> None:
        super().__init__(batch_size=batch_size)
        self.targets_given = None if budgets is None else check_budgets("BudgetEvolution", budgets)
        self.n_targets = check_int("BudgetEvolution", "n_targets", n_targets, 1)
        self.parents = check_int("BudgetEvolution", "parents", parents, 2)
        self.init = check_int("BudgetEvolution", "init", init, 2)
        for name, v in (("mutate_prob", mutate_prob), ("local_share", local_share)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise InputError(f"BudgetEvolution: {name} must be in [0, 1], got {v!r}")
        self.mutate_prob, self.local_share = float(mutate_prob), float(local_share)
        self.targets: list[float] = []
        self.turn = 0
        # per target index: turns in a row it bred nothing, and the turn it rests until
        self.misses: dict[int, int] = {}
        self.rest: dict[int, int] = {}
        self._pending: tuple[dict[int, int], dict[int, int]] | None = None

    def default_batch_size(self) -> int:
        return 2 * self.parents

    def params(self) -> dict[str, Any]:
        return {"budgets": self.targets_given, "n_targets": self.n_targets, "parents": self.parents,
                "mutate_prob": self.mutate_prob, "local_share": self.local_share, "init": self.init,
                "batch_size": self._batch_size}

    # -- targets ---------------------------------------------------------------------------------------------
    def _set_targets(self, archive: Archive) -> None:
        given = self.targets_given or (list(self.budgets) if self.budgets else None)
        cap = self.budget_ms
        if given:
            self.targets = [b for b in given if cap is None or b <= cap] or [float(cap)]  # type: ignore[arg-type]
            return
        # n_targets spread up to the budget, or over the first population's latencies
        lat = archive.latency_ms
        lo = float(lat.min())
        hi = float(cap) if cap is not None else float(lat.max())
        if lo >= hi:
            lo = 0.5 * hi
        self.targets = [lo + (hi - lo) * (i + 1) / self.n_targets for i in range(self.n_targets)]

    # -- breeding --------------------------------------------------------------------------------------------
    def _lat(self, genes: np.ndarray) -> np.ndarray:
        if self.latency_of is None:
            raise InputError("the budgets strategy screens children by predicted latency; run it through "
                             "run_search, which gives it the latency predictor")
        return np.asarray(self.latency_of(genes), dtype=np.float64)

    def _redraw(self, genes: np.ndarray, prob: float) -> np.ndarray:
        """Each gene redrawn with probability ``prob``; a row left unchanged gets one gene changed."""
        g = genes.copy()
        hit = self.rng.random(g.shape) < prob
        fresh = (self.rng.random(g.shape) * self.sizes).astype(np.int64)
        g = np.where(hit, fresh, g)
        same = np.all(canonical_genes(self.space, g) == canonical_genes(self.space, genes), axis=1)
        if np.any(same):
            g[same] = self.mutate(genes[same])
        return g

    def _breed(self, n: int, elite: np.ndarray, archive: Archive) -> np.ndarray:
        G = archive.genes
        n_local = int(round(self.local_share * n))
        n_mut = (n - n_local + 1) // 2
        n_cross = n - n_local - n_mut
        parts = []
        if n_local:
            top = elite[:3]
            base = G[top[self.rng.integers(0, top.size, n_local)]]
            step = self.mutate(base)
            two = self.rng.random(n_local) < 0.5
            step[two] = self.mutate(step[two])
            parts.append(step)
        if n_mut:
            parts.append(self._redraw(G[elite[self.rng.integers(0, elite.size, n_mut)]], self.mutate_prob))
        if n_cross:
            a = G[elite[self.rng.integers(0, elite.size, n_cross)]]
            b = G[elite[self.rng.integers(0, elite.size, n_cross)]]
            parts.append(crossover_genes(a, b, self.rng))
        return canonical_genes(self.space, np.concatenate(parts))

    def _screen(self, n: int, target: float, archive: Archive, make: Any) -> np.ndarray:
        """Up to ``n`` distinct unseen children within ``target`` from repeated calls of ``make(m)``."""
        kept = np.zeros((0, self.sizes.size), dtype=np.int64)
        idle = 0
        for _ in range(_SCREEN_ROUNDS):
            cand = make(max(2 * (n - kept.shape[0]), 8))
            cand = cand[self._lat(cand) <= target]
            before = kept.shape[0]
            kept = archive.unseen(np.concatenate([kept, cand]))
            if kept.shape[0] >= n:
                break
            idle = idle + 1 if kept.shape[0] == before else 0
            if idle >= 3:  # the neighbourhood within this target is used up
                break
        return kept[:n]

    def ask(self, n: int, archive: Archive) -> np.ndarray:
        if archive.n < self.init:
            return self.random_genes(min(n, self.init - archive.n))
        if not self.targets:
            self._set_targets(archive)
        # this round's target first; where it has no unseen children left, the next ones. A target
        # that gave none rests for 2, 4, 8... turns (the change is kept once the round is told).
        out = np.zeros((0, self.sizes.size), dtype=np.int64)
        misses, rest = dict(self.misses), dict(self.rest)
        for j in range(len(self.targets)):
            k = (self.turn + j) % len(self.targets)
            if rest.get(k, -1) > self.turn:
                continue
            more = self._children(n - out.shape[0], self.targets[k], archive)
            if more.shape[0] == 0:
                misses[k] = misses.get(k, 0) + 1
                rest[k] = self.turn + 2 ** min(misses[k], 10)
            else:
                misses.pop(k, None)
            out = archive.unseen(np.concatenate([out, more]))
            if out.shape[0] >= n:
                break
        self._pending = (misses, rest)
        return out[:n] if out.shape[0] else self.random_genes(n)

    def _children(self, n: int, target: float, archive: Archive) -> np.ndarray:
        within = np.flatnonzero(archive.latency_ms <= target)
        if within.size < max(2, self.parents // 5):
            # too few within the target yet: random architectures that fit it
            out = self._screen(n, target, archive, self.random_genes)
            if out.shape[0] == 0 and within.size:  # nothing random fits: steps from the fastest
                fastest = within[np.argsort(archive.latency_ms[within])[:self.parents]]
                out = self._screen(n, target, archive,
                                   lambda m: self.mutate(archive.genes[fastest[self.rng.integers(0, fastest.size, m)]]))
            return out
        acc = archive.accuracy[within]
        m = min(self.parents, within.size)
        top = np.argpartition(-acc, m - 1)[:m]
        elite = within[top[np.argsort(-acc[top], kind="stable")]]
        return self._screen(n, target, archive, lambda m_: self._breed(m_, elite, archive))

    def tell(self, rows: np.ndarray, archive: Archive) -> None:
        if self.targets:  # the next round breeds for the next target (spares asked within a round do not move it)
            self.turn += 1
        if self._pending is not None:
            self.misses, self.rest = self._pending
            self._pending = None

    # -- state -----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"targets": list(self.targets), "turn": self.turn,
                "misses": [[k, v] for k, v in sorted(self.misses.items())],
                "rest": [[k, v] for k, v in sorted(self.rest.items())]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.targets = [float(t) for t in state.get("targets", [])]
        self.turn = int(state.get("turn", 0))
        self.misses = {int(k): int(v) for k, v in state.get("misses", [])}
        self.rest = {int(k): int(v) for k, v in state.get("rest", [])}
        self._pending = None
