"""The strategy interface: an ask/tell loop over gene rows, and :meth:`Strategy.find`, what a
gallery run (``hwlat search``) calls.

A new strategy is one module with a :class:`Strategy` subclass and one registration::

    from hwlat.registry import STRATEGIES
    STRATEGIES.register("annealing", "mypackage.annealing:Annealing")

after which ``make_strategy("annealing")``, :func:`~hwlat.search.run_search` and ``hwlat search
--strategy annealing`` know it. :class:`hwlat.testing.strategy.StrategyContract` is the
conformance suite it should pass.
"""

from __future__ import annotations

import difflib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from hwlat.errors import InputError
from hwlat.registry import STRATEGIES
from hwlat.search.strategies.archive import Archive
from hwlat.search.strategies.genes import canonical_genes, mutate_genes
from hwlat.spaces.base import SearchSpace

__all__ = ["Strategy", "Found", "make_strategy", "strategy_names", "check_int", "check_budgets", "json_plain"]


def check_int(owner: str, name: str, v: Any, lo: int) -> int:
    """``v`` as an int, or an InputError naming ``owner``'s parameter ``name`` (at least ``lo``)."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < lo:
        raise InputError(f"{owner}: {name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def check_budgets(owner: str, budgets: Any) -> list[float]:
    """``budgets`` (ms) sorted without repeats, or an InputError naming ``owner``: positive numbers only."""
    try:
        out = sorted({float(b) for b in budgets})
    except (TypeError, ValueError):
        raise InputError(f"{owner}: budgets must be numbers of milliseconds, got {budgets!r}") from None
    if not out or not all(math.isfinite(b) and b > 0 for b in out):
        raise InputError(f"{owner}: budgets must be positive numbers of milliseconds, got {list(budgets)!r}")
    return out


def json_plain(v: Any) -> Any:
    """``v`` with numpy scalars and arrays, and tuples, as plain JSON values (recursively in dicts)."""
    if isinstance(v, dict):
        return {k: json_plain(x) for k, x in v.items()}
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, (np.ndarray, tuple)):
        return [json_plain(x) for x in v]
    return v


@dataclass
class Found:
    """What :meth:`Strategy.find` hands to the gallery: candidates and how to summarise the run.

    ``candidates`` has the columns ``arch`` (the space's text form), ``latency_ms`` (predicted) and
    ``accuracy``; ``summarize(gallery)`` returns the run's summary (``search.json``) once the
    gallery is built and measured. ``all_members``: every candidate is a gallery member, even one
    another dominates (a gradient search derives one network per budget, and each is measured).
    """

    result: Any
    candidates: pd.DataFrame
    accuracy_name: str
    summarize: Callable[[Any], dict[str, Any]]
    accuracy_kind: str = "accuracy"
    budgets: Sequence[float] | None = None
    max_budget_ms: float | None = None
    min_measure: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    all_members: bool = False


class Strategy(ABC):
    """A search strategy in an ask/tell loop over gene rows (see :func:`~hwlat.search.run_search`).

    Subclasses take keyword-only parameters (validated at construction), propose candidates in
    :meth:`ask`, learn from evaluated rows in :meth:`tell`, and keep a state that
    :meth:`state_dict` / :meth:`load_state_dict` round-trip through JSON (archive row numbers,
    never copies of the data) so that a search can be checkpointed and resumed.

    A strategy that does not propose gene rows (gradient search trains a supernet) sets
    ``ask_tell = False`` and overrides :meth:`find`; one that brings its own accuracy sets
    ``uses_accuracy = False``.
    """

    name: ClassVar[str] = ""
    #: whether the strategy runs in run_search's ask/tell loop
    ask_tell: ClassVar[bool] = True
    #: whether the strategy ranks by an accuracy source (False: it measures its own accuracy)
    uses_accuracy: ClassVar[bool] = True

    def __init__(self, *, batch_size: int | None = None) -> None:
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise InputError(f"{type(self).__name__}: batch_size must be a positive integer, got {batch_size!r}")
        self._batch_size = batch_size

    # set by bind()
    space: SearchSpace
    rng: np.random.Generator
    budget_ms: float | None
    sizes: np.ndarray
    #: the budgets the run's results are read at (a gallery's), or None
    budgets: tuple[float, ...] | None = None
    #: predicted latency (ms) of gene rows, without counting an evaluation (screening), or None
    latency_of: Callable[[np.ndarray], np.ndarray] | None = None

    def bind(self, space: SearchSpace, rng: np.random.Generator, budget_ms: float | None, *,
             budgets: Sequence[float] | None = None,
             latency_of: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """Attach the space, the shared generator and the budget (called by :func:`run_search`);
        ``budgets`` and ``latency_of`` serve strategies that aim at several budgets and screen
        their children by predicted latency before they are evaluated."""
        self.space, self.rng, self.budget_ms = space, rng, budget_ms
        self.sizes = np.asarray(space.gene_sizes(), dtype=np.int64)
        self.budgets = None if budgets is None else tuple(float(b) for b in budgets)
        self.latency_of = latency_of

    @property
    def batch_size(self) -> int:
        """Architectures proposed per round (evaluated in one vectorised call)."""
        return self._batch_size or self.default_batch_size()

    def default_batch_size(self) -> int:
        return 32

    def random_genes(self, n: int) -> np.ndarray:
        return canonical_genes(self.space, self.space.sample_genes(self.rng, n))

    def mutate(self, genes: np.ndarray) -> np.ndarray:
        return canonical_genes(self.space, mutate_genes(genes, self.sizes, self.rng, space=self.space))

    @abstractmethod
    def ask(self, n: int, archive: Archive) -> np.ndarray:
        """Up to ``n`` candidate gene rows (the runner drops those already evaluated)."""

    def tell(self, rows: np.ndarray, archive: Archive) -> None:
        """Archive rows just evaluated (the strategy's own proposals, deduplicated)."""

    def params(self) -> dict[str, Any]:
        """The constructor parameters (recorded in a checkpoint; a resume must use the same)."""
        return {"batch_size": self._batch_size}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""

    def check_run(self, *, accuracy: Any, budget_ms: float | None, budgets: Sequence[float] | None) -> None:
        """Reject, before anything is measured, a gallery run this strategy cannot do (InputError)."""

    def find(self, space: SearchSpace, latency: Any, accuracy: Any, *, out_dir: Path, budget_ms: float | None,
             budgets: Sequence[float] | None, n_evals: int, seed: int, progress: bool,
             context: Mapping[str, Any]) -> Found:
        """Search for a gallery run; its state checkpoints into ``out_dir`` (a rerun resumes).

        ``context`` holds what the summary records beside the strategy's own fields: ``device``
        (name), ``calibration`` (of the predictor) and ``t0`` (``time.perf_counter()`` at the start
        of the run). The default runs :func:`~hwlat.search.run_search` with this strategy.
        """
        # run.py imports this module
        from hwlat.search.strategies.run import find_with_run_search

        return find_with_run_search(self, space, latency, accuracy, out_dir=out_dir, budget_ms=budget_ms,
                                    budgets=budgets, n_evals=n_evals, seed=seed, progress=progress, context=context)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def strategy_names(*, aliases: bool = False) -> list[str]:
    """The registered strategy names (without the aliases registered with ``alias_of=``, unless asked)."""
    return STRATEGIES.names() if aliases else STRATEGIES.primary_names()


def make_strategy(name: str | Strategy, **kw: Any) -> Strategy:
    """A strategy from its registered name (``random``, ``evolution``, ``nsga2``, ``gradient``...) and
    keyword parameters."""
    if isinstance(name, Strategy):
        if kw:
            raise InputError(f"strategy parameters {sorted(kw)} given with a ready-made {name!r}; set them on it")
        return name
    key = str(name).strip().lower()
    if key not in STRATEGIES:
        close = difflib.get_close_matches(key, strategy_names(aliases=True), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown search strategy {name!r}{hint}; choose one of {', '.join(strategy_names())}")
    cls = STRATEGIES.get(key)
    try:
        return cls(**kw)
    except TypeError as exc:
        raise InputError(f"strategy {cls.name!r}: {exc}") from None
