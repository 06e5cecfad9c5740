"""Lazy import of optional dependencies with one actionable message."""

from __future__ import annotations

import importlib
from types import ModuleType

from hwlat.errors import MissingDependencyError

# module -> (pip distribution, hwlat extra)
_KNOWN = {
    "torch": ("torch", "torch"),
    "onnxruntime": ("onnxruntime", None),
    "ai_edge_litert": ("ai-edge-litert", None),
    "matplotlib": ("matplotlib", None),
    "PIL": ("pillow", None),
}


def import_optional(name: str, purpose: str = "") -> ModuleType:
    """Import ``name`` or raise :class:`MissingDependencyError` naming what to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        top = name.split(".")[0]
        dist, extra = _KNOWN.get(top, (top, None))
        how = f"pip install 'hwlat[{extra}]'" if extra else f"pip install {dist}"
        why = f" (needed for {purpose})" if purpose else ""
        raise MissingDependencyError(
            f"{dist} is not installed{why}; install it with: {how}"
        ) from exc


def has_module(name: str) -> bool:
    """True if ``name`` can be imported (without importing heavy modules twice)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
