"""Table → predictor → search → gallery in one call: what ``hwlat search`` runs.

:func:`search_gallery` takes a space, a device and an accuracy source; it reuses (or profiles)
the device's latency table, calibrates the lookup predictor on a few networks measured end to
end, searches, and writes the gallery whose members are measured on the device. Every step
checkpoints into the output folder, so a rerun of the same command resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat._io import atomic_write_text, ensure_writable_dir
from hwlat.devices import as_device
from hwlat.errors import InputError
from hwlat.latency_tables import LatencyTable
from hwlat.predictors import LookupPredictor
from hwlat.predictors.io import save_predictor
from hwlat.predictors.lookup import DEFAULT_CALIBRATION
from hwlat.predictors.validate import spread_sample
from hwlat.profiler import Protocol
from hwlat.profiler.networks import measure_archs
from hwlat.profiler.profile import profile_ops
from hwlat.profiler.transports import runtime_for_device
from hwlat.search.accuracy import make_accuracy
from hwlat.search.gallery import build_gallery
from hwlat.search.strategies import make_strategy
from hwlat.search.strategies.base import check_int, json_plain

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec
    from hwlat.predictors.base import Predictor
    from hwlat.profiler.runtimes import Runtime
    from hwlat.search.accuracy import AccuracySource
    from hwlat.search.gallery import Gallery
    from hwlat.search.strategies import Strategy
    from hwlat.spaces import SearchSpace

__all__ = ["SearchRun", "search_gallery", "space_table", "CALIBRATION_REACH"]

#: under a budget, the calibration networks are spread up to this many times the largest budget
#: (in table sums, which miss what is measured by a few tens of per cent either way): the
#: gallery holds nothing slower, and per-type multipliers fitted on networks twice its size
#: predict its members 5-10 % slow (benchmarks/RESULTS.md, "Gallery agreement")
CALIBRATION_REACH = 1.5

log = logging.getLogger(__name__)


@dataclass
class SearchRun:
    """The outcome of :func:`search_gallery`."""

    result: Any  # what the strategy's search returned (a SearchResult for ask/tell strategies)
    gallery: Gallery
    predictor: Predictor
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def space_table(space: SearchSpace, device: DeviceSpec | Runtime | str,
                table: LatencyTable | str | os.PathLike[str] | None, out_dir: str | os.PathLike[str], *,
                protocol: Protocol | None = None, progress: bool = True, runtime: Runtime | None = None
                ) -> LatencyTable:
    """``table`` (a LatencyTable or its path) loaded; when None, every op of ``space`` profiled on
    ``device`` into ``out_dir/table`` (resumable)."""
    if table is not None:
        return table if isinstance(table, LatencyTable) else LatencyTable.load(table)
    out = Path(out_dir) / "table"
    specs = space.all_ops()
    log.info("profiling the %d ops of %s on %s into %s", len(specs), space.name, getattr(device, "name", device), out)
    result = profile_ops(specs, device, protocol=protocol, out_dir=out, progress=progress, runtime=runtime)
    if result.interference is not None:
        log.info("%s", result.interference.summary())
    return result.table


def search_gallery(space: SearchSpace, device: DeviceSpec | str | None, out_dir: str | os.PathLike[str], *,
                   accuracy: Any = None, table: LatencyTable | str | os.PathLike[str] | None = None,
                   predictor: Predictor | None = None, strategy: str | Strategy = "budgets", n_evals: int = 1000,
                   budget_ms: float | None = None, budgets: Sequence[float] | None = None, seed: int = 0,
                   calibrate: int = 10, measure: bool = True, max_measure: int = 30, export: str = "budgets",
                   protocol: Protocol | None = None, progress: bool = True, calibration: str | None = None,
                   **strategy_kw: Any) -> SearchRun:
    """Search ``space`` for ``device`` and write the gallery to ``out_dir``.

    Latency comes from ``predictor`` (a fitted predictor with ``predict_genes``), else from a
    :class:`~hwlat.predictors.LookupPredictor` of ``table`` (a path or table; default: profile the
    space on the device into ``out_dir/table``) calibrated on ``calibrate`` random networks
    measured end to end. ``strategy`` is a registered strategy name (or a
    :class:`~hwlat.search.strategies.Strategy`; ``strategy_kw`` go to its constructor), whose
    :meth:`~hwlat.search.strategies.Strategy.find` searches. ``accuracy`` is an accuracy source or
    its text (see :func:`~hwlat.search.accuracy.make_accuracy`); default: the space's
    :meth:`~hwlat.spaces.SearchSpace.default_accuracy` (a strategy that measures its own accuracy
    takes none). ``budget_ms`` constrains the search; the gallery's ``budgets`` default to six up
    to it.

    With ``measure=False`` nothing runs on a device: ``device`` may be None, and ``table`` may be
    any device's table (an imported Note10 table, a remote device's): the search and the gallery
    are then for the table's device.
    """
    t0 = time.perf_counter()
    if device is None and (measure or (table is None and predictor is None)):
        raise InputError("give a device to measure on (--device), or search a table without one: --table T "
                         "--no-measure")
    dev = as_device(device) if device is not None else None
    out = ensure_writable_dir(out_dir)
    protocol = protocol or Protocol()
    check_int("search_gallery", "n_evals", n_evals, 1)
    check_int("search_gallery", "max_measure (networks measured end to end at most)", max_measure, 0)
    if isinstance(calibrate, bool) or not isinstance(calibrate, (int, np.integer)) or calibrate < 0:
        raise InputError(f"calibrate must be an integer >= 0 (networks measured to calibrate the predictor), got "
                         f"{calibrate!r}")
    if budget_ms is not None and not (np.isfinite(budget_ms) and budget_ms > 0):
        raise InputError(f"the budget must be a positive number of ms, got {budget_ms}")
    strat = make_strategy(strategy, **strategy_kw)
    strat.check_run(accuracy=accuracy, budget_ms=budget_ms, budgets=budgets)
    acc = None
    if strat.uses_accuracy:
        acc = make_accuracy(accuracy if accuracy is not None else space.default_accuracy(), space)

    # one runtime for the whole run (profile, calibration, gallery): for a remote device, one agent
    needs_device = measure or (predictor is None and table is None)  # to measure, or to profile a table
    rt = runtime_for_device(dev) if dev is not None and needs_device else None
    try:
        return _search_gallery(space, dev, out, rt, acc, table, predictor, strat, n_evals, budget_ms, budgets,
                               seed, calibrate, measure, max_measure, export, protocol, progress, calibration, t0)
    finally:
        if rt is not None:
            rt.close()


def _search_gallery(space: SearchSpace, dev: DeviceSpec | None, out: Path, rt: Runtime | None,
                    acc: AccuracySource | None, table: LatencyTable | str | os.PathLike[str] | None,
                    predictor: Predictor | None,
                    strat: Strategy, n_evals: int, budget_ms: float | None, budgets: Sequence[float] | None, seed: int,
                    calibrate: int, measure: bool, max_measure: int, export: str, protocol: Protocol, progress: bool,
                    calibration_mode: str | None, t0: float) -> SearchRun:

    calibration: dict[str, Any] = {}
    anchors = None
    margin: float | None = None
    given = getattr(getattr(predictor, "table", None), "metadata", None)  # a lookup predictor's table
    target = dev.name if dev is not None else (getattr(given, "device_name", "") or "the predictor's device")
    if predictor is None:
        tab = space_table(space, dev if dev is not None else "", table, out, protocol=protocol, progress=progress,
                          runtime=rt)
        tdev = tab.metadata.device_name
        if not measure:  # nothing is measured: the search is for the table's device, whichever it is
            target = tdev or target
        elif dev is not None and tdev and tdev != dev.name:
            raise InputError(f"the table was measured on {tdev!r}, not on {dev.name!r}; give a table of {dev.name} "
                             f"(or leave --table out to profile one), or give --no-measure to search for {tdev} "
                             "from its table alone")
        predictor = LookupPredictor(space=space, table=tab,
                                    calibration=calibration_mode or DEFAULT_CALIBRATION).fit()
        if calibrate and measure and dev is not None:

            # spread over the latency range: the gallery spans it, and its ends are predicted best
            # by a calibration that saw them
            top = max(budgets) if budgets else budget_ms
            archs = spread_sample(space, predictor, calibrate, seed + 10_007,
                                  upper_ms=CALIBRATION_REACH * top if top else None)
            got = measure_archs(space, archs, dev, protocol=protocol, out_dir=out / "calibration", passes=1,
                                tag="cal-", progress=progress, seed=seed, runtime=rt, kind="calibration")
            predictor.calibrate(archs, got[:, 0])
            # a pick keeps a margin below its budget, as large as the predictor's own leave-one-out errors
            # on the calibration networks (measured now, on this device)
            margin = predictor.budget_margin()
            anchors = (archs, got[:, 0])  # measured again beside the gallery: its level is theirs
            calibration = {"n": int(calibrate), "mode": predictor.calibrated_, "b_ms": float(predictor.coef_[1]),
                           "multipliers": predictor.group_coef_, "drift": got.drift}
            save_predictor(predictor, out / "predictor.npz")
    found = strat.find(space, predictor, acc, out_dir=out, budget_ms=budget_ms, budgets=budgets, n_evals=n_evals,
                       seed=seed, progress=progress,
                       context={"device": target, "calibration": calibration, "t0": t0, "budget_margin": margin})
    on = dev if measure and dev is not None else target
    gallery = build_gallery(space, found.candidates, on, out, accuracy_name=found.accuracy_name,
                            accuracy_kind=found.accuracy_kind, budgets=found.budgets,
                            max_budget_ms=found.max_budget_ms, measure=measure,
                            max_measure=max(max_measure, found.min_measure), protocol=protocol, export=export,
                            meta=found.meta, progress=progress, runtime=rt, anchors=anchors,
                            all_members=found.all_members, margin=margin)
    summary = found.summarize(gallery)
    path = out / "search.json"
    atomic_write_text(path, json.dumps(summary, indent=2, default=json_plain))
    return SearchRun(found.result, gallery, predictor, summary, [path, *found.files, *gallery.files])
