"""Saving and loading predictors without unpickling: ``.npz`` arrays + a JSON header.

``numpy.load(..., allow_pickle=False)`` reads only plain arrays, so a predictor file from an
untrusted source cannot run code. The header records the format version, the library versions
and the hash of the latency table the predictor was fitted on; loading with another table (or
other versions) warns.

A predictor gives its saved form with ``to_state() -> (header, arrays)``, the header naming its
``kind``; loading asks :data:`hwlat.registry.PREDICTORS` for the class registered under that
kind and calls its ``from_state(header, arrays, table)``.
"""

from __future__ import annotations

import json
import os
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import hwlat
from hwlat._io import atomic_path
from hwlat.errors import InputError
from hwlat.predictors.base import table_hash
from hwlat.registry import PREDICTORS

if TYPE_CHECKING:
    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors.base import Predictor

__all__ = ["save_predictor", "load_predictor", "FORMAT", "FORMAT_VERSION"]

FORMAT = "hwlat-predictor"
FORMAT_VERSION = 1


def _versions() -> dict[str, str]:
    out = {"hwlat": hwlat.__version__, "numpy": np.__version__}
    try:
        out["scikit-learn"] = version("scikit-learn")
    except Exception:  # pragma: no cover - scikit-learn is a dependency
        pass
    return out


def save_predictor(predictor: Predictor, path: str | os.PathLike[str]) -> Path:
    """Write a fitted predictor (one with ``to_state()``) to ``path`` (.npz)."""
    p = Path(path)
    if p.suffix != ".npz":
        raise InputError(f"predictor files end in .npz, got {p.name}")
    if not callable(getattr(predictor, "to_state", None)):
        raise InputError(f"cannot save a {type(predictor).__name__}; it has no saved form (to_state)")
    header, arrays = predictor.to_state()
    if header.get("kind") not in PREDICTORS:
        raise InputError(f"a {type(predictor).__name__} saves kind {header.get('kind')!r}, which no predictor is "
                         "registered as; register its class in hwlat.registry.PREDICTORS")
    header.update({"format": FORMAT, "format_version": FORMAT_VERSION, "versions": _versions()})
    # Any: numpy's stub has allow_pickle: bool beside **kwds, and mypy will not unpack a dict of arrays next to it
    named: dict[str, Any] = arrays
    with atomic_path(p) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, header=np.array(json.dumps(header)), **named)
    return p


def load_predictor(path: str | os.PathLike[str], *, table: LatencyTable | None = None) -> Any:
    """Read a predictor written by :func:`save_predictor`; warns if ``table`` is not the one it was fit on."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"predictor file {p} does not exist")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise InputError(f"{p} is not an hwlat predictor file (.npz): {exc}") from None
    try:
        header = json.loads(str(arrays.pop("header")))
    except (KeyError, json.JSONDecodeError):
        raise InputError(f"{p} is not an hwlat predictor file: no header") from None
    if header.get("format") != FORMAT:
        raise InputError(f"{p} is not an hwlat predictor file (format {header.get('format')!r})")
    if int(header.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(f"{p} was written by a newer hwlat (format {header['format_version']}); upgrade hwlat")
    now = _versions()
    for lib, v in header.get("versions", {}).items():
        if now.get(lib) not in (None, v):
            warnings.warn(f"{p} was saved with {lib} {v}, this is {now[lib]}", stacklevel=2)
    if table is not None and header.get("table_hash") not in (None, table_hash(table)):
        warnings.warn(f"{p} was fitted on another latency table (hash {header['table_hash']}, "
                      f"this one {table_hash(table)}); refit it on this table", stacklevel=2)
    kind = header.get("kind")
    if kind not in PREDICTORS:
        raise InputError(f"{p} holds a predictor of unknown kind {kind!r}; known kinds: {', '.join(PREDICTORS)}")
    return PREDICTORS.get(kind).from_state(header, arrays, table)

