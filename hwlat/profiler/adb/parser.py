"""The interface of LiteRT's ``benchmark_model`` tool: its command-line flags and its log.

:func:`parse_benchmark_output` reads the log of one invocation (the summary, the run statistics
and, with ``--enable_op_profiling=true``, the per-operator tables as DataFrames);
:func:`benchmark_flags` writes the flags of one invocation. Nothing here runs anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hwlat.errors import DeviceError, InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["RunStats", "BenchmarkResult", "parse_benchmark_output", "benchmark_flags", "ERROR_HINTS",
           "BENCHMARK_TOOL_URL"]

BENCHMARK_TOOL_URL = "https://ai.google.dev/edge/litert/models/measurement#native_benchmark_binary"

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
#: (pattern of an error line, what to do about it): the fixes quoted with benchmark_model's errors
ERROR_HINTS = (
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
    "node type": "node_type", "Node type": "node_type", "start": "start_ms", "first": "first_ms", "avg ms": "avg_ms",
    "%": "pct", "cdf%": "cdf_pct", "mem KB": "mem_kb", "times called": "times_called", "Name": "name",
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
    hints = [hint for rx, hint in ERROR_HINTS if any(rx.search(e) for e in errors)]
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
    for name, secs in (("warmup_min_secs", warmup_min_secs), ("min_secs", min_secs), ("max_secs", max_secs)):
        if secs is not None:
            if not isinstance(secs, (int, float)) or isinstance(secs, bool) or secs < 0 or not math.isfinite(secs):
                raise InputError(f"{name} must be a non-negative number of seconds, got {secs!r}")
            flags.append(f"--{name}={secs:g}")
    if op_profiling:
        flags.append("--enable_op_profiling=true")
    if verbose:
        flags.append("--verbose=true")
    for f in extra:
        if not isinstance(f, str) or not f.startswith("--"):
            raise InputError(f"extra benchmark_model flags are strings like '--name=value', got {f!r}")
        flags.append(f)
    return flags
