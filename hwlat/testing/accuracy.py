"""The conformance suite of an accuracy source: subclass :class:`AccuracySourceContract`, define
``make_space`` and ``make_source``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hwlat.search.accuracy import AccuracySource, make_accuracy
from hwlat.spaces.base import SearchSpace

__all__ = ["AccuracySourceContract"]


class AccuracySourceContract:
    """What every accuracy source keeps: a name and a kind, one finite value per architecture,
    the same values from architectures and from genes, and the same values twice."""

    #: architectures evaluated per test
    n_archs = 6

    def make_space(self) -> SearchSpace:  # pragma: no cover - overridden
        raise NotImplementedError

    def make_source(self, space: SearchSpace) -> Any:  # pragma: no cover - overridden
        """The source (an AccuracySource, a protocol object or a text for make_accuracy)."""
        raise NotImplementedError

    @pytest.fixture
    def space(self) -> SearchSpace:
        return self.make_space()

    @pytest.fixture
    def source(self, space: SearchSpace) -> AccuracySource:
        return make_accuracy(self.make_source(space), space)

    @pytest.fixture
    def archs(self, space: SearchSpace) -> list[Any]:
        return space.sample(0, self.n_archs)

    def test_named_and_kinded(self, source: AccuracySource) -> None:
        assert isinstance(source, AccuracySource)
        assert isinstance(source.name, str) and source.name
        assert source.kind in ("accuracy", "proxy")
        assert isinstance(source.unit, str) and source.unit

    def test_one_finite_value_per_architecture(self, source: AccuracySource, archs: list[Any]) -> None:
        y = np.asarray(source.evaluate(archs), dtype=np.float64)
        assert y.shape == (len(archs),) and np.isfinite(y).all()
        if source.kind == "accuracy" and source.unit == "%":
            assert (0 <= y).all() and (y <= 100).all()

    def test_genes_give_the_same_values(self, source: AccuracySource, space: SearchSpace,
                                        archs: list[Any]) -> None:
        np.testing.assert_allclose(source.evaluate_genes(space.to_genes(archs)), source.evaluate(archs), rtol=1e-6)

    def test_same_values_twice(self, source: AccuracySource, archs: list[Any]) -> None:
        np.testing.assert_array_equal(source.evaluate(archs), source.evaluate(archs))

    def test_no_architecture_no_value(self, source: AccuracySource, space: SearchSpace) -> None:
        assert np.asarray(source.evaluate_genes(np.zeros((0, len(space.gene_sizes())), dtype=np.int64))).size == 0
