"""The strategy conformance suite (hwlat.testing.strategy) over the built-in strategies."""

from __future__ import annotations

from hwlat.search.strategies import NSGA2, AgingEvolution, BudgetEvolution, GradientSearch, RandomSearch
from hwlat.testing.strategy import StrategyContract


class TestRandomSearch(StrategyContract):
    def make_strategy(self):
        return RandomSearch(batch_size=50)


class TestRandomSearchOneRound(StrategyContract):
    def make_strategy(self):
        return RandomSearch()


class TestAgingEvolution(StrategyContract):
    def make_strategy(self):
        return AgingEvolution(population=20, sample_size=5)


class TestNSGA2(StrategyContract):
    def make_strategy(self):
        return NSGA2(population=20)


class TestBudgetEvolution(StrategyContract):
    def make_strategy(self):
        return BudgetEvolution(init=30, parents=10, n_targets=4)


class TestBudgetEvolutionGivenBudgets(StrategyContract):
    def make_strategy(self):
        return BudgetEvolution(budgets=[1.5, 2.5, 4.0], init=20, parents=8)


class TestGradientSearch(StrategyContract):
    def make_strategy(self):
        return GradientSearch(epochs=2, max_batches=3)
