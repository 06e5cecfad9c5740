"""``Measurement``: raw times of one item (an op or a whole model) and the statistics computed from them.

A shared machine runs at more than one speed: a neighbour on the same core or a background job
slows every call for seconds at a time. The statistic that reports an item's latency therefore
has to land on the machine's *quiet* speed every time, not on whichever speed happened to
dominate one pass. The statistics offered (:data:`STATISTICS`):

* ``min``: the fastest single call. Interference only ever adds time to a call, so the minimum of
  many calls spread over many rounds is the undisturbed latency.
* ``p5`` / ``p10``: the 5th / 10th percentile of all calls.
* ``quiet``: the median of the calls of the item's quiet rounds, those whose fastest call lies
  within :data:`QUIET_BAND` of the item's overall minimum: the typical call in the quiet mode.
* ``median`` / ``mean``: of all calls; they land on the dominant speed of the pass.

``benchmarks/bench_statistic.py`` measures how well each one repeats between passes on this kind
of machine; the protocol's default is the winner (see :class:`~hwlat.profiler.Protocol`).

An estimate is *stable* when it agrees with itself: the statistic computed on the even rounds
and on the odd rounds (interleaved in time) must agree within the protocol's ``stability_tol``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["Measurement", "STATISTICS", "QUIET_BAND", "check_statistic"]

#: the statistics a measurement can report (see the module docstring)
STATISTICS: tuple[str, ...] = ("min", "p5", "p10", "quiet", "median", "mean")
#: a round is quiet for the ``quiet`` statistic when its fastest call is within this of the overall minimum
QUIET_BAND = 0.03


def check_statistic(statistic: str) -> str:
    from hwlat.errors import InputError

    if statistic not in STATISTICS:
        raise InputError(f"unknown statistic {statistic!r}; choose one of {', '.join(STATISTICS)}")
    return statistic


def _estimate(rounds: Sequence[np.ndarray], statistic: str) -> float:
    """``statistic`` (seconds) of the calls of ``rounds``."""
    allt = np.concatenate(rounds)
    if statistic == "min":
        return float(allt.min())
    if statistic == "p5":
        return float(np.percentile(allt, 5))
    if statistic == "p10":
        return float(np.percentile(allt, 10))
    if statistic == "median":
        return float(np.median(allt))
    if statistic == "mean":
        return float(allt.mean())
    if statistic == "quiet":
        lo = float(allt.min())
        quiet = [r for r in rounds if r.min() <= lo * (1 + QUIET_BAND)]
        return float(np.median(np.concatenate(quiet)))
    check_statistic(statistic)
    raise AssertionError("unreachable")


@dataclass(eq=False)
class Measurement:
    """The times (seconds) of repeated calls of one prepared model, kept per round.

    Each time is one sample: a single call, or the mean of ``number`` back-to-back calls where
    one call is shorter than the clock resolves. ``latency_ms`` is the protocol's
    ``statistic``; the distribution (median, quantiles, IQR) is kept beside it.

    >>> m = Measurement("conv", [np.full(10, 1.1e-3), np.full(10, 1e-3)], statistic="min")
    >>> round(m.latency_ms, 3), round(m.median_ms, 3)
    (1.0, 1.05)
    """

    label: str
    rounds: list[np.ndarray]
    threads: int | None = None
    warmup_runs: int = 0
    statistic: str = "min"
    stability_tol: float = 0.02
    remeasured: int = 0
    number: int = 1
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rounds = [np.asarray(r, dtype=np.float64).ravel() for r in self.rounds if len(r)]
        if not self.rounds:
            raise ValueError(f"measurement of {self.label} has no times")
        check_statistic(self.statistic)

    # -- the distribution -----------------------------------------------------------------------
    @cached_property
    def times_ms(self) -> np.ndarray:
        return np.concatenate(self.rounds) * 1e3

    @property
    def n(self) -> int:
        return int(self.times_ms.size)

    @cached_property
    def _quantiles(self) -> np.ndarray:
        return np.percentile(self.times_ms, [10, 25, 50, 75, 90])

    @property
    def median_ms(self) -> float:
        return float(self._quantiles[2])

    @property
    def iqr_ms(self) -> float:
        return float(self._quantiles[3] - self._quantiles[1])

    @property
    def p10_ms(self) -> float:
        return float(self._quantiles[0])

    @property
    def p90_ms(self) -> float:
        return float(self._quantiles[4])

    @property
    def min_ms(self) -> float:
        return float(self.times_ms.min())

    @property
    def mean_ms(self) -> float:
        return float(self.times_ms.mean())

    @property
    def std_ms(self) -> float:
        return float(self.times_ms.std(ddof=1)) if self.n > 1 else 0.0

    @property
    def round_medians_ms(self) -> list[float]:
        return [float(np.median(r) * 1e3) for r in self.rounds]

    @property
    def round_minima_ms(self) -> list[float]:
        return [float(r.min() * 1e3) for r in self.rounds]

    # -- the estimate ---------------------------------------------------------------------------
    def estimate_ms(self, statistic: str | None = None) -> float:
        """The latency (ms) by ``statistic`` (default: this measurement's own)."""
        return _estimate(self.rounds, statistic or self.statistic) * 1e3

    @cached_property
    def latency_ms(self) -> float:
        """The reported latency (ms): the protocol's statistic."""
        return self.estimate_ms()

    def halves_ms(self, statistic: str | None = None) -> tuple[float, float] | None:
        """The estimate on the even and on the odd rounds (ms); None with fewer than two rounds."""
        if len(self.rounds) < 2:
            return None
        st = statistic or self.statistic
        return _estimate(self.rounds[0::2], st) * 1e3, _estimate(self.rounds[1::2], st) * 1e3

    @property
    def stability(self) -> float:
        """How far the estimate disagrees with itself: |even − odd| / their mean (0 with one round)."""
        h = self.halves_ms()
        if h is None:
            return 0.0
        a, b = h
        return abs(a - b) / max((a + b) / 2, 1e-300)

    @property
    def unstable(self) -> bool:
        """The estimate's two interleaved halves disagree by more than ``stability_tol``."""
        return self.stability > self.stability_tol

    def merge(self, other: Measurement) -> Measurement:
        """This measurement with ``other``'s rounds appended (same item, more data)."""
        return Measurement(self.label, [*self.rounds, *other.rounds], self.threads,
                           self.warmup_runs + other.warmup_runs, self.statistic, self.stability_tol,
                           self.remeasured, self.number, dict(self.extra))

    def to_stats(self) -> dict[str, float | int | bool]:
        """The statistics a latency table stores for this item."""
        return {
            "latency_ms": self.latency_ms,
            "min_ms": self.min_ms,
            "median_ms": self.median_ms,
            "iqr_ms": self.iqr_ms,
            "p10_ms": self.p10_ms,
            "p90_ms": self.p90_ms,
            "mean_ms": self.mean_ms,
            "std_ms": self.std_ms,
            "n": self.n,
            "rounds": len(self.rounds),
            "stability_pct": 100 * self.stability,
            "unstable": bool(self.unstable),
            "remeasured": int(self.remeasured),
        }

    def __repr__(self) -> str:
        lat = self.latency_ms
        unit, scale = ("µs", 1e3) if lat < 1 else ("ms", 1.0)
        flag = ", UNSTABLE" if self.unstable else ""
        calls = f" x{self.number} calls" if self.number > 1 else ""
        return (f"{self.label}: {lat * scale:.1f} {unit} ({self.statistic}; median {self.median_ms * scale:.1f}), "
                f"n={self.n}{calls}, rounds={len(self.rounds)}{flag}")

    @classmethod
    def from_times(cls, label: str, times_s: Sequence[float] | np.ndarray, **kw) -> Measurement:
        return cls(label, [np.asarray(times_s)], **kw)
