"""The search loop: :func:`run_search` drives a strategy, evaluates its proposals, keeps the archive.

>>> from hwlat.search import get_space, run_search                           # doctest: +SKIP
>>> res = run_search(space, predictor, "nb201-csv:accuracy.csv:cifar10",      # doctest: +SKIP
...                  strategy="nsga2", n_evals=500, seed=0)
>>> res.front.best_under([1.0, 2.0])                                         # doctest: +SKIP

Strategies (:mod:`hwlat.search.strategies`) work on the integer encoding of a space (genes,
:meth:`SearchSpace.gene_sizes`), in an ask/tell loop: a strategy proposes a batch of gene rows,
:func:`run_search` drops those already evaluated (every architecture is evaluated once),
evaluates the rest in one vectorised call of the latency predictor
(``predict_genes(genes) -> ms`` or ``predict(archs) -> ms``) and of the accuracy source, stores
them in the archive and tells the strategy. Everything random comes from one seeded generator,
and the archive, the strategy's state and the generator's state are appended to a checkpoint
(the profiler's :class:`~hwlat.profiler.checkpoint.Checkpoint`: one record per save, holding the
rows evaluated since the last one and the states after them) and resumed: a resumed search
continues exactly where the interrupted one stopped.

Latency budgets
---------------
``budget_ms`` is a real constraint: an architecture with ``latency_ms <= budget_ms`` is feasible.
Evolution's ``reward="hard"`` ranks every feasible architecture above every infeasible one (and
infeasible ones by latency); NSGA-II uses constrained domination (Deb). ``reward="soft"`` is
MnasNet's reward ``ACC * (LAT / T) ** w`` with ``w = -0.07``: an *exchange rate*, not a budget —
a network 10 % slower than ``T`` must be about 0.67 % (relative) more accurate to score the
same, and networks faster than ``T`` earn a bonus; the result can exceed ``T``. A budget below
the least latency the space can reach is an error that states that least latency.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwlat._progress import progress_bar
from hwlat.errors import InputError
from hwlat.profiler.checkpoint import Checkpoint, job_header
from hwlat.search.accuracy import AccuracySource, make_accuracy
from hwlat.search.pareto import ParetoFront
from hwlat.search.strategies.archive import Archive
from hwlat.search.strategies.base import Found, Strategy, check_budgets, check_int, json_plain, make_strategy
from hwlat.search.strategies.genes import canonical_genes
from hwlat.search.strategies.latency import min_latency, predict_latency_genes
from hwlat.spaces.base import SearchSpace, as_rng

__all__ = ["run_search", "SearchResult", "find_with_run_search"]

log = logging.getLogger(__name__)

#: 2: JSON-lines records (version 1 was one .npz snapshot)
_CHECKPOINT_VERSION = 2
#: what every save record holds (a record without one of them is skipped when resuming)
_SAVE_FIELDS = ("genes", "latency_ms", "accuracy", "extra", "round", "rng_state", "strategy_state", "rounds")


# -- result -----------------------------------------------------------------------------------------------------
class SearchResult:
    """What a search evaluated, and its front.

    ``archive`` is a DataFrame with one row per evaluation (``eval`` index, ``arch`` text,
    ``genes``, ``latency_ms``, ``accuracy``, extra objectives, ``feasible``, ``round``); ``genes``
    is the same as an ``(n, n_genes)`` array; ``front`` the latency–accuracy Pareto front of the
    whole archive. ``accuracy_name`` / ``accuracy_kind`` say where accuracy came from.
    """

    def __init__(self, *, space: SearchSpace, genes: np.ndarray, latency_ms: np.ndarray, accuracy: np.ndarray,
                 extra: Mapping[str, np.ndarray], rounds: np.ndarray, budget_ms: float | None, accuracy_name: str,
                 accuracy_kind: str, accuracy_unit: str, latency_name: str, strategy: str,
                 strategy_params: Mapping[str, Any], seed: int, wall_s: float, n_requested: int,
                 min_latency: tuple[float, str] | None) -> None:
        self.space = space
        self.genes = genes
        self.latency_ms = latency_ms
        self.accuracy = accuracy
        self.extra = dict(extra)
        self.rounds = rounds
        self.budget_ms = budget_ms
        self.accuracy_name = accuracy_name
        self.accuracy_kind = accuracy_kind
        self.accuracy_unit = accuracy_unit
        self.latency_name = latency_name
        self.strategy = strategy
        self.strategy_params = dict(strategy_params)
        self.seed = seed
        self.wall_s = wall_s
        self.n_requested = n_requested
        self.min_latency = min_latency
        self._archive: pd.DataFrame | None = None
        self._front: ParetoFront | None = None

    @property
    def n_evals(self) -> int:
        return int(self.latency_ms.size)

    @property
    def feasible(self) -> np.ndarray:
        if self.budget_ms is None:
            return np.ones(self.n_evals, dtype=bool)
        return self.latency_ms <= self.budget_ms

    @property
    def archive(self) -> pd.DataFrame:
        if self._archive is None:
            archs = [self.space.encode(self.space.from_genes(g)) for g in self.genes]
            df = pd.DataFrame({"eval": np.arange(self.n_evals), "arch": archs,
                               "genes": [tuple(int(x) for x in g) for g in self.genes],
                               "latency_ms": self.latency_ms, "accuracy": self.accuracy})
            for name, v in self.extra.items():
                df[name] = v
            df["feasible"] = self.feasible
            df["round"] = self.rounds
            self._archive = df
        return self._archive.copy()

    @property
    def front(self) -> ParetoFront:
        if self._front is None:
            df = self.archive
            self._front = ParetoFront.from_points(df["latency_ms"].to_numpy(), df["accuracy"].to_numpy(),
                                                  archs=df["arch"].tolist(), genes=df["genes"].tolist(),
                                                  eval=df["eval"].to_numpy(), accuracy_name=self.accuracy_name)
        return self._front

    def best(self, budget_ms: float | None = None) -> dict[str, Any] | None:
        """The most accurate evaluated architecture within ``budget_ms`` (default: the search's budget)."""
        b = self.budget_ms if budget_ms is None else float(budget_ms)
        if b is None:
            if not self.n_evals:
                return None
            i = int(np.argmax(self.accuracy))
            return self.archive.iloc[i].to_dict()
        return self.front.best_under(b)

    def __repr__(self) -> str:
        budget = f", budget {self.budget_ms:g} ms" if self.budget_ms is not None else ""
        return (f"SearchResult({self.strategy}, {self.n_evals} evaluations{budget}, accuracy from "
                f"{self.accuracy_name!r}, {self.wall_s:.2f} s)")


# -- the loop ------------------------------------------------------------------------------------------------------
def _latency_name(latency: Any) -> str:
    name = getattr(latency, "name", None)
    if isinstance(name, str):
        return name
    table = getattr(latency, "table", None)
    dev = getattr(getattr(table, "metadata", None), "device_name", None)
    return f"{type(latency).__name__}({dev})" if isinstance(dev, str) else type(latency).__name__


def _space_id(space: SearchSpace) -> dict[str, Any]:
    return json.loads(json.dumps({"name": space.name, "config": space.config()}, default=str))


def run_search(space: SearchSpace, latency: Any, accuracy: Any, strategy: str | Strategy = "nsga2", *,
               budget_ms: float | None = None, n_evals: int = 1000, seed: int = 0,
               checkpoint: str | Path | None = None, checkpoint_every_s: float = 10.0, progress: bool = True,
               extra_objectives: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
               check_budget: bool = True, budgets: Sequence[float] | None = None,
               **strategy_kw: Any) -> SearchResult:
    """Search ``space`` for fast, accurate architectures.

    Parameters
    ----------
    space:
        A :class:`~hwlat.spaces.SearchSpace`.
    latency:
        A latency predictor: ``predict_genes(genes) -> ms`` (vectorised, preferred) or
        ``predict(archs) -> ms``.
    accuracy:
        An accuracy source or its text (see :func:`~hwlat.search.accuracy.make_accuracy`).
    strategy:
        ``"random"``, ``"evolution"`` (aging evolution, MnasNet reward), ``"nsga2"`` or a
        :class:`Strategy`; ``strategy_kw`` go to its constructor (e.g. ``population=50``,
        ``reward="soft"``).
    budget_ms:
        Latency budget (ms): a constraint for the strategy and the ``feasible`` column. A budget
        below the least latency of the space raises InputError stating that least latency
        (``check_budget=False`` skips the check).
    n_evals:
        Evaluations (distinct architectures) in total, counting those of a resumed checkpoint.
        Fewer are made when the space holds fewer architectures.
    seed:
        Seed of the one generator all randomness comes from.
    checkpoint:
        A file (``.jsonl``, a :class:`~hwlat.profiler.checkpoint.Checkpoint`) the search appends
        its progress to every ``checkpoint_every_s`` seconds, at the end and on an error or
        Ctrl-C; if it exists, the search resumes from it (it must come from the same space,
        strategy, seed, budget and accuracy source).
    progress:
        Show a progress bar on stderr.
    extra_objectives:
        More objectives to minimise, ``name -> f(genes) -> values`` (used by NSGA-II; all are
        stored in the archive).
    budgets:
        The budgets (ms) the result will be read at (a gallery's). A budget-aware strategy
        (``"budgets"``) aims at each of them; the others ignore them.
    """
    t_start = time.perf_counter()
    if not isinstance(space, SearchSpace):
        raise InputError(f"space must be a SearchSpace (e.g. get_space('nb201')), got {type(space).__name__}")
    n_evals = check_int("run_search", "n_evals", n_evals, 1)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"run_search takes an integer seed so that a search can be reproduced and resumed, "
                         f"got {seed!r}")
    rng = as_rng(seed)
    acc_src: AccuracySource = make_accuracy(accuracy, space)
    strat = make_strategy(strategy, **strategy_kw)
    if not strat.ask_tell:
        raise InputError(f"the {strat.name} strategy does not propose architectures to evaluate, so run_search cannot "
                         "drive it; run it through hwlat search (search_gallery) or its own function")
    extras = dict(extra_objectives or {})
    for k, f in extras.items():
        if not callable(f):
            raise InputError(f"extra objective {k!r} must be a function of a genes array")
        if k in ("eval", "arch", "genes", "latency_ms", "accuracy", "feasible", "round"):
            raise InputError(f"extra objective name {k!r} clashes with an archive column; rename it")
    if budget_ms is not None:
        if isinstance(budget_ms, bool) or not isinstance(budget_ms, (int, float, np.number)) \
                or not math.isfinite(float(budget_ms)) or float(budget_ms) <= 0:
            raise InputError(f"budget_ms must be a positive number of milliseconds, got {budget_ms!r}")
        budget_ms = float(budget_ms)
    if getattr(strat, "reward", None) == "soft" and budget_ms is None:
        raise InputError("the soft MnasNet reward ACC*(LAT/T)^w needs a target latency T: give budget_ms")

    lowest: tuple[float, str] | None = None
    if budget_ms is not None and check_budget:
        lowest = min_latency(space, latency, seed=int(seed))
        if not (math.isfinite(lowest[0]) and lowest[0] > 0):
            # not the budget's fault: say what is wrong with the latencies
            raise InputError(f"{_latency_name(latency)} gives the fastest architecture of the {space.name} space a "
                             f"latency of {lowest[0]:g} ms ({lowest[1]}), which no network has; the latency table or "
                             "predictor is wrong (rows of zero, negative or missing latency): fix or re-profile it")
        if budget_ms < lowest[0]:
            msg = (f"no architecture of the {space.name} space runs within {budget_ms:g} ms under "
                   f"{_latency_name(latency)}: the least latency it can reach is {lowest[0]:.4g} ms ({lowest[1]}); "
                   f"raise the budget to at least that")
            if getattr(strat, "reward", None) == "soft":
                log.warning("%s (the soft reward treats %g ms as an exchange-rate target, so the search goes on)",
                            msg, budget_ms)
            else:
                raise InputError(msg)

    archive = Archive(len(space.gene_sizes()), list(extras), space.gene_sizes())
    if budgets is not None:
        budgets = check_budgets("run_search", budgets)
    strat.bind(space, rng, budget_ms, budgets=budgets,
               latency_of=lambda g: predict_latency_genes(latency, space, g))
    header = job_header("search", version=_CHECKPOINT_VERSION, space=_space_id(space), strategy=strat.name,
                        strategy_params=strat.params(), seed=int(seed), budget_ms=budget_ms, accuracy=acc_src.name,
                        latency=_latency_name(latency), extra_objectives=list(extras),
                        **({"budgets": budgets} if budgets is not None else {}))
    ckpt = Checkpoint(checkpoint, header, required=_SAVE_FIELDS) if checkpoint is not None else None
    n_round, wall_before, saved = 0, 0.0, 0
    if ckpt is not None and ckpt.rows:
        last: dict[str, Any] = {}
        try:
            for rec in ckpt.rows.values():  # in the order they were written
                archive.extend(rec)
                last = rec
            rng.bit_generator.state = last["rng_state"]
            strat.load_state_dict(last["strategy_state"])
            n_round, wall_before = int(last["rounds"]), float(last.get("wall_s", 0.0))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            ckpt.close()
            why = f"it lacks {exc}" if isinstance(exc, KeyError) else str(exc)
            raise InputError(f"{ckpt.path} holds a search state that cannot be resumed ({why}); delete it to "
                             "start the search again, or choose another output folder (-o)") from None
        # the next save's number is above every one kept (a damaged one skipped leaves a gap)
        saved = 1 + max((int(k[5:]) for k in ckpt.rows if k.startswith("save#") and k[5:].isdigit()),
                        default=len(ckpt.rows) - 1)
        log.info("resumed %s search from %s: %d evaluations done", strat.name, ckpt.path, archive.n)

    round_rng_state = rng.bit_generator.state
    t_loop = time.perf_counter()
    written = archive.n  # rows already in the checkpoint

    def save() -> None:
        nonlocal saved, written
        if ckpt is None or archive.n == written:  # nothing evaluated since the last save (or at all)
            return
        ckpt.put(f"save#{saved}", {**archive.arrays(written), "rng_state": round_rng_state,
                                   "strategy_state": strat.state_dict(), "rounds": n_round, "n_evals": archive.n,
                                   "wall_s": wall_before + time.perf_counter() - t_loop})
        saved, written = saved + 1, archive.n

    total_space = space.size()
    exhausted = False
    bar = None
    if progress:
        bar = progress_bar(total=n_evals, initial=min(archive.n, n_evals), unit="arch",
                           desc=f"{strat.name} on {space.name}")
    last_save = time.perf_counter()
    try:
        while archive.n < n_evals and not exhausted:
            round_rng_state = rng.bit_generator.state
            want = min(strat.batch_size, n_evals - archive.n)
            first = strat.ask(want, archive)
            target = min(len(first), want)
            new = archive.unseen(first)[:target]
            tries = 0
            while new.shape[0] < target and tries < 16:
                more = strat.ask(max(4 * (target - new.shape[0]), 8), archive)  # spares: fewer rounds
                new = archive.unseen(np.concatenate([new, more]))[:target]
                tries += 1
            if new.shape[0] < target:
                new = _fill_unseen(space, archive, new, target, rng)
            if new.shape[0] == 0:
                exhausted = True
                break
            lat = predict_latency_genes(latency, space, new)
            acc = np.asarray(acc_src.evaluate_genes(new), dtype=np.float64).reshape(-1)
            if acc.size != new.shape[0] or not np.all(np.isfinite(acc)):
                raise InputError(f"accuracy source {acc_src.name!r} returned {acc.size} values (NaN or infinite "
                                 f"among them?) for {new.shape[0]} architectures")
            ex = np.column_stack([np.asarray(f(new), dtype=np.float64).reshape(-1) for f in extras.values()]) \
                if extras else np.zeros((new.shape[0], 0))
            rows = archive.add(new, lat, acc, ex, n_round)
            strat.tell(rows, archive)
            n_round += 1
            round_rng_state = rng.bit_generator.state
            if bar is not None:
                bar.update(int(new.shape[0]))
            if ckpt is not None and time.perf_counter() - last_save >= checkpoint_every_s:
                save()
                last_save = time.perf_counter()
            if archive.n >= total_space:
                exhausted = True
    finally:
        if bar is not None:
            bar.close()
        save()  # the state of the last completed round, at the end and on an error or Ctrl-C
        if ckpt is not None:
            ckpt.close()
    if archive.n < n_evals:
        log.warning("the %s space holds only %d distinct architectures; the search evaluated all of them",
                    space.name, archive.n)
    wall = wall_before + time.perf_counter() - t_loop
    log.info("%s search on %s: %d evaluations in %.2f s (setup %.2f s)", strat.name, space.name, archive.n, wall,
             t_loop - t_start)
    return SearchResult(space=space, genes=archive.genes.copy(), latency_ms=archive.latency_ms.copy(),
                        accuracy=archive.accuracy.copy(),
                        extra={k: archive.extra[:, i].copy() for i, k in enumerate(extras)},
                        rounds=archive.rounds.copy(), budget_ms=budget_ms, accuracy_name=acc_src.name,
                        accuracy_kind=acc_src.kind, accuracy_unit=getattr(acc_src, "unit", "%"),
                        latency_name=_latency_name(latency), strategy=strat.name, strategy_params=strat.params(),
                        seed=int(seed), wall_s=wall, n_requested=n_evals, min_latency=lowest)


def _fill_unseen(space: SearchSpace, archive: Archive, new: np.ndarray, target: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Top ``new`` up to ``target`` rows with architectures never evaluated (random ones)."""
    for _ in range(4):
        cand = canonical_genes(space, space.sample_genes(rng, 4 * target))
        new = archive.unseen(np.concatenate([new, cand]))[:target]
        if new.shape[0] >= target:
            return new
    sizes = tuple(int(s) for s in space.gene_sizes())
    total = math.prod(sizes)
    if total <= 5_000_000 and total == space.size():
        # small space: draw directly from the architectures not yet evaluated
        used = np.ravel_multi_index(tuple(np.concatenate([archive.genes, new]).T), sizes) if archive.n or new.size \
            else np.zeros(0, dtype=np.int64)
        free = np.setdiff1d(np.arange(total), used)
        pick = rng.permutation(free)[:target - new.shape[0]]
        return np.concatenate([new, np.stack(np.unravel_index(pick, sizes), axis=1).astype(np.int64)])
    return new


# -- a gallery run -------------------------------------------------------------------------------------------------
def find_with_run_search(strategy: Strategy, space: SearchSpace, latency: Any, accuracy: AccuracySource, *,
                         out_dir: Path, budget_ms: float | None, budgets: Sequence[float] | None, n_evals: int,
                         seed: int, progress: bool, context: Mapping[str, Any]) -> Found:
    """:meth:`Strategy.find` of an ask/tell strategy: :func:`run_search` (checkpointed into
    ``out_dir/search.jsonl``), its feasible archive as the gallery's candidates."""
    res = run_search(space, latency, accuracy, strategy, budget_ms=budget_ms, n_evals=n_evals, seed=seed,
                     checkpoint=Path(out_dir) / "search.jsonl", progress=progress, budgets=budgets)
    archive = res.archive
    if budget_ms is not None:
        archive = archive[archive["feasible"]]
    ref = (float(res.latency_ms.max()), float(res.accuracy.min()))
    front = res.front
    summary = {
        "space": space.name, "space_config": space.config(), "device": context["device"], "strategy": res.strategy,
        "strategy_params": res.strategy_params, "seed": seed, "evaluations": res.n_evals,
        "search_wall_s": round(res.wall_s, 3), "budget_ms": budget_ms,
        "least_latency_ms": None if res.min_latency is None else res.min_latency[0],
        "accuracy": accuracy.name, "accuracy_kind": accuracy.kind, "latency": res.latency_name,
        "calibration": context["calibration"], "hypervolume": front.hypervolume(ref), "hypervolume_ref": ref,
        "knee": json_plain(front.knee()),
    }
    meta = {k: summary[k] for k in ("strategy", "evaluations", "budget_ms", "least_latency_ms", "latency",
                                    "calibration", "hypervolume", "hypervolume_ref", "seed")}

    def summarize(gallery: Any) -> dict[str, Any]:
        out = dict(summary)
        out["agreement"] = gallery.agreement()
        out["wall_s"] = round(time.perf_counter() - context["t0"], 1)
        out["budgets"] = json.loads(gallery.budgets.to_json(orient="records"))
        return out

    return Found(result=res, candidates=archive[["arch", "latency_ms", "accuracy"]], accuracy_name=accuracy.name,
                 accuracy_kind=accuracy.kind, summarize=summarize, budgets=budgets, max_budget_ms=budget_ms,
                 meta=meta)
