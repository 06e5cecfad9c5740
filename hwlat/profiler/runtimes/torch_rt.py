"""PyTorch backend: eager or traced (TorchScript) modules on the CPU or a CUDA GPU.

Options:

``mode``
    ``"eager"`` (default): the module emitted by :func:`hwlat.ops.torch_emit.graph_to_torch`,
    run as Python code, as most PyTorch deployments do. ``"jit"``: that module traced with
    ``torch.jit.trace``, then frozen and optimised with ``torch.jit.optimize_for_inference``
    (weights folded in as constants, conv+BN/activation fusion, oneDNN layouts on CPU). The
    profiling executor recompiles a traced module during its first calls; ``prepare`` runs
    those calls, and the timer's warm-up does the rest.

Threads: ``torch.set_num_threads`` is process-global. A prepared model sets it to ``threads``
(when > 0) whenever it runs; when the last open prepared model is closed, the value found before
the first one was prepared is restored. ``threads=0`` leaves torch's setting alone.

CUDA: inputs live on the GPU and outputs stay there while timing; each timed call is bracketed by
a pair of ``torch.cuda.Event(enable_timing=True)`` and the device is synchronised after it, so a
call's time is its synchronous latency (launches included), in seconds.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwlat._optional import import_optional
from hwlat.errors import DeviceError, InputError, UnsupportedOpError
from hwlat.ops.ir import Graph
from hwlat.profiler.runtimes.base import Prepared, Runtime

__all__ = ["TorchRuntime", "MODES"]

logger = logging.getLogger(__name__)

MODES = ("eager", "jit")
_JIT_WARMUP_CALLS = 3  # the profiling executor specialises a traced graph during its first calls


def _torch() -> Any:
    return import_optional("torch", "the torch runtime")


# torch.set_num_threads is process-global: the value found when the first open prepared model
# took the setting is restored when the last one closes (whatever order they close in).
_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 0


def _take_threads(torch: Any) -> None:
    global _threads_users, _threads_saved
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
        _threads_users += 1


def _release_threads(torch: Any) -> None:
    global _threads_users
    with _threads_lock:
        _threads_users -= 1
        if _threads_users == 0 and torch.get_num_threads() != _threads_saved:
            torch.set_num_threads(_threads_saved)


class _provider_aware:  # noqa: N801 - used like @classmethod
    """A classmethod taking ``provider=``; called on an instance, provider defaults to the instance's."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return functools.partial(self.func, owner)
        return functools.partial(self.func, owner, provider=obj.provider)


class _TorchPrepared(Prepared):
    def __init__(self, module: Any, inputs: list[np.ndarray], *, device: str, threads: int) -> None:
        torch = _torch()
        self._torch = torch
        self.module = module
        self.inputs = inputs
        self._cuda = device == "cuda"
        self._threads = threads
        self._args = tuple(torch.from_numpy(x).to(device) for x in inputs)
        self._closed = False
        if threads > 0:
            _take_threads(torch)
        self._ensure_threads()

    # -- threads --------------------------------------------------------------------------------
    def _ensure_threads(self) -> None:
        if self._threads > 0 and self._torch.get_num_threads() != self._threads:
            self._torch.set_num_threads(self._threads)

    # -- calls ----------------------------------------------------------------------------------
    def _forward(self) -> Any:
        return self.module(*self._args)

    def run(self) -> None:
        self._ensure_threads()
        with self._torch.inference_mode():
            self._forward()
        if self._cuda:
            self._torch.cuda.synchronize()

    def outputs(self) -> list[np.ndarray]:
        self._ensure_threads()
        with self._torch.inference_mode():
            out = self._forward()
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o.detach().to("cpu").numpy().copy() for o in outs]

    def time_calls(self, n: int) -> np.ndarray:
        """Run ``n`` calls; each call's time in seconds (CUDA: from events, device synchronised)."""
        torch = self._torch
        self._ensure_threads()
        out = np.empty(n, dtype=np.float64)
        forward = self._forward
        with torch.inference_mode():
            if self._cuda:
                torch.cuda.synchronize()
                pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                         for _ in range(n)]
                for start, end in pairs:
                    start.record()
                    forward()
                    end.record()
                    end.synchronize()
                for i, (start, end) in enumerate(pairs):
                    out[i] = start.elapsed_time(end)  # ms
                return out * 1e-3
            # CPU: the base class's perf_counter loop, with inference mode entered once around it
            clock = time.perf_counter_ns
            for i in range(n):
                t0 = clock()
                forward()
                out[i] = clock() - t0
        return out * 1e-9

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._threads > 0:
            _release_threads(self._torch)
        self._args = ()
        self.module = None
        if self._cuda:
            self._torch.cuda.empty_cache()


class TorchRuntime(Runtime):
    """PyTorch on ``provider="cpu"`` or ``"cuda"``; ``options={"mode": "eager" | "jit"}`` (see module doc)."""

    name = "torch"
    model_format = "torch"
    providers = ("cpu", "cuda")
    distribution = "torch"
    install = "pip install 'hwlat[torch]'"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        mode = self.options.get("mode", "eager")
        if mode not in MODES:
            raise InputError(f"torch runtime option mode must be one of {', '.join(MODES)}, got {mode!r}")
        unknown = sorted(set(self.options) - {"mode"})
        if unknown:
            raise InputError(f"unknown torch runtime option(s) {', '.join(map(repr, unknown))}; "
                             "the only option is 'mode'")
        self.mode: str = mode

    @_provider_aware
    def is_available(cls, provider: str | None = None) -> bool:
        """True if torch is installed (and, for ``provider="cuda"``, sees a CUDA GPU).

        Called on an instance, ``provider`` defaults to the instance's provider; on the class, to cpu.
        """
        if importlib.util.find_spec("torch") is None:
            return False
        if provider == "cuda":
            import torch

            return bool(torch.cuda.is_available())
        return True

    @classmethod
    def cuda_available(cls) -> bool:
        """True if torch is installed and sees a CUDA GPU."""
        return bool(cls.is_available(provider="cuda"))

    @classmethod
    def version(cls) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("torch")
        except PackageNotFoundError:
            return "not installed"

    def info(self) -> dict[str, Any]:
        info = super().info()
        info["options"] = {**info["options"], "mode": self.mode}
        if self.provider == "cuda" and self.is_available():
            import torch

            info["device_name"] = torch.cuda.get_device_name(0)
        return info

    # -- preparing ------------------------------------------------------------------------------
    def _device(self) -> str:
        torch = _torch()
        if self.provider == "cuda" and not torch.cuda.is_available():
            raise DeviceError(
                "torch sees no CUDA GPU here (torch.cuda.is_available() is False); install a CUDA build "
                "of torch on a machine with an NVIDIA GPU, or use provider 'cpu'")
        return self.provider

    def _finish(self, module: Any, inputs: list[np.ndarray], what: str) -> Prepared:
        torch = _torch()
        device = self._device()
        if self.threads > 0:
            _take_threads(torch)
            torch.set_num_threads(self.threads)  # tracing and freezing run with the timed thread count
        try:
            module = module.to(device).eval()
            if self.mode == "jit":
                args = tuple(torch.from_numpy(x).to(device) for x in inputs)
                try:
                    with torch.no_grad():
                        traced = torch.jit.trace(module, args, check_trace=False)
                        module = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
                except Exception as exc:  # tracing fails with many exception types
                    raise UnsupportedOpError(f"torch.jit could not trace {what}: {exc}; "
                                             "use options mode='eager'") from exc
            prepared = _TorchPrepared(module, inputs, device=device, threads=self.threads)
        finally:
            if self.threads > 0:
                _release_threads(torch)
        if self.mode == "jit":
            try:
                for _ in range(_JIT_WARMUP_CALLS):
                    prepared.run()
            except BaseException:
                prepared.close()
                raise
        logger.debug("prepared %s on torch %s (%s, %d thread(s))", what, device, self.mode, self.threads)
        return prepared

    def prepare(self, graph: Graph, *, seed: int = 0) -> Prepared:
        from hwlat.ops.torch_emit import graph_to_torch

        return self._finish(graph_to_torch(graph), graph.random_inputs(seed), f"graph {graph.name!r}")

    def prepare_module(self, module: Any, input_shapes: Sequence[Sequence[int]], *, seed: int = 0) -> Prepared:
        """Time a user's ``torch.nn.Module`` on seeded standard-normal float32 inputs.

        ``input_shapes`` are full tensor shapes, batch dimension included (``[(1, 3, 224, 224)]``);
        the module is called with one tensor per shape. The module is moved to the device and put
        in eval mode in place.
        """
        torch = _torch()
        if not isinstance(module, torch.nn.Module):
            raise InputError(f"prepare_module needs a torch.nn.Module, got {type(module).__name__}")
        shapes = [tuple(int(d) for d in s) for s in input_shapes]
        if not shapes or any(not s or min(s) < 1 for s in shapes):
            raise InputError(f"input_shapes must list one or more shapes of positive sizes, e.g. [(1, 3, 224, 224)]; "
                             f"got {list(input_shapes)!r}")
        rng = np.random.default_rng(seed)
        inputs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        return self._finish(module, inputs, f"module {type(module).__name__}")

    def prepare_file(self, path: str | Path, *, seed: int = 0,
                     inputs: Sequence[np.ndarray] | None = None) -> Prepared:
        raise UnsupportedOpError(
            f"the torch runtime runs graphs built by hwlat and torch modules, not model files ({path}); "
            "use TorchRuntime.prepare_module(module, input_shapes) for your own nn.Module, or the "
            "onnxruntime runtime for an .onnx file")
