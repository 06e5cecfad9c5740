"""The measurement protocol: how long to warm up, how many timed runs, how many rounds."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from hwlat.errors import InputError

__all__ = ["Protocol"]


@dataclass(frozen=True)
class Protocol:
    """How an op is timed. Every field has a default; all are recorded with each table.

    Warm-up runs in batches of ``warmup_batch`` calls until three consecutive batch medians agree
    within ``warmup_tol`` (at least ``warmup_min_runs`` calls, at most
    ``warmup_max_runs`` calls or ``warmup_max_s`` seconds). Then ``rounds`` rounds are timed,
    interleaved across ops (round 1 of every op, then round 2 of every op...), each round
    taking samples for at least ``round_time_s`` seconds and ``min_runs`` samples (at most
    ``max_runs``). A sample is the mean of as many back-to-back calls as last
    ``sample_time_s`` (one call for ops slower than that; 0 = always one call). A measurement whose IQR/median exceeds ``noise_iqr`` or whose round
    medians spread by more than ``noise_spread`` of the median is flagged noisy and measured
    again, up to ``remeasure`` times, with its new rounds pooled with the old ones.
    """

    warmup_min_runs: int = 10
    warmup_max_runs: int = 500
    warmup_batch: int = 5
    warmup_tol: float = 0.05
    warmup_max_s: float = 2.0
    rounds: int = 5
    round_time_s: float = 0.05
    sample_time_s: float = 0.001
    min_runs: int = 5
    max_runs: int = 1000
    noise_iqr: float = 0.10
    noise_spread: float = 0.10
    remeasure: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("int", int):
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise InputError(f"protocol field {f.name} must be a non-negative integer, got {v!r}")
            elif not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise InputError(f"protocol field {f.name} must be a non-negative number, got {v!r}")
        if self.rounds < 1 or self.min_runs < 1 or self.warmup_batch < 1:
            raise InputError("protocol needs rounds >= 1, min_runs >= 1 and warmup_batch >= 1")
        if self.max_runs < self.min_runs:
            raise InputError(f"protocol max_runs ({self.max_runs}) is below min_runs ({self.min_runs})")

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
        return cls(warmup_min_runs=5, warmup_max_runs=100, rounds=3, round_time_s=0.01, sample_time_s=0.0005,
                   min_runs=3, remeasure=1)

    def replace(self, **changes: Any) -> Protocol:
        return Protocol(**{**self.to_dict(), **changes})
