"""A simulated machine that runs at two speeds, for testing the statistics of the protocol.

Every prepared model has a true latency derived from its graph. Calls advance a simulated clock
shared by all models of one machine; the machine switches between a quiet and a slow mode as
that clock runs (slow spells of ``slow_s`` seconds between quiet spells of ``quiet_s``, each
drawn from an exponential law, or a fixed ``schedule`` of (until_s, slow) spells). In the slow
mode a call takes ``factor`` times longer. ``level`` (a function of that clock) is a slow drift
on top: every call takes ``level(now)`` times longer (1.07: a spell 7 % slow, below what the
canary calls slow). Every call also gets a little positive jitter: interference only ever adds time.
With ``partial`` a call's work runs on through the spells it meets, as on a real host: a call
longer than the quiet spells is rarely undisturbed from start to end.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hwlat.profiler.runtimes.base import Prepared, Runtime


class TwoSpeedMachine:
    def __init__(self, *, factor: float = 1.7, quiet_s: float = 0.4, slow_s: float = 0.8, jitter: float = 0.01,
                 seed: int = 0, schedule: list[tuple[float, bool]] | None = None,
                 level: Callable[[float], float] | None = None, partial: bool = False) -> None:
        self.factor, self.quiet_s, self.slow_s, self.jitter = factor, quiet_s, slow_s, jitter
        self.level = level
        if partial and (schedule is not None or level is not None):
            raise ValueError("partial calls need the random spells, without a schedule or a level")
        self.partial = partial
        self.rng = np.random.default_rng(seed)
        self.now = 0.0
        self.schedule = schedule
        self.slow = False
        self._until = self.rng.exponential(quiet_s)
        self.calls = 0
        self.slow_calls = 0

    def _mode(self) -> bool:
        if self.schedule is not None:
            for until, slow in self.schedule:
                if self.now < until:
                    return slow
            return self.schedule[-1][1]
        while self.now >= self._until:
            self.slow = not self.slow
            self._until += self.rng.exponential(self.slow_s if self.slow else self.quiet_s)
        return self.slow

    def call(self, true_s: float) -> float:
        if self.partial:
            return self._call_through_spells(true_s)
        slow = self._mode()
        t = true_s * (self.factor if slow else 1.0) * (1.0 + self.rng.exponential(self.jitter))
        if self.level is not None:
            t *= self.level(self.now)
        self.now += t
        self.calls += 1
        self.slow_calls += slow
        return t


    def _call_through_spells(self, true_s: float) -> float:
        """A call whose work runs on through the spells it meets: a call longer than a quiet
        spell is slowed by the share of it that falls in slow spells."""
        work = true_s * (1.0 + self.rng.exponential(self.jitter))
        start, slow_any = self.now, False
        while work > 0:
            slow = self._mode()
            slow_any |= slow
            rate = 1.0 / self.factor if slow else 1.0
            step = min(work / rate, self._until - self.now)
            self.now += step
            work -= step * rate
            if work > 1e-15:
                self.now = max(self.now, self._until)  # float rounding: move into the next spell
        self.calls += 1
        self.slow_calls += slow_any
        return self.now - start


def true_latency_s(graph) -> float:
    """A latency that depends on the graph only: 20 µs plus 1 ns per output element and weight."""
    work = sum(int(np.prod(graph.shapes[n.output])) + sum(w.size for w in n.weights.values()) for n in graph.nodes)
    return 20e-6 + 1e-9 * work


class _Prepared(Prepared):
    def __init__(self, machine: TwoSpeedMachine, true_s: float) -> None:
        self.inputs = []
        self.machine, self.true_s = machine, true_s

    def run(self) -> None:  # pragma: no cover - time_calls is overridden
        self.machine.call(self.true_s)

    def outputs(self):  # pragma: no cover
        return []

    def time_calls(self, n: int) -> np.ndarray:
        return np.array([self.machine.call(self.true_s) for _ in range(n)])


class TwoSpeedRuntime(Runtime):
    """A runtime whose models run on a :class:`TwoSpeedMachine`."""

    name = "fake"
    model_format = "onnx"
    providers = ("cpu",)

    def __init__(self, machine: TwoSpeedMachine, scale: float = 1.0, **kw) -> None:
        super().__init__(**kw)
        self.machine = machine
        self.scale = scale
        self.prepared_true: dict[str, float] = {}

    @classmethod
    def is_available(cls) -> bool:
        return True

    @classmethod
    def version(cls) -> str:
        return "0"

    def prepare(self, graph, *, seed: int = 0) -> Prepared:
        return _Prepared(self.machine, true_latency_s(graph) * self.scale)
