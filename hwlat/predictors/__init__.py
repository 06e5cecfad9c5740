"""Estimating latency: lookup from tables, kernel regressors, whole-graph prediction, validation.

Every predictor follows one protocol (:mod:`hwlat.predictors.base`) and is registered by the kind
its saved files name in :data:`hwlat.registry.PREDICTORS`.
"""

from __future__ import annotations

import importlib
from typing import Any

from hwlat.predictors.base import LayerTables, Predictor, table_hash
from hwlat.predictors.io import load_predictor, save_predictor
from hwlat.predictors.lookup import LookupPredictor

__all__ = ["LookupPredictor", "KernelRegressor", "FewShotAdapter", "DevicePrior", "GraphPredictor", "LayerTables",
           "Predictor", "save_predictor", "load_predictor", "table_hash"]

#: the predictors whose modules are imported on first use (onnx, onnxruntime and the devices)
_LAZY = {"KernelRegressor": "hwlat.predictors.kernels", "FewShotAdapter": "hwlat.predictors.fewshot",
         "DevicePrior": "hwlat.predictors.device_prior",
         "GraphPredictor": "hwlat.predictors.graph"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hwlat.predictors' has no attribute {name!r}")
