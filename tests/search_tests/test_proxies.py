"""Zero-cost proxies: the networks they score, their values, determinism and ranking."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from hwlat.errors import InputError
from hwlat.search.proxies import PROXIES, ProxyAccuracy, naswot_score, proxy_inputs
from hwlat.spaces import get_space
from hwlat.spaces.nb201_net import build_nb201_net

CONV = ("nor_conv_3x3",) * 6
SKIP = ("skip_connect",) * 6
NONE = ("none",) * 6
MIXED = ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "none")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


def test_nb201_network_matches_the_benchmark_parameter_counts():
    # NAS-Bench-201 (CIFAR-10) reports 1.531546 M parameters for the all-3x3 cell and 0.073306 M
    # for cells without parameters: the same network, BN affine parameters included.
    assert sum(p.numel() for p in build_nb201_net(CONV).parameters()) == 1_531_546
    assert sum(p.numel() for p in build_nb201_net(SKIP).parameters()) == 73_306
    assert sum(p.numel() for p in build_nb201_net(NONE).parameters()) == 73_306


def test_nb201_network_without_bn_has_the_same_weights():
    import torch

    a, b = build_nb201_net(MIXED, seed=3), build_nb201_net(MIXED, seed=3, bn=False)
    wa = [m.weight for m in a.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    wb = [m.weight for m in b.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(wa) == len(wb) > 0
    assert all(torch.equal(x, y) for x, y in zip(wa, wb))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in b.modules())


@pytest.mark.parametrize("name", PROXIES)
def test_proxies_are_finite_labelled_and_deterministic(nb201, name):
    archs = [CONV, MIXED, nb201.sample(5, 1)[0]]
    p1 = ProxyAccuracy(nb201, name, batch_size=16, seed=0)
    v1 = p1.evaluate(archs)
    v2 = ProxyAccuracy(nb201, name, batch_size=16, seed=0).evaluate(archs)
    assert v1.shape == (3,) and v1.dtype == np.float64
    assert np.all(np.isfinite(v1))
    np.testing.assert_array_equal(v1, v2)
    assert p1.name == f"proxy:{name}" and p1.kind == "proxy"
    # genes give the same values (served from the per-arch cache)
    np.testing.assert_array_equal(p1.evaluate_genes(nb201.to_genes(archs)), v1)
    # another seed draws other weights (and inputs): other values
    v3 = ProxyAccuracy(nb201, name, batch_size=16, seed=1).evaluate(archs)
    assert not np.array_equal(v1, v3)


def test_synflow_ranks_parameter_free_cells_below_a_conv_cell(nb201):
    p = ProxyAccuracy(nb201, "synflow", seed=0)
    conv, skip, none = p.evaluate([CONV, SKIP, NONE])
    assert conv > skip > none >= 0.0
    assert none == 0.0  # the cell output is x * 0: no path from input to output carries signal


def test_naswot_ranks_a_conv_cell_above_an_all_skip_cell(nb201):
    p = ProxyAccuracy(nb201, "naswot", batch_size=32, seed=0)
    conv, skip = p.evaluate([CONV, SKIP])
    assert conv > skip


def test_naswot_of_identical_images_is_minus_infinity():
    # identical images share every binary code: K has rank 1, log|det K| = -inf
    import torch

    x = torch.ones((4, 3, 32, 32))
    assert naswot_score(build_nb201_net(CONV), x) == float("-inf")


def test_digits_inputs_are_standardised_images():
    x = proxy_inputs("digits", 10, (3, 32, 32), seed=0)
    assert tuple(x.shape) == (10, 3, 32, 32)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-2
    with pytest.raises(InputError, match="gaussian"):
        proxy_inputs("cifar", 4, (3, 32, 32))


def test_proxies_on_the_proxyless_space():
    space = get_space("proxyless", width_mult=0.35, resolution=32, num_classes=10)
    archs = space.sample(0, 2)
    syn = ProxyAccuracy(space, "synflow").evaluate(archs)
    nw = ProxyAccuracy(space, "naswot", batch_size=8, data="digits").evaluate(archs)
    assert np.all(np.isfinite(syn)) and np.all(syn > 0)
    assert np.all(np.isfinite(nw))


def test_bad_arguments_say_what_to_do(nb201):
    with pytest.raises(InputError, match="naswot, synflow"):
        ProxyAccuracy(nb201, "zen")
    with pytest.raises(InputError, match="batch_size"):
        ProxyAccuracy(nb201, "naswot", batch_size=1)
    with pytest.raises(InputError, match="nb201"):
        ProxyAccuracy(get_space("ofa-mbv3"), "naswot")
    with pytest.raises(InputError):
        ProxyAccuracy(nb201, "naswot").evaluate([("conv",) * 6])
