"""The accuracy-source interface: :class:`AccuracySource`, and the adapter of protocol objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hwlat.errors import InputError

if TYPE_CHECKING:
    from hwlat.spaces import SearchSpace

__all__ = ["AccuracySource", "as_source", "check_genes"]


class AccuracySource:
    """Base class of accuracy sources; subclasses override ``evaluate`` or ``evaluate_genes``.

    Attributes: ``name`` (shown with every accuracy), ``kind`` (``"accuracy"`` | ``"proxy"``),
    ``unit`` (``"%"`` for accuracies; ``"score"`` for proxies) and ``space``; a source of some
    spaces only lists their names in ``spaces`` (checked at construction).
    """

    name: str = "accuracy"
    kind: str = "accuracy"
    unit: str = "%"
    #: names of the search spaces this source serves (empty: any space)
    spaces: ClassVar[tuple[str, ...]] = ()
    #: what the source is, for messages
    label: ClassVar[str] = "this accuracy source"

    def __init__(self, space: SearchSpace) -> None:
        if self.spaces and getattr(space, "name", None) not in self.spaces:
            raise InputError(f"{self.label} belongs to the {' / '.join(self.spaces)} search space, not to "
                             f"{getattr(space, 'name', space)!r}; use an accuracy source of that space")
        self.space = space

    def evaluate(self, archs: Sequence[Any]) -> np.ndarray:
        """Accuracy of each architecture (float array, ``len(archs)``)."""
        self._check_overridden()
        return self.evaluate_genes(self.space.to_genes(list(archs)))

    def evaluate_genes(self, genes: np.ndarray) -> np.ndarray:
        """Accuracy of each gene row of ``genes`` (``(n, n_genes)`` integers)."""
        self._check_overridden()
        return self.evaluate([self.space.from_genes(g) for g in np.asarray(genes)])

    def _check_overridden(self) -> None:
        cls = type(self)
        if cls.evaluate is AccuracySource.evaluate and cls.evaluate_genes is AccuracySource.evaluate_genes:
            raise NotImplementedError(f"{cls.__name__} must override evaluate() or evaluate_genes()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r})"


def check_genes(space: SearchSpace, genes: Any) -> np.ndarray:
    """``genes`` as an ``(n, n_genes)`` int64 array of ``space``, or an InputError."""
    g = np.asarray(genes)
    n = len(space.gene_sizes())
    if g.ndim != 2 or g.shape[1] != n or (g.size and not np.issubdtype(g.dtype, np.integer)):
        raise InputError(f"genes must be an integer array of shape (n, {n}) for the {space.name} space, "
                         f"got {g.dtype} {g.shape}")
    return g.astype(np.int64, copy=False)


# -- protocol adapter and the registry -----------------------------------------------------------------
class _Adapter(AccuracySource):
    """Any object with ``name``, ``kind`` and ``evaluate`` and/or ``evaluate_genes``."""

    def __init__(self, obj: Any, space: SearchSpace) -> None:
        super().__init__(space)
        self.obj = obj
        self.name = str(obj.name)
        self.kind = str(getattr(obj, "kind", "accuracy"))
        self.unit = str(getattr(obj, "unit", "%" if self.kind == "accuracy" else "score"))
        self._has_genes = callable(getattr(obj, "evaluate_genes", None))
        self._has_archs = callable(getattr(obj, "evaluate", None))

    def evaluate(self, archs: Sequence[Any]) -> np.ndarray:
        if self._has_archs:
            return np.asarray(self.obj.evaluate(list(archs)), dtype=np.float64).reshape(-1)
        return np.asarray(self.obj.evaluate_genes(self.space.to_genes(list(archs))), dtype=np.float64).reshape(-1)

    def evaluate_genes(self, genes: np.ndarray) -> np.ndarray:
        if self._has_genes:
            return np.asarray(self.obj.evaluate_genes(np.asarray(genes)), dtype=np.float64).reshape(-1)
        return np.asarray(self.obj.evaluate([self.space.from_genes(g) for g in np.asarray(genes)]),
                          dtype=np.float64).reshape(-1)


def as_source(obj: Any, space: SearchSpace) -> AccuracySource:
    """``obj`` if it is an AccuracySource, else an adapter of an object with ``name``, ``kind`` and
    ``evaluate`` / ``evaluate_genes`` (checked)."""
    if isinstance(obj, AccuracySource):
        return obj
    if not isinstance(getattr(obj, "name", None), str):
        raise InputError(f"an accuracy source needs a .name (shown next to its accuracies); "
                         f"{type(obj).__name__} has none")
    kind = getattr(obj, "kind", "accuracy")
    if kind not in ("accuracy", "proxy"):
        raise InputError(f"accuracy source {obj.name!r} has kind {kind!r}; it must be 'accuracy' or 'proxy'")
    if not (callable(getattr(obj, "evaluate", None)) or callable(getattr(obj, "evaluate_genes", None))):
        raise InputError(f"accuracy source {obj.name!r} needs evaluate(archs) or evaluate_genes(genes)")
    return _Adapter(obj, space)
