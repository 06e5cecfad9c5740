"""``Meter``: the measurement protocol run over chunks of items, with a canary that watches the machine.

Every latency hwlat reports (table rows, whole networks in ``validate``, calibration and the
gallery, ``hwlat measure``) goes through one :class:`Meter`, so ops and whole networks share one
protocol and one statistic.

A chunk of items is measured together: each item is prepared and warmed up, then timed in many
short rounds interleaved across the chunk in a fresh random order each round. With the
protocol's ``canary`` on, a small fixed model (:data:`CANARY_SPEC`) is one more item of every
chunk. Its fastest estimate over the whole run is the machine's *quiet level*; each canary round
says whether the machine was quiet or in a slow spell at that moment. That gives

* the run's **interference figure** (:class:`Interference`): the share of rounds that ran slow,
  and how much slower they were;
* a check that each chunk saw the quiet level at all: a chunk whose canary estimate stayed more
  than ``quiet_tol`` above it was measured entirely in a slow spell, and is measured again.

Items whose estimate is unstable (its even and odd rounds disagree by more than
``stability_tol``) get more rounds while their chunk is still prepared.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwlat.errors import UnsupportedOpError
from hwlat.ops.ir import Graph, build_graph
from hwlat.ops.spec import OpSpec, conv
from hwlat.profiler.measurement import Measurement
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.runtimes.base import Prepared
from hwlat.profiler.timer import plan_round, warm_up

__all__ = ["Meter", "Interference", "CANARY_SPEC", "CANARY_LABEL"]

log = logging.getLogger(__name__)

#: the canary: a small compute-bound model (a 3x3 convolution, about 50-100 µs on one desktop core)
CANARY_SPEC: OpSpec = conv((16, 32, 32), 16, 3)
CANARY_LABEL = "__canary__"

#: an item to measure: its label and a function that prepares it on the runtime
Item = tuple[str, Callable[[], Prepared]]


@dataclass
class Interference:
    """How disturbed the machine was during a run, from the canary's rounds.

    ``slow_pct``: the share (%) of rounds whose canary ran more than ``slow_tol`` above the quiet
    level; ``slowdown``: the median canary slowdown in those rounds (1.7 = 70 % slower);
    ``rounds``: canary rounds seen; ``chunks_remeasured``: chunks measured again because they
    never saw the quiet level; ``quiet_ms``: the canary's quiet-level latency.
    """

    slow_pct: float
    slowdown: float
    rounds: int
    quiet_ms: float
    chunks_remeasured: int = 0
    unstable_items: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"slow_rounds_pct": round(self.slow_pct, 2), "slowdown": round(self.slowdown, 4),
                "canary_rounds": self.rounds, "canary_quiet_ms": self.quiet_ms,
                "chunks_remeasured": self.chunks_remeasured, "unstable_items": self.unstable_items}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Interference:
        return cls(float(d["slow_rounds_pct"]), float(d["slowdown"]), int(d["canary_rounds"]),
                   float(d["canary_quiet_ms"]), int(d.get("chunks_remeasured", 0)), int(d.get("unstable_items", 0)))

    def summary(self) -> str:
        """One line for a person: how often the machine ran slow, and how much."""
        if self.rounds == 0:
            return "interference: not measured (no canary)"
        if self.slow_pct == 0:
            return f"interference: none seen (0 of {self.rounds} canary rounds slow)"
        text = (f"interference: {self.slow_pct:.0f} % of {self.rounds} canary rounds ran slow "
                f"(x{self.slowdown:.2f} when slow)")
        if self.chunks_remeasured:
            text += f"; {self.chunks_remeasured} chunk(s) measured again"
        return text


@dataclass
class _Slot:
    label: str
    prepared: Prepared
    n_per_round: int
    number: int
    warmup_runs: int
    rounds: list[np.ndarray] = field(default_factory=list)


class Meter:
    """Measures chunks of items on one runtime with one protocol, watching the machine's quiet level.

    ``measure(items)`` measures one chunk and returns a :class:`Measurement` per item; each one's
    ``extra["canary_ms"]`` is the chunk's canary estimate, so that :meth:`is_stale` can later
    tell whether the chunk saw the machine's quiet level (that level can only fall as the run
    goes on). :meth:`interference` summarises the run so far.
    """

    def __init__(self, runtime: Any, protocol: Protocol | None = None, *,
                 rng: np.random.Generator | None = None) -> None:
        self.runtime = runtime
        self.protocol = protocol or Protocol()
        self.rng = rng if rng is not None else np.random.default_rng(self.protocol.seed)
        self.quiet_s = math.inf  # the lowest canary estimate seen (seconds)
        self._canary_rounds: list[float] = []  # each canary round's fastest call (seconds)
        self.chunks_remeasured = 0
        self.unstable_items = 0

    # -- the canary's record ------------------------------------------------------------------
    def observe_canary(self, estimate_ms: float, round_minima_ms: Sequence[float] = ()) -> None:
        """Add a canary chunk measured earlier (a resumed run) to the quiet level and the figure."""
        if estimate_ms and math.isfinite(estimate_ms):
            self.quiet_s = min(self.quiet_s, estimate_ms * 1e-3)
        self._canary_rounds.extend(float(x) * 1e-3 for x in round_minima_ms)

    @property
    def quiet_ms(self) -> float | None:
        return self.quiet_s * 1e3 if math.isfinite(self.quiet_s) else None

    def is_stale(self, m: Measurement) -> bool:
        """True when ``m``'s chunk never came within ``quiet_tol`` of the run's quiet level."""
        c = m.extra.get("canary_ms")
        return (c is not None and self.quiet_ms is not None
                and c > self.quiet_ms * (1 + self.protocol.quiet_tol))

    def interference(self) -> Interference:
        r = np.asarray(self._canary_rounds, dtype=np.float64)
        if r.size == 0 or not math.isfinite(self.quiet_s):
            return Interference(0.0, 1.0, 0, float("nan"), self.chunks_remeasured, self.unstable_items)
        ratio = r / self.quiet_s
        slow = ratio > 1 + self.protocol.slow_tol
        return Interference(100 * float(slow.mean()), float(np.median(ratio[slow])) if slow.any() else 1.0,
                            int(r.size), self.quiet_s * 1e3, self.chunks_remeasured, self.unstable_items)

    # -- measuring ----------------------------------------------------------------------------
    def graph_item(self, label: str, graph: Graph | Callable[[], Graph]) -> Item:
        """An item that prepares ``graph`` (or the graph a function builds, when the chunk is
        prepared: whole networks are not all held in memory at once) on this meter's runtime."""
        seed = self.protocol.seed

        def prepare() -> Prepared:
            g = graph() if callable(graph) else graph
            try:
                return self.runtime.prepare(g, seed=seed)
            except UnsupportedOpError as exc:
                raise UnsupportedOpError(f"{self.runtime.name} ({self.runtime.provider}) cannot run {label}: "
                                         f"{exc}") from exc
        return label, prepare

    def spec_item(self, spec: OpSpec, label: str | None = None) -> Item:
        return self.graph_item(label or spec.key, build_graph(spec, seed=self.protocol.seed))

    def file_item(self, label: str, path: Any) -> Item:
        seed = self.protocol.seed
        return label, lambda: self.runtime.prepare_file(path, seed=seed)

    def _slot(self, label: str, prepare: Callable[[], Prepared]) -> _Slot:
        prepared = prepare()
        try:
            warm, est = warm_up(prepared, self.protocol)
        except BaseException:
            prepared.close()
            raise
        n, number = plan_round(est, self.protocol)
        return _Slot(label, prepared, n, number, warm)

    def _time_rounds(self, slots: Sequence[_Slot], rounds: int) -> None:
        for _ in range(rounds):
            for i in self.rng.permutation(len(slots)):
                s = slots[i]
                s.rounds.append(s.prepared.time_samples(s.n_per_round, s.number))

    def _measurement(self, s: _Slot, remeasured: int) -> Measurement:
        p = self.protocol
        return Measurement(s.label, s.rounds, threads=getattr(self.runtime, "threads", None),
                           warmup_runs=s.warmup_runs, statistic=p.statistic, stability_tol=p.stability_tol,
                           remeasured=remeasured, number=s.number)

    def measure(self, items: Sequence[Item], *, on_done: Callable[[str], None] | None = None,
                canary: bool | None = None) -> list[Measurement]:
        """Measure one chunk of items together (see the module docstring); one Measurement per item.

        ``canary=False`` leaves the canary out of this chunk (it is on by the protocol's default).
        With the canary on, the returned list has one more Measurement at the end: the canary's.
        """
        p = self.protocol
        use_canary = p.canary if canary is None else canary
        slots: list[_Slot] = []
        try:
            for label, prepare in items:
                slots.append(self._slot(label, prepare))
            if use_canary:
                slots.append(self._slot(*self.spec_item(CANARY_SPEC, CANARY_LABEL)))
            work = slots[:-1] if use_canary else slots
            self._time_rounds(slots, p.rounds)
            blocks = {id(s): 0 for s in slots}
            for attempt in range(1, p.remeasure + 1):
                results = {id(s): self._measurement(s, blocks[id(s)]) for s in slots}
                again = [s for s in work if results[id(s)].unstable]
                if use_canary:
                    c = results[id(slots[-1])].latency_ms * 1e-3
                    ref = min(self.quiet_s, c)
                    if c > ref * (1 + p.quiet_tol):  # the chunk has not seen the quiet level yet
                        again = list(work)
                    if again:
                        again.append(slots[-1])  # the canary keeps watching while the others run
                if not again:
                    break
                log.debug("measuring %d item(s) again (attempt %d)", len(again), attempt)
                self._time_rounds(again, p.rounds)
                for s in again:
                    blocks[id(s)] = attempt
            out = [self._measurement(s, blocks[id(s)]) for s in slots]
            if use_canary:
                cm = out[-1]
                self.quiet_s = min(self.quiet_s, cm.latency_ms * 1e-3)
                self._canary_rounds.extend(r.min() for r in cm.rounds)
                for m in out[:-1]:
                    m.extra["canary_ms"] = cm.latency_ms
            self.unstable_items += sum(m.unstable for m in (out[:-1] if use_canary else out))
            if on_done is not None:
                for m in (out[:-1] if use_canary else out):
                    on_done(m.label)
            return out
        finally:
            for s in slots:
                s.prepared.close()
