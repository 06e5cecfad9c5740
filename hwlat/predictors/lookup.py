"""``LookupPredictor``: an architecture's latency from a latency table, vectorised.

The latency of an architecture is the sum of its ops' table latencies, each less the runtime's
per-call overhead, plus that overhead once for the whole model (a block timed alone pays the
call overhead; inside a model it does not). Timed in isolation, ops still do not add up to the
whole model, and not by one factor: inside a network a runtime keeps tensors in its blocked
layout from one convolution to the next, fuses adds and activations into them and finds inputs
in cache, and how much that saves depends on the op type. So the predictor is calibrated on a
few whole networks measured end to end: by default one non-negative multiplier per op type
(``calibration="type"``), fitted on the relative error and shrunk towards one common scale;
``"affine"`` is the one-factor ``y ≈ a · S + b``.

Queries are vectorised: a space describes an architecture as integer genes and its networks as
parts that each depend on a few genes (:class:`~hwlat.spaces.base.Part`). ``fit``
precomputes every part's latency for every combination of its genes; ``predict_genes`` is then
a few gathers and a sum over a ``(n, n_genes)`` integer array.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hwlat.errors import InputError

__all__ = ["LookupPredictor", "CALIBRATIONS", "DEFAULT_CALIBRATION", "op_costs", "fit_affine", "enumerate_part_ops", "gather_parts", "parts_to_arrays",
           "parts_from_arrays"]

log = logging.getLogger(__name__)


def op_costs(table: Any, keys: Sequence[str], overhead_ms: float, *, in_context: bool = True) -> np.ndarray:
    """What each op costs inside a network (ms), from ``table``: its ``context_ms`` (the marginal
    cost in a chain of its own copies) where measured and ``in_context``, else its ``latency_ms``
    less the runtime's per-call overhead. One error lists every missing op."""
    ms = table.lookup_many(keys) - float(overhead_ms)
    if in_context:
        ctx = table.lookup_many(keys, "context_ms")
        ms = np.where(np.isfinite(ctx), ctx, ms)
    return ms


def enumerate_part_ops(space: Any) -> tuple[list[Any], list[tuple[int, ...]], list[list[list[str]]], dict[str, Any]]:
    """Every part of ``space``, its gene dimensions, the op keys of each gene combination, and
    every distinct op (key -> OpSpec) in first-seen order: what part tables are built from."""
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
    return genes, dims, tables


def fit_affine(s: np.ndarray, y_ms: Sequence[float] | np.ndarray, overhead_ms: float, *,
               what: str = "models") -> np.ndarray | None:
    """``(a, b)`` of ``y ≈ a·s + b`` with ``a, b ≥ 0`` minimising the squared relative error.

    ``s`` are overhead-free sums (ms). With one point (or identical sums) only ``a`` is fitted
    and ``b`` stays ``overhead_ms``. Returns None when there is nothing to fit or the fit
    degenerates (zero slope); raises InputError on malformed measurements.
    """
    from scipy.optimize import nnls

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


#: how :meth:`LookupPredictor.calibrate` turns the table into whole-network latencies
CALIBRATIONS: tuple[str, ...] = ("auto", "none", "affine", "kind", "type", "key")
#: the default, chosen by ``benchmarks/bench_fidelity.py`` (see benchmarks/RESULTS.md)
DEFAULT_CALIBRATION = "auto"


class LookupPredictor:
    """Latency (ms) of architectures of ``space`` from ``table``.

    Parameters
    ----------
    space:
        A :class:`~hwlat.spaces.SearchSpace`.
    table:
        A :class:`~hwlat.latency_tables.LatencyTable` holding every op of the space.
    overhead_ms:
        The runtime's per-call overhead in ms; ``None`` takes it from the table's metadata
        (0 when the table has none, e.g. an imported table).
    calibration:
        How whole-network measurements correct the table (:meth:`calibrate`):

        * ``"auto"`` (default): ``"type"`` or ``"affine"``, whichever predicts the calibration
          networks better when each is left out of the fit in turn (``calibrated_`` says which).
        * ``"type"``: one non-negative multiplier per op *type* (kind and parameters,
          any size: every 3x3 convolution of a stage shares one), shrunk towards one common
          scale, plus the constant part. Ops run differently inside a network than alone
          (layouts kept between convolutions, fused adds and activations, warm caches), and
          differently by type: one factor for all cannot capture it.
        * ``"kind"``: one multiplier per op kind; ``"key"``: one per distinct op.
        * ``"affine"``: ``y ≈ a·S + b`` with ``S`` the overhead-free sum, ``a, b ≥ 0``.
        * ``"none"``: the plain sum, ``a = 1, b = overhead``.

        With too few measurements for the multipliers a group calibration falls back to the
        affine one (see :class:`~hwlat.predictors.fewshot.FewShotAdapter`, which fits it).
    alpha:
        Shrinkage of the group multipliers towards the common scale (see
        :class:`~hwlat.predictors.fewshot.FewShotAdapter`); strong by default, because the
        in-context costs already have the right scale and a few networks should only correct it.
    in_context:
        Use each op's in-context cost (the table's ``context_ms``: its marginal cost inside a
        chain of its own copies) where the table has one, and its latency less the per-call
        overhead elsewhere (see :func:`op_costs`).
    """

    def __init__(self, space: Any, table: Any, *, overhead_ms: float | None = None,
                 calibration: str = DEFAULT_CALIBRATION, alpha: float = 10.0, in_context: bool = True) -> None:
        self.space = space
        self.table = table
        self.overhead_ms = overhead_ms
        self.calibration = calibration
        self.alpha = alpha
        self.in_context = in_context

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, archs: Sequence[Any] | None = None, y_ms: Sequence[float] | np.ndarray | None = None
            ) -> LookupPredictor:
        """Precompute the part tables; calibrate on measured whole-model latencies if given."""
        if self.calibration not in CALIBRATIONS:
            raise InputError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got {self.calibration!r}")
        overhead = self.overhead_ms
        if overhead is None:
            overhead = self.table.metadata.overhead_ms or 0.0
        self.overhead_ms_ = float(overhead)
        self._build_parts()
        self.coef_ = np.array([1.0, self.overhead_ms_])
        self.n_calibration_ = 0
        self.calibrated_ = "none"
        self.group_coef_: dict[str, float] = {}
        self.const_scale_ = 1.0
        if archs is not None or y_ms is not None:
            if archs is None or y_ms is None:
                raise InputError("calibration needs both architectures and their measured latencies")
            self.calibrate(archs, y_ms)
        return self

    def _build_parts(self) -> None:
        parts, dims, combos, needed = enumerate_part_ops(self.space)
        keys = list(needed)
        adj = dict(zip(keys, op_costs(self.table, keys, self.overhead_ms_, in_context=self.in_context)))
        self.part_genes_ = [np.asarray(p.genes, dtype=np.int64) for p in parts]
        self.part_dims_ = dims
        self.raw_part_tables_ = [np.array([sum(adj[k] for k in row) for row in rows], dtype=np.float64)
                                 for rows in combos]
        self.part_tables_ = [t.copy() for t in self.raw_part_tables_]
        self.part_names_ = [p.name for p in parts]
        self.n_ops_ = len(keys)

    def calibrate(self, archs: Sequence[Any], y_ms: Sequence[float] | np.ndarray) -> LookupPredictor:
        """Correct the table with measured whole-model latencies (ms) of ``archs`` (see ``calibration``).

        A group calibration is baked into the part tables: predicting stays a few gathers, and
        :attr:`coef_` becomes ``(1, b)`` with ``b`` the calibrated constant part.
        """
        self._check_fitted()
        archs = list(archs)
        y = np.asarray(y_ms, dtype=np.float64).ravel()
        genes = self.space.to_genes(archs) if archs else np.zeros((0, len(self.space.gene_sizes())), dtype=np.int64)
        raw = gather_parts(genes, self.part_genes_, self.part_dims_, self.raw_part_tables_) if archs else np.zeros(0)
        if len(archs) != y.size:
            raise InputError(f"{len(archs)} architectures but {y.size} measured latencies")
        mode = self.calibration
        if mode == "none":
            fit_affine(raw, y, self.overhead_ms_, what="architectures")  # checks the measurements
            return self
        if mode == "auto":
            mode = self._choose(genes, raw, y)
        if mode == "affine":
            coef = fit_affine(raw, y, self.overhead_ms_, what="architectures")
            if coef is not None:
                self._set_affine(coef, int(y.size))
            return self
        ad = self._adapter(mode).fit_genes(genes, y)
        if ad.mode_ != "groups":  # too few measurements for multipliers: the affine map
            coef = fit_affine(raw, y, self.overhead_ms_, what="architectures")
            if coef is not None:
                self._set_affine(coef, int(y.size))
            return self
        c = ad.coef_.to_numpy()
        self.part_tables_ = [np.ascontiguousarray(t @ c) for t in ad.part_tables_]
        self.coef_ = np.array([1.0, ad.intercept_])
        self.group_coef_ = {str(k): float(v) for k, v in ad.coef_.items()}
        self.const_scale_ = ad.intercept_ / ad.const_ms_ if ad.const_ms_ > 0 else 1.0
        self.n_calibration_ = int(y.size)
        self.calibrated_ = mode
        return self

    def _adapter(self, grouping: str) -> Any:
        from hwlat.predictors.fewshot import FewShotAdapter

        return FewShotAdapter(self.space, self.table, grouping=grouping, alpha=self.alpha,
                              overhead_ms=self.overhead_ms_, in_context=self.in_context, shrink_constant=True)

    def _choose(self, genes: np.ndarray, raw: np.ndarray, y: np.ndarray) -> str:
        """``"affine"`` or ``"type"``, whichever predicts each calibration network best when fitted
        on the others (leave-one-out squared relative error); affine below 6 networks."""
        k = y.size
        if k < 6:
            return "affine"
        errors = {"affine": [], "type": []}
        ad = self._adapter("type")
        for i in range(k):
            rest = np.arange(k) != i
            coef = fit_affine(raw[rest], y[rest], self.overhead_ms_, what="architectures")
            a, b = (coef if coef is not None else (1.0, self.overhead_ms_))
            errors["affine"].append(((a * raw[i] + b) / y[i] - 1) ** 2)
            ad.fit_genes(genes[rest], y[rest])
            errors["type"].append((float(ad.predict_genes(genes[i:i + 1])[0]) / y[i] - 1) ** 2)
        return min(errors, key=lambda m: float(np.mean(errors[m])))

    def _set_affine(self, coef: np.ndarray, n: int) -> None:
        a = float(coef[0])
        self.part_tables_ = [a * t for t in self.raw_part_tables_]
        self.coef_ = np.array([1.0, float(coef[1])])
        self.group_coef_ = {"total": a}
        self.const_scale_ = a
        self.n_calibration_ = n
        self.calibrated_ = "affine"

    # -- predicting -----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "part_tables_"):
            raise InputError("this LookupPredictor is not fitted yet; call fit() first")

    def _genes(self, genes: np.ndarray) -> np.ndarray:
        self._check_fitted()
        g = np.asarray(genes)
        if g.ndim != 2 or g.shape[1] != len(self.space.gene_sizes()):
            raise InputError(f"genes must be an integer array of shape (n, {len(self.space.gene_sizes())})")
        return g

    def raw_sum_genes(self, genes: np.ndarray) -> np.ndarray:
        """``S``: the uncalibrated, overhead-free sum of the table rows of each gene row (ms)."""
        return gather_parts(self._genes(genes), self.part_genes_, self.part_dims_, self.raw_part_tables_)

    def predict_genes(self, genes: np.ndarray) -> np.ndarray:
        """Latency (ms) of each gene row: one vectorised pass."""
        a, b = self.coef_
        return a * gather_parts(self._genes(genes), self.part_genes_, self.part_dims_, self.part_tables_) + b

    def raw_sum(self, archs: Sequence[Any]) -> np.ndarray:
        return self.raw_sum_genes(self.space.to_genes(list(archs)))

    def predict(self, archs: Sequence[Any]) -> np.ndarray:
        """Latency (ms) of each architecture."""
        return self.predict_genes(self.space.to_genes(list(archs)))

    def _scale_of(self, spec: Any, constant: bool) -> float:
        """The calibrated multiplier of one op (``constant``: it belongs to a part without genes)."""
        if self.calibrated_ == "none":
            return 1.0
        if self.calibrated_ == "affine":
            return self.const_scale_
        from hwlat.predictors.fewshot import op_group

        g = op_group(spec, self.calibrated_)
        return self.const_scale_ if constant or g not in self.group_coef_ else self.group_coef_[g]

    def explain(self, arch: Any) -> pd.DataFrame:
        """Per-op breakdown of one architecture: key, kind, table latency, calibrated multiplier,
        contribution (ms) and share; the last row is the per-model overhead."""
        self._check_fitted()
        genes = self.space.to_genes([arch])[0]
        rows = []
        for pi, idx in enumerate(self.part_genes_):
            specs = self.space.part_ops(pi, [int(genes[i]) for i in idx])
            keys = [spec.key for spec in specs]
            costs = op_costs(self.table, keys, self.overhead_ms_, in_context=self.in_context)
            for spec, med, cost in zip(specs, self.table.lookup_many(keys), costs):
                scale = self._scale_of(spec, constant=len(idx) == 0)
                rows.append({"key": spec.key, "kind": spec.kind, "table_ms": med, "cost_ms": cost, "scale": scale,
                             "contribution_ms": scale * cost})
        total = float(self.predict([arch])[0])
        rows.append({"key": "(per-model overhead and calibration)", "kind": "overhead", "table_ms": np.nan,
                     "scale": np.nan, "contribution_ms": total - sum(r["contribution_ms"] for r in rows)})
        df = pd.DataFrame(rows)
        df["share_pct"] = 100 * df["contribution_ms"] / total
        return df

    def __repr__(self) -> str:
        state = "unfitted"
        if hasattr(self, "coef_"):
            state = (f"{self.calibrated_} calibration on {self.n_calibration_} model(s), b={self.coef_[1]:.4f} ms, "
                     f"{self.n_ops_} ops")
        return f"LookupPredictor(space={getattr(self.space, 'name', self.space)!r}, {state})"
