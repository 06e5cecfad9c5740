"""What the commands refuse, or say, once the command line has parsed: a diff with nothing to
compare, symbolic input dimensions, a held-out split too small to score, an output path that is
a folder, NaN measurements, a table whose latencies no network has. Real files in tmp_path."""

from __future__ import annotations

import errno
import math

import numpy as np
import pytest

from hwlat.cli import main
from hwlat.errors import InputError
from hwlat.latency_tables import LatencyTable, TableMetadata
from hwlat.ops import conv, dwconv
from hwlat.spaces import get_space

MD = TableMetadata(device={"name": "cpu-ort"}, runtime="onnxruntime", threads=1)


def _save(path, rows):
    LatencyTable.from_rows(MD, rows).save(path)
    return str(path)


# -- table diff --fail-if ------------------------------------------------------------------------

def test_diff_fail_if_with_no_shared_key_fails_saying_there_is_nothing_to_compare(tmp_path, capsys):
    a = _save(tmp_path / "a.parquet", [(conv((3, 32, 32), 16, 3), {"median_ms": 1.0})])
    b = _save(tmp_path / "b.parquet", [(dwconv((16, 32, 32), 3), {"median_ms": 9.0}),
                                       (conv((3, 16, 16), 8, 1), {"median_ms": 9.0})])
    assert main(["table", "diff", a, b, "--fail-if", "latency_ms:+5%"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hwlat: error: --fail-if has nothing to compare") and err.count("\n") == 1
    assert a in err and b in err and "1 keys only in" in err and "2 only in" in err
    # without a gate the diff is still shown (there is nothing to fail)
    assert main(["table", "diff", a, b]) == 0
    # sharing one key is enough to compare
    c = _save(tmp_path / "c.parquet", [(conv((3, 32, 32), 16, 3), {"median_ms": 1.01})])
    assert main(["table", "diff", a, c, "--fail-if", "latency_ms:+5%"]) == 0


# -- profile-model: symbolic input dimensions ----------------------------------------------------

def _symbolic_model(path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, "H", "W"])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


QUICK = ["--quick", "--no-canary", "--rounds", "1", "--runs", "2", "--warmup", "0", "--format", "json"]


def test_profile_model_says_which_symbolic_dimensions_it_sets_to_1(tmp_path, capsys):
    model = _symbolic_model(tmp_path / "sym.onnx")
    assert main(["profile-model", model, *QUICK]) == 0
    warned = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("hwlat: warning:")]
    assert len(warned) == 3, warned
    for dim, axis in (("batch", 0), ("H", 2), ("W", 3)):
        line = next(ln for ln in warned if f"'{dim}'" in ln)
        assert "input 'x'" in line and f"axis {axis}" in line and "timed with 1" in line and f"--dim {dim}=N" in line
    assert main(["profile-model", model, *QUICK, "--dim", "batch=1", "--dim", "H=4"]) == 0
    warned = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("hwlat: warning:")]
    assert len(warned) == 1 and "'W'" in warned[0]


def test_profile_model_refuses_a_dimension_the_model_does_not_have(tmp_path, capsys):
    model = _symbolic_model(tmp_path / "sym.onnx")
    assert main(["profile-model", model, *QUICK, "--dim", "seq=128"]) == 1
    err = capsys.readouterr().err
    assert "'seq'" in err and "batch (input 'x', axis 0)" in err and "Traceback" not in err


def test_a_set_dimension_reaches_the_session(tmp_path):
    from hwlat.profiler.runtimes.ort import OnnxRuntime

    model = _symbolic_model(tmp_path / "sym.onnx")
    rt = OnnxRuntime()
    assert [a.shape for a in rt.prepare_file(model)._feed.values()] == [(1, 3, 1, 1)]
    rt.free_dims = {"batch": 2, "H": 5, "W": 7}
    assert [a.shape for a in rt.prepare_file(model)._feed.values()] == [(2, 3, 5, 7)]


def test_measure_warns_of_symbolic_dimensions_and_takes_dim(tmp_path, capsys):
    model = _symbolic_model(tmp_path / "sym.onnx")
    quick = ["--quick", "--no-canary", "--rounds", "1", "--no-progress", "--format", "json"]
    assert main(["measure", model, *quick]) == 0
    warned = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("hwlat: warning:")]
    assert len(warned) == 3 and all("timed with 1" in ln for ln in warned), warned
    assert main(["measure", model, *quick, "--dim", "batch=2", "--dim", "H=8", "--dim", "W=8"]) == 0
    assert not [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("hwlat: warning:")]
    assert main(["measure", model, *quick, "--dim", "seq=128"]) == 1
    assert "'seq'" in capsys.readouterr().err


# -- kernels fit --test-size ---------------------------------------------------------------------

def _kernel_table(path, **per_kind):
    from hwlat.predictors.sampling import sample_kernels

    rows = []
    for kind, n in per_kind.items():
        rows += [(s, {"median_ms": 1e-3 + s.flops / 1e9}) for s in sample_kernels(kind, n, seed=0)]
    return _save(path, rows)


def test_a_test_size_that_leaves_nothing_to_score_says_why(tmp_path, capsys):
    t = _kernel_table(tmp_path / "k.parquet", conv=9)
    assert main(["kernels", "fit", t, "-o", str(tmp_path / "k.npz"), "--test-size", "0.2"]) == 1
    err = capsys.readouterr().err
    assert "test_size 0.2 leaves no op kind" in err and "conv: 9 rows -> 7 to fit, 2 to score" in err
    assert "Traceback" not in err and not (tmp_path / "k.npz").exists()


def test_a_kind_too_small_to_score_is_named(tmp_path, capsys):
    t = _kernel_table(tmp_path / "k.parquet", conv=30, pool=6)
    assert main(["kernels", "fit", t, "-o", str(tmp_path / "k.npz"), "--test-size", "0.3", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert "pool is not scored: --test-size 0.3 of its 6 rows leaves 4 to fit (it needs 8) and 2 to score" \
        in captured.err
    assert "conv is not scored" not in captured.err


# -- output paths --------------------------------------------------------------------------------

def test_an_output_that_is_a_folder_is_named_not_the_temporary_file(tmp_path, capsys):
    a = _save(tmp_path / "a.parquet", [(conv((3, 32, 32), 16, 3), {"median_ms": 1.0})])
    for name in ("out.parquet", "out.csv"):
        (tmp_path / name).mkdir()
        assert main(["table", "export", a, "-o", str(tmp_path / name)]) == 1
        err = capsys.readouterr().err
        assert f"cannot write {tmp_path / name}: it is a folder" in err and ".tmp" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "out.csv", "out.parquet"]


def test_a_failed_write_names_the_file_asked_for(tmp_path):
    from hwlat._io import atomic_path

    dest = tmp_path / "table.parquet"
    with pytest.raises(InputError) as exc, atomic_path(dest) as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    msg = str(exc.value)
    assert f"cannot write {dest}: No space left on device" in msg and ".tmp" not in msg
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone, nothing half-written
    with pytest.raises(OSError, match="elsewhere"), atomic_path(dest):  # not about our file: as raised
        raise OSError(errno.EACCES, "elsewhere", str(tmp_path / "other"))


# -- NaN and infinite values named as such -------------------------------------------------------

def _nb201_table(tmp_path, base_ms=0.01):
    nb = get_space("nb201")
    return _save(tmp_path / "ref.parquet", [(s, {"median_ms": base_ms + 1e-4 * i}) for i, s in enumerate(nb.all_ops())])


def test_fewshot_names_a_nan_latency_as_nan(tmp_path):
    from hwlat.predictors.fewshot import FewShotAdapter

    nb = get_space("nb201")
    model = FewShotAdapter(space=nb, reference_table=LatencyTable.load(_nb201_table(tmp_path)))
    archs = nb.sample(0, 4)
    for y, said in (([1.0, math.nan, 1.2, 1.1], "latency 2 of 4 is NaN (not a number)"),
                    ([1.0, 1.3, math.inf, 1.1], "latency 3 of 4 is infinite"),
                    ([-1.0, 1.3, 0.0, 1.1], "latency 1 of 4 is -1 (2 bad in all)")):
        with pytest.raises(InputError) as exc:
            model.fit(archs, y)
        assert said in str(exc.value) and "min" not in str(exc.value), exc.value


def test_adapt_names_the_line_of_a_bad_latency(tmp_path, capsys):
    nb = get_space("nb201")
    ref = _nb201_table(tmp_path)
    texts = [nb.encode(a) for a in nb.sample(0, 4)]
    for value, said in (("nan", "empty or NaN (not a number)"), ("", "empty or NaN"), ("inf", "infinite"),
                        ("fast", "'fast', not a number"), ("-2", "-2")):
        csv = tmp_path / "m.csv"
        csv.write_text("arch,latency_ms\n" + "".join(f"{t},{v}\n" for t, v in zip(texts, ["1.1", "1.2", value,
                                                                                          "1.3"])))
        assert main(["adapt", "--space", "nb201", "--reference", ref, "--measurements", str(csv),
                     "-o", str(tmp_path / "p.npz")]) == 1
        err = capsys.readouterr().err
        assert f"{csv}:4: latency_ms is {said}" in err and "Traceback" not in err, err


# -- budgets speak of budgets; a wrong table is named as such ------------------------------------

def test_a_table_no_network_could_have_is_not_called_a_budget_problem(tmp_path):
    from hwlat.predictors import LookupPredictor
    from hwlat.search.strategies import run_search

    nb = get_space("nb201")
    with pytest.raises(InputError, match="a table row needs a finite latency above 0 ms"):
        LatencyTable.load(_nb201_table(tmp_path, base_ms=-0.5))  # such a table file is refused at once
    # a predictor that still gives impossible latencies (here: told to) is blamed, not the budget
    pred = LookupPredictor(space=nb, table=LatencyTable.load(_nb201_table(tmp_path, base_ms=0.5))).fit()
    pred.predict_genes = lambda genes: np.full(len(genes), -0.5)
    pred.min_latency = lambda: -0.5

    def acc(genes):
        return np.zeros(len(genes))

    with pytest.raises(InputError) as exc:
        run_search(nb, pred, acc, "random", budget_ms=1.0, n_evals=10, progress=False)
    msg = str(exc.value)
    assert "the latency table or predictor is wrong" in msg and "raise the budget" not in msg


def test_the_api_refuses_impossible_counts(tmp_path):
    from hwlat.predictors.validate import validate_space
    from hwlat.search.workflow import search_gallery

    nb = get_space("nb201")
    for kw, said in (({"n_evals": 0}, "n_evals"), ({"max_measure": -1}, "max_measure"),
                     ({"calibrate": 1.5}, "calibrate")):
        with pytest.raises(InputError, match=said):
            search_gallery(nb, "cpu-ort", tmp_path / "g", **kw)
    table = LatencyTable.load(_nb201_table(tmp_path))
    for kw, said in (({"n": math.nan}, "n=nan"), ({"n": 2}, "n=2"), ({"calibrate": -1}, "calibrate")):
        with pytest.raises(InputError, match=said):
            validate_space(nb, table, "cpu-ort", **kw)


def test_gradient_search_refuses_a_nan_latency_weight():
    from hwlat.search.gradient import gradient_search

    for v in (math.nan, math.inf, -1.0):
        with pytest.raises(InputError, match=r"takes parameters lambda \(finite numbers >= 0\), got lambda="):
            gradient_search(get_space("proxyless"), None, 5.0, loss_params={"lambda": v})


def test_search_options_of_another_strategy_are_refused_not_ignored(tmp_path, capsys):
    base = ["search", "--device", "cpu-ort", "--space", "nb201", "--budget", "1", "-o", str(tmp_path / "g")]
    for extra, said in ((["--strategy", "random", "--population", "10"],
                         "--population applies to strategies with a population (nsga2, evolution), not random"),
                        (["--latency-weight", "0.3"], "--latency-weight apply to --strategy gradient, not budgets"),
                        (["--strategy", "evolution", "--epochs", "3", "--loss", "fbnet"],
                         "--loss, --epochs apply to --strategy gradient, not evolution")):
        assert main(base + extra) == 1
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and "__init__" not in err, err
    assert not (tmp_path / "g").exists()


def test_profile_top_0_prints_every_op(tmp_path, capsys):
    ops = tmp_path / "ops.txt"
    ops.write_text(f"{conv((3, 8, 8), 4, 3).key}\n{conv((3, 8, 8), 4, 1).key}\n")
    argv = ["profile", "--device", "cpu-ort", "--ops", str(ops), "--quick", "--no-canary", "--rounds", "1",
            "--no-progress", "-o", str(tmp_path / "t"), "--top"]
    assert main([*argv, "0"]) == 0
    out = capsys.readouterr().out
    assert "2 ops on cpu-ort; the 2 slowest:" in out and out.count("conv") >= 2, out
    assert main([*argv, "1"]) == 0  # resumed: nothing measured again
    assert "2 ops on cpu-ort; the 1 slowest:" in capsys.readouterr().out
