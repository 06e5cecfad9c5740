"""Gradient search as a strategy: one ProxylessNAS/FBNet supernet search per budget (see
:mod:`hwlat.search.gradient`); the derived networks make the gallery.

It proposes no gene rows (``ask_tell = False``) and measures its own accuracy (the supernet's, on
its dataset: ``uses_accuracy = False``); it runs through :meth:`GradientSearch.find`, what
``hwlat search --strategy gradient`` calls. Each budget's result is recorded as it finishes in
``gradient.jsonl`` of the output folder (a :class:`~hwlat.profiler.checkpoint.Checkpoint` whose
header names the space, the options, the seed and the latency model), so a rerun of the same
search resumes at the next budget; ``gradient.json`` holds the results of the budgets asked for.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwlat._io import atomic_write_text
from hwlat.errors import InputError
from hwlat.profiler.checkpoint import Checkpoint, job_header
from hwlat.search.gradient import LOSSES, SAMPLINGS, gradient_search, sweep
from hwlat.search.strategies.archive import Archive
from hwlat.search.strategies.base import Found, Strategy, check_int, json_plain
from hwlat.search.strategies.latency import min_latency
from hwlat.spaces.base import SearchSpace

__all__ = ["GradientSearch"]

# what a gallery run sets itself (or a test's shortcut), not a strategy parameter
_NOT_OPTIONS = {"space", "table_or_predictor", "budget_ms", "seed", "progress", "_data", "_latency"}
#: what each budget's record in gradient.jsonl holds (a record without one of them is searched again)
_BUDGET_FIELDS = ("arch_text", "predicted_latency_ms", "expected_latency_ms", "supernet_accuracy", "accuracy_source",
                  "loss", "sampling", "seconds")


class GradientSearch(Strategy):
    """ProxylessNAS / FBNet gradient search on the space's supernet, one search per gallery budget.

    Parameters are those of :func:`~hwlat.search.gradient.gradient_search` (``None``: its
    default): ``loss``, ``sampling``, ``dataset``, ``epochs``, ``max_batches``, ``loss_params``,
    and any other keyword it takes in ``options``. Without gallery budgets, four budgets are spread
    between the least latency of the space and ``budget_ms``.
    """

    name = "gradient"
    ask_tell = False
    uses_accuracy = False

    def __init__(self, *, loss: str | None = None, sampling: str | None = None, dataset: Any = None,
                 epochs: int | None = None, max_batches: int | None = None,
                 loss_params: Mapping[str, float] | None = None, **options: Any) -> None:
        super().__init__()
        known = set(inspect.signature(gradient_search).parameters) - _NOT_OPTIONS
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"GradientSearch: unknown parameter(s) {', '.join(unknown)}; it takes "
                             f"{', '.join(sorted(known))}")
        if loss is not None and loss not in LOSSES:
            raise InputError(f"GradientSearch: unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
        if sampling is not None and sampling not in SAMPLINGS:
            raise InputError(f"GradientSearch: unknown sampling {sampling!r}; choose from {', '.join(SAMPLINGS)}")
        if epochs is not None:
            check_int("GradientSearch", "epochs", epochs, 1)
        if max_batches is not None:
            check_int("GradientSearch", "max_batches", max_batches, 1)
        given = {"loss": loss, "sampling": sampling, "dataset": dataset, "epochs": epochs, "max_batches": max_batches,
                 "loss_params": None if loss_params is None else dict(loss_params), **options}
        self.options = {k: v for k, v in given.items() if v is not None}

    def params(self) -> dict[str, Any]:
        return dict(self.options)

    def ask(self, n: int, archive: Archive) -> np.ndarray:
        raise InputError("gradient search trains a supernet and proposes no architectures to evaluate; run it "
                         "through hwlat search (search_gallery) or hwlat.search.gradient_search")

    def check_run(self, *, accuracy: Any, budget_ms: float | None, budgets: Sequence[float] | None) -> None:
        if accuracy is not None:
            raise InputError("the gradient search trains its own supernet: its accuracy is the supernet's on the "
                             "dataset (--dataset); leave --accuracy out")
        if budget_ms is None and budgets is None:
            raise InputError("the gradient search needs a budget (--budget MS, or --budgets MS ...): it trains one "
                             "supernet per budget")

    def find(self, space: SearchSpace, latency: Any, accuracy: Any, *, out_dir: Path, budget_ms: float | None,
             budgets: Sequence[float] | None, n_evals: int, seed: int, progress: bool,
             context: Mapping[str, Any]) -> Found:
        self.check_run(accuracy=accuracy, budget_ms=budget_ms, budgets=budgets)
        out = Path(out_dir)
        if budgets is None:
            assert budget_ms is not None
            least = min_latency(space, latency)[0]
            if budget_ms <= least:
                raise InputError(f"budget {budget_ms:g} ms is below the least latency the {space.name} space can "
                                 f"reach on {context['device']}: {least:.4g} ms; choose a budget above it")
            budgets = [float(b) for b in np.linspace(least + (budget_ms - least) / 4, budget_ms, 4)]
        budgets = sorted(float(b) for b in budgets)
        header = job_header("gradient-sweep", space=space.name, space_config=space.config(), seed=seed,
                            options=self.options, latency=repr(latency))
        out.mkdir(parents=True, exist_ok=True)
        with Checkpoint(out / "gradient.jsonl", header, required=_BUDGET_FIELDS) as ckpt:
            todo = [b for b in budgets if f"{b:.6g}" not in ckpt.rows]
            if todo:
                # the derived networks keep the gallery's margin under their budgets
                sweep(space, latency, todo, seed=seed, progress=progress, margin=context.get("budget_margin") or 0.0,
                      **self.options,
                      on_result=lambda r: ckpt.put(f"{r.budget_ms:.6g}", {
                          k: v for k, v in r.to_dict().items() if k not in ("history", "probabilities")}))
            rows = [{k: v for k, v in ckpt.rows[f"{b:.6g}"].items() if k != "key"} for b in budgets]
        done_path = out / "gradient.json"
        done = {f"{b:.6g}": r for b, r in zip(budgets, rows)}
        atomic_write_text(done_path, json.dumps(done, indent=2, default=json_plain))
        name = rows[0]["accuracy_source"]
        candidates = pd.DataFrame({"arch": [r["arch_text"] for r in rows],
                                   "latency_ms": [r["predicted_latency_ms"] for r in rows],
                                   "accuracy": [100 * r["supernet_accuracy"] for r in rows]})
        meta = {"strategy": f"gradient ({rows[0]['loss']}, {rows[0]['sampling']})", "evaluations": len(rows),
                "budget_ms": budget_ms, "latency": repr(latency), "calibration": context["calibration"], "seed": seed}

        def summarize(gallery: Any) -> dict[str, Any]:
            measured = gallery.front.set_index("arch")["measured_ms"].to_dict()
            per_budget = [{"budget_ms": b, "arch": r["arch_text"], "expected_latency_ms": r["expected_latency_ms"],
                           "predicted_ms": r["predicted_latency_ms"], "measured_ms": measured.get(r["arch_text"]),
                           "supernet_accuracy_pct": 100 * r["supernet_accuracy"]} for b, r in zip(budgets, rows)]
            return {"space": space.name, "space_config": space.config(), "device": context["device"],
                    "strategy": meta["strategy"], "seed": seed, "evaluations": len(rows),
                    "search_wall_s": round(sum(r["seconds"] for r in rows), 1), "budget_ms": budget_ms,
                    "accuracy": name, "accuracy_kind": "accuracy", "latency": meta["latency"],
                    "calibration": context["calibration"], "searches": per_budget,
                    "budgets": json.loads(gallery.budgets.to_json(orient="records")),
                    "wall_s": round(time.perf_counter() - context["t0"], 1)}

        return Found(result=done, candidates=candidates.drop_duplicates("arch"), accuracy_name=name + " (%)",
                     summarize=summarize, budgets=budgets, min_measure=len(rows), meta=meta, all_members=True,
                     files=[done_path, out / "gradient.jsonl"])
