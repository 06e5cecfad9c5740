"""Runtime backends, registered in :data:`hwlat.registry.RUNTIMES`.

Each is imported lazily: asking for one does not import the others, and listing them imports none.
"""

from __future__ import annotations

from typing import Any

from hwlat.errors import InputError
from hwlat.profiler.runtimes.base import Prepared, Runtime, check_inputs_fit
from hwlat.registry import RUNTIMES

__all__ = ["Runtime", "Prepared", "check_inputs_fit", "get_runtime_class", "make_runtime"]


def get_runtime_class(name: str) -> type[Runtime]:
    """The :class:`Runtime` class registered as ``name`` (close names are suggested when unknown)."""
    cls = RUNTIMES.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Runtime)):
        raise InputError(f"the runtime {name!r} is registered as {cls!r}, which is not a Runtime class")
    return cls


def make_runtime(name: str, **kwargs: Any) -> Runtime:
    """A runtime instance by name (``threads=``, ``provider=``, ``precision=``, ``options=``)."""
    return get_runtime_class(name)(**kwargs)
