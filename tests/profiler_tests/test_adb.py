"""Android devices through adb and LiteRT's benchmark_model: the log parser and the adb driver.

The parser is tested on recorded outputs in ``data/benchmark_model/`` (written in the exact format
of the official tool; each file says where the format comes from). There is no Android phone
here, so the driver is tested against a small fake ``adb`` put first on PATH: it implements
``devices``, ``push`` (copies into a temporary "phone" folder) and ``shell`` (runs the command with
``sh``, the phone's paths mapped into that folder). The ``benchmark_model`` it runs is a fake too:
a shell script that checks the pushed model (``--graph`` must exist and be a TFLite flatbuffer)
and prints one of the recorded outputs. What is tested is hwlat's side: the flags, the pushes by
content hash, the one-invocation-per-sample mapping, the parsing and the error messages.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hwlat.devices import DeviceSpec
from hwlat.errors import DeviceError, InputError, MissingDependencyError
from hwlat.ops import conv, to_tflite
from hwlat.ops.ir import build_graph
from hwlat.profiler import Protocol
from hwlat.profiler.adb import (
    AdbDevice,
    AdbLiteRTRuntime,
    RunStats,
    benchmark_flags,
    make_adb_runtime,
    parse_adb_devices,
    parse_benchmark_output,
)
from hwlat.profiler.model import NODE_COLUMNS, ModelProfile, profile_model
from hwlat.testing.runtime import RuntimeContract

DATA = Path(__file__).parent / "data" / "benchmark_model"
SERIAL = "emulator-5554"


def read(name: str) -> str:
    return (DATA / name).read_text()


# -- the parser on recorded outputs --------------------------------------------------------------------

def test_builtin_cpu_kernels_summary_and_run_statistics():
    r = parse_benchmark_output(read("builtin_cpu_op_profiling.txt"))
    assert (r.init_us, r.first_inference_us, r.warmup_avg_us, r.inference_avg_us) == (2314, 20514, 14988.9, 14867.5)
    assert r.inference_ms == pytest.approx(14.8675)
    assert r.warmup == RunStats(37, 20514, 14860, 14687, 20514, 14988.9, 924, 14696, 14821, 15002)
    assert r.runs == RunStats(74, 18449, 14801, 14554, 18449, 14867.5, 429, 14668, 14820, 14984)
    assert r.memory_mb == {"init": 3.05469, "overall": 9.72656}
    assert r.model_size_mb == 1.52417 and r.init_session_ms == 2.314
    assert r.params["Num threads"] == "1" and r.params["Use xnnpack"] == "0"
    assert r.params["Graph"] == "/data/local/tmp/hwlat/9f2c41d07be1a3c8.tflite"
    assert r.profiled_runs.count == 74 and r.profiled_runs.avg_us == 14812.8


def test_builtin_cpu_kernels_op_tables():
    r = parse_benchmark_output(read("builtin_cpu_op_profiling.txt"))
    ops = r.ops
    assert list(ops["node_type"]) == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "CONV_2D", "DEPTHWISE_CONV_2D",
                                      "CONV_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD", "CONV_2D", "MEAN",
                                      "FULLY_CONNECTED", "SOFTMAX"]
    assert list(ops["node_index"]) == list(range(14))
    first = ops.iloc[0]
    assert first["name"] == "[features/stem/conv/Relu6]:0"
    assert (first["first_ms"], first["avg_ms"], first["pct"], first["cdf_pct"]) == (2.808, 2.200, 14.849, 14.849)
    fc = ops[ops["node_type"] == "FULLY_CONNECTED"].iloc[0]
    assert (fc["name"], fc["avg_ms"], fc["cdf_pct"]) == ("[classifier/BiasAdd]:12", 0.519, 99.871)
    assert ops["cdf_pct"].iloc[-1] == 100.0 and ops["pct"].sum() == pytest.approx(100.0, abs=0.01)
    assert ops["start_ms"].isna().all() and not ops["delegated"].any() and (ops["times_called"] == 1).all()
    # the per-type summary agrees with the run order
    types = r.op_types.set_index("node_type")
    assert types.loc["CONV_2D", "count"] == 7 and types.loc["CONV_2D", "avg_ms"] == 10.258
    assert types.loc["CONV_2D", "pct"] == 69.250 and types.loc["SOFTMAX", "cdf_pct"] == 100.0
    counts = ops["node_type"].value_counts()
    assert {t: int(types.loc[t, "count"]) for t in types.index} == counts.to_dict()
    for t in types.index:
        assert types.loc[t, "avg_ms"] == pytest.approx(ops.loc[ops["node_type"] == t, "avg_ms"].sum(), abs=0.003)
    # the top-10 table is the 10 slowest nodes, slowest first
    assert len(r.top_ops) == 10 and r.top_ops["avg_ms"].is_monotonic_decreasing
    assert r.top_ops.iloc[0]["name"] == "[features/block2/expand/Relu6]:3"
    assert list(r.init_ops["node_type"]) == ["AllocateTensors"] and r.init_ops["avg_ms"].iloc[0] == 0.412
    assert r.delegate_ops is None


def test_xnnpack_delegate_kernels_with_start_column():
    r = parse_benchmark_output(read("xnnpack_delegate_tf28.txt"))
    assert (r.init_us, r.first_inference_us, r.warmup_avg_us, r.inference_avg_us) == (7125, 9881, 4818.04, 4762.7)
    assert r.runs.count == 211 and r.runs.std_us == 106 and r.runs.median_us is None
    assert r.memory_mb == {"init": 4.76953, "overall": 12.0703}
    assert r.params["#threads used for CPU inference"] == "4" and r.params["Use xnnpack"] == "1"
    ops = r.ops
    assert list(ops["node_type"]) == ["TfLiteXNNPackDelegate", "LOCAL_RESPONSE_NORMALIZATION", "TfLiteXNNPackDelegate"]
    assert list(ops["name"]) == ["[features/block2/project/BiasAdd]:17", "[features/block2/norm]:6", "[Identity]:18"]
    assert list(ops["node_index"]) == [17, 6, 18]
    assert list(ops["start_ms"]) == [0.0, 2.717, 2.758] and list(ops["avg_ms"]) == [2.715, 0.038, 1.965]
    assert list(ops["delegated"]) == [True, False, True]
    types = r.op_types.set_index("node_type")
    assert types.loc["TfLiteXNNPackDelegate", "count"] == 2 and types.loc["TfLiteXNNPackDelegate", "avg_ms"] == 4.680
    init = r.init_ops.set_index("node_type")
    assert init.loc["ModifyGraphWithDelegate", "mem_kb"] == 1835.008 and not init.loc["ModifyGraphWithDelegate",
                                                                                       "delegated"]
    assert init.loc["AllocateTensors", "times_called"] == 2


def test_xnnpack_operators_of_recent_releases():
    r = parse_benchmark_output(read("xnnpack_per_op_recent.txt"))
    assert r.inference_avg_us == 3647.32 and r.memory_mb["peak"] == 14.8086
    assert (r.runs.p5_us, r.runs.median_us, r.runs.p95_us) == (3603, 3641, 3681)
    ops = r.ops
    assert len(ops) == 15
    assert ops.iloc[0]["node_type"] == "Convolution (NHWC, F32) IGEMM"
    assert ops.iloc[0]["name"] == "Delegate/Convolution (NHWC, F32) IGEMM:0"
    assert ops.iloc[0]["avg_ms"] == 0.562
    assert list(ops.loc[~ops["delegated"], "node_type"]) == ["LOCAL_RESPONSE_NORMALIZATION"]
    types = r.op_types.set_index("node_type")
    assert types.loc["Convolution (NHWC, F32) GEMM", "count"] == 6
    assert types.loc["Fully Connected (NC, F32) GEMM", "avg_ms"] == 0.139
    assert "Global Average Pooling (NWC, F32)" in types.index


@pytest.mark.parametrize("name", ["builtin_cpu_op_profiling.txt", "xnnpack_delegate_tf28.txt",
                                  "xnnpack_per_op_recent.txt"])
def test_columns_separated_by_spaces_parse_the_same(name):
    """Logs copied from a terminal often have their tabs expanded; the tables must read the same."""
    a = parse_benchmark_output(read(name))
    b = parse_benchmark_output(read(name).expandtabs(8))
    pd.testing.assert_frame_equal(a.ops, b.ops)
    pd.testing.assert_frame_equal(a.op_types, b.op_types)
    assert a.inference_avg_us == b.inference_avg_us


def test_timing_only_output_and_all_same_statistics():
    r = parse_benchmark_output(read("timing_only.txt"))
    assert r.warmup == RunStats(1, 412, 412, 412, 412, 412, 0.0, 412, 412, 412)
    assert r.runs.count == 20 and r.runs.avg_us == 232 and r.inference_avg_us == 232
    assert r.ops is None and r.op_types is None and not r.has_op_profile
    assert RunStats.parse("count=10 curr=30(all same)") == RunStats(10, 30, 30, 30, 30, 30, 0.0)
    with pytest.raises(DeviceError, match="--enable_op_profiling=true"):
        parse_benchmark_output(read("timing_only.txt"), require_op_profile=True)


def test_old_release_summary_after_the_tables():
    """TFLite 1.x/2.0 printed 'Average inference timings in us: Warmup: .., Init: .., Inference: ..'
    after the tables, and no [mem KB] of interest (the README's example)."""
    text = "\n".join([
        "count=50 first=79449 curr=81350 min=77385 max=88213 avg=79732 std=1929",
        "Operator-wise Profiling Info for Regular Benchmark Runs:",
        "============================== Run Order ==============================",
        ("\t             [node type]\t  [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]"
         "\t[times called]\t[Name]"),
        ("\t                 CONV_2D\t    0.000\t    4.269\t    4.269\t  0.107%\t  0.107%\t     0.000"
         "\t        0\t[MobilenetV1/MobilenetV1/Conv2d_0/Relu6]"),
        ("\t       DEPTHWISE_CONV_2D\t    4.270\t    2.150\t    2.150\t  0.054%\t  0.161%\t     0.000"
         "\t        0\t[MobilenetV1/MobilenetV1/Conv2d_1_depthwise/Relu6]"),
        "",
        "Number of nodes executed: 2",
        "",
        "Average inference timings in us: Warmup: 83235, Init: 38467, Inference: 79760.9",
    ])
    r = parse_benchmark_output(text)
    assert (r.inference_avg_us, r.warmup_avg_us, r.init_us, r.first_inference_us) == (79760.9, 83235, 38467, None)
    assert r.runs.avg_us == 79732 and r.warmup is None
    assert list(r.ops["node_index"]) == [-1, -1] and list(r.ops["start_ms"]) == [0.0, 4.270]


@pytest.mark.parametrize("name, fragments", [
    ("missing_model.txt", ["Could not open '/data/local/tmp/hwlat/does_not_exist.tflite'", "Failed to mmap model",
                           "run again to push it"]),
    ("unsupported_op.txt", ["Didn't find op for builtin opcode 'CONV_2D' version '6'", "Registration failed",
                            "android_aarch64_benchmark_model"]),
])
def test_failed_runs_quote_the_tool(name, fragments):
    with pytest.raises(DeviceError, match="benchmark_model failed") as err:
        parse_benchmark_output(read(name))
    for f in fragments:
        assert f in str(err.value)


def test_truncated_or_malformed_output_names_what_is_missing():
    text = read("builtin_cpu_op_profiling.txt")
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if "[features/block2/dw/Relu6]:4" in line)
    # cut in the middle of a row of the Run Order table
    with pytest.raises(DeviceError, match=r"not a row of the 'Run Order' table.*truncated"):
        parse_benchmark_output("\n".join(lines[:row] + [lines[row][:40]]))
    # cut at a row boundary: the node count is missing
    with pytest.raises(DeviceError, match="Number of nodes executed.*truncated"):
        parse_benchmark_output("\n".join(lines[:row]))
    # a row lost in the middle: the count disagrees
    with pytest.raises(DeviceError, match="has 13 rows but the tool reports 14 nodes"):
        parse_benchmark_output("\n".join(lines[:row] + lines[row + 1:]))
    # cut before the summary line
    summary = next(i for i, line in enumerate(lines) if "Inference timings in us" in line)
    with pytest.raises(DeviceError, match="no 'Inference timings in us' summary line"):
        parse_benchmark_output("\n".join(lines[:summary]))
    with pytest.raises(DeviceError, match="no 'Inference timings in us' summary line"):
        parse_benchmark_output("")
    with pytest.raises(DeviceError, match="non-numeric timing"):
        parse_benchmark_output("Inference timings in us: Init: 1, First inference: x, Inference (avg): 3")
    at = text.index("Operator-wise Profiling Info")
    broken = text[:at] + text[at:].replace("[node type]\t  [first]", "[kind]\t  [first]", 1)
    with pytest.raises(DeviceError, match="header of the 'Run Order' table"):
        parse_benchmark_output(broken)
    with pytest.raises(InputError):
        parse_benchmark_output(b"bytes")  # type: ignore[arg-type]


def test_adb_devices_listing():
    text = ("* daemon not running; starting now at tcp:5037\n* daemon started successfully\n"
            "List of devices attached\nemulator-5554\tdevice\nR58M123ABC\tunauthorized\n"
            "192.168.1.20:5555\toffline\n0123456789ABCDEF\tno permissions (user in plugdev group; are your udev "
            "rules wrong?); see [http://developer.android.com/tools/device.html]\n\n")
    seen = parse_adb_devices(text)
    assert seen["emulator-5554"] == "device" and seen["R58M123ABC"] == "unauthorized"
    assert seen["192.168.1.20:5555"] == "offline" and seen["0123456789ABCDEF"].startswith("no permissions")
    assert parse_adb_devices("List of devices attached\n\n") == {}


def test_benchmark_flags():
    f = benchmark_flags("/d/m.tflite", threads=4, use_xnnpack=True, warmup_runs=5, num_runs=20,
                        op_profiling=True, fp16=True)
    assert f == ["--graph=/d/m.tflite", "--num_threads=4", "--use_xnnpack=true", "--xnnpack_force_fp16=true",
                 "--warmup_runs=5", "--num_runs=20", "--warmup_min_secs=0", "--min_secs=0",
                 "--enable_op_profiling=true"]
    f = benchmark_flags("/d/m.tflite", threads=0, use_xnnpack=False, min_secs=None, warmup_min_secs=None,
                        max_secs=30, verbose=True, extra=["--max_profiling_buffer_entries=4096"])
    assert "--num_threads" not in " ".join(f) and "--use_xnnpack=false" in f and "--max_secs=30" in f
    assert "--verbose=true" in f and f[-1] == "--max_profiling_buffer_entries=4096" and "--min_secs=0" not in f
    for bad in ({"num_runs": 0}, {"threads": -1}, {"min_secs": -1.0}, {"extra": ["num_runs=3"]}):
        with pytest.raises(InputError):
            benchmark_flags("/d/m.tflite", **bad)


# -- the driver, against a fake adb ----------------------------------------------------------------------

FAKE_ADB = r'''#!{python}
"""A stand-in for adb: devices, push and shell on a folder that plays the phone."""
import json, os, shutil, subprocess, sys

root = os.environ["FAKE_ADB_ROOT"]
args = sys.argv[1:]
with open(os.environ["FAKE_ADB_LOG"], "a") as fh:
    fh.write(json.dumps(args) + "\n")
devices = dict(d.split("=", 1) for d in os.environ.get("FAKE_ADB_DEVICES", "").split(",") if d)
serial = None
if args[:1] == ["-s"]:
    serial, args = args[1], args[2:]
if args[:1] == ["devices"]:
    print("List of devices attached")
    for s, state in devices.items():
        print(f"{s}\t{state}")
    print()
    sys.exit(0)
if serial not in devices:
    print(f"adb: device '{serial}' not found", file=sys.stderr)
    sys.exit(1)
if devices[serial] != "device":
    print(f"adb: device {devices[serial]}", file=sys.stderr)
    sys.exit(1)
phone = lambda p: root + p
if args[0] == "push":
    src, dst = args[1], args[2]
    if not os.path.isdir(os.path.dirname(phone(dst))):
        print(f"adb: error: failed to copy '{src}' to '{dst}': remote No such file or directory", file=sys.stderr)
        sys.exit(1)
    shutil.copyfile(src, phone(dst))
    print(f"{src}: 1 file pushed, 0 skipped. 1.2 MB/s ({os.path.getsize(src)} bytes in 0.001s)")
    sys.exit(0)
if args[0] == "shell":
    cmd = " ".join(args[1:]).replace("/data/local/tmp", phone("/data/local/tmp"))
    env = dict(os.environ, PATH=phone("/system/bin") + os.pathsep + os.environ["PATH"])
    sys.exit(subprocess.run(["sh", "-c", cmd], env=env).returncode)
print(f"adb: unknown command {args[0]}", file=sys.stderr)
sys.exit(1)
'''

FAKE_BENCHMARK = r'''#!/bin/sh
# A stand-in for benchmark_model: checks --graph and prints a recorded log.
graph=""
profile=0
for a in "$@"; do
  case "$a" in
    --graph=*) graph="${a#--graph=}" ;;
    --enable_op_profiling=true) profile=1 ;;
    --num_runs=*) runs="${a#--num_runs=}" ;;
  esac
done
echo "$*" >> "$FAKE_BM_ARGS"
if [ ! -f "$graph" ]; then cat "$FAKE_BM_DATA/missing_model.txt"; exit 1; fi
magic=$(dd if="$graph" bs=1 skip=4 count=4 2>/dev/null)
if [ "$magic" != "TFL3" ]; then cat "$FAKE_BM_DATA/unsupported_op.txt"; exit 1; fi
# the timed-run count of the recorded log becomes the requested one, as the real tool's would
if [ "$profile" = 1 ]; then cat "$FAKE_BM_PROFILE"
else sed "s/count=20 first=/count=$runs first=/" "$FAKE_BM_TIMING"; fi
'''

FAKE_GETPROP = r'''#!/bin/sh
case "$1" in
  ro.product.model) echo "Pixel 7" ;;
  ro.product.cpu.abi) echo "arm64-v8a" ;;
  ro.build.version.release) echo "14" ;;
  *) echo "" ;;
esac
'''


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class FakePhone:
    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = tmp / "phone"
        (self.root / "data" / "local" / "tmp").mkdir(parents=True)
        (self.root / "system" / "bin").mkdir(parents=True)
        _executable(self.root / "system" / "bin" / "getprop", FAKE_GETPROP)
        bindir = tmp / "bin"
        bindir.mkdir()
        self.adb = _executable(bindir / "adb", FAKE_ADB.replace("{python}", sys.executable))
        self.binary = _executable(tmp / "android_aarch64_benchmark_model", FAKE_BENCHMARK)
        self.adb_log = tmp / "adb.log"
        self.bm_args = tmp / "bm_args.log"
        for p in (self.adb_log, self.bm_args):
            p.write_text("")
        monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_ADB_ROOT", str(self.root))
        monkeypatch.setenv("FAKE_ADB_LOG", str(self.adb_log))
        monkeypatch.setenv("FAKE_ADB_DEVICES", f"{SERIAL}=device,R58M123ABC=unauthorized,10.0.0.7:5555=offline")
        monkeypatch.setenv("FAKE_BM_ARGS", str(self.bm_args))
        monkeypatch.setenv("FAKE_BM_DATA", str(DATA))
        monkeypatch.setenv("FAKE_BM_TIMING", str(DATA / "timing_only.txt"))
        monkeypatch.setenv("FAKE_BM_PROFILE", str(DATA / "builtin_cpu_op_profiling.txt"))

    def adb_calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.adb_log.read_text().splitlines()]

    def pushes(self) -> list[list[str]]:
        return [c for c in self.adb_calls() if "push" in c]

    def bm_calls(self) -> list[list[str]]:
        return [line.split() for line in self.bm_args.read_text().splitlines()]

    def spec(self, **options) -> DeviceSpec:
        opts = {"benchmark_model": str(self.binary), **options}
        return DeviceSpec(name="pixel7-litert-2t", runtime="litert", provider="xnnpack", threads=2,
                          location=f"adb://{SERIAL}", options=opts)


@pytest.fixture
def phone(tmp_path, monkeypatch):
    return FakePhone(tmp_path, monkeypatch)


def test_missing_adb_says_where_to_get_it(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    binary = _executable(tmp_path / "benchmark_model", "#!/bin/sh\n")
    with pytest.raises(MissingDependencyError, match="adb was not found on PATH.*platform-tools"):
        AdbDevice(SERIAL, benchmark_binary=binary)
    spec = DeviceSpec(name="p", runtime="litert", location=f"adb://{SERIAL}", options={"benchmark_model": str(binary)})
    with pytest.raises(MissingDependencyError, match="platform-tools"):
        make_adb_runtime(spec)
    with pytest.raises(InputError, match="does not exist or is not executable.*platform-tools"):
        AdbDevice(SERIAL, adb=tmp_path / "no-adb", benchmark_binary=binary)


def test_missing_benchmark_binary_says_where_to_get_it(phone, tmp_path):
    with pytest.raises(InputError, match="does not exist.*android_aarch64_benchmark_model.*ai.google.dev"):
        AdbDevice(SERIAL, benchmark_binary=tmp_path / "nowhere" / "benchmark_model")
    with pytest.raises(MissingDependencyError, match="no benchmark_model binary.*android_aarch64_benchmark_model"):
        make_adb_runtime(DeviceSpec(name="p", runtime="litert", location=f"adb://{SERIAL}"))


def test_unknown_unauthorised_and_offline_serials(phone):
    with pytest.raises(DeviceError, match=r"ZX1G22 is not connected \(adb sees: emulator-5554 \(device\), "
                                          r"R58M123ABC \(unauthorized\).*adb connect"):
        AdbDevice("ZX1G22", benchmark_binary=phone.binary).check_connected()
    with pytest.raises(DeviceError, match="R58M123ABC is unauthorized.*Allow USB debugging"):
        make_adb_runtime(DeviceSpec(name="p", runtime="litert", location="adb://R58M123ABC",
                                    options={"benchmark_model": str(phone.binary)}))
    with pytest.raises(DeviceError, match="offline.*kill-server"):
        AdbDevice("10.0.0.7:5555", benchmark_binary=phone.binary).check_connected()
    AdbDevice(SERIAL, benchmark_binary=phone.binary).check_connected()


def test_spec_checks(phone):
    with pytest.raises(InputError, match="runtime: litert"):
        make_adb_runtime(DeviceSpec(name="p", runtime="onnxruntime", location=f"adb://{SERIAL}"))
    with pytest.raises(InputError, match="not at adb://SERIAL"):
        make_adb_runtime(DeviceSpec(name="p", runtime="litert"))
    with pytest.raises(InputError, match="unknown option.*graph_optimization_level.*benchmark_model"):
        make_adb_runtime(phone.spec(graph_optimization_level="all"))
    with pytest.raises(InputError, match="warmup_runs"):
        make_adb_runtime(phone.spec(warmup_runs=-1))
    with pytest.raises(InputError, match="taskset"):
        make_adb_runtime(phone.spec(taskset="big cores"))
    assert phone.adb_calls() == []  # nothing reached the phone


def test_runtime_pushes_by_content_and_times_one_invocation_per_sample(phone, caplog):
    rt = make_adb_runtime(phone.spec(warmup_runs=3))
    assert isinstance(rt, AdbLiteRTRuntime) and rt.name == "litert" and rt.is_available()
    # the binary went to the phone, executable
    remote_bin = phone.root / "data/local/tmp/hwlat/benchmark_model"
    assert remote_bin.read_bytes() == phone.binary.read_bytes() and os.access(remote_bin, os.X_OK)
    spec = conv((16, 28, 28), 32, 3, 1, act="relu")
    graph = build_graph(spec)
    prepared = rt.prepare(graph)
    pushed = phone.root / prepared.remote.lstrip("/")
    assert pushed.read_bytes() == to_tflite(spec) and prepared.remote.startswith("/data/local/tmp/hwlat/")
    assert len(phone.pushes()) == 2  # binary + model
    again = rt.prepare(build_graph(spec))
    assert again.remote == prepared.remote and len(phone.pushes()) == 2  # same content: not pushed again
    other = rt.prepare(build_graph(conv((16, 28, 28), 32, 5, 1)))
    assert other.remote != prepared.remote and len(phone.pushes()) == 3

    times = prepared.time_samples(3, 4)
    assert times.shape == (3,) and np.allclose(times, 232e-6)  # timing_only.txt: Inference (avg): 232
    calls = phone.bm_calls()
    assert len(calls) == 3  # one benchmark_model process per sample
    # (the fake phone maps /data/local/tmp into its folder)
    assert calls[0] == [f"--graph={phone.root}{prepared.remote}", "--num_threads=2", "--use_xnnpack=true",
                        "--warmup_runs=3", "--num_runs=4", "--warmup_min_secs=0", "--min_secs=0"]
    shells = [c for c in phone.adb_calls() if "shell" in c and "--num_runs" in c[-1]]
    assert len(shells) == 1 and shells[0][:3] == ["-s", SERIAL, "shell"]  # the n invocations in one adb shell
    assert np.allclose(prepared.time_calls(2), 232e-6) and phone.bm_calls()[-1][4] == "--num_runs=1"
    assert len(prepared.last_results) == 2 and prepared.last_results[0].runs.count == 1
    assert not [r for r in caplog.records if r.levelname == "WARNING"]

    with pytest.raises(DeviceError, match="single call cannot be made"):
        prepared.run()
    with pytest.raises(DeviceError, match="does not return model outputs"):
        prepared.outputs()
    info = rt.info()
    assert info["runtime"] == "litert" and info["adb_serial"] == SERIAL and info["threads"] == 2
    assert info["android"] == {"model": "Pixel 7", "abi": "arm64-v8a", "android": "14"}
    assert len(info["benchmark_binary_sha256"]) == 64
    prepared.close()
    with pytest.raises(InputError, match="closed"):
        prepared.time_samples(1)


def test_profiling_an_op_with_hwlat_protocol(phone):
    """The adb runtime goes through hwlat's own warm-up and rounds like a local one."""
    from hwlat.profiler.profile import measure_specs

    rt = make_adb_runtime(phone.spec())
    spec = conv((8, 16, 16), 8, 3, 1)
    protocol = Protocol.quick().replace(round_time_s=0.0005, sample_time_s=0.0, rounds=2, warmup_max_s=0.5)
    (m,) = measure_specs(rt, [spec], protocol)
    assert m.label == spec.key and m.median_ms == pytest.approx(0.232) and m.n >= 2 * protocol.min_runs
    assert not m.unstable and m.warmup_runs >= protocol.warmup_min_runs


def test_failures_on_the_phone_are_reported(phone):
    rt = make_adb_runtime(phone.spec())
    dev = rt.device
    with pytest.raises(DeviceError, match=r"Could not open.*Failed to mmap model.*exit 1"):
        dev.run_benchmark(rt.flags("/data/local/tmp/hwlat/gone.tflite", num_runs=1))
    bad = dev.push_model(b"this is not a flatbuffer")
    with pytest.raises(DeviceError, match="Didn't find op for builtin opcode.*android_aarch64_benchmark_model"):
        dev.run_benchmark(rt.flags(bad, num_runs=1), repeat=3)
    assert len([c for c in phone.bm_calls() if bad in c[0]]) == 1  # the loop stopped at the first failure
    # a binary that cannot be executed on the phone
    (phone.root / "data/local/tmp/hwlat/benchmark_model").chmod(0o644)
    good = dev.push_model(to_tflite(conv((4, 8, 8), 4, 1)))
    with pytest.raises(DeviceError, match="status 126.*cannot be executed on the phone"):
        dev.run_benchmark(rt.flags(good, num_runs=1))


def test_taskset_and_remote_dir(phone):
    rt = make_adb_runtime(phone.spec(taskset="1", remote_dir="/data/local/tmp/elsewhere"))
    prepared = rt.prepare(build_graph(conv((4, 8, 8), 4, 1)))
    assert prepared.remote.startswith("/data/local/tmp/elsewhere/")
    assert np.allclose(prepared.time_samples(1, 2), 232e-6)
    shell = [c for c in phone.adb_calls() if "shell" in c and "--num_runs" in c[-1]][-1]
    assert "taskset 1 /data/local/tmp/elsewhere/benchmark_model" in shell[-1]
    rt.device.cleanup()
    assert not (phone.root / "data/local/tmp/elsewhere").exists()


def test_profile_model_on_an_adb_device(phone, tmp_path):
    path = tmp_path / "net.tflite"
    path.write_bytes(to_tflite([conv((3, 32, 32), 16, 3, 2, act="relu"), conv((16, 16, 16), 16, 1)]))
    rt = make_adb_runtime(phone.spec())
    prof = rt.profile_model(path, samples=4, trace_runs=20, warmup_runs=2, device="pixel")
    assert isinstance(prof, ModelProfile) and prof.device == "pixel"  # the one type every runtime returns
    assert prof.latency.n == 4 and prof.latency.median_ms == pytest.approx(0.232) and prof.latency.number == 20
    nodes = prof.nodes  # from the op-profiling run (builtin_cpu_op_profiling.txt)
    assert list(nodes.columns[:len(NODE_COLUMNS)]) == NODE_COLUMNS and "delegated" in nodes
    assert len(nodes) == 14 and nodes["latency_ms"].is_monotonic_decreasing  # benchmark_model's per-node means
    assert nodes.iloc[0]["node"] == "[features/block2/expand/Relu6]:3" and nodes.iloc[0]["op_type"] == "CONV_2D"
    assert nodes["share_pct"].sum() == pytest.approx(100.0) and nodes["runs"].eq(20).all()
    by = prof.by_op_type().set_index("op_type")
    assert by.loc["CONV_2D", "count"] == 7 and by.loc["CONV_2D", "latency_ms"] == pytest.approx(10.259, abs=1e-3)
    assert prof.details["profiled_inference_ms"] == pytest.approx(14.8675)
    d = prof.to_dict()
    assert d["runs_per_sample"] == 20 and len(d["nodes"]) == 14 and math.isclose(d["init_ms"], 2.314)
    calls = phone.bm_calls()
    assert len(calls) == 5 and sum("--enable_op_profiling=true" in c for c in calls) == 1
    assert all("--num_runs=20" in c and "--warmup_runs=2" in c for c in calls)
    assert len([c for c in phone.pushes() if c[-1].endswith(".tflite")]) == 1
    with pytest.raises(InputError, match="does not exist"):
        rt.profile_model(tmp_path / "missing.tflite")
    with pytest.raises(InputError, match="runs .tflite models"):
        rt.profile_model(tmp_path / "m.onnx")
    # the same through profile_model with the device: the adb transport opens the runtime
    assert profile_model(path, phone.spec(), trace_runs=20, warmup_runs=2).device == "pixel7-litert-2t"


def test_cli_profile_model_on_an_adb_device(phone, tmp_path, capsys):
    import yaml

    from hwlat.cli import main

    path = tmp_path / "net.tflite"
    path.write_bytes(to_tflite([conv((3, 32, 32), 16, 3, 2, act="relu")]))
    spec = tmp_path / "phone.yaml"
    spec.write_text(yaml.safe_dump(phone.spec().to_dict()))
    assert main(["profile-model", str(path), "--device", str(spec), "--runs", "20", "--warmup", "2"]) == 0
    out = capsys.readouterr().out
    assert "net.tflite on" in out and "CONV_2D" in out and "latency_ms" in out
    assert main(["profile-model", str(tmp_path / "m.onnx"), "--device", str(spec)]) == 1
    assert "runs .tflite models" in capsys.readouterr().err


# -- the runtime contract, on the fake phone -------------------------------------------------------------

class TestAdbLiteRT(RuntimeContract):
    """The adb runtime passes the conformance suite every runtime passes; benchmark_model returns
    no outputs and the fake phone replays a recorded log, so those two checks are adapted."""

    returns_outputs = False
    times_scale_with_work = False

    @pytest.fixture(autouse=True)
    def _phone(self, tmp_path, monkeypatch):
        self.phone = FakePhone(tmp_path / "fake", monkeypatch)

    def make(self):
        return make_adb_runtime(self.phone.spec())
