"""One registry for every pluggable kind: runtimes, transports, spaces, strategies, accuracy sources
and predictor kinds.

A kind is one :class:`Registry`; an entry is a name and either the object itself or its
``"module:attribute"`` path, imported on first use (so listing the runtimes imports none of them).
Adding a runtime, a space or a strategy is one file plus one registration::

    from hwlat.registry import RUNTIMES
    RUNTIMES.register("myrt", "mypackage.myrt:MyRuntime")

Another package can do the same without editing hwlat: name a function in its packaging metadata
under the entry-point group ``hwlat.plugins``; hwlat calls it, once, the first time any registry
is read::

    [project.entry-points."hwlat.plugins"]
    myrt = "mypackage.plugin:register"      # def register() -> None: RUNTIMES.register(...)

An unknown name is an :class:`~hwlat.errors.InputError` that lists the known ones and the closest.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from hwlat.errors import InputError

__all__ = ["Registry", "RUNTIMES", "TRANSPORTS", "SPACES", "STRATEGIES", "ACCURACY", "PREDICTORS", "PLUGIN_GROUP",
           "load_plugins", "accuracy_syntax"]

log = logging.getLogger(__name__)

#: the entry-point group through which other packages register their plugins
PLUGIN_GROUP = "hwlat.plugins"

T = TypeVar("T")

_plugins_loaded = False
_plugins_lock = threading.Lock()


def load_plugins() -> None:
    """Call every ``hwlat.plugins`` entry point once (a broken plugin is logged, not fatal)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    with _plugins_lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=PLUGIN_GROUP):
            try:
                hook = ep.load()
                if callable(hook):
                    hook()
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not break hwlat
                log.warning("the hwlat plugin %r (%s) failed to load: %s", ep.name, ep.value, exc)


class Registry(Generic[T]):
    """Named entries of one pluggable kind (see the module docstring).

    ``meta`` given at registration (e.g. a runtime's providers) is readable without importing
    the entry: :meth:`meta`.
    """

    def __init__(self, kind: str, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._entries: dict[str, Any] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, obj: T | str, *, replace: bool = False, **meta: Any) -> None:
        """Register ``obj`` (or its ``"module:attribute"`` path) as ``name``."""
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._entries and not replace:
            raise InputError(f"a {self.kind} named {name!r} is registered already; pass replace=True to replace it")
        if isinstance(obj, str) and ":" not in obj:
            raise InputError(f"register a {self.kind} as an object or as 'module:attribute', got {obj!r}")
        self._entries[name] = obj
        self._meta[name] = dict(meta)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)
        self._meta.pop(name, None)

    def names(self) -> list[str]:
        load_plugins()
        return list(self._entries)

    def primary_names(self) -> list[str]:
        """The names, without those registered as another name of an entry (meta ``alias_of``)."""
        return [n for n in self.names() if not self._meta[n].get("alias_of")]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def meta(self, name: str) -> dict[str, Any]:
        self._check(name)
        return dict(self._meta[name])

    def _check(self, name: str) -> None:
        if name not in self.names():
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(self._entries) or "none"
            raise InputError(f"unknown {self.kind} {name!r}{hint}; known {self.plural}: {known}")

    def get(self, name: str) -> T:
        """The entry registered as ``name`` (imported now if it was registered by path)."""
        self._check(name)
        obj = self._entries[name]
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            try:
                obj = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise InputError(f"the {self.kind} {name!r} is registered as {self._entries[name]!r}, which cannot "
                                 f"be imported: {exc}") from exc
            self._entries[name] = obj
        return obj

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"


#: runtime name -> a :class:`hwlat.profiler.runtimes.Runtime` class
RUNTIMES: Registry[Any] = Registry("runtime")
#: location kind ("local", "subprocess", "ssh", "adb"; a plugin's ``SCHEME`` of ``SCHEME://...``) -> a function
#: ``DeviceSpec -> Runtime`` that opens the device's runtime there
TRANSPORTS: Registry[Any] = Registry("transport")
#: space name -> a :class:`hwlat.spaces.SearchSpace` class
SPACES: Registry[Any] = Registry("search space", "search spaces")
#: strategy name -> a :class:`hwlat.search.strategies.Strategy` class (meta ``alias_of``: another name of one)
STRATEGIES: Registry[Any] = Registry("strategy", "strategies")
#: accuracy-source prefix ("nb201-csv", "proxy"...) -> a factory ``(rest, space, **kw) -> AccuracySource``
#: (meta ``syntax``: the line help texts show)
ACCURACY: Registry[Any] = Registry("accuracy source")
#: predictor kind (in saved files) -> a predictor class with ``from_state(header, arrays, table)``
PREDICTORS: Registry[Any] = Registry("predictor kind")


def accuracy_syntax() -> tuple[str, ...]:
    """One line per accepted accuracy specification (for help texts): the registered prefixes, then
    user callables. Here, not in :mod:`hwlat.search.accuracy` (which re-exports it), so that the CLI
    builds its help without importing hwlat.search (numpy, pandas)."""
    lines = [str(ACCURACY.meta(n).get("syntax") or f"{n}:...") for n in ACCURACY.names()]
    return (*lines, "module:function or path/to/file.py:function")

# the built-in entries; each is imported only when asked for. A runtime's meta repeats what its
# class declares (``providers``, the first the default; ``model_format``), so that a DeviceSpec is
# checked without importing any backend; a plugin may leave it out (the class is read instead).
RUNTIMES.register("onnxruntime", "hwlat.profiler.runtimes.ort:OnnxRuntime", providers=("cpu", "cuda"),
                  model_format="onnx")
RUNTIMES.register("litert", "hwlat.profiler.runtimes.litert:LiteRTRuntime", providers=("xnnpack", "none"),
                  model_format="tflite")
RUNTIMES.register("torch", "hwlat.profiler.runtimes.torch_rt:TorchRuntime", providers=("cpu", "cuda"),
                  model_format="torch")
TRANSPORTS.register("local", "hwlat.profiler.transports:local_runtime")
TRANSPORTS.register("subprocess", "hwlat.profiler.remote:agent_runtime")
TRANSPORTS.register("ssh", "hwlat.profiler.remote:agent_runtime")
TRANSPORTS.register("adb", "hwlat.profiler.adb:make_adb_runtime")
SPACES.register("nb201", "hwlat.spaces.nb201:NB201Space")
SPACES.register("ofa-mbv3", "hwlat.spaces.ofa_mbv3:OFAMobileNetV3Space")
SPACES.register("proxyless", "hwlat.spaces.proxyless:ProxylessSpace")
STRATEGIES.register("random", "hwlat.search.strategies.random_search:RandomSearch")
STRATEGIES.register("evolution", "hwlat.search.strategies.evolution:AgingEvolution")
STRATEGIES.register("aging-evolution", "hwlat.search.strategies.evolution:AgingEvolution", alias_of="evolution")
STRATEGIES.register("rea", "hwlat.search.strategies.evolution:AgingEvolution", alias_of="evolution")
STRATEGIES.register("nsga2", "hwlat.search.strategies.nsga2:NSGA2")
STRATEGIES.register("nsga-ii", "hwlat.search.strategies.nsga2:NSGA2", alias_of="nsga2")
STRATEGIES.register("budgets", "hwlat.search.strategies.budgets:BudgetEvolution")
STRATEGIES.register("gradient", "hwlat.search.strategies.gradient:GradientSearch")
ACCURACY.register("nb201-csv", "hwlat.search.accuracy.nb201:from_text",
                  syntax="nb201-csv:PATH[:cifar10|cifar100|imagenet16-120]")
ACCURACY.register("ofa-predictor", "hwlat.search.accuracy.ofa:from_text", syntax="ofa-predictor:PATH")
ACCURACY.register("proxy", "hwlat.search.proxies:from_text", syntax="proxy:NAME (e.g. proxy:naswot, proxy:synflow)")
PREDICTORS.register("lookup", "hwlat.predictors.lookup:LookupPredictor")
PREDICTORS.register("fewshot", "hwlat.predictors.fewshot:FewShotAdapter")
PREDICTORS.register("device-prior", "hwlat.predictors.device_prior:DevicePrior")
PREDICTORS.register("kernel", "hwlat.predictors.kernels:KernelRegressor")
PREDICTORS.register("graph", "hwlat.predictors.graph:GraphPredictor")
