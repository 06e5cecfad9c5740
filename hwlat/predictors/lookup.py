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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from hwlat.errors import InputError, NotFittedError
from hwlat.predictors.base import LayerTables, required, table_hash
from hwlat.predictors.fewshot import FewShotAdapter, op_group
from hwlat.predictors.parts import (
    enumerate_part_ops,
    fit_affine,
    gather_parts,
    op_costs,
    parts_from_arrays,
    parts_to_arrays,
)
from hwlat.spaces import SearchSpace, get_space

if TYPE_CHECKING:
    from hwlat.latency_tables import LatencyTable

__all__ = ["LookupPredictor", "CALIBRATIONS", "DEFAULT_CALIBRATION"]

log = logging.getLogger(__name__)


#: how :meth:`LookupPredictor.calibrate` turns the table into whole-network latencies
CALIBRATIONS: tuple[str, ...] = ("auto", "none", "affine", "kind", "type", "key")
#: the default, chosen by ``benchmarks/bench_fidelity.py`` (see benchmarks/RESULTS.md)
DEFAULT_CALIBRATION = "auto"
NEEDS_SPACE_AND_TABLE = "LookupPredictor needs space= (a SearchSpace) and table= (a LatencyTable holding its ops)"


class LookupPredictor(BaseEstimator):
    """Latency (ms) of architectures of ``space`` from ``table``.

    A scikit-learn estimator: every parameter is keyword-only and stored unchanged;
    ``LookupPredictor(space=space, table=table).fit()`` precomputes the part tables.

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

    def __init__(self, *, space: SearchSpace | None = None, table: LatencyTable | None = None,
                 overhead_ms: float | None = None, calibration: str = DEFAULT_CALIBRATION, alpha: float = 10.0,
                 in_context: bool = True) -> None:
        self.space = space
        self.table = table
        self.overhead_ms = overhead_ms
        self.calibration = calibration
        self.alpha = alpha
        self.in_context = in_context

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X: Sequence[Any] | None = None, y: Sequence[float] | np.ndarray | None = None
            ) -> LookupPredictor:
        """Precompute the part tables; calibrate on measured whole-model latencies ``y`` (ms) of
        architectures ``X`` if given."""
        if self.space is None or self.table is None:
            raise InputError(NEEDS_SPACE_AND_TABLE)
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
        if X is not None or y is not None:
            if X is None or y is None:
                raise InputError("calibration needs both architectures and their measured latencies")
            self.calibrate(X, y)
        return self

    def _need_space(self) -> SearchSpace:
        """``space``, which fitting and predicting need (the error fit gives without it)."""
        return required(self.space, NEEDS_SPACE_AND_TABLE)

    def _need_table(self) -> LatencyTable:
        """``table``, which fitting, :meth:`explain` and saving need."""
        return required(self.table, NEEDS_SPACE_AND_TABLE)

    def _kernel_space(self) -> SearchSpace:
        """The space listing the kernels the table's runtime runs (:meth:`SearchSpace.for_runtime`)."""
        return self._need_space().for_runtime(self._need_table().metadata.runtime)

    def _build_parts(self) -> None:
        parts, dims, combos, needed = enumerate_part_ops(self._kernel_space())
        keys = list(needed)
        adj = dict(zip(keys, op_costs(self._need_table(), keys, self.overhead_ms_, in_context=self.in_context)))
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
        space = self._need_space()
        genes = space.to_genes(archs) if archs else np.zeros((0, len(space.gene_sizes())), dtype=np.int64)
        raw = gather_parts(genes, self.part_genes_, self.part_dims_, self.raw_part_tables_) if archs else np.zeros(0)
        if len(archs) != y.size:
            raise InputError(f"{len(archs)} architectures but {y.size} measured latencies")
        mode = self.calibration
        # leave-one-out errors of the calibration (budget_margin); _choose keeps those of its choice
        self.loo_errors_ = self._loo(genes, raw, y, (mode,))[mode] \
            if mode not in ("none", "auto") and y.size >= 3 else None
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

    def _adapter(self, grouping: str) -> FewShotAdapter:
        return FewShotAdapter(space=self._kernel_space(), reference_table=self.table, grouping=grouping,
                              alpha=self.alpha, overhead_ms=self.overhead_ms_, in_context=self.in_context,
                              shrink_constant=True)

    def _choose(self, genes: np.ndarray, raw: np.ndarray, y: np.ndarray) -> str:
        """``"affine"`` or ``"type"``, whichever predicts each calibration network best when fitted
        on the others (leave-one-out squared relative error); affine below 6 networks."""
        k = y.size
        if k < 6:
            if k >= 3:
                self.loo_errors_ = self._loo(genes, raw, y, ("affine",))["affine"]
            return "affine"
        errors = self._loo(genes, raw, y, ("affine", "type"))
        best = min(errors, key=lambda m: float(np.mean(errors[m] ** 2)))
        self.loo_errors_ = errors[best]
        return best

    def _loo(self, genes: np.ndarray, raw: np.ndarray, y: np.ndarray,
             modes: Sequence[str]) -> dict[str, np.ndarray]:
        """Leave-one-out relative errors (predicted / measured - 1) of each calibration network
        under each of ``modes`` (``"affine"`` or a grouping), fitted on the others."""
        k = y.size
        errors: dict[str, list[float]] = {m: [] for m in modes}
        adapters = {m: self._adapter(m) for m in modes if m != "affine"}
        for i in range(k):
            rest = np.arange(k) != i
            if "affine" in errors:
                coef = fit_affine(raw[rest], y[rest], self.overhead_ms_, what="architectures")
                a, b = (coef if coef is not None else (1.0, self.overhead_ms_))
                errors["affine"].append((a * raw[i] + b) / y[i] - 1)
            for m, ad in adapters.items():
                ad.fit_genes(genes[rest], y[rest])
                errors[m].append(float(ad.predict_genes(genes[i:i + 1])[0]) / y[i] - 1)
        return {m: np.asarray(v, dtype=np.float64) for m, v in errors.items()}

    def budget_margin(self, q: float = 0.9) -> float | None:
        """How far (a fraction) a measurement may exceed this predictor's prediction: the ``q``
        quantile of measured / predicted - 1 over the calibration networks, each predicted by a
        fit on the others (0 where none runs slower than predicted). None without at least 3
        calibration networks."""
        e = getattr(self, "loo_errors_", None)
        if e is None or len(e) < 3:
            return None
        over = 1.0 / (1.0 + np.asarray(e, dtype=np.float64)) - 1.0  # measured / predicted - 1
        return max(0.0, float(np.quantile(over, q)))

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
            raise NotFittedError("this LookupPredictor is not fitted yet; call fit() first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "part_tables_")

    def _genes(self, genes: np.ndarray) -> np.ndarray:
        self._check_fitted()
        g = np.asarray(genes)
        n_genes = len(self._need_space().gene_sizes())
        if g.ndim != 2 or g.shape[1] != n_genes:
            raise InputError(f"genes must be an integer array of shape (n, {n_genes})")
        return g

    def raw_sum_genes(self, genes: np.ndarray) -> np.ndarray:
        """``S``: the uncalibrated, overhead-free sum of the table rows of each gene row (ms)."""
        return gather_parts(self._genes(genes), self.part_genes_, self.part_dims_, self.raw_part_tables_)

    def predict_genes(self, genes: np.ndarray) -> np.ndarray:
        """Latency (ms) of each gene row: one vectorised pass."""
        g = self._genes(genes)
        a, b = self.coef_
        return a * gather_parts(g, self.part_genes_, self.part_dims_, self.part_tables_) + b

    def raw_sum(self, archs: Sequence[Any]) -> np.ndarray:
        return self.raw_sum_genes(self._need_space().to_genes(list(archs)))

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        """Latency (ms) of each architecture of ``X``."""
        return self.predict_genes(self._need_space().to_genes(list(X)))

    def layer_tables(self) -> LayerTables:
        """The part tables with the calibration baked in, and the constant part (ms)."""
        self._check_fitted()
        a, b = (float(v) for v in self.coef_)
        tables = self.part_tables_ if a == 1.0 else [a * t for t in self.part_tables_]
        return LayerTables.of(self.part_genes_, self.part_dims_, tables, b, self.part_names_)

    def min_latency(self) -> float | None:
        """The least latency (ms) of any architecture of the space, exact (None if the genes shared
        by several parts span too large a grid to enumerate)."""
        return self.layer_tables().min_ms()

    def _scale_of(self, spec: Any, constant: bool) -> float:
        """The calibrated multiplier of one op (``constant``: it belongs to a part without genes)."""
        if self.calibrated_ == "none":
            return 1.0
        if self.calibrated_ == "affine":
            return self.const_scale_
        g = op_group(spec, self.calibrated_)
        return self.const_scale_ if constant or g not in self.group_coef_ else self.group_coef_[g]

    def explain(self, arch: Any) -> pd.DataFrame:
        """Per-op breakdown of one architecture: key, kind, table latency, calibrated multiplier,
        contribution (ms) and share; the last row is the per-model overhead."""
        self._check_fitted()
        space, table = self._kernel_space(), self._need_table()
        genes = space.to_genes([arch])[0]
        rows = []
        for pi, idx in enumerate(self.part_genes_):
            specs = space.part_ops(pi, [int(genes[i]) for i in idx])
            keys = [spec.key for spec in specs]
            costs = op_costs(table, keys, self.overhead_ms_, in_context=self.in_context)
            for spec, med, cost in zip(specs, table.lookup_many(keys), costs):
                scale = self._scale_of(spec, constant=len(idx) == 0)
                rows.append({"key": spec.key, "kind": spec.kind, "table_ms": med, "cost_ms": cost, "scale": scale,
                             "contribution_ms": scale * cost})
        total = float(self.predict([arch])[0])
        rows.append({"key": "(per-model overhead and calibration)", "kind": "overhead", "table_ms": np.nan,
                     "scale": np.nan, "contribution_ms": total - sum(r["contribution_ms"] for r in rows)})
        df = pd.DataFrame(rows)
        df["share_pct"] = 100 * df["contribution_ms"] / total
        return df

    # -- saving ---------------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(header, arrays) for :func:`hwlat.predictors.save_predictor` (npz + JSON, no pickle)."""
        self._check_fitted()
        space, table = self._need_space(), self._need_table()
        header = {
            "kind": "lookup",
            "space": {"name": space.name, "config": space.config()},
            "table_hash": table_hash(table),
            "table": table.summary() if hasattr(table, "summary") else {},
            "coef": [float(c) for c in self.coef_],
            "overhead_ms": self.overhead_ms_,
            "calibration": self.calibration,
            "alpha": float(self.alpha),
            "in_context": bool(self.in_context),
            "calibrated": self.calibrated_,
            "group_coef": self.group_coef_,
            "const_scale": self.const_scale_,
            "n_calibration": self.n_calibration_,
            "n_ops": self.n_ops_,
            "part_names": self.part_names_,
        }
        arrays = parts_to_arrays(self.part_genes_, self.part_dims_, self.part_tables_)
        arrays.update({f"raw{k}": v for k, v in parts_to_arrays(self.part_genes_, self.part_dims_,
                                                                self.raw_part_tables_).items()
                       if k.endswith("_table")})
        return header, arrays

    @classmethod
    def from_state(cls, header: dict[str, Any], arrays: dict[str, np.ndarray], table: LatencyTable | None = None
                   ) -> LookupPredictor:
        """Rebuild a predictor saved by :meth:`to_state`; ``table`` is kept for :meth:`explain` and refits."""
        space = get_space(header["space"]["name"], **header["space"]["config"])
        pred = cls(space=space, table=table, overhead_ms=header["overhead_ms"], calibration=header["calibration"],
                   alpha=float(header.get("alpha", 10.0)), in_context=bool(header.get("in_context", False)))
        n = len(header["part_names"])
        pred.part_genes_, pred.part_dims_, pred.part_tables_ = parts_from_arrays(arrays, n)
        raw = {k[3:]: v for k, v in arrays.items() if k.startswith("raw")}
        pred.raw_part_tables_ = (parts_from_arrays({**arrays, **raw}, n)[2] if raw
                                 else [t.copy() for t in pred.part_tables_])
        pred.part_names_ = list(header["part_names"])
        pred.coef_ = np.asarray(header["coef"], dtype=np.float64)
        pred.overhead_ms_ = float(header["overhead_ms"])
        pred.n_calibration_ = int(header["n_calibration"])
        # files before group calibrations held (a, b) over the raw sums
        pred.calibrated_ = str(header.get("calibrated", "affine" if pred.n_calibration_ else "none"))
        pred.group_coef_ = {str(k): float(v) for k, v in header.get("group_coef", {}).items()}
        pred.const_scale_ = float(header.get("const_scale", pred.coef_[0]))
        pred.n_ops_ = int(header["n_ops"])
        pred.table_hash_ = header.get("table_hash")
        return pred

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # noqa: N803 - BaseEstimator's signature
        state = "unfitted"
        if hasattr(self, "coef_"):
            state = (f"{self.calibrated_} calibration on {self.n_calibration_} model(s), b={self.coef_[1]:.4f} ms, "
                     f"{self.n_ops_} ops")
        return f"LookupPredictor(space={getattr(self.space, 'name', self.space)!r}, {state})"
