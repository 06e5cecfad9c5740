"""LiteRT on an Android phone as a :class:`~hwlat.profiler.runtimes.Runtime`: the transport of
``adb://SERIAL`` devices (see :mod:`hwlat.profiler.adb` for what a time is)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hwlat.devices import DeviceSpec
from hwlat.errors import DeviceError, InputError
from hwlat.ops.ir import Graph
from hwlat.profiler.adb.device import DEFAULT_REMOTE_DIR, AdbDevice
from hwlat.profiler.adb.parser import BenchmarkResult, benchmark_flags
from hwlat.profiler.runtimes.base import Prepared, Runtime

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from hwlat.profiler.model import ModelProfile
    from hwlat.profiler.protocol import Protocol

__all__ = ["AdbLiteRTRuntime", "make_adb_runtime", "ADB_OPTIONS"]

log = logging.getLogger(__name__)

#: device options an adb device understands, with their meaning
ADB_OPTIONS: Mapping[str, str] = {
    "benchmark_model": "path of the benchmark_model binary for the phone (required)",
    "adb": "path of the adb executable (default: adb on PATH)",
    "remote_dir": f"folder on the phone for the binary and the models (default {DEFAULT_REMOTE_DIR})",
    "warmup_runs": "benchmark_model --warmup_runs of every invocation (default 5)",
    "warmup_min_secs": "benchmark_model --warmup_min_secs of every invocation (default 0)",
    "taskset": "CPU affinity mask for taskset, e.g. f0 for the big cores (default: none)",
    "extra_flags": "more benchmark_model flags, a list of '--name=value' strings",
    "timeout_s": "limit in seconds for one adb command (default 600)",
}


class _AdbPrepared(Prepared):
    """A model on the phone; every sample is one benchmark_model invocation (see the module doc)."""

    def __init__(self, runtime: AdbLiteRTRuntime, remote: str, label: str) -> None:
        self.runtime = runtime
        self.remote = remote
        self.label = label
        self.inputs: list[np.ndarray] = []  # drawn on the phone by benchmark_model
        #: the parsed logs of the last time_samples / time_calls call
        self.last_results: list[BenchmarkResult] = []
        self._closed = False

    def run(self) -> None:
        raise DeviceError("a model on an adb device runs only inside benchmark_model, which reports timings: a "
                          "single call cannot be made; use time_samples() / time_calls()")

    def outputs(self) -> list[np.ndarray]:
        raise DeviceError("benchmark_model on an adb device does not return model outputs; check outputs on a "
                          "local runtime (e.g. device cpu-litert)")

    def time_calls(self, n: int) -> np.ndarray:
        """``n`` invocations with one timed run each; each value is that run's time (s)."""
        return self.time_samples(n, 1)

    def time_samples(self, n: int, number: int = 1) -> np.ndarray:
        """``n`` invocations of benchmark_model with ``--num_runs=number``; each value is the
        invocation's ``Inference (avg)`` in seconds (the mean of its ``number`` timed runs)."""
        if self._closed:
            raise InputError("this adb model was closed; prepare it again before timing it")
        if n < 1:
            return np.empty(0, dtype=np.float64)
        number = max(1, int(number))
        flags = self.runtime.flags(self.remote, num_runs=number)
        results = self.runtime.device.run_benchmark(flags, repeat=n)
        for r in results:
            if r.runs is not None and r.runs.count != number:
                log.warning("benchmark_model made %d timed runs instead of %d for %s", r.runs.count, number,
                            self.label)
        self.last_results = results
        return np.array([r.inference_avg_us for r in results], dtype=np.float64) * 1e-6

    def close(self) -> None:
        self._closed = True


class AdbLiteRTRuntime(Runtime):
    """LiteRT on an Android phone, through ``adb`` and the official ``benchmark_model``.

    Providers as for the local LiteRT runtime: ``"xnnpack"`` (``--use_xnnpack=true``) and
    ``"none"`` (the builtin kernels, ``--use_xnnpack=false``). ``precision="fp16"`` asks XNNPACK for
    float16 inference (``--xnnpack_force_fp16=true``). ``warmup_runs`` / ``warmup_min_secs`` are the
    tool's own warm-up inside every invocation.
    """

    name: ClassVar[str] = "litert"
    model_format: ClassVar[str] = "tflite"
    providers: ClassVar[tuple[str, ...]] = ("xnnpack", "none")
    model_files: ClassVar[bool] = True

    def __init__(self, device: AdbDevice, *, threads: int = 1, provider: str = "xnnpack", precision: str = "fp32",
                 options: dict[str, Any] | None = None, warmup_runs: int = 5, warmup_min_secs: float = 0.0,
                 extra_flags: Sequence[str] = ()) -> None:
        if precision not in ("fp32", "fp16"):
            raise InputError(f"precision {precision!r} is not supported on adb devices; use fp32 or fp16")
        if precision == "fp16" and provider != "xnnpack":
            raise InputError("fp16 on an adb device needs the xnnpack provider (--xnnpack_force_fp16)")
        super().__init__(threads=threads, provider=provider, precision="fp32", options=options)
        self.precision = precision
        if not isinstance(device, AdbDevice):
            raise InputError(f"AdbLiteRTRuntime needs an AdbDevice, got {type(device).__name__}")
        self.device = device
        self.warmup_runs = warmup_runs
        self.warmup_min_secs = warmup_min_secs
        self.extra_flags = list(extra_flags)
        self.flags(f"{device.remote_dir}/check.tflite", num_runs=1)  # validates the settings eagerly

    @classmethod
    def is_available(cls) -> bool:
        """True: :func:`make_adb_runtime` checks adb, the binary and the phone when it makes one."""
        return True

    @classmethod
    def version(cls) -> str:
        return "benchmark_model (adb)"

    def flags(self, remote_model: str, *, num_runs: int, op_profiling: bool = False,
              warmup_runs: int | None = None) -> list[str]:
        """benchmark_model flags for ``remote_model`` with this runtime's settings."""
        return benchmark_flags(remote_model, threads=self.threads, use_xnnpack=self.provider == "xnnpack",
                               warmup_runs=self.warmup_runs if warmup_runs is None else warmup_runs,
                               warmup_min_secs=self.warmup_min_secs, num_runs=num_runs, min_secs=0.0,
                               op_profiling=op_profiling, fp16=self.precision == "fp16", extra=self.extra_flags)

    def info(self) -> dict[str, Any]:
        d = super().info()
        d["precision"] = self.precision
        d["adb_serial"] = self.device.serial
        d["benchmark_binary"] = str(self.device.benchmark_binary)
        d["benchmark_binary_sha256"] = self.device.binary_sha256()
        d["warmup_runs_per_invocation"] = self.warmup_runs
        try:
            d["android"] = self.device.properties()
        except DeviceError as exc:  # provenance only: the measurement itself will say what is wrong
            log.debug("could not read the phone's properties: %s", exc)
        return d

    @classmethod
    def emit(cls, graph: Graph) -> bytes:
        from hwlat.ops.tflite_emit import graph_to_tflite

        return graph_to_tflite(graph)

    def prepare(self, graph: Graph, *, seed: int = 0) -> Prepared:
        """Emit ``graph`` as a ``.tflite`` and push it (``seed`` is unused: benchmark_model draws
        its own random inputs)."""
        remote = self.device.push_model(self.emit(graph))
        return _AdbPrepared(self, remote, graph.name)

    def prepare_file(self, path: str | Path, *, seed: int = 0,
                     inputs: Sequence[np.ndarray] | None = None) -> Prepared:
        """Push a ``.tflite`` file (``seed`` and ``inputs`` are unused: benchmark_model draws its
        own random inputs)."""
        return _AdbPrepared(self, self.device.push_model(_tflite_file(path)), Path(path).name)

    def profile_model(self, path: str | os.PathLike[str], *, protocol: Protocol | None = None, trace_runs: int = 50,
                      warmup_runs: int = 10, device: str = "", samples: int = 5) -> ModelProfile:
        """Profile a ``.tflite`` file on the phone.

        The latency comes from ``samples`` invocations without op profiling (it adds per-op
        overhead), each the mean of ``trace_runs`` timed runs after ``warmup_runs`` warm-up runs;
        the breakdown from one more invocation with ``--enable_op_profiling=true`` and as many runs
        (``protocol`` is unused: benchmark_model times the runs itself). The nodes' ``latency_ms``
        is benchmark_model's per-node mean.
        """
        from hwlat.profiler.measurement import Measurement
        from hwlat.profiler.model import ModelProfile

        p = _tflite_file(path)
        for name, v, lo in (("samples", samples, 1), ("trace_runs", trace_runs, 1), ("warmup_runs", warmup_runs, 0)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
        remote = self.device.push_model(p)
        flags = self.flags(remote, num_runs=trace_runs, warmup_runs=warmup_runs)
        timed = self.device.run_benchmark(flags, repeat=samples)
        latency = Measurement(p.name, [np.array([r.inference_avg_us for r in timed]) * 1e-6], threads=self.threads,
                              warmup_runs=warmup_runs, number=trace_runs)
        prof = self.device.run_benchmark(self.flags(remote, num_runs=trace_runs, warmup_runs=warmup_runs,
                                                    op_profiling=True), require_op_profile=True)[0]
        details = {"runs_per_sample": trace_runs, "profiled_inference_ms": prof.inference_ms,
                   "init_ms": None if prof.init_us is None else prof.init_us / 1e3, "memory_mb": dict(prof.memory_mb)}
        return ModelProfile(p, device or self.name, latency, _nodes(prof, trace_runs), trace_runs, warmup_runs,
                            details)

    def __repr__(self) -> str:
        return f"AdbLiteRTRuntime({self.device.serial!r}, provider={self.provider!r}, threads={self.threads})"


def _int_option(options: Mapping[str, Any], key: str, default: int) -> int:
    v = options.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise InputError(f"device option {key} must be a non-negative integer, got {v!r}")
    return v


def make_adb_runtime(dev: DeviceSpec) -> AdbLiteRTRuntime:
    """The runtime for a device at ``adb://SERIAL``: checks adb, the benchmark binary and the
    phone's connection, and pushes the binary. See the module doc for the device options."""
    if not isinstance(dev, DeviceSpec):
        raise InputError(f"make_adb_runtime takes a DeviceSpec, got {type(dev).__name__}")
    serial = dev.adb_serial
    if serial is None:
        raise InputError(f"device {dev.name!r} is at {dev.location}, not at adb://SERIAL")
    if dev.runtime != "litert":
        raise InputError(f"device {dev.name!r}: adb devices are measured with LiteRT's benchmark_model; "
                         f"set runtime: litert (not {dev.runtime})")
    opts = dict(dev.options)
    unknown = sorted(set(opts) - set(ADB_OPTIONS))
    if unknown:
        known = "; ".join(f"{k}: {v}" for k, v in ADB_OPTIONS.items())
        raise InputError(f"device {dev.name!r}: unknown option(s) {', '.join(unknown)} for an adb device; "
                         f"known options are {known}")
    extra = opts.get("extra_flags", [])
    if isinstance(extra, str) or not isinstance(extra, (list, tuple)):
        raise InputError(f"device {dev.name!r}: option extra_flags must be a list of '--name=value' strings")
    warmup_min_secs = opts.get("warmup_min_secs", 0.0)
    device = AdbDevice(serial, adb=opts.get("adb"), benchmark_binary=opts.get("benchmark_model"),
                       remote_dir=opts.get("remote_dir", DEFAULT_REMOTE_DIR),
                       timeout_s=opts.get("timeout_s", 600.0), taskset=opts.get("taskset"))
    rt = AdbLiteRTRuntime(device, threads=dev.threads, provider=dev.provider, precision=dev.precision,
                          options=opts, warmup_runs=_int_option(opts, "warmup_runs", 5),
                          warmup_min_secs=warmup_min_secs, extra_flags=extra)
    device.setup()
    return rt


def _tflite_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if p.suffix != ".tflite":
        raise InputError(f"an adb device runs .tflite models with benchmark_model; {p} is not one")
    if not p.is_file():
        raise InputError(f"model file {p} does not exist; give the path of a .tflite file")
    return p


def _nodes(prof: BenchmarkResult, runs: int) -> pd.DataFrame:
    """benchmark_model's run order as :attr:`ModelProfile.nodes`: the common columns (its per-node
    mean as ``latency_ms``; it reports no medians), then its own."""
    import pandas as pd

    from hwlat.profiler.model import NODE_COLUMNS

    ops = prof.ops
    if ops is None:  # pragma: no cover - run_benchmark(require_op_profile=True) checked it
        raise DeviceError("benchmark_model printed no op profile")
    df = pd.DataFrame({
        "node": ops["name"], "op_type": ops["node_type"],
        "provider": ["delegate" if d else "builtin" for d in ops["delegated"]],
        "latency_ms": ops["avg_ms"], "median_ms": np.nan, "p90_ms": np.nan, "runs": runs,
    })
    total = df["latency_ms"].sum()
    df["share_pct"] = 100 * df["latency_ms"] / total if total > 0 else 0.0
    own = ["node_index", "first_ms", "times_called", "delegated", "subgraph"]
    df = pd.concat([df[NODE_COLUMNS], ops[own]], axis=1)
    return df.sort_values("latency_ms", ascending=False, ignore_index=True)
