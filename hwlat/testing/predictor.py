"""The conformance suite of a latency predictor (see :mod:`hwlat.predictors.base`).

Subclass :class:`PredictorContract` in a test module and give the fixtures that build your
predictor and its data; pytest then runs every check on it::

    from hwlat.testing.predictor import PredictorContract

    class TestMyPredictor(PredictorContract):
        @pytest.fixture
        def predictor(self):
            return MyPredictor(space=space, table=table)    # unfitted

        @pytest.fixture
        def fit_args(self):
            return (archs, measured_ms)                     # what fit(X, y) takes; (None, None) for none

        @pytest.fixture
        def predict_X(self):
            return space.sample(0, 20)                      # what predict takes

The checks: keyword-only parameters stored unchanged (``get_params``/``set_params`` and
``sklearn.base.clone`` work), :class:`~hwlat.errors.NotFittedError` before ``fit``, ``fit``
returns ``self``, predictions are positive milliseconds, ``min_latency()``/``layer_tables()``
agree with the predictions, and ``to_state``/``from_state`` (and ``save_predictor``/
``load_predictor``, through the kind registered in :data:`hwlat.registry.PREDICTORS`)
round-trip to identical predictions.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from hwlat.errors import NotFittedError
from hwlat.predictors import LayerTables, Predictor, load_predictor, save_predictor
from hwlat.registry import PREDICTORS

__all__ = ["PredictorContract"]


class PredictorContract:
    """Checks every hwlat latency predictor passes; subclass and give the fixtures below."""

    # the fixtures are typed Any: the suite is what checks that the object under test follows the
    # Predictor protocol (and scikit-learn's get_params / set_params), so it cannot assume it

    @pytest.fixture
    def predictor(self) -> Any:
        """An unfitted predictor."""
        raise NotImplementedError("give a `predictor` fixture returning an unfitted predictor")

    @pytest.fixture
    def fit_args(self) -> tuple[Any, Any]:
        """``(X, y)`` for ``fit``; ``(None, None)`` fits without measurements."""
        return (None, None)

    @pytest.fixture
    def predict_X(self) -> Any:
        """What ``predict`` takes: architectures, op specs or model files."""
        raise NotImplementedError("give a `predict_X` fixture with a few inputs to predict")

    @pytest.fixture
    def genes(self) -> np.ndarray | None:
        """Gene rows of the predictor's space, for ``predict_genes``; None where it has no space."""
        return None

    @pytest.fixture
    def state_table(self) -> Any:
        """The ``table`` passed to ``from_state`` / ``load_predictor``."""
        return None

    @pytest.fixture
    def fitted(self, predictor: Any, fit_args: tuple[Any, Any]) -> Any:
        X, y = fit_args
        return predictor.fit(X, y) if X is not None or y is not None else predictor.fit()

    # -- scikit-learn conventions -----------------------------------------------------------------
    def test_parameters_are_keyword_only_and_stored_unchanged(self, predictor: Any) -> None:
        sig = inspect.signature(type(predictor).__init__)
        params = [p for name, p in sig.parameters.items() if name != "self"]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params), \
            f"{type(predictor).__name__}.__init__ takes positional parameters: {sig}"
        got = predictor.get_params(deep=False)
        assert set(got) == {p.name for p in params}
        rebuilt = type(predictor)(**got)
        for name, value in got.items():
            assert getattr(rebuilt, name) is value, f"parameter {name} is not stored unchanged"
        assert predictor.set_params(**got) is predictor

    def test_clone_gives_an_unfitted_twin(self, predictor: Any, fitted: Any, predict_X: Any) -> None:
        twin = clone(fitted)
        assert type(twin) is type(fitted) and twin is not fitted
        assert set(twin.get_params(deep=False)) == set(fitted.get_params(deep=False))
        with pytest.raises(NotFittedError):
            twin.predict(predict_X)

    def test_not_fitted_raises_not_fitted_error(self, predictor: Any, predict_X: Any) -> None:
        with pytest.raises(NotFittedError):
            predictor.predict(predict_X)
        with pytest.raises(NotFittedError):
            predictor.to_state()
        with pytest.raises(NotFittedError):
            predictor.min_latency()

    def test_fit_returns_self_and_keeps_parameters(self, predictor: Any, fit_args: tuple[Any, Any]) -> None:
        before = predictor.get_params(deep=False)
        X, y = fit_args
        out = predictor.fit(X, y) if X is not None or y is not None else predictor.fit()
        assert out is predictor
        after = predictor.get_params(deep=False)
        assert all(after[k] is v for k, v in before.items()), "fit changed a parameter"

    # -- predicting -------------------------------------------------------------------------------
    def test_predict_returns_positive_milliseconds(self, fitted: Any, predict_X: Any) -> None:
        ms = np.asarray(fitted.predict(predict_X))
        assert ms.dtype.kind == "f" and ms.shape == (len(predict_X),)
        assert np.all(np.isfinite(ms)) and np.all(ms > 0)

    def test_follows_the_protocol(self, fitted: Any, genes: np.ndarray | None) -> None:
        assert isinstance(fitted, Predictor)
        least = fitted.min_latency()
        tables = fitted.layer_tables()
        assert tables is None or isinstance(tables, LayerTables)
        if genes is None:
            return
        ms = np.asarray(fitted.predict_genes(genes))
        assert ms.shape == (len(genes),) and np.all(np.isfinite(ms))
        if least is not None:
            assert least <= ms.min() * (1 + 1e-9), "min_latency() is above a predicted latency"
        if tables is not None:
            np.testing.assert_allclose(tables.predict_genes(genes), ms, rtol=1e-9)
            assert tables.lower_bound_ms() <= ms.min() * (1 + 1e-9)

    # -- saving -----------------------------------------------------------------------------------
    def test_state_round_trip_predicts_identically(self, fitted: Any, predict_X: Any, state_table: Any) -> None:
        header, arrays = fitted.to_state()
        json.dumps(header)  # the header is plain JSON
        assert all(isinstance(v, np.ndarray) and v.dtype != object for v in arrays.values())
        cls = PREDICTORS.get(header["kind"])
        back = cls.from_state(header, arrays, state_table)
        assert type(back) is type(fitted)
        np.testing.assert_allclose(back.predict(predict_X), fitted.predict(predict_X), rtol=1e-12)

    def test_save_and_load(self, fitted: Any, predict_X: Any, state_table: Any, tmp_path: Any) -> None:
        path = save_predictor(fitted, tmp_path / "predictor.npz")
        back = load_predictor(path, table=state_table)
        assert type(back) is type(fitted)
        np.testing.assert_allclose(back.predict(predict_X), fitted.predict(predict_X), rtol=1e-12)
