"""The conformance suite of a search strategy: subclass :class:`StrategyContract`, define ``make_strategy``.

The ask/tell tests run the strategy in :func:`~hwlat.search.run_search` on the NAS-Bench-201 space
with a synthetic latency (a fixed cost per gene value) and accuracy (a seeded score per network),
so they need no table, no device and no data file.
"""

from __future__ import annotations

import json
from typing import Any, cast

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.registry import STRATEGIES
from hwlat.search.strategies import Strategy, make_strategy, run_search
from hwlat.spaces import get_space
from hwlat.spaces.base import SearchSpace

__all__ = ["StrategyContract", "GeneCostLatency", "GeneScoreAccuracy"]


class GeneCostLatency:
    """A latency predictor by the protocol: each gene value costs a fixed, seeded number of ms."""

    name = "gene-cost"

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.costs = [0.05 + rng.random(int(k)) for k in space.gene_sizes()]

    def predict_genes(self, genes: np.ndarray) -> np.ndarray:
        g = np.asarray(genes, dtype=np.int64)
        # a sum of arrays (a space has at least one gene), which typeshed's sum() types as "array or 0"
        return cast(np.ndarray, 0.1 + sum(c[g[:, i]] for i, c in enumerate(self.costs)))


class GeneScoreAccuracy:
    """An accuracy source by the protocol: a seeded score per gene value, summed (percent-like)."""

    name = "gene-score"
    kind = "accuracy"

    def __init__(self, space: SearchSpace, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.scores = [rng.random(int(k)) for k in space.gene_sizes()]

    def evaluate_genes(self, genes: np.ndarray) -> np.ndarray:
        g = np.asarray(genes, dtype=np.int64)
        return cast(np.ndarray, 50.0 + sum(s[g[:, i]] for i, s in enumerate(self.scores)))  # as predict_genes


class _Interrupting(GeneCostLatency):
    def __init__(self, space: SearchSpace, fail_at: int) -> None:
        super().__init__(space)
        self.calls, self.fail_at = 0, fail_at

    def predict_genes(self, genes: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        return super().predict_genes(genes)


class StrategyContract:
    """What every :class:`~hwlat.search.strategies.Strategy` keeps: registered under its name, its
    parameters rebuild it, and (ask/tell strategies) a search that is seeded, evaluates each
    architecture once, honours ``n_evals`` and resumes from a checkpoint exactly."""

    #: evaluations per search in these tests
    n_evals = 120

    def make_strategy(self) -> Strategy:  # pragma: no cover - overridden
        raise NotImplementedError

    def make_space(self) -> SearchSpace:
        return get_space("nb201")

    @pytest.fixture
    def strategy(self) -> Strategy:
        return self.make_strategy()

    @pytest.fixture
    def space(self) -> SearchSpace:
        return self.make_space()

    def _ask_tell(self, strategy: Strategy) -> None:
        if not strategy.ask_tell:
            pytest.skip(f"{strategy.name} does not run in run_search's ask/tell loop")

    def _run(self, space: SearchSpace, latency: Any = None, **kw: Any) -> Any:
        kw = {"n_evals": self.n_evals, "seed": 0, "progress": False, **kw}
        return run_search(space, latency or GeneCostLatency(space), GeneScoreAccuracy(space), self.make_strategy(),
                          **kw)

    def test_registered_under_its_name(self, strategy: Strategy) -> None:
        assert strategy.name in STRATEGIES
        assert isinstance(strategy, STRATEGIES.get(strategy.name))
        assert isinstance(make_strategy(strategy.name), STRATEGIES.get(strategy.name))

    def test_params_rebuild_it(self, strategy: Strategy) -> None:
        params = strategy.params()
        json.dumps(params)
        assert type(strategy)(**params).params() == params
        with pytest.raises(InputError):
            make_strategy(strategy.name, no_such_parameter_of_any_strategy=1)

    def test_same_seed_same_search(self, strategy: Strategy, space: SearchSpace) -> None:
        self._ask_tell(strategy)
        a, b, c = self._run(space), self._run(space), self._run(space, seed=1)
        assert a.n_evals == self.n_evals and a.strategy == strategy.name
        assert (a.genes == b.genes).all() and not (a.genes == c.genes).all()

    def test_each_architecture_once(self, strategy: Strategy, space: SearchSpace) -> None:
        self._ask_tell(strategy)
        res = self._run(space)
        canon = space.canonical_genes(res.genes)
        assert len({tuple(r) for r in canon}) == res.n_evals

    def test_budget_is_recorded(self, strategy: Strategy, space: SearchSpace) -> None:
        self._ask_tell(strategy)
        lat = GeneCostLatency(space)
        budget = float(np.median(lat.predict_genes(space.sample_genes(0, 500))))
        res = self._run(space, budget_ms=budget)
        assert res.budget_ms == budget
        assert (res.feasible == (res.latency_ms <= budget)).all()

    def test_interrupted_search_resumes_exactly(self, strategy: Strategy, space: SearchSpace, tmp_path: Any) -> None:
        self._ask_tell(strategy)
        straight = self._run(space)
        ckpt = tmp_path / "search.jsonl"
        try:  # interrupted in its second round (a strategy that needs one round finishes)
            self._run(space, _Interrupting(space, fail_at=2), checkpoint=ckpt)
        except KeyboardInterrupt:
            pass
        assert ckpt.is_file()
        resumed = self._run(space, checkpoint=ckpt)
        assert (resumed.genes == straight.genes).all()
        json.dumps(resumed.strategy_params)

    def test_not_ask_tell_is_refused_by_run_search(self, strategy: Strategy, space: SearchSpace) -> None:
        if strategy.ask_tell:
            pytest.skip(f"{strategy.name} runs in run_search's loop")
        with pytest.raises(InputError):
            self._run(space)
