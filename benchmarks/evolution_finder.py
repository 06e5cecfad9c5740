"""Once-for-All's EvolutionFinder, the reference a budget search is compared with (bench_search.py).

The algorithm of ``ofa.nas.search_algorithm.EvolutionFinder`` as published, on hwlat's gene rows
of the ``ofa-mbv3`` space (``[r, d x 5, ks x 20, e x 20]``):

* a population of ``population`` random subnets under the budget (rejection sampling: a draw
  over the budget is drawn again);
* each of ``generations`` generations keeps the ``parent_ratio`` most accurate as parents and
  breeds ``population`` children from them: ``mutation_ratio`` of them by mutation (each
  layer's kernel and expand ratio redrawn with probability ``arch_mutate_prob``, each stage's
  depth likewise, the resolution with probability ``resolution_mutate_prob``), the rest by
  uniform crossover of two parents; a child over the budget is bred again;
* the answer is the most accurate subnet seen.

Every child's accuracy is evaluated (``population * (generations + 1)`` evaluations, 50,100 with
the defaults, duplicates included); latency checks are not counted, as in the original.
Sampling is vectorised here, which draws from the same distributions as the per-sample loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["evolution_finder", "FinderResult"]


@dataclass
class FinderResult:
    accuracy: float
    latency_ms: float
    genes: np.ndarray
    evaluations: int
    history: list[float]  # best accuracy after each generation


def _resample_infeasible(make: Any, lat_fn: Any, budget: float, n: int, max_rounds: int = 10_000) -> np.ndarray:
    """``n`` rows from ``make(idx)`` (which breeds rows for the given slots), each redrawn until it
    is within ``budget``."""
    out = make(np.arange(n))
    todo = np.flatnonzero(lat_fn(out) > budget)
    for _ in range(max_rounds):
        if todo.size == 0:
            return out
        out[todo] = make(todo)
        todo = todo[lat_fn(out[todo]) > budget]
    raise RuntimeError(f"could not breed subnets within {budget} ms")


def evolution_finder(space: Any, lat_fn: Any, acc_fn: Any, budget_ms: float, rng: np.random.Generator, *,
                     population: int = 100, generations: int = 500, parent_ratio: float = 0.25,
                     mutation_ratio: float = 0.5, arch_mutate_prob: float = 0.1,
                     resolution_mutate_prob: float = 0.5) -> FinderResult:
    """Run EvolutionFinder under ``budget_ms``; ``lat_fn(genes)`` and ``acc_fn(genes)`` are vectorised."""
    sizes = np.asarray(space.gene_sizes(), dtype=np.int64)
    n_genes = sizes.size
    r_i, d_sl, k_sl, e_sl = space.GENE_R, space.GENES_D, space.GENES_K, space.GENES_E
    n_layers = k_sl.stop - k_sl.start
    n_parents = int(round(parent_ratio * population))
    n_mut = int(round(mutation_ratio * population))

    def random_rows(m: int) -> np.ndarray:
        return (rng.random((m, n_genes)) * sizes).astype(np.int64)

    pop = _resample_infeasible(lambda idx: random_rows(idx.size), lat_fn, budget_ms, population)
    acc = acc_fn(pop)
    evals = population
    best_i = int(np.argmax(acc))
    best = (float(acc[best_i]), pop[best_i].copy())
    history: list[float] = []
    for _ in range(generations):
        order = np.argsort(-acc, kind="stable")[:n_parents]
        parents, p_acc = pop[order], acc[order]
        if p_acc[0] > best[0]:
            best = (float(p_acc[0]), parents[0].copy())
        history.append(best[0])
        pa = parents[rng.integers(0, n_parents, n_mut)]

        def mutate(idx: np.ndarray, pa: np.ndarray = pa) -> np.ndarray:
            g = pa[idx].copy()
            m = idx.size
            fresh = random_rows(m)
            layer = rng.random((m, n_layers)) < arch_mutate_prob  # kernel and expand redrawn together
            g[:, k_sl] = np.where(layer, fresh[:, k_sl], g[:, k_sl])
            g[:, e_sl] = np.where(layer, fresh[:, e_sl], g[:, e_sl])
            stage = rng.random((m, d_sl.stop - d_sl.start)) < arch_mutate_prob
            g[:, d_sl] = np.where(stage, fresh[:, d_sl], g[:, d_sl])
            res = rng.random(m) < resolution_mutate_prob
            g[:, r_i] = np.where(res, fresh[:, r_i], g[:, r_i])
            return g

        p1 = parents[rng.integers(0, n_parents, population - n_mut)]
        p2 = parents[rng.integers(0, n_parents, population - n_mut)]

        def cross(idx: np.ndarray, p1: np.ndarray = p1, p2: np.ndarray = p2) -> np.ndarray:
            return np.where(rng.random((idx.size, n_genes)) < 0.5, p1[idx], p2[idx])

        children = np.concatenate([_resample_infeasible(mutate, lat_fn, budget_ms, n_mut),
                                   _resample_infeasible(cross, lat_fn, budget_ms, population - n_mut)])
        c_acc = acc_fn(children)
        evals += children.shape[0]
        pop, acc = np.concatenate([parents, children]), np.concatenate([p_acc, c_acc])
    i = int(np.argmax(acc))
    if acc[i] > best[0]:
        best = (float(acc[i]), pop[i].copy())
    history.append(best[0])
    g = best[1][None, :]
    return FinderResult(accuracy=best[0], latency_ms=float(lat_fn(g)[0]), genes=best[1], evaluations=evals,
                        history=history)
