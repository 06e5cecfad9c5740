"""Part tables: what the table-based predictors (lookup, few-shot) precompute from a space.

A space describes its networks as parts that each depend on a few genes
(:class:`~hwlat.spaces.base.Part`); these helpers list each part's ops for every combination of
its genes, turn op keys into costs, sum part tables over gene rows, store them as plain arrays
and fit the affine calibration both predictors fall back to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat.errors import InputError

if TYPE_CHECKING:
    from hwlat.latency_tables import LatencyTable
    from hwlat.spaces import SearchSpace

__all__ = ["op_costs", "enumerate_part_ops", "gather_parts", "parts_to_arrays", "parts_from_arrays", "fit_affine"]

log = logging.getLogger(__name__)


def op_costs(table: LatencyTable, keys: Sequence[str], overhead_ms: float, *, in_context: bool = True) -> np.ndarray:
    """What each op costs inside a network (ms), from ``table``: its ``context_ms`` (the marginal
    cost in a chain of its own copies) where measured and ``in_context``, else its ``latency_ms``
    less the runtime's per-call overhead. One error lists every missing op."""
    ms = table.lookup_many(keys) - float(overhead_ms)
    if in_context:
        ctx = table.lookup_many(keys, "context_ms")
        ms = np.where(np.isfinite(ctx), ctx, ms)
    return ms


#: enumerated parts of the spaces seen in this process, by space class and configuration (an NB201
#: space has 15,625 cells per stage: enumerating them takes seconds, and every fit needs them)
_PART_OPS: dict[tuple[str, str], tuple[list[Any], list[tuple[int, ...]], list[list[list[str]]], dict[str, Any]]] = {}


def enumerate_part_ops(space: SearchSpace
                       ) -> tuple[list[Any], list[tuple[int, ...]], list[list[list[str]]], dict[str, Any]]:
    """Every part of ``space``, its gene dimensions, the op keys of each gene combination, and
    every distinct op (key -> OpSpec) in first-seen order: what part tables are built from.
    Computed once per space configuration in a process; the result is shared: do not change it."""
    import json

    from hwlat.spaces.base import SearchSpace as Base

    if type(space).config is Base.config:  # a space that does not say what configures it: no cache
        return _enumerate_part_ops(space)
    try:
        ident = (f"{type(space).__module__}.{type(space).__qualname__}",
                 json.dumps(space.config(), sort_keys=True, default=str))
    except (TypeError, ValueError, NotImplementedError):
        return _enumerate_part_ops(space)
    if ident not in _PART_OPS:
        if len(_PART_OPS) >= 16:
            _PART_OPS.pop(next(iter(_PART_OPS)))
        _PART_OPS[ident] = _enumerate_part_ops(space)
    return _PART_OPS[ident]


def _enumerate_part_ops(space: SearchSpace
                        ) -> tuple[list[Any], list[tuple[int, ...]], list[list[list[str]]], dict[str, Any]]:
    sizes = np.asarray(space.gene_sizes())
    parts = space.parts()
    dims_per_part = [tuple(int(sizes[g]) for g in p.genes) for p in parts]
    combos: list[list[list[str]]] = []
    needed: dict[str, Any] = {}
    for pi, dims in enumerate(dims_per_part):
        rows = []
        for flat in range(int(np.prod(dims)) if dims else 1):
            values = np.unravel_index(flat, dims) if dims else ()
            specs = space.part_ops(pi, [int(v) for v in values])
            for spec in specs:
                needed.setdefault(spec.key, spec)
            rows.append([spec.key for spec in specs])
        combos.append(rows)
    return parts, dims_per_part, combos, needed


def gather_parts(genes: np.ndarray, part_genes: Sequence[np.ndarray], part_dims: Sequence[tuple[int, ...]],
                 part_tables: Sequence[np.ndarray]) -> np.ndarray:
    """Sum over parts of each gene row's entry in the part's table (tables of rows or of vectors)."""
    total = np.zeros((genes.shape[0], *part_tables[0].shape[1:]), dtype=np.float64)
    for idx, dims, tab in zip(part_genes, part_dims, part_tables):
        total += tab[np.ravel_multi_index(tuple(genes[:, idx].T), dims)] if dims else tab[0]
    return total


def parts_to_arrays(part_genes: Sequence[np.ndarray], part_dims: Sequence[tuple[int, ...]],
                    part_tables: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Part tables as named plain arrays for a predictor file."""
    arrays: dict[str, np.ndarray] = {}
    for i, (g, d, t) in enumerate(zip(part_genes, part_dims, part_tables)):
        arrays[f"part{i}_genes"] = np.asarray(g, dtype=np.int64)
        arrays[f"part{i}_dims"] = np.asarray(d, dtype=np.int64)
        arrays[f"part{i}_table"] = np.asarray(t, dtype=np.float64)
    return arrays


def parts_from_arrays(arrays: dict[str, np.ndarray], n: int
                      ) -> tuple[list[np.ndarray], list[tuple[int, ...]], list[np.ndarray]]:
    """The inverse of :func:`parts_to_arrays` for ``n`` parts."""
    genes = [np.asarray(arrays[f"part{i}_genes"], dtype=np.int64) for i in range(n)]
    dims = [tuple(int(x) for x in arrays[f"part{i}_dims"]) for i in range(n)]
    tables = [np.asarray(arrays[f"part{i}_table"], dtype=np.float64) for i in range(n)]
    for i, t in enumerate(tables):
        if not np.isfinite(t).all():
            raise InputError(f"the latencies of part {i} hold {int((~np.isfinite(t)).sum())} value(s) that are not "
                             "finite numbers (NaN or inf); the file is damaged, write it again")
    return genes, dims, tables


def fit_affine(s: np.ndarray, y_ms: Sequence[float] | np.ndarray, overhead_ms: float, *,
               what: str = "models") -> np.ndarray | None:
    """``(a, b)`` of ``y ≈ a·s + b`` with ``a, b ≥ 0`` minimising the squared relative error.

    ``s`` are overhead-free sums (ms). With one point (or identical sums) only ``a`` is fitted
    and ``b`` stays ``overhead_ms``. Returns None when there is nothing to fit or the fit
    degenerates (zero slope); raises InputError on malformed measurements.
    """
    from scipy.optimize import (
        nnls,  # scipy.optimize is slow to import; only calibration needs it
    )

    y = np.asarray(y_ms, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    if y.shape != s.shape:
        raise InputError(f"{len(s)} {what} but {y.size} measured latencies")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise InputError("measured latencies must be positive numbers (ms)")
    if y.size == 0:
        return None
    if y.size == 1 or np.ptp(s) <= 1e-9 * max(abs(s).max(), 1e-12):
        return np.array([float((y.mean() - overhead_ms) / max(s.mean(), 1e-12)), overhead_ms])
    # rows divided by y: least squares on the relative error; a latency is never negative
    coef, _ = nnls(np.column_stack([s / y, 1.0 / y]), np.ones_like(y))
    if coef[0] <= 0:
        log.warning("calibration gave a zero slope; keeping the uncalibrated sum")
        return None
    return np.asarray(coef, dtype=np.float64)
