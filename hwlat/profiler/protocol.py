"""The measurement protocol: how long to warm up, how many timed runs, how many rounds."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from hwlat.errors import InputError
from hwlat.profiler.measurement import check_statistic

__all__ = ["Protocol"]


@dataclass(frozen=True)
class Protocol:
    """How an item (an op or a whole model) is timed. Every field has a default; all are recorded
    with each table and each measurement.

    *Warm-up* runs in batches of ``warmup_batch`` calls until three consecutive batch medians
    agree within ``warmup_tol`` (at least ``warmup_min_runs`` calls, at most ``warmup_max_runs``
    calls or ``warmup_max_s`` seconds).

    *Rounds.* Then ``rounds`` short rounds are timed, interleaved across the items measured
    together (a chunk) in a fresh random order each round, so that the machine's slow spells hit
    every item alike and every item gets calls in its quiet spells. A round of an item takes
    samples for ``round_time_s`` seconds (at least ``min_runs``, at most ``max_runs`` samples). A
    sample is a single call; only a call shorter than ``sample_time_s`` (which the clock and the
    timing loop cannot resolve well) is batched with back-to-back calls up to that time.

    *Statistic.* The reported latency is ``statistic`` over all samples (see
    :data:`~hwlat.profiler.measurement.STATISTICS`; ``benchmarks/bench_statistic.py`` chose the
    default). The distribution (median, p10/p90, IQR) is kept beside it.

    *Stability.* An item whose estimate on its even rounds and on its odd rounds disagree by more
    than ``stability_tol`` gets ``rounds`` more rounds, up to ``remeasure`` times. With a
    ``settle_budget`` above 0 an item still unstable, or still short of quiet rounds, then gets
    more rounds while the chunk's extra timed calls stay under ``settle_budget`` times its first
    pass: on a host that runs slow nearly all the time, with quiet spells shorter than a call,
    that buys agreement with time. It is off by default: on this project's shared development
    host, in a run where 98 % of canary rounds ran slow (x1.19), a budget of 6 was spent in
    full on every Once-for-All network, took the benchmark's row from minutes to 68 minutes
    and left its figures where they were (``benchmarks/RESULTS.md``).

    *Canary.* With ``canary`` on, a small fixed model is timed in every round of every chunk. The
    fastest canary estimate of the run is the machine's quiet level; a round whose canary is more
    than ``slow_tol`` above it ran in a slow spell (the run's *interference figure* is the share
    of such rounds). An item needs ``min_quiet_rounds`` rounds in which the canary came within
    ``quiet_tol`` of the quiet level; one with fewer gets more rounds (after waiting, up to
    ``quiet_wait_s`` in all, for the machine to be quiet when no round of its chunk was), and is
    measured again at the end of the run if the level, known only then, says so.
    With ``reference`` on, the quiet level also remembers the quietest canary of earlier runs on
    this host, device and runtime (:mod:`hwlat.profiler.quiet`): a run that falls entirely in
    one slow spell is then caught too.

    *In context.* When profiling ops, an op whose output has its input's shape is also timed as
    a chain of ``context_copies`` copies of itself, in the same chunk; the table's
    ``context_ms`` is its marginal cost there, ``(T_chain - T_op) / (copies - 1)``: the op with
    its input just written in the runtime's own layout, as inside a network, without the
    per-call overhead and layout conversions it pays alone (0 = not timed).
    """

    warmup_min_runs: int = 10
    warmup_max_runs: int = 500
    warmup_batch: int = 5
    warmup_tol: float = 0.05
    warmup_max_s: float = 1.0
    rounds: int = 12
    round_time_s: float = 0.004
    sample_time_s: float = 2e-6
    min_runs: int = 1
    max_runs: int = 1000
    statistic: str = "min"
    stability_tol: float = 0.02
    remeasure: int = 3
    settle_budget: float = 0.0
    canary: bool = True
    quiet_tol: float = 0.10
    min_quiet_rounds: int = 3
    slow_tol: float = 0.15
    reference: bool = True
    quiet_wait_s: float = 20.0
    context_copies: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("str", str):
                continue
            if f.type in ("bool", bool):
                if not isinstance(v, bool):
                    raise InputError(f"protocol field {f.name} must be true or false, got {v!r}")
            elif f.type in ("int", int):
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise InputError(f"protocol field {f.name} must be a non-negative integer, got {v!r}")
            elif not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise InputError(f"protocol field {f.name} must be a non-negative number, got {v!r}")
        if self.rounds < 1 or self.min_runs < 1 or self.warmup_batch < 1:
            raise InputError("protocol needs rounds >= 1, min_runs >= 1 and warmup_batch >= 1")
        if self.max_runs < self.min_runs:
            raise InputError(f"protocol max_runs ({self.max_runs}) is below min_runs ({self.min_runs})")
        check_statistic(self.statistic)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Protocol:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown protocol field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)

    @classmethod
    def quick(cls) -> Protocol:
        """A short protocol for smoke tests and demos: fewer, shorter rounds."""
        return cls(warmup_min_runs=5, warmup_max_runs=100, warmup_max_s=0.3, rounds=6, round_time_s=0.002,
                   remeasure=1)

    def replace(self, **changes: Any) -> Protocol:
        return Protocol(**{**self.to_dict(), **changes})
