"""``TableMetadata``: where a latency table's numbers come from (device, host, runtime, protocol,
statistic, interference, overhead, time, hwlat version)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwlat.errors import InputError
from hwlat.latency_tables.schema import SCHEMA_VERSION

__all__ = ["TableMetadata"]

logger = logging.getLogger(__name__)

def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _hwlat_version() -> str:
    from hwlat import __version__

    return __version__


def _jsonable(obj: Any, where: str) -> Any:
    """A JSON-safe copy of ``obj`` (numpy scalars to Python, tuples to lists, paths to str)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, where) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise InputError(f"table metadata {where} holds a {type(obj).__name__}, which cannot be stored as JSON; "
                     "use str, int, float, bool, lists or dicts")


# -- metadata ----------------------------------------------------------------------------------------

@dataclass
class TableMetadata:
    """Provenance of a latency table.

    ``overhead_ms`` is the runtime's per-call overhead (ms) measured on an empty model, or None
    when not measured. ``source`` is ``"measured"``, ``"imported:<file name>"`` or ``"merged"``.
    ``threads`` 0 means the runtime's default (or, for imported tables, not published).
    ``statistic`` names what ``latency_ms`` is (``"min"``, ``"median"``, ``"mean"``...; tables
    of schema 1 held medians); ``interference`` is the run's interference figure (see
    :class:`hwlat.profiler.meter.Interference`), empty when not measured.
    """

    device: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    runtime: str = ""
    runtime_version: str = ""
    threads: int = 1
    protocol: dict[str, Any] = field(default_factory=dict)
    overhead_ms: float | None = None
    created_utc: str = field(default_factory=_utc_now)
    hwlat_version: str = field(default_factory=_hwlat_version)
    schema_version: int = SCHEMA_VERSION
    source: str = "measured"
    statistic: str = ""
    interference: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def device_name(self) -> str:
        return str(self.device.get("name", "?"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (the inverse of :meth:`from_dict`)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return _jsonable(out, "metadata")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TableMetadata:
        if not isinstance(d, Mapping):
            raise InputError(f"table metadata must be a JSON object, got {type(d).__name__}")
        version = d.get("schema_version", SCHEMA_VERSION)
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise InputError(f"table metadata has a malformed schema_version {version!r}; "
                             "expected an integer") from None
        if version > SCHEMA_VERSION:
            raise InputError(
                f"this latency table uses table schema version {version}, newer than the {SCHEMA_VERSION} this "
                f"hwlat ({_hwlat_version()}) reads; upgrade hwlat: pip install -U hwlat"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            logger.debug("ignoring unknown table metadata fields: %s", ", ".join(unknown))
        kw: dict[str, Any] = {k: d[k] for k in names if k in d}
        if version < 2 and not kw.get("statistic"):
            kw["statistic"] = "median"  # schema 1 stored the median as the latency
        for name in ("device", "host", "protocol", "interference", "extra"):
            if kw.get(name) is None:
                kw[name] = {}
            if not isinstance(kw[name], Mapping):
                raise InputError(f"table metadata field {name!r} must be an object, got {kw[name]!r}")
            kw[name] = dict(kw[name])
        try:
            kw["threads"] = int(kw.get("threads", 1))
            if kw.get("overhead_ms") is not None:
                kw["overhead_ms"] = float(kw["overhead_ms"])
        except (TypeError, ValueError):
            raise InputError(
                f"table metadata has malformed threads={d.get('threads')!r} or overhead_ms={d.get('overhead_ms')!r}; "
                "expected an integer and a number (or null)"
            ) from None
        for name in ("runtime", "runtime_version", "created_utc", "hwlat_version", "source", "statistic"):
            if name in kw:
                kw[name] = "" if kw[name] is None else str(kw[name])
        kw["schema_version"] = SCHEMA_VERSION  # older files are upgraded when read
        return cls(**kw)

    def copy(self) -> TableMetadata:
        return TableMetadata.from_dict(json.loads(json.dumps(self.to_dict())))

    def provenance(self) -> dict[str, Any]:
        """The fields that say where numbers come from (recorded by :func:`merge`)."""
        d = self.to_dict()
        return {k: d[k] for k in ("source", "device", "host", "runtime", "runtime_version", "threads",
                                  "protocol", "statistic", "interference", "overhead_ms", "created_utc",
                                  "hwlat_version", "extra")}


