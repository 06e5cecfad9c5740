"""Saving and loading predictors without unpickling: ``.npz`` arrays + a JSON header.

``numpy.load(..., allow_pickle=False)`` reads only plain arrays, so a predictor file from an
untrusted source cannot run code. The header records the format version, the library versions
and the hash of the latency table the predictor was fitted on; loading with another table (or
other versions) warns.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from hwlat.errors import InputError

__all__ = ["table_hash", "save_predictor", "load_predictor", "FORMAT", "FORMAT_VERSION"]

FORMAT = "hwlat-predictor"
FORMAT_VERSION = 1


def table_hash(table: Any) -> str:
    """SHA-256 of a table's content (keys and latencies), first 16 hex digits."""
    df = table.df.sort_values("key")
    h = hashlib.sha256()
    for key, ms in zip(df["key"], df["latency_ms"]):
        h.update(f"{key}={float(ms):.9g}\n".encode())
    return h.hexdigest()[:16]


def _versions() -> dict[str, str]:
    import hwlat

    out = {"hwlat": hwlat.__version__, "numpy": np.__version__}
    try:
        from importlib.metadata import version

        out["scikit-learn"] = version("scikit-learn")
    except Exception:  # pragma: no cover - scikit-learn is a dependency
        pass
    return out


def save_predictor(predictor: Any, path: str | os.PathLike[str]) -> Path:
    """Write a fitted predictor (``LookupPredictor`` or one with ``_state()``) to ``path`` (.npz)."""
    from hwlat._io import atomic_path

    p = Path(path)
    if p.suffix != ".npz":
        raise InputError(f"predictor files end in .npz, got {p.name}")
    header, arrays = _state_of(predictor)
    header.update({"format": FORMAT, "format_version": FORMAT_VERSION, "versions": _versions()})
    with atomic_path(p) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, header=np.array(json.dumps(header)), **arrays)
    return p


def _state_of(predictor: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from hwlat.predictors.lookup import LookupPredictor, parts_to_arrays

    if isinstance(predictor, LookupPredictor):
        predictor._check_fitted()
        header = {
            "kind": "lookup",
            "space": {"name": predictor.space.name, "config": predictor.space.config()},
            "table_hash": table_hash(predictor.table),
            "table": predictor.table.summary() if hasattr(predictor.table, "summary") else {},
            "coef": [float(c) for c in predictor.coef_],
            "overhead_ms": predictor.overhead_ms_,
            "calibration": predictor.calibration,
            "alpha": float(predictor.alpha),
            "in_context": bool(predictor.in_context),
            "calibrated": predictor.calibrated_,
            "group_coef": predictor.group_coef_,
            "const_scale": predictor.const_scale_,
            "n_calibration": predictor.n_calibration_,
            "n_ops": predictor.n_ops_,
            "part_names": predictor.part_names_,
        }
        arrays = parts_to_arrays(predictor.part_genes_, predictor.part_dims_, predictor.part_tables_)
        arrays.update({f"raw{k}": v for k, v in parts_to_arrays(predictor.part_genes_, predictor.part_dims_,
                                                                predictor.raw_part_tables_).items()
                       if k.endswith("_table")})
        return header, arrays
    if hasattr(predictor, "_state"):
        return predictor._state()
    raise InputError(f"cannot save a {type(predictor).__name__}; it has no saved form")


def load_predictor(path: str | os.PathLike[str], *, table: Any = None) -> Any:
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
    if kind == "lookup":
        return _load_lookup(header, arrays, table)
    from hwlat.predictors import _LOADERS

    if kind in _LOADERS:
        return _LOADERS[kind](header, arrays, table)
    raise InputError(f"{p} holds a predictor of unknown kind {kind!r}")


def _load_lookup(header: dict[str, Any], arrays: dict[str, np.ndarray], table: Any) -> Any:
    from hwlat.predictors.lookup import LookupPredictor, parts_from_arrays
    from hwlat.spaces import get_space

    space = get_space(header["space"]["name"], **header["space"]["config"])
    pred = LookupPredictor(space, table, overhead_ms=header["overhead_ms"], calibration=header["calibration"],
                           alpha=float(header.get("alpha", 10.0)), in_context=bool(header.get("in_context", False)))
    n = len(header["part_names"])
    pred.part_genes_, pred.part_dims_, pred.part_tables_ = parts_from_arrays(arrays, n)
    raw = {k[3:]: v for k, v in arrays.items() if k.startswith("raw")}
    pred.raw_part_tables_ = (parts_from_arrays({**arrays, **raw}, n)[2] if raw
                             else [t.copy() for t in pred.part_tables_])
    pred.part_names_ = list(header["part_names"])
    pred.coef_ = np.asarray(header["coef"], dtype=np.float64)
    pred.overhead_ms_ = float(header["overhead_ms"])
    pred.n_calibration_ = int(header["n_calibration"])
    pred.n_ops_ = int(header["n_ops"])
    # files before group calibrations held (a, b) over the raw sums
    pred.calibrated_ = str(header.get("calibrated", "affine" if pred.n_calibration_ else "none"))
    pred.group_coef_ = {str(k): float(v) for k, v in header.get("group_coef", {}).items()}
    pred.const_scale_ = float(header.get("const_scale", pred.coef_[0]))
    pred.table_hash_ = header.get("table_hash")
    return pred
