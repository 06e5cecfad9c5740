"""The budget-aware strategy: one run aims at several budgets, and screens children by latency."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.search import ParetoFront, get_space, run_search
from hwlat.search.strategies import BudgetEvolution
from hwlat.spaces.base import as_rng
from hwlat.testing.strategy import GeneCostLatency, GeneScoreAccuracy


@pytest.fixture(scope="module")
def nb201():
    space = get_space("nb201")
    lat, acc = GeneCostLatency(space), GeneScoreAccuracy(space)
    genes = np.stack(np.unravel_index(np.arange(space.size()), space.gene_sizes()), axis=1)
    lat_all = lat.predict_genes(genes)
    return space, lat, acc, ParetoFront.from_points(lat_all, acc.evaluate_genes(genes)), lat_all


def _budgets(lat_all):
    """Latencies that 10, 30, 50 and 70 % of the space's networks fit."""
    return [float(np.percentile(lat_all, q)) for q in (10, 30, 50, 70)]


def test_children_after_the_first_population_fit_a_target(nb201):
    space, lat, acc, _, lat_all = nb201
    budgets = _budgets(lat_all)
    res = run_search(space, lat, acc, BudgetEvolution(init=40, parents=10), n_evals=600, seed=0, progress=False,
                     budgets=budgets)
    later = res.latency_ms[40:]
    assert res.n_evals == 600
    # screened by predicted latency: nothing bred is over the loosest target
    assert later.max() <= max(budgets) + 1e-9
    # and every target gets candidates of its own
    for lo, hi in zip([0.0, *budgets[:-1]], budgets):
        assert np.sum((later > lo) & (later <= hi)) >= 20, (lo, hi)


def test_one_run_finds_each_budgets_best_better_than_random(nb201):
    space, lat, acc, front, lat_all = nb201
    budgets = _budgets(lat_all)
    exact = front.best_under(budgets)["accuracy"].to_numpy()
    regret = {}
    for strategy in ("budgets", "random"):
        gaps = []
        for seed in range(3):
            kw = {"budgets": budgets} if strategy == "budgets" else {}
            res = run_search(space, lat, acc, strategy, n_evals=800, seed=seed, progress=False, **kw)
            gaps.append(exact - res.front.best_under(budgets)["accuracy"].to_numpy())
        regret[strategy] = np.mean(gaps, axis=0)
    assert np.all(regret["budgets"] >= -1e-9)
    # the synthetic front is smooth: a budget-aimed search gets within a small regret of each exact best
    assert np.all(regret["budgets"] < regret["random"]), regret
    assert regret["budgets"].mean() < 0.05, regret


def test_targets_follow_the_budget_and_drop_budgets_over_it(nb201):
    space, lat, acc, _, _ = nb201
    s = BudgetEvolution(init=20, n_targets=5)
    run_search(space, lat, acc, s, budget_ms=3.0, n_evals=60, seed=0, progress=False)
    assert s.targets[-1] == pytest.approx(3.0) and len(s.targets) == 5
    assert np.all(np.diff(s.targets) > 0)
    s = BudgetEvolution(init=20)
    run_search(space, lat, acc, s, budget_ms=3.0, n_evals=60, seed=0, progress=False, budgets=[2.0, 2.5, 4.0])
    assert s.targets == [2.0, 2.5]


def test_needs_the_latency_predictor_and_checks_its_parameters(nb201):
    space, lat, acc, _, _ = nb201
    with pytest.raises(InputError, match="budgets"):
        BudgetEvolution(budgets=[1.0, -2.0])
    with pytest.raises(InputError, match="local_share"):
        BudgetEvolution(local_share=1.5)
    with pytest.raises(InputError, match="budgets must"):
        run_search(space, lat, acc, "budgets", n_evals=10, budgets=["x"], progress=False)
    s = BudgetEvolution(init=2)
    s.bind(space, as_rng(0), None)  # no latency_of: not driven by run_search
    from hwlat.search.strategies.archive import Archive

    a = Archive(len(space.gene_sizes()), [], space.gene_sizes())
    g = s.random_genes(4)
    a.add(g, lat.predict_genes(g), acc.evaluate_genes(g), np.zeros((4, 0)), 0)
    with pytest.raises(InputError, match="run_search"):
        s.ask(4, a)
