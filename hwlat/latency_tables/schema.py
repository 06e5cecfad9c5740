"""The columns of a latency table: op description columns, statistics columns and their dtypes,
the schema version, and the conversions between op specs, statistics and rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hwlat.errors import InputError
from hwlat.ops.spec import KINDS, STR_PARAMS, OpSpec

__all__ = ["SCHEMA_VERSION", "BASE_COLUMNS", "PARAM_COLUMNS", "PARAM_COLUMN_OF", "STAT_COLUMNS", "FLOAT_STATS",
           "INT_STATS", "COLUMN_DTYPES"]

#: 2: ``latency_ms`` (the protocol's statistic) is the latency; ``noisy`` gave way to ``unstable``
SCHEMA_VERSION = 2

# -- the schema of a table ---------------------------------------------------------------------------

BASE_COLUMNS: tuple[str, ...] = ("key", "kind", "c_in", "h_in", "w_in")


#: float statistics, in milliseconds but ``stability_pct``; only ``latency_ms`` must be present
FLOAT_STATS: tuple[str, ...] = ("latency_ms", "min_ms", "median_ms", "iqr_ms", "p10_ms", "p90_ms", "mean_ms", "std_ms",
                                "stability_pct", "canary_ms", "context_ms", "reorder_in_ms", "reorder_out_ms",
                                "traced_ms")
#: integer statistics: samples, rounds, times the op was given more rounds
INT_STATS: tuple[str, ...] = ("n", "rounds", "remeasured")
STAT_COLUMNS: tuple[str, ...] = (*FLOAT_STATS, *INT_STATS, "unstable", "measured_utc")


def _param_columns() -> tuple[dict[str, str], dict[str, str]]:
    """(column -> dtype, op parameter -> column); a parameter whose name is taken gets another."""
    taken = {*BASE_COLUMNS, "flops", *STAT_COLUMNS}
    renamed = {"n": "n_inputs"}  # add/concat's input count vs the sample count ``n``
    cols: dict[str, str] = {}
    names: dict[str, str] = {}
    for schema in KINDS.values():
        for name in schema:
            if name in names:
                continue
            col = renamed.get(name, name) if name in taken else name
            if col in taken or col in cols:
                col = f"param_{name}"
            names[name] = col
            cols[col] = "string" if name in STR_PARAMS else "Int64"
    return cols, names


_PARAM_DTYPES, PARAM_COLUMN_OF = _param_columns()
#: one column per op parameter of any kind (``n`` of add/concat is stored as ``n_inputs``)
PARAM_COLUMNS: tuple[str, ...] = tuple(_PARAM_DTYPES)

COLUMN_DTYPES: dict[str, str] = {
    "key": "string",
    "kind": "string",
    "c_in": "Int64",
    "h_in": "Int64",
    "w_in": "Int64",
    **_PARAM_DTYPES,
    "flops": "Int64",
    **{name: "float64" for name in FLOAT_STATS},
    **{name: "Int64" for name in INT_STATS},
    "unstable": "bool",
    "measured_utc": "string",
}
_COLUMNS: tuple[str, ...] = tuple(COLUMN_DTYPES)
assert not set(PARAM_COLUMNS) & {*BASE_COLUMNS, "flops", *STAT_COLUMNS}, "op parameter clashes with a column"

# columns a stored table must have (parameter columns of newer kinds may be absent in older files)
_REQUIRED_COLUMNS: tuple[str, ...] = (*BASE_COLUMNS, "flops", "latency_ms")


def _spec_columns(spec: OpSpec) -> dict[str, Any]:
    shape = spec.input_shape
    row: dict[str, Any] = {
        "key": spec.key,
        "kind": spec.kind,
        "c_in": shape[0],
        "h_in": shape[1] if len(shape) == 3 else None,
        "w_in": shape[2] if len(shape) == 3 else None,
    }
    for name, value in spec.params:
        row[PARAM_COLUMN_OF[name]] = value
    row["flops"] = spec.flops
    return row


def _stat_columns(stats: Mapping[str, Any], key: str) -> dict[str, Any]:
    unknown = sorted(set(stats) - set(STAT_COLUMNS))
    if unknown:
        raise InputError(f"unknown statistic(s) {', '.join(map(repr, unknown))} for {key}; "
                         f"a table row holds: {', '.join(STAT_COLUMNS)}")
    if stats.get("latency_ms") is None and stats.get("median_ms") is not None:
        stats = {**stats, "latency_ms": stats["median_ms"]}  # rows given as medians only (schema 1)
    if stats.get("latency_ms") is None:
        raise InputError(f"statistics for {key} lack latency_ms (ms); every row needs it")
    out: dict[str, Any] = {}
    for name in FLOAT_STATS:
        v = stats.get(name)
        try:
            out[name] = float("nan") if v is None else float(v)
        except (TypeError, ValueError):
            raise InputError(f"statistic {name} for {key} must be a number of ms, got {v!r}") from None
    if not math.isfinite(out["latency_ms"]) or out["latency_ms"] <= 0:
        raise InputError(f"latency_ms for {key} is {out['latency_ms']}; a table row needs a finite latency "
                         "above 0 ms")
    for name in FLOAT_STATS[1:]:
        if not math.isnan(out[name]) and not (math.isfinite(out[name]) and out[name] >= 0):
            raise InputError(f"{name} for {key} is {out[name]}; a statistic is a finite number >= 0 (or absent)")
    for name, default in (("n", None), ("rounds", None), ("remeasured", 0)):
        v = stats.get(name, default)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            try:
                iv = int(v)
            except (TypeError, ValueError):
                raise InputError(f"{name} for {key} must be a non-negative integer, got {v!r}") from None
            if iv != v or iv < 0:
                raise InputError(f"{name} for {key} must be a non-negative integer, got {v!r}")
            v = iv
        else:
            v = None
        out[name] = v
    out["unstable"] = bool(stats.get("unstable") or False)
    utc = stats.get("measured_utc")
    out["measured_utc"] = None if utc is None else str(utc)
    return out


#: how to mend a table whose rows are impossible
_REPROFILE = ("re-profile those ops (their keys in a file, one per line: `hwlat profile --device DEVICE --ops FILE "
              "-o DIR`) and write the table again from DIR/table.parquet, leaving the bad rows out")


def _row_names(df: pd.DataFrame, mask: Any, first_line: int | None, column: str, values: np.ndarray) -> str:
    """The first (up to 3) rows where ``mask`` holds: their line (CSV) or row number, key and value."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    out = []
    for i in idx[:3]:
        where = f"line {first_line + i}" if first_line is not None else f"row {i + 1}"
        value = "missing" if np.isnan(values[i]) else f"{values[i]:g}"
        out.append(f"{where} ({df['key'].iloc[i]}, {column} {value})")
    more = f" and {len(idx) - 3} more" if len(idx) > 3 else ""
    return ", ".join(out) + more


def _check_stats(df: pd.DataFrame, where: str, first_line: int | None) -> None:
    """Every latency finite and above 0 ms; every other statistic finite and >= 0, or absent."""
    lat = df["latency_ms"].to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(lat) | (lat <= 0)
    if bad.any():
        raise InputError(f"{where}: latency_ms is missing, not finite or not above 0 ms in "
                         f"{int(bad.sum())} row(s): {_row_names(df, bad, first_line, 'latency_ms', lat)}; a latency "
                         f"table holds measured latencies only; {_REPROFILE}")
    for name in FLOAT_STATS[1:]:
        v = df[name].to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isnan(v) & ~(np.isfinite(v) & (v >= 0))
        if bad.any():
            raise InputError(f"{where}: {name} is negative or not finite in {int(bad.sum())} row(s): "
                             f"{_row_names(df, bad, first_line, name, v)}; a statistic is a finite number >= 0 "
                             f"(or empty); {_REPROFILE}")


def _check_keys(df: pd.DataFrame, where: str, first_line: int | None) -> None:
    """Every key parses as an op key (one error names the first that does not, and why)."""
    for i, key in enumerate(df["key"].tolist()):
        try:
            OpSpec.from_key(key)
        except InputError as exc:
            row = f"line {first_line + i}" if first_line is not None else f"row {i + 1}"
            raise InputError(f"{where}, {row}: key {key!r} is not an op key ({exc}); {_REPROFILE}") from None


def _coerce_frame(df: pd.DataFrame, where: str, *, keys: bool = False, first_line: int | None = None
                  ) -> pd.DataFrame:
    """Check columns, cast them to the table's dtypes and order them; ``where`` names the source.

    Impossible rows (a latency that is not a finite number above 0 ms, a negative statistic)
    are an error naming the first of them; with ``keys`` every key must parse as an op key.
    Rows are named by their line from ``first_line`` (a CSV file) or by their number.
    """
    df = _upgrade_v1(df)
    missing = [c for c in _REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{where} is not an hwlat latency table: missing column(s) {', '.join(missing)}; "
                         "tables are written by LatencyTable.save or hwlat profile")
    df = df.copy()
    for name in (*PARAM_COLUMNS, *STAT_COLUMNS):  # statistics of newer versions may be absent in older files
        if name not in df.columns:
            df[name] = False if name == "unstable" else None
    extras = [c for c in df.columns if c not in COLUMN_DTYPES]
    df = df[[*_COLUMNS, *extras]].reset_index(drop=True)
    for name, dtype in COLUMN_DTYPES.items():
        col = df[name]
        try:
            if dtype == "bool":
                if col.isna().any():
                    col = col.astype(object).where(col.notna(), False)
                if col.dtype == object or str(col.dtype) in ("string", "str"):
                    lowered = col.astype(str).str.strip().str.lower()
                    bad = ~lowered.isin(["true", "false", "1", "0", "1.0", "0.0"])
                    if bad.any():
                        raise ValueError(f"not a boolean: {col[bad].iloc[0]!r}")
                    col = lowered.isin(["true", "1", "1.0"])
                df[name] = col.astype(bool)
            elif dtype == "Int64":
                if col.dtype == object or str(col.dtype) in ("string", "str"):
                    col = pd.to_numeric(col, errors="raise")
                df[name] = col.astype("Int64")
            elif dtype == "string":
                df[name] = col.astype("string")
            else:
                df[name] = pd.to_numeric(col, errors="raise").astype(dtype)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: column {name!r} cannot be read as {dtype}: {exc}") from None
    if df["key"].isna().any():
        raise InputError(f"{where}: some rows have no key; every row needs its op key")
    dup = df["key"][df["key"].duplicated()]
    if len(dup):
        raise InputError(f"{where}: duplicate key(s) {', '.join(map(str, dup.unique()[:3]))}; "
                         "keys are unique (merge tables with hwlat.latency_tables.merge)")
    _check_stats(df, where, first_line)
    prefix = df["key"].str.split(":", n=1).str[0]
    wrong = (prefix != df["kind"]).fillna(True).astype(bool)
    if wrong.any():
        raise InputError(f"{where}: kind {df['kind'][wrong].iloc[0]!r} does not match key "
                         f"{df['key'][wrong].iloc[0]!r}")
    if keys:
        _check_keys(df, where, first_line)
    return df


def _upgrade_v1(df: pd.DataFrame) -> pd.DataFrame:
    """A table of schema 1 (its latency was ``median_ms``; a ``noisy`` flag) in today's columns."""
    if "latency_ms" in df.columns or "median_ms" not in df.columns:
        return df
    df = df.copy()
    df["latency_ms"] = df["median_ms"]
    for name in ("min_ms", "stability_pct", "canary_ms", "context_ms", "rounds"):
        if name not in df.columns:
            df[name] = None
    df["unstable"] = False
    return df.drop(columns=[c for c in ("noisy",) if c in df.columns])


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in COLUMN_DTYPES.items()})


