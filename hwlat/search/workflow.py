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
from typing import Any

import numpy as np

from hwlat.errors import InputError

__all__ = ["SearchRun", "default_accuracy", "search_gallery", "space_table"]

log = logging.getLogger(__name__)

#: the accuracy used when none is given: a zero-cost proxy computed live (labelled as a proxy)
DEFAULT_PROXY = "proxy:synflow"


def default_accuracy(space: Any) -> str:
    """The accuracy source used when the user gives none: a live zero-cost proxy where hwlat has
    one for the space; otherwise an error that says what to give."""
    if space.name == "nb201":
        return DEFAULT_PROXY
    hints = {"ofa-mbv3": "--accuracy ofa-predictor:PATH/acc_predictor.pth (Once-for-All's published "
                         "accuracy predictor, from the once-for-all repository)"}
    raise InputError(f"the {space.name} space has no built-in accuracy; give "
                     + hints.get(space.name, "--accuracy module:function (your own accuracy for its architectures)"))


@dataclass
class SearchRun:
    """The outcome of :func:`search_gallery`."""

    result: Any  # SearchResult
    gallery: Any  # Gallery
    predictor: Any
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def space_table(space: Any, device: Any, table: Any, out_dir: str | os.PathLike[str], *, protocol: Any = None,
                progress: bool = True, runtime: Any = None) -> Any:
    """``table`` (a LatencyTable or its path) loaded; when None, every op of ``space`` profiled on
    ``device`` into ``out_dir/table`` (resumable)."""
    from hwlat.latency_tables import LatencyTable
    from hwlat.profiler.profile import profile_ops

    if table is not None:
        return table if isinstance(table, LatencyTable) else LatencyTable.load(table)
    out = Path(out_dir) / "table"
    specs = space.all_ops()
    log.info("profiling the %d ops of %s on %s into %s", len(specs), space.name, getattr(device, "name", device), out)
    result = profile_ops(specs, device, protocol=protocol, out_dir=out, progress=progress, runtime=runtime)
    if result.interference is not None:
        log.info("%s", result.interference.summary())
    return result.table


def search_gallery(space: Any, device: Any, out_dir: str | os.PathLike[str], *, accuracy: Any = None,
                   table: Any = None, predictor: Any = None, strategy: str = "nsga2", n_evals: int = 1000,
                   budget_ms: float | None = None, budgets: Sequence[float] | None = None, seed: int = 0,
                   calibrate: int = 10, measure: bool = True, max_measure: int = 30, export: str = "budgets",
                   protocol: Any = None, progress: bool = True, calibration: str | None = None,
                   **strategy_kw: Any) -> SearchRun:
    """Search ``space`` for ``device`` and write the gallery to ``out_dir``.

    Latency comes from ``predictor`` (a fitted predictor with ``predict_genes``), else from a
    :class:`~hwlat.predictors.LookupPredictor` of ``table`` (a path or table; default: profile the
    space on the device into ``out_dir/table``) calibrated on ``calibrate`` random networks
    measured end to end. ``accuracy`` is an accuracy source or its text (see
    :func:`~hwlat.search.accuracy.make_accuracy`); default: :func:`default_accuracy`.
    ``budget_ms`` constrains the search; the gallery's ``budgets`` default to six up to it.
    """
    from hwlat._io import ensure_writable_dir
    from hwlat.devices import as_device
    from hwlat.profiler import Protocol
    from hwlat.search.accuracy import make_accuracy

    t0 = time.perf_counter()
    dev = as_device(device)
    out = ensure_writable_dir(out_dir)
    protocol = protocol or Protocol()
    if calibrate < 0:
        raise InputError(f"calibrate must be >= 0 (networks measured to calibrate the predictor), got {calibrate}")
    if budget_ms is not None and not (np.isfinite(budget_ms) and budget_ms > 0):
        raise InputError(f"the budget must be a positive number of ms, got {budget_ms}")
    gradient = strategy == "gradient"
    if gradient:
        if accuracy is not None:
            raise InputError("the gradient search trains its own supernet: its accuracy is the supernet's on the "
                             "dataset (--dataset); leave --accuracy out")
        if budget_ms is None and budgets is None:
            raise InputError("the gradient search needs a budget (--budget MS, or --budgets MS ...): it trains one "
                             "supernet per budget")
        acc = None
    else:
        acc = make_accuracy(accuracy if accuracy is not None else default_accuracy(space), space)

    from hwlat.profiler.transports import runtime_for_device

    # one runtime for the whole run (profile, calibration, gallery): for a remote device, one agent
    rt = runtime_for_device(dev) if (predictor is None or measure) else None
    try:
        return _search_gallery(space, dev, out, rt, acc, table, predictor, strategy, n_evals, budget_ms, budgets,
                               seed, calibrate, measure, max_measure, export, protocol, progress, calibration,
                               gradient, t0, **strategy_kw)
    finally:
        if rt is not None:
            rt.close()


def _search_gallery(space: Any, dev: Any, out: Path, rt: Any, acc: Any, table: Any, predictor: Any, strategy: str,
                    n_evals: int, budget_ms: float | None, budgets: Sequence[float] | None, seed: int,
                    calibrate: int, measure: bool, max_measure: int, export: str, protocol: Any, progress: bool,
                    calibration_mode: str | None, gradient: bool, t0: float, **strategy_kw: Any) -> SearchRun:
    from hwlat._io import atomic_write_text
    from hwlat.predictors import LookupPredictor
    from hwlat.predictors.io import save_predictor
    from hwlat.predictors.lookup import DEFAULT_CALIBRATION
    from hwlat.search.gallery import build_gallery
    from hwlat.search.strategies import run_search

    calibration: dict[str, Any] = {}
    if predictor is None:
        tab = space_table(space, dev, table, out, protocol=protocol, progress=progress, runtime=rt)
        tdev = tab.metadata.device_name
        if tdev and tdev != dev.name:
            raise InputError(f"the table was measured on {tdev!r}, not on {dev.name!r}; give a table of {dev.name} "
                             "(or leave --table out to profile one)")
        predictor = LookupPredictor(space, tab, calibration=calibration_mode or DEFAULT_CALIBRATION).fit()
        if calibrate and measure:
            from hwlat.profiler.networks import measure_archs

            archs = space.sample(seed + 10_007, calibrate)
            y = measure_archs(space, archs, dev, protocol=protocol, out_dir=out / "calibration", passes=1,
                              tag="cal-", progress=progress, seed=seed, runtime=rt)[:, 0]
            predictor.calibrate(archs, y)
            calibration = {"n": int(calibrate), "mode": predictor.calibrated_, "b_ms": float(predictor.coef_[1]),
                           "multipliers": predictor.group_coef_}
            save_predictor(predictor, out / "predictor.npz")
    if gradient:
        return _gradient_gallery(space, dev, out, predictor, calibration, budget_ms, budgets, seed, measure,
                                 max_measure, export, protocol, progress, t0, runtime=rt, **strategy_kw)
    res = run_search(space, predictor, acc, strategy, budget_ms=budget_ms, n_evals=n_evals, seed=seed,
                     checkpoint=out / "search.npz", progress=progress, **strategy_kw)
    archive = res.archive
    if budget_ms is not None:
        archive = archive[archive["feasible"]]
    ref = (float(res.latency_ms.max()), float(res.accuracy.min()))
    front = res.front
    summary = {
        "space": space.name, "space_config": space.config(), "device": dev.name, "strategy": res.strategy,
        "strategy_params": res.strategy_params, "seed": seed, "evaluations": res.n_evals,
        "search_wall_s": round(res.wall_s, 3), "budget_ms": budget_ms,
        "least_latency_ms": None if res.min_latency is None else res.min_latency[0],
        "accuracy": acc.name, "accuracy_kind": acc.kind, "latency": res.latency_name, "calibration": calibration,
        "hypervolume": front.hypervolume(ref), "hypervolume_ref": ref, "knee": _plain(front.knee()),
    }
    meta = {k: summary[k] for k in ("strategy", "evaluations", "budget_ms", "least_latency_ms", "latency",
                                    "calibration", "hypervolume", "hypervolume_ref", "seed")}
    gallery = build_gallery(space, archive[["arch", "latency_ms", "accuracy"]], dev, out, accuracy_name=acc.name,
                            accuracy_kind=acc.kind, budgets=budgets, max_budget_ms=budget_ms, measure=measure,
                            max_measure=max_measure, protocol=protocol, export=export, meta=meta, progress=progress,
                            runtime=rt)
    summary["agreement"] = gallery.agreement()
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    summary["budgets"] = json.loads(gallery.budgets.to_json(orient="records"))
    path = out / "search.json"
    atomic_write_text(path, json.dumps(summary, indent=2, default=_plain))
    return SearchRun(res, gallery, predictor, summary, [path, *gallery.files])


def _gradient_gallery(space: Any, dev: Any, out: Path, predictor: Any, calibration: dict[str, Any],
                      budget_ms: float | None, budgets: Sequence[float] | None, seed: int, measure: bool,
                      max_measure: int, export: str, protocol: Any, progress: bool, t0: float,
                      runtime: Any = None, **kw: Any) -> SearchRun:
    """One ProxylessNAS/FBNet gradient search per budget; their derived networks make the gallery."""
    import pandas as pd

    from hwlat._io import atomic_write_text
    from hwlat.search.gallery import build_gallery
    from hwlat.search.gradient import sweep
    from hwlat.search.strategies import min_latency

    if budgets is None:
        least = min_latency(space, predictor)[0]
        if budget_ms <= least:
            raise InputError(f"budget {budget_ms:g} ms is below the least latency the {space.name} space can reach "
                             f"on {dev.name}: {least:.4g} ms; choose a budget above it")
        budgets = [float(b) for b in np.linspace(least + (budget_ms - least) / 4, budget_ms, 4)]
    budgets = sorted(float(b) for b in budgets)
    done_path = out / "gradient.json"
    done = json.loads(done_path.read_text()) if done_path.exists() else {}
    todo = [b for b in budgets if f"{b:.6g}" not in done]
    if todo:
        for r in sweep(space, predictor, todo, seed=seed, progress=progress, **kw):
            done[f"{r.budget_ms:.6g}"] = {k: v for k, v in r.to_dict().items() if k not in ("history",
                                                                                             "probabilities")}
            atomic_write_text(done_path, json.dumps(done, indent=2, default=_plain))
    rows = [done[f"{b:.6g}"] for b in budgets]
    name = rows[0]["accuracy_source"]
    archive = pd.DataFrame({"arch": [r["arch_text"] for r in rows],
                            "latency_ms": [r["predicted_latency_ms"] for r in rows],
                            "accuracy": [100 * r["supernet_accuracy"] for r in rows]})
    meta = {"strategy": f"gradient ({rows[0]['loss']}, {rows[0]['sampling']})", "evaluations": len(rows),
            "budget_ms": budget_ms, "latency": repr(predictor), "calibration": calibration, "seed": seed}
    gallery = build_gallery(space, archive.drop_duplicates("arch"), dev, out, accuracy_name=name + " (%)",
                            budgets=budgets, measure=measure, max_measure=max(max_measure, len(rows)),
                            protocol=protocol, export=export, meta=meta, progress=progress, runtime=runtime)
    measured = gallery.front.set_index("arch")["measured_ms"].to_dict()
    per_budget = [{"budget_ms": b, "arch": r["arch_text"], "expected_latency_ms": r["expected_latency_ms"],
                   "predicted_ms": r["predicted_latency_ms"], "measured_ms": measured.get(r["arch_text"]),
                   "supernet_accuracy_pct": 100 * r["supernet_accuracy"]} for b, r in zip(budgets, rows)]
    summary = {"space": space.name, "space_config": space.config(), "device": dev.name, "strategy": meta["strategy"],
               "seed": seed, "evaluations": len(rows), "search_wall_s": round(sum(r["seconds"] for r in rows), 1),
               "budget_ms": budget_ms, "accuracy": name, "accuracy_kind": "accuracy", "latency": meta["latency"],
               "calibration": calibration, "searches": per_budget,
               "budgets": json.loads(gallery.budgets.to_json(orient="records")),
               "wall_s": round(time.perf_counter() - t0, 1)}
    path = out / "search.json"
    atomic_write_text(path, json.dumps(summary, indent=2, default=_plain))
    return SearchRun(done, gallery, predictor, summary, [path, done_path, *gallery.files])


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.ndarray, tuple)):
        return [_plain(x) for x in v]
    return v
