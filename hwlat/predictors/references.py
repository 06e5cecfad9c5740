"""Reference devices for a :class:`~hwlat.predictors.device_prior.DevicePrior`: the latencies of
the same architectures on several devices.

Two sources, mixed freely:

* a CSV of measured latencies (a column ``arch`` or ``arch_str`` and one column of ms per
  device), such as NAS-Bench-201's published device latencies;
* latency tables (``.parquet``, or a folder holding ``table.parquet``): each stands for a device
  through its uncalibrated sums, and gives the latency of *any* architecture of the space.

With tables only, the prior predicts every architecture of any space (Once-for-All,
ProxylessNAS, NB201): :attr:`ReferenceLatencies.tables` computes each reference device's
latency of a query, and :attr:`~ReferenceLatencies.archs` is a sample of the space (all of it
when it is small) from which the prior learns how the devices differ. With a CSV among them,
only the architectures the CSV lists can be predicted (the tables add columns for them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat.errors import InputError
from hwlat.predictors.base import LayerTables

if TYPE_CHECKING:
    from hwlat.spaces.base import SearchSpace

__all__ = ["ReferenceLatencies", "read_references", "ENUMERATE_UP_TO", "SAMPLE"]

#: a space with at most this many architectures is taken whole as the tables' reference set
ENUMERATE_UP_TO = 20_000
#: else this many architectures are drawn (seeded) for the prior to learn from
SAMPLE = 4_000


@dataclass
class ReferenceLatencies:
    """Latencies (ms) of the same architectures (text form) on several reference devices.

    ``tables``, when given (one :class:`~hwlat.predictors.base.LayerTables` per device, in the
    order of ``devices``), compute the reference latencies of any architecture; ``ms`` then
    holds their values on ``archs``.
    """

    archs: list[str]
    devices: list[str]
    ms: np.ndarray  # (len(archs), len(devices))
    tables: tuple[LayerTables, ...] = ()

    def __post_init__(self) -> None:
        self.ms = np.asarray(self.ms, dtype=np.float64)
        if self.ms.shape != (len(self.archs), len(self.devices)):
            raise InputError(f"reference latencies: {self.ms.shape} values for {len(self.archs)} architectures "
                             f"x {len(self.devices)} devices")
        if len(self.devices) < 2:
            raise InputError(f"a device prior needs at least 2 reference devices, got {len(self.devices)}")
        if self.tables and len(self.tables) != len(self.devices):
            raise InputError(f"{len(self.tables)} reference tables for {len(self.devices)} devices")
        bad = ~(np.isfinite(self.ms) & (self.ms > 0))
        if bad.any():
            i, j = (int(x[0]) for x in np.nonzero(bad))
            raise InputError(f"reference latency of {self.archs[i]} on {self.devices[j]} is {self.ms[i, j]!r}; "
                             "every reference latency is a positive number of ms")

    def without(self, device: str) -> ReferenceLatencies:
        """These references less one device (a benchmark's held-out device)."""
        keep = [j for j, d in enumerate(self.devices) if d != device]
        tables = tuple(self.tables[j] for j in keep) if self.tables else ()
        return ReferenceLatencies(self.archs, [self.devices[j] for j in keep], self.ms[:, keep], tables)

    def tables_ms(self, genes: np.ndarray) -> np.ndarray:
        """Each table's latency (ms) of each gene row, ``(n, devices)``."""
        ms = np.column_stack([t.predict_genes(genes) for t in self.tables])
        return np.maximum(ms, 1e-9)

    @classmethod
    def from_tables(cls, devices: Sequence[str], tables: Sequence[LayerTables], space: SearchSpace, *,
                    seed: int = 0) -> ReferenceLatencies:
        """Table references over the whole space when it is small, else over a seeded sample."""
        sizes = space.gene_sizes()
        if math.prod(sizes) <= ENUMERATE_UP_TO:
            genes = np.array(np.unravel_index(np.arange(math.prod(sizes)), sizes)).T
        else:
            genes = np.unique(space.canonical_genes(space.sample_genes(seed, SAMPLE)), axis=0)
        archs = [space.encode(space.from_genes(g)) for g in genes]
        refs = cls(archs, list(devices), np.zeros((len(archs), len(devices))) + 1.0, tuple(tables))
        refs.ms = refs.tables_ms(genes)
        return refs


def _table_reference(path: Any, space: SearchSpace) -> tuple[str, LayerTables]:
    """A latency table as a reference device: its name and its uncalibrated sums."""
    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors.lookup import LookupPredictor

    p = Path(path)
    if p.is_dir():
        p = p / "table.parquet"
    table = LatencyTable.load(p)
    name = str(table.metadata.device.get("name") or p.parent.name or p.stem)
    return name, LookupPredictor(space=space, table=table).fit().layer_tables()


def _is_table(path: Any) -> bool:
    p = Path(path)
    return p.suffix == ".parquet" or (p.is_dir() and (p / "table.parquet").exists())


def read_references(paths: Sequence[Any], space: SearchSpace) -> ReferenceLatencies:
    """Reference devices from CSV files (a column ``arch`` or ``arch_str`` of architectures in the
    space's text form and one numeric column of ms per device; an ``index`` column is ignored)
    and latency tables (``.parquet`` or a folder with ``table.parquet``). CSV files are joined on
    the architectures they share; tables add a column for each (see the module docstring)."""
    tables = [_table_reference(p, space) for p in paths if _is_table(p)]
    csvs = [p for p in paths if not _is_table(p)]
    names = [n for n, _ in tables]
    for i, n in enumerate(names):  # two tables of one device: tell them apart by their files
        if names.count(n) > 1:
            names[i] = f"{n}:{Path([p for p in paths if _is_table(p)][i]).stem}"
    if not csvs:
        if len(tables) < 2:
            raise InputError(f"{len(tables)} reference table(s); a device prior learns from at least 2 devices")
        return ReferenceLatencies.from_tables(names, [t for _, t in tables], space)
    merged = _read_csvs(csvs, space)
    if tables:
        genes = space.to_genes([space.decode(a) for a in merged.index])
        for name, lt in zip(names, tables):
            if name in merged.columns:
                raise InputError(f"device {name} is given by a CSV and by a table; give it once")
            merged[name] = np.maximum(lt[1].predict_genes(genes), 1e-9)
    if merged.shape[1] < 2:
        raise InputError(f"{', '.join(str(p) for p in paths)} give(s) one reference device ({merged.columns[0]}); "
                         "a device prior learns from at least 2: one column of latencies (ms) per device")
    return ReferenceLatencies(list(merged.index), list(merged.columns), merged.to_numpy())


def _read_csvs(paths: Sequence[Any], space: SearchSpace) -> Any:
    import io

    import pandas as pd

    from hwlat._files import read_input_text, shown

    merged: pd.DataFrame | None = None
    for path in paths:
        text = read_input_text(path, "reference devices file")
        try:
            df = pd.read_csv(io.StringIO(text))
        except Exception as exc:  # noqa: BLE001 - pandas raises many kinds of error for a bad CSV
            raise InputError(f"{shown(path)} is not a readable CSV: {exc}") from None
        col = next((c for c in ("arch", "arch_str") if c in df.columns), None)
        if col is None:
            raise InputError(f"{shown(path)} needs a column arch (or arch_str) of architectures, then one column of "
                             "latencies (ms) per reference device")
        devices = [c for c in df.columns if c not in (col, "index") and pd.api.types.is_numeric_dtype(df[c])]
        if not devices:
            raise InputError(f"{shown(path)} has no numeric column of latencies; give one per reference device")
        archs = []
        for line, a in enumerate(df[col].astype(str), 2):
            try:
                archs.append(space.encode(space.decode(a)))
            except InputError as exc:
                raise InputError(f"{shown(path)}:{line}: {exc}") from None
        part = pd.DataFrame(df[devices].to_numpy(dtype=np.float64), index=pd.Index(archs, name="arch"),
                            columns=[str(d) for d in devices])
        if part.index.has_duplicates:
            raise InputError(f"{shown(path)} lists {part.index[part.index.duplicated()][0]} twice")
        if merged is not None:
            clash = sorted(set(merged.columns) & set(part.columns))
            if clash:
                raise InputError(f"{shown(path)}: device {clash[0]} is already given by an earlier file")
            merged = merged.join(part, how="inner")
        else:
            merged = part
    if merged is None or merged.empty:
        raise InputError("no reference architectures: give at least one file, sharing architectures with the others")
    return merged
