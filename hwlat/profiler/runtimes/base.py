"""The interface every runtime backend implements, and the shared timing loop.

A :class:`Runtime` turns a primitive graph (or a model file) into a :class:`Prepared` model with
fixed random inputs; ``Prepared.time_calls(n)`` runs it ``n`` times and returns each call's wall
time in seconds, measured the way that backend needs (device synchronised before reading the
clock). Everything statistical (warm-up, rounds, noise) lives in :mod:`hwlat.profiler.timer`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hwlat.ops.ir import Graph

__all__ = ["Runtime", "Prepared"]


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
    """A backend that can run models: ONNX Runtime, LiteRT, PyTorch.

    Constructor arguments are keyword-only and validated eagerly. ``provider`` is ``"cpu"`` or
    ``"cuda"`` (ONNX Runtime execution provider / torch device); for LiteRT it names the
    delegate (``"xnnpack"`` or ``"none"``).
    """

    #: the name used in device specs: "onnxruntime", "litert", "torch"
    name: ClassVar[str]
    #: the model format it runs: "onnx", "tflite" or "torch"
    model_format: ClassVar[str]
    #: the providers it accepts
    providers: ClassVar[tuple[str, ...]]

    def __init__(self, *, threads: int = 1, provider: str = "cpu", precision: str = "fp32",
                 options: dict[str, Any] | None = None) -> None:
        from hwlat.errors import InputError

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

    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """True if the runtime (and the provider's hardware, for GPUs) can be used here."""

    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """The backend library's version string."""

    @abstractmethod
    def prepare(self, graph: Graph, *, seed: int = 0) -> Prepared:
        """Build the model for ``graph`` and bind random inputs from ``seed``.

        Raises :class:`~hwlat.errors.UnsupportedOpError` naming the op it cannot run.
        """

    def prepare_file(self, path: str | Path, *, seed: int = 0) -> Prepared:
        """Load a model file of this runtime's format (``.onnx`` / ``.tflite``) with random inputs."""
        from hwlat.errors import UnsupportedOpError

        raise UnsupportedOpError(f"runtime {self.name!r} cannot load model files")

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, threads={self.threads})"
