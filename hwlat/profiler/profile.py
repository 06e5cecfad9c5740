"""Profiling a list of op specs on a device into a latency table, resumably.

The work is done in chunks of ops. Inside a chunk every op is prepared and warmed up, then the
protocol's rounds are timed interleaved across the chunk's ops (in a fresh seeded order each
round) so that the machine's slow spells hit all of them alike, with a canary model watching the
machine's quiet level (:class:`~hwlat.profiler.meter.Meter`). Unstable estimates get more rounds.
Each finished op is appended to ``measurements.jsonl`` in the output folder (flushed and synced),
so an interrupted run (Ctrl-C, kill -9) loses at most the chunk in flight, and the next run
with the same folder measures only what is missing. The table (``table.parquet`` and
``table.csv``) is rewritten atomically at the end.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat._progress import progress_bar
from hwlat.devices import DeviceSpec
from hwlat.errors import DeviceError, InputError, MissingDependencyError, UnsupportedOpError
from hwlat.ops.ir import Graph, build_chain, build_graph, chainable
from hwlat.ops.memory import check_op_memory
from hwlat.ops.spec import OpSpec
from hwlat.profiler.checkpoint import LAYOUT_PREFIX, Checkpoint, checkpoint_header, checkpoint_name, utc_now
from hwlat.profiler.jobs import OVERHEAD_SPEC, MeasureJob
from hwlat.profiler.measurement import Measurement
from hwlat.profiler.meter import Interference, Meter
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.runtimes import Runtime
from hwlat.profiler.streaming import STREAM_COPIES, STREAM_SPEC, measured_points
from hwlat.profiler.transports import open_runtime

if TYPE_CHECKING:
    from hwlat.latency_tables import LatencyTable, TableMetadata

_CONTEXT_KEY = "__context__"
_STREAM_KEY = "__stream__"

__all__ = ["profile_ops", "measure_specs", "measure_graphs", "measure_overhead", "ProfileResult", "CHECKPOINT_NAME",
           "TABLE_NAME", "OVERHEAD_SPEC"]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = checkpoint_name("profile")
TABLE_NAME = "table.parquet"


@dataclass
class ProfileResult:
    """What a profiling run did: the table and a summary of the work."""

    table: LatencyTable
    n_ops: int
    n_measured: int
    n_resumed: int
    n_remeasured: int
    unstable: list[str]
    overhead_ms: float | None
    wall_s: float
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    interference: Interference | None = None
    statistic: str = "min"

    def summary(self) -> str:
        lines = [
            f"ops: {self.n_ops} ({self.n_measured} measured now, {self.n_resumed} resumed from earlier runs)",
            f"statistic: {self.statistic} of single calls over interleaved rounds",
            self.interference.summary() if self.interference is not None else "interference: not measured",
            f"ops given more rounds (unstable estimate or a slow spell): {self.n_remeasured}; "
            f"still unstable: {len(self.unstable)}",
            f"per-call overhead: {self.overhead_ms * 1e3:.1f} µs" if self.overhead_ms is not None
            else "per-call overhead: not measured",
            f"wall time: {self.wall_s:.1f} s",
        ]
        if self.files:
            lines.append("wrote: " + ", ".join(str(f) for f in self.files))
        return "\n".join(lines)


# -- measuring --------------------------------------------------------------------------------------

def measure_graphs(runtime: Runtime, items: Sequence[tuple[str, Graph]], protocol: Protocol, *,
                   rng: np.random.Generator | None = None,
                   on_done: Callable[[str], object] | None = None) -> list[Measurement]:
    """Measure labelled graphs together as one chunk (see :class:`~hwlat.profiler.meter.Meter`);
    one Measurement per graph (the canary's is left out)."""
    meter = Meter(runtime, protocol, rng=rng)
    out = meter.measure([meter.graph_item(label, g) for label, g in items], on_done=on_done)
    return out[:len(items)]


def measure_specs(runtime: Runtime, specs: Sequence[OpSpec], protocol: Protocol, *,
                  rng: np.random.Generator | None = None,
                  on_done: Callable[[str], object] | None = None) -> list[Measurement]:
    """Measure op specs together (one chunk); see :func:`measure_graphs`."""
    items = [(s.key, build_graph(s, seed=protocol.seed)) for s in specs]
    return measure_graphs(runtime, items, protocol, rng=rng, on_done=on_done)


def measure_overhead(runtime: Runtime, protocol: Protocol) -> Measurement:
    """The runtime's per-call overhead: the latency of an empty (identity) model."""
    return measure_specs(runtime, [OVERHEAD_SPEC], protocol)[0]


# -- the public entry point -------------------------------------------------------------------------

def _unique(specs: Iterable[OpSpec]) -> list[OpSpec]:
    seen: dict[str, OpSpec] = {}
    for s in specs:
        if not isinstance(s, OpSpec):
            raise InputError(f"profile_ops takes OpSpec objects, got {type(s).__name__}")
        seen.setdefault(s.key, s)
    return list(seen.values())


def _metadata(device: DeviceSpec, runtime: Runtime, protocol: Protocol, overhead_ms: float | None,
              header: dict[str, Any], interference: Interference | None) -> TableMetadata:
    import hwlat
    from hwlat.devices import detect
    from hwlat.latency_tables import TableMetadata

    info = runtime.info()
    return TableMetadata(
        # a runtime measuring elsewhere (the hwlat agent over ssh) knows that host's fingerprint
        device=device.to_dict(), host=getattr(runtime, "host_fingerprint", None) or detect(),
        runtime=info["runtime"], runtime_version=info["runtime_version"],
        threads=runtime.threads, protocol=protocol.to_dict(), overhead_ms=overhead_ms, created_utc=utc_now(),
        hwlat_version=hwlat.__version__, source="measured", statistic=protocol.statistic,
        interference=interference.to_dict() if interference is not None else {},
        extra={"provider": runtime.provider, "started_utc": header.get("created_utc")},
    )


def _context_key(key: str) -> str:
    return f"{_CONTEXT_KEY}|{key}"


def _layout_key(key: str) -> str:
    return f"{LAYOUT_PREFIX}{key}"


def _measure_layout(specs: list[OpSpec], rt: Runtime, rows: dict[str, dict[str, Any]], ckpt: Checkpoint | None,
                    progress: bool, seed: int) -> None:
    """Record what each op pays alone for the runtime's layout conversions (``reorder_in_ms``,
    ``reorder_out_ms``) and the time of its own nodes as a trace inside a network times them
    (``traced_ms``; :meth:`Runtime.layout_ms`), where the runtime can tell. A record made before
    ``traced_ms`` existed is made again where the runtime traces."""
    todo = [s for s in specs if _layout_key(s.key) not in rows]
    probe = rt.layout_ms(build_graph(OVERHEAD_SPEC), runs=1)
    if probe is None:  # this runtime cannot tell
        return
    if probe[2] is not None:
        todo += [s for s in specs if (rec := rows.get(_layout_key(s.key))) and "traced_ms" not in rec]
    if not todo:  # resumed
        return
    with progress_bar(total=len(todo), unit="op", desc="layout conversions",
                      disable=not progress or not todo) as bar:
        for spec in todo:
            try:
                got = rt.layout_ms(build_graph(spec, seed=seed), seed=seed)
            except UnsupportedOpError:  # the op's own record says why it was not measured
                got = None
            rec = {"reorder_in_ms": got[0], "reorder_out_ms": got[1]} if got else {}
            if got and got[2] is not None:
                rec["traced_ms"] = got[2]
            if ckpt is not None:
                ckpt.put(_layout_key(spec.key), rec)
            else:
                rows[_layout_key(spec.key)] = rec
            bar.update(1)


def _streaming_items(specs: list[OpSpec], meter: Any) -> list[tuple[str, Any]]:
    """The weight-streaming probe (:mod:`hwlat.profiler.streaming`), where the ops include
    weighted matrix products (the transformer kernels it matters for): the probe alone and chains
    of copies with weights of their own."""
    if not any(s.kind == "matmul" and int(s["w"]) for s in specs):
        return []
    return [(f"{_STREAM_KEY}|1", meter.spec_item(STREAM_SPEC, f"{_STREAM_KEY}|1"))] + [
        (f"{_STREAM_KEY}|{n}", meter.graph_item(f"{_STREAM_KEY}|{n}", lambda n=n: build_chain(STREAM_SPEC, n)))
        for n in STREAM_COPIES]


def _streaming_points(rows: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    recs = {int(k.rsplit("|", 1)[1]): r["latency_ms"] for k, r in rows.items() if k.startswith(f"{_STREAM_KEY}|")}
    if 1 not in recs or len(recs) < 2:
        return None
    return {"spec": STREAM_SPEC.key, "chains_ms": {str(n): ms for n, ms in sorted(recs.items())},
            "points": measured_points(recs.pop(1), recs)}


def _table_from_rows(metadata: TableMetadata, rows: dict[str, dict[str, Any]], copies: int,
                     source: Path | None = None) -> LatencyTable:
    from hwlat.latency_tables import STAT_COLUMNS, LatencyTable

    items = []
    foreign: list[str] = []
    for key, rec in rows.items():
        if key.startswith("__"):
            continue
        try:
            spec = OpSpec.from_key(key)
        except InputError:  # a record of another kind of run (an older hwlat shared the file)
            foreign.append(key)
            continue
        stats = {k: rec[k] for k in STAT_COLUMNS if k in rec}
        chain = rows.get(_context_key(key))
        if chain is not None and copies > 1:
            stats["context_ms"] = max((chain["latency_ms"] - rec["latency_ms"]) / (copies - 1), 0.0)
        layout = rows.get(_layout_key(key))
        if layout:
            stats.update({k: layout[k] for k in ("reorder_in_ms", "reorder_out_ms", "traced_ms") if k in layout})
        items.append((spec, stats))
    if foreign:
        log.warning("%s holds %d record(s) that are not ops (e.g. %r), written there by a run of another kind; "
                    "left out of the table", source or "the checkpoint", len(foreign), foreign[0][:80])
    return LatencyTable.from_rows(metadata, items)


def profile_ops(
    specs: Iterable[OpSpec],
    device: DeviceSpec | Runtime | str,
    *,
    protocol: Protocol | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    chunk_size: int = 16,
    overhead: bool = True,
    runtime: Runtime | None = None,
    fresh: bool = False,
) -> ProfileResult:
    """Measure every distinct spec on ``device`` (a :class:`~hwlat.devices.DeviceSpec`, its name, or
    an opened :class:`~hwlat.profiler.runtimes.Runtime` as ``device`` or ``runtime``, left open).

    With ``out_dir`` the run is resumable: measurements go to ``out_dir/measurements.jsonl`` as
    they finish and the table to ``out_dir/table.parquet`` and ``table.csv``; a later call with
    the same folder measures only what is missing (``fresh=True`` starts over). Progress and ETA
    go to stderr. Ops whose chunk never saw the machine's quiet level (the canary says so, once
    the whole run has been seen) are measured once more at the end. Returns a
    :class:`ProfileResult` whose ``table`` is a ``LatencyTable``.
    """
    t_start = time.perf_counter()
    protocol = protocol or Protocol()
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    todo_specs = _unique(specs)
    if not todo_specs:
        raise InputError("nothing to profile: the op list is empty")
    for spec in todo_specs:  # every op fits in memory, before the first is measured
        check_op_memory(spec)
    # a local runtime, or one driving the agent at dev.location; one given is left open
    with open_runtime(device, runtime) as (dev, rt):
        return _profile(todo_specs, dev, rt, protocol, out_dir, progress, chunk_size, overhead, fresh, t_start)


def _profile(todo_specs: list[OpSpec], dev: DeviceSpec, rt: Runtime, protocol: Protocol,
             out_dir: str | os.PathLike[str] | None, progress: bool, chunk_size: int, overhead: bool, fresh: bool,
             t_start: float) -> ProfileResult:
    from hwlat._io import ensure_writable_dir

    if not rt.is_available():
        if dev.provider == "cpu" and dev.location == "local" and rt.distribution:  # an install away
            raise MissingDependencyError(f"{rt.distribution} is not installed (needed for device {dev.name!r}); "
                                         f"install it with: {rt.install or 'pip install ' + rt.distribution}")
        raise DeviceError(f"runtime {dev.runtime} with provider {dev.provider} is not available on this machine "
                          f"(device {dev.name!r}); run 'hwlat devices detect' to see what is")

    header = checkpoint_header(dev, rt, protocol, "profile")
    ckpt: Checkpoint | None = None
    out_path: Path | None = None
    if out_dir is not None:
        out_path = ensure_writable_dir(out_dir)
        ckpt = Checkpoint(out_path / CHECKPOINT_NAME, header, fresh=fresh)
    job = MeasureJob(rt, protocol, checkpoint=ckpt, overhead=overhead)
    rows = job.rows
    n_todo = sum(s.key not in rows for s in todo_specs)
    n_resumed = len(todo_specs) - n_todo
    try:
        bar = progress_bar(total=len(todo_specs), initial=n_resumed, unit="op", desc=f"profiling {dev.name}",
                           disable=not progress or not n_todo)
        try:
            meter, k = job.meter, protocol.context_copies
            items = []
            for spec in todo_specs:
                items.append((spec.key, meter.spec_item(spec)))
                if k > 1 and chainable(spec):  # in the same chunk as the op itself
                    items.append((_context_key(spec.key),
                                  meter.graph_item(_context_key(spec.key), build_chain(spec, k, seed=protocol.seed))))
            items += _streaming_items(todo_specs, meter)
            job.run(items, chunk_size=chunk_size * (2 if k > 1 else 1),
                    on_done=lambda key: key.startswith("__") or bar.update(1),
                    on_chunk=lambda j: bar.set_postfix(slow=f"{j.meter.interference().slow_pct:.0f}%",
                                                       refresh=False))
        finally:
            bar.close()
        _measure_layout(todo_specs, rt, rows, ckpt, progress, protocol.seed)
    finally:
        if ckpt:
            ckpt.close()
    overhead_ms = job.overhead_ms() if overhead else None
    interference = job.interference()
    metadata = _metadata(dev, rt, protocol, overhead_ms, header, interference)
    streaming = _streaming_points(rows)
    if streaming:
        metadata.extra["weight_streaming"] = streaming
    table = _table_from_rows(metadata, rows, protocol.context_copies, ckpt.path if ckpt else None)
    files: list[Path] = []
    if out_path is not None:
        files = [out_path / TABLE_NAME, out_path / "table.csv"]
        table.save(files[0])
        table.save(files[1])
    wanted = {s.key for s in todo_specs}
    unstable = sorted(k for k, r in rows.items() if k in wanted and r.get("unstable"))
    return ProfileResult(table, len(todo_specs), n_todo, n_resumed, len(job.remeasured & wanted), unstable,
                         overhead_ms, time.perf_counter() - t_start, out_path, files, interference,
                         protocol.statistic)
