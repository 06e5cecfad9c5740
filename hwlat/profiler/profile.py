"""Profiling a list of op specs on a device into a latency table, resumably.

The work is done in chunks of ops. Inside a chunk every op is prepared and warmed up, then the
protocol's rounds are timed interleaved across the chunk's ops (in a fresh seeded order each
round) so that drift of the machine hits all of them alike. Noisy measurements get more rounds.
Each finished op is appended to ``measurements.jsonl`` in the output folder (flushed and synced),
so an interrupted run (Ctrl-C, kill -9) loses at most the chunk in flight, and the next run
with the same folder measures only what is missing. The table (``table.parquet`` and
``table.csv``) is rewritten atomically at the end.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from hwlat.errors import DeviceError, InputError, MissingDependencyError, UnsupportedOpError
from hwlat.ops.ir import Graph, build_graph
from hwlat.ops.spec import OpSpec, identity
from hwlat.profiler.measurement import Measurement
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.runtimes import Runtime
from hwlat.profiler.timer import plan_round, warm_up

__all__ = ["profile_ops", "measure_specs", "measure_graphs", "measure_overhead", "ProfileResult", "CHECKPOINT_NAME",
           "TABLE_NAME", "OVERHEAD_SPEC"]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "measurements.jsonl"
TABLE_NAME = "table.parquet"
CHECKPOINT_VERSION = 1
#: the "empty model" whose latency is the runtime's per-call overhead (timed in every chunk;
#: the table records the median over chunks)
OVERHEAD_SPEC = identity((1, 1, 1))
_OVERHEAD_KEY = "__overhead__"


@dataclass
class ProfileResult:
    """What a profiling run did: the table and a summary of the work."""

    table: Any  # LatencyTable
    n_ops: int
    n_measured: int
    n_resumed: int
    n_remeasured: int
    still_noisy: list[str]
    overhead_ms: float | None
    wall_s: float
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"ops: {self.n_ops} ({self.n_measured} measured now, {self.n_resumed} resumed from earlier runs)",
            f"noisy ops re-measured: {self.n_remeasured}; still noisy after that: {len(self.still_noisy)}",
            f"per-call overhead: {self.overhead_ms * 1e3:.1f} µs" if self.overhead_ms is not None
            else "per-call overhead: not measured",
            f"wall time: {self.wall_s:.1f} s",
        ]
        if self.files:
            lines.append("wrote: " + ", ".join(str(f) for f in self.files))
        return "\n".join(lines)


# -- measuring --------------------------------------------------------------------------------------

@dataclass
class _Slot:
    label: str
    prepared: Any
    n_per_round: int
    number: int
    warmup_runs: int
    rounds: list[np.ndarray] = field(default_factory=list)


def _prepare(runtime: Runtime, label: str, graph: Graph, protocol: Protocol) -> _Slot:
    try:
        prepared = runtime.prepare(graph, seed=protocol.seed)
    except UnsupportedOpError as exc:
        raise UnsupportedOpError(f"{runtime.name} ({runtime.provider}) cannot run {label}: {exc}") from exc
    warm, est = warm_up(prepared, protocol)
    n, number = plan_round(est, protocol)
    return _Slot(label, prepared, n, number, warm)


def _time_rounds(slots: Sequence[_Slot], rounds: int, rng: np.random.Generator,
                 on_last: Callable[[_Slot], None] | None = None) -> None:
    for r in range(rounds):
        for i in rng.permutation(len(slots)):
            s = slots[i]
            s.rounds.append(s.prepared.time_samples(s.n_per_round, s.number))
            if on_last is not None and r == rounds - 1:
                on_last(s)


def measure_graphs(runtime: Runtime, items: Sequence[tuple[str, Graph]], protocol: Protocol, *,
                   rng: np.random.Generator | None = None,
                   on_done: Callable[[str], None] | None = None) -> list[Measurement]:
    """Measure labelled graphs together: prepare and warm up each, time the protocol's rounds
    interleaved across them (a fresh seeded order each round), re-measure the noisy ones."""
    rng = rng if rng is not None else np.random.default_rng(protocol.seed)
    slots: list[_Slot] = []
    try:
        for label, graph in items:
            slots.append(_prepare(runtime, label, graph, protocol))
        _time_rounds(slots, protocol.rounds, rng, (lambda s: on_done(s.label)) if on_done else None)

        def to_meas(s: _Slot, remeasured: int) -> Measurement:
            return Measurement(s.label, s.rounds, threads=runtime.threads, warmup_runs=s.warmup_runs,
                               noise_iqr=protocol.noise_iqr, noise_spread=protocol.noise_spread,
                               remeasured=remeasured, number=s.number)

        results = {id(s): to_meas(s, 0) for s in slots}
        for attempt in range(1, protocol.remeasure + 1):
            noisy = [s for s in slots if results[id(s)].noisy]
            if not noisy:
                break
            log.debug("re-measuring %d noisy item(s), attempt %d", len(noisy), attempt)
            # a fresh warm-up, then as many new rounds, pooled with the old ones
            for s in noisy:
                warm_up(s.prepared, protocol)
            _time_rounds(noisy, protocol.rounds, rng)
            for s in noisy:
                results[id(s)] = to_meas(s, attempt)
        return [results[id(s)] for s in slots]
    finally:
        for s in slots:
            s.prepared.close()


def measure_specs(runtime: Runtime, specs: Sequence[OpSpec], protocol: Protocol, *,
                  rng: np.random.Generator | None = None,
                  on_done: Callable[[str], None] | None = None) -> list[Measurement]:
    """Measure op specs together (one chunk); see :func:`measure_graphs`."""
    items = [(s.key, build_graph(s, seed=protocol.seed)) for s in specs]
    return measure_graphs(runtime, items, protocol, rng=rng, on_done=on_done)


def measure_overhead(runtime: Runtime, protocol: Protocol) -> Measurement:
    """The runtime's per-call overhead: the latency of an empty (identity) model."""
    return measure_specs(runtime, [OVERHEAD_SPEC], protocol)[0]


# -- checkpoint -------------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _header(device: Any, runtime: Runtime, protocol: Protocol) -> dict[str, Any]:
    return {"hwlat_checkpoint": CHECKPOINT_VERSION, "device": device.to_dict(), "runtime": runtime.info(),
            "protocol": protocol.to_dict(), "created_utc": _now()}


def _read_checkpoint(path: Path) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The header and the rows (key -> record) of a checkpoint; a torn last line is ignored."""
    if not path.exists():
        return None, {}
    header: dict[str, Any] | None = None
    rows: dict[str, dict[str, Any]] = {}
    with path.open("r", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if lineno >= len(lines) - 1:  # the last line, torn by a kill: drop it
                log.warning("ignoring a torn last line in %s (an interrupted run)", path)
                continue
            raise InputError(f"{path}:{lineno} is not valid JSON; the checkpoint is corrupt: "
                             "move it away and profile again") from None
        if header is None:
            if "hwlat_checkpoint" not in rec:
                raise InputError(f"{path} is not an hwlat checkpoint (no header line)")
            header = rec
        else:
            rows[rec["key"]] = rec
    return header, rows


def _check_compatible(path: Path, header: dict[str, Any], new: dict[str, Any]) -> None:
    old_dev, new_dev = header["device"], new["device"]
    for k in ("name", "runtime", "provider", "threads", "precision", "location"):
        if old_dev.get(k) != new_dev.get(k):
            raise InputError(
                f"{path} holds measurements for device {old_dev.get('name')!r} with {k}={old_dev.get(k)!r}, "
                f"not {new_dev.get(k)!r}; use another output folder (-o) for this device"
            )
    if header["protocol"] != new["protocol"]:
        changed = sorted(k for k in new["protocol"] if header["protocol"].get(k) != new["protocol"][k])
        raise InputError(
            f"{path} was measured with another protocol (differs in {', '.join(changed)}); "
            "use the same protocol options to resume, or another output folder (-o)"
        )
    if header["runtime"].get("runtime_version") != new["runtime"].get("runtime_version"):
        log.warning("%s was started with %s %s, now %s: mixing versions in one table", path,
                    new["runtime"]["runtime"], header["runtime"].get("runtime_version"),
                    new["runtime"].get("runtime_version"))


class _Checkpoint:
    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        existing, self.rows = _read_checkpoint(path)
        if existing is None:
            self.header = header
            self._fh = path.open("w", encoding="utf-8")
            self._write(header)
        else:
            _check_compatible(path, existing, header)
            self.header = existing
            self._repair_tail()
            self._fh = path.open("a", encoding="utf-8")

    def _repair_tail(self) -> None:
        # make sure the file ends with a newline (a torn line is then skipped, not glued)
        with self.path.open("rb+") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() and (fh.seek(-1, os.SEEK_END) or fh.read(1) != b"\n"):
                fh.write(b"\n")

    def _write(self, rec: dict[str, Any]) -> None:
        self._fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def add(self, key: str, m: Measurement) -> None:
        rec = {"key": key, **m.to_stats(), "calls_per_sample": m.number, "round_medians_ms": m.round_medians_ms,
               "measured_utc": _now()}
        self.rows[key] = rec
        self._write(rec)

    def close(self) -> None:
        self._fh.close()


# -- the public entry point -------------------------------------------------------------------------

def _unique(specs: Iterable[OpSpec]) -> list[OpSpec]:
    seen: dict[str, OpSpec] = {}
    for s in specs:
        if not isinstance(s, OpSpec):
            raise InputError(f"profile_ops takes OpSpec objects, got {type(s).__name__}")
        seen.setdefault(s.key, s)
    return list(seen.values())


def _metadata(device: Any, runtime: Runtime, protocol: Protocol, overhead_ms: float | None,
              header: dict[str, Any]) -> Any:
    import hwlat
    from hwlat.devices import detect
    from hwlat.latency_tables import TableMetadata

    info = runtime.info()
    return TableMetadata(
        # a runtime measuring elsewhere (the hwlat agent over ssh) knows that host's fingerprint
        device=device.to_dict(), host=getattr(runtime, "host_fingerprint", None) or detect(),
        runtime=info["runtime"], runtime_version=info["runtime_version"],
        threads=runtime.threads, protocol=protocol.to_dict(), overhead_ms=overhead_ms, created_utc=_now(),
        hwlat_version=hwlat.__version__, schema_version=1, source="measured",
        extra={"provider": runtime.provider, "started_utc": header.get("created_utc")},
    )


def _table_from_rows(metadata: Any, rows: dict[str, dict[str, Any]]) -> Any:
    from hwlat.latency_tables import LatencyTable

    stat_keys = ("median_ms", "iqr_ms", "p10_ms", "p90_ms", "mean_ms", "std_ms", "n", "noisy", "remeasured",
                 "measured_utc")
    items = []
    for key, rec in rows.items():
        if key.startswith(_OVERHEAD_KEY):
            continue
        items.append((OpSpec.from_key(key), {k: rec[k] for k in stat_keys if k in rec}))
    return LatencyTable.from_rows(metadata, items)


def profile_ops(
    specs: Iterable[OpSpec],
    device: Any,
    *,
    protocol: Protocol | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    chunk_size: int = 16,
    overhead: bool = True,
    runtime: Runtime | None = None,
    fresh: bool = False,
) -> ProfileResult:
    """Measure every distinct spec on ``device`` (a :class:`~hwlat.devices.DeviceSpec` or its name).

    With ``out_dir`` the run is resumable: measurements go to ``out_dir/measurements.jsonl`` as
    they finish and the table to ``out_dir/table.parquet`` and ``table.csv``; a later call with
    the same folder measures only what is missing (``fresh=True`` starts over). Progress and ETA
    go to stderr. Returns a :class:`ProfileResult` whose ``table`` is a ``LatencyTable``.
    """
    from hwlat._io import ensure_writable_dir
    from hwlat.devices import DeviceSpec, load_device

    t_start = time.perf_counter()
    protocol = protocol or Protocol()
    dev = device if isinstance(device, DeviceSpec) else load_device(device)
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    todo_specs = _unique(specs)
    if not todo_specs:
        raise InputError("nothing to profile: the op list is empty")
    if runtime is None:
        from hwlat.profiler.remote import runtime_for_device

        runtime = runtime_for_device(dev)  # a local runtime, or one driving the agent at dev.location
    rt = runtime
    if not rt.is_available():
        if dev.runtime == "torch" and dev.provider == "cpu":
            raise MissingDependencyError("torch is not installed (needed for device %r); install it with: "
                                         "pip install 'hwlat[torch]'" % dev.name)
        raise DeviceError(f"runtime {dev.runtime} with provider {dev.provider} is not available on this machine "
                          f"(device {dev.name!r}); run 'hwlat devices detect' to see what is")

    header = _header(dev, rt, protocol)
    ckpt: _Checkpoint | None = None
    out_path: Path | None = None
    if out_dir is not None:
        out_path = ensure_writable_dir(out_dir)
        cp = out_path / CHECKPOINT_NAME
        if fresh and cp.exists():
            cp.unlink()
        ckpt = _Checkpoint(cp, header)
    rows: dict[str, dict[str, Any]] = ckpt.rows if ckpt else {}

    todo = [s for s in todo_specs if s.key not in rows]
    n_resumed = len(todo_specs) - len(todo)
    rng = np.random.default_rng(protocol.seed)
    n_remeasured = 0
    n_chunks_before = sum(k.startswith(_OVERHEAD_KEY) for k in rows)

    def record(key: str, m: Measurement) -> None:
        if ckpt:
            ckpt.add(key, m)
        else:
            rows[key] = {"key": key, **m.to_stats(), "measured_utc": _now()}

    try:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo_specs), initial=n_resumed, unit="op", desc=f"profiling {dev.name}",
                   file=sys.stderr, disable=not progress or not todo, dynamic_ncols=True, leave=True)
        try:
            for c, start in enumerate(range(0, len(todo), chunk_size)):
                chunk = todo[start:start + chunk_size]
                # the empty model is timed in every chunk, interleaved with the ops, so that the
                # overhead is measured under the same conditions as the ops it is subtracted from
                specs = chunk + [OVERHEAD_SPEC] if overhead else chunk
                results = measure_specs(rt, specs, protocol, rng=rng,
                                        on_done=lambda label: label != OVERHEAD_SPEC.key and bar.update(1))
                for spec, m in zip(chunk, results):
                    n_remeasured += m.remeasured > 0
                    record(spec.key, m)
                if overhead:
                    record(f"{_OVERHEAD_KEY}#{n_chunks_before + c}", results[-1])
                bar.set_postfix(remeasured=n_remeasured, refresh=False)
        finally:
            bar.close()
        overhead_ms: float | None = None
        if overhead:
            if not any(k.startswith(_OVERHEAD_KEY) for k in rows):  # everything resumed, no overhead yet
                record(f"{_OVERHEAD_KEY}#0", measure_overhead(rt, protocol))
            overhead_ms = float(np.median([r["median_ms"] for k, r in rows.items() if k.startswith(_OVERHEAD_KEY)]))
    finally:
        if ckpt:
            ckpt.close()

    metadata = _metadata(dev, rt, protocol, overhead_ms, header)
    table = _table_from_rows(metadata, rows)
    files: list[Path] = []
    if out_path is not None:
        files = [out_path / TABLE_NAME, out_path / "table.csv"]
        table.save(files[0])
        table.save(files[1])
    wanted = {s.key for s in todo_specs}
    still_noisy = sorted(k for k, r in rows.items() if k in wanted and r.get("noisy"))
    return ProfileResult(table, len(todo_specs), len(todo), n_resumed, n_remeasured, still_noisy,
                         overhead_ms, time.perf_counter() - t_start, out_path, files)
