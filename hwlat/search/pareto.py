"""Pareto fronts of latency (ms, minimised) and accuracy (maximised); hypervolume; NSGA-II sorting.

>>> front = ParetoFront.from_points(latency_ms=[1.0, 2.0, 1.5], accuracy=[90.0, 94.0, 89.0])
>>> front.to_frame()[["latency_ms", "accuracy"]].values.tolist()
[[1.0, 90.0], [2.0, 94.0]]
>>> front.hypervolume(ref=(3.0, 80.0))   # (3-1)*(90-80) + (3-2)*(94-90)
24.0

The functions on objective matrices (:func:`non_dominated_mask`, :func:`non_dominated_sort`,
:func:`crowding_distance`, :func:`hypervolume_2d`) take ``(n, k)`` arrays whose columns are all
**minimised**; negate a column to maximise it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, overload

import numpy as np
import pandas as pd

from hwlat.errors import InputError

__all__ = ["ParetoFront", "non_dominated_mask", "non_dominated_sort", "crowding_distance", "hypervolume_2d"]

_CHUNK = 2048


def _as_objectives(F: Any, what: str = "objectives") -> np.ndarray:
    a = np.asarray(F, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise InputError(f"{what} must be an (n, k) array, got shape {a.shape}")
    if a.size and not np.all(np.isfinite(a)):
        raise InputError(f"{what} hold NaN or infinite values; drop or fix those points first")
    return a


def _nd_mask_2d(F: np.ndarray) -> np.ndarray:
    """Non-dominated rows of a 2-column minimisation matrix in O(n log n)."""
    n = F.shape[0]
    order = np.lexsort((F[:, 1], F[:, 0]))  # by f0, then f1
    f0, f1 = F[order, 0], F[order, 1]
    # best f1 among points with strictly smaller f0 (rows of equal f0 do not dominate by f0)
    prev_min = np.minimum.accumulate(np.concatenate([[np.inf], f1[:-1]]))
    # first row of each run of equal f0: only strictly smaller f0 came before it
    starts = np.r_[True, f0[1:] != f0[:-1]]
    run_id = np.cumsum(starts) - 1
    before_run = prev_min[starts][run_id]  # min f1 over rows with smaller f0
    run_best = np.minimum.reduceat(f1, np.flatnonzero(starts))[run_id]  # min f1 in the same f0 run
    keep = (f1 < before_run) & (f1 <= run_best)
    mask = np.zeros(n, dtype=bool)
    mask[order[keep]] = True
    return mask


def non_dominated_mask(F: Any) -> np.ndarray:
    """Boolean mask of the rows of ``F`` (all columns minimised) that no other row dominates.

    A row dominates another when it is no worse in every column and better in one; equal rows
    do not dominate each other, so duplicates on the front are all kept.
    """
    a = _as_objectives(F)
    n = a.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    if a.shape[1] == 1:
        return a[:, 0] == a[:, 0].min()
    if a.shape[1] == 2:
        return _nd_mask_2d(a)
    mask = np.ones(n, dtype=bool)
    for s in range(0, n, _CHUNK):
        blk = a[s:s + _CHUNK]
        le = np.all(a[None, :, :] <= blk[:, None, :], axis=2)
        lt = np.any(a[None, :, :] < blk[:, None, :], axis=2)
        mask[s:s + _CHUNK] = ~np.any(le & lt, axis=1)
    return mask


def non_dominated_sort(F: Any) -> np.ndarray:
    """Front rank of each row (0 = non-dominated, 1 = non-dominated once rank 0 is removed, ...)."""
    a = _as_objectives(F)
    n = a.shape[0]
    rank = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return rank
    if a.shape[1] == 2:
        left = np.arange(n)
        r = 0
        while left.size:
            m = _nd_mask_2d(a[left])
            rank[left[m]] = r
            left = left[~m]
            r += 1
        return rank
    # dom[i, j]: row i dominates row j
    le = np.all(a[:, None, :] <= a[None, :, :], axis=2)
    lt = np.any(a[:, None, :] < a[None, :, :], axis=2)
    dom = le & lt
    count = dom.sum(axis=0)
    current = np.flatnonzero(count == 0)
    r = 0
    while current.size:
        rank[current] = r
        count = count - dom[current].sum(axis=0)
        count[rank >= 0] = -1
        current = np.flatnonzero(count == 0)
        r += 1
    return rank


def crowding_distance(F: Any) -> np.ndarray:
    """NSGA-II crowding distance of each row within its set (boundary rows get infinity)."""
    a = _as_objectives(F)
    n, k = a.shape
    d = np.zeros(n, dtype=np.float64)
    if n <= 2:
        d[:] = np.inf
        return d
    for j in range(k):
        order = np.argsort(a[:, j], kind="stable")
        v = a[order, j]
        span = v[-1] - v[0]
        d[order[0]] = d[order[-1]] = np.inf
        if span > 0:
            d[order[1:-1]] += (v[2:] - v[:-2]) / span
    return d


def hypervolume_2d(F: Any, ref: Sequence[float]) -> float:
    """Exact area dominated by the rows of a 2-column minimisation matrix and bounded by ``ref``.

    Rows not strictly better than ``ref`` in both columns add nothing.
    """
    a = _as_objectives(F)
    if a.shape[1] != 2:
        raise InputError(f"hypervolume_2d needs 2 objectives, got {a.shape[1]}")
    r = np.asarray(ref, dtype=np.float64)
    if r.shape != (2,) or not np.all(np.isfinite(r)):
        raise InputError(f"the reference point must be two finite numbers, got {ref!r}")
    a = a[(a[:, 0] < r[0]) & (a[:, 1] < r[1])]
    if a.shape[0] == 0:
        return 0.0
    a = a[_nd_mask_2d(a)]
    a = a[np.lexsort((a[:, 1], a[:, 0]))]
    # sorted by f0 ascending, so f1 descends along the front
    widths = np.diff(np.r_[a[:, 0], r[0]])
    heights = r[1] - a[:, 1]
    return float(np.sum(widths * heights))


class ParetoFront:
    """The latency–accuracy Pareto front of a set of evaluated architectures.

    Latency (ms) is minimised and accuracy maximised. Rows are sorted by latency; extra
    per-point columns (architecture text, genes, evaluation index, ...) ride along.
    """

    def __init__(self, frame: pd.DataFrame, *, accuracy_name: str = "accuracy") -> None:
        missing = {"latency_ms", "accuracy"} - set(frame.columns)
        if missing:
            raise InputError(f"a ParetoFront frame needs columns latency_ms and accuracy; missing {sorted(missing)}")
        self._df = frame.sort_values(["latency_ms", "accuracy"], ascending=[True, False], kind="stable"
                                     ).reset_index(drop=True)
        self.accuracy_name = accuracy_name

    @classmethod
    def from_points(cls, latency_ms: Iterable[float], accuracy: Iterable[float], *,
                    archs: Sequence[Any] | None = None, accuracy_name: str = "accuracy",
                    **columns: Sequence[Any]) -> ParetoFront:
        """The non-dominated subset of the points ``(latency_ms[i], accuracy[i])``.

        ``archs`` (e.g. architecture strings) and any other ``columns`` are per-point values
        kept for the points on the front.
        """
        lat = np.asarray(list(latency_ms) if not isinstance(latency_ms, np.ndarray) else latency_ms, dtype=np.float64)
        acc = np.asarray(list(accuracy) if not isinstance(accuracy, np.ndarray) else accuracy, dtype=np.float64)
        if lat.shape != acc.shape or lat.ndim != 1:
            raise InputError(f"latency_ms and accuracy must be two 1-D sequences of equal length, got shapes "
                             f"{lat.shape} and {acc.shape}")
        ok = np.isfinite(lat) & np.isfinite(acc)
        if archs is not None:
            columns = {"arch": archs, **columns}
        data: dict[str, Any] = {"latency_ms": lat, "accuracy": acc}
        for name, values in columns.items():
            v = values if isinstance(values, np.ndarray) else list(values)
            if len(v) != lat.size:
                raise InputError(f"column {name!r} has {len(v)} values for {lat.size} points")
            data[name] = list(v) if isinstance(v, np.ndarray) and v.ndim > 1 else v
        df = pd.DataFrame(data)
        idx = np.flatnonzero(ok)
        mask = non_dominated_mask(np.column_stack([lat[idx], -acc[idx]])) if idx.size else np.zeros(0, bool)
        return cls(df.iloc[idx[mask]].copy(), accuracy_name=accuracy_name)

    # -- access ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._df)

    @property
    def latency_ms(self) -> np.ndarray:
        return self._df["latency_ms"].to_numpy(dtype=np.float64)

    @property
    def accuracy(self) -> np.ndarray:
        return self._df["accuracy"].to_numpy(dtype=np.float64)

    def to_frame(self) -> pd.DataFrame:
        """The front as a DataFrame sorted by latency (a copy)."""
        return self._df.copy()

    # -- indicators --------------------------------------------------------------------------------
    def hypervolume(self, ref: Sequence[float]) -> float:
        """Area (ms x accuracy units) the front dominates, bounded by ``ref = (latency_ms, accuracy)``.

        Declare ``ref`` explicitly and keep it fixed when comparing fronts, e.g. the worst
        latency and the worst accuracy of the space. Points slower than ``ref[0]`` or less
        accurate than ``ref[1]`` add nothing.
        """
        r = tuple(float(x) for x in ref)
        if len(r) != 2:
            raise InputError(f"ref is (latency_ms, accuracy), got {ref!r}")
        return hypervolume_2d(np.column_stack([self.latency_ms, -self.accuracy]), (r[0], -r[1]))

    @overload
    def best_under(self, budget_ms: float) -> dict[str, Any] | None: ...

    @overload
    def best_under(self, budget_ms: Iterable[float]) -> pd.DataFrame: ...

    def best_under(self, budget_ms: float | Iterable[float]) -> dict[str, Any] | None | pd.DataFrame:
        """The most accurate point whose latency is within ``budget_ms``.

        With one budget: that point as a dict, or None when nothing fits. With several: a
        DataFrame, one row per budget (``budget_ms`` first; NaN where nothing fits).
        """
        if np.ndim(budget_ms) == 0:  # type: ignore[arg-type]  # numpy's stub says ArrayLike; ndim takes any object
            b = float(budget_ms)  # type: ignore[arg-type]
            fits = self._df[self._df["latency_ms"] <= b]
            if fits.empty:
                return None
            # the front is sorted by latency with accuracy rising: the last fitting row is best
            i = fits["accuracy"].to_numpy().argmax()
            return {"budget_ms": b, **fits.iloc[i].to_dict()}
        rows = []
        for b in budget_ms:  # type: ignore[union-attr]
            hit = self.best_under(float(b))
            rows.append(hit if hit is not None else {"budget_ms": float(b)})
        out = pd.DataFrame(rows)
        for c in self._df.columns:
            if c not in out.columns:
                out[c] = np.nan
        return out[["budget_ms", *self._df.columns]]

    def knee(self) -> dict[str, Any] | None:
        """The knee of the front: the point farthest from the line joining its two ends.

        Both axes are first scaled to [0, 1] over the front, so the choice does not depend on
        units. Fronts of one or two points return their most accurate point.
        """
        n = len(self)
        if n == 0:
            return None
        if n <= 2:
            return self._df.iloc[int(np.argmax(self.accuracy))].to_dict()
        x, y = self.latency_ms, self.accuracy
        xs = (x - x.min()) / max(np.ptp(x), 1e-300)
        ys = (y - y.min()) / max(np.ptp(y), 1e-300)
        # ends: (0, 0) fastest and (1, 1) most accurate after scaling; distance above the diagonal
        dist = (ys - xs) / np.sqrt(2.0)
        return self._df.iloc[int(np.argmax(dist))].to_dict()

    def __repr__(self) -> str:
        if not len(self):
            return f"ParetoFront(empty, accuracy={self.accuracy_name!r})"
        return (f"ParetoFront({len(self)} points, {self.latency_ms.min():.3g}-{self.latency_ms.max():.3g} ms, "
                f"{self.accuracy.min():.4g}-{self.accuracy.max():.4g} {self.accuracy_name!r})")

