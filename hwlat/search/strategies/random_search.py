"""Random search: uniform sampling per gene, without repeats."""

from __future__ import annotations

import numpy as np

from hwlat.search.strategies.archive import Archive
from hwlat.search.strategies.base import Strategy

__all__ = ["RandomSearch"]


class RandomSearch(Strategy):
    """Uniform random sampling (per gene), without repeats; large batches (default 1000)."""

    name = "random"

    def default_batch_size(self) -> int:
        return 1000

    def ask(self, n: int, archive: Archive) -> np.ndarray:
        return self.random_genes(n)
