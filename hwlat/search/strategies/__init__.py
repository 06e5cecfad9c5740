"""Search strategies, one module each, registered in :data:`hwlat.registry.STRATEGIES`.

==============  ===========================================================================
``random``      :class:`RandomSearch` (:mod:`.random_search`)
``evolution``   :class:`AgingEvolution` with MnasNet's reward (:mod:`.evolution`; also ``rea``,
                ``aging-evolution``)
``nsga2``       :class:`NSGA2` (:mod:`.nsga2`; also ``nsga-ii``)
``budgets``     :class:`BudgetEvolution`, constrained evolution at every budget of a gallery at once
                (:mod:`.budgets`; the galleries' default)
``gradient``    :class:`GradientSearch`, ProxylessNAS/FBNet on a supernet (:mod:`.gradient`)
==============  ===========================================================================

The interface is in :mod:`.base`, the loop that drives ask/tell strategies in :mod:`.run`.

>>> from hwlat.search import get_space, run_search                           # doctest: +SKIP
>>> res = run_search(space, predictor, "nb201-csv:accuracy.csv:cifar10",      # doctest: +SKIP
...                  strategy="nsga2", n_evals=500, seed=0)
>>> res.front.best_under([1.0, 2.0])                                         # doctest: +SKIP
"""

from __future__ import annotations

from hwlat.registry import STRATEGIES
from hwlat.search.strategies.archive import Archive
from hwlat.search.strategies.base import Found, Strategy, make_strategy, strategy_names
from hwlat.search.strategies.budgets import BudgetEvolution
from hwlat.search.strategies.evolution import AgingEvolution, mnasnet_reward
from hwlat.search.strategies.genes import canonical_genes, crossover_genes, mutate_genes
from hwlat.search.strategies.gradient import GradientSearch
from hwlat.search.strategies.latency import min_latency, predict_latency_genes
from hwlat.search.strategies.nsga2 import NSGA2
from hwlat.search.strategies.random_search import RandomSearch
from hwlat.search.strategies.run import SearchResult, run_search

__all__ = [
    "Strategy",
    "Archive",
    "Found",
    "RandomSearch",
    "AgingEvolution",
    "NSGA2",
    "BudgetEvolution",
    "GradientSearch",
    "STRATEGIES",
    "make_strategy",
    "strategy_names",
    "run_search",
    "SearchResult",
    "mnasnet_reward",
    "min_latency",
    "mutate_genes",
    "crossover_genes",
    "canonical_genes",
    "predict_latency_genes",
]
