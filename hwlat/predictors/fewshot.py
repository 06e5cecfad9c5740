"""``FewShotAdapter``: a device's latency from a few whole-model measurements and another device's table.

Where a device cannot be profiled op by op (a phone without a profiler, a GPU behind a service,
a published benchmark that only gives whole-model times), hwlat can still predict it: take a
latency table of a *reference* device, split each architecture's reference latency into groups
of ops (by op kind, by op type, or per op), and learn one non-negative multiplier per group from
``K`` whole-model measurements on the target device::

    y_ms ≈ intercept_ + Σ_g coef_[g] · S_g(arch)

``S_g`` is the overhead-free sum (ms) of the reference table's latencies over the ops of group
``g`` in the architecture (each op's latency less the reference runtime's per-call overhead, as
in :class:`~hwlat.predictors.lookup.LookupPredictor`). The fit is a non-negative least squares
(``scipy.optimize.nnls``) of the relative error ``(ŷ - y) / y``. Groups whose sum is the same
for every architecture (stem, reductions, head; NB201's adds in ``none_edges="zero"``) cannot be
told apart from a constant and are folded into the intercept.

With few measurements a per-group model has more unknowns than it can learn. Two guards: the
multipliers are shrunk towards one common scale (``alpha``; a group that none of the measured
models uses keeps that scale), and below ``min_per_feature`` measurements per unknown the
adapter falls back to fewer parameters: an affine map of the reference total (``a·S + b``),
then a single scale ``a·(S + overhead)``.

On NAS-Bench-201 (15 GPU/CPU settings, ``benchmarks/bench_fewshot.py``) grouping by op type
with ``none_edges="zero"`` ranks the ~15,600 unseen networks with a mean Spearman of 0.976 from
10 measured ones (MAPE 4.2 %); grouping by kind only (conv 1x1 and 3x3 share one multiplier)
reaches 0.848.

Queries are vectorised like the lookup predictor's: every part of the space
(:meth:`~hwlat.spaces.base.SearchSpace.parts`) gets a table of its per-group sums for
every combination of its genes, and :meth:`FewShotAdapter.predict_genes` is a few gathers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from hwlat.errors import InputError, NotFittedError
from hwlat.predictors.base import LayerTables, required, table_hash
from hwlat.predictors.parts import (
    enumerate_part_ops,
    gather_parts,
    op_costs,
    parts_from_arrays,
    parts_to_arrays,
)
from hwlat.spaces import SearchSpace, get_space

if TYPE_CHECKING:
    from hwlat.latency_tables import LatencyTable

__all__ = ["GROUPINGS", "FewShotAdapter", "op_group"]

log = logging.getLogger(__name__)

#: built-in ways to group ops into features (see :func:`op_group`)
GROUPINGS = ("total", "kind", "type", "key")

#: column name of the reference's constant part when ``intercept=False``
FIXED = "fixed"

NEEDS_SPACE = "FewShotAdapter needs space= (a SearchSpace)"
NEEDS_TABLE = ("FewShotAdapter needs a reference latency table of another device to fit; "
               "profile one with `hwlat profile` or hwlat.profiler.profile_ops")


def op_group(spec: Any, grouping: str | Callable[[Any], str]) -> str:
    """The feature group of one op spec.

    * ``"total"``: one group for every op (the adapter is then an affine calibration);
    * ``"kind"``: the op kind (``conv``, ``pool``, ``add``, ``bn``...);
    * ``"type"``: the kind and its parameters, any input shape (``conv:k=3,pre_act=relu,...``):
      the same operation at every stage of a network shares one multiplier;
    * ``"key"``: the full op key (one multiplier per distinct op of the table);
    * a callable ``spec -> str``.
    """
    if callable(grouping):
        return str(grouping(spec))
    if grouping == "total":
        return "total"
    if grouping == "kind":
        return str(spec.kind)
    if grouping == "type":
        return _op_type(spec)
    if grouping == "key":
        return str(spec.key)
    raise InputError(f"grouping must be one of {', '.join(GROUPINGS)} or a callable spec -> str, got {grouping!r}")


def _op_type(spec: Any) -> str:
    """Kind and parameters without sizes: channel counts dropped, depthwise groups and the
    expansion ratio kept as such (``conv:k=3,pre_act=relu,...`` at any stage)."""
    c = int(spec.input_shape[0])
    items = []
    for k, v in spec.key_params:
        if k == "cout":
            continue
        if k == "mid":
            items.append(f"e={int(v) / c:.3g}")
        elif k == "groups" and int(v) > 1 and int(v) == c:
            items.append("groups=dw")
        else:
            items.append(f"{k}={v}")
    return f"{spec.kind}:{','.join(items)}" if items else str(spec.kind)


def _relative_lsq(X: np.ndarray, y: np.ndarray, penalty: np.ndarray | None = None,
                  lower: np.ndarray | None = None) -> np.ndarray:
    """``c >= lower`` (default 0) minimising ``Σ ((X c - y) / y)² + ‖penalty · c‖²``."""
    from scipy.optimize import lsq_linear

    A = X / y[:, None]
    b = np.ones_like(y)
    if penalty is not None:
        A = np.vstack([A, penalty])
        b = np.concatenate([b, np.zeros(penalty.shape[0])])
    scale = np.sqrt((A ** 2).sum(axis=0))
    scale[scale == 0] = 1.0  # an all-zero column gets its lower bound either way
    lo = np.zeros(A.shape[1]) if lower is None else np.asarray(lower, dtype=np.float64)
    res = lsq_linear(A / scale, b, bounds=(lo * scale, np.full(A.shape[1], np.inf)), method="bvls")
    return np.maximum(res.x / scale, lo)


class FewShotAdapter(BaseEstimator):
    """Latency (ms) on a target device from ``K`` whole-model measurements and a reference table.

    A scikit-learn estimator: every parameter is keyword-only and stored unchanged;
    ``FewShotAdapter(space=space, reference_table=table).fit(archs, y_ms)``.

    Parameters
    ----------
    space:
        A :class:`~hwlat.spaces.SearchSpace` (any space with the genes API).
    reference_table:
        A :class:`~hwlat.latency_tables.LatencyTable` of another device holding every op of the
        space (e.g. the space's table profiled on this machine's CPU).
    grouping:
        How ops become features: ``"kind"``, ``"type"``, ``"key"``, ``"total"`` or a callable
        ``spec -> str`` (see :func:`op_group`).
    intercept:
        Fit a non-negative constant (ms) for the per-model cost; without it the reference's
        constant part (and its per-call overhead) is one more scaled feature, ``"fixed"``.
    min_per_feature:
        Measurements needed per fitted parameter; with fewer the adapter falls back to an affine
        map of the reference total (2 parameters), then to one scale (1 parameter). With
        ``alpha > 0`` the group model counts as 2 parameters (its deviations are shrunk).
    alpha:
        Shrinkage of the group multipliers towards one common scale (0: plain NNLS). A
        deviation is charged ``alpha`` times the squared relative change it makes to an average
        model of the space, so it matters only while there are few measurements, and a group
        that none of the measured models uses keeps the common scale.
    min_scale:
        The guard of the constant part (stem, head, reductions, per-call overhead): its fitted
        cost is at least ``min_scale`` times the common scale times its reference cost, so a
        network with a stem and a head is never predicted at 0 ms, whatever the measurements.
    overhead_ms:
        The reference runtime's per-call overhead (ms); ``None`` takes it from the table's
        metadata (0 when absent).
    in_context:
        Use the reference table's in-context costs (``context_ms``) where it has them (see
        :func:`~hwlat.predictors.lookup.op_costs`).
    shrink_constant:
        Shrink the constant part's multiplier towards the common scale as well (by default it
        is free, above the ``min_scale`` guard): with few measurements it then cannot trade
        places with the slope.
    """

    def __init__(self, *, space: SearchSpace | None = None, reference_table: LatencyTable | None = None,
                 grouping: str | Callable[[Any], str] = "type",
                 intercept: bool = True, min_per_feature: float = 1.5, alpha: float = 0.1,
                 min_scale: float = 0.25, overhead_ms: float | None = None, in_context: bool = False,
                 shrink_constant: bool = False) -> None:
        self.space = space
        self.reference_table = reference_table
        self.grouping = grouping
        self.intercept = intercept
        self.min_per_feature = min_per_feature
        self.alpha = alpha
        self.min_scale = min_scale
        self.overhead_ms = overhead_ms
        self.in_context = in_context
        self.shrink_constant = shrink_constant

    # -- features ------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.space is None:
            raise InputError(NEEDS_SPACE)
        if not callable(self.grouping) and self.grouping not in GROUPINGS:
            raise InputError(f"grouping must be one of {', '.join(GROUPINGS)} or a callable spec -> str, "
                             f"got {self.grouping!r}")
        m = self.min_per_feature
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not np.isfinite(m) or m <= 0:
            raise InputError(f"min_per_feature must be a positive number (measurements per parameter), got {m!r}")
        a = self.alpha
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not np.isfinite(a) or a < 0:
            raise InputError(f"alpha must be a non-negative number (0 = no shrinkage), got {a!r}")
        ms = self.min_scale
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not np.isfinite(ms) or not 0 <= ms <= 1:
            raise InputError(f"min_scale must be a number in [0, 1] (the least scale of the constant part), got {ms!r}")
        if not isinstance(self.intercept, (bool, np.bool_)):
            raise InputError(f"intercept must be True or False, got {self.intercept!r}")
        if self.reference_table is None:
            raise InputError(NEEDS_TABLE)

    def _need_space(self) -> SearchSpace:
        """``space``, which fitting and predicting need (the error fit gives without it)."""
        return required(self.space, NEEDS_SPACE)

    def _need_table(self) -> LatencyTable:
        """``reference_table``, which fitting and saving need."""
        return required(self.reference_table, NEEDS_TABLE)

    def _build_features(self) -> None:
        """Per part, per gene combination, the sum (ms) of each group's overhead-free latencies."""
        cache_key = (id(self.space), id(self.reference_table), self.grouping, self.overhead_ms, bool(self.intercept),
                     bool(self.in_context))
        if getattr(self, "_features_for", None) == cache_key:
            return  # the same space, table and grouping: the part tables are still right
        space, table = self._need_space(), self._need_table()
        overhead = self.overhead_ms
        if overhead is None:
            overhead = table.metadata.overhead_ms or 0.0
        parts, part_dims, combos, needed = enumerate_part_ops(space)
        keys = list(needed)
        ms = op_costs(table, keys, float(overhead), in_context=self.in_context)  # raises once, listing every missing op
        group_of = {k: op_group(needed[k], self.grouping) for k in keys}
        groups = list(dict.fromkeys(group_of[k] for k in keys))
        gidx = {g: i for i, g in enumerate(groups)}
        op_col = np.array([gidx[group_of[k]] for k in keys], dtype=np.int64)
        kpos = {k: i for i, k in enumerate(keys)}
        tabs = []
        for rows in combos:
            t = np.zeros((len(rows), len(groups)))
            for r, row in enumerate(rows):
                idx = np.fromiter((kpos[k] for k in row), dtype=np.int64, count=len(row))
                np.add.at(t[r], op_col[idx], ms[idx])
            tabs.append(t)
        # a group whose sum is the same for every architecture is a constant, not a feature
        varying = np.zeros(len(groups), dtype=bool)
        const = np.zeros(len(groups))
        for t in tabs:
            varying |= np.ptp(t, axis=0) > 1e-12 * max(float(np.abs(t).max()), 1e-300)
            const += t[0]
        cols = [g for g, v in zip(groups, varying) if v]
        self.feature_names_ = cols
        self.const_ms_ = float(const[~varying].sum()) + float(overhead)  # reference constant incl. overhead
        self.overhead_ms_ = float(overhead)
        self.part_genes_ = [np.asarray(p.genes, dtype=np.int64) for p in parts]
        self.part_dims_ = part_dims
        # a part without genes (stem, head) is constant as a whole: it joins the constant too
        self.part_tables_ = []
        for t, dims in zip(tabs, self.part_dims_):
            if dims:
                self.part_tables_.append(np.ascontiguousarray(t[:, varying]))
            else:
                self.const_ms_ += float(t[0, varying].sum())
                self.part_tables_.append(np.zeros((1, int(varying.sum()))))
        # each group's share of the latency of an average model of the space (uniform genes)
        mean = sum(t.mean(axis=0) for t in self.part_tables_)
        self.group_share_ = np.asarray(mean, dtype=np.float64) / max(float(np.sum(mean)) + self.const_ms_, 1e-300)
        self.const_share_ = self.const_ms_ / max(float(np.sum(mean)) + self.const_ms_, 1e-300)
        self.n_ops_ = len(keys)
        self._features_for = cache_key

    def features_genes(self, genes: np.ndarray) -> pd.DataFrame:
        """Per-group reference sums (ms) of each gene row: one named column per feature group.

        Constant groups are left out (they are in ``const_ms_``); with ``intercept=False`` the
        column ``"fixed"`` holds the reference's constant part plus its per-call overhead.
        """
        X = self._features(genes)
        cols = list(self.feature_names_)
        if not self.intercept:
            X = np.column_stack([X, np.full(X.shape[0], self.const_ms_)])
            cols.append(FIXED)
        return pd.DataFrame(X, columns=cols)

    def features(self, archs: Sequence[Any]) -> pd.DataFrame:
        """Per-group reference sums (ms) of each architecture (see :meth:`features_genes`)."""
        return self.features_genes(self._need_space().to_genes(list(archs)))

    def _features(self, genes: np.ndarray) -> np.ndarray:
        if not hasattr(self, "part_tables_"):
            raise NotFittedError("this FewShotAdapter is not fitted yet; call fit(archs, y_ms) first")
        g = np.asarray(genes)
        n_genes = len(self.space.gene_sizes()) if self.space is not None else None
        if g.ndim != 2 or (n_genes is not None and g.shape[1] != n_genes) or not np.issubdtype(g.dtype, np.integer):
            raise InputError(f"genes must be an integer array of shape (n, {n_genes}); "
                             "use space.to_genes(archs) to make one")
        if not self.feature_names_:
            return np.zeros((g.shape[0], 0))
        # parts without genes hold zeros here: their sums are in const_ms_
        return gather_parts(g, self.part_genes_, self.part_dims_, self.part_tables_)

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X: Sequence[Any], y: Sequence[float] | np.ndarray) -> FewShotAdapter:
        """Fit the multipliers on measured whole-model latencies ``y`` (ms) of architectures ``X``
        on the target."""
        self._check_params()
        archs = list(X)
        space = self._need_space()
        genes = space.to_genes(archs) if archs else np.zeros((0, len(space.gene_sizes())), dtype=np.int64)
        return self.fit_genes(genes, y)

    def fit_genes(self, genes: np.ndarray, y_ms: Sequence[float] | np.ndarray) -> FewShotAdapter:
        """:meth:`fit` on gene rows (``space.to_genes``) instead of architectures."""
        self._check_params()
        y = np.asarray(y_ms, dtype=np.float64).ravel()
        g = np.asarray(genes)
        if g.ndim != 2 or g.shape[0] != y.size:
            raise InputError(f"{g.shape[0] if g.ndim == 2 else '?'} architectures but {y.size} measured latencies; "
                             "pass one latency (ms) per architecture")
        if y.size < 2:
            raise InputError(f"few-shot adaptation needs at least 2 measured architectures, got {y.size}; "
                             "measure more whole models on the target device")
        bad = np.flatnonzero(~np.isfinite(y) | (y <= 0))
        if bad.size:
            i = int(bad[0])
            v = float(y[i])
            what = "NaN (not a number)" if np.isnan(v) else ("infinite" if np.isinf(v) else f"{v:g}")
            raise InputError(f"measured latencies must be positive finite numbers (ms); latency {i + 1} of {y.size} "
                             f"is {what}" + (f" ({bad.size} bad in all)" if bad.size > 1 else ""))
        self._build_features()
        X = self._features(g)
        S = X.sum(axis=1)  # varying part of the reference total
        K = y.size
        n_groups = X.shape[1] + (0 if self.intercept else (1 if self.const_ms_ else 0))
        p_full = n_groups + int(bool(self.intercept))
        # the shrunken model (alpha > 0) is as well posed as the affine one: it needs as few models
        p_needed = min(p_full, 2) if self.alpha > 0 else p_full
        mode = "scale"
        if K >= self.min_per_feature * p_needed and n_groups >= 1 and p_full > 2:
            mode = "groups"
        elif self.intercept and K >= self.min_per_feature * 2 and np.ptp(S) > 0:
            mode = "affine"
        coef = np.zeros(X.shape[1])
        t = S + self.const_ms_
        a0 = float(np.sum(t / y) / np.sum((t / y) ** 2))  # the one-scale fit: target ms per reference ms
        # the guard: the constant part (stem, head, per-call overhead) never costs less than
        # min_scale of the common scale, so no network with a stem and a head is predicted at 0 ms
        b_min = self.min_scale * a0 * self.const_ms_
        if mode == "groups":
            cols = [X]
            if self.intercept:
                cols.append(np.ones((K, 1)))
            elif self.const_ms_:
                cols.append(np.full((K, 1), self.const_ms_))
            A = np.column_stack(cols)
            lower = np.zeros(A.shape[1])
            if self.intercept:
                lower[-1] = b_min
            elif self.const_ms_:
                lower[-1] = self.min_scale * a0
            if self.alpha > 0:
                # shrink every multiplier towards one common scale ``a`` (an extra unknown, last
                # column): a deviation costs alpha times the squared relative change it makes to
                # an average model of the space; a group none of the K models uses stays at ``a``
                G = X.shape[1]
                share = self.group_share_ / a0  # Δc_g · share_g = relative change of an average model
                shrink_const = self.shrink_constant and A.shape[1] > G
                pen = np.zeros((G + int(shrink_const), A.shape[1] + 1))
                pen[np.arange(G), np.arange(G)] = share
                pen[:G, -1] = -share
                if shrink_const:  # the constant part's multiplier too (b / const, or the fixed column's)
                    cs = self.const_share_ / a0
                    pen[G, G] = cs / self.const_ms_ if self.intercept else cs
                    pen[G, -1] = -cs
                c = _relative_lsq(np.column_stack([A, np.zeros(K)]), y, np.sqrt(self.alpha) * pen,
                                  np.append(lower, 0.0))[:-1]
            else:
                c = _relative_lsq(A, y, lower=lower)
            coef = c[:X.shape[1]]
            b = float(c[-1]) if self.intercept else float(c[-1] * self.const_ms_) if self.const_ms_ else 0.0
            if not np.any(coef > 0):  # nothing left that varies with the architecture
                mode = "affine" if self.intercept and np.ptp(S) > 0 else "scale"
        if mode == "affine":
            a, b = _relative_lsq(np.column_stack([S, np.ones(K)]), y, lower=np.array([0.0, b_min]))
            if a <= 0:
                mode = "scale"
            else:
                coef[:] = a
                b = float(b)
        if mode == "scale":  # y ≈ a · (S + reference constant): argmin Σ ((a t - y) / y)²
            a = a0
            coef[:] = a
            b = a * self.const_ms_
        self.coef_ = pd.Series(coef, index=pd.Index(self.feature_names_, name="group"), name="multiplier")
        self.intercept_ = float(b)
        self.mode_ = mode
        self.n_fit_ = int(K)
        log.debug("few-shot fit on %d models: mode %s, %d groups", K, mode, len(self.feature_names_))
        return self

    # -- predicting -----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("this FewShotAdapter is not fitted yet; call fit(archs, y_ms) first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "coef_")

    def predict_genes(self, genes: np.ndarray) -> np.ndarray:
        """Latency (ms) of each gene row on the target device."""
        self._check_fitted()
        return self._features(genes) @ self.coef_.to_numpy() + self.intercept_

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        """Latency (ms) of each architecture of ``X`` on the target device."""
        return self.predict_genes(self._need_space().to_genes(list(X)))

    def reference_genes(self, genes: np.ndarray) -> np.ndarray:
        """The reference device's own predicted latency (ms) of each gene row (uncalibrated sum)."""
        return self._features(genes).sum(axis=1) + self.const_ms_

    def layer_tables(self) -> LayerTables:
        """The per-part target latencies (ms, the multipliers applied) and the fitted intercept."""
        self._check_fitted()
        c = self.coef_.to_numpy()
        tables = [t.reshape(len(t), c.size) @ c for t in self.part_tables_]
        return LayerTables.of(self.part_genes_, self.part_dims_, tables, self.intercept_)

    def min_latency(self) -> float | None:
        """The least latency (ms) of any architecture of the space on the target, exact (None if the
        genes shared by several parts span too large a grid to enumerate)."""
        return self.layer_tables().min_ms()

    # -- saving ---------------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Header and arrays for :func:`hwlat.predictors.save_predictor` (npz + JSON, no pickle)."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("this FewShotAdapter is not fitted yet; call fit(archs, y_ms) before saving it")
        if callable(self.grouping):
            raise InputError("a FewShotAdapter with a callable grouping cannot be saved; use one of "
                             f"{', '.join(GROUPINGS)}")
        space, table = self._need_space(), self._need_table()
        header = {
            "kind": "fewshot",
            "space": {"name": space.name, "config": space.config()},
            "table_hash": table_hash(table),
            "table": table.summary() if hasattr(table, "summary") else {},
            "grouping": self.grouping,
            "intercept": bool(self.intercept),
            "min_per_feature": float(self.min_per_feature),
            "alpha": float(self.alpha),
            "min_scale": float(self.min_scale),
            "in_context": bool(self.in_context),
            "shrink_constant": bool(self.shrink_constant),
            "overhead_ms": self.overhead_ms,
            "fitted": {"feature_names": list(self.feature_names_), "coef": [float(c) for c in self.coef_],
                       "intercept_ms": self.intercept_, "const_ms": self.const_ms_, "overhead_ms": self.overhead_ms_,
                       "mode": self.mode_, "n_fit": self.n_fit_, "n_ops": self.n_ops_},
        }
        return header, parts_to_arrays(self.part_genes_, self.part_dims_, self.part_tables_)

    @classmethod
    def from_state(cls, header: dict[str, Any], arrays: dict[str, np.ndarray], table: LatencyTable | None = None
                   ) -> FewShotAdapter:
        """Rebuild a saved adapter. ``table`` (the reference table, optional) is only kept for a
        later refit; predicting needs nothing but the saved part tables."""
        try:
            space = get_space(header["space"]["name"], **header["space"]["config"])
            f = header["fitted"]
            n = sum(1 for k in arrays if k.endswith("_table"))
            pred = cls(space=space, reference_table=table, grouping=header["grouping"],
                       intercept=bool(header["intercept"]), min_per_feature=float(header["min_per_feature"]),
                       alpha=float(header["alpha"]), min_scale=float(header.get("min_scale", 0.25)),
                       in_context=bool(header.get("in_context", False)),
                       shrink_constant=bool(header.get("shrink_constant", False)), overhead_ms=header["overhead_ms"])
            pred.part_genes_, pred.part_dims_, tables = parts_from_arrays(arrays, n)
            pred.part_tables_ = [t.reshape(-1, len(f["feature_names"])) for t in tables]
            pred.feature_names_ = list(f["feature_names"])
            pred.coef_ = pd.Series(np.asarray(f["coef"], dtype=np.float64),
                                   index=pd.Index(pred.feature_names_, name="group"), name="multiplier")
            pred.intercept_ = float(f["intercept_ms"])
            pred.const_ms_ = float(f["const_ms"])
            pred.overhead_ms_ = float(f["overhead_ms"])
            pred.mode_ = str(f["mode"])
            pred.n_fit_ = int(f["n_fit"])
            pred.n_ops_ = int(f["n_ops"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed few-shot predictor file: {exc!r}; save it again with save_predictor") from None
        pred.table_hash_ = header.get("table_hash")
        return pred

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # noqa: N803 - BaseEstimator's signature
        state = "unfitted"
        if hasattr(self, "coef_"):
            state = f"{self.mode_} fit on {self.n_fit_} models, {len(self.feature_names_)} groups"
        return (f"FewShotAdapter(space={getattr(self.space, 'name', self.space)!r}, grouping={self.grouping!r}, "
                f"{state})")

