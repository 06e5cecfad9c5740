"""Gradient search (ProxylessNAS / FBNet) on a supernet trained for real on the digits dataset."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from hwlat.errors import InputError
from hwlat.predictors.lookup import LookupPredictor
from hwlat.profiler import Protocol, profile_ops
from hwlat.search.data import load_dataset
from hwlat.search.gradient import GradientResult, gradient_search, layer_latency
from hwlat.search.layer_latency import LayerLatency, discretise
from hwlat.spaces import get_space

TINY = dict(epochs=1, warmup_epochs=0, max_batches=2, batch_size=16, width_mult=0.25, input_size=32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def space():
    # a small ProxylessNAS space keeps the real profiling below a few seconds
    return get_space("proxyless", resolution=32)


@pytest.fixture(scope="module")
def table(space):
    quick = Protocol(warmup_min_runs=2, warmup_max_runs=20, warmup_max_s=0.05, rounds=1, round_time_s=0.002,
                     sample_time_s=0.0, min_runs=3, max_runs=20, remeasure=0)
    return profile_ops(space.all_ops(), "cpu-ort", protocol=quick, progress=False).table


@pytest.fixture(scope="module")
def predictor(space, table):
    return LookupPredictor(space=space, table=table).fit()


@pytest.fixture(scope="module")
def digits():
    x, y, name = load_dataset("digits", input_size=32)
    return x[:400], y[:400], name  # a fifth of the images keeps each search to a few seconds


def test_layer_latency_reproduces_the_lookup_predictor(space, table, predictor):
    lat = layer_latency(space, table)
    archs = space.sample(0, 20)
    genes = space.to_genes(archs)
    np.testing.assert_allclose([lat.latency(g) for g in genes], predictor.predict(archs), rtol=1e-9)
    lo, hi = lat.bounds()
    assert lo < min(predictor.predict(archs)) and hi > max(predictor.predict(archs))


def test_any_additive_predictor_is_linearised_exactly(space, predictor):
    class PredictOnly:  # the search's predictor protocol, without part tables
        def predict(self, archs):
            return predictor.predict(archs)

    lat = layer_latency(space, PredictOnly())
    archs = space.sample(1, 10)
    np.testing.assert_allclose([lat.latency(g) for g in space.to_genes(archs)], predictor.predict(archs), rtol=1e-9)


def test_search_returns_a_valid_arch_and_is_reproducible(space, predictor, digits):
    lo, hi = layer_latency(space, predictor).bounds()
    budget = 0.5 * (lo + hi)
    r1 = gradient_search(space, predictor, budget, loss="add-linear", seed=0, _data=digits, **TINY)
    r2 = gradient_search(space, predictor, budget, loss="add-linear", seed=0, _data=digits, **TINY)
    assert isinstance(r1, GradientResult)
    space.validate(r1.arch)
    assert space.decode(r1.arch_text) == r1.arch
    assert r1.arch == r2.arch and r1.expected_latency_ms == r2.expected_latency_ms
    assert r1.predicted_latency_ms == pytest.approx(float(predictor.predict([r1.arch])[0]), rel=1e-9)
    assert 0.0 <= r1.supernet_accuracy <= 1.0
    assert len(r1.history) == 1 and np.isfinite(r1.history[0]["train_ce"])
    assert len(r1.probabilities) == space.n_layers
    assert all(abs(sum(p) - 1) < 1e-5 for p in r1.probabilities)
    assert r1.accuracy_source.startswith("supernet:digits")
    # read off with the budget in mind: within -10 %...0 % of it, whatever the loss did
    assert r1.derive == "budget" and 0.9 * budget <= r1.predicted_latency_ms <= budget
    assert r1.to_dict()["within_budget"] and r1.argmax_latency_ms is not None
    plain = gradient_search(space, predictor, budget, loss="add-linear", seed=0, _data=digits, derive="argmax", **TINY)
    assert plain.predicted_latency_ms == pytest.approx(r1.argmax_latency_ms, rel=1e-9)


class Scaled:
    """A predictor 100x slower than ``base`` (latencies above 1 ms, where log-latency losses apply)."""

    def __init__(self, base):
        self.base = base

    def predict(self, archs):
        return 100.0 * self.base.predict(archs)


@pytest.mark.parametrize("loss,sampling", [("add-linear", "binary"), ("fbnet", "binary"), ("add-linear", "gumbel")])
def test_a_tighter_budget_gives_a_lower_expected_latency(space, predictor, digits, loss, sampling):
    lat = layer_latency(space, predictor)
    lo, hi = lat.bounds()
    uniform = lat.scale * (lat.base_ms + sum(t.mean() for t in lat.tables)) + lat.offset_ms
    # a strong latency weight: two architecture steps must show the budget's pull despite the noise of
    # sampled paths (the table is measured afresh on every run, so nothing here is tuned to its values)
    kw = dict(TINY, arch_lr=0.1, loss_params={"lambda": 5.0} if loss == "add-linear" else {"beta": 2.0})
    rt = gradient_search(space, predictor, lo, loss=loss, sampling=sampling, seed=0, _data=digits, **kw)
    rl = gradient_search(space, predictor, 100 * hi, loss=loss, sampling=sampling, seed=0, _data=digits, **kw)
    assert rt.expected_latency_ms < rl.expected_latency_ms
    assert rt.expected_latency_ms < uniform  # the tight budget pushed E[LAT] down from uniform α


def test_mul_log_runs_where_latencies_exceed_one_ms(space, predictor, digits):
    r = gradient_search(space, Scaled(predictor), 50.0, loss="mul-log", seed=0, _data=digits, **TINY)
    space.validate(r.arch)
    assert r.predicted_latency_ms == pytest.approx(100 * float(predictor.predict([r.arch])[0]), rel=1e-9)


def test_network_of_one_arch(space):
    import torch

    arch = space.sample(3, 1)[0]
    net = space.torch_net(arch, num_classes=10)
    out = net(torch.zeros(2, 3, 32, 32))
    assert tuple(out.shape) == (2, 10)
    n_mbconv = sum(type(m).__name__ == "MBConv" for m in net.modules())
    assert n_mbconv == 1 + sum(c != "zero" for c in arch)  # first block + the non-zero layers


def test_datasets_from_arrays_and_image_folders(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((30, 10, 10, 3)) * 255).astype(np.uint8)
    y = np.repeat([3, 7, 9], 10)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    xs, ys, name = load_dataset(tmp_path / "d.npz", input_size=16)
    assert xs.shape == (30, 3, 16, 16) and xs.dtype == np.float32 and name == "d.npz"
    assert sorted(set(ys.tolist())) == [0, 1, 2]
    pil = pytest.importorskip("PIL.Image")
    for c in ("cat", "dog"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(12):
            pil.fromarray((rng.random((9, 7)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    xi, yi, _ = load_dataset(tmp_path / "imgs", input_size=12)
    assert xi.shape == (24, 3, 12, 12) and np.bincount(yi).tolist() == [12, 12]
    with pytest.raises(InputError, match="does not exist"):
        load_dataset(tmp_path / "missing")


def test_budget_aware_read_off_is_the_most_probable_path_in_the_window():
    """Against every path of a small layered space: the chosen path is in [0.9 T, T] and no path in
    the window (clear of the bins' rounding) is more probable."""
    import itertools

    rng = np.random.default_rng(3)
    tables = tuple(np.concatenate([[0.0], rng.uniform(0.1, 2.0, 3)]) for _ in range(6))
    lat = LayerLatency(1.0, tables, 1.0, 0.2, "synthetic")
    probs = [rng.dirichlet(np.ones(4)) for _ in tables]
    paths = np.array(list(itertools.product(range(4), repeat=6)))
    ms = np.array([lat.latency(p) for p in paths])
    logp = np.array([sum(np.log(probs[i][c]) for i, c in enumerate(p)) for p in paths])
    lo, hi = lat.bounds()
    for budget in np.linspace(lo + 0.3 * (hi - lo), hi, 5):
        got = discretise(probs, lat, float(budget))
        assert got.in_window and 0.9 * budget <= got.latency_ms <= budget
        assert got.latency_ms == pytest.approx(lat.latency(got.choices))
        clear = (ms >= 0.9 * budget) & (ms <= budget - 6 * (budget - lo) / 4000)
        assert got.log_prob >= logp[clear].max() - 1e-9
        # with a margin the path is predicted under budget / (1 + margin), and within 10 % of the budget
        kept = discretise(probs, lat, float(budget), margin=0.05)
        assert 0.9 * budget <= kept.latency_ms <= budget / 1.05 and kept.log_prob <= got.log_prob + 1e-9
    with pytest.raises(InputError, match="margin"):
        discretise(probs, lat, hi, margin=-1.0)
    # a budget the window cannot reach from above: the most probable path under it
    loose = discretise(probs, lat, 10 * hi)
    assert not loose.in_window and loose.choices == [int(np.argmax(p)) for p in probs]
    with pytest.raises(InputError, match="least latency"):
        discretise(probs, lat, 0.9 * lo)


def test_an_unreachable_budget_is_an_error_that_states_the_least_latency(space, predictor, digits):
    lo, _ = layer_latency(space, predictor).bounds()
    with pytest.raises(InputError, match=f"least latency it can reach is {lo:.4g} ms"):
        gradient_search(space, predictor, 0.5 * lo, _data=digits, **TINY)


def test_bad_arguments_say_what_to_do(space, predictor, digits):
    with pytest.raises(InputError, match="add-linear"):
        gradient_search(space, predictor, 0.5, loss="mul-log", _data=digits, **TINY)
    with pytest.raises(InputError, match="mul-log"):
        gradient_search(space, predictor, 5.0, loss="l2", _data=digits, **TINY)
    with pytest.raises(InputError, match="gumbel"):
        gradient_search(space, predictor, 5.0, sampling="darts", _data=digits, **TINY)
    with pytest.raises(InputError, match="proxyless"):
        gradient_search(get_space("nb201"), predictor, 5.0, _data=digits, **TINY)
    with pytest.raises(InputError, match="predictor"):
        layer_latency(space, object())
