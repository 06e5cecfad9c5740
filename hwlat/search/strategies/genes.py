"""Operators on gene rows (the integer encoding of a space, :meth:`SearchSpace.gene_sizes`), vectorised."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwlat.spaces.base import SearchSpace

__all__ = ["canonical_genes", "mutate_genes", "crossover_genes"]


def canonical_genes(space: SearchSpace, genes: np.ndarray) -> np.ndarray:
    """``genes`` with the values that do not change the network set to 0 (a copy).

    Two gene rows describe the same network exactly when their canonical rows are equal (see
    :meth:`SearchSpace.canonical_genes`; in the Once-for-All space, kernel and expand genes of
    layers beyond a stage's depth do not matter).
    """
    return np.asarray(space.canonical_genes(np.asarray(genes, dtype=np.int64)), dtype=np.int64)


def mutate_genes(genes: np.ndarray, sizes: Sequence[int] | np.ndarray, rng: np.random.Generator, *,
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
    check = space is not None and space.has_redundant_genes
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
