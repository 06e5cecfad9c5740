"""``TableMetadata`` and ``LatencyTable``: per-op latency statistics with their provenance.

A latency table has one row per op key (:attr:`hwlat.ops.OpSpec.key`): typed columns that
describe the op (kind, input shape, every parameter of every kind, FLOPs) followed by the
statistics of its measured latency, all in milliseconds. ``latency_ms`` is the latency every
prediction uses: the statistic the protocol chose (``metadata.statistic``, the minimum of single
calls by default); the distribution is kept beside it (``min_ms``, ``median_ms``, ``iqr_ms``,
``p10_ms``, ``p90_ms``...), with ``stability_pct`` (how far the estimate on the even rounds and
on the odd rounds disagree), ``canary_ms`` (how quiet the machine was while the op was measured)
and ``context_ms`` (the op's marginal cost inside a chain of its own copies, without the
per-call overhead: how it runs inside a network; NaN where not measured). The metadata says
where the numbers come from: device, host, runtime and version, threads, measurement protocol
and statistic, the run's interference figure, per-call overhead, time and hwlat version.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwlat._files import shown
from hwlat._io import atomic_path, atomic_write_text
from hwlat.errors import InputError, MissingEntryError
from hwlat.latency_tables.metadata import TableMetadata
from hwlat.latency_tables.schema import (
    _COLUMNS,
    BASE_COLUMNS,
    COLUMN_DTYPES,
    FLOAT_STATS,
    PARAM_COLUMN_OF,
    PARAM_COLUMNS,
    SCHEMA_VERSION,
    STAT_COLUMNS,
    _coerce_frame,
    _empty_frame,
    _spec_columns,
    _stat_columns,
)
from hwlat.ops.spec import OpSpec

__all__ = [
    "SCHEMA_VERSION",
    "TableMetadata",
    "LatencyTable",
    "SpecOrKey",
    "BASE_COLUMNS",
    "PARAM_COLUMNS",
    "PARAM_COLUMN_OF",
    "STAT_COLUMNS",
    "FLOAT_STATS",
    "COLUMN_DTYPES",
]

logger = logging.getLogger(__name__)

_PARQUET_KEY = b"hwlat"
_CSV_MAGIC = "# hwlat-table "

SpecOrKey = OpSpec | str

# -- the table ---------------------------------------------------------------------------------------

def _plain(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    return v.item() if isinstance(v, np.generic) else v


def _bad_cell(body: str) -> str | None:
    """Where the rows of a CSV table (``body``, after the metadata line) hold a value that is not of
    its column's type: ``line N, column C: 'v' is not ...``; None if no cell is to blame."""
    try:
        raw = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    for name, dtype in COLUMN_DTYPES.items():
        if name not in raw.columns or dtype == "string":
            continue
        text = raw[name].str.strip()
        given = ~text.isin(["", "nan", "NaN"])
        if dtype == "bool":
            bad = given & ~text.str.lower().isin(["true", "false", "1", "0", "1.0", "0.0"])
            kind = "true or false"
        else:
            num = pd.to_numeric(text.where(given), errors="coerce")
            bad = given & num.isna()
            if dtype == "Int64":
                bad |= given & num.notna() & (num != num.round())
            kind = "a whole number" if dtype == "Int64" else "a number"
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            return f"line {i + 3}, column {name}: {raw[name].iloc[i]!r} is not {kind}"
    return None


#: the derived column of what an op costs inside a network: the time of the op's own nodes in a
#: runtime trace (``traced_ms``, where recorded), else ``latency_ms`` without the layout
#: conversions it pays alone (``reorder_in_ms``, ``reorder_out_ms``; none recorded: none paid)
IN_GRAPH = "in_graph_ms"


def in_graph_ms(df: pd.DataFrame) -> np.ndarray:
    """The row's ``traced_ms`` where recorded, else ``latency_ms`` less its recorded layout
    conversions, never below a tenth of it. A trace times a node as it runs inside a network
    (a network's latency is the sum of its nodes' traced times, within a few percent); the
    difference of two timings is noisy where the conversions are most of a small op."""
    ms = df["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
    conv = np.zeros_like(ms)
    for name in ("reorder_in_ms", "reorder_out_ms"):
        if name in df.columns:
            conv += np.nan_to_num(df[name].to_numpy(dtype=np.float64, na_value=np.nan))
    out = np.maximum(ms - conv, 0.1 * ms)
    if "traced_ms" in df.columns:
        traced = df["traced_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.where(np.isfinite(traced) & (traced > 0), traced, out)
    return out


class LatencyTable:
    """Latency statistics (ms) per op key, with provenance in :attr:`metadata`.

    Example::

        spec = hwlat.ops.dwconv((32, 56, 56), k=3)
        t = LatencyTable(TableMetadata(device={"name": "cpu"}, runtime="onnxruntime"))
        t.add(spec, {"latency_ms": 0.041, "median_ms": 0.043, "iqr_ms": 0.002, "n": 400})
        t.lookup(spec)                        # 0.041 (ms)
        t.lookup_many([spec, spec.key])       # array([0.041, 0.041])
        t.save("cpu.parquet"); LatencyTable.load("cpu.parquet")

    A missing key raises :class:`~hwlat.errors.MissingEntryError` naming the nearest keys.
    """

    def __init__(self, metadata: TableMetadata, df: pd.DataFrame | None = None) -> None:
        if not isinstance(metadata, TableMetadata):
            raise InputError(f"LatencyTable needs a TableMetadata, got {type(metadata).__name__}")
        self.metadata = metadata
        self._df = _empty_frame() if df is None else _coerce_frame(df, "the DataFrame given to LatencyTable")
        self._pending: dict[str, dict[str, Any]] = {}
        self._index: dict[str, int] | None = None
        self._median: np.ndarray | None = None

    @classmethod
    def from_rows(cls, metadata: TableMetadata, rows: Iterable[tuple[OpSpec, Mapping[str, Any]]]) -> LatencyTable:
        """A table from ``(spec, stats)`` pairs; a later pair replaces an earlier one of the same key."""
        table = cls(metadata)
        for spec, stats in rows:
            table.add(spec, stats)
        table._flush()
        return table

    # -- building ------------------------------------------------------------------------------
    def add(self, spec: SpecOrKey, stats: Mapping[str, Any]) -> None:
        """Add the row of ``spec`` (replacing an existing one); ``stats`` holds the STAT_COLUMNS (ms)."""
        if isinstance(spec, str):
            spec = OpSpec.from_key(spec)
        if not isinstance(spec, OpSpec):
            raise InputError(f"LatencyTable.add takes an OpSpec or an op key, got {type(spec).__name__}")
        if not isinstance(stats, Mapping):
            raise InputError(f"statistics for {spec.key} must be a dict of {', '.join(STAT_COLUMNS)}")
        row = _spec_columns(spec)
        row.update(_stat_columns(stats, spec.key))
        self._pending[spec.key] = row
        self._index = None
        self._median = None

    def _flush(self) -> None:
        if not self._pending:
            return
        new = _coerce_frame(pd.DataFrame(list(self._pending.values()), columns=list(_COLUMNS)), "the new rows")
        keep = self._df[~self._df["key"].isin(list(self._pending))]
        self._pending = {}
        if len(keep) == 0:
            for extra in keep.columns[len(_COLUMNS):]:
                new[extra] = None
            self._df = new
        else:
            self._df = pd.concat([keep, new], ignore_index=True)
        self._index = None
        self._median = None

    def _ensure_index(self) -> tuple[dict[str, int], np.ndarray]:
        self._flush()
        if self._index is None or self._median is None:
            keys = self._df["key"].tolist()
            self._index = {k: i for i, k in enumerate(keys)}
            self._median = self._df["latency_ms"].to_numpy(dtype=np.float64, copy=True)
        return self._index, self._median

    def _resolve(self, spec_or_key: SpecOrKey) -> str:
        """The canonical key of ``spec_or_key`` (a non-canonical key string is parsed if needed)."""
        if isinstance(spec_or_key, OpSpec):
            return spec_or_key.key
        if not isinstance(spec_or_key, str):
            raise InputError(f"expected an OpSpec or an op key string, got {type(spec_or_key).__name__}")
        index, _ = self._ensure_index()
        if spec_or_key in index:
            return spec_or_key
        try:
            return OpSpec.from_key(spec_or_key).key
        except InputError:
            return spec_or_key

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        self._flush()
        return len(self._df)

    def __contains__(self, spec_or_key: object) -> bool:
        if not isinstance(spec_or_key, (OpSpec, str)):
            return False
        index, _ = self._ensure_index()
        return self._resolve(spec_or_key) in index

    def __iter__(self) -> Iterator[str]:  # iterating a table yields its keys
        return iter(self.keys())

    def keys(self) -> list[str]:
        self._flush()
        return self._df["key"].tolist()

    def specs(self) -> list[OpSpec]:
        """The rows' op specs (parsed from their keys)."""
        return [OpSpec.from_key(k) for k in self.keys()]

    @property
    def df(self) -> pd.DataFrame:
        """A copy of the rows (changing it does not change the table)."""
        self._flush()
        return self._df.copy()

    def row(self, spec_or_key: SpecOrKey) -> dict[str, Any]:
        """All columns of one row as plain Python values (NA as None)."""
        index, _ = self._ensure_index()
        key = self._resolve(spec_or_key)
        if key not in index:
            raise self._missing_error([key])
        rec = self._df.iloc[index[key]].to_dict()
        return {k: _plain(v) for k, v in rec.items()}

    def lookup(self, spec_or_key: SpecOrKey) -> float:
        """The latency (ms, ``latency_ms``) of one op; raises :class:`MissingEntryError` when absent."""
        index, median = self._ensure_index()
        key = self._resolve(spec_or_key)
        pos = index.get(key)
        if pos is None:
            raise self._missing_error([key])
        return float(median[pos])

    def _positions(self, keys: Iterable[SpecOrKey], column: str) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        """(values of ``column``, row of each key or -1, the keys as given): the shared part of the lookups."""
        index, values = self._ensure_index()
        if column == IN_GRAPH:
            values = in_graph_ms(self._df)
        elif column != "latency_ms":
            if column not in FLOAT_STATS:
                raise InputError(f"unknown column {column!r}; choose one of {', '.join((*FLOAT_STATS, IN_GRAPH))}")
            values = self._df[column].to_numpy(dtype=np.float64, na_value=np.nan)
        items = list(keys)
        pos = np.fromiter((index.get(k.key if isinstance(k, OpSpec) else k, -1) for k in items),
                          dtype=np.int64, count=len(items))
        for i in np.flatnonzero(pos < 0):  # slow path: canonicalise non-canonical key strings
            pos[i] = index.get(self._resolve(items[i]), -1)
        return values, pos, items

    def get_many(self, keys: Iterable[SpecOrKey], column: str = "latency_ms") -> tuple[np.ndarray, np.ndarray]:
        """``(ms, found)``: the latencies (ms, ``latency_ms`` or another float column) of many ops,
        float64 in the order given with NaN where the table has no row, and a boolean array that
        says which were found. Unlike :meth:`lookup_many` a missing op is not an error."""
        values, pos, _ = self._positions(keys, column)
        found = pos >= 0
        ms = np.full(len(pos), np.nan)
        ms[found] = values[pos[found]]
        return ms, found

    def lookup_many(self, keys: Iterable[SpecOrKey], column: str = "latency_ms") -> np.ndarray:
        """Latencies (ms, ``latency_ms``, or another float column such as ``context_ms``) of many
        ops, float64 in the order given; one error lists all missing."""
        values, pos, items = self._positions(keys, column)
        if (pos < 0).any():
            still: list[str] = []
            for i in np.flatnonzero(pos < 0):
                key = self._resolve(items[i])
                if key not in still:
                    still.append(key)
            raise self._missing_error(still)
        return values[pos]

    def nearest_keys(self, key: str, n: int = 3) -> list[str]:
        """The ``n`` keys of the table most like ``key`` (same kind first)."""
        import difflib

        self._flush()
        keys = self._df["key"].tolist()
        kind = key.split(":", 1)[0]
        same = [k for k in keys if k.split(":", 1)[0] == kind]
        out = difflib.get_close_matches(key, same, n=n, cutoff=0.0)
        if len(out) < n:
            others = [k for k in keys if k.split(":", 1)[0] != kind]
            out += difflib.get_close_matches(key, others, n=n - len(out), cutoff=0.0)
        return out

    def _missing_error(self, missing: list[str]) -> MissingEntryError:
        where = (f"the latency table of device {self.metadata.device_name!r} ({self.metadata.runtime}, "
                 f"{self.metadata.threads} thread(s), {len(self._df)} rows)")
        near = self.nearest_keys(missing[0]) if len(self._df) else []
        how = ("to fill it, measure the missing op(s): write their keys to a file, one per line, run "
               "`hwlat profile --device DEVICE --ops FILE -o DIR`, and merge DIR/table.parquet into this table "
               "(`hwlat table merge`)")
        if len(missing) == 1:
            hint = f"nearest keys: {', '.join(near)}" if near else "the table is empty"
            return MissingEntryError(f"no latency for {missing[0]} in {where}; {hint}; {how}")
        shown = "\n  ".join(missing[:10])
        more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
        hint = f"nearest keys to {missing[0]}: {', '.join(near)}" if near else "the table is empty"
        return MissingEntryError(f"{len(missing)} keys have no latency in {where}:\n  {shown}{more}\n{hint};\n{how}")

    def summary(self) -> dict[str, Any]:
        """A small JSON-safe overview: device, runtime, statistic, rows per kind, unstable rows, interference."""
        self._flush()
        m = self.metadata
        return {
            "device": m.device_name,
            "runtime": m.runtime,
            "runtime_version": m.runtime_version,
            "threads": m.threads,
            "rows": len(self._df),
            "kinds": {str(k): int(v) for k, v in self._df["kind"].value_counts().sort_index().items()},
            "statistic": m.statistic,
            "unstable": int(self._df["unstable"].sum()),
            "interference": dict(m.interference),
            "overhead_ms": m.overhead_ms,
            "source": m.source,
            "created_utc": m.created_utc,
            "hwlat_version": m.hwlat_version,
        }

    def __repr__(self) -> str:
        m = self.metadata
        rt = m.runtime if m.runtime_version in ("", "unknown") else f"{m.runtime} {m.runtime_version}"
        return (f"LatencyTable(device={m.device_name!r}, runtime={rt!r}, threads={m.threads}, "
                f"rows={len(self)}, created={m.created_utc!r}, source={m.source!r})")

    def copy(self) -> LatencyTable:
        self._flush()
        return LatencyTable(self.metadata.copy(), self._df)

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the table: ``.parquet`` (metadata in the Arrow schema) or ``.csv`` (for review)."""
        p = Path(path)
        suffix = p.suffix.lower()
        self._flush()
        meta_json = json.dumps(self.metadata.to_dict(), sort_keys=True)
        if suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(self._df, preserve_index=False)
            table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                   _PARQUET_KEY: meta_json.encode("utf-8")})
            with atomic_path(p) as tmp, open(tmp, "wb") as fh:  # a file object: any path, UTF-8 or not
                pq.write_table(table, fh)
        elif suffix == ".csv":
            body = self._df.to_csv(index=False, lineterminator="\n")
            atomic_write_text(p, f"{_CSV_MAGIC}{meta_json}\n{body}")
        else:
            raise InputError(f"cannot save a latency table as {p.name!r}: use a .parquet file (or .csv for review)")
        logger.debug("wrote %d rows to %s", len(self._df), p)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LatencyTable:
        """Read a table written by :meth:`save` (Parquet or CSV, told apart by content)."""
        from hwlat._files import check_input_file

        p = check_input_file(path, "latency table", fix="give the path of a .parquet or .csv table written by "
                                                        "hwlat profile or LatencyTable.save")
        name = shown(p)
        try:
            with open(p, "rb") as fh:
                head = fh.read(len(_CSV_MAGIC))
        except OSError as exc:
            raise InputError(f"cannot read latency table {name}: {exc.strerror}") from None
        if head[:4] == b"PAR1":
            return cls._load_parquet(p)
        if head == _CSV_MAGIC.encode("ascii"):
            return cls._load_csv(p)
        if p.suffix.lower() == ".parquet":
            raise InputError(f"{name} is not a readable Parquet file (corrupt or truncated); write it again "
                             "with LatencyTable.save or hwlat profile")
        raise InputError(f"{name} is not an hwlat latency table: expected a Parquet file or a CSV whose first "
                         f"line starts with {_CSV_MAGIC.strip()!r} (as written by LatencyTable.save)")

    @classmethod
    def _load_parquet(cls, p: Path) -> LatencyTable:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            with open(p, "rb") as fh:  # a file object: pyarrow takes no path that is not UTF-8
                table = pq.read_table(fh)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{shown(p)} is not a readable Parquet file ({exc}); write it again with "
                             "LatencyTable.save or hwlat profile") from None
        raw = (table.schema.metadata or {}).get(_PARQUET_KEY)
        if raw is None:
            raise InputError(f"{shown(p)} is a Parquet file but not an hwlat latency table (no 'hwlat' metadata in its "
                             "schema); tables are written by LatencyTable.save or hwlat profile")
        meta = cls._parse_meta(raw.decode("utf-8", errors="replace"), p)
        try:
            df = table.to_pandas()
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise InputError(f"{shown(p)}: cannot convert the table to pandas: {exc}") from None
        return cls(meta, _coerce_frame(df, f"latency table {shown(p)}", keys=True))

    @classmethod
    def _load_csv(cls, p: Path) -> LatencyTable:
        from hwlat._files import read_input_text

        text = read_input_text(p, "latency table")
        first, _, body = text.partition("\n")
        meta = cls._parse_meta(first[len(_CSV_MAGIC):], p)
        dtypes = {name: ("boolean" if t == "bool" else t) for name, t in COLUMN_DTYPES.items()}
        # "nan" (as pandas writes a NaN it was given) reads as empty in float columns only: a key stays a key
        na = {name: (["", "nan", "NaN"] if t == "float64" else [""]) for name, t in COLUMN_DTYPES.items()}
        # pandas < 3 parses floats exactly only with float_precision="round_trip" (the default since 3)
        exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
        try:
            df = pd.read_csv(io.StringIO(body), dtype=dtypes, keep_default_na=False, na_values=na, **exact)
        except (ValueError, TypeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            cell = _bad_cell(body) or f"the CSV rows after the metadata line cannot be read: {exc}"
            raise InputError(f"latency table {shown(p)}: {cell}; fix that row (tables are written whole by "
                             "hwlat profile and LatencyTable.save)") from None
        # line 1 holds the metadata, line 2 the column names: the first row is line 3
        return cls(meta, _coerce_frame(df, f"latency table {shown(p)}", keys=True, first_line=3))

    @staticmethod
    def _parse_meta(text: str, p: Path) -> TableMetadata:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}: the hwlat metadata is not valid JSON ({exc.msg} at column {exc.colno}); "
                             "the file is corrupt, write it again with LatencyTable.save") from None
        try:
            return TableMetadata.from_dict(d)
        except InputError as exc:
            raise InputError(f"{p}: {exc}") from None

