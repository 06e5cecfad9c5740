"""``Measurement``: raw times of one op and the statistics computed from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["Measurement"]


@dataclass(eq=False)
class Measurement:
    """The times (seconds) of repeated calls of one prepared model, kept per round.

    Each time is one sample: the mean of ``number`` back-to-back calls (1 for slow ops).

    Statistics are computed lazily, in milliseconds. ``noisy`` says when the numbers are not to
    be trusted: the interquartile range is large against the median, or the rounds disagree.

    >>> m = Measurement("conv", [np.full(10, 1e-3), np.full(10, 1.1e-3)])
    >>> round(m.median_ms, 3)
    1.05
    """

    label: str
    rounds: list[np.ndarray]
    threads: int | None = None
    warmup_runs: int = 0
    noise_iqr: float = 0.10
    noise_spread: float = 0.10
    remeasured: int = 0
    number: int = 1
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rounds = [np.asarray(r, dtype=np.float64).ravel() for r in self.rounds if len(r)]
        if not self.rounds:
            raise ValueError(f"measurement of {self.label} has no times")

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
    def mean_ms(self) -> float:
        return float(self.times_ms.mean())

    @property
    def std_ms(self) -> float:
        return float(self.times_ms.std(ddof=1)) if self.n > 1 else 0.0

    @property
    def round_medians_ms(self) -> list[float]:
        return [float(np.median(r) * 1e3) for r in self.rounds]

    @property
    def round_spread(self) -> float:
        """(max - min) of the round medians over the overall median; 0 with one round."""
        rm = self.round_medians_ms
        return (max(rm) - min(rm)) / self.median_ms if len(rm) > 1 and self.median_ms > 0 else 0.0

    @property
    def relative_iqr(self) -> float:
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else float("inf")

    @property
    def noisy(self) -> bool:
        return self.relative_iqr > self.noise_iqr or self.round_spread > self.noise_spread

    def merge(self, other: Measurement) -> Measurement:
        """This measurement with ``other``'s rounds appended (same op, more data)."""
        return Measurement(self.label, [*self.rounds, *other.rounds], self.threads,
                           self.warmup_runs + other.warmup_runs, self.noise_iqr, self.noise_spread,
                           self.remeasured, self.number, dict(self.extra))

    def to_stats(self) -> dict[str, float | int | bool | list[float]]:
        """The statistics a latency table stores for this op."""
        return {
            "median_ms": self.median_ms,
            "iqr_ms": self.iqr_ms,
            "p10_ms": self.p10_ms,
            "p90_ms": self.p90_ms,
            "mean_ms": self.mean_ms,
            "std_ms": self.std_ms,
            "n": self.n,
            "noisy": bool(self.noisy),
            "remeasured": int(self.remeasured),
        }

    def __repr__(self) -> str:
        med = self.median_ms
        unit, scale = ("µs", 1e3) if med < 1 else ("ms", 1.0)
        flag = ", NOISY" if self.noisy else ""
        calls = f" x{self.number} calls" if self.number > 1 else ""
        return (f"{self.label}: {med * scale:.1f} {unit} ± {self.iqr_ms * scale:.1f} (IQR), "
                f"n={self.n}{calls}, rounds={len(self.rounds)}{flag}")

    @classmethod
    def from_times(cls, label: str, times_s: Sequence[float] | np.ndarray, **kw) -> Measurement:
        return cls(label, [np.asarray(times_s)], **kw)
