from __future__ import annotations

import csv

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.ops.spec import act, add, bn, conv, pool
from hwlat.spaces import OPERATIONS, NB201Space, load_benchmark_index

from ._helpers import DATA_DIR, expected_counts, primitive_counts, run_onnx

ACC_CSV = DATA_DIR / "nb201" / "accuracy.csv"
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
ZERO_OUT = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


def test_encode_decode_round_trip(space):
    arch = space.decode(EXAMPLE)
    assert arch == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect")
    assert space.encode(arch) == EXAMPLE
    for a in space.sample(1, 100):
        assert space.decode(space.encode(a)) == a


def _official_rows(n: int) -> list[dict[str, str]]:
    if not ACC_CSV.is_file():
        pytest.skip(f"NAS-Bench-201 data not found at {ACC_CSV} (shared benchmark data folder absent)")
    with ACC_CSV.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return [row for _, row in zip(range(n), reader)]


def test_official_arch_strings_round_trip(space):
    for row in _official_rows(5):
        s = row["arch_str"]
        assert space.encode(space.decode(s)) == s


def test_load_benchmark_index(space):
    rows = _official_rows(5)
    table = load_benchmark_index(ACC_CSV)
    assert len(table) == space.size() == 15625
    for row in rows:
        assert table[row["arch_str"]] == int(row["index"])
    # every official arch string is a valid arch of the space, and all 15625 are distinct cells
    assert len({space.index(space.decode(s)) for s in table}) == 15625


def test_load_benchmark_index_missing_file(tmp_path):
    with pytest.raises(InputError, match="NATS-Bench"):
        load_benchmark_index(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="arch_str"):
        load_benchmark_index(bad)


@pytest.mark.parametrize("text, fragment", [
    ("", "3 nodes"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|", "needs 2 incoming"),
    ("|conv~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "unknown op"),
    ("|nor_conv_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
     "op~0"),
    ("nor_conv_3x3~0+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "look like"),
])
def test_invalid_strings_rejected_with_example(space, text, fragment):
    with pytest.raises(InputError) as info:
        space.decode(text)
    msg = str(info.value)
    assert fragment in msg
    assert EXAMPLE in msg  # shows a valid string


def test_validate(space):
    space.validate(("none",) * 6)
    with pytest.raises(InputError, match="6 edges"):
        space.validate(("none",) * 5)
    with pytest.raises(InputError, match="unknown op"):
        space.validate(("none",) * 5 + ("conv",))


def test_index_bijection(space):
    assert space.index(("none",) * 6) == 0
    assert space.index(("avg_pool_3x3",) * 6) == 15624
    assert space.from_index(1) == ("none",) * 5 + ("skip_connect",)
    for a in space.sample(3, 300):
        assert space.from_index(space.index(a)) == a
    for i in np.random.default_rng(0).integers(0, 15625, 300):
        assert space.index(space.from_index(int(i))) == i
    with pytest.raises(InputError):
        space.from_index(15625)


def test_sample_is_deterministic(space):
    assert space.sample(7, 20) == space.sample(7, 20)
    assert space.sample(np.random.default_rng(7), 20) == space.sample(7, 20)
    assert space.sample(7, 20) != space.sample(8, 20)
    assert all(space.is_valid(a) for a in space.sample(0, 50))
    with pytest.raises(InputError, match="seed"):
        space.sample(None, 2)  # type: ignore[arg-type]


def test_mutate_changes_one_edge(space):
    for i, a in enumerate(space.sample(5, 30)):
        m = space.mutate(a, i)
        assert sum(x != y for x, y in zip(a, m)) == 1


def test_all_ops(space):
    specs = space.all_ops()
    assert len(specs) == len(set(specs)) == 26
    assert space.all_ops() == specs  # deterministic
    keys = {s.key for s in specs}
    assert conv((16, 32, 32), 16, 3).key in keys  # the ReLU of a node is shared by its conv edges
    assert act((16, 32, 32), "relu").key in keys
    assert conv((16, 32, 32), 16, 3, pre_act="relu").key in {s.key for s in NB201Space(none_edges="zero").all_ops()}
    assert pool((64, 8, 8), 3, 1, pad=1).key in keys
    assert add((32, 16, 16), 3).key in keys
    assert len(space.all_ops(resolution=64)) == 26
    assert space.all_ops(resolution=64)[0].input_shape == (3, 64, 64)


@pytest.mark.parametrize("none_edges", ["absent", "zero"])
def test_ops_subset_of_all_ops(none_edges):
    space = NB201Space(none_edges=none_edges)
    table = set(space.all_ops())
    for a in space.sample(11, 200):
        assert set(space.ops(a)) <= table


def test_ops_of_known_cell(space):
    ops = space.ops(space.decode(EXAMPLE))
    # node1 = conv3(relu(x)); node2 = conv3(relu(x)) + pool(n1); node3 = x + conv3(relu(n1)) + n2;
    # relu(x) is computed once for both conv edges of node 0
    s = (16, 32, 32)
    cell = [act(s, "relu"), conv(s, 16, 3), conv(s, 16, 3), pool(s, 3, 1, pad=1), add(s, 2),
            act(s, "relu"), conv(s, 16, 3), add(s, 3)]
    assert ops[1:9] == cell
    assert len(ops) == 1 + 15 * 8 + 2 + 2
    assert ops[-2] == bn((64, 8, 8), act="relu")
    assert ops[-1].kind == "fc" and ops[-1].input_shape == (64, 8, 8)


def test_dead_and_zero_nodes():
    absent, ref = NB201Space(), NB201Space(none_edges="zero")
    s = (16, 32, 32)
    # node 1 and node 2 do not reach the output: pruned in "absent", computed in "zero"
    dead = absent.decode("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert [o.kind for o in absent.ops(dead)] == ["conv", "resblock", "resblock", "bn", "fc"]
    # the benchmark's forward: conv on edge 1<-0, a zero per none edge, every node sums all inputs
    cell = [conv(s, 16, 3, pre_act="relu"), bn(s), bn(s), add(s, 2), bn(s), bn(s), add(s, 3)]
    assert ref.ops(dead)[1:8] == cell
    assert len(ref.ops(dead)) == 1 + 15 * 7 + 2 + 2
    # node 1 is zero but feeds a conv: materialised once, the conv of zeros still runs
    zero_in = absent.decode("|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|")
    assert absent.ops(zero_in)[1:7] == [bn(s), act(s, "relu"), conv(s, 16, 1), act(s, "relu"), conv(s, 16, 3),
                                        add(s, 2)]
    # two pool edges leaving one node share one pool
    two_pools = absent.decode("|avg_pool_3x3~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    assert [o.kind for o in absent.ops(two_pools)[1:3]] == ["pool", "add"]


@pytest.mark.parametrize("none_edges", ["absent", "zero"])
def test_build_matches_ops_and_runs(none_edges):
    space = NB201Space(none_edges=none_edges)
    archs = space.sample(2, 3) + [space.decode(EXAMPLE), space.decode(ZERO_OUT),
                                   space.decode("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")]
    for a in archs:
        g = space.build(a, seed=1)
        assert primitive_counts(g) == expected_counts(space.ops(a)), space.encode(a)
        out = run_onnx(g)
        assert out.shape == (1, 10)
        assert np.all(np.isfinite(out))


def test_zero_cell_output_makes_output_input_independent(space):
    g = space.build(space.decode(ZERO_OUT))
    a = run_onnx(g, seed=0)
    b = run_onnx(g, seed=1)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # a connected cell does depend on the input
    g2 = space.build(space.decode(EXAMPLE))
    assert not np.allclose(run_onnx(g2, seed=0), run_onnx(g2, seed=1))


def test_other_sizes_build():
    space = NB201Space(num_classes=100, input_size=16, channels=8, cells_per_stage=1)
    a = space.decode(EXAMPLE)
    assert run_onnx(space.build(a)).shape == (1, 100)
    assert set(space.ops(a)) <= set(space.all_ops())
    with pytest.raises(InputError, match="none_edges"):
        NB201Space(none_edges="drop")


def test_operations_order():
    assert OPERATIONS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def test_load_benchmark_index_of_a_folder_or_a_pipe(tmp_path, monkeypatch):
    import os

    from hwlat import _files

    with pytest.raises(InputError, match="index file .* is a folder, not a file"):
        load_benchmark_index(tmp_path)
    os.mkfifo(tmp_path / "p.csv")
    monkeypatch.setattr(_files, "PIPE_IDLE_S", 0.2)
    with pytest.raises(InputError, match="is a pipe and nothing was written to it for 0.2 s"):
        load_benchmark_index(tmp_path / "p.csv")


def _ort_kernels(space, arch):
    """The Relu and Add nodes ONNX Runtime leaves in its optimised graph of ``arch``'s network."""
    import collections
    import tempfile

    import onnx
    import onnxruntime as ort

    from hwlat.ops import to_onnx

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        so.optimized_model_filepath = f"{tmp}/opt.onnx"
        ort.InferenceSession(to_onnx(space.build(arch)).SerializeToString(), so, providers=["CPUExecutionProvider"])
        kinds = collections.Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    return kinds["Relu"], kinds["Add"] + kinds["Sum"]


def test_onnxruntime_kernels_are_the_ones_it_runs():
    """fuse="onnxruntime" lists the adds ONNX Runtime leaves, exactly, and its ReLUs but the
    stem's, head's and reductions' (a constant part of every network)."""
    space = NB201Space()
    kernels = space.for_runtime("onnxruntime")
    assert kernels.fuse == "onnxruntime" and space.for_runtime("litert") is space
    assert NB201Space(none_edges="zero").for_runtime("onnxruntime").fuse == "none"
    with pytest.raises(InputError, match="fuse"):
        NB201Space(none_edges="zero", fuse="onnxruntime")
    off = []
    for a in space.sample(11, 25):
        relus, adds = _ort_kernels(space, a)
        ops = kernels.ops(a)
        assert adds == sum(int(o["n"]) - 1 for o in ops if o.kind == "add"), space.encode(a)
        mine = sum(o.kind == "act" for o in ops) + sum(o.kind == "bn" and o["act"] == "relu" for o in ops) + 2
        off.append(relus - mine)
        assert len(ops) <= len(space.ops(a))
        # the network built is the same: only what a table sums changes
        assert primitive_counts(kernels.build(a)) == primitive_counts(space.build(a))
    assert sum(d in (-1, 0) for d in off) >= 0.9 * len(off), off
