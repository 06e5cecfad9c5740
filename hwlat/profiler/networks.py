"""Whole networks measured end to end with the same protocol and statistic as the table's ops.

:func:`measure_archs` measures architectures of a search space (``validate``, calibration, the
gallery's measured column); :func:`measure_files` model files (``hwlat measure``). With
``passes=2`` every network is prepared twice and both copies are measured in the *same* chunk,
their rounds interleaved: the second copy is the noise floor of the first, taken under the same
conditions, not minutes later.

Networks of a space are measured with the space's reference network
(:meth:`~hwlat.spaces.base.SearchSpace.reference_arch`) beside them in every chunk, and reported
*at the reference's level*: ``raw * level / reference_level_of_their_chunk``. A machine that
drifts a few per cent for minutes (slower while calibration networks run, quicker while the
gallery's do) moves the reference as much as the networks beside it, so the drift cancels; the
raw numbers are kept beside the levelled ones (``raw_ms``).

A chunk's reference level is not its reference's estimate alone (:func:`reference_levels`): it is
the run's drift trend (a Theil-Sen line through the reference's estimates in chunk order) times
the square root (:data:`CHUNK_SHARE`) of the chunk's own departure from it. On a busy host the
reference's minimum jumps from chunk to chunk by more than the networks beside it move (a
1.3 ms network is hit by slow spells that a 0.3 ms one slips between): levelled by each chunk's
estimate, the same 120 NB201 networks measured in two processes agreed within ±5 % for 55 %,
along the trend alone for 86 %, with the half share for 78 %; on a quiet host, where chunks do
move together, the half share kept most of the per-chunk gain (``benchmarks/bench_levelling.py``;
``benchmarks/RESULTS.md``, "A busy day, and how a chunk's level is set").

The level is the run's own (:meth:`~hwlat.profiler.jobs.MeasureJob.reference_level_ms`), or one
given by an earlier run (``level_ms``): the gallery is measured at the level of the calibration
its predictor was fitted on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from typing import Protocol as TypingProtocol

import numpy as np

from hwlat._progress import progress_bar
from hwlat.errors import InputError
from hwlat.profiler.checkpoint import Checkpoint, adopt_legacy, checkpoint_header, checkpoint_name
from hwlat.profiler.jobs import REFERENCE_KEY, MeasureJob
from hwlat.profiler.meter import Interference, Item, Meter
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.transports import open_runtime

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec
    from hwlat.ops.ir import Graph
    from hwlat.profiler.runtimes.base import Runtime

__all__ = ["NetworkMeasurements", "drift_text", "measure_archs", "measure_files", "reference_levels",
           "CHECKPOINT_NAME", "CHUNK_SHARE"]

#: the checkpoint of :func:`measure_archs` in its ``out_dir`` unless its ``kind`` is given
#: (``validate.jsonl``, ``calibration.jsonl``, ``gallery.jsonl``, ``measure.jsonl``...)
CHECKPOINT_NAME = checkpoint_name("networks")
#: the share (in log terms) of a chunk's departure from the run's drift trend that its reference
#: passes on to the networks beside it (see the module docstring)
CHUNK_SHARE = 0.5


def reference_levels(refs: dict[int, float], share: float = CHUNK_SHARE) -> tuple[dict[int, float], dict[int, float]]:
    """Each chunk's reference level (ms) from the reference's estimate in each chunk (``refs``,
    by chunk index, in time order): ``trend * (estimate / trend) ** share``, the trend a
    Theil-Sen line through the log estimates (the median below three chunks). Returns the
    levels and the trend, by chunk."""
    from scipy.stats import theilslopes

    idx = np.array(sorted(refs), dtype=np.float64)
    v = np.log([refs[int(i)] for i in idx])
    if idx.size >= 3 and np.ptp(v) > 0:
        slope, intercept = theilslopes(v, idx)[:2]
        trend = intercept + slope * idx
    else:
        trend = np.full(idx.size, float(np.median(v)) if idx.size else 0.0)
    levels = trend + share * (v - trend)
    keys = [int(i) for i in idx]
    return (dict(zip(keys, np.exp(levels).tolist())), dict(zip(keys, np.exp(trend).tolist())))


class NetworkSpace(TypingProtocol):
    """What :func:`measure_archs` needs of a search space (the profiler sits below
    :mod:`hwlat.spaces`, so it names the methods instead of the class)."""

    @property
    def name(self) -> str: ...

    def build(self, arch: Any, *, seed: int = 0) -> Graph: ...

    def encode(self, arch: Any) -> str: ...

    def reference_arch(self) -> Any: ...


@dataclass
class NetworkMeasurements:
    """End-to-end latencies (ms, the protocol's statistic) of networks, ``passes`` copies each.

    ``ms`` has shape ``(n, passes)``: at the reference's level ``reference_level_ms`` when the
    networks were measured beside a reference (see the module docstring), else as measured;
    ``raw_ms`` as measured. ``records`` holds every copy's statistics (median, p90, IQR,
    stability, ``reference_ms`` of its chunk...) in the same order, ``records[i][p]``.
    """

    ms: np.ndarray
    records: list[list[dict[str, Any]]]
    interference: Interference | None
    statistic: str
    raw_ms: np.ndarray | None = None
    reference_level_ms: float | None = None
    reference: str | None = None  # the reference network's text form
    trend: tuple[float, float] | None = None  # the drift trend at the first and last chunk (ms)

    @property
    def drift(self) -> dict[str, Any] | None:
        """How far the machine drifted over the run: the reference's chunk estimates over its level
        (min, median, max) and the median correction applied (levelled / raw); None without one."""
        if self.reference_level_ms is None or self.raw_ms is None:
            return None
        refs = np.array([r["reference_ms"] for rs in self.records for r in rs if r.get("reference_ms")], float)
        if refs.size == 0:
            return None
        ratio = refs / self.reference_level_ms
        first, last = self.trend or (self.reference_level_ms, self.reference_level_ms)
        return {"reference": self.reference, "level_ms": self.reference_level_ms,
                "chunk_ratio_min": float(ratio.min()), "chunk_ratio_median": float(np.median(ratio)),
                "chunk_ratio_max": float(ratio.max()),
                "trend_first": first / self.reference_level_ms, "trend_last": last / self.reference_level_ms,
                "chunk_share": CHUNK_SHARE,
                "median_correction": float(np.median(self.ms / self.raw_ms))}

    def drift_summary(self) -> str:
        return drift_text(self.drift)

    def __getitem__(self, idx: Any) -> Any:  # measurements[:, 0] reads like the array
        return self.ms[idx]

    @property
    def unstable(self) -> int:
        return sum(bool(r.get("unstable")) for rs in self.records for r in rs)


def drift_text(drift: dict[str, Any] | None) -> str:
    """One line for a person about :attr:`NetworkMeasurements.drift`."""
    if drift is None:
        return "drift: not measured (no reference network)"
    trend = (f", its trend x{drift['trend_first']:.2f} to x{drift['trend_last']:.2f} over the run"
             if "trend_first" in drift else "")
    return (f"drift: the reference network ran x{drift['chunk_ratio_min']:.2f} to x{drift['chunk_ratio_max']:.2f} "
            f"of its level across chunks{trend}; latencies are at its level "
            f"(median correction x{drift['median_correction']:.3f})")


def _measure(keys: list[list[str]], make_item: Callable[[Meter, int, str], Item], dev: DeviceSpec, rt: Runtime,
             protocol: Protocol, out_dir: str | os.PathLike[str] | None,
             progress: bool, chunk_size: int, seed: int, what: str,
             reference: tuple[str, Callable[[Meter], Item]] | None = None,
             level_ms: float | None = None, kind: str = "networks", key_prefix: str = "pass") -> NetworkMeasurements:
    from hwlat._io import ensure_writable_dir

    ckpt = None
    if out_dir is not None:
        path = adopt_legacy(ensure_writable_dir(out_dir), kind, key_prefix)
        ckpt = Checkpoint(path, checkpoint_header(dev, rt, protocol, kind))
    try:
        job = MeasureJob(rt, protocol, checkpoint=ckpt, rng=np.random.default_rng(seed),
                         reference=reference[1] if reference is not None else None)
        # the copies of one network stay side by side, so a chunk always holds all of them
        items = [(k, make_item(job.meter, i, k)) for i, ks in enumerate(keys) for k in ks]
        passes = max(len(ks) for ks in keys) if keys else 1
        done = sum(k in job.rows for k, _ in items)
        with progress_bar(total=len(items), initial=done, unit="net", desc=what,
                          disable=not progress or done == len(items)) as bar:
            rows = job.run(items, chunk_size=max(1, chunk_size) * passes, on_done=lambda _k: bar.update(1))
    finally:
        if ckpt is not None:
            ckpt.close()
    records = [[rows[k] for k in ks] for ks in keys]
    raw = np.array([[r["latency_ms"] for r in rs] for rs in records], dtype=np.float64).reshape(len(keys), -1)
    level = level_ms if level_ms is not None else job.reference_level_ms()
    if reference is None or level is None:
        return NetworkMeasurements(raw, records, job.interference(), protocol.statistic, raw)
    refs = {int(k.split("#", 1)[1]): r["latency_ms"] for k, r in job.rows.items()
            if k.startswith(REFERENCE_KEY + "#")}
    levels, trend = reference_levels(refs)
    chunk_of = {ms: c for c, ms in refs.items()}  # records written before they named their chunk

    def factor(r: dict[str, Any]) -> float:
        if not r.get("reference_ms"):
            return 1.0  # resumed from a run without a reference: as measured
        c = r.get("chunk")
        c = c if c in levels else chunk_of.get(r["reference_ms"])
        return level / (levels[c] if c is not None else r["reference_ms"])

    f = np.array([[factor(r) for r in rs] for rs in records], dtype=np.float64).reshape(raw.shape)
    ends = (trend[min(trend)], trend[max(trend)]) if trend else None
    return NetworkMeasurements(raw * f, records, job.interference(), protocol.statistic, raw, level,
                               reference[0], ends)


def measure_archs(space: NetworkSpace, archs: Sequence[Any], device: DeviceSpec | Runtime | str, *,
                  protocol: Protocol | None = None,
                  out_dir: str | os.PathLike[str] | None = None, passes: int = 1, tag: str = "",
                  progress: bool = True, chunk_size: int = 8, seed: int = 0,
                  runtime: Runtime | None = None, reference: bool = True,
                  level_ms: float | None = None, kind: str = "networks") -> NetworkMeasurements:
    """End-to-end latency (ms) of each architecture of ``space``, ``passes`` copies each.

    Networks are measured ``chunk_size`` at a time, every copy of a network in the same chunk.
    With ``reference`` (the default) the space's reference network is timed in every chunk and
    the latencies are reported at its level: this run's, or ``level_ms`` when given (the
    ``reference_level_ms`` of an earlier run on the same device), see the module docstring.
    With ``out_dir`` each result is checkpointed and a rerun measures only what is missing; the
    checkpoint is ``out_dir/KIND.jsonl``, ``kind`` naming the run (``validate``, ``calibration``,
    ``gallery``...), so that runs of other kinds sharing the folder keep files of their own.
    ``device`` is a device (or its name), whose runtime is opened and closed here, or an opened
    :class:`~hwlat.profiler.runtimes.Runtime` (as ``runtime``), which is used and left open.
    """
    if passes < 1:
        raise InputError(f"passes must be >= 1, got {passes}")
    protocol = protocol or Protocol()
    names = [space.encode(a) for a in archs]
    keys = [[f"{tag}pass{p}|{n}" for p in range(passes)] for n in names]

    def make_item(meter: Meter, i: int, key: str) -> Item:
        return meter.graph_item(key, lambda: space.build(archs[i], seed=protocol.seed))

    ref = None
    if reference:
        ref_arch = space.reference_arch()

        def reference_item(meter: Meter) -> Item:
            return meter.graph_item(REFERENCE_KEY, lambda: space.build(ref_arch, seed=protocol.seed))
        ref = (space.encode(ref_arch), reference_item)
    elif level_ms is not None:
        raise InputError("level_ms needs the reference network (reference=True)")
    with open_runtime(device, runtime) as (dev, rt):
        return _measure(keys, make_item, dev, rt, protocol, out_dir, progress, chunk_size, seed,
                        f"measuring {space.name} on {dev.name}", ref, level_ms, kind, f"{tag}pass")


def measure_files(paths: Sequence[str | os.PathLike[str]], device: DeviceSpec | Runtime | str, *,
                  protocol: Protocol | None = None,
                  passes: int = 1, progress: bool = True, runtime: Runtime | None = None,
                  out_dir: str | os.PathLike[str] | None = None, kind: str = "measure") -> NetworkMeasurements:
    """End-to-end latency (ms) of model files (``.onnx`` / ``.tflite``, the device runtime's format);
    ``device``, ``runtime`` and ``kind`` (the checkpoint ``out_dir/KIND.jsonl``) as for :func:`measure_archs`."""
    protocol = protocol or Protocol()
    from hwlat._files import check_input_file

    files = [check_input_file(p, "model file", fix="give the path of a model file") for p in paths]
    keys = [[f"pass{p}|{f}" for p in range(passes)] for f in files]

    def make_item(meter: Meter, i: int, key: str) -> Item:
        return meter.file_item(key, files[i])

    with open_runtime(device, runtime) as (dev, rt):
        return _measure(keys, make_item, dev, rt, protocol, out_dir, progress, len(files), protocol.seed,
                        f"measuring on {dev.name}", kind=kind)
