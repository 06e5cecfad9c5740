"""Android devices through ``adb`` and LiteRT's official ``benchmark_model`` binary.

A device whose location is ``adb://SERIAL`` is measured by the benchmark tool of LiteRT
(TensorFlow Lite), run on the phone: hwlat pushes the ``.tflite`` models (named by content hash,
each pushed once per session) and the ``benchmark_model`` binary the user downloaded, runs it with
``adb -s SERIAL shell`` and parses its log. ``--enable_op_profiling=true`` adds the per-operator
tables, which :func:`parse_benchmark_output` turns into DataFrames.

The parts: :mod:`~hwlat.profiler.adb.parser` (benchmark_model's flags and log),
:mod:`~hwlat.profiler.adb.device` (one phone through adb) and :mod:`~hwlat.profiler.adb.runtime`
(the :class:`AdbLiteRTRuntime` that the ``adb`` transport opens, :func:`make_adb_runtime`).

A device spec for a phone (a YAML file in a folder given with ``--devices-dir`` or ``$HWLAT_DEVICES``)::

    name: pixel7-litert-4t
    runtime: litert              # adb devices run LiteRT's benchmark_model
    provider: xnnpack            # --use_xnnpack=true; "none" for the builtin kernels
    threads: 4                   # --num_threads (0 = the tool's default)
    location: adb://R58M123ABC   # the serial `adb devices` lists
    description: Pixel 7, big cores
    options:
      benchmark_model: ~/android/android_aarch64_benchmark_model   # required
      adb: /opt/platform-tools/adb      # optional; default: adb on PATH
      remote_dir: /data/local/tmp/hwlat # optional; where models and the binary go
      warmup_runs: 5                    # benchmark_model --warmup_runs per invocation
      taskset: f0                       # optional CPU affinity mask (e.g. the big cores)

What a time is. ``benchmark_model`` reports aggregates only (count, first, min, max, avg and std of
its timed runs, measured on the device with its own clock; no per-run times). The mapping kept
here: **one sample = one invocation of benchmark_model** with ``--num_runs=number --min_secs=0``
after its own warm-up (``--warmup_runs``, ``--warmup_min_secs=0``), and the sample's value is that
invocation's ``Inference (avg)``: the mean time of ``number`` back-to-back ``Invoke()`` calls,
exactly what :meth:`Prepared.time_samples` promises. The ``n`` samples of one call are ``n``
separate processes run in one ``adb shell``, so each sample includes a fresh model load and warm-up
on the device but no adb or process-start time. The numbers are therefore the tool's own (the same
as a user of ``benchmark_model`` would read), and the spread across samples is a real spread
across invocations. A single call (``run()``) or the outputs (``outputs()``) cannot be had this
way: both raise :class:`~hwlat.errors.DeviceError`. Inputs are random, drawn by benchmark_model
itself; ``seed`` does not reach the device.
"""

from __future__ import annotations

from hwlat.profiler.adb.device import DEFAULT_REMOTE_DIR, AdbDevice, parse_adb_devices
from hwlat.profiler.adb.parser import BenchmarkResult, RunStats, benchmark_flags, parse_benchmark_output
from hwlat.profiler.adb.runtime import ADB_OPTIONS, AdbLiteRTRuntime, make_adb_runtime

__all__ = [
    "RunStats",
    "BenchmarkResult",
    "parse_benchmark_output",
    "parse_adb_devices",
    "benchmark_flags",
    "AdbDevice",
    "AdbLiteRTRuntime",
    "make_adb_runtime",
    "DEFAULT_REMOTE_DIR",
    "ADB_OPTIONS",
]
