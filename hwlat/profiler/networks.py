"""Whole networks measured end to end with the same protocol and statistic as the table's ops.

:func:`measure_archs` measures architectures of a search space (``validate``, calibration, the
gallery's measured column); :func:`measure_files` model files (``hwlat measure``). With
``passes=2`` every network is prepared twice and both copies are measured in the *same* chunk,
their rounds interleaved: the second copy is the noise floor of the first, taken under the same
conditions, not minutes later.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwlat._progress import progress_bar
from hwlat.errors import InputError
from hwlat.profiler.checkpoint import Checkpoint, checkpoint_header
from hwlat.profiler.jobs import MeasureJob
from hwlat.profiler.meter import Interference
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.transports import open_runtime

__all__ = ["NetworkMeasurements", "measure_archs", "measure_files", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "measurements.jsonl"


@dataclass
class NetworkMeasurements:
    """End-to-end latencies (ms, the protocol's statistic) of networks, ``passes`` copies each.

    ``ms`` has shape ``(n, passes)``; ``records`` holds every copy's statistics (median, p90,
    IQR, stability...) in the same order, ``records[i][p]``.
    """

    ms: np.ndarray
    records: list[list[dict[str, Any]]]
    interference: Interference | None
    statistic: str

    def __getitem__(self, idx: Any) -> Any:  # measurements[:, 0] reads like the array
        return self.ms[idx]

    @property
    def unstable(self) -> int:
        return sum(bool(r.get("unstable")) for rs in self.records for r in rs)


def _measure(keys: list[list[str]], make_item: Any, dev: Any, rt: Any, protocol: Protocol, out_dir: Any,
             progress: bool, chunk_size: int, seed: int, what: str) -> NetworkMeasurements:
    from hwlat._io import ensure_writable_dir

    ckpt = None
    if out_dir is not None:
        ckpt = Checkpoint(ensure_writable_dir(out_dir) / CHECKPOINT_NAME, checkpoint_header(dev, rt, protocol))
    try:
        job = MeasureJob(rt, protocol, checkpoint=ckpt, rng=np.random.default_rng(seed))
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
    ms = np.array([[r["latency_ms"] for r in rs] for rs in records], dtype=np.float64).reshape(len(keys), -1)
    return NetworkMeasurements(ms, records, job.interference(), protocol.statistic)


def measure_archs(space: Any, archs: Sequence[Any], device: Any, *, protocol: Protocol | None = None,
                  out_dir: str | os.PathLike[str] | None = None, passes: int = 1, tag: str = "",
                  progress: bool = True, chunk_size: int = 8, seed: int = 0,
                  runtime: Any = None) -> NetworkMeasurements:
    """End-to-end latency (ms) of each architecture of ``space``, ``passes`` copies each.

    Networks are measured ``chunk_size`` at a time, every copy of a network in the same chunk.
    With ``out_dir`` each result is checkpointed and a rerun measures only what is missing.
    ``device`` is a device (or its name), whose runtime is opened and closed here, or an opened
    :class:`~hwlat.profiler.runtimes.Runtime` (as ``runtime``), which is used and left open.
    """
    if passes < 1:
        raise InputError(f"passes must be >= 1, got {passes}")
    protocol = protocol or Protocol()
    names = [space.encode(a) for a in archs]
    keys = [[f"{tag}pass{p}|{n}" for p in range(passes)] for n in names]

    def make_item(meter: Any, i: int, key: str) -> Any:
        return meter.graph_item(key, lambda: space.build(archs[i], seed=protocol.seed))

    with open_runtime(device, runtime) as (dev, rt):
        return _measure(keys, make_item, dev, rt, protocol, out_dir, progress, chunk_size, seed,
                        f"measuring {space.name} on {dev.name}")


def measure_files(paths: Sequence[str | os.PathLike[str]], device: Any, *, protocol: Protocol | None = None,
                  passes: int = 1, progress: bool = True, runtime: Any = None,
                  out_dir: str | os.PathLike[str] | None = None) -> NetworkMeasurements:
    """End-to-end latency (ms) of model files (``.onnx`` / ``.tflite``, the device runtime's format);
    ``device`` and ``runtime`` as for :func:`measure_archs`."""
    protocol = protocol or Protocol()
    files = [Path(p) for p in paths]
    for f in files:
        if not f.is_file():
            raise InputError(f"model file {f} does not exist; give the path of a model file")
    keys = [[f"pass{p}|{f}" for p in range(passes)] for f in files]

    def make_item(meter: Any, i: int, key: str) -> Any:
        return meter.file_item(key, files[i])

    with open_runtime(device, runtime) as (dev, rt):
        return _measure(keys, make_item, dev, rt, protocol, out_dir, progress, len(files), protocol.seed,
                        f"measuring on {dev.name}")
