"""Latency-constrained architecture search: search spaces, accuracy sources, strategies and Pareto fronts.

>>> from hwlat.search import get_space, run_search                              # doctest: +SKIP
>>> space = get_space("nb201")                                                  # doctest: +SKIP
>>> res = run_search(space, predictor, "nb201-csv:accuracy.csv:cifar10", "nsga2",  # doctest: +SKIP
...                  n_evals=500, seed=0)
>>> res.front.best_under([0.5, 1.0, 2.0])                                       # doctest: +SKIP
"""

from __future__ import annotations

from hwlat.search.accuracy import (
    AccuracySource,
    CallableAccuracy,
    NB201TableAccuracy,
    OFAPredictorAccuracy,
    accuracy_syntax,
    make_accuracy,
)
from hwlat.search.gradient import GradientResult, gradient_search, sweep
from hwlat.search.pareto import (
    ParetoFront,
    crowding_distance,
    hypervolume_2d,
    non_dominated_mask,
    non_dominated_sort,
)
from hwlat.search.proxies import ProxyAccuracy
from hwlat.search.strategies import (
    NSGA2,
    STRATEGIES,
    AgingEvolution,
    GradientSearch,
    RandomSearch,
    SearchResult,
    Strategy,
    canonical_genes,
    crossover_genes,
    make_strategy,
    min_latency,
    mnasnet_reward,
    mutate_genes,
    run_search,
    strategy_names,
)
from hwlat.spaces import (
    EDGES,
    OPERATIONS,
    SPACES,
    Arch,
    NB201Space,
    OFAMobileNetV3Space,
    ProxylessSpace,
    RngLike,
    SearchSpace,
    as_rng,
    get_space,
    load_benchmark_index,
    unique_ops,
)

__all__ = [
    "SearchSpace",
    "Arch",
    "RngLike",
    "as_rng",
    "unique_ops",
    "NB201Space",
    "OPERATIONS",
    "EDGES",
    "load_benchmark_index",
    "OFAMobileNetV3Space",
    "ProxylessSpace",
    "SPACES",
    "get_space",
    # accuracy sources
    "AccuracySource",
    "NB201TableAccuracy",
    "OFAPredictorAccuracy",
    "CallableAccuracy",
    "make_accuracy",
    "ProxyAccuracy",
    "accuracy_syntax",
    # strategies
    "Strategy",
    "RandomSearch",
    "AgingEvolution",
    "NSGA2",
    "GradientSearch",
    "STRATEGIES",
    "make_strategy",
    "strategy_names",
    "run_search",
    "gradient_search",
    "sweep",
    "GradientResult",
    "SearchResult",
    "mnasnet_reward",
    "min_latency",
    "mutate_genes",
    "crossover_genes",
    "canonical_genes",
    # Pareto fronts
    "ParetoFront",
    "non_dominated_mask",
    "non_dominated_sort",
    "crowding_distance",
    "hypervolume_2d",
]
