"""Latency of a supernet's paths, layer by layer, and the budget-aware path read off its probabilities.

:class:`LayerLatency` gives every layer and candidate the latency (ms) a predictor assigns to it,
so that the expected latency of a gradient search is a smooth function of the path
probabilities (:mod:`hwlat.search.gradient`).

:func:`discretise` reads the derived network off the probabilities with the budget in mind.
Taking each layer's argmax ignores the budget: the loss only pulls the expected latency towards
it. Here the derived network is the path of greatest ``Σ_l log p_l[c_l]`` whose predicted
latency lies in ``[low · T, T]`` (``low = 0.9``: within -10 %…0 % of the budget), a
multiple-choice knapsack solved by dynamic programming over latency bins (each cost rounded up
to its bin, so the result never exceeds the budget). Where no path reaches the window's lower
end, the most probable path under the budget is taken; a budget below the space's least latency
is an error that states that least latency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwlat.errors import InputError
from hwlat.spaces.base import SearchSpace

__all__ = ["LayerLatency", "layer_latency", "check_supernet", "discretise", "Discretised"]


# -- latency as a function of the path probabilities ------------------------------------------------
@dataclass(frozen=True)
class LayerLatency:
    """Per-layer, per-candidate latency (ms): ``LAT = scale·(base_ms + Σ_l tables[l][c_l]) + offset_ms``.

    ``tables[l][i]`` is the latency of choice ``space.choices(l)[i]`` at layer ``l`` (0 ms for
    ``zero``), without the per-call overhead, which is in ``offset_ms``.
    """

    base_ms: float
    tables: tuple[np.ndarray, ...]
    scale: float
    offset_ms: float
    source: str
    predictor: Any = field(default=None, repr=False, compare=False)  # a Predictor, or any with predict(_genes)

    def latency(self, choice_idx: Sequence[int]) -> float:
        """Latency (ms) of the architecture whose layer ``l`` takes choice index ``choice_idx[l]``."""
        s = self.base_ms + sum(float(t[int(i)]) for t, i in zip(self.tables, choice_idx))
        return self.scale * s + self.offset_ms

    def bounds(self) -> tuple[float, float]:
        """The smallest and largest latency (ms) of any architecture."""
        lo = self.base_ms + sum(float(t.min()) for t in self.tables)
        hi = self.base_ms + sum(float(t.max()) for t in self.tables)
        return self.scale * lo + self.offset_ms, self.scale * hi + self.offset_ms


def check_supernet(space: SearchSpace) -> None:
    """Gradient search needs the space's supernet (built in: proxyless; see SearchSpace.supernet)."""
    if not getattr(space, "has_supernet", False):
        raise InputError(f"gradient search needs a space with a supernet (the built-in one is 'proxyless'), got "
                         f"{getattr(space, 'name', space)!r}; use get_space('proxyless') (evolution strategies "
                         "handle the other spaces)")


# Any: a space with a supernet, n_layers and choices(l) (not SearchSpace's); a table or predictor told by hasattr
def layer_latency(space: Any, table_or_predictor: Any) -> LayerLatency:
    """The :class:`LayerLatency` of ``space`` from a latency table, a predictor with
    ``layer_tables()`` (exact), or any predictor with ``predict_genes(genes)`` / ``predict(archs)``
    returning ms (linearised)."""
    check_supernet(space)
    obj = table_or_predictor
    if hasattr(obj, "lookup_many") and hasattr(obj, "metadata"):  # a LatencyTable
        from hwlat.predictors.lookup import LookupPredictor

        obj = LookupPredictor(space=space, table=obj).fit()
    n = space.n_layers
    parts = space.parts()
    lt = obj.layer_tables() if callable(getattr(obj, "layer_tables", None)) else None
    if lt is not None and len(lt.tables) == len(parts) and lt.dims[0] == () and all(
            tuple(int(g) for g in lt.genes[i + 1]) == (i,) and len(t) == len(space.choices(i))
            for i, t in enumerate(lt.tables[1:])):
        return LayerLatency(float(lt.tables[0][0]), tuple(np.asarray(t, dtype=np.float64) for t in lt.tables[1:]),
                            1.0, lt.constant_ms, f"{type(obj).__name__} part tables", obj)
    if hasattr(obj, "predict_genes"):
        def predict(g: np.ndarray) -> np.ndarray:
            return np.asarray(obj.predict_genes(g), dtype=np.float64)
    elif hasattr(obj, "predict"):
        def predict(g: np.ndarray) -> np.ndarray:
            return np.asarray(obj.predict([space.from_genes(r) for r in g]), dtype=np.float64)
    else:
        raise InputError(f"expected a LatencyTable or a latency predictor (predict_genes / predict returning ms), "
                         f"got {type(obj).__name__}")
    # linearise around the reference architecture (every layer at its first choice)
    sizes = space.gene_sizes()
    rows = [np.zeros(n, dtype=np.int64)]
    where = []
    for layer, k in enumerate(sizes):
        for c in range(k):
            r = np.zeros(n, dtype=np.int64)
            r[layer] = c
            rows.append(r)
            where.append((layer, c))
    y = predict(np.stack(rows))
    if y.shape != (len(rows),) or not np.all(np.isfinite(y)):
        raise InputError(f"the predictor returned {y.shape} values (some not finite) for {len(rows)} architectures")
    tables = [np.zeros(k) for k in sizes]
    for (layer, c), v in zip(where, y[1:]):
        tables[layer][c] = v - y[0]
    base = float(y[0]) - sum(float(t[0]) for t in tables)  # = y0: every table's first entry is 0
    return LayerLatency(base, tuple(tables), 1.0, 0.0, f"{type(obj).__name__} linearised per layer", obj)


_BINS = 4000
_FLOOR = 1e-12  # probabilities below this count as this (log of 0 is -inf)


@dataclass
class Discretised:
    choices: list[int]
    latency_ms: float
    log_prob: float
    in_window: bool  # within the window (see discretise), not only under its upper end


def discretise(probs: Sequence[np.ndarray], lat: Any, budget_ms: float, *, low: float = 0.9, margin: float = 0.0,
               bins: int = _BINS) -> Discretised:
    """The most probable path of ``probs`` with ``lat.latency(path)`` in ``[low * budget_ms, budget_ms]``.

    ``lat`` is a :class:`LayerLatency` (latency additive over layers). ``margin``: the path must
    be predicted within ``budget_ms / (1 + margin)`` (a predictor that runs low by that much still
    meets the budget); the window's lower end stays at ``low * budget_ms`` unless the margin
    reaches below it.
    """
    P = [np.clip(np.asarray(p, dtype=np.float64), _FLOOR, None) for p in probs]
    if len(P) != len(lat.tables):
        raise InputError(f"{len(P)} layers of probabilities for {len(lat.tables)} layers of latency")
    lo_ms, _ = lat.bounds()
    if budget_ms < lo_ms - 1e-9:
        raise InputError(f"no architecture runs within {budget_ms:g} ms: the least latency the space can reach is "
                         f"{lo_ms:.4g} ms; raise the budget to at least that")
    if not (math.isfinite(margin) and margin >= 0):
        raise InputError(f"the budget margin must be a fraction >= 0, got {margin!r}")
    # the window: under the budget by the margin (never below the least latency), from low * budget
    upper = max(budget_ms / (1.0 + margin), lo_ms)
    lower = low * budget_ms if upper > low * budget_ms else low * upper
    const = lat.scale * lat.base_ms + lat.offset_ms
    room = upper - const  # what the layers may spend together
    costs = [lat.scale * np.asarray(t, dtype=np.float64) for t in lat.tables]
    floor = sum(float(c.min()) for c in costs)
    width = max(room - floor, 1e-9) / bins
    # costs above each layer's cheapest choice, in bins, rounded up: the sum never exceeds the room
    extra = [np.ceil((c - c.min()) / width - 1e-9).astype(np.int64) for c in costs]
    score = np.full(bins + 1, -np.inf)
    score[0] = 0.0
    back = np.zeros((len(P), bins + 1), dtype=np.int64)
    for layer, (p, e) in enumerate(zip(P, extra)):
        best = np.full(bins + 1, -np.inf)
        arg = np.zeros(bins + 1, dtype=np.int64)
        for c in range(p.size):
            k = int(e[c])
            if k > bins:
                continue
            cand = np.full(bins + 1, -np.inf)
            cand[k:] = score[:bins + 1 - k] + np.log(p[c])
            take = cand > best
            best[take], arg[take] = cand[take], c
        score, back[layer] = best, arg

    def path(end: int) -> list[int]:
        out = [0] * len(P)
        b = end
        for layer in range(len(P) - 1, -1, -1):
            c = int(back[layer, b])
            out[layer] = c
            b -= int(extra[layer][c])
        return out

    # the bin of each reachable end is an upper bound of its latency: check the window exactly
    ends = np.flatnonzero(np.isfinite(score))
    order = ends[np.argsort(-score[ends], kind="stable")]
    fallback = None
    for end in order:
        picks = path(int(end))
        ms = lat.latency(picks)
        if ms > upper + 1e-9:
            continue
        if fallback is None:
            fallback = (picks, ms)
        if ms >= lower:
            return Discretised(picks, ms, _log_prob(P, picks), True)
    if fallback is None:  # every path over the budget (rounding at the boundary): the fastest
        fastest = [int(np.argmin(t)) for t in costs]
        fallback = (fastest, lat.latency(fastest))
    picks, ms = fallback
    return Discretised(picks, ms, _log_prob(P, picks), False)


def _log_prob(P: Sequence[np.ndarray], picks: Sequence[int]) -> float:
    return float(sum(np.log(p[j]) for p, j in zip(P, picks)))
