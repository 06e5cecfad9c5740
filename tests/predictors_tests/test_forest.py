"""PackedTrees: fitted tree ensembles as arrays predict what scikit-learn predicts."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from hwlat.errors import InputError
from hwlat.predictors.forest import PackedTrees
from hwlat.predictors.kernels import ESTIMATORS, _make_estimator


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.lognormal(size=(200, 6)) * 1e3
    y = np.log(X[:, 0] * X[:, 1] + X[:, 3]) + rng.normal(size=200) * 0.1
    return X, y, rng.lognormal(size=(300, 6)) * 1e3


@pytest.mark.parametrize("name", ESTIMATORS)
def test_packed_trees_predict_as_the_estimator(data, name):
    X, y, X_new = data
    est = _make_estimator(name, 0, len(y)).fit(X, y)
    packed = PackedTrees.from_arrays(PackedTrees.from_estimator(est).to_arrays())
    np.testing.assert_allclose(packed.predict(X_new), est.predict(X_new), rtol=0, atol=1e-12)
    np.testing.assert_allclose(packed.predict(X), est.predict(X), rtol=0, atol=1e-12)


def test_what_cannot_be_packed_is_named(data):
    X, y, _ = data
    with pytest.raises(InputError, match="cannot pack a LinearRegression"):
        PackedTrees.from_estimator(LinearRegression().fit(X, y))


def test_inconsistent_arrays_and_inputs_are_clear_errors(data):
    X, y, _ = data
    arrays = PackedTrees.from_estimator(_make_estimator("gbrt", 0, len(y)).fit(X, y)).to_arrays()
    with pytest.raises(InputError, match="inconsistent shapes"):
        PackedTrees.from_arrays(dict(arrays, value=arrays["value"][:, :3]))
    with pytest.raises(InputError, match="lack"):
        PackedTrees.from_arrays({k: v for k, v in arrays.items() if k != "meta"})
    with pytest.raises(InputError, match="columns"):
        PackedTrees.from_arrays(arrays).predict(X[:, :2])
