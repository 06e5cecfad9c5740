"""The hwlat command: real subprocesses, real files; bad input gives one message and exit 1, a
usage error exit 2, a failed --fail-if check exit 3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def hwlat(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hwlat", *args], capture_output=True, text=True, check=False, cwd=cwd,
                          timeout=300)


def assert_clean_error(res: subprocess.CompletedProcess, *fragments: str, code: int = 1) -> None:
    assert res.returncode == code, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.startswith("hwlat: error:")
    for f in fragments:
        assert f in res.stderr, res.stderr


def test_help_has_examples():
    for args in ([], ["profile"], ["table"], ["profile-model"], ["devices"], ["ops", "list"]):
        res = hwlat(*args, "--help")
        assert res.returncode == 0
        assert "usage: hwlat" in res.stdout
    assert "examples:" in hwlat("profile", "--help").stdout
    assert "hwlat profile --device cpu-ort --space nb201" in hwlat("--help").stdout


def test_devices_list_and_show():
    res = hwlat("devices", "list", "--format", "json")
    assert res.returncode == 0
    names = {d["name"] for d in json.loads(res.stdout)}
    assert {"cpu-ort", "cpu-litert", "cpu-torch", "gpu-ort-cuda", "gpu-torch-cuda"} <= names
    res = hwlat("devices", "show", "cpu-litert")
    assert res.returncode == 0 and "runtime: litert" in res.stdout


def test_unknown_device_lists_valid_names():
    res = hwlat("profile", "--device", "cpu-ortt", "--space", "nb201", "-o", "x")
    assert_clean_error(res, "cpu-ortt", "cpu-ort")


def test_malformed_device_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "dev.yaml"
    bad.write_text("name: mine\nruntime: onnxruntime\nprovider: [cpu\nthreads: 1\n")
    res = hwlat("devices", "show", str(bad))
    assert_clean_error(res, str(bad), "line")


def test_debug_shows_the_traceback():
    res = hwlat("--debug", "devices", "show", "no-such-device")
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_profile_ops_file_then_show_diff_and_coverage(tmp_path):
    ops = tmp_path / "ops.txt"
    ops.write_text("# two small ops\nconv:3x32x32:cout=16,k=3\npool:16x32x32:k=3,pad=1\n")
    out = tmp_path / "t"
    res = hwlat("profile", "--device", "cpu-ort", "--ops", str(ops), "-o", str(out), "--quick", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "ops: 2 (2 measured now" in res.stderr and "wall time" in res.stderr
    table = out / "table.parquet"
    res = hwlat("table", "show", str(table), "--format", "json")
    meta = json.loads(res.stdout)["metadata"]
    assert meta["device"]["name"] == "cpu-ort" and meta["runtime"] == "onnxruntime"
    res = hwlat("table", "diff", str(table), str(out / "table.csv"), "--fail-if", "median_ms:+5%")
    assert res.returncode == 0, res.stderr  # the same table in two formats: no regression
    res = hwlat("table", "coverage", str(table), "--space", "nb201", "--fail-if-missing")
    assert res.returncode == 3 and "missing" in res.stdout


def test_profile_bad_op_file_names_the_line(tmp_path):
    ops = tmp_path / "ops.txt"
    ops.write_text("conv:3x32x32:cout=16,k=3\nconv:3x32x32:cout=16,k=3,colour=red\n")
    res = hwlat("profile", "--device", "cpu-ort", "--ops", str(ops), "-o", str(tmp_path / "o"))
    assert_clean_error(res, f"{ops}:2:", "colour")


def test_profile_into_a_file_path_is_a_clean_error(tmp_path):
    f = tmp_path / "afile"
    f.write_text("keep me")
    ops = tmp_path / "ops.txt"
    ops.write_text("conv:3x32x32:cout=16,k=3\n")
    res = hwlat("profile", "--device", "cpu-ort", "--ops", str(ops), "-o", str(f))
    assert_clean_error(res)
    assert f.read_text() == "keep me"


def test_table_diff_fail_if_flags_a_regression(tmp_path):
    from hwlat.latency_tables import LatencyTable, TableMetadata
    from hwlat.ops import conv

    spec = conv((3, 32, 32), 16, 3)
    md = TableMetadata(device={"name": "cpu-ort"}, runtime="onnxruntime", threads=1)
    LatencyTable.from_rows(md, [(spec, {"median_ms": 1.0})]).save(tmp_path / "a.parquet")
    LatencyTable.from_rows(md, [(spec, {"median_ms": 1.2})]).save(tmp_path / "b.parquet")
    res = hwlat("table", "diff", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"), "--fail-if",
                "median_ms:+5%")
    assert res.returncode == 3 and "+20.0 %" in res.stderr
    res = hwlat("table", "diff", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"), "--fail-if",
                "median_ms:+25%")
    assert res.returncode == 0


def test_import_ofa_and_ops_list(tmp_path, shared_data):
    out = tmp_path / "note10.parquet"
    res = hwlat("table", "import-ofa", str(shared_data / "ofa" / "note10_lut_224.yaml"), "-o", str(out))
    assert res.returncode == 0, res.stderr
    res = hwlat("table", "coverage", str(out), "--space", "ofa-mbv3", "--resolution", "224", "--fail-if-missing")
    assert res.returncode == 0, res.stdout
    keys = hwlat("ops", "list", "--space", "ofa-mbv3", "--resolution", "224", "--format", "keys").stdout.split()
    assert len(keys) == 96


def test_profile_model_cli(tmp_path):
    from hwlat.ops import conv, fc, to_onnx

    m = tmp_path / "m.onnx"
    m.write_bytes(to_onnx([conv((3, 32, 32), 16, 3, act="relu"), fc((16, 32, 32), 10)]).SerializeToString())
    res = hwlat("profile-model", str(m), "--device", "cpu-ort", "--quick", "--runs", "10", "--warmup", "2")
    assert res.returncode == 0, res.stderr
    assert "share_pct" in res.stdout and "m.onnx on cpu-ort" in res.stdout
    res = hwlat("profile-model", str(tmp_path / "nope.onnx"))
    assert_clean_error(res, "does not exist")


def test_validate_then_query_with_the_saved_predictor(tmp_path):
    from hwlat.spaces import get_space

    out = tmp_path / "val"
    res = hwlat("validate", "--device", "cpu-ort", "--space", "nb201", "--n", "4", "--calibrate", "2", "-o", str(out),
                "--quick", "--no-progress", "--format", "json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["prediction"]["n"] == 4 and "noise_floor" in report
    assert (out / "table" / "table.parquet").exists()  # no --table: the space was profiled first
    arch = get_space("nb201").example()
    q = hwlat("query", "--space", "nb201", "--predictor", str(out / "predictor.npz"), arch, "--format", "json")
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout)[0]["latency_ms"] > 0
    bad = hwlat("query", "--space", "nb201", "--predictor", str(out / "predictor.npz"), "|conv~0|")
    assert_clean_error(bad, "architecture 1")


def test_adapt_from_a_few_measurements(tmp_path, shared_data):
    import pandas as pd

    ref = tmp_path / "ref"
    # the published latencies ran the benchmark's own forward pass, which computes none edges as zeros
    res = hwlat("profile", "--device", "cpu-ort", "--space", "nb201", "--none-edges", "zero", "-o", str(ref),
                "--quick", "--no-progress")
    assert res.returncode == 0, res.stderr
    help_lat = pd.read_csv(shared_data / "nb201" / "latency_ms.csv").sample(12, random_state=0)
    meas = tmp_path / "m.csv"
    help_lat.rename(columns={"arch_str": "arch", "gold_6240": "latency_ms"})[["arch", "latency_ms"]].to_csv(
        meas, index=False)
    out = tmp_path / "gold.npz"
    res = hwlat("adapt", "--space", "nb201", "--none-edges", "zero", "--reference", str(ref / "table.parquet"),
                "--measurements", str(meas), "-o", str(out), "--format", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["coef"]
    q = hwlat("query", "--space", "nb201", "--predictor", str(out), str(help_lat["arch_str"].iloc[0]),
              "--format", "json")
    assert q.returncode == 0, q.stderr and json.loads(q.stdout)[0]["latency_ms"] > 0
    meas.write_text("architecture,ms\nx,1\n")
    assert_clean_error(hwlat("adapt", "--space", "nb201", "--reference", str(ref / "table.parquet"),
                             "--measurements", str(meas), "-o", str(out)), "arch", "latency_ms")


def test_none_edges_choose_the_nb201_ops():
    absent = hwlat("ops", "list", "--space", "nb201", "--format", "keys")
    zero = hwlat("ops", "list", "--space", "nb201", "--none-edges", "zero", "--format", "keys")
    assert absent.returncode == 0 and zero.returncode == 0
    a, z = set(absent.stdout.split()), set(zero.stdout.split())
    assert a != z and len(a) > 10 and len(z) > 10
    assert_clean_error(hwlat("ops", "list", "--space", "proxyless", "--none-edges", "zero"), "nb201")


def test_kernels_fit_and_onnx_query(tmp_path):
    from hwlat.ops import conv, fc, to_onnx

    tab = tmp_path / "k"
    res = hwlat("profile", "--device", "cpu-ort", "--kernels", "conv,fc,gap", "--samples", "20", "-o", str(tab),
                "--quick", "--no-progress")
    assert res.returncode == 0, res.stderr
    res = hwlat("kernels", "fit", str(tab / "table.parquet"), "-o", str(tmp_path / "k.npz"), "--format", "json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert {"conv", "fc", "gap"} <= {r["kind"] for r in report}
    m = tmp_path / "m.onnx"
    m.write_bytes(to_onnx([conv((3, 40, 40), 24, 3, 2, act="relu"), fc((24, 20, 20), 7)]).SerializeToString())
    # the table lacks this model's exact kernels: the regressor predicts them
    q = hwlat("query", str(m), "--table", str(tab / "table.parquet"), "--regressor", str(tmp_path / "k.npz"),
              "--explain", "--format", "json")
    assert q.returncode == 0, q.stderr
    out = json.loads(q.stdout)[0]
    assert out["latency_ms"] > 0
    assert any(r["source"] == "regressor" for r in out["explain"])
    # --explain groups by kernel kind: each kind once, shares that add up to the whole
    kinds = {r["kind"]: r for r in out["by_kind"]}
    assert {"conv", "fc"} <= set(kinds) and len(kinds) == len(out["by_kind"])
    assert abs(sum(r["share_pct"] for r in out["by_kind"]) - 100) < 1e-6
    assert kinds["conv"]["kernels"] == sum(r["kind"] == "conv" for r in out["explain"])
    assert "regressor" in kinds["conv"]["sources"]
    q = hwlat("query", str(m), "--table", str(tab / "table.parquet"), "--regressor", str(tmp_path / "k.npz"),
              "--explain")
    assert q.returncode == 0, q.stderr
    assert "by kernel kind" in q.stdout and "per kernel" in q.stdout
    # without the regressor the missing kernels are an error that names them
    q = hwlat("query", str(m), "--table", str(tab / "table.parquet"))
    assert_clean_error(q, "conv")


def test_search_writes_a_measured_gallery_and_resumes(tmp_path, shared_data):
    out = tmp_path / "g"
    args = ("search", "--device", "cpu-ort", "--space", "nb201", "--accuracy",
            f"nb201-csv:{shared_data / 'nb201' / 'accuracy.csv'}:cifar10", "--evaluations", "300", "--calibrate", "3",
            "--max-measure", "4", "--quick", "--no-progress", "-o", str(out))
    res = hwlat(*args, "--format", "json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["evaluations"] == 300 and summary["accuracy"].startswith("nb201:cifar10")
    assert summary["calibration"]["n"] == 3 and summary["hypervolume"] > 0
    for name in ("front.csv", "front.json", "budgets.csv", "pareto.png", "index.html", "search.json",
                 "table/table.parquet"):
        assert (out / name).exists(), name
    budgets = summary["budgets"]
    assert len(budgets) == 6 and all(b["measured_ms"] > 0 for b in budgets)
    assert any((out / "models").glob("*.tflite"))
    # the same command again: nothing profiled, searched or measured twice
    checkpoints = [out / "table" / "measurements.jsonl", out / "calibration" / "calibration.jsonl",
                   out / "measurements" / "gallery.jsonl"]
    before = [p.read_text() for p in checkpoints]
    res = hwlat(*args)
    assert res.returncode == 0, res.stderr
    assert "open " in res.stdout and "budget_ms" in res.stdout
    assert [p.read_text() for p in checkpoints] == before


def test_search_bad_input_is_one_message(tmp_path, shared_data):
    table = tmp_path / "t"
    assert hwlat("profile", "--device", "cpu-ort", "--space", "nb201", "--quick", "--no-progress",
                 "-o", str(table)).returncode == 0
    base = ("search", "--device", "cpu-ort", "--space", "nb201", "--table", str(table / "table.parquet"),
            "--no-measure", "--no-progress", "-o", str(tmp_path / "g"))
    acc = f"nb201-csv:{shared_data / 'nb201' / 'accuracy.csv'}"
    assert_clean_error(hwlat(*base, "--accuracy", acc, "--budget", "0.001"), "least latency")
    assert_clean_error(hwlat(*base, "--accuracy", acc, "--strategy", "annealing"), "annealing", code=2)
    assert_clean_error(hwlat(*base, "--accuracy", "nomodule_xyz:fn"), "nomodule_xyz")
    assert_clean_error(hwlat(*base, "--accuracy", "ofa-predictor:/nonexistent/acc_predictor.pth"), "ofa-mbv3")
    assert_clean_error(hwlat("search", "--device", "cpu-ort", "--space", "ofa-mbv3", "-o", str(tmp_path / "o"),
                             "--accuracy", "ofa-predictor:/nonexistent/acc_predictor.pth"), "acc_predictor.pth")
    assert_clean_error(hwlat("search", "--device", "cpu-ort", "--space", "proxyless", "-o", str(tmp_path / "p")),
                       "--accuracy")


def test_search_for_note10_from_its_published_table(tmp_path, shared_data):
    """The OFA user story with no local device: import the phone's published table, search it
    with --no-measure; a device is needed only to measure."""
    table = tmp_path / "note10_224.parquet"
    assert hwlat("table", "import-ofa", str(shared_data / "ofa" / "note10_lut_224.yaml"), "-o",
                 str(table)).returncode == 0
    args = ("search", "--space", "ofa-mbv3", "--resolution", "224", "--table", str(table),
            "--accuracy", f"ofa-predictor:{shared_data / 'ofa' / 'acc_predictor.pth'}", "--budgets", "30", "40",
            "--evaluations", "400", "--no-progress", "--export", "none")
    res = hwlat(*args, "--no-measure", "--format", "json", "-o", str(tmp_path / "g"))
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert "note10" in s["device"] and s["evaluations"] == 400
    assert [b["budget_ms"] for b in s["budgets"]] == [30, 40]
    assert all(0 < b["predicted_ms"] <= b["budget_ms"] for b in s["budgets"])
    assert "note10" in (tmp_path / "g" / "index.html").read_text()
    # measuring needs a device, and the device of the table
    assert_clean_error(hwlat(*args, "-o", str(tmp_path / "h")), "--no-measure", code=2)
    assert_clean_error(hwlat(*args, "--device", "cpu-litert", "-o", str(tmp_path / "i")), "--no-measure")


def test_gradient_search_gallery_on_digits(tmp_path):
    out = tmp_path / "pnas"
    args = ("search", "--device", "cpu-ort", "--space", "proxyless", "--resolution", "64", "--strategy", "gradient",
            "--budget", "50", "--max-batches", "2", "--calibrate", "2", "--quick", "--no-progress",
            "--export", "none", "-o", str(out))
    res = hwlat(*args, "--epochs", "1", "--format", "json")
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert s["strategy"].startswith("gradient") and len(s["searches"]) == 4
    assert "digits" in s["accuracy"]
    for r in s["searches"]:
        assert r["predicted_ms"] > 0 and r["measured_ms"] > 0 and 0 <= r["supernet_accuracy_pct"] <= 100
    assert (out / "index.html").exists() and (out / "gradient.json").exists()
    lines = (out / "gradient.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 4  # the header and one record per budget, each written as it finished
    again = hwlat(*args, "--epochs", "1", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert (out / "gradient.jsonl").read_text().splitlines() == lines  # resumed: no budget trained again
    assert [r["arch"] for r in json.loads(again.stdout)["searches"]] == [r["arch"] for r in s["searches"]]
    other = hwlat(*args, "--epochs", "2")
    # (the calibration on 2 networks may log a warning first)
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert "hwlat: error:" in other.stderr and "another gradient-sweep job" in other.stderr
    assert "'epochs': 2" in other.stderr
    assert_clean_error(hwlat("search", "--device", "cpu-ort", "--space", "proxyless", "--strategy", "gradient",
                             "-o", str(tmp_path / "x")), "budget")


def test_gallery_members_meet_their_budgets(tmp_path, shared_data):
    """What `make demo` shows: a search under a budget, its gallery measured on the device, and
    the measured latencies agree with the predicted ones and stay within the budgets.

    The bounds are a working gallery's on a busy 2-core machine (median |error| 4–15 %, 135 of
    136 members within ±25 %, in 15 runs here while the gallery was being changed); a level read
    off one reference network in a slow spell put a whole gallery 21 % off. How often members are
    within ±10 % is a figure, not a test: benchmarks/bench_gallery.py."""
    out = tmp_path / "g"
    res = hwlat("search", "--device", "cpu-ort", "--space", "nb201", "--budget", "2", "--accuracy",
                f"nb201-csv:{shared_data / 'nb201' / 'accuracy.csv'}:cifar10", "--evaluations", "300",
                "--max-measure", "12", "--no-progress", "-o", str(out), "--format", "json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    front = json.loads((out / "front.json").read_text())
    measured = [m for m in front["front"] if m["measured_ms"] is not None]
    errors = np.abs([m["error_pct"] for m in measured])
    assert len(measured) >= 6, measured
    assert np.median(errors) <= 20 and np.mean(errors <= 25) >= 0.8, measured
    assert "within ±10 %" in summary["agreement"]
    assert front["meta"]["anchors"]["n"] == 10  # measured at the calibration's level
    for b in summary["budgets"]:
        if b["member"] is not None:
            assert b["measured_ms"] <= 1.15 * b["budget_ms"], b
