"""The parser of the hwlat command: fast to build, helpful, its choices from the registry."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwlat.cli import build_parser, main
from hwlat.cli.options import CALIBRATIONS, PROTOCOL_DEFAULTS, STATISTICS, HelpFormatter

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def commands(parser: argparse.ArgumentParser,
             path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command parser, with its words."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def leaves() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    out = []
    for path, p in commands(build_parser()):
        if path and path[0] != "agent" and not any(isinstance(a, argparse._SubParsersAction) for a in p._actions):
            out.append((path, p))
    return out


def test_version_is_fast_and_imports_no_pandas():
    """The intent is under 0.3 s; the bound is generous for loaded CI machines."""
    cmd = [sys.executable, "-X", "importtime", "-m", "hwlat", "--version"]
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60, env=_env())
        walls.append(time.perf_counter() - t0)
        assert res.returncode == 0 and res.stdout.startswith("hwlat ")
    imported = {line.split("|")[-1].strip().split(".")[0] for line in res.stderr.splitlines() if "|" in line}
    assert not imported & {"pandas", "numpy", "onnx", "onnxruntime", "scipy", "sklearn", "torch"}, imported
    assert min(walls) < 1.0, walls


def test_help_imports_no_numpy():
    code = ("import sys\nfrom hwlat.cli import build_parser\np = build_parser()\n"
            "for argv in (['--help'], ['profile', '--help'], ['query', '--help'], ['search', '--help'],\n"
            "             ['table', 'diff', '--help']):\n"
            "    try:\n        p.parse_args(argv)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('pandas', 'numpy', 'onnx', 'yaml') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60,
                         env=_env())
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_has_examples_and_every_option_help():
    found = leaves()
    assert len(found) >= 20
    for path, p in found:
        assert p.epilog and "examples:" in p.epilog and "hwlat " in p.epilog, path
        for action in p._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help and action.help.strip(), (path, action.dest)


def test_help_prints_each_default_once():
    for path, p in commands(build_parser()):
        fmt = HelpFormatter(prog=p.prog)
        for action in p._actions:
            if action.help is None or action.help is argparse.SUPPRESS:
                continue
            text = fmt._expand_help(action)
            assert text.count("default") <= 1, (path, text)
            assert "(default: None)" not in text and "default: False" not in text, (path, text)
    text = build_parser()._subparsers._group_actions[0].choices["profile"].format_help()
    assert "interleaved rounds per item (1 to 1,000; default: 12)" in text


def test_output_help_says_folder_or_file():
    seen = 0
    for path, p in leaves():
        for action in p._actions:
            if "-o" in action.option_strings:
                seen += 1
                assert action.help.startswith(("output folder:", "output file:")), (path, action.help)
                assert action.metavar == ("DIR" if "folder" in action.help else "FILE"), path
    assert seen >= 8


def test_format_offers_table_json_and_csv_where_results_are_printed():
    exceptions = {("devices", "show"), ("ops", "list"), ("space", "sample")}
    for path, p in leaves():
        fmt = [a for a in p._actions if a.dest == "format"]
        if fmt and path not in exceptions:
            assert tuple(fmt[0].choices) == ("table", "json", "csv"), path


def test_choices_come_from_the_registry():
    from hwlat.registry import SPACES, STRATEGIES

    SPACES.register("toy-space", "hwlat.spaces.nb201:NB201Space")
    STRATEGIES.register("toy-strategy", "hwlat.search.strategies:RandomSearch")
    try:
        p = build_parser()
        args = p.parse_args(["search", "--device", "cpu-ort", "--space", "toy-space", "--strategy", "toy-strategy",
                             "-o", "x"])
        assert args.space == "toy-space" and args.strategy == "toy-strategy"
    finally:
        SPACES.unregister("toy-space")
        STRATEGIES.unregister("toy-strategy")
    assert set(STRATEGIES.names()) >= {"nsga2", "evolution", "random", "gradient"}
    assert STRATEGIES.get("nsga2").__name__ == "NSGA2"


def test_the_parser_constants_match_the_library():
    from hwlat.predictors.lookup import CALIBRATIONS as LIB_CALIBRATIONS
    from hwlat.profiler import Protocol
    from hwlat.profiler.measurement import STATISTICS as LIB_STATISTICS

    assert set(CALIBRATIONS) == set(LIB_CALIBRATIONS) and tuple(STATISTICS) == tuple(LIB_STATISTICS)
    proto = Protocol()
    assert PROTOCOL_DEFAULTS == {"rounds": proto.rounds, "round_time": proto.round_time_s,
                                 "remeasure": proto.remeasure, "settle_budget": proto.settle_budget,
                                 "statistic": proto.statistic}


def test_a_usage_error_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["table", "show", "t.parquet", "--no-such-option"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("hwlat: error:") and err.count("\n") == 1 and "--no-such-option" in err
    with pytest.raises(SystemExit) as exc:
        main(["query", "--space", "nb-201"])
    assert exc.value.code == 2 and "nb201" in capsys.readouterr().err


def test_devices_dir_before_the_command_counts(tmp_path, capsys):
    mine = tmp_path / "devs"
    mine.mkdir()
    (mine / "my-board.yaml").write_text("name: my-board\nruntime: onnxruntime\nprovider: cpu\nthreads: 2\n")
    assert main(["--devices-dir", str(mine), "devices", "show", "my-board"]) == 0
    assert "name: my-board" in capsys.readouterr().out
    assert main(["devices", "show", "my-board", "--devices-dir", str(mine)]) == 0
    capsys.readouterr()
    assert main(["devices", "show", "my-board"]) == 1
    assert "my-board" in capsys.readouterr().err


def test_a_failed_check_exits_3(tmp_path, capsys):
    from hwlat.latency_tables import LatencyTable, TableMetadata
    from hwlat.ops import conv

    spec = conv((3, 32, 32), 16, 3)
    md = TableMetadata(device={"name": "cpu-ort"}, runtime="onnxruntime", threads=1)
    LatencyTable.from_rows(md, [(spec, {"median_ms": 1.0})]).save(tmp_path / "a.parquet")
    LatencyTable.from_rows(md, [(spec, {"median_ms": 1.5})]).save(tmp_path / "b.parquet")
    a, b = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    assert main(["table", "diff", a, b, "--fail-if", "median_ms:+5%"]) == 3
    assert main(["table", "diff", a, b, "--fail-if", "median_ms:+60%"]) == 0
    capsys.readouterr()
    assert main(["table", "coverage", a, "--space", "nb201", "--fail-if-missing", "--format", "csv"]) == 3
    out = capsys.readouterr().out
    assert out.startswith("missing,kind\n") and out.count("\n") > 5
