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
from collections.abc import Collection
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

__all__ = ["save_predictor", "load_predictor", "describe_kind", "KIND_NAMES", "ONNX_KINDS", "space_kinds", "FORMAT",
           "FORMAT_VERSION"]

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


#: what each built-in kind of predictor file is, and where it comes from (for messages)
KIND_NAMES: dict[str, str] = {
    "lookup": "a lookup predictor of a search space's architectures (from hwlat validate)",
    "fewshot": "a few-shot predictor of a search space's architectures (from hwlat adapt)",
    "device-prior": "a few-shot predictor of a search space's architectures learned across reference devices "
                    "(from hwlat adapt --reference-devices)",
    "kernel": "a kernel regressor of single ONNX kernels (from hwlat kernels fit; an ONNX query takes it as "
              "--regressor)",
    "graph": "a graph predictor of ONNX models (from hwlat query --save-predictor; it predicts .onnx files)",
}

#: the built-in kinds that predict something else than a search space's architectures
ONNX_KINDS: tuple[str, ...] = ("kernel", "graph")


def space_kinds() -> list[str]:
    """The registered kinds that predict a search space's architectures (all but :data:`ONNX_KINDS`)."""
    return [k for k in PREDICTORS if k not in ONNX_KINDS]

_WRITTEN_BY = "write it again with hwlat validate, adapt, kernels fit or query --save-predictor"


def describe_kind(kind: str) -> str:
    """What a predictor file of ``kind`` holds, in words."""
    return KIND_NAMES.get(kind, f"a predictor of kind {kind!r}")


def load_predictor(path: str | os.PathLike[str], *, table: LatencyTable | None = None,
                   kinds: Collection[str] | None = None, use: str = "this use") -> Any:
    """Read a predictor written by :func:`save_predictor`; warns if ``table`` is not the one it was fit on.

    ``kinds`` (optional) are the kinds the caller can use: a file of another kind is an
    :class:`InputError` that says what the file holds and that ``use`` needs another kind. Any
    file that is not a well-formed predictor file is an :class:`InputError` naming the file.
    """
    from hwlat._files import check_input_file, shown

    p = check_input_file(path, "predictor file", fix="give a .npz file written by hwlat validate, adapt, kernels "
                                                     "fit or query --save-predictor")
    name = shown(p)
    try:
        with open(p, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # numpy and zipfile raise many kinds for a file that is not an .npz
        raise InputError(f"{name} is not an hwlat predictor file (.npz): {exc}") from None
    raw = arrays.pop("header", None)
    try:
        if raw is None or raw.ndim != 0 or raw.dtype.kind != "U":
            raise ValueError
        header = json.loads(str(raw))
    except (ValueError, TypeError):
        raise InputError(f"{name} is an .npz file but not an hwlat predictor file: it has no JSON header "
                         f"(an array 'header' holding a JSON object); {_WRITTEN_BY}") from None
    if not isinstance(header, dict):
        raise InputError(f"{name} is not an hwlat predictor file: its header is a JSON "
                         f"{type(header).__name__}, not an object; {_WRITTEN_BY}")
    if header.get("format") != FORMAT:
        raise InputError(f"{name} is not an hwlat predictor file (its header says format {header.get('format')!r}, "
                         f"expected {FORMAT!r}); {_WRITTEN_BY}")
    fv = header.get("format_version", 0)
    if not isinstance(fv, int) or isinstance(fv, bool) or fv < 0:
        raise InputError(f"{name}: the header's format_version is {fv!r}, expected a whole number; {_WRITTEN_BY}")
    if fv > FORMAT_VERSION:
        raise InputError(f"{name} was written by a newer hwlat (format {fv}); upgrade hwlat")
    kind = header.get("kind")
    if not isinstance(kind, str) or kind not in PREDICTORS:
        raise InputError(f"{name} holds a predictor of unknown kind {kind!r}; known kinds: {', '.join(PREDICTORS)}")
    if kinds is not None and kind not in kinds:
        wanted = "; or ".join(describe_kind(k) for k in kinds)
        raise InputError(f"{name} is {describe_kind(kind)}, but {use} needs {wanted}")
    now = _versions()
    versions = header.get("versions", {})
    for lib, v in (versions.items() if isinstance(versions, dict) else ()):
        if now.get(lib) not in (None, v):
            warnings.warn(f"{name} was saved with {lib} {v}, this is {now[lib]}", stacklevel=2)
    if table is not None and header.get("table_hash") not in (None, table_hash(table)):
        warnings.warn(f"{name} was fitted on another latency table (hash {header['table_hash']}, "
                      f"this one {table_hash(table)}); refit it on this table", stacklevel=2)
    try:
        return PREDICTORS.get(kind).from_state(header, arrays, table)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        what = f"it lacks {exc}" if isinstance(exc, KeyError) else f"{exc}"
        raise InputError(f"{name} is {describe_kind(kind)} but its content is malformed ({what}); the file is "
                         f"damaged or was edited: {_WRITTEN_BY}") from None
