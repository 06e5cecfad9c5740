"""Combining and comparing latency tables: merge, diff, regression gates, coverage."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hwlat.errors import InputError
from hwlat.latency_tables._table import LatencyTable, SpecOrKey
from hwlat.latency_tables.metadata import TableMetadata, _utc_now
from hwlat.latency_tables.schema import FLOAT_STATS
from hwlat.ops.spec import OpSpec

__all__ = ["merge", "diff", "TableDiff", "check_regression", "coverage", "Coverage"]


# -- merge -----------------------------------------------------------------------------------------

def _identity(m: TableMetadata) -> dict[str, Any]:
    return {"device name": m.device_name, "runtime": m.runtime, "threads": m.threads}


def merge(a: LatencyTable, b: LatencyTable, *, prefer: str = "b", force: bool = False) -> LatencyTable:
    """The union of two tables' rows; on a shared key the row of the ``prefer``red table wins.

    Tables measured on different devices, runtimes or thread counts are not merged unless
    ``force=True`` (then a warning is issued). The provenance of both is kept in
    ``metadata.extra["merged_from"]``.
    """
    if prefer not in ("a", "b"):
        raise InputError(f"merge(prefer=...) is 'a' or 'b', got {prefer!r}")
    for t, name in ((a, "a"), (b, "b")):
        if not isinstance(t, LatencyTable):
            raise InputError(f"merge takes two LatencyTables; {name} is a {type(t).__name__}")
    ia, ib = _identity(a.metadata), _identity(b.metadata)
    clash = [f"{k} {ia[k]!r} vs {ib[k]!r}" for k in ia if ia[k] != ib[k]]
    if clash:
        msg = f"the tables were measured differently ({'; '.join(clash)})"
        if not force:
            raise InputError(f"refusing to merge latency tables: {msg}; their latencies are not comparable. "
                             "Pass force=True (--force) to merge anyway")
        warnings.warn(f"merging latency tables although {msg}", UserWarning, stacklevel=2)
    elif a.metadata.runtime_version != b.metadata.runtime_version:
        warnings.warn(f"merging latency tables from different {a.metadata.runtime} versions "
                      f"({a.metadata.runtime_version!r} vs {b.metadata.runtime_version!r})", UserWarning, stacklevel=2)

    first, second = (a, b) if prefer == "b" else (b, a)  # ``second`` wins
    dfirst, dsecond = first.df, second.df
    kept = dfirst[~dfirst["key"].isin(dsecond["key"])]
    if prefer == "b":
        parts = [kept, dsecond]
    else:  # keep a's order: a's rows first, then b's new ones
        parts = [dsecond, kept]
    parts = [p for p in parts if len(p)] or [dsecond]
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    meta = second.metadata.copy()
    if meta.overhead_ms is None:
        meta.overhead_ms = first.metadata.overhead_ms
    meta.source = "merged"
    meta.created_utc = _utc_now()
    meta.extra = {**meta.extra, "merged_from": [a.metadata.provenance(), b.metadata.provenance()],
                  "merge_prefer": prefer}
    return LatencyTable(meta, df)


# -- diff ------------------------------------------------------------------------------------------

@dataclass
class TableDiff:
    """Shared keys of two tables side by side (``rows``), and keys only in one of them.

    ``rows`` columns: key, kind, a_ms, b_ms (latency_ms), delta_ms (b - a), delta_pct
    (100 * (b - a) / a). ``a_stats``/``b_stats`` hold every float statistic of the shared rows,
    indexed by key, for regression rules on other statistics.
    """

    rows: pd.DataFrame
    only_a: list[str]
    only_b: list[str]
    a_stats: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    b_stats: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    def summary(self) -> dict[str, Any]:
        """n_shared, n_only_a, n_only_b, and the median / p90 / max of |delta_pct| (%)."""
        abs_pct = self.rows["delta_pct"].abs().replace([np.inf], np.nan).dropna().to_numpy(dtype=float)
        q = (lambda p: float(np.percentile(abs_pct, p))) if len(abs_pct) else (lambda p: math.nan)
        return {
            "n_shared": int(len(self.rows)),
            "n_only_a": len(self.only_a),
            "n_only_b": len(self.only_b),
            "median_abs_delta_pct": q(50),
            "p90_abs_delta_pct": q(90),
            "max_abs_delta_pct": q(100),
        }


# host fingerprint fields that change on the same machine (clock, software versions): not compared
_VOLATILE_HOST_KEYS = frozenset({"cpu_freq_mhz", "memory_gb", "python", "runtimes", "hwlat_version"})


def _env_differences(a: TableMetadata, b: TableMetadata) -> list[str]:
    out = []
    for name in ("device", "host"):
        da, db = getattr(a, name), getattr(b, name)
        skip = _VOLATILE_HOST_KEYS if name == "host" else frozenset()
        keys = sorted(k for k in set(da) | set(db) if k not in skip and da.get(k) != db.get(k))
        if keys:
            out.append(f"{name} ({', '.join(f'{k}: {da.get(k)!r} vs {db.get(k)!r}' for k in keys[:4])})")
    return out


def diff(a: LatencyTable, b: LatencyTable) -> TableDiff:
    """Compare ``b`` against ``a`` on their shared keys (positive delta: b is slower).

    Warns when the tables come from different devices or hosts.
    """
    differences = _env_differences(a.metadata, b.metadata)
    if differences:
        warnings.warn("comparing latency tables from different machines: " + "; ".join(differences),
                      UserWarning, stacklevel=2)
    da, db = a.df, b.df
    stat_cols = ["key", *FLOAT_STATS]
    shared = da[["key", "kind", *FLOAT_STATS]].merge(db[stat_cols], on="key", how="inner", suffixes=("_a", "_b"))
    a_ms = shared["latency_ms_a"].to_numpy(dtype=float)
    b_ms = shared["latency_ms_b"].to_numpy(dtype=float)
    rows = pd.DataFrame({
        "key": shared["key"].astype("string"),
        "kind": shared["kind"].astype("string"),
        "a_ms": a_ms,
        "b_ms": b_ms,
        "delta_ms": b_ms - a_ms,
        "delta_pct": _pct(a_ms, b_ms),
    })
    a_stats = shared[["key"] + [f"{s}_a" for s in FLOAT_STATS]].set_index("key")
    a_stats.columns = list(FLOAT_STATS)
    b_stats = shared[["key"] + [f"{s}_b" for s in FLOAT_STATS]].set_index("key")
    b_stats.columns = list(FLOAT_STATS)
    keys_a, keys_b = set(da["key"]), set(db["key"])
    return TableDiff(
        rows=rows,
        only_a=[k for k in da["key"].tolist() if k not in keys_b],
        only_b=[k for k in db["key"].tolist() if k not in keys_a],
        a_stats=a_stats,
        b_stats=b_stats,
    )


def _pct(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * (b - a) / a


# -- regression gate -------------------------------------------------------------------------------

_RULE = re.compile(r"^\s*(?P<stat>[a-z0-9_]+)\s*:\s*(?P<sign>[+-]?)\s*"
                   r"(?P<num>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>%|ms)\s*$")
_RULE_HELP = ("expected STAT:[+|-]NUMBER(%|ms), e.g. 'latency_ms:+5%' (b slower than a by more than 5 %), "
              "'latency_ms:-5%' (faster by more than 5 %), 'latency_ms:5%' (either way) or 'latency_ms:+0.1ms'; "
              f"STAT is one of {', '.join(FLOAT_STATS)}; join several rules with ','")


def check_regression(d: TableDiff, rule: str) -> pd.DataFrame:
    """The rows of ``d`` that break ``rule`` (e.g. ``"latency_ms:+5%"``); empty when none does.

    The result has the columns of :attr:`TableDiff.rows` computed for the rule's statistic,
    plus ``rule``. Several rules can be given separated by commas; a row breaking any is listed
    (once per broken rule). Rows whose statistic is NaN never break a rule.
    """
    if not isinstance(rule, str) or not rule.strip():
        raise InputError(f"empty regression rule (--fail-if); {_RULE_HELP}")
    frames = []
    for part in rule.split(","):
        m = _RULE.match(part)
        if m is None:
            raise InputError(f"malformed regression rule (--fail-if) {part.strip()!r}; {_RULE_HELP}")
        stat, sign, num, unit = m["stat"], m["sign"], float(m["num"]), m["unit"]
        if stat not in FLOAT_STATS:
            raise InputError(f"unknown statistic {stat!r} in regression rule (--fail-if) {part.strip()!r}; "
                             f"{_RULE_HELP}")
        rows = d.rows
        if stat != "latency_ms":
            a = d.a_stats[stat].reindex(rows["key"].tolist()).to_numpy(dtype=float)
            b = d.b_stats[stat].reindex(rows["key"].tolist()).to_numpy(dtype=float)
            rows = rows.assign(a_ms=a, b_ms=b, delta_ms=b - a, delta_pct=_pct(a, b))
        value = rows["delta_pct"] if unit == "%" else rows["delta_ms"]
        value = value.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            if sign == "+":
                bad = value > num
            elif sign == "-":
                bad = value < -num
            else:
                bad = np.abs(value) > num
        bad &= ~np.isnan(value)
        frames.append(rows[bad].assign(rule=part.strip()))
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return out


# -- coverage --------------------------------------------------------------------------------------

@dataclass
class Coverage:
    """How many of the ops a model or search space needs are in a table."""

    n_needed: int
    n_present: int
    missing: list[OpSpec]
    fraction: float

    def __str__(self) -> str:
        s = f"coverage {self.n_present}/{self.n_needed} ops ({100 * self.fraction:.1f} %)"
        if not self.missing:
            return s + ", nothing missing"
        shown = ", ".join(m.key for m in self.missing[:5])
        more = f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else ""
        return f"{s}; {len(self.missing)} missing: {shown}{more}"


def coverage(table: LatencyTable, specs: Iterable[SpecOrKey]) -> Coverage:
    """Which of ``specs`` (duplicates counted once) have a row in ``table``."""
    unique: dict[str, OpSpec] = {}
    for s in specs:
        spec = OpSpec.from_key(s) if isinstance(s, str) else s
        if not isinstance(spec, OpSpec):
            raise InputError(f"coverage takes OpSpecs or op keys, got {type(s).__name__}")
        unique.setdefault(spec.key, spec)
    missing = [spec for key, spec in unique.items() if key not in table]
    n = len(unique)
    present = n - len(missing)
    return Coverage(n_needed=n, n_present=present, missing=missing, fraction=present / n if n else 1.0)
