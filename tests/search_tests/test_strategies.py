"""Search strategies: seeded, deduplicating, budget-aware, resumable; NSGA-II near the exact front."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.latency_tables import LatencyTable, TableMetadata
from hwlat.predictors import LookupPredictor
from hwlat.search import (
    NSGA2,
    AgingEvolution,
    ParetoFront,
    RandomSearch,
    canonical_genes,
    get_space,
    make_strategy,
    min_latency,
    mnasnet_reward,
    mutate_genes,
    run_search,
)

STRATEGIES = ["random", "evolution", "nsga2"]


def flops_table(space):
    """A real table whose entries cost overhead + FLOPs x 1e-8 ms (a machine where time follows FLOPs)."""
    res = getattr(space, "resolutions", [None])
    ops = [s for r in res for s in (space.all_ops(resolution=r) if r else space.all_ops())]
    md = TableMetadata(device={"name": "flops-machine"}, runtime="onnxruntime", threads=1, overhead_ms=0.01)
    return LatencyTable.from_rows(md, [(s, {"median_ms": 0.01 + s.flops * 1e-8}) for s in ops])


class FlopsAccuracy:
    """An accuracy source by the protocol: more FLOPs, more accuracy, with a seeded wobble per arch."""

    name = "flops-accuracy"
    kind = "accuracy"

    def __init__(self, space):
        self.space = space

    def evaluate(self, archs):
        out = []
        for a in archs:
            f = self.space.flops(a)
            wobble = (hash(self.space.encode(a)) % 1000) / 1000.0
            out.append(60.0 + 30.0 * (1 - np.exp(-f / 2e8)) + wobble)
        return np.asarray(out)


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


@pytest.fixture(scope="module")
def nb201_pred(nb201):
    return LookupPredictor(space=nb201, table=flops_table(nb201)).fit()


@pytest.fixture(scope="module")
def nb201_acc(nb201, shared_data):
    from hwlat.search import make_accuracy

    return make_accuracy(f"nb201-csv:{shared_data / 'nb201' / 'accuracy.csv'}", nb201)


@pytest.fixture(scope="module")
def all_genes(nb201):
    return np.stack(np.unravel_index(np.arange(nb201.size()), nb201.gene_sizes()), axis=1)


# -- genes -------------------------------------------------------------------------------------------------
def test_mutation_changes_exactly_one_gene():
    rng = np.random.default_rng(0)
    sizes = (5, 1, 3, 2)
    g = np.stack([rng.integers(0, s, 2000) for s in sizes], axis=1)
    m = mutate_genes(g, sizes, rng)
    changed = m != g
    assert (changed.sum(axis=1) == 1).all() and not changed[:, 1].any()
    assert (m >= 0).all() and (m < np.asarray(sizes)).all()
    # every other value of a gene is reachable
    col0 = m[changed[:, 0] & (g[:, 0] == 2), 0]
    assert set(col0.tolist()) == {0, 1, 3, 4}


def test_ofa_mutation_and_canonical_genes_change_the_network():
    space = get_space("ofa-mbv3", resolutions=[160, 224])
    g = space.sample_genes(0, 300)
    c = canonical_genes(space, g)
    for row, crow in zip(g[:30], c[:30]):
        assert space.ops(space.from_genes(row)) == space.ops(space.from_genes(crow))
    m = canonical_genes(space, mutate_genes(g, space.gene_sizes(), np.random.default_rng(1), space=space))
    assert (np.any(m != c, axis=1)).all()  # no mutation is lost in an inactive layer


# -- the loop ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_seeded_deduplicated_and_named(strategy, nb201, nb201_pred, nb201_acc):
    kw = {"budget_ms": float(np.median(nb201_pred.predict_genes(nb201.sample_genes(0, 500))))}
    a = run_search(nb201, nb201_pred, nb201_acc, strategy, n_evals=300, seed=4, progress=False, **kw)
    b = run_search(nb201, nb201_pred, nb201_acc, strategy, n_evals=300, seed=4, progress=False, **kw)
    c = run_search(nb201, nb201_pred, nb201_acc, strategy, n_evals=300, seed=5, progress=False, **kw)
    assert a.n_evals == 300 and (a.genes == b.genes).all() and not (a.genes == c.genes).all()
    assert len({tuple(r) for r in a.genes}) == 300  # every architecture evaluated once
    df = a.archive
    assert list(df.columns[:5]) == ["eval", "arch", "genes", "latency_ms", "accuracy"]
    assert df["feasible"].tolist() == (df["latency_ms"] <= kw["budget_ms"]).tolist()
    np.testing.assert_allclose(df["latency_ms"], nb201_pred.predict([nb201.decode(s) for s in df["arch"]]))
    np.testing.assert_allclose(df["accuracy"], nb201_acc.evaluate([nb201.decode(s) for s in df["arch"]]))
    assert a.accuracy_name == nb201_acc.name and a.front.accuracy_name == nb201_acc.name
    assert a.best()["latency_ms"] <= kw["budget_ms"]


def test_small_space_is_exhausted_not_hung(nb201, nb201_pred, nb201_acc):
    res = run_search(nb201, nb201_pred, nb201_acc, "evolution", n_evals=20_000, seed=0, progress=False,
                     population=20, sample_size=5, batch_size=200)
    assert res.n_evals == nb201.size()
    assert len({tuple(r) for r in res.genes}) == nb201.size()


def test_protocol_accuracy_and_predict_only_latency():
    space = get_space("proxyless", resolution=128)
    pred = LookupPredictor(space=space, table=flops_table(space)).fit()

    class PredictOnly:  # a predictor without predict_genes
        name = "predict-only"

        def predict(self, archs):
            return pred.predict(archs)

    res = run_search(space, PredictOnly(), FlopsAccuracy(space), "nsga2", n_evals=60, seed=0, progress=False,
                     population=10)
    assert res.n_evals == 60 and res.latency_name == "predict-only"
    np.testing.assert_allclose(res.latency_ms, pred.predict_genes(res.genes))


# -- budgets ---------------------------------------------------------------------------------------------------
def test_min_latency_is_exact_for_lookup_and_enumeration(nb201, nb201_pred, all_genes):
    true_min = nb201_pred.predict_genes(all_genes).min()
    ms, how = min_latency(nb201, nb201_pred)
    assert ms == pytest.approx(true_min) and "exact" in how

    class PredictGenesOnly:
        def predict_genes(self, genes):
            return nb201_pred.predict_genes(genes)

    ms2, how2 = min_latency(nb201, PredictGenesOnly())
    assert ms2 == pytest.approx(true_min) and "enumerated" in how2
    # OFA: depth genes are shared by two parts and the resolution by all; still exact
    ofa = get_space("ofa-mbv3", resolutions=[160, 192, 224])
    p = LookupPredictor(space=ofa, table=flops_table(ofa)).fit()
    smallest = {"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 160}  # time follows FLOPs here
    ms3, how3 = min_latency(ofa, p)
    assert ms3 == pytest.approx(p.predict([smallest])[0]) and "exact" in how3
    assert ms3 <= p.predict_genes(ofa.sample_genes(0, 5000)).min()

    class Opaque:
        def predict(self, archs):
            return p.predict(archs)

    ms4, how4 = min_latency(ofa, Opaque(), n_samples=2000)
    assert ms4 >= ms3 and "estimate" in how4


def test_infeasible_budget_states_the_least_latency(nb201, nb201_pred, nb201_acc, all_genes):
    least = nb201_pred.predict_genes(all_genes).min()
    with pytest.raises(InputError, match=rf"least latency it can reach is {least:.4g} ms \(exact"):
        run_search(nb201, nb201_pred, nb201_acc, "evolution", budget_ms=least * 0.9, n_evals=50, progress=False)
    with pytest.raises(InputError, match="positive number"):
        run_search(nb201, nb201_pred, nb201_acc, "nsga2", budget_ms=-1, n_evals=50, progress=False)
    with pytest.raises(InputError, match="needs a target latency"):
        run_search(nb201, nb201_pred, nb201_acc, "evolution", reward="soft", n_evals=50, progress=False)


def test_hard_budget_is_respected_soft_reward_is_an_exchange_rate(nb201, nb201_pred, nb201_acc, all_genes):
    lat, acc = nb201_pred.predict_genes(all_genes), nb201_acc.evaluate_genes(all_genes)
    budget = float(np.quantile(lat, 0.3))
    hard = run_search(nb201, nb201_pred, nb201_acc, "evolution", budget_ms=budget, n_evals=400, seed=0,
                      progress=False)
    best = hard.best()
    assert best["latency_ms"] <= budget
    assert best["accuracy"] >= acc[lat <= budget].max() - 1.0  # near the true best under the budget
    # the search is pulled into the budget: late children are feasible more often than random ones (30 %)
    assert np.mean(hard.latency_ms[-150:] <= budget) > 0.4
    # the soft reward trades: a 10 % slower network needs ~0.67 % (relative) more accuracy
    r = mnasnet_reward(np.array([90.0, 90.0 * 1.1 ** 0.07]), np.array([1.0, 1.1]), 1.0)
    assert r[0] == pytest.approx(r[1])
    assert (mnasnet_reward(np.array([90.0, 95.0]), np.array([1.0, 2.0]), 1.5, hard=True)
            == pytest.approx([90.0, -1e12 - 2.0]))


def test_nsga2_front_near_exact_front(nb201, nb201_pred, nb201_acc, all_genes):
    lat, acc = nb201_pred.predict_genes(all_genes), nb201_acc.evaluate_genes(all_genes)
    true = ParetoFront.from_points(lat, acc)
    ref = (lat.max(), acc.min())
    res = run_search(nb201, nb201_pred, nb201_acc, "nsga2", n_evals=500, seed=0, progress=False)
    rand = run_search(nb201, nb201_pred, nb201_acc, "random", n_evals=100, seed=0, progress=False)
    hv = res.front.hypervolume(ref) / true.hypervolume(ref)
    assert hv > 0.99 and hv > rand.front.hypervolume(ref) / true.hypervolume(ref)
    # the front comes from the whole archive: nothing evaluated dominates it
    F = np.column_stack([res.latency_ms, -res.accuracy])
    for lat_f, acc_f in zip(res.front.latency_ms, res.front.accuracy):
        assert not np.any((F[:, 0] <= lat_f) & (F[:, 1] <= -acc_f) & ((F[:, 0] < lat_f) | (F[:, 1] < -acc_f)))


def test_nsga2_more_objectives(nb201, nb201_pred, nb201_acc):
    def params(g):  # convs in the cell
        return (np.asarray(g) >= 2).sum(axis=1).astype(float)

    res = run_search(nb201, nb201_pred, nb201_acc, "nsga2", n_evals=120, seed=0, progress=False, population=12,
                     extra_objectives={"n_convs": params})
    assert res.archive["n_convs"].tolist() == params(res.genes).tolist()


# -- checkpoints -------------------------------------------------------------------------------------------------
class Interrupting:
    """Wraps a predictor and raises KeyboardInterrupt on its ``fail_at``-th call (a Ctrl-C mid-search)."""

    def __init__(self, pred, fail_at):
        self.pred, self.fail_at, self.calls = pred, fail_at, 0
        self.name = "lookup"

    def predict_genes(self, genes):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        return self.pred.predict_genes(genes)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_interrupted_search_resumes_exactly(strategy, nb201, nb201_pred, nb201_acc, tmp_path):
    class Named:
        name = "lookup"

        def predict_genes(self, genes):
            return nb201_pred.predict_genes(genes)

    kw = {"n_evals": 400, "seed": 1, "progress": False, "batch_size": 25}
    straight = run_search(nb201, Named(), nb201_acc, strategy, **kw)
    ckpt = tmp_path / "search.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_search(nb201, Interrupting(nb201_pred, fail_at=7), nb201_acc, strategy, checkpoint=ckpt, **kw)
    assert ckpt.is_file() and not list(tmp_path.glob(".*.tmp"))
    resumed = run_search(nb201, Named(), nb201_acc, strategy, checkpoint=ckpt, **kw)
    assert (resumed.genes == straight.genes).all()
    np.testing.assert_array_equal(resumed.accuracy, straight.accuracy)
    # a finished checkpoint can be extended
    more = run_search(nb201, Named(), nb201_acc, strategy, checkpoint=ckpt, **{**kw, "n_evals": 450})
    assert more.n_evals == 450 and (more.genes[:400] == straight.genes).all()


def test_checkpoint_of_another_search_is_refused(nb201, nb201_pred, nb201_acc, tmp_path):
    ckpt = tmp_path / "s.jsonl"
    run_search(nb201, nb201_pred, nb201_acc, "random", n_evals=50, seed=0, progress=False, checkpoint=ckpt)
    with pytest.raises(InputError, match="another search job.*seed: 0 in the file, 1 now"):
        run_search(nb201, nb201_pred, nb201_acc, "random", n_evals=60, seed=1, progress=False, checkpoint=ckpt)
    with pytest.raises(InputError, match="another search job.*strategy"):
        run_search(nb201, nb201_pred, nb201_acc, "nsga2", n_evals=60, seed=0, progress=False, checkpoint=ckpt)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputError, match="not an hwlat checkpoint"):
        run_search(nb201, nb201_pred, nb201_acc, "random", n_evals=60, progress=False, checkpoint=bad)


# -- strategy parameters ------------------------------------------------------------------------------------------
def test_strategy_parameters_validated():
    assert isinstance(make_strategy("rea"), AgingEvolution) and isinstance(make_strategy("NSGA-II"), NSGA2)
    assert isinstance(make_strategy("random"), RandomSearch)
    with pytest.raises(InputError, match="unknown search strategy"):
        make_strategy("bayes")
    with pytest.raises(InputError, match="sample_size"):
        AgingEvolution(population=5, sample_size=10)
    with pytest.raises(InputError, match="reward"):
        AgingEvolution(reward="medium")
    with pytest.raises(InputError, match="crossover_prob"):
        NSGA2(crossover_prob=2)
    with pytest.raises(InputError, match="strategy 'nsga2'"):
        make_strategy("nsga2", popsize=3)
    with pytest.raises(InputError, match="batch_size"):
        RandomSearch(batch_size=0)


def test_a_damaged_save_in_the_middle_is_skipped_and_no_later_save_is_overwritten(nb201, nb201_pred, nb201_acc,
                                                                                   tmp_path):
    import json

    ckpt = tmp_path / "search.jsonl"
    kw = {"seed": 3, "progress": False, "checkpoint": ckpt, "checkpoint_every_s": 0.0, "batch_size": 25}
    run_search(nb201, nb201_pred, nb201_acc, "random", n_evals=150, **kw)
    lines = ckpt.read_bytes().split(b"\n")
    n_saves = sum(1 for ln in lines[1:] if ln.strip())
    assert n_saves >= 4
    lines[2] = lines[2][:50]  # the second save, torn in the middle of the file
    ckpt.write_bytes(b"\n".join(lines))
    more = run_search(nb201, nb201_pred, nb201_acc, "random", n_evals=200, **kw)
    assert more.n_evals == 200
    keys = [json.loads(ln)["key"] for ln in ckpt.read_bytes().split(b"\n")[1:] if ln.strip() and ln != lines[2]]
    assert len(keys) == len(set(keys))  # every save kept: none written again under a kept one's key


def test_a_save_whose_arrays_do_not_fit_the_space_is_one_clear_error(nb201, nb201_pred, nb201_acc, tmp_path):
    import json

    from hwlat.errors import InputError

    ckpt = tmp_path / "search.jsonl"
    kw = {"seed": 3, "progress": False, "checkpoint": ckpt, "checkpoint_every_s": 0.0, "batch_size": 25}
    run_search(nb201, nb201_pred, nb201_acc, "random", n_evals=50, **kw)
    lines = ckpt.read_text().splitlines()
    rec = json.loads(lines[1])
    arrays = [k for k, v in rec.items() if isinstance(v, list) and v and isinstance(v[0], list)]
    assert arrays, rec.keys()
    rec[arrays[0]] = [row + [0, 0] for row in rec[arrays[0]]]  # rows two genes too long
    ckpt.write_text("\n".join([lines[0], json.dumps(rec), *lines[2:]]) + "\n")
    with pytest.raises(InputError, match="holds a search state that cannot be resumed"):
        run_search(nb201, nb201_pred, nb201_acc, "random", n_evals=100, **kw)
