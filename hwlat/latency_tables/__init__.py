"""Latency tables: per-op latency statistics (ms) with full provenance.

Store (Parquet, or CSV for review), look up, merge, diff and gate on regressions; import the
published Once-for-All / ProxylessNAS lookup tables.
"""

from __future__ import annotations

from hwlat.latency_tables._compare import Coverage, TableDiff, check_regression, coverage, diff, merge
from hwlat.latency_tables._table import (
    FLOAT_STATS,
    IN_GRAPH,
    SCHEMA_VERSION,
    STAT_COLUMNS,
    LatencyTable,
    TableMetadata,
)
from hwlat.latency_tables.importers import import_ofa_yaml

__all__ = [
    "LatencyTable",
    "TableMetadata",
    "TableDiff",
    "Coverage",
    "merge",
    "diff",
    "check_regression",
    "coverage",
    "import_ofa_yaml",
    "STAT_COLUMNS",
    "FLOAT_STATS",
    "IN_GRAPH",
    "SCHEMA_VERSION",
]
