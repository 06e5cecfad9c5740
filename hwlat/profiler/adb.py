"""Android devices through ``adb`` and LiteRT's official ``benchmark_model`` binary.

A device whose location is ``adb://SERIAL`` is measured by the benchmark tool of LiteRT
(TensorFlow Lite), run on the phone: hwlat pushes the ``.tflite`` models (named by content hash,
each pushed once per session) and the ``benchmark_model`` binary the user downloaded, runs it with
``adb -s SERIAL shell`` and parses its log. ``--enable_op_profiling=true`` adds the per-operator
tables, which :func:`parse_benchmark_output` turns into DataFrames.

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

import hashlib
import logging
import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hwlat.errors import DeviceError, InputError, MissingDependencyError
from hwlat.ops.ir import Graph
from hwlat.profiler.runtimes.base import Prepared, Runtime

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from hwlat.devices import DeviceSpec
    from hwlat.profiler.measurement import Measurement

__all__ = [
    "RunStats",
    "BenchmarkResult",
    "parse_benchmark_output",
    "parse_adb_devices",
    "benchmark_flags",
    "AdbDevice",
    "AdbLiteRTRuntime",
    "AdbModelProfile",
    "make_adb_runtime",
    "profile_model_adb",
    "DEFAULT_REMOTE_DIR",
    "ADB_OPTIONS",
]

log = logging.getLogger(__name__)

DEFAULT_REMOTE_DIR = "/data/local/tmp/hwlat"
PLATFORM_TOOLS_URL = "https://developer.android.com/tools/releases/platform-tools"
BENCHMARK_TOOL_URL = "https://ai.google.dev/edge/litert/models/measurement#native_benchmark_binary"
_GET_ADB = (f"install the Android SDK platform-tools ({PLATFORM_TOOLS_URL}; on Debian/Ubuntu: "
            "apt install adb) and put adb on PATH, or give its path as the device option 'adb'")
_GET_BINARY = ("download the prebuilt 'android_aarch64_benchmark_model' (or android_arm for 32-bit phones) "
               f"from the LiteRT benchmark tools page ({BENCHMARK_TOOL_URL}) and give its path as the "
               "device option 'benchmark_model'")

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

_RUN_MARK = "@@hwlat-run"
_EXIT_MARK = "@@hwlat-exit"


# -- parsing the benchmark_model log ----------------------------------------------------------------

_LOG_PREFIX = re.compile(r"^(?:INFO|WARNING|ERROR|VERBOSE|DEBUG): ?")
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf"
_KV = re.compile(r"(\w+)=(" + _NUM + r")")
_TITLE = re.compile(r"^=+ (?P<title>.+?) =+\s*$")
_SUMMARY = re.compile(r"^(?:Average )?[Ii]nference timings in us: (?P<body>.*)$")
_MEM_DELTA = re.compile(r"^(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
                        r"init=(?P<init>" + _NUM + r") overall=(?P<overall>" + _NUM + r")")
_MEM_PEAK = re.compile(r"^Overall peak memory footprint \(MB\) via periodic monitoring: (?P<peak>" + _NUM + ")")
_MODEL_SIZE = re.compile(r"^The input model file size \(MB\): (?P<mb>" + _NUM + ")")
_INIT_SESSION = re.compile(r"^Initialized session in (?P<ms>" + _NUM + ")ms")
_PARAM = re.compile(r"^(?P<key>[#A-Za-z][^:\[\]]*?): \[(?P<value>.*)\]\s*$")
_SCOPE_SUBGRAPH = re.compile(r"^Subgraph \(index: (?P<i>\d+)\) \w+:\s*$")
_TIMINGS = re.compile(r"^(?:Subgraph \(index: (?P<i>\d+)\) )?Timings \(microseconds\): (?P<stats>.*)$")
_NODES_EXECUTED = re.compile(r"^Number of nodes executed: (?P<n>\d+)")
_NODES_OBSERVED = re.compile(r"^(?P<n>\d+) nodes observed")
_ERROR_HINTS = (
    (re.compile(r"Could not open|Failed to mmap model"),
     ("the model file is not on the phone (was the remote folder removed while hwlat ran?); run again to "
      "push it, and check free space on the phone with `adb shell df /data/local/tmp`")),
    (re.compile(r"Didn't find op|Registration failed|Encountered unresolved custom op"),
     ("this benchmark_model binary is older than the model's ops; use a recent prebuilt "
      f"'android_aarch64_benchmark_model' from {BENCHMARK_TOOL_URL}")),
    (re.compile(r"Permission denied|not executable|inaccessible or not found|Exec format error|"
                r"cannot execute|not found"),
     ("the binary cannot be executed on the phone: check that it is the Android build for this phone's "
      "ABI (adb shell getprop ro.product.cpu.abi)")),
)
_DELEGATE_KERNEL = re.compile(r"TfLite\w*Delegate\w*")  # TfLiteXNNPackDelegate, TfLiteGpuDelegateV2, ...
_FAILURE = re.compile(r"Benchmarking failed|Failed to |Could not open|Didn't find op|Registration failed")

#: header label -> column name in the DataFrames
_COLUMNS = {
    "node type": "node_type", "Node type": "node_type", "start": "start_ms", "first": "first_ms", "avg ms": "avg_ms", "%": "pct",
    "cdf%": "cdf_pct", "mem KB": "mem_kb", "times called": "times_called", "Name": "name",
    "count": "count", "avg %": "pct", "cdf %": "cdf_pct",
}
_OP_COLUMNS = ["node_type", "name", "node_index", "start_ms", "first_ms", "avg_ms", "pct", "cdf_pct", "mem_kb",
               "times_called", "subgraph", "delegated"]
_TYPE_COLUMNS = ["node_type", "count", "avg_ms", "pct", "cdf_pct", "mem_kb", "times_called", "subgraph"]


@dataclass(frozen=True)
class RunStats:
    """One ``count=... first=... curr=... min=... max=... avg=... std=...`` line, in microseconds.

    ``count=N curr=X`` (all values the same) gives first = min = max = avg = X and std 0. Recent
    releases add ``p5``, ``median`` and ``p95``; they are None when absent.
    """

    count: int
    first_us: float
    curr_us: float
    min_us: float
    max_us: float
    avg_us: float
    std_us: float
    p5_us: float | None = None
    median_us: float | None = None
    p95_us: float | None = None

    @property
    def avg_ms(self) -> float:
        return self.avg_us / 1e3

    @classmethod
    def parse(cls, text: str) -> RunStats:
        """Parse the statistics part of a line (``count=...``)."""
        kv = {k: float(v) for k, v in _KV.findall(text)}
        if "count" not in kv or "curr" not in kv and kv["count"] > 0:
            raise DeviceError(f"cannot read run statistics from {text.strip()!r}: it needs count= and curr=")
        n = int(kv["count"])
        curr = kv.get("curr", math.nan)
        first = kv.get("first", curr)
        return cls(count=n, first_us=first, curr_us=curr, min_us=kv.get("min", curr), max_us=kv.get("max", curr),
                   avg_us=kv.get("avg", curr), std_us=kv.get("std", 0.0), p5_us=kv.get("p5"),
                   median_us=kv.get("median"), p95_us=kv.get("p95"))


@dataclass
class BenchmarkResult:
    """What one ``benchmark_model`` invocation reported. Times in microseconds unless named ``_ms``.

    ``ops`` is the "Run Order" table of the regular (timed) runs, one row per node and subgraph:
    ``node_type, name, node_index, start_ms, first_ms, avg_ms, pct, cdf_pct, mem_kb, times_called,
    subgraph, delegated`` (``start_ms`` is NaN for releases without that column; ``node_index`` is the
    number after the name's last ``:`` -- the TFLite node index, or the delegate's own operator index
    for ``Delegate/...`` rows, -1 when absent; ``delegated`` marks delegate kernels such as
    ``TfLiteXNNPackDelegate`` and the delegate's own operators). ``op_types`` is the "Summary by node type"
    table, ``top_ops`` the "Top by Computation Time" table, ``delegate_ops`` the "Delegate internal"
    run order (if the release prints one) and ``init_ops`` the initialization profile. All are None
    without ``--enable_op_profiling=true``.
    """

    inference_avg_us: float
    init_us: float | None = None
    first_inference_us: float | None = None
    warmup_avg_us: float | None = None
    warmup: RunStats | None = None
    runs: RunStats | None = None
    memory_mb: dict[str, float] = field(default_factory=dict)
    model_size_mb: float | None = None
    init_session_ms: float | None = None
    params: dict[str, str] = field(default_factory=dict)
    ops: pd.DataFrame | None = None
    op_types: pd.DataFrame | None = None
    top_ops: pd.DataFrame | None = None
    delegate_ops: pd.DataFrame | None = None
    init_ops: pd.DataFrame | None = None
    profiled_runs: RunStats | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def inference_ms(self) -> float:
        """The mean time of one timed ``Invoke()`` (ms)."""
        return self.inference_avg_us / 1e3

    @property
    def has_op_profile(self) -> bool:
        return self.ops is not None


def _strip(line: str) -> str:
    return _LOG_PREFIX.sub("", line.rstrip("\r\n").strip())


def _num(text: str) -> float:
    return float(text.strip().rstrip("%"))


def _row_regex(cols: list[str]) -> re.Pattern[str]:
    parts = [r"^\s*(?P<c0>\S.*?)"]
    has_name = cols[-1] == "name"
    middle = cols[1:-1] if has_name else cols[1:]
    for i, c in enumerate(middle, 1):
        pct = "%" if c in ("pct", "cdf_pct") else ""
        parts.append(rf"\s+(?P<c{i}>{_NUM}){pct}")
    if has_name:
        parts.append(rf"\s+(?P<c{len(middle) + 1}>\S.*?)\s*$")
    else:
        parts.append(r"\s*$")
    return re.compile("".join(parts))


class _Table:
    def __init__(self, title: str, scope: tuple[str, int], header: str, lineno: int) -> None:
        labels = re.findall(r"\[([^\]]+)\]", header)
        unknown = [x for x in labels if x not in _COLUMNS]
        if not labels or unknown or _COLUMNS[labels[0]] != "node_type":
            raise DeviceError(
                f"line {lineno} of the benchmark_model output should be the header of the {title!r} table "
                f"([node type] [first] [avg ms] ...), got {header.strip()!r}; the output is malformed"
            )
        self.title = title
        self.scope = scope
        self.cols = [_COLUMNS[x] for x in labels]
        self.regex = _row_regex(self.cols)
        self.rows: list[dict[str, Any]] = []

    def add(self, line: str, lineno: int) -> None:
        m = self.regex.match(line)
        if m is None:
            raise DeviceError(
                f"line {lineno} of the benchmark_model output is not a row of the {self.title!r} table "
                f"(columns {', '.join(self.cols)}): {line.strip()!r}; the output is truncated or malformed"
            )
        row: dict[str, Any] = {}
        for i, c in enumerate(self.cols):
            v = m.group(f"c{i}")
            row[c] = v.strip() if c in ("node_type", "name") else _num(v)
        self.rows.append(row)

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        kind, index = self.scope
        if "name" in self.cols:
            out = []
            for r in self.rows:
                m = re.search(r":(\d+)$", r["name"])
                t = r["node_type"]
                out.append({
                    "node_type": t, "name": r["name"], "node_index": int(m.group(1)) if m else -1,
                    "start_ms": r.get("start_ms", math.nan), "first_ms": r["first_ms"], "avg_ms": r["avg_ms"],
                    "pct": r["pct"], "cdf_pct": r["cdf_pct"], "mem_kb": r["mem_kb"],
                    "times_called": int(r["times_called"]), "subgraph": index,
                    "delegated": (kind == "delegate" or _DELEGATE_KERNEL.fullmatch(t) is not None
                                  or r["name"].startswith("Delegate/")),
                })
            return pd.DataFrame(out, columns=_OP_COLUMNS)
        out = [{**{c: r.get(c) for c in _TYPE_COLUMNS if c != "subgraph"}, "subgraph": index} for r in self.rows]
        df = pd.DataFrame(out, columns=_TYPE_COLUMNS)
        return df.astype({"count": int, "times_called": int})


def _parse_profile(lines: list[tuple[int, str]], what: str) -> dict[str, Any]:
    """The tables of one profile section (initialization or regular runs)."""
    tables: list[_Table] = []
    timings: dict[tuple[str, int], RunStats] = {}
    executed: dict[tuple[str, int], int] = {}
    observed: dict[tuple[str, int], int] = {}
    scope: tuple[str, int] = ("graph", 0)
    current: _Table | None = None
    i = 0
    while i < len(lines):
        lineno, raw = lines[i]
        s = _strip(raw)
        i += 1
        if current is not None:
            if s and not s.startswith("=") and not _NODES_EXECUTED.match(s) and not _TIMINGS.match(s):
                current.add(raw, lineno)
                continue
            current = None
        if not s:
            continue
        m = _TITLE.match(s)
        if m:
            if i >= len(lines):
                raise DeviceError(f"the benchmark_model output ends after the title of the {m['title']!r} table "
                                  f"in the {what} profile; it is truncated")
            current = _Table(m["title"], scope, _strip(lines[i][1]), lines[i][0])
            tables.append(current)
            i += 1
            continue
        if s.startswith("Primary graph"):
            scope = ("graph", 0)
        elif (m := _SCOPE_SUBGRAPH.match(s)) is not None:
            scope = ("graph", int(m["i"]))
        elif s.startswith("Delegate internal"):
            scope = ("delegate", 0)
        elif (m := _TIMINGS.match(s)) is not None:
            key = ("graph", int(m["i"])) if m["i"] is not None else scope
            timings[key] = RunStats.parse(m["stats"])
        elif (m := _NODES_EXECUTED.match(s)) is not None:
            executed[scope] = int(m["n"])
        elif (m := _NODES_OBSERVED.match(s)) is not None:
            observed[scope] = int(m["n"])
    by_title: dict[tuple[str, tuple[str, int]], _Table] = {}
    for t in tables:
        by_title.setdefault((t.title, t.scope), t)
    order = [t for (title, _), t in by_title.items() if title == "Run Order"]
    if not order:
        raise DeviceError(f"the {what} profile of the benchmark_model output has no 'Run Order' table; "
                          "the output is truncated or malformed")
    for t in order:
        n = executed.get(t.scope, observed.get(t.scope))
        if n is None:
            raise DeviceError(
                f"the {what} profile of the benchmark_model output ends without its 'Number of nodes executed' / "
                f"'nodes observed' lines ({_scope_name(t.scope)}); the output is truncated"
            )
        if len(t.rows) != n:
            raise DeviceError(
                f"the 'Run Order' table of the {what} profile ({_scope_name(t.scope)}) has {len(t.rows)} rows but "
                f"the tool reports {n} nodes; the output is truncated or malformed"
            )
    return {"tables": by_title, "timings": timings}


def _scope_name(scope: tuple[str, int]) -> str:
    kind, i = scope
    return "delegate internal" if kind == "delegate" else ("primary graph" if i == 0 else f"subgraph {i}")


def _concat(tables: dict[tuple[str, tuple[str, int]], _Table], title: str, kind: str) -> pd.DataFrame | None:
    import pandas as pd

    frames = [t.frame() for (ti, sc), t in tables.items() if ti == title and sc[0] == kind]
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _failure_message(errors: list[str]) -> str:
    text = "; ".join(errors) if errors else "no error message"
    hints = [hint for rx, hint in _ERROR_HINTS if any(rx.search(e) for e in errors)]
    return f"benchmark_model failed: {text}" + (f". Fix: {hints[0]}" if hints else "")


def parse_benchmark_output(text: str, *, require_op_profile: bool = False) -> BenchmarkResult:
    """Parse the log of one ``benchmark_model`` run (stdout and stderr together).

    Understands the formats of TensorFlow Lite 2.x and LiteRT releases: with or without the
    ``INFO:`` log prefix, with or without the ``[start]`` column, tabs or spaces between columns.
    Lines starting with ``"# "`` (comments in recorded logs) are skipped.
    A failed run (``Benchmarking failed.``, ``ERROR:`` lines and no summary) raises
    :class:`DeviceError` quoting the tool's errors; output without the ``Inference timings in us``
    summary, or with a truncated profile table, raises :class:`DeviceError` naming what is missing.
    """
    if not isinstance(text, str):
        raise InputError(f"parse_benchmark_output takes the log as a string, got {type(text).__name__}")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)]
    sections: dict[str, list[tuple[int, str]]] = {"main": [], "init": [], "regular": []}
    where = "main"
    errors: list[str] = []
    for n, line in lines:
        if line.startswith("# "):  # a comment in a recorded log; benchmark_model never prints one
            continue
        s = _strip(line)
        if s.startswith("Profiling Info for Benchmark Initialization"):
            where = "init"
            continue
        if s.startswith("Operator-wise Profiling Info for Regular Benchmark Runs"):
            where = "regular"
            continue
        if _SUMMARY.match(s):  # the old releases print the summary after the tables
            sections["main"].append((n, line))
            continue
        if line.startswith("ERROR:") or _FAILURE.search(s):
            errors.append(s.rstrip("."))
        sections[where].append((n, line))

    summary: dict[str, float] = {}
    stats: list[RunStats] = []
    res_kwargs: dict[str, Any] = {"memory_mb": {}, "params": {}}
    warnings: list[str] = []
    for n, line in sections["main"]:
        s = _strip(line)
        if not s:
            continue
        if (m := _SUMMARY.match(s)) is not None:
            for part in m["body"].split(","):
                if ":" in part:
                    key, _, value = part.partition(":")
                    try:
                        summary[key.strip()] = float(value)
                    except ValueError:
                        raise DeviceError(f"line {n} of the benchmark_model output has a non-numeric timing "
                                          f"{part.strip()!r}: {s!r}") from None
        elif s.startswith("count="):
            stats.append(RunStats.parse(s))
        elif (m := _MEM_DELTA.match(s)) is not None:
            res_kwargs["memory_mb"].update(init=float(m["init"]), overall=float(m["overall"]))
        elif (m := _MEM_PEAK.match(s)) is not None:
            res_kwargs["memory_mb"]["peak"] = float(m["peak"])
        elif (m := _MODEL_SIZE.match(s)) is not None:
            res_kwargs["model_size_mb"] = float(m["mb"])
        elif (m := _INIT_SESSION.match(s)) is not None:
            res_kwargs["init_session_ms"] = float(m["ms"])
        elif (m := _PARAM.match(s)) is not None:
            res_kwargs["params"][m["key"].strip()] = m["value"]
        elif line.startswith("WARNING:"):
            warnings.append(s)

    failed = any("Benchmarking failed" in e for e in errors)
    avg = summary.get("Inference (avg)", summary.get("Inference"))
    if failed or (avg is None and errors):
        raise DeviceError(_failure_message(errors))
    if avg is None:
        last = next((_strip(line) for _, line in reversed(lines) if line.strip()), "")
        raise DeviceError(
            "the benchmark_model output has no 'Inference timings in us' summary line: it is truncated or not "
            f"the log of benchmark_model ({len(lines)} lines; the last one is {last[:120]!r}). "
            "Run the binary by hand on the phone to see what it prints"
        )
    res = BenchmarkResult(
        inference_avg_us=avg, init_us=summary.get("Init"), first_inference_us=summary.get("First inference"),
        warmup_avg_us=summary.get("Warmup (avg)", summary.get("Warmup")),
        warmup=stats[0] if len(stats) >= 2 else None, runs=stats[-1] if stats else None,
        warnings=warnings, **res_kwargs,
    )
    if require_op_profile and not sections["regular"]:
        raise DeviceError(
            "the benchmark_model output has no 'Operator-wise Profiling Info for Regular Benchmark Runs' section; "
            "run benchmark_model with --enable_op_profiling=true"
        )
    if sections["regular"]:
        prof = _parse_profile(sections["regular"], "regular runs")
        tables = prof["tables"]
        res.ops = _concat(tables, "Run Order", "graph")
        res.top_ops = _concat(tables, "Top by Computation Time", "graph")
        res.op_types = _concat(tables, "Summary by node type", "graph")
        res.delegate_ops = _concat(tables, "Run Order", "delegate")
        res.profiled_runs = prof["timings"].get(("graph", 0))
    if sections["init"]:
        res.init_ops = _concat(_parse_profile(sections["init"], "initialization")["tables"], "Run Order", "graph")
    return res


# -- adb ---------------------------------------------------------------------------------------------

def parse_adb_devices(text: str) -> dict[str, str]:
    """``adb devices`` output -> {serial: state} (``device``, ``unauthorized``, ``offline``, ...)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("List of devices", "*")):
            continue  # the header and the "* daemon started successfully" lines
        parts = s.split(None, 1)
        if len(parts) == 2:
            out[parts[0]] = parts[1].split("  ")[0].strip()
    return out


_STATE_FIX = {
    "unauthorized": "unlock the phone and accept the 'Allow USB debugging?' prompt (tick 'Always allow'), "
                    "then try again",
    "offline": "reconnect the cable, or restart the adb server (adb kill-server; adb devices)",
    "no permissions": "give your user access to the USB device (Linux udev rules for Android, then replug); "
                      "see https://developer.android.com/studio/run/device",
    "recovery": "reboot the phone into Android (adb reboot)",
    "bootloader": "reboot the phone into Android",
    "sideload": "reboot the phone into Android (adb reboot)",
}


def benchmark_flags(graph: str, *, threads: int = 1, use_xnnpack: bool = True, warmup_runs: int = 1,
                    num_runs: int = 50, min_secs: float | None = 0.0, max_secs: float | None = None,
                    warmup_min_secs: float | None = 0.0, op_profiling: bool = False, fp16: bool = False,
                    verbose: bool = False, extra: Sequence[str] = ()) -> list[str]:
    """The ``benchmark_model`` command-line flags for one invocation.

    ``threads=0`` leaves the thread count to the tool; ``min_secs=0`` and ``warmup_min_secs=0``
    make ``num_runs`` and ``warmup_runs`` exact counts instead of minima (the tool's defaults are
    1 s and 0.5 s); ``None`` keeps the tool's default.
    """
    if not isinstance(threads, int) or threads < 0:
        raise InputError(f"threads must be a non-negative integer, got {threads!r}")
    for name, v in (("warmup_runs", warmup_runs), ("num_runs", num_runs)):
        if not isinstance(v, int) or isinstance(v, bool) or v < (0 if name == "warmup_runs" else 1):
            raise InputError(f"{name} must be an integer >= {0 if name == 'warmup_runs' else 1}, got {v!r}")
    flags = [f"--graph={graph}"]
    if threads:
        flags.append(f"--num_threads={threads}")
    flags.append(f"--use_xnnpack={'true' if use_xnnpack else 'false'}")
    if fp16:
        flags.append("--xnnpack_force_fp16=true")
    flags += [f"--warmup_runs={warmup_runs}", f"--num_runs={num_runs}"]
    for name, v in (("warmup_min_secs", warmup_min_secs), ("min_secs", min_secs), ("max_secs", max_secs)):
        if v is not None:
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 or not math.isfinite(v):
                raise InputError(f"{name} must be a non-negative number of seconds, got {v!r}")
            flags.append(f"--{name}={v:g}")
    if op_profiling:
        flags.append("--enable_op_profiling=true")
    if verbose:
        flags.append("--verbose=true")
    for f in extra:
        if not isinstance(f, str) or not f.startswith("--"):
            raise InputError(f"extra benchmark_model flags are strings like '--name=value', got {f!r}")
        flags.append(f)
    return flags


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AdbDevice:
    """One phone reached through ``adb -s SERIAL`` with a ``benchmark_model`` binary to push to it.

    ``adb`` is the adb executable (default: the one on PATH); ``benchmark_binary`` the Android build
    of LiteRT's benchmark tool on this machine. Both are checked when the object is made and raise
    :class:`MissingDependencyError` / :class:`InputError` saying where to get them. Models are pushed
    under ``remote_dir`` named by the SHA-256 of their content, once per object.
    """

    def __init__(self, serial: str, *, adb: str | os.PathLike[str] | None = None,
                 benchmark_binary: str | os.PathLike[str] | None, remote_dir: str = DEFAULT_REMOTE_DIR,
                 timeout_s: float = 600.0, taskset: str | None = None) -> None:
        if not isinstance(serial, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]*", serial):
            raise InputError(f"adb serial {serial!r} is not valid; use the serial `adb devices` lists, "
                             "e.g. 'emulator-5554' or '192.168.1.20:5555'")
        self.serial = serial
        self.adb = self._find_adb(adb)
        if benchmark_binary is None:
            raise MissingDependencyError(f"no benchmark_model binary was given for adb device {serial}; {_GET_BINARY}")
        binary = Path(benchmark_binary).expanduser()
        if not binary.is_file():
            raise InputError(f"the benchmark_model binary {binary} does not exist; {_GET_BINARY}")
        self.benchmark_binary = binary
        if not isinstance(remote_dir, str) or not remote_dir.startswith("/") or "'" in remote_dir:
            raise InputError(f"remote_dir must be an absolute path on the phone, e.g. {DEFAULT_REMOTE_DIR}; "
                             f"got {remote_dir!r}")
        self.remote_dir = remote_dir.rstrip("/") or "/"
        if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or timeout_s <= 0:
            raise InputError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        if taskset is not None and not re.fullmatch(r"(?:0x)?[0-9A-Fa-f]+", str(taskset)):
            raise InputError(f"taskset must be a hexadecimal CPU mask such as 'f0', got {taskset!r}")
        self.taskset = None if taskset is None else str(taskset)
        self._pushed: dict[str, str] = {}  # content sha256 -> remote path
        self._ready = False
        self._binary_sha: str | None = None
        self._props: dict[str, str] | None = None

    @staticmethod
    def _find_adb(adb: str | os.PathLike[str] | None) -> str:
        if adb is None:
            found = shutil.which("adb")
            if found is None:
                raise MissingDependencyError(f"adb was not found on PATH; {_GET_ADB}")
            return found
        p = Path(adb).expanduser()
        if not p.is_file() or not os.access(p, os.X_OK):
            raise InputError(f"adb executable {p} does not exist or is not executable; {_GET_ADB}")
        return str(p)

    @property
    def remote_binary(self) -> str:
        return f"{self.remote_dir}/benchmark_model"

    def __repr__(self) -> str:
        return f"AdbDevice({self.serial!r}, remote_dir={self.remote_dir!r})"

    # -- running adb -------------------------------------------------------------------------------
    def _run(self, args: Sequence[str], *, timeout: float | None = None, what: str = "",
             device: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [self.adb, *(("-s", self.serial) if device else ()), *args]
        log.debug("running %s", " ".join(shlex.quote(c) for c in cmd))
        try:
            return subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                                  timeout=timeout or self.timeout_s, check=False)
        except FileNotFoundError as exc:
            raise MissingDependencyError(f"adb ({self.adb}) cannot be run: {exc}; {_GET_ADB}") from exc
        except subprocess.TimeoutExpired as exc:
            raise DeviceError(f"adb {what or args[0]} on {self.serial} did not finish within "
                              f"{timeout or self.timeout_s:g} s; check the phone, or raise the device option "
                              "timeout_s") from exc

    def devices(self) -> dict[str, str]:
        """The devices adb sees: {serial: state}."""
        r = self._run(["devices"], device=False, timeout=60, what="devices")
        if r.returncode != 0:
            raise DeviceError(f"'adb devices' failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()}; "
                              "restart the adb server with 'adb kill-server'")
        return parse_adb_devices(r.stdout)

    def check_connected(self) -> None:
        """Raise :class:`DeviceError` unless adb lists the serial as a ready device."""
        seen = self.devices()
        state = seen.get(self.serial)
        if state == "device":
            return
        if state is None:
            listed = ", ".join(f"{s} ({st})" for s, st in seen.items()) or "none"
            raise DeviceError(
                f"adb device {self.serial} is not connected (adb sees: {listed}); connect the phone by USB with "
                "USB debugging enabled (Settings > Developer options), or run 'adb connect HOST:PORT' for a "
                "network device, and check the serial with 'adb devices'"
            )
        fix = _STATE_FIX.get(state, "check the phone and the cable, then run 'adb devices'")
        raise DeviceError(f"adb device {self.serial} is {state}; {fix}")

    def shell(self, command: str, *, timeout: float | None = None, what: str = "shell") -> tuple[int, str]:
        """Run ``command`` in the phone's shell; return (exit status, stdout + stderr)."""
        r = self._run(["shell", command], timeout=timeout, what=what)
        return r.returncode, (r.stdout or "") + (r.stderr or "")

    def _check_shell(self, command: str, what: str) -> str:
        rc, out = self.shell(command, what=what)
        if rc != 0:
            raise DeviceError(f"{what} failed on adb device {self.serial} (exit {rc}): {out.strip()[:500]}")
        return out

    def push(self, local: str | os.PathLike[str], remote: str) -> None:
        r = self._run(["push", str(local), remote], what="push")
        if r.returncode != 0:
            raise DeviceError(f"adb push {local} -> {self.serial}:{remote} failed (exit {r.returncode}): "
                              f"{(r.stderr or r.stdout).strip()[:500]}; check free space on the phone "
                              f"(adb shell df {self.remote_dir})")

    # -- setting up and pushing ------------------------------------------------------------------------
    def setup(self) -> None:
        """Check the connection, create ``remote_dir`` and push the benchmark binary (once)."""
        if self._ready:
            return
        self.check_connected()
        q = shlex.quote(self.remote_dir)
        self._check_shell(f"mkdir -p {q}", "creating the remote folder")
        data = self.benchmark_binary.read_bytes()
        self._binary_sha = _sha256(data)
        self.push(self.benchmark_binary, self.remote_binary)
        self._check_shell(f"chmod 755 {shlex.quote(self.remote_binary)}", "making benchmark_model executable")
        self._ready = True

    def push_model(self, model: bytes | str | os.PathLike[str]) -> str:
        """Push a ``.tflite`` model (bytes or a file) unless this object pushed the same content
        already; return its path on the phone."""
        self.setup()
        if isinstance(model, (bytes, bytearray)):
            data = bytes(model)
            src: Path | None = None
        else:
            src = Path(model).expanduser()
            if not src.is_file():
                raise InputError(f"model file {src} does not exist; give the path of a .tflite file")
            data = src.read_bytes()
        digest = _sha256(data)
        if digest in self._pushed:
            return self._pushed[digest]
        remote = f"{self.remote_dir}/{digest[:16]}.tflite"
        if src is not None:
            self.push(src, remote)
        else:
            with tempfile.TemporaryDirectory(prefix="hwlat-adb-") as tmp:
                p = Path(tmp) / f"{digest[:16]}.tflite"
                p.write_bytes(data)
                self.push(p, remote)
        self._pushed[digest] = remote
        log.debug("pushed %d bytes to %s:%s", len(data), self.serial, remote)
        return remote

    # -- running the benchmark -------------------------------------------------------------------------
    def run_benchmark(self, flags: Sequence[str], *, repeat: int = 1,
                      require_op_profile: bool = False) -> list[BenchmarkResult]:
        """Run ``benchmark_model FLAGS`` ``repeat`` times in one ``adb shell``; parse each log.

        A failing invocation stops the loop and raises :class:`DeviceError` with the tool's errors.
        """
        if not isinstance(repeat, int) or repeat < 1:
            raise InputError(f"repeat must be a positive integer, got {repeat!r}")
        self.setup()
        prefix = f"taskset {self.taskset} " if self.taskset else ""
        bench = prefix + " ".join(shlex.quote(a) for a in [self.remote_binary, *flags])
        script = (f"i=0; while [ $i -lt {repeat} ]; do echo {_RUN_MARK}; {bench} 2>&1; rc=$?; "
                  f"if [ $rc -ne 0 ]; then echo \"{_EXIT_MARK} $rc\"; exit $rc; fi; i=$((i+1)); done")
        rc, out = self.shell(script, timeout=self.timeout_s, what="benchmark_model")
        chunks = re.split(rf"^{_RUN_MARK}\r?\n", out, flags=re.MULTILINE)
        head, runs = chunks[0], chunks[1:]
        if not runs:
            raise DeviceError(f"benchmark_model did not start on adb device {self.serial} (exit {rc}): "
                              f"{head.strip()[:500] or 'no output'}")
        results = []
        for chunk in runs:
            m = re.search(rf"^{_EXIT_MARK} (\d+)\s*$", chunk, re.MULTILINE)
            if m is not None:
                body, code = chunk[: m.start()], int(m[1])
                try:
                    parse_benchmark_output(body)
                except DeviceError as exc:
                    if _ERROR_HINTS[0][0].search(str(exc)):
                        self._pushed.clear()  # push the models again on the next run
                    if str(exc).startswith("benchmark_model failed"):
                        raise DeviceError(f"{exc} (adb device {self.serial}, exit {code})") from None
                hint = ""
                if code in (126, 127) or _ERROR_HINTS[2][0].search(body):
                    hint = f". Fix: {_ERROR_HINTS[2][1]}"
                raise DeviceError(f"benchmark_model exited with status {code} on adb device {self.serial}: "
                                  f"{body.strip()[-500:] or 'no output'}{hint}")
            results.append(parse_benchmark_output(chunk, require_op_profile=require_op_profile))
        if len(results) != repeat:
            raise DeviceError(f"benchmark_model ran {len(results)} of {repeat} times on adb device {self.serial} "
                              f"(adb exit {rc}); the connection may have dropped")
        if rc != 0:
            raise DeviceError(f"adb shell exited with status {rc} on {self.serial} after benchmark_model ran: "
                              f"{head.strip()[:300]}")
        return results

    def getprop(self, name: str) -> str:
        """An Android system property (``ro.product.model``...); '' when unset."""
        rc, out = self.shell(f"getprop {shlex.quote(name)}", timeout=60, what="getprop")
        return out.strip() if rc == 0 else ""

    def properties(self) -> dict[str, str]:
        """What to record about the phone: model, SoC, ABI, Android release (cached)."""
        if self._props is None:
            keys = {"model": "ro.product.model", "manufacturer": "ro.product.manufacturer",
                    "soc": "ro.soc.model", "board": "ro.board.platform", "abi": "ro.product.cpu.abi",
                    "android": "ro.build.version.release"}
            self._props = {k: v for k, p in keys.items() if (v := self.getprop(p))}
        return dict(self._props)

    def binary_sha256(self) -> str:
        if self._binary_sha is None:
            self._binary_sha = _sha256(self.benchmark_binary.read_bytes())
        return self._binary_sha

    def cleanup(self) -> None:
        """Remove ``remote_dir`` (binary and models) from the phone."""
        self._check_shell(f"rm -rf {shlex.quote(self.remote_dir)}", "removing the remote folder")
        self._pushed.clear()
        self._ready = False


# -- the runtime -------------------------------------------------------------------------------------

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

    def prepare(self, graph: Graph, *, seed: int = 0) -> Prepared:
        """Emit ``graph`` as a ``.tflite`` and push it (``seed`` is unused: benchmark_model draws
        its own random inputs)."""
        from hwlat.ops.tflite_emit import graph_to_tflite

        remote = self.device.push_model(graph_to_tflite(graph))
        return _AdbPrepared(self, remote, graph.name)

    def prepare_file(self, path: str | Path, *, seed: int = 0) -> Prepared:
        p = Path(path)
        if p.suffix != ".tflite":
            raise InputError(f"{p} is not a .tflite file; adb devices run TFLite models with benchmark_model")
        return _AdbPrepared(self, self.device.push_model(p), p.name)

    def __repr__(self) -> str:
        return f"AdbLiteRTRuntime({self.device.serial!r}, provider={self.provider!r}, threads={self.threads})"


def _int_option(options: Mapping[str, Any], key: str, default: int) -> int:
    v = options.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise InputError(f"device option {key} must be a non-negative integer, got {v!r}")
    return v


def make_adb_runtime(dev: DeviceSpec) -> Runtime:
    """The runtime for a device at ``adb://SERIAL``: checks adb, the benchmark binary and the
    phone's connection, and pushes the binary. See the module doc for the device options."""
    from hwlat.devices import DeviceSpec

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


# -- whole-model profile -----------------------------------------------------------------------------

@dataclass
class AdbModelProfile:
    """A ``.tflite`` model on a phone: end-to-end latency and benchmark_model's per-op breakdown.

    ``latency`` holds one sample per untraced invocation (each the ``Inference (avg)`` of its
    ``num_runs`` timed runs); ``profile`` is the parsed log of the run with op profiling. ``nodes``:
    ``node, op_type, node_index, first_ms, avg_ms, share_pct, times_called, delegated`` sorted by
    ``avg_ms`` (benchmark_model reports means, not medians), ``share_pct`` of the sum of node means.
    """

    path: Path
    device: str
    latency: Measurement
    profile: BenchmarkResult
    num_runs: int

    @property
    def nodes(self) -> pd.DataFrame:
        ops = self.profile.ops
        assert ops is not None
        df = ops.rename(columns={"name": "node", "node_type": "op_type"})
        df = df[["node", "op_type", "node_index", "first_ms", "avg_ms", "times_called", "delegated", "subgraph"]].copy()
        total = df["avg_ms"].sum()
        df["share_pct"] = 100 * df["avg_ms"] / total if total > 0 else 0.0
        return df.sort_values("avg_ms", ascending=False, ignore_index=True)

    @property
    def sum_nodes_ms(self) -> float:
        return float(self.nodes["avg_ms"].sum())

    def by_op_type(self) -> pd.DataFrame:
        """``op_type, count, avg_ms, share_pct``, summed over the nodes of each type."""
        g = self.nodes.groupby("op_type", sort=False).agg(count=("node", "size"), avg_ms=("avg_ms", "sum"))
        g["share_pct"] = 100 * g["avg_ms"] / max(g["avg_ms"].sum(), 1e-12)
        return g.sort_values("avg_ms", ascending=False).reset_index()

    def to_dict(self) -> dict[str, Any]:
        p = self.profile
        return {
            "model": str(self.path), "device": self.device, "latency": self.latency.to_stats(),
            "runs_per_sample": self.num_runs, "profiled_inference_ms": p.inference_ms,
            "init_ms": None if p.init_us is None else p.init_us / 1e3, "memory_mb": dict(p.memory_mb),
            "sum_nodes_ms": self.sum_nodes_ms, "nodes": self.nodes.to_dict(orient="records"),
        }


def profile_model_adb(dev: DeviceSpec | str, tflite_path: str | os.PathLike[str], *, samples: int = 5,
                      num_runs: int = 50, warmup_runs: int = 10,
                      runtime: AdbLiteRTRuntime | None = None) -> AdbModelProfile:
    """Profile a ``.tflite`` file on an adb device.

    The latency comes from ``samples`` invocations without op profiling (it adds per-op overhead),
    each the mean of ``num_runs`` timed runs after ``warmup_runs`` warm-up runs; the breakdown from
    one more invocation with ``--enable_op_profiling=true`` and as many runs.
    """
    from hwlat.devices import DeviceSpec, load_device
    from hwlat.profiler.measurement import Measurement

    spec = dev if isinstance(dev, DeviceSpec) else load_device(dev)
    p = Path(tflite_path)
    if not p.is_file():
        raise InputError(f"model file {p} does not exist; give the path of a .tflite file")
    for name, v, lo in (("samples", samples, 1), ("num_runs", num_runs, 1), ("warmup_runs", warmup_runs, 0)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    rt = runtime if runtime is not None else make_adb_runtime(spec)
    if not isinstance(rt, AdbLiteRTRuntime):  # pragma: no cover - make_adb_runtime returns one
        raise InputError("profile_model_adb needs an adb runtime")
    remote = rt.device.push_model(p)
    timed = rt.device.run_benchmark(rt.flags(remote, num_runs=num_runs, warmup_runs=warmup_runs), repeat=samples)
    latency = Measurement(p.name, [np.array([r.inference_avg_us for r in timed]) * 1e-6], threads=rt.threads,
                          warmup_runs=warmup_runs, number=num_runs)
    prof = rt.device.run_benchmark(rt.flags(remote, num_runs=num_runs, warmup_runs=warmup_runs, op_profiling=True),
                                   require_op_profile=True)[0]
    return AdbModelProfile(p, spec.name, latency, prof, num_runs)
