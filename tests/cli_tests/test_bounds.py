"""Every numeric option is checked when the command line is parsed: an impossible, unbounded, NaN
or infinite value is a usage error (exit 2) whose one line names the option, the value and the
range. These run the real parser in-process and fail before anything is measured."""

from __future__ import annotations

import argparse

import pytest

from hwlat.cli import build_parser, main
from hwlat.cli.options import Bounded, count, fraction, number, positive_float

from .test_parser import commands

SEARCH = ["search", "--device", "cpu-ort", "--space", "nb201", "-o", "out"]
PROFILE = ["profile", "--device", "cpu-ort", "--space", "nb201", "-o", "out"]
VALIDATE = ["validate", "--device", "cpu-ort", "--space", "nb201", "-o", "out"]
HUGE = "100000000000000000000"

# (command line, the option the message must name, what it must say of the value)
BAD = [
    # counts: a lower bound, and an upper bound that keeps the job finite
    (PROFILE + ["--rounds", HUGE], "--rounds", HUGE),
    (PROFILE + ["--rounds", "1e20"], "--rounds", "1e20"),
    (PROFILE + ["--rounds", "0"], "--rounds", "0"),
    (PROFILE + ["--remeasure", "-1"], "--remeasure", "-1"),
    (PROFILE + ["--remeasure", "1000000"], "--remeasure", "1000000"),
    (PROFILE + ["--round-time", "nan"], "--round-time", "NaN"),
    (PROFILE + ["--round-time", "inf"], "--round-time", "infinity"),
    (PROFILE + ["--round-time", "0"], "--round-time", "0"),
    (PROFILE + ["--round-time", "1e9"], "--round-time", "1e9"),
    (PROFILE + ["--samples", "0"], "--samples", "0"),
    (PROFILE + ["--samples", HUGE], "--samples", HUGE),
    (PROFILE + ["--chunk-size", "0"], "--chunk-size", "0"),
    (PROFILE + ["--chunk-size", "1e6"], "--chunk-size", "1e6"),
    (PROFILE + ["--seed", "-1"], "--seed", "-1"),
    (PROFILE + ["--seed", "1e20"], "--seed", "1e20"),
    (PROFILE + ["--top", "-5"], "--top", "-5"),
    (PROFILE + ["--resolution", "0"], "--resolution", "0"),
    (PROFILE + ["--resolution", "100000"], "--resolution", "100000"),
    (PROFILE + ["--resolution", *["224"] * 17], "--resolution", "17 values"),
    (["profile-model", "m.onnx", "--runs", "1e20"], "--runs", "1e20"),
    (["profile-model", "m.onnx", "--runs", "0"], "--runs", "0"),
    (["profile-model", "m.onnx", "--warmup", "-1"], "--warmup", "-1"),
    (["profile-model", "m.onnx", "--warmup", HUGE], "--warmup", HUGE),
    (["profile-model", "m.onnx", "--rounds", "2.5"], "--rounds", "2.5"),
    (["profile-model", "m.onnx", "--dim", "batch=0"], "--dim", "0"),
    (["profile-model", "m.onnx", "--dim", "batch"], "--dim", "'batch'"),
    (["profile-model", "m.onnx", "--dim", "batch=1e20"], "--dim", "1e20"),
    (VALIDATE + ["--n", "1e20"], "--n", "1e20"),
    (VALIDATE + ["--n", "0"], "--n", "0"),
    (VALIDATE + ["--calibrate", "-1"], "--calibrate", "-1"),
    (VALIDATE + ["--calibrate", HUGE], "--calibrate", HUGE),
    (SEARCH + ["--evaluations", "1e20"], "--evaluations", "1e20"),
    (SEARCH + ["--evaluations", "0"], "--evaluations", "0"),
    (SEARCH + ["--evaluations", "ten"], "--evaluations", "'ten'"),
    (SEARCH + ["--population", "0"], "--population", "0"),
    (SEARCH + ["--population", HUGE], "--population", HUGE),
    (SEARCH + ["--calibrate", "-3"], "--calibrate", "-3"),
    (SEARCH + ["--max-measure", "0"], "--max-measure", "0"),
    (SEARCH + ["--max-measure", HUGE], "--max-measure", HUGE),
    (SEARCH + ["--epochs", "0"], "--epochs", "0"),
    (SEARCH + ["--epochs", "1e9"], "--epochs", "1e9"),
    (SEARCH + ["--max-batches", "0"], "--max-batches", "0"),
    (SEARCH + ["--latency-weight", "nan"], "--latency-weight", "NaN"),
    (SEARCH + ["--latency-weight", "inf"], "--latency-weight", "infinity"),
    (SEARCH + ["--latency-weight", "-0.5"], "--latency-weight", "-0.5"),
    # budgets: finite positive numbers of ms
    (SEARCH + ["--budget", "0"], "--budget", "0"),
    (SEARCH + ["--budget", "nan"], "--budget", "NaN"),
    (SEARCH + ["--budget", "inf"], "--budget", "infinity"),
    (SEARCH + ["--budget=-2"], "--budget", "-2"),
    (SEARCH + ["--budgets", "1", "nan"], "--budgets", "NaN"),
    (SEARCH + ["--budgets", "1", "0"], "--budgets", "0"),
    (SEARCH + ["--budgets", *["1"] * 101], "--budgets", "101 values"),
    (SEARCH + ["--rounds", "-1"], "--rounds", "-1"),
    (["measure", "m.onnx", "--round-time", "nan"], "--round-time", "NaN"),
    (["measure", "m.onnx", "--remeasure", HUGE], "--remeasure", HUGE),
    (["space", "sample", "nb201", "-n", "0"], "-n", "0"),
    (["space", "sample", "nb201", "-n", "1e20"], "-n", "1e20"),
    (["space", "sample", "nb201", "--seed", "-1"], "--seed", "-1"),
    (["kernels", "fit", "t.parquet", "-o", "k.npz", "--test-size", "0.999"], "--test-size", "0.999"),
    (["kernels", "fit", "t.parquet", "-o", "k.npz", "--test-size", "0"], "--test-size", "0"),
    (["kernels", "fit", "t.parquet", "-o", "k.npz", "--test-size", "1"], "--test-size", "1"),
    (["kernels", "fit", "t.parquet", "-o", "k.npz", "--test-size", "-0.2"], "--test-size", "-0.2"),
    (["kernels", "fit", "t.parquet", "-o", "k.npz", "--test-size", "nan"], "--test-size", "NaN"),
    (["table", "show", "t.parquet", "--top", "-1"], "--top", "-1"),
    (["table", "diff", "a.parquet", "b.parquet", "--top", HUGE], "--top", HUGE),
    (["table", "coverage", "t.parquet", "--space", "nb201", "--top", "-2"], "--top", "-2"),
    (["query", "--space", "ofa-mbv3", "--resolution", "5000"], "--resolution", "5000"),
    (["ops", "list", "--space", "ofa-mbv3", "--resolution", "nan"], "--resolution", "NaN"),
    (["adapt", "--space", "nb201", "--reference", "r", "--measurements", "m", "-o", "o", "--resolution", "-1"],
     "--resolution", "-1"),
]


@pytest.mark.parametrize(("argv", "option", "value"), BAD, ids=[" ".join(b[0][:2] + b[0][-2:])[:60] for b in BAD])
def test_a_bad_value_is_a_usage_error_naming_the_option_and_the_value(argv, option, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("hwlat: error: ") and err.count("\n") == 1, err
    assert f"argument {option}" in err or f"argument {option}/" in err, err
    assert value in err, err
    assert "Traceback" not in err


def test_the_message_gives_the_range_and_the_reason(capsys):
    with pytest.raises(SystemExit):
        main(SEARCH + ["--evaluations", HUGE])
    err = capsys.readouterr().err
    assert "from 1 to 1,000,000" in err and "(" in err
    with pytest.raises(SystemExit):
        main(PROFILE + ["--round-time", "nan"])
    err = capsys.readouterr().err
    assert "NaN (not a number)" in err and "over 0, at most 10" in err


GOOD = [
    (PROFILE + ["--rounds", "1000", "--remeasure", "0", "--round-time", "10", "--seed", "2147483647"],
     {"rounds": 1000, "remeasure": 0, "round_time": 10.0, "seed": 2**31 - 1}),
    (PROFILE + ["--rounds", "1e3", "--samples", "100000"], {"rounds": 1000, "samples": 100000}),
    (SEARCH + ["--budget", "0.25", "--budgets", "1", "2.5", "--latency-weight", "0", "--population", "2"],
     {"budget": 0.25, "budgets": [1.0, 2.5], "latency_weight": 0.0, "population": 2}),
    (["kernels", "fit", "t.parquet", "-o", "k.npz", "--test-size", "0.5"], {"test_size": 0.5}),
    (["table", "show", "t.parquet", "--top", "0"], {"top": 0}),
    (["profile-model", "m.onnx", "--dim", "batch=4", "--dim", "seq=128"], {"dim": [("batch", 4), ("seq", 128)]}),
]


@pytest.mark.parametrize(("argv", "want"), GOOD)
def test_values_at_the_bounds_are_taken(argv, want):
    args = build_parser().parse_args(argv)
    for k, v in want.items():
        assert getattr(args, k) == v and type(getattr(args, k)) is type(v), (k, getattr(args, k))


def _numeric(action: argparse.Action) -> bool:
    return action.type in (int, float) or isinstance(action.type, Bounded)


def test_every_numeric_option_of_every_command_is_bounded():
    seen = 0
    for path, p in commands(build_parser()):
        for action in p._actions:
            if action.type in (int, float):
                pytest.fail(f"hwlat {' '.join(path)} {action.option_strings}: an unchecked {action.type.__name__}; "
                            "give it a bounded type from hwlat.cli.options")
            if isinstance(action.type, Bounded):
                seen += 1
                assert action.type.why, (path, action.dest)
    assert seen >= 40


def test_help_shows_the_range_beside_the_default():
    p = build_parser()._subparsers._group_actions[0].choices["search"]
    text = " ".join(p.format_help().split())
    assert "architectures evaluated by the search (1 to 1,000,000; default: 1000)" in text
    assert "latency budget (ms): the search's constraint (over 0, at most 1,000,000)" in text


def test_agent_refuses_a_message_limit_that_is_not_a_finite_positive_number(capsys):
    from hwlat.profiler.agent import main as agent_main

    for bad, said in (("inf", "got inf"), ("nan", "got NaN"), ("0", "got 0"), ("-4", "got -4"),
                      ("1e6", "got 1000000.0")):
        with pytest.raises(SystemExit) as exc:
            agent_main(["--stdio", f"--max-message-mb={bad}"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "--max-message-mb: must be a number of MB over 0, at most 4096" in err and said in err, err


@pytest.mark.parametrize(("make", "good", "bad"), [
    (lambda: count(1, 10, "why"), {"1": 1, "10": 10, "1e1": 10, " 3 ": 3}, ["0", "11", "1.5", "nan", "x", "-inf"]),
    (lambda: number(-1, 1, "why"), {"-1": -1.0, "0.5": 0.5, "1": 1.0}, ["nan", "inf", "-1.01", "2", "x"]),
    (lambda: positive_float(5, "why"), {"5": 5.0, "1e-9": 1e-9}, ["0", "-0", "5.0001", "nan", "inf"]),
    (lambda: fraction(0, 1, "why"), {"0.5": 0.5, "0.999": 0.999}, ["0", "1", "nan", "-0.1"]),
    (lambda: fraction(0.1, 0.5, "why", closed=True), {"0.1": 0.1, "0.5": 0.5}, ["0.09", "0.51"]),
])
def test_the_type_factories(make, good, bad):
    t = make()
    for text, v in good.items():
        assert t(text) == v and type(t(text)) is type(v), text
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match="give a"):
            t(text)
