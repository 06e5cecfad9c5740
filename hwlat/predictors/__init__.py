"""Estimating latency: lookup from tables, kernel regressors, whole-graph prediction, validation."""

from __future__ import annotations

from hwlat.predictors.io import load_predictor, save_predictor, table_hash
from hwlat.predictors.lookup import LookupPredictor

__all__ = ["LookupPredictor", "save_predictor", "load_predictor", "table_hash"]

#: predictor kind -> loader(header, arrays, table); other predictor modules register here
_LOADERS: dict = {}
