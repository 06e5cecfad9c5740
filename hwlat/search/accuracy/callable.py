"""Accuracy from any Python callable: ``module:function`` or ``path/to/file.py:function``."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat.errors import InputError
from hwlat.search.accuracy.base import AccuracySource

if TYPE_CHECKING:
    from hwlat.spaces import SearchSpace

__all__ = ["CallableAccuracy"]

_TARGET_RE = re.compile(r"^(?P<mod>[^:]+):(?P<fn>[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)$")
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _resolve_target(target: str) -> Callable[..., Any]:
    m = _TARGET_RE.match(target.strip())
    example = "mypackage.accuracy:evaluate or path/to/file.py:evaluate"
    if not m:
        raise InputError(f"accuracy callable {target!r} must look like module:function ({example})")
    mod_name, fn_path = m.group("mod"), m.group("fn")
    if mod_name.endswith(".py"):
        from hwlat._files import check_input_file

        p = check_input_file(mod_name, f"accuracy callable {target!r}: Python file")
        name = f"_hwlat_user_accuracy_{abs(hash(str(p.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, p)
        if spec is None or spec.loader is None:
            raise InputError(f"accuracy callable {target!r}: cannot load {p} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # any error in user code at import
            sys.modules.pop(name, None)
            raise InputError(f"accuracy callable {target!r}: importing {p} failed ({type(exc).__name__}: {exc})") \
                from exc
    else:
        if not _MODULE_RE.match(mod_name):
            raise InputError(f"accuracy callable {target!r}: {mod_name!r} is not a module name ({example})")
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            raise InputError(f"accuracy callable {target!r}: cannot import module {mod_name!r} ({exc}); install it "
                             "or add its folder to PYTHONPATH") from None
    obj: Any = module
    for part in fn_path.split("."):
        if not hasattr(obj, part):
            raise InputError(f"accuracy callable {target!r}: module {mod_name!r} has no attribute {fn_path!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise InputError(f"accuracy callable {target!r}: {fn_path!r} is a {type(obj).__name__}, not a function")
    return obj


class CallableAccuracy(AccuracySource):
    """Accuracy from any Python callable ``fn(list_of_archs) -> sequence of accuracies``.

    ``target`` is the callable itself or its ``module:function`` / ``file.py:function`` path.
    Architectures are passed in the space's own form (a tuple, a dict; see the space). ``kind``
    says whether the values are accuracies (``"accuracy"``, percent) or a proxy score.
    """

    def __init__(self, target: str | Callable[[list[Any]], Any], space: SearchSpace, *, kind: str = "accuracy",
                 name: str | None = None) -> None:
        super().__init__(space)
        if kind not in ("accuracy", "proxy"):
            raise InputError(f"kind must be 'accuracy' or 'proxy', got {kind!r}")
        if isinstance(target, str):
            self.fn = _resolve_target(target)
            label = target.strip()
        elif callable(target):
            self.fn = target
            label = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"
        else:
            raise InputError(f"an accuracy callable is a function or a 'module:function' string, got "
                             f"{type(target).__name__}")
        self.kind = kind
        self.unit = "%" if kind == "accuracy" else "score"
        self.name = name or f"callable:{label}"

    def evaluate(self, archs: Sequence[Any]) -> np.ndarray:
        archs = list(archs)
        if not archs:
            return np.zeros(0)
        raw = self.fn(archs)
        try:
            out = np.asarray(raw, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InputError(f"{self.name} must return numbers, one per architecture; got {type(raw).__name__}") \
                from None
        if out.size != len(archs):
            raise InputError(f"{self.name} returned {out.size} values for {len(archs)} architectures; return one "
                             "accuracy per architecture, in order")
        if not np.all(np.isfinite(out)):
            raise InputError(f"{self.name} returned NaN or infinite accuracies")
        return out
