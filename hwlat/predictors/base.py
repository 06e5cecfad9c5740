"""The predictor protocol: what every latency predictor offers, and what search may read of one.

A predictor is a scikit-learn style estimator (keyword-only parameters stored unchanged,
``fit(X, y)`` returning ``self``, fitted attributes ending in ``_``) with:

* ``predict(X) -> ms``: architectures of its space (or ops, or ONNX models);
* ``predict_genes(genes) -> ms``: gene rows of its space (``space.to_genes``), vectorised;
* ``min_latency() -> ms | None``: the lowest latency any architecture of the space can have,
  None where the predictor cannot say;
* ``layer_tables() -> LayerTables | None``: its additive structure, for search to use instead
  of reading internals (None where it has none);
* ``to_state() -> (header, arrays)`` and ``from_state(header, arrays, table=None)``: the saved
  form (a JSON-able header naming its ``kind`` and plain numpy arrays), read back through the
  predictor registered under that kind in :data:`hwlat.registry.PREDICTORS`.

:mod:`hwlat.testing.predictor` holds the conformance suite a new predictor can subclass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from hwlat.errors import InputError

if TYPE_CHECKING:
    from hwlat.latency_tables import LatencyTable

__all__ = ["LayerTables", "Predictor", "NotOverASpace", "table_hash", "required", "MIN_GRID"]

T = TypeVar("T")

#: the largest grid of shared genes :meth:`LayerTables.min_ms` enumerates exactly
MIN_GRID = 2_000_000


def required(value: T | None, message: str) -> T:
    """``value``, or :class:`~hwlat.errors.InputError` with ``message`` when it is None (a predictor's
    space or table that a step needs, with the error its ``fit`` gives without it)."""
    if value is None:
        raise InputError(message)
    return value


def table_hash(table: LatencyTable) -> str:
    """SHA-256 of a table's content (keys and latencies), first 16 hex digits."""
    df = table.df.sort_values("key")
    h = hashlib.sha256()
    for key, ms in zip(df["key"], df["latency_ms"]):
        h.update(f"{key}={float(ms):.9g}\n".encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class LayerTables:
    """An additive predictor as tables: ``ms(genes) = constant_ms + Σ_p tables[p][i_p(genes)]``.

    Part ``p`` depends on the genes ``genes[p]`` (indices into a gene row), of sizes ``dims[p]``;
    ``i_p`` is the flat (C-order) index of those genes' values, and ``tables[p]`` the part's
    latency (ms) for each combination, calibration included. A part without genes (``dims[p]
    == ()``) has a table of one entry. ``constant_ms`` is the per-model constant (per-call
    overhead, calibrated intercept).
    """

    genes: tuple[np.ndarray, ...]
    dims: tuple[tuple[int, ...], ...]
    tables: tuple[np.ndarray, ...]
    constant_ms: float
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, genes: Sequence[Any], dims: Sequence[Sequence[int]], tables: Sequence[Any], constant_ms: float,
           names: Sequence[str] = ()) -> LayerTables:
        """Build one from lists (arrays are converted to int64 genes and float64 tables)."""
        return cls(tuple(np.asarray(g, dtype=np.int64) for g in genes), tuple(tuple(int(d) for d in x) for x in dims),
                   tuple(np.asarray(t, dtype=np.float64).ravel() for t in tables), float(constant_ms),
                   tuple(str(n) for n in names))

    def predict_genes(self, genes: np.ndarray) -> np.ndarray:
        """Latency (ms) of each gene row."""
        g = np.asarray(genes)
        total = np.full(g.shape[0], self.constant_ms, dtype=np.float64)
        for idx, dims, tab in zip(self.genes, self.dims, self.tables):
            total += tab[np.ravel_multi_index(tuple(g[:, idx].T), dims)] if dims else tab[0]
        return total

    def min_ms(self, max_grid: int = MIN_GRID) -> float | None:
        """The exact least latency (ms) over every gene combination; None when the genes shared by
        two or more parts span a grid larger than ``max_grid`` (see :meth:`lower_bound_ms`)."""
        sizes: dict[int, int] = {}
        count: dict[int, int] = {}
        for genes, dims in zip(self.genes, self.dims):
            for gi, d in zip(genes, dims):
                sizes[int(gi)] = int(d)
                count[int(gi)] = count.get(int(gi), 0) + 1
        shared = sorted(gi for gi, c in count.items() if c >= 2)
        grid = int(np.prod([sizes[gi] for gi in shared])) if shared else 1
        if grid > max_grid:
            return None
        pos = {gi: k for k, gi in enumerate(shared)}
        total: np.ndarray = np.zeros(tuple(sizes[gi] for gi in shared), dtype=np.float64) if shared else np.zeros(())
        for genes, dims, tab in zip(self.genes, self.dims, self.tables):
            gl = [int(x) for x in genes]
            t = tab.reshape(dims) if dims else tab[0]
            private = tuple(k for k, gi in enumerate(gl) if gi not in pos)
            if private:
                t = t.min(axis=private)
            keep = [gi for gi in gl if gi in pos]
            if keep:
                t = np.transpose(t, np.argsort([pos[gi] for gi in keep]))
                shape = [1] * len(shared)
                for gi in keep:
                    shape[pos[gi]] = sizes[gi]
                t = t.reshape(shape)
            total = total + t
        return float(total.min()) + self.constant_ms

    def lower_bound_ms(self) -> float:
        """A lower bound of the least latency (ms): every part at its own minimum."""
        return sum(float(np.min(t)) for t in self.tables) + self.constant_ms


@runtime_checkable
class Predictor(Protocol):
    """What hwlat expects of a latency predictor (see the module docstring)."""

    def fit(self, X: Any = None, y: Any = None) -> Any: ...

    def predict(self, X: Any) -> np.ndarray: ...

    def predict_genes(self, genes: np.ndarray) -> np.ndarray: ...

    def min_latency(self) -> float | None: ...

    def layer_tables(self) -> LayerTables | None: ...

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...

    @classmethod
    def from_state(cls, header: dict[str, Any], arrays: dict[str, np.ndarray], table: LatencyTable | None = None
                   ) -> Any: ...


class NotOverASpace:
    """The protocol's space methods for a predictor of something else than a space's architectures
    (single ops, ONNX models): ``predict_genes`` refuses, ``min_latency`` and ``layer_tables``
    are None. ``predicts`` says what it predicts instead, for the message."""

    predicts: str = "something other than architectures"
    #: the predictor's own "is it fitted" check (raises NotFittedError), which every user defines
    _check_fitted: Callable[[], None]

    def predict_genes(self, genes: np.ndarray) -> np.ndarray:
        """Not applicable: this predictor does not predict architectures of a search space."""
        raise InputError(f"a {type(self).__name__} predicts {self.predicts}, not gene rows of a search space; "
                         "use a LookupPredictor for architectures")

    def min_latency(self) -> float | None:
        """None: there is no search space whose least latency this predictor could tell."""
        self._check_fitted()
        return None

    def layer_tables(self) -> LayerTables | None:
        """None: this predictor is not additive over the parts of a space."""
        self._check_fitted()
        return None
