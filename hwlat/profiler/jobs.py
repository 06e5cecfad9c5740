"""``MeasureJob``: many keyed items measured in chunks, resumably, with slow spells measured again.

Profiling a table (:func:`~hwlat.profiler.profile_ops`) and measuring whole networks
(:func:`~hwlat.profiler.networks.measure_archs`: validation, calibration, the gallery) are the
same job: items with a key, measured chunk by chunk through one
:class:`~hwlat.profiler.meter.Meter`, each result appended to a
:class:`~hwlat.profiler.checkpoint.Checkpoint` as it finishes. When every chunk is done, the
items whose chunk never came within ``quiet_tol`` of the run's quiet level (a level that is only
known at the end) are measured again, after waiting for the machine to be quiet, up to the
protocol's ``remeasure`` times, and the run closer to the quiet level is kept.

With a *reference* item (whole networks: a fixed network of their space), the reference is one
more item of every chunk, and every record keeps the reference's estimate in its chunk
(``reference_ms``) and the chunk's index (``chunk``). The machine's slow drift, a level a few per
cent above or below its usual one that lasts minutes (too little for the canary's ``quiet_tol``
to call it a slow spell), moves the reference as much as the items beside it;
:func:`hwlat.profiler.networks.reference_levels` turns the reference's estimates into each
chunk's level (its trend over the run and half of the chunk's own departure from it), and the
items are reported at the run's level (:meth:`MeasureJob.reference_level_ms`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat.ops.spec import identity
from hwlat.profiler.checkpoint import Checkpoint, measurement_record
from hwlat.profiler.measurement import Measurement
from hwlat.profiler.meter import CANARY_LABEL, Interference, Item, Meter
from hwlat.profiler.protocol import Protocol

if TYPE_CHECKING:
    from hwlat.profiler.runtimes.base import Runtime

__all__ = ["MeasureJob", "OVERHEAD_SPEC", "OVERHEAD_KEY", "CANARY_KEY", "REFERENCE_KEY"]

log = logging.getLogger(__name__)

#: the "empty model" whose latency is the runtime's per-call overhead
OVERHEAD_SPEC = identity((1, 1, 1))
OVERHEAD_KEY = "__overhead__"
CANARY_KEY = CANARY_LABEL
REFERENCE_KEY = "__reference__"


class MeasureJob:
    """Measures keyed items on ``runtime`` with ``protocol``, into ``checkpoint`` when given.

    ``rows`` holds every record (key -> dict with ``latency_ms``...), the resumed ones included;
    ``overhead=True`` times the empty model in every chunk as one more item (its records are
    ``__overhead__#i``; :meth:`overhead_ms` is their median), and the canary's records are
    ``__canary__#i``. ``reference`` (a function that makes the reference item) times it in every
    chunk too (records ``__reference__#i``; each item's record gets its chunk's ``reference_ms``).
    """

    def __init__(self, runtime: Runtime, protocol: Protocol, *, checkpoint: Checkpoint | None = None,
                 overhead: bool = False, rng: np.random.Generator | None = None,
                 reference: Callable[[Meter], Item] | None = None) -> None:
        self.protocol = protocol
        self.checkpoint = checkpoint
        self.overhead = overhead
        self.reference = reference
        self.rows: dict[str, dict[str, Any]] = checkpoint.rows if checkpoint is not None else {}
        self.meter = Meter(runtime, protocol, rng=rng if rng is not None else np.random.default_rng(protocol.seed))
        for k, r in self.rows.items():
            if k.startswith(CANARY_KEY):
                self.meter.observe_canary(r["latency_ms"], r.get("round_minima_ms", ()))
        # an index for the next chunk's records, above every index already used
        self._chunks = sum(k.startswith((CANARY_KEY, OVERHEAD_KEY, REFERENCE_KEY)) for k in self.rows)
        self.remeasured: set[str] = set()

    # -- records ------------------------------------------------------------------------------
    def record(self, key: str, m: Measurement, **fields: Any) -> None:
        if self.checkpoint is not None:
            self.checkpoint.add(key, m, **fields)
        else:
            self.rows[key] = measurement_record(key, m, **fields)

    def _stale(self, rec: dict[str, Any]) -> bool:
        q = self.meter.quiet_ms
        c = rec.get("canary_ms")
        return q is not None and c is not None and c > q * (1 + self.protocol.quiet_tol)

    def interference(self) -> Interference | None:
        return self.meter.interference() if self.protocol.canary else None

    def overhead_ms(self) -> float | None:
        """The median per-call overhead over the chunks that saw the quiet level (all, if none did)."""
        recs = [r for k, r in self.rows.items() if k.startswith(OVERHEAD_KEY)]
        if not recs:
            return None
        quiet = [r for r in recs if not self._stale(r)]
        return float(np.median([r["latency_ms"] for r in (quiet or recs)]))

    def reference_level_ms(self) -> float | None:
        """The reference's level: the lower quartile of its estimates over the chunks (None without
        a reference). Most chunks run at the machine's usual level; the quartile leans to the
        quieter of them without resting on the single fastest one."""
        refs = [r["latency_ms"] for k, r in self.rows.items() if k.startswith(REFERENCE_KEY)]
        return float(np.percentile(refs, 25)) if refs else None

    # -- measuring ----------------------------------------------------------------------------
    def _chunk(self, items: Sequence[tuple[str, Item]], on_done: Callable[[str], object] | None) -> None:
        meter = self.meter
        batch = [item for _, item in items]
        if self.overhead:
            # the empty model is timed in every chunk, interleaved with the ops, so that the
            # overhead is measured under the same conditions as the ops it is subtracted from
            batch.append(meter.spec_item(OVERHEAD_SPEC, OVERHEAD_KEY))
        if self.reference is not None:
            batch.append(self.reference(meter))
        keys = {item[0]: key for key, item in items}
        results = meter.measure(batch, on_done=(lambda label: on_done(keys[label]) if label in keys else None)
                                if on_done else None)
        extra: dict[str, Any] = {}
        ref = results[len(items) + self.overhead] if self.reference is not None else None
        if ref is not None:
            extra = {"reference_ms": ref.latency_ms, "chunk": self._chunks}
        for (key, _), m in zip(items, results):
            if m.remeasured:
                self.remeasured.add(key)
            old = self.rows.get(key)
            if old is not None and (old.get("canary_ms") or np.inf) <= (m.extra.get("canary_ms") or np.inf):
                continue  # a second try that ran no quieter than the first: keep the first
            self.record(key, m, **extra)
        c = self._chunks
        self._chunks += 1
        if self.overhead:
            self.record(f"{OVERHEAD_KEY}#{c}", results[len(items)])
        if ref is not None:
            self.record(f"{REFERENCE_KEY}#{c}", ref)
        if self.protocol.canary:
            cm = results[-1]
            self.record(f"{CANARY_KEY}#{c}", cm, round_minima_ms=cm.round_minima_ms)

    def run(self, items: Sequence[tuple[str, Item]], *, chunk_size: int = 16,
            on_done: Callable[[str], object] | None = None,
            on_chunk: Callable[[MeasureJob], None] | None = None) -> dict[str, dict[str, Any]]:
        """Measure the items whose key has no record yet, ``chunk_size`` at a time, then once more
        those whose chunk ran in a slow spell; returns the records of ``items``' keys.

        Records resumed from an earlier run are never measured again: that run made its own check.
        """
        todo = [(k, it) for k, it in items if k not in self.rows]
        for start in range(0, len(todo), chunk_size):
            self._chunk(todo[start:start + chunk_size], on_done)
            if on_chunk is not None:
                on_chunk(self)
        p = self.protocol
        for _attempt in range(max(p.remeasure, 1)):
            stale = [(k, it) for k, it in todo if self._stale(self.rows[k])]
            if not stale:
                break
            log.info("measuring %d item(s) again: their chunk ran in a slow spell", len(stale))
            self.meter.wait_quiet(p.quiet_wait_s / max(p.remeasure, 1))
            for start in range(0, len(stale), chunk_size):
                self._chunk(stale[start:start + chunk_size], None)
                self.meter.chunks_remeasured += 1
            self.remeasured.update(k for k, _ in stale)
        if self.overhead and not any(k.startswith(OVERHEAD_KEY) for k in self.rows):
            # everything was resumed from a run that timed no overhead: time it now
            self._chunk([], None)
        if todo:
            self.meter.remember()
        return {k: self.rows[k] for k, _ in items}
