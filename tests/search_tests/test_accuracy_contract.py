"""The accuracy-source conformance suite (hwlat.testing.accuracy) over the built-in sources."""

from __future__ import annotations

import pytest

from hwlat.search.accuracy import make_accuracy
from hwlat.spaces import get_space
from hwlat.testing.accuracy import AccuracySourceContract


def count_convs(archs):
    return [10.0 * sum(op == "nor_conv_3x3" for op in a) for a in archs]


class TestCallable(AccuracySourceContract):
    def make_space(self):
        return get_space("nb201")

    def make_source(self, space):
        return count_convs


class TestCallableByPath(AccuracySourceContract):
    def make_space(self):
        return get_space("nb201")

    def make_source(self, space):
        return f"{__name__}:count_convs"


class TestNB201Table(AccuracySourceContract):
    def make_space(self):
        return get_space("nb201")

    @pytest.fixture
    def source(self, space, shared_data):
        return make_accuracy(f"nb201-csv:{shared_data / 'nb201' / 'accuracy.csv'}:cifar100", space)


class TestOFAPredictor(AccuracySourceContract):
    def make_space(self):
        return get_space("ofa-mbv3", resolutions=[160, 176, 192, 208, 224])

    @pytest.fixture
    def source(self, space, shared_data):
        pytest.importorskip("torch")
        return make_accuracy(f"ofa-predictor:{shared_data / 'ofa' / 'acc_predictor.pth'}", space)


class TestSynflowProxy(AccuracySourceContract):
    n_archs = 3

    def make_space(self):
        return get_space("nb201", channels=8, cells_per_stage=1)

    def make_source(self, space):
        pytest.importorskip("torch")
        return "proxy:synflow"
