"""``Meter``: the measurement protocol run over chunks of items, with a canary that watches the machine.

Every latency hwlat reports (table rows, whole networks in ``validate``, calibration and the
gallery, ``hwlat measure``) goes through one :class:`Meter`, so ops and whole networks share one
protocol and one statistic.

A chunk of items is measured together: each item is prepared and warmed up, then timed in many
short rounds interleaved across the chunk in a fresh random order each round. With the
protocol's ``canary`` on, a small fixed model (:data:`CANARY_CHAIN`) is one more item of every
chunk. Its fastest estimate (over the run, and over earlier runs on this host: see
:mod:`hwlat.profiler.quiet`) is the machine's *quiet level*; each canary round says whether the
machine was quiet or in a slow spell at that moment. That gives

* the run's **interference figure** (:class:`Interference`): the share of rounds that ran slow,
  and how much slower they were;
* a check that every item had rounds in quiet moments: an item with fewer than
  ``min_quiet_rounds`` rounds in which the canary came within ``quiet_tol`` of the quiet level
  gets more rounds, and is measured again at the end of the run if it still lacks them.

Items whose estimate is unstable (its even and odd rounds disagree by more than
``stability_tol``) get more rounds too, while their chunk is still prepared.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat.errors import UnsupportedOpError
from hwlat.ops.ir import Graph, build_graph
from hwlat.ops.spec import OpSpec, act, conv, pool
from hwlat.profiler.measurement import Measurement
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.runtimes.base import Prepared
from hwlat.profiler.timer import plan_round, warm_up

if TYPE_CHECKING:
    from pathlib import Path

    from hwlat.profiler.runtimes.base import Runtime

__all__ = ["Meter", "Interference", "CANARY_CHAIN", "CANARY_KEY", "CANARY_LABEL"]

log = logging.getLogger(__name__)

#: the canary: a small model of a 3x3 average pool, a ReLU and a 1x1 convolution on a 16x32x32
#: tensor (20-40 µs on one desktop core). Interference on a shared host slows small
#: memory-bound ops far more than large convolutions (up to 1.8x against 1.2x, seen here), so
#: the canary is made of the ops it slows most
CANARY_CHAIN: tuple[OpSpec, ...] = (pool((16, 32, 32), 3, 1, mode="avg", pad=1), act((16, 32, 32), "relu"),
                                    conv((16, 32, 32), 16, 1))
CANARY_KEY = "canary:" + ">".join(s.key for s in CANARY_CHAIN)
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
    reference_ms: float | None = None
    run_quiet_ms: float | None = None

    @property
    def level(self) -> float | None:
        """The run's own quietest canary over the remembered quiet level (1.0: as quiet as ever)."""
        if self.reference_ms and self.run_quiet_ms:
            return self.run_quiet_ms / self.reference_ms
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"slow_rounds_pct": round(self.slow_pct, 2), "slowdown": round(self.slowdown, 4),
                "canary_rounds": self.rounds, "canary_quiet_ms": self.quiet_ms,
                "chunks_remeasured": self.chunks_remeasured, "unstable_items": self.unstable_items,
                "reference_ms": self.reference_ms, "run_quiet_ms": self.run_quiet_ms}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Interference:
        return cls(float(d["slow_rounds_pct"]), float(d["slowdown"]), int(d["canary_rounds"]),
                   float(d["canary_quiet_ms"]), int(d.get("chunks_remeasured", 0)), int(d.get("unstable_items", 0)),
                   d.get("reference_ms"), d.get("run_quiet_ms"))

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
        if self.level is not None and self.level > 1.05:
            text += (f"; this run never got as quiet as this machine has been (x{self.level:.2f} above its "
                     "remembered quiet level): its numbers are high")
        return text


@dataclass(eq=False)
class _Slot:
    label: str
    prepared: Prepared
    n_per_round: int
    number: int
    warmup_runs: int
    rounds: list[np.ndarray] = field(default_factory=list)
    round_ids: list[int] = field(default_factory=list)


def _timed_s(slots: Sequence[_Slot]) -> float:
    """The time the timed calls of ``slots`` took so far (seconds; warm-up and waits left out)."""
    return sum(float(sum(r.sum() for r in s.rounds)) * s.number for s in slots)


class Meter:
    """Measures chunks of items on one runtime with one protocol, watching the machine's quiet level.

    ``measure(items)`` measures one chunk and returns a :class:`Measurement` per item; each one's
    ``extra["canary_ms"]`` is the ``min_quiet_rounds``-th fastest canary round among its rounds,
    so that :meth:`is_stale` can later tell whether the item was measured in quiet moments (the
    quiet level can only fall as the run goes on). :meth:`interference` summarises the run so far.
    """

    def __init__(self, runtime: Runtime, protocol: Protocol | None = None, *,
                 rng: np.random.Generator | None = None) -> None:
        self.runtime = runtime
        self.protocol = protocol or Protocol()
        self.rng = rng if rng is not None else np.random.default_rng(self.protocol.seed)
        self.quiet_s = math.inf  # the lowest canary estimate known, this run's or remembered (seconds)
        self.run_quiet_s = math.inf  # the lowest canary estimate of this run
        self._canary_rounds: list[float] = []  # each canary round's fastest call (seconds)
        self.chunks_remeasured = 0
        self.unstable_items = 0
        self.reference_ms: float | None = None
        self._reference_key: str | None = None
        self._next_round = 0
        self._wait_left = self.protocol.quiet_wait_s
        if self.protocol.canary and self.protocol.reference:
            from hwlat.profiler.quiet import load_reference, reference_key

            self._reference_key = reference_key(runtime, CANARY_KEY)
            self.reference_ms = load_reference(self._reference_key)
            if self.reference_ms is not None:
                self.quiet_s = self.reference_ms * 1e-3

    # -- the canary's record ------------------------------------------------------------------
    def observe_canary(self, estimate_ms: float, round_minima_ms: Sequence[float] = ()) -> None:
        """Add a canary chunk measured earlier (a resumed run) to the quiet level and the figure."""
        if estimate_ms and math.isfinite(estimate_ms):
            self.quiet_s = min(self.quiet_s, estimate_ms * 1e-3)
            self.run_quiet_s = min(self.run_quiet_s, estimate_ms * 1e-3)
        self._canary_rounds.extend(float(x) * 1e-3 for x in round_minima_ms)

    @property
    def quiet_ms(self) -> float | None:
        return self.quiet_s * 1e3 if math.isfinite(self.quiet_s) else None

    def is_stale(self, m: Measurement) -> bool:
        """True when ``m`` had fewer than ``min_quiet_rounds`` rounds within ``quiet_tol`` of the quiet level."""
        c = m.extra.get("canary_ms")
        return (c is not None and self.quiet_ms is not None
                and c > self.quiet_ms * (1 + self.protocol.quiet_tol))

    def interference(self) -> Interference:
        r = np.asarray(self._canary_rounds, dtype=np.float64)
        run_quiet = self.run_quiet_s * 1e3 if math.isfinite(self.run_quiet_s) else None
        if r.size == 0 or not math.isfinite(self.quiet_s):
            return Interference(0.0, 1.0, 0, float("nan"), self.chunks_remeasured, self.unstable_items,
                                self.reference_ms, run_quiet)
        ratio = r / self.quiet_s
        slow = ratio > 1 + self.protocol.slow_tol
        return Interference(100 * float(slow.mean()), float(np.median(ratio[slow])) if slow.any() else 1.0,
                            int(r.size), self.quiet_s * 1e3, self.chunks_remeasured, self.unstable_items,
                            self.reference_ms, run_quiet)

    def remember(self) -> None:
        """Keep this run's quiet level for later runs on this host (see :mod:`hwlat.profiler.quiet`)."""
        if self._reference_key is not None and math.isfinite(self.run_quiet_s):
            from hwlat.profiler.quiet import remember

            remember(self._reference_key, self.run_quiet_s * 1e3)

    def wait_quiet(self, timeout_s: float) -> bool:
        """Time the canary alone until one round comes within ``quiet_tol`` of the quiet level, for
        at most ``timeout_s`` seconds; True if it did (the machine is quiet now)."""
        if not math.isfinite(self.quiet_s) or timeout_s <= 0:
            return True
        slot = self._slot(*self._canary_item())
        start = time.perf_counter()
        timeout_s = min(timeout_s, self._wait_left)
        try:
            while True:
                t = slot.prepared.time_samples(slot.n_per_round, slot.number)
                if t.min() <= self.quiet_s * (1 + self.protocol.quiet_tol):
                    return True
                if time.perf_counter() - start >= timeout_s:
                    log.info("the machine stayed in a slow spell for %.0f s", timeout_s)
                    return False
        finally:
            self._wait_left = max(0.0, self._wait_left - (time.perf_counter() - start))
            slot.prepared.close()

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

    def _canary_item(self) -> Item:
        return self.graph_item(CANARY_LABEL, build_graph(list(CANARY_CHAIN), seed=self.protocol.seed))

    def spec_item(self, spec: OpSpec, label: str | None = None) -> Item:
        return self.graph_item(label or spec.key, build_graph(spec, seed=self.protocol.seed))

    def file_item(self, label: str, path: str | Path) -> Item:
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
            rid = self._next_round
            self._next_round += 1
            for i in self.rng.permutation(len(slots)):
                s = slots[i]
                s.rounds.append(s.prepared.time_samples(s.n_per_round, s.number))
                s.round_ids.append(rid)

    def _measurement(self, s: _Slot, remeasured: int) -> Measurement:
        p = self.protocol
        return Measurement(s.label, s.rounds, threads=getattr(self.runtime, "threads", None),
                           warmup_runs=s.warmup_runs, statistic=p.statistic, stability_tol=p.stability_tol,
                           remeasured=remeasured, number=s.number)

    def _quiet_canary_s(self, s: _Slot, canary: _Slot) -> float:
        """The ``min_quiet_rounds``-th fastest canary round among the rounds of ``s``: at most the
        quiet level (within ``quiet_tol``) when ``s`` had that many rounds in quiet moments."""
        fastest = dict(zip(canary.round_ids, (float(r.min()) for r in canary.rounds)))
        seen = sorted(fastest[r] for r in s.round_ids if r in fastest)
        q = min(max(self.protocol.min_quiet_rounds, 1), len(seen))
        return seen[q - 1] if seen else math.inf

    def measure(self, items: Sequence[Item], *, on_done: Callable[[str], object] | None = None,
                canary: bool | None = None) -> list[Measurement]:
        """Measure one chunk of items together (see the module docstring); one Measurement per item.

        Items whose estimate is unstable, or that had fewer than ``min_quiet_rounds`` rounds in
        which the canary ran at the quiet level, get ``rounds`` more rounds (up to ``remeasure``
        times; when no round of the chunk was quiet the meter first waits for a quiet moment).
        ``canary=False`` leaves the canary out of this chunk (it is on by the protocol's default).
        With the canary on, the returned list has one more Measurement at the end: the canary's,
        and each item's ``extra["canary_ms"]`` says how quiet its rounds were (see
        :meth:`is_stale`).
        """
        p = self.protocol
        use_canary = p.canary if canary is None else canary
        slots: list[_Slot] = []
        try:
            for label, prepare in items:
                slots.append(self._slot(label, prepare))
            if use_canary:
                slots.append(self._slot(*self._canary_item()))
            work = slots[:-1] if use_canary else slots
            self._time_rounds(slots, p.rounds)
            first_pass_s = _timed_s(slots)
            blocks = {id(s): 0 for s in slots}
            attempt = 0
            while True:
                attempt += 1
                if attempt > p.remeasure and _timed_s(slots) - first_pass_s >= p.settle_budget * first_pass_s:
                    break
                results = {id(s): self._measurement(s, blocks[id(s)]) for s in work}
                again = [s for s in work if results[id(s)].unstable]
                if use_canary:
                    cs = slots[-1]
                    ref = min(self.quiet_s, self._measurement(cs, 0).latency_ms * 1e-3) * (1 + p.quiet_tol)
                    loud = [s for s in work if self._quiet_canary_s(s, cs) > ref]
                    again = [s for s in work if s in again or s in loud]
                    if loud and min(float(r.min()) for r in cs.rounds[-p.rounds:]) > ref:
                        self.wait_quiet(min(self._wait_left, p.quiet_wait_s / max(p.remeasure, 1)))
                    if again:
                        again.append(cs)  # the canary keeps watching while the others run
                if not again:
                    break
                log.debug("measuring %d item(s) again (attempt %d)", len(again), attempt)
                self._time_rounds(again, p.rounds)
                for s in again:
                    blocks[id(s)] = attempt
            out = [self._measurement(s, blocks[id(s)]) for s in slots]
            if use_canary:
                cs, cm = slots[-1], out[-1]
                self.quiet_s = min(self.quiet_s, cm.latency_ms * 1e-3)
                self.run_quiet_s = min(self.run_quiet_s, cm.latency_ms * 1e-3)
                self._canary_rounds.extend(float(r.min()) for r in cm.rounds)
                for s, m in zip(work, out[:-1]):
                    m.extra["canary_ms"] = self._quiet_canary_s(s, cs) * 1e3
            self.unstable_items += sum(m.unstable for m in (out[:-1] if use_canary else out))
            if on_done is not None:
                for m in (out[:-1] if use_canary else out):
                    on_done(m.label)
            return out
        finally:
            for s in slots:
                s.prepared.close()
