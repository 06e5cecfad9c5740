"""The predictor conformance suite (hwlat.testing.predictor) over the built-in predictors.

Tables are synthetic (each op costs the per-call overhead plus FLOPs x 1e-8 ms): the suite checks
conventions and round trips, not accuracy, and needs no measurement.
"""

from __future__ import annotations

import onnx
import pytest

from hwlat.latency_tables import LatencyTable, TableMetadata
from hwlat.ops import spec as S
from hwlat.ops.onnx_emit import to_onnx
from hwlat.predictors import FewShotAdapter, GraphPredictor, KernelRegressor, LookupPredictor
from hwlat.predictors.onnx_kernels import kernel_specs_of
from hwlat.predictors.sampling import sample_kernels
from hwlat.spaces import get_space
from hwlat.testing.predictor import PredictorContract

SMALL = {"c_max": 64, "hw": (7, 14, 28), "hw_max": 28, "max_flops": 4e7}


def flops_table(specs, overhead_ms=0.01):
    md = TableMetadata(device={"name": "cpu-ort"}, runtime="onnxruntime", threads=1, overhead_ms=overhead_ms)
    return LatencyTable.from_rows(md, [(s, {"median_ms": overhead_ms + s.flops * 1e-8}) for s in specs])


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


@pytest.fixture(scope="module")
def nb201_table(nb201):
    return flops_table(nb201.all_ops())


class _NB201Queries:
    """The architectures and gene rows every NB201 predictor of the suite is asked about."""

    @pytest.fixture
    def predict_X(self, nb201):
        return nb201.sample(0, 20)

    @pytest.fixture
    def genes(self, nb201):
        return nb201.sample_genes(1, 500)


class TestLookupPredictor(_NB201Queries, PredictorContract):
    @pytest.fixture
    def predictor(self, nb201, nb201_table):
        return LookupPredictor(space=nb201, table=nb201_table)

    @pytest.fixture
    def fit_args(self, nb201, nb201_table):
        archs = nb201.sample(3, 8)
        y = LookupPredictor(space=nb201, table=nb201_table).fit().predict(archs) * 1.2 + 0.05
        return archs, y


class TestDevicePrior(TestLookupPredictor):
    """Fitted on the lookup predictor's measurements, through references the table's sums make."""

    @pytest.fixture(scope="class")
    @classmethod
    def references(cls, nb201, nb201_table):
        import numpy as np

        from hwlat.predictors.device_prior import ReferenceLatencies

        genes = np.array(np.unravel_index(np.arange(15625), nb201.gene_sizes())).T
        s = LookupPredictor(space=nb201, table=nb201_table).fit().predict_genes(genes)
        archs = [nb201.encode(nb201.from_genes(g)) for g in genes]
        return ReferenceLatencies(archs, ["a", "b", "c"], np.column_stack([s, 1.5 * s + 0.1, s ** 1.1]))

    @pytest.fixture
    def predictor(self, nb201, references):
        from hwlat.predictors import DevicePrior

        return DevicePrior(space=nb201, references=references)


class TestFewShotAdapter(_NB201Queries, PredictorContract):
    @pytest.fixture
    def predictor(self, nb201, nb201_table):
        return FewShotAdapter(space=nb201, reference_table=nb201_table, grouping="kind")

    @pytest.fixture
    def fit_args(self, nb201, nb201_table):
        archs = nb201.sample(4, 12)
        y = LookupPredictor(space=nb201, table=nb201_table).fit().predict(archs) * 3.0 + 0.5
        return archs, y


class TestKernelRegressor(PredictorContract):
    @pytest.fixture(scope="class")
    @classmethod
    def kernel_table(cls):
        specs = sample_kernels("conv", 30, seed=0, ranges=SMALL) + sample_kernels("pool", 10, seed=0, ranges=SMALL)
        return flops_table(specs)

    @pytest.fixture
    def predictor(self):
        return KernelRegressor(estimator="et", min_samples=5)

    @pytest.fixture
    def fit_args(self, kernel_table):
        return kernel_table, None

    @pytest.fixture
    def predict_X(self):
        return sample_kernels("conv", 8, seed=3, ranges=SMALL)


class TestGraphPredictor(PredictorContract):
    @pytest.fixture(scope="class")
    @classmethod
    def models(cls, tmp_path_factory):
        d = tmp_path_factory.mktemp("contract-models")
        chains = [[S.conv((3, 32, 32), 16, 3, 2, act="relu"), S.pwconv((16, 16, 16), 24)],
                  [S.conv((3, 32, 32), 8, 3, 1, act="relu"), S.pool((8, 32, 32), 3, 2, mode="max")]]
        paths = []
        for i, chain in enumerate(chains):
            p = d / f"m{i}.onnx"
            onnx.save(to_onnx(chain, seed=i), str(p))
            paths.append(p)
        return paths

    @pytest.fixture(scope="class")
    @classmethod
    def kernel_table(cls, models):
        return flops_table([s for m in models for s in kernel_specs_of(m)])

    @pytest.fixture
    def predictor(self, kernel_table):
        return GraphPredictor(table=kernel_table)

    @pytest.fixture
    def predict_X(self, models):
        return models
