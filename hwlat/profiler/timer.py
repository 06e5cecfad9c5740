"""Timing one prepared model: warm-up until stable, then timed rounds."""

from __future__ import annotations

import math
import time

import numpy as np

from hwlat.profiler.protocol import Protocol
from hwlat.profiler.runtimes.base import Prepared

__all__ = ["warm_up", "time_round", "runs_for_round", "plan_round"]


def warm_up(prepared: Prepared, protocol: Protocol) -> tuple[int, float]:
    """Run until the call time is stable; return (calls made, estimated seconds per call).

    Stable means three consecutive batch medians agree within ``warmup_tol``.
    """
    batch = protocol.warmup_batch
    start = time.perf_counter()
    runs = 0
    prev: float | None = None
    est = math.inf
    agreed = 0  # consecutive batches whose median agreed with the one before
    while True:
        t = prepared.time_calls(batch)
        runs += batch
        med = float(np.median(t))
        est = med
        if prev is not None and abs(med - prev) <= protocol.warmup_tol * max(prev, 1e-12):
            agreed += 1
        else:
            agreed = 0
        if runs >= protocol.warmup_min_runs and agreed >= 2:
            break
        if runs >= protocol.warmup_max_runs or time.perf_counter() - start >= protocol.warmup_max_s:
            break
        prev = med
    return runs, est


def runs_for_round(est_call_s: float, protocol: Protocol) -> int:
    """How many calls one round needs to last ``round_time_s`` (clamped to min/max runs)."""
    if not math.isfinite(est_call_s) or est_call_s <= 0:
        return protocol.min_runs
    n = math.ceil(protocol.round_time_s / est_call_s)
    return int(min(max(n, protocol.min_runs), protocol.max_runs))


def plan_round(est_call_s: float, protocol: Protocol) -> tuple[int, int]:
    """(samples per round, calls per sample) for an op whose call takes about ``est_call_s``."""
    number = 1
    if protocol.sample_time_s > 0 and math.isfinite(est_call_s) and est_call_s > 0:
        number = max(1, int(protocol.sample_time_s // est_call_s))
    return runs_for_round(est_call_s * number, protocol), number


def time_round(prepared: Prepared, n: int, number: int = 1) -> np.ndarray:
    """``n`` timed samples of ``number`` calls each, mean seconds per call."""
    return prepared.time_samples(n, number)
