"""Whole-model latency and the per-node breakdown of one model.

:func:`profile_model` asks the device's runtime for it (:meth:`Runtime.profile_model`): ONNX
Runtime reads its own trace (:func:`parse_ort_trace`), an adb device the per-op tables of LiteRT's
``benchmark_model``. Every runtime returns the same :class:`ModelProfile`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hwlat.errors import InputError
from hwlat.profiler.measurement import Measurement
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.transports import open_runtime

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec
    from hwlat.profiler.runtimes.base import Runtime

__all__ = ["ModelProfile", "NODE_COLUMNS", "profile_model", "measure_model", "parse_ort_trace"]

#: the columns of :attr:`ModelProfile.nodes` every runtime gives (a runtime may add its own after them)
NODE_COLUMNS = ["node", "op_type", "provider", "latency_ms", "median_ms", "p90_ms", "runs", "share_pct"]


@dataclass
class ModelProfile:
    """A model's end-to-end latency (timed without tracing) and its per-node breakdown.

    ``nodes`` has one row per kernel that ran (names after the runtime's graph optimisation):
    :data:`NODE_COLUMNS` (``node, op_type, provider, latency_ms, median_ms, p90_ms, runs,
    share_pct``), sorted by ``latency_ms`` descending; ``latency_ms`` is the node's time over the
    traced runs (ONNX Runtime: the protocol's statistic; benchmark_model: its mean, the only
    figure it reports, so ``median_ms``/``p90_ms`` are NaN there) and ``share_pct`` the node's
    share of the sum of node latencies. A runtime may add columns of its own after those
    (adb: ``node_index, first_ms, times_called, delegated, subgraph``). ``details`` holds what else
    the runtime reported (JSON-ready).
    """

    path: Path
    device: str
    latency: Measurement
    nodes: pd.DataFrame
    traced_runs: int
    dropped_runs: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def sum_nodes_ms(self) -> float:
        return float(self.nodes["latency_ms"].sum())

    def by_op_type(self) -> pd.DataFrame:
        """``op_type, count, latency_ms, share_pct``, summed over the nodes of each type."""
        g = self.nodes.groupby("op_type", sort=False).agg(count=("node", "size"), latency_ms=("latency_ms", "sum"))
        g["share_pct"] = 100 * g["latency_ms"] / max(g["latency_ms"].sum(), 1e-12)
        return g.sort_values("latency_ms", ascending=False).reset_index()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.path),
            "device": self.device,
            "latency": self.latency.to_stats(),
            "sum_nodes_ms": self.sum_nodes_ms,
            "traced_runs": self.traced_runs,
            "dropped_warmup_runs": self.dropped_runs,
            **self.details,
            "nodes": self.nodes.to_dict(orient="records"),
        }


def parse_ort_trace(events: list[dict[str, Any]], drop_runs: int, statistic: str = "min") -> tuple[pd.DataFrame, int]:
    """Per-node times (ms) from an ONNX Runtime profile, skipping the first ``drop_runs`` runs:
    ``statistic`` over the runs (``latency_ms``), their median and 90th percentile.

    Returns the node table and the number of runs kept.
    """
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    if len(runs) <= drop_runs:
        raise InputError(f"the trace holds {len(runs)} runs, not more than the {drop_runs} warm-up runs to drop")
    kept = runs[drop_runs:]
    starts = np.array([r[0] for r in kept])
    ends = np.array([r[1] for r in kept])
    per_node: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        i = int(np.searchsorted(starts, e["ts"], side="right")) - 1
        if i < 0 or e["ts"] > ends[i]:
            continue  # a warm-up run
        name = e["name"][: -len("_kernel_time")]
        args = e.get("args", {})
        rec = per_node.setdefault(name, {"op_type": args.get("op_name", "?"), "provider": args.get("provider", "?"),
                                         "times": [[] for _ in kept]})
        rec["times"][i].append(e["dur"])
    rows = []
    for name, rec in per_node.items():
        # a node may run more than once per model run (in loops): sum within a run
        per_run = np.array([sum(t) for t in rec["times"] if t], dtype=np.float64) / 1e3
        if per_run.size == 0:
            continue
        rows.append({"node": name, "op_type": rec["op_type"],
                     "provider": rec["provider"].replace("ExecutionProvider", ""),
                     "latency_ms": Measurement(name, [per_run * 1e-3], statistic=statistic).latency_ms,
                     "median_ms": float(np.median(per_run)), "p90_ms": float(np.percentile(per_run, 90)),
                     "runs": int(per_run.size)})
    df = pd.DataFrame(rows, columns=["node", "op_type", "provider", "latency_ms", "median_ms", "p90_ms", "runs"])
    total = df["latency_ms"].sum()
    df["share_pct"] = 100 * df["latency_ms"] / total if total > 0 else 0.0
    return df.sort_values("latency_ms", ascending=False, ignore_index=True), len(kept)


def measure_model(runtime: Runtime, path: str | os.PathLike[str], protocol: Protocol | None = None) -> Measurement:
    """End-to-end latency of a model file on a runtime, with the full protocol (no tracing): the
    same rounds, canary and statistic as a table's ops (see :class:`~hwlat.profiler.meter.Meter`)."""
    from hwlat.profiler.meter import Meter

    meter = Meter(runtime, protocol or Protocol())
    m = meter.measure([meter.file_item(Path(path).name, Path(path))])[0]
    meter.remember()
    m.extra["interference"] = meter.interference().to_dict()
    return m


def profile_model(path: str | os.PathLike[str], device: DeviceSpec | Runtime | str = "cpu-ort", *,
                  protocol: Protocol | None = None, trace_runs: int = 50, warmup_runs: int = 10,
                  dims: Mapping[str, int] | None = None) -> ModelProfile:
    """Profile a model file on ``device`` (a device, its name, or an opened
    :class:`~hwlat.profiler.runtimes.Runtime`): its runtime's :meth:`~Runtime.profile_model`.

    ONNX Runtime devices time the end-to-end latency in an untraced session (tracing adds per-node
    overhead) and read the breakdown from a traced session of ``warmup_runs + trace_runs`` runs,
    the warm-up runs dropped; adb devices run ``benchmark_model`` with ``trace_runs`` runs per
    invocation. Other runtimes raise :class:`~hwlat.errors.UnsupportedOpError`.

    ``dims`` sets an ONNX model's named symbolic input dimensions (ONNX Runtime devices); the
    others are 1, with a warning naming the input and the dimension.
    """
    with open_runtime(device) as (dev, rt):
        extra: dict[str, Any] = {}
        if dims:
            if "dims" not in inspect.signature(rt.profile_model).parameters:
                raise InputError(f"the {rt.name} runtime of {dev.name} takes no symbolic input dimensions (dims, "
                                 "--dim): its model files have static shapes")
            extra["dims"] = dims
        return rt.profile_model(path, protocol=protocol, trace_runs=trace_runs, warmup_runs=warmup_runs,
                                device=dev.name, **extra)
