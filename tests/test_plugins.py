"""A runtime, a space, a strategy and an accuracy source added from outside hwlat: the package
``tests/plugin_pkg/hwlat_toy`` holds one class and one registration each, announced through the
``hwlat.plugins`` entry point. In this process the toys are registered by hand; in a subprocess
with the package on PYTHONPATH, ``hwlat profile`` and ``hwlat search`` find them through the
entry point alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwlat.registry import SPACES, STRATEGIES
from hwlat.search import get_space, make_strategy, run_search
from hwlat.testing.space import SearchSpaceContract
from hwlat.testing.strategy import GeneCostLatency, GeneScoreAccuracy, StrategyContract

PLUGIN_DIR = Path(__file__).resolve().parent / "plugin_pkg"
sys.path.insert(0, str(PLUGIN_DIR))
from hwlat_toy import CoordinateDescent, ToyChain  # noqa: E402 - the plugin folder goes on the path first

sys.path.remove(str(PLUGIN_DIR))  # the entry point must not reach the other tests' registries


@pytest.fixture(autouse=True, scope="module")
def registered():
    SPACES.register("toy-chain", ToyChain)
    STRATEGIES.register("toy-descent", CoordinateDescent)
    yield
    SPACES.unregister("toy-chain")
    STRATEGIES.unregister("toy-descent")


class TestToySpace(SearchSpaceContract):
    def make_space(self):
        return ToyChain()


class TestToyStrategy(StrategyContract):
    n_evals = 40

    def make_strategy(self):
        return CoordinateDescent(batch_size=4)


def test_the_toys_are_found_by_name():
    space = get_space("toy-chain", resolution=8)
    assert isinstance(space, ToyChain) and space.input_shape() == (3, 8, 8)
    res = run_search(space, GeneCostLatency(space), GeneScoreAccuracy(space), "toy-descent", n_evals=20,
                     progress=False, batch_size=5)
    assert res.strategy == "toy-descent" and res.n_evals == 20
    assert isinstance(make_strategy("toy-descent"), CoordinateDescent)


def test_the_command_line_knows_the_toys(capsys):
    from hwlat.cli import build_parser, main

    args = build_parser().parse_args(["search", "--device", "cpu-ort", "--space", "toy-chain", "--strategy",
                                      "toy-descent", "-o", "out"])
    assert (args.space, args.strategy) == ("toy-chain", "toy-descent")
    assert main(["ops", "list", "--space", "toy-chain", "--resolution", "12", "--format", "keys"]) == 0
    keys = capsys.readouterr().out.split()
    assert keys == [s.key for s in ToyChain(resolution=12).all_ops()]


# -- through the entry point, in a fresh process ---------------------------------------------------------

def _hwlat(args, tmp_path, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PLUGIN_DIR), str(Path(__file__).resolve().parents[1])]))
    return subprocess.run([sys.executable, "-m", "hwlat", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=timeout)


@pytest.fixture()
def toy_device(tmp_path):
    d = tmp_path / "devices"
    d.mkdir()
    (d / "toy.yaml").write_text("name: toy-cpu\nruntime: toy-ort\nprovider: cpu\nthreads: 1\n"
                                "description: ONNX Runtime through the toy plugin\n")
    return d


def test_the_plugin_is_found_through_its_entry_point(tmp_path, toy_device):
    r = _hwlat(["space", "list", "--format", "json"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "toy-chain" in r.stdout
    r = _hwlat(["search", "--help"], tmp_path)
    assert r.returncode == 0 and "toy-descent" in r.stdout and "toy-width:" in r.stdout
    r = _hwlat(["devices", "show", "toy-cpu", "--devices-dir", str(toy_device)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "toy-ort" in r.stdout


def test_profile_and_search_with_the_plugin(tmp_path, toy_device):
    """Profile the toy space on the toy runtime, then search it with the toy strategy and accuracy."""
    dd = ["--devices-dir", str(toy_device)]
    r = _hwlat(["profile", *dd, "--device", "toy-cpu", "--space", "toy-chain", "--quick", "-o", "t",
                "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    from hwlat.latency_tables import LatencyTable

    table = LatencyTable.load(tmp_path / "t" / "table.parquet")
    assert table.metadata.device_name == "toy-cpu"
    assert len(table.keys()) == len(ToyChain().all_ops())
    assert (table.df["latency_ms"] > 0).all()

    r = _hwlat(["search", *dd, "--device", "toy-cpu", "--space", "toy-chain", "--table", "t/table.parquet",
                "--strategy", "toy-descent", "--accuracy", "toy-width:", "--budget", "50", "--evaluations", "20",
                "--calibrate", "3", "--max-measure", "3", "--quick", "--no-progress", "--format", "json", "-o", "g"],
               tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["strategy"] == "toy-descent" and summary["space"] == "toy-chain"
    assert summary["evaluations"] == 20
    assert (tmp_path / "g" / "front.csv").stat().st_size > 0
