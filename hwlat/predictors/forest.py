"""Fitted tree ensembles as plain arrays: saved without pickle, loaded without refitting.

:class:`PackedTrees` reads the trees of a fitted scikit-learn ``GradientBoostingRegressor``,
``RandomForestRegressor``, ``ExtraTreesRegressor`` or ``HistGradientBoostingRegressor`` into
padded arrays (one row per tree: split feature, threshold, children, leaf value) and predicts
by walking every tree at once, ``depth`` vectorised steps for all rows and trees. Its
predictions equal the estimator's (the same float32 comparisons for the classic trees, float64
for the histogram ones), and a kernel predictor file holding them loads in milliseconds instead
of refitting its estimators.

Example::

    est = GradientBoostingRegressor().fit(X, y)
    packed = PackedTrees.from_estimator(est)
    np.testing.assert_array_equal(packed.predict(X), est.predict(X))
    arrays = packed.to_arrays()                     # dict of numpy arrays (np.savez-able)
    PackedTrees.from_arrays(arrays).predict(X)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hwlat.errors import InputError

__all__ = ["PackedTrees"]

_FIELDS = ("feature", "threshold", "left", "right", "value")


@dataclass
class PackedTrees:
    """``bias + scale * combine(leaf values)``: ``combine`` is the sum (boosting) or the mean
    (forests) over trees. Arrays have shape (n_trees, n_nodes); a leaf's children are itself."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int
    bias: float
    scale: float
    mean: bool
    float32: bool

    @classmethod
    def from_estimator(cls, est: Any) -> PackedTrees:
        """Pack a fitted scikit-learn tree ensemble (see the module docstring for which)."""
        name = type(est).__name__
        if name == "GradientBoostingRegressor":
            trees = [t.tree_ for t in est.estimators_[:, 0]]
            init = est.init_
            if not hasattr(init, "constant_"):
                raise InputError(f"cannot pack {name} with init={init!r}: only the default (a constant) is")
            bias = float(np.ravel(init.constant_)[0])
            return cls._classic(trees, bias=bias, scale=float(est.learning_rate), mean=False)
        if name in ("RandomForestRegressor", "ExtraTreesRegressor"):
            return cls._classic([t.tree_ for t in est.estimators_], bias=0.0, scale=1.0, mean=True)
        if name == "HistGradientBoostingRegressor":
            return cls._hist(est)
        raise InputError(f"cannot pack a {name}: use gradient boosting, random forest, extra trees or "
                         "histogram gradient boosting")

    @classmethod
    def _classic(cls, trees: list[Any], *, bias: float, scale: float, mean: bool) -> PackedTrees:
        if any(t.n_outputs != 1 for t in trees):
            raise InputError("cannot pack a multi-output tree ensemble")
        n = max(t.node_count for t in trees)
        out = cls._empty(len(trees), n)
        for i, t in enumerate(trees):
            m = t.node_count
            leaf = t.children_left[:m] < 0
            own = np.arange(m)
            out["feature"][i, :m] = np.where(leaf, 0, t.feature[:m])
            out["threshold"][i, :m] = np.where(leaf, 0.0, t.threshold[:m])
            out["left"][i, :m] = np.where(leaf, own, t.children_left[:m])
            out["right"][i, :m] = np.where(leaf, own, t.children_right[:m])
            out["value"][i, :m] = t.value[:m, 0, 0]
        depth = max(int(t.max_depth) for t in trees)
        return cls(**out, depth=depth, bias=bias, scale=scale, mean=mean, float32=True)

    @classmethod
    def _hist(cls, est: Any) -> PackedTrees:
        if getattr(est, "is_categorical_", None) is not None and np.any(est.is_categorical_):
            raise InputError("cannot pack histogram gradient boosting with categorical features")
        nodes = [p[0].nodes for p in est._predictors]
        out = cls._empty(len(nodes), max(len(n) for n in nodes))
        depth = 0
        for i, nd in enumerate(nodes):
            m = len(nd)
            leaf = nd["is_leaf"].astype(bool)
            own = np.arange(m)
            out["feature"][i, :m] = np.where(leaf, 0, nd["feature_idx"])
            out["threshold"][i, :m] = np.where(leaf, 0.0, nd["num_threshold"])
            out["left"][i, :m] = np.where(leaf, own, nd["left"])
            out["right"][i, :m] = np.where(leaf, own, nd["right"])
            out["value"][i, :m] = nd["value"]
            depth = max(depth, int(nd["depth"].max()))
        bias = float(np.ravel(est._baseline_prediction)[0])
        return cls(**out, depth=depth, bias=bias, scale=1.0, mean=False, float32=False)

    @staticmethod
    def _empty(n_trees: int, n_nodes: int) -> dict[str, np.ndarray]:
        own = np.broadcast_to(np.arange(n_nodes), (n_trees, n_nodes))
        return {"feature": np.zeros((n_trees, n_nodes), np.int32), "threshold": np.zeros((n_trees, n_nodes)),
                "left": own.astype(np.int32), "right": own.astype(np.int32), "value": np.zeros((n_trees, n_nodes))}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The ensemble's prediction for each row of ``X`` (n_rows, n_features)."""
        X = np.asarray(X, dtype=np.float64)
        if self.float32:  # the classic trees compare float32 inputs with float64 thresholds
            X = X.astype(np.float32).astype(np.float64)
        if self.feature.size and int(self.feature.max()) >= X.shape[1]:
            raise InputError(f"packed trees split on feature {int(self.feature.max())}, the input has "
                             f"{X.shape[1]} columns; refit the predictor with this hwlat")
        n_trees, n_nodes = self.feature.shape
        feature, threshold = self.feature.ravel(), self.threshold.ravel()
        left, right = self.left.ravel(), self.right.ravel()
        offset = np.arange(n_trees, dtype=np.intp) * n_nodes  # flat index of each tree's root
        node = np.broadcast_to(offset, (X.shape[0], n_trees)).copy()
        base = (np.arange(X.shape[0], dtype=np.intp) * X.shape[1])[:, None]
        flat_x = X.ravel()
        for _ in range(self.depth):
            go_left = flat_x[base + feature[node]] <= threshold[node]
            node = np.where(go_left, left[node], right[node]) + offset
        leaves = self.value.ravel()[node]
        combined = leaves.mean(axis=1) if self.mean else leaves.sum(axis=1)
        return self.bias + self.scale * combined

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for ``np.savez``); :meth:`from_arrays` reads them back."""
        meta = np.array([self.depth, self.bias, self.scale, float(self.mean), float(self.float32)])
        return {**{f: getattr(self, f) for f in _FIELDS}, "meta": meta}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PackedTrees:
        try:
            meta = np.asarray(arrays["meta"], dtype=np.float64)
            parts = {f: np.asarray(arrays[f]) for f in _FIELDS}
        except KeyError as exc:
            raise InputError(f"packed trees lack {exc}; the file is corrupt or from another version") from None
        shape = parts["feature"].shape
        if meta.shape != (5,) or len(shape) != 2 or any(parts[f].shape != shape for f in _FIELDS):
            raise InputError(f"packed trees have inconsistent shapes {[parts[f].shape for f in _FIELDS]}; "
                             "the file is corrupt")
        n = shape[1]
        for f in ("left", "right"):
            if parts[f].size and (parts[f].min() < 0 or parts[f].max() >= n):
                raise InputError(f"packed trees point outside their nodes ({f}); the file is corrupt")
        return cls(feature=parts["feature"].astype(np.int32), threshold=parts["threshold"].astype(np.float64),
                   left=parts["left"].astype(np.int32), right=parts["right"].astype(np.int32),
                   value=parts["value"].astype(np.float64), depth=int(meta[0]), bias=float(meta[1]),
                   scale=float(meta[2]), mean=bool(meta[3]), float32=bool(meta[4]))
