"""Estimating latency: lookup from tables, kernel regressors, whole-graph prediction, validation."""

from __future__ import annotations

from hwlat.predictors.io import load_predictor, save_predictor, table_hash
from hwlat.predictors.lookup import LookupPredictor

__all__ = ["LookupPredictor", "KernelRegressor", "FewShotAdapter", "GraphPredictor", "save_predictor", "load_predictor",
           "table_hash"]

#: predictor kind -> loader(header, arrays, table); other predictor modules register here
_LOADERS: dict = {}


def _load_kernel(header, arrays, table):
    from hwlat.predictors.kernels import load_kernel_regressor

    return load_kernel_regressor(header, arrays, table)


_LOADERS["kernel"] = _load_kernel


def _load_fewshot(header, arrays, table):
    from hwlat.predictors.fewshot import load_fewshot

    return load_fewshot(header, arrays, table)


_LOADERS["fewshot"] = _load_fewshot


def _load_graph(header, arrays, table):
    from hwlat.predictors.graph import load_graph_predictor

    return load_graph_predictor(header, arrays, table)


_LOADERS["graph"] = _load_graph


def __getattr__(name: str):
    # the heavier predictors (scikit-learn, onnxruntime) are imported on first use
    lazy = {"KernelRegressor": "hwlat.predictors.kernels", "FewShotAdapter": "hwlat.predictors.fewshot",
            "GraphPredictor": "hwlat.predictors.graph"}
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module 'hwlat.predictors' has no attribute {name!r}")
