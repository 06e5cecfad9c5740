"""``KernelRegressor``: the latency of op configurations that were never measured.

A latency table answers only for the op keys it holds. To price a configuration it lacks (a
channel count, a resolution, a kernel size no one profiled), hwlat fits one scikit-learn
regressor per op kind on named features of the op (:mod:`hwlat.predictors.features`: shapes,
FLOPs, weights, bytes moved, arithmetic intensity and the kind's own parameters), trained on
sampled kernels profiled on the device (see :mod:`hwlat.predictors.sampling`), as nn-Meter does
with its kernel predictors.

By default the regressor is fitted on ``log(latency)``: a squared error on the log is a relative
error on the latency, which is what matters across ops from microseconds to tens of milliseconds.
An op whose kind has no model raises :class:`~hwlat.errors.UnsupportedOpError` naming the kind and
the ops; it is never priced at 0.

Saved predictors stay pickle-free: :meth:`KernelRegressor.to_state` stores the training features,
targets and hyperparameters, the fitted trees of each preset estimator
(:class:`~hwlat.predictors.forest.PackedTrees`) and the baselines' coefficients as plain arrays,
so :meth:`KernelRegressor.from_state` loads in milliseconds with the same predictions (files
without the trees are refitted from their training data, seeded, which gives the same).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone

from hwlat.errors import InputError, NotFittedError, UnsupportedOpError
from hwlat.latency_tables import IN_GRAPH
from hwlat.ops.spec import OpSpec
from hwlat.predictors.base import NotOverASpace, table_hash
from hwlat.predictors.features import BASE_FEATURES, KIND_FEATURES, as_spec, featurize
from hwlat.predictors.forest import PackedTrees

if TYPE_CHECKING:
    from hwlat.latency_tables import LatencyTable

__all__ = ["ESTIMATORS", "KernelRegressor"]

log = logging.getLogger(__name__)

# -- estimators ------------------------------------------------------------------------------------

#: the estimator presets ``KernelRegressor(estimator=...)`` accepts by name
ESTIMATORS: tuple[str, ...] = ("gbrt", "hgb", "rf", "et")


def _make_estimator(name: Any, random_state: int, n_samples: int) -> Any:
    if not isinstance(name, str):
        if not hasattr(name, "fit") or not hasattr(name, "predict"):
            raise InputError(f"estimator must be one of {', '.join(ESTIMATORS)} or a scikit-learn regressor, "
                             f"got {name!r}")
        est = clone(name)
        if "random_state" in est.get_params():
            est.set_params(random_state=random_state)
        return est
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        GradientBoostingRegressor,
        HistGradientBoostingRegressor,
        RandomForestRegressor,
    )

    if name == "gbrt":
        return GradientBoostingRegressor(n_estimators=400, learning_rate=0.05, max_depth=4, subsample=0.8,
                                         min_samples_leaf=2, random_state=random_state)
    if name == "hgb":
        return HistGradientBoostingRegressor(max_iter=400, learning_rate=0.05, max_leaf_nodes=15,
                                             min_samples_leaf=max(2, min(20, n_samples // 20)),
                                             early_stopping=False, random_state=random_state)
    if name == "rf":
        return RandomForestRegressor(n_estimators=300, max_features=0.6, min_samples_leaf=1,
                                     random_state=random_state, n_jobs=1)
    if name == "et":
        return ExtraTreesRegressor(n_estimators=300, max_features=0.8, min_samples_leaf=1,
                                   random_state=random_state, n_jobs=1)
    raise InputError(f"unknown estimator {name!r}; choose one of {', '.join(ESTIMATORS)} "
                     "or pass a scikit-learn regressor instance")


_TARGETS = ("log", "residual", "roofline", "ms")
#: features of the log-linear baseline of ``target="residual"`` (a roofline-like cost model)
_BASELINE_FEATURES: tuple[str, ...] = ("flops", "input_bytes", "output_bytes", "weight_bytes")


class _Roofline:
    """The baseline of ``target="roofline"``: ``ms = c + flops / P + bytes / B`` with non-negative
    terms, fitted on relative error (rows weighted by 1/ms), so it extrapolates linearly in work
    beyond the sampled sizes; its ``predict`` gives ``log(ms)``, as the residual baseline does."""

    def fit(self, X: np.ndarray, t: np.ndarray) -> _Roofline:
        from scipy.optimize import nnls

        ms = np.exp(t)
        a = self._design(X)
        self.coef_ = nnls(a / ms[:, None], np.ones_like(ms))[0]
        self.floor_ = 0.5 * float(ms.min())
        return self

    @staticmethod
    def _design(X: np.ndarray) -> np.ndarray:  # columns: _BASELINE_FEATURES
        return np.column_stack([np.ones(len(X)), X[:, 0] / 1e9, X[:, 1:].sum(axis=1) / 1e9])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(self._design(X) @ self.coef_, self.floor_))

    def to_array(self) -> np.ndarray:
        return np.array([*self.coef_, self.floor_])

    @classmethod
    def from_array(cls, a: np.ndarray) -> _Roofline:
        r = cls()
        r.coef_, r.floor_ = np.asarray(a[:-1], dtype=np.float64), float(a[-1])
        return r


class _LogLinear:
    """The fitted baseline of ``target="residual"``: a ``Ridge`` on ``log1p(X)``, as coefficients."""

    def __init__(self, coef: np.ndarray, intercept: float) -> None:
        self.coef_, self.intercept_ = np.asarray(coef, dtype=np.float64), float(intercept)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_

    def to_array(self) -> np.ndarray:
        return np.array([*self.coef_, self.intercept_])

    @classmethod
    def from_array(cls, a: np.ndarray) -> _LogLinear:
        return cls(a[:-1], float(a[-1]))


class _KindModel:
    """The fitted model of one op kind: a log-linear baseline (or None) and the estimator, with
    its trees packed into arrays where it is a preset (``packed``; it then predicts)."""

    def __init__(self, estimator: Any, baseline: Any, packed: PackedTrees | None = None) -> None:
        self.estimator = estimator
        self.baseline = baseline
        self.packed = packed


def _baseline_X(X: np.ndarray, cols: Sequence[str], target: str = "residual") -> np.ndarray:
    idx = [list(cols).index(c) for c in _BASELINE_FEATURES]
    return X[:, idx] if target == "roofline" else np.log1p(X[:, idx])


def _fit_kind(estimator: Any, target: str, random_state: int, X: np.ndarray, y_ms: np.ndarray,
              cols: Sequence[str]) -> _KindModel:
    """Fit one kind's model on features ``X`` (named ``cols``) and latencies ``y_ms``."""
    est = _make_estimator(estimator, random_state, y_ms.size)
    baseline: _LogLinear | _Roofline | None = None
    if target == "ms":
        t = y_ms
    else:
        t = np.log(y_ms)
        if target == "residual":
            from sklearn.linear_model import Ridge

            ridge = Ridge(alpha=1e-2).fit(_baseline_X(X, cols), t)
            baseline = _LogLinear(ridge.coef_, float(ridge.intercept_))
        elif target == "roofline":
            baseline = _Roofline().fit(_baseline_X(X, cols, target), t)
        if baseline is not None:
            t = t - baseline.predict(_baseline_X(X, cols, target))
    est.fit(pd.DataFrame(X, columns=list(cols)), t)
    return _KindModel(est, baseline, PackedTrees.from_estimator(est) if isinstance(estimator, str) else None)


def _predict_kind(model: _KindModel, target: str, X: np.ndarray, cols: Sequence[str]) -> np.ndarray:
    """Latency (ms) predicted by one kind's model."""
    if model.packed is not None:
        t = model.packed.predict(X)
    else:
        t = np.asarray(model.estimator.predict(pd.DataFrame(X, columns=list(cols))), dtype=np.float64)
    if target == "ms":
        return t
    if model.baseline is not None:
        t = t + model.baseline.predict(_baseline_X(X, cols, target))
    return np.exp(t)


def _load_kind(arrays: dict[str, np.ndarray], i: int, target: str, n_features: int) -> _KindModel:
    """One kind's saved model (packed trees and baseline coefficients), checked against its features."""
    prefix = f"k{i}_trees."
    packed = PackedTrees.from_arrays({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    if packed.feature.size and int(packed.feature.max()) >= n_features:
        raise InputError(f"saved trees of model {i} split on a feature it does not have; the file is corrupt")
    baseline: Any = None
    if target in ("residual", "roofline"):
        coef = np.asarray(arrays[f"k{i}_baseline"], dtype=np.float64)
        n = len(_BASELINE_FEATURES) + 1 if target == "residual" else 4
        if coef.shape != (n,) or not np.isfinite(coef).all():
            raise InputError(f"saved baseline of model {i} has shape {coef.shape}, not ({n},): the file is corrupt")
        baseline = _LogLinear.from_array(coef) if target == "residual" else _Roofline.from_array(coef)
    return _KindModel(None, baseline, packed)


def _xy(X: Any, y: Any, in_graph: bool = True) -> tuple[list[OpSpec], np.ndarray]:
    """(specs, latencies in ms) from a LatencyTable (what each op costs inside a network with
    ``in_graph``, else alone), or from specs/keys and ``y``."""
    if hasattr(X, "lookup_many") and hasattr(X, "keys"):
        if y is not None:
            raise InputError("fit takes y from the latency table's latency_ms; do not pass y with a table")
        keys = X.keys()
        specs = [OpSpec.from_key(k) for k in keys]
        ms = X.lookup_many(keys, IN_GRAPH if in_graph else "latency_ms")
    else:
        if y is None:
            raise InputError("fit needs latencies: pass a LatencyTable, or a list of OpSpecs and y (ms)")
        specs = [as_spec(s) for s in X]
        ms = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(specs) != ms.size:
            raise InputError(f"got {len(specs)} ops but {ms.size} latencies; pass one latency (ms) per op")
    bad = ~np.isfinite(ms) | (ms <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{int(bad.sum())} latencies are not positive finite numbers (e.g. {specs[i].key}: "
                         f"{ms[i]!r} ms); drop those rows or measure them again")
    return specs, ms


class KernelRegressor(NotOverASpace, RegressorMixin, BaseEstimator):
    """Latency (ms) of single ops from one regressor per op kind, fitted on profiled kernels.

    Parameters
    ----------
    estimator:
        ``"gbrt"`` (gradient-boosted trees, the default), ``"et"`` (extra trees, the fastest to
        fit), ``"rf"`` (random forest, as nn-Meter), ``"hgb"`` (histogram gradient boosting), or a
        scikit-learn regressor instance (cloned for each kind; such a predictor cannot be saved).
        With ``target="roofline"``, gbrt had the lowest held-out MAPE over the 16 kernel kinds of a
        desktop CPU profile (13 % pooled, against 16-21 % for the other pairs; benchmarks/RESULTS.md).
    target:
        ``"log"`` fits ``log(ms)`` (a relative-error objective); ``"residual"`` fits a log-linear
        model of FLOPs and bytes moved first and the estimator on what it leaves (log scale), which
        extrapolates better beyond the sampled sizes; ``"roofline"`` does the same over a roofline
        ``c + flops/P + bytes/B`` (non-negative terms; the default); ``"ms"`` fits milliseconds.
    min_samples:
        Kinds with fewer measured rows get no model (asking for them raises).
    in_graph:
        Fit what each op costs inside a network (the default): its latency without the layout
        conversions it pays when timed alone (the table's ``reorder_in_ms``/``reorder_out_ms``,
        recorded on ``cpu-ort``; see :data:`hwlat.latency_tables.IN_GRAPH`). ``False``: the op
        timed alone.
    random_state:
        Seed of the estimators.

    Example::

        reg = KernelRegressor().fit(table)           # a LatencyTable of sampled kernels
        reg.predict([conv((32, 56, 56), 64, 3)])     # array([...]) ms
        reg.held_out_report(table)                   # MAPE, ±10 %, Spearman per kind
    """

    predicts = "single ops (predict(specs))"

    def __init__(self, *, estimator: Any = "gbrt", target: str = "roofline", min_samples: int = 8,
                 random_state: int = 0, in_graph: bool = True) -> None:
        self.estimator = estimator
        self.target = target
        self.min_samples = min_samples
        self.random_state = random_state
        self.in_graph = in_graph

    # -- fitting --------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.target not in _TARGETS:
            raise InputError(f"target must be one of {', '.join(_TARGETS)}, got {self.target!r}")
        if not isinstance(self.min_samples, (int, np.integer)) or self.min_samples < 2:
            raise InputError(f"min_samples must be an integer >= 2, got {self.min_samples!r}")
        if isinstance(self.estimator, str) and self.estimator not in ESTIMATORS:
            raise InputError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)} "
                             "or pass a scikit-learn regressor instance")

    def fit(self, X: Any, y: Sequence[float] | np.ndarray | None = None) -> KernelRegressor:
        """Fit a model per op kind with at least ``min_samples`` rows.

        ``X`` is a :class:`~hwlat.latency_tables.LatencyTable` (latencies from its ``latency_ms``)
        or a list of OpSpecs (or op keys) with ``y`` their latencies in ms.
        """
        self._check_params()
        specs, ms = _xy(X, y, self.in_graph)
        feats = featurize(specs)
        kinds = np.array([s.kind for s in specs])
        self._fit_features(feats, kinds, ms)
        self.table_hash_: str | None = table_hash(X) if hasattr(X, "lookup_many") else None
        return self

    def _fit_features(self, feats: pd.DataFrame, kinds: np.ndarray, ms: np.ndarray) -> None:
        models: dict[str, Any] = {}
        names: dict[str, list[str]] = {}
        train: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        ranges: dict[str, tuple[float, float]] = {}
        skipped: dict[str, int] = {}
        for kind in sorted(set(kinds.tolist())):
            mask = kinds == kind
            n = int(mask.sum())
            if n < self.min_samples:
                skipped[kind] = n
                continue
            cols = [*BASE_FEATURES, *KIND_FEATURES[kind]]
            Xk = feats.loc[mask, cols].to_numpy(dtype=np.float64)
            yk = ms[mask]
            models[kind] = _fit_kind(self.estimator, self.target, self.random_state, Xk, yk, cols)
            names[kind], train[kind] = cols, (Xk, yk)
            ranges[kind] = (float(yk.min()), float(yk.max()))
        if skipped:
            log.warning("no kernel model for %s: fewer than min_samples=%d measured rows; profile more samples "
                        "of these kinds", ", ".join(f"{k} ({n} rows)" for k, n in skipped.items()),
                        self.min_samples)
        if not models:
            raise InputError(f"no op kind has min_samples={self.min_samples} measured rows "
                             f"(rows per kind: {skipped}); profile more sampled kernels or lower min_samples")
        self.models_ = models
        self.feature_names_ = names
        self.kinds_ = sorted(models)
        self.n_samples_ = {k: int(v[0].shape[0]) for k, v in train.items()}
        self.latency_range_ms_ = ranges
        self.skipped_kinds_ = skipped
        self._train = train

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError("this KernelRegressor is not fitted yet; call fit(table) first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "models_")

    # -- predicting -----------------------------------------------------------------------------
    def predict(self, X: Sequence[OpSpec | str]) -> np.ndarray:
        """Latency (ms) of each op; raises UnsupportedOpError if an op's kind has no model."""
        self._check_fitted()
        specs = [as_spec(s) for s in X]
        out = np.empty(len(specs), dtype=np.float64)
        if not specs:
            return out
        kinds = np.array([s.kind for s in specs])
        missing = sorted(set(kinds.tolist()) - set(self.models_))
        if missing:
            bad = [s.key for s in specs if s.kind in missing]
            why = []
            for k in missing:
                n = self.skipped_kinds_.get(k)
                why.append(f"{k} (only {n} measured rows, min_samples={self.min_samples})" if n is not None
                           else f"{k} (not in the training data)")
            more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
            raise UnsupportedOpError(
                f"the kernel regressor has no model for op kind(s) {', '.join(why)}; "
                f"{len(bad)} op(s) need one: {', '.join(bad[:10])}{more}. Profile sampled kernels of these "
                f"kinds (hwlat profile --kernels {','.join(missing)} --samples N) and refit; "
                f"it has models for: {', '.join(self.kinds_)}"
            )
        feats = featurize(specs)
        for kind in sorted(set(kinds.tolist())):
            mask = kinds == kind
            cols = self.feature_names_[kind]
            out[mask] = _predict_kind(self.models_[kind], self.target, feats.loc[mask, cols].to_numpy(np.float64),
                                      cols)
        if self.target == "ms":
            floor = np.array([self.latency_range_ms_[k][0] for k in kinds]) * 0.5
            out = np.maximum(out, floor)  # a regressor in ms can undershoot below 0
        return out


    # -- evaluation -----------------------------------------------------------------------------
    def held_out_report(self, X: Any, y: Sequence[float] | np.ndarray | None = None, *, test_size: float = 0.2,
                        random_state: int = 0) -> pd.DataFrame:
        """Per kind: fit a clone on a random split, score on the rest.

        Columns: ``kind``, ``n_train``, ``n_test``, ``mape_pct``, ``within_10_pct``, ``within_5_pct``,
        ``spearman``, ``rmse_ms``; a last row ``all`` pools the test ops of every kind. Kinds whose
        training part would have fewer than ``min_samples`` rows (or fewer than 2 test rows) are
        listed with NaN scores.
        """
        from hwlat.predictors.validate import metrics

        if not 0 < test_size < 1:
            raise InputError(f"test_size must be a fraction between 0 and 1, got {test_size!r}")
        self._check_params()
        specs, ms = _xy(X, y, self.in_graph)
        feats = featurize(specs)
        kinds = np.array([s.kind for s in specs])
        rng = np.random.default_rng(random_state)
        rows: list[dict[str, Any]] = []
        all_p: list[np.ndarray] = []
        all_m: list[np.ndarray] = []
        for kind in sorted(set(kinds.tolist())):
            idx = np.flatnonzero(kinds == kind)
            idx = idx[rng.permutation(idx.size)]
            n_test = round(idx.size * test_size)
            te, tr = idx[:n_test], idx[n_test:]
            row: dict[str, Any] = {"kind": kind, "n_train": int(tr.size), "n_test": int(te.size)}
            if tr.size < self.min_samples or te.size < 2:
                rows.append({**row, "mape_pct": np.nan, "within_10_pct": np.nan, "within_5_pct": np.nan,
                             "spearman": np.nan, "rmse_ms": np.nan})
                continue
            m = clone(self)
            m._fit_features(feats.iloc[tr], kinds[tr], ms[tr])
            pred = m.predict([specs[i] for i in te])
            s = metrics(pred, ms[te])
            rows.append({**row, "mape_pct": s["mape_pct"], "within_10_pct": s["within_10_pct"],
                         "within_5_pct": s["within_5_pct"], "spearman": s["spearman"], "rmse_ms": s["rmse_ms"]})
            all_p.append(pred)
            all_m.append(ms[te])
        if not all_p:
            n_max = max(r["n_train"] + r["n_test"] for r in rows)
            sizes = "; ".join(f"{r['kind']}: {r['n_train'] + r['n_test']} rows -> {r['n_train']} to fit, "
                              f"{r['n_test']} to score" for r in rows)
            hint = (f"a test size from {2 / n_max:.2g} to {(n_max - self.min_samples) / n_max:.2g} fits the "
                    f"largest kind" if n_max >= self.min_samples + 2 else
                    f"profile more configurations (--samples): a kind needs {self.min_samples + 2} rows at least")
            raise InputError(f"test_size {test_size:g} leaves no op kind with both {self.min_samples} rows to fit "
                             f"and 2 rows to score ({sizes}); {hint}")
        if all_p:
            p, m_ = np.concatenate(all_p), np.concatenate(all_m)
            s = metrics(p, m_)
            rows.append({"kind": "all", "n_train": int(sum(r["n_train"] for r in rows)), "n_test": int(p.size),
                         "mape_pct": s["mape_pct"], "within_10_pct": s["within_10_pct"],
                         "within_5_pct": s["within_5_pct"], "spearman": s["spearman"], "rmse_ms": s["rmse_ms"]})
        return pd.DataFrame(rows, columns=["kind", "n_train", "n_test", "mape_pct", "within_10_pct", "within_5_pct",
                                           "spearman", "rmse_ms"])

    # -- saving ---------------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(header, arrays) for :func:`hwlat.predictors.save_predictor`: training data + hyperparameters."""
        self._check_fitted()
        if not isinstance(self.estimator, str):
            raise InputError("a KernelRegressor with a custom estimator instance cannot be saved pickle-free; "
                             f"use one of the presets {', '.join(ESTIMATORS)} to save it")
        header: dict[str, Any] = {
            "kind": "kernel",
            "params": {"estimator": self.estimator, "target": self.target, "min_samples": int(self.min_samples),
                       "random_state": int(self.random_state), "in_graph": bool(self.in_graph)},
            "packed": True,
            "kinds": list(self.kinds_),
            "feature_names": {k: list(v) for k, v in self.feature_names_.items()},
            "skipped_kinds": {k: int(v) for k, v in self.skipped_kinds_.items()},
        }
        if getattr(self, "table_hash_", None):
            header["table_hash"] = self.table_hash_
        arrays: dict[str, np.ndarray] = {}
        for i, kind in enumerate(self.kinds_):
            Xk, yk = self._train[kind]
            arrays[f"k{i}_X"] = np.ascontiguousarray(Xk, dtype=np.float64)
            arrays[f"k{i}_y_ms"] = np.ascontiguousarray(yk, dtype=np.float64)
            model = self.models_[kind]
            packed = model.packed or PackedTrees.from_estimator(model.estimator)
            arrays.update({f"k{i}_trees.{k}": v for k, v in packed.to_arrays().items()})
            if model.baseline is not None:
                arrays[f"k{i}_baseline"] = model.baseline.to_array()
        return header, arrays

    @classmethod
    def from_state(cls, header: dict[str, Any], arrays: dict[str, np.ndarray], table: LatencyTable | None = None
                   ) -> KernelRegressor:
        """Rebuild a saved regressor from its packed trees (older files: by refitting its seeded
        estimators on the stored data)."""
        try:
            params = header["params"]
            kinds = list(header["kinds"])
            names = header["feature_names"]
            reg = cls(estimator=params["estimator"], target=params["target"],
                                  min_samples=int(params["min_samples"]), random_state=int(params["random_state"]),
                      in_graph=bool(params.get("in_graph", False)))
            reg._check_params()
            models: dict[str, Any] = {}
            train: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for i, kind in enumerate(kinds):
                cols = list(names[kind])
                expected = [*BASE_FEATURES, *KIND_FEATURES.get(kind, ())]
                if cols != expected:
                    raise InputError(f"the saved model for {kind!r} uses features {cols}, this hwlat computes "
                                     f"{expected}; refit the kernel regressor with this version")
                Xk = np.asarray(arrays[f"k{i}_X"], dtype=np.float64)
                yk = np.asarray(arrays[f"k{i}_y_ms"], dtype=np.float64)
                if Xk.ndim != 2 or Xk.shape != (yk.size, len(cols)):
                    raise InputError(f"saved training data for {kind!r} has shape {Xk.shape}, expected "
                                     f"({yk.size}, {len(cols)}); the file is corrupt")
                if header.get("packed"):
                    models[kind] = _load_kind(arrays, i, reg.target, len(cols))
                else:
                    models[kind] = _fit_kind(reg.estimator, reg.target, reg.random_state, Xk, yk, cols)
                train[kind] = (Xk, yk)
        except KeyError as exc:
            raise InputError(f"the kernel regressor file lacks {exc}; it is corrupt or from another version") from None
        reg.models_ = models
        reg.feature_names_ = {k: list(names[k]) for k in kinds}
        reg.kinds_ = sorted(models)
        reg.n_samples_ = {k: int(v[1].size) for k, v in train.items()}
        reg.latency_range_ms_ = {k: (float(v[1].min()), float(v[1].max())) for k, v in train.items()}
        reg.skipped_kinds_ = {k: int(v) for k, v in header.get("skipped_kinds", {}).items()}
        reg.table_hash_ = header.get("table_hash")
        reg._train = train
        return reg
