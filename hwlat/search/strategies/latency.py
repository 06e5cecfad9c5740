"""What a search asks of its latency predictor: latencies of gene rows, and the least latency a space
can reach (to reject a budget below it with a message that states it)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hwlat.errors import InputError
from hwlat.spaces.base import SearchSpace

__all__ = ["predict_latency_genes", "min_latency"]

_ENUMERATE_LIMIT = 200_000  # spaces up to this size are enumerated for their least latency


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
    """Least latency from a predictor's own ``min_latency()`` (exact), else a lower bound from its
    ``layer_tables()``; None for a predictor with neither."""
    least = latency.min_latency() if callable(getattr(latency, "min_latency", None)) else None
    if least is not None:
        return float(least), "exact, from the predictor's part tables"
    tables = latency.layer_tables() if callable(getattr(latency, "layer_tables", None)) else None
    if tables is None:
        return None
    return tables.lower_bound_ms(), "a lower bound, from the minima of the predictor's part tables"


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
