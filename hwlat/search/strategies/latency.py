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
