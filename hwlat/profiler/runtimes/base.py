"""The interface every runtime backend implements, and the shared timing loop.

A :class:`Runtime` turns a primitive graph (or a model file) into a :class:`Prepared` model with
fixed random inputs; ``Prepared.time_calls(n)`` runs it ``n`` times and returns each call's wall
time in seconds, measured the way that backend needs (device synchronised before reading the
clock). Everything statistical (warm-up, rounds, noise) lives in :mod:`hwlat.profiler.timer`.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hwlat.errors import InputError, UnsupportedOpError
from hwlat.ops.ir import Graph

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Self

    from hwlat.devices import DeviceSpec
    from hwlat.profiler.model import ModelProfile
    from hwlat.profiler.protocol import Protocol

__all__ = ["Runtime", "Prepared", "check_inputs_fit"]


class Prepared(ABC):
    """A model loaded in a runtime, with its inputs bound; ready to be timed."""

    #: channels-first inputs with batch 1 (the runtime converts layouts itself)
    inputs: list[np.ndarray]

    @abstractmethod
    def run(self) -> None:
        """One synchronous inference call (for GPUs: returns after the device finished)."""

    @abstractmethod
    def outputs(self) -> list[np.ndarray]:
        """Run once and return the outputs, channels-first (NCHW) with batch 1, as numpy."""

    def time_calls(self, n: int) -> np.ndarray:
        """Run ``n`` calls; return each one's wall time in seconds (float64 array of length n)."""
        out = np.empty(n, dtype=np.float64)
        run = self.run
        clock = time.perf_counter_ns
        for i in range(n):
            t0 = clock()
            run()
            out[i] = clock() - t0
        return out * 1e-9

    def time_samples(self, n: int, number: int = 1) -> np.ndarray:
        """``n`` samples, each the mean wall time (seconds) of ``number`` back-to-back calls.

        Averaging inside a sample takes the clock's granularity and per-call jitter out of
        microsecond ops; the median across samples stays robust to bursts of noise.
        """
        if number <= 1:
            return self.time_calls(n)
        out = np.empty(n, dtype=np.float64)
        run = self.run
        clock = time.perf_counter_ns
        for i in range(n):
            t0 = clock()
            for _ in range(number):
                run()
            out[i] = clock() - t0
        return out * (1e-9 / number)

    def close(self) -> None:
        """Release the session; the default does nothing."""

    def __enter__(self) -> Prepared:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Runtime(ABC):
    """A backend that can run models: ONNX Runtime, LiteRT, PyTorch (or one a plugin registers).

    A runtime owns everything about its backend: the providers it accepts, the model format it
    runs and how a graph becomes a model of that format (:meth:`emit`), loading model files
    (:meth:`prepare_file`), whether it can run here (:meth:`is_available`, :meth:`cuda_available`),
    a whole model's per-node breakdown (:meth:`profile_model`) and the resources it holds
    (:meth:`close`; a runtime is also a context manager). The rest of hwlat asks the runtime
    instead of keeping lists of runtimes.

    Constructor arguments are keyword-only and validated eagerly. ``provider`` is ``"cpu"`` or
    ``"cuda"`` (ONNX Runtime execution provider / torch device); for LiteRT it names the
    delegate (``"xnnpack"`` or ``"none"``).

    A new runtime subclasses this, implements :meth:`prepare` (and :meth:`emit` /
    :meth:`prepare_file` if it runs model files), registers itself with
    ``hwlat.registry.RUNTIMES.register(name, "module:Class", providers=...)`` and runs the
    conformance suite :class:`hwlat.testing.runtime.RuntimeContract` in its tests.
    """

    #: the name used in device specs: "onnxruntime", "litert", "torch"
    name: ClassVar[str]
    #: the model format it runs: "onnx", "tflite" or "torch"
    model_format: ClassVar[str]
    #: the providers it accepts; the first one is the default
    providers: ClassVar[tuple[str, ...]]
    #: True when :meth:`prepare_file` loads files of ``model_format`` (``.onnx``, ``.tflite``):
    #: then an hwlat agent can serve the runtime on another machine
    model_files: ClassVar[bool] = False
    #: the pip distribution that provides the backend (named in "install it" messages)
    distribution: ClassVar[str] = ""
    #: how to install it when it is missing (default: ``pip install <distribution>``)
    install: ClassVar[str] = ""
    #: the device this runtime was opened for (set by :func:`hwlat.profiler.transports.runtime_for_device`)
    spec: DeviceSpec | None = None

    def __init__(self, *, threads: int = 1, provider: str = "cpu", precision: str = "fp32",
                 options: dict[str, Any] | None = None) -> None:
        if not isinstance(threads, int) or threads < 0:
            raise InputError(f"threads must be a non-negative integer (0 = runtime default), got {threads!r}")
        if provider not in self.providers:
            raise InputError(
                f"runtime {self.name!r} has no provider {provider!r}; choose one of {', '.join(self.providers)}"
            )
        if precision != "fp32":
            raise InputError(f"precision {precision!r} is not supported yet by {self.name}; use fp32")
        self.threads = threads
        self.provider = provider
        self.precision = precision
        self.options = dict(options or {})

    # -- what the backend can do here ----------------------------------------------------------
    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """True if the runtime (and the provider's hardware, for GPUs) can be used here."""

    @classmethod
    def cuda_available(cls) -> bool:
        """True if the runtime's ``cuda`` provider can run here (the default: it has none)."""
        return False

    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """The backend library's version string."""

    # -- models ------------------------------------------------------------------------------------
    @classmethod
    def emit(cls, graph: Graph) -> bytes:
        """``graph`` as the bytes of a model file of :attr:`model_format` (what :meth:`prepare_file`
        loads; an agent gets these). Runtimes that do not run model files raise."""
        raise UnsupportedOpError(f"runtime {cls.name!r} does not run model files: it cannot emit a graph as one")

    @abstractmethod
    def prepare(self, graph: Graph, *, seed: int = 0) -> Prepared:
        """Build the model for ``graph`` and bind random inputs from ``seed``.

        Raises :class:`~hwlat.errors.UnsupportedOpError` naming the op it cannot run.
        """

    def prepare_file(self, path: str | Path, *, seed: int = 0,
                     inputs: Sequence[np.ndarray] | None = None) -> Prepared:
        """Load a model file of this runtime's format (``.onnx`` / ``.tflite``).

        Without ``inputs`` the file's inputs are random (from ``seed``); with ``inputs``
        (channels-first, as :meth:`Graph.random_inputs` makes them) those are bound, as
        :meth:`prepare` would for the graph :meth:`emit` wrote the file from.
        """
        raise UnsupportedOpError(f"runtime {self.name!r} cannot load model files")

    def layout_ms(self, graph: Graph, *, runs: int = 20, seed: int = 0) -> tuple[float, float, float | None] | None:
        """What the op of ``graph`` pays alone for the runtime's own data layout: the time of the
        layout conversions (ms) the runtime adds before and after it, which it does not pay inside
        a network whose neighbours already use that layout, and the time of the op's own nodes
        as the runtime's profiler times them inside a network (or None). ``None``: this runtime
        cannot tell."""
        return None

    def profile_model(self, path: str | os.PathLike[str], *, protocol: Protocol | None = None, trace_runs: int = 50,
                      warmup_runs: int = 10, device: str = "") -> ModelProfile:
        """A model file's end-to-end latency and per-node breakdown on this runtime (``device``
        names the device in the result). The default: this runtime has no breakdown."""
        raise UnsupportedOpError(
            f"runtime {self.name!r} gives no per-node breakdown of a model; profile it on an onnxruntime device "
            "(e.g. --device cpu-ort) or on an adb device")

    # -- provenance and lifetime --------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What to record as provenance: runtime, version, provider, threads, precision, options."""
        return {
            "runtime": self.name,
            "runtime_version": self.version(),
            "provider": self.provider,
            "threads": self.threads,
            "precision": self.precision,
            "options": dict(self.options),
        }

    def close(self) -> None:
        """Release what the runtime holds (an agent process, a phone's session); the default holds
        nothing. Closing twice is harmless."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, threads={self.threads})"


def check_inputs_fit(got: Sequence[np.ndarray], want: Sequence[Sequence[int]]) -> None:
    """Raise :class:`InputError` unless the arrays ``got`` have the shapes ``want`` (-1: any size)."""
    shapes = [tuple(x.shape) for x in got]
    wanted = [tuple(w) for w in want]
    if len(shapes) != len(wanted) or any(len(g) != len(w) or any(b not in (-1, a) for a, b in zip(g, w))
                                         for g, w in zip(shapes, wanted)):
        raise InputError(f"the inputs sent ({shapes}) do not fit the model's inputs ({wanted})")
