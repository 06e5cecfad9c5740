"""profile_ops for real on ONNX Runtime: tables, resume after interruption, provenance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hwlat.errors import InputError, UnsupportedOpError
from hwlat.ops import add, conv, fc, mbconv, pool
from hwlat.profiler import Protocol
from hwlat.profiler.profile import CHECKPOINT_NAME, TABLE_NAME, measure_specs, profile_ops
from hwlat.profiler.runtimes.base import Prepared, Runtime

QUICK = Protocol.quick()
SPECS = [conv((3, 32, 32), 16, 3), conv((16, 32, 32), 16, 3, pre_act="relu"), pool((16, 32, 32), 3),
         add((16, 32, 32), 2), fc((64, 8, 8), 10)]


def test_profile_writes_a_table_with_provenance(tmp_path):
    from hwlat.latency_tables import LatencyTable

    res = profile_ops(SPECS + SPECS[:2], "cpu-ort", protocol=QUICK, out_dir=tmp_path, progress=False)
    assert res.n_ops == len(SPECS)  # duplicates measured once
    assert res.n_measured == len(SPECS) and res.n_resumed == 0
    assert (tmp_path / TABLE_NAME).exists() and (tmp_path / "table.csv").exists()
    t = LatencyTable.load(tmp_path / TABLE_NAME)
    assert len(t) == len(SPECS)
    for s in SPECS:
        assert 0 < t.lookup(s) < 50  # milliseconds; these ops are tiny
    # the 16-channel 3x3 conv does ~5x the work of the 3-channel one
    assert t.lookup(SPECS[1]) > t.lookup(SPECS[0])
    md = t.metadata
    assert md.runtime == "onnxruntime" and md.runtime_version
    assert md.device["name"] == "cpu-ort" and md.threads == 1
    assert md.protocol["rounds"] == QUICK.rounds
    assert md.host["cpu_cores_logical"] >= 1
    assert md.overhead_ms is not None and 0 < md.overhead_ms < t.lookup(SPECS[1])
    csv = LatencyTable.load(tmp_path / "table.csv")
    assert csv.keys() == t.keys()


def test_rerun_resumes_without_measuring_again(tmp_path):
    profile_ops(SPECS[:3], "cpu-ort", protocol=QUICK, out_dir=tmp_path, progress=False)
    lines_before = (tmp_path / CHECKPOINT_NAME).read_text().splitlines()
    res = profile_ops(SPECS, "cpu-ort", protocol=QUICK, out_dir=tmp_path, progress=False)
    assert res.n_resumed == 3 and res.n_measured == len(SPECS) - 3
    lines = (tmp_path / CHECKPOINT_NAME).read_text().splitlines()
    before = {json.loads(ln).get("key") for ln in lines_before[1:]}
    added = [json.loads(ln).get("key") for ln in lines[len(lines_before):]]
    assert not before & set(added)  # nothing measured in the first run is measured again
    assert {s.key for s in SPECS[3:]} <= set(added)
    assert lines[: len(lines_before)] == lines_before
    again = profile_ops(SPECS, "cpu-ort", protocol=QUICK, out_dir=tmp_path, progress=False)
    assert again.n_measured == 0 and len(again.table) == len(SPECS)


def test_resume_refuses_another_device_or_protocol(tmp_path):
    profile_ops(SPECS[:1], "cpu-ort", protocol=QUICK, out_dir=tmp_path, progress=False)
    with pytest.raises(InputError, match="another protocol"):
        profile_ops(SPECS[:1], "cpu-ort", protocol=QUICK.replace(rounds=4), out_dir=tmp_path, progress=False)
    with pytest.raises(InputError, match="device 'cpu-ort'"):
        profile_ops(SPECS[:1], "cpu-litert", protocol=QUICK, out_dir=tmp_path, progress=False)


def test_torn_last_line_is_ignored(tmp_path):
    profile_ops(SPECS[:2], "cpu-ort", protocol=QUICK, out_dir=tmp_path, progress=False)
    cp = tmp_path / CHECKPOINT_NAME
    with cp.open("a") as fh:
        fh.write('{"key": "conv:3x32x32:act=none,bn=1,cou')  # what kill -9 leaves mid-write
    res = profile_ops(SPECS, "cpu-ort", protocol=QUICK, out_dir=tmp_path, progress=False)
    assert res.n_resumed == 2 and len(res.table) == len(SPECS)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupt_then_resume(tmp_path, sig):
    """Interrupt a real `hwlat profile` run in the middle; the rerun finishes the job."""
    ops = tmp_path / "ops.txt"
    specs = [mbconv((16, 32, 32), 16, k, 1, expand=e) for k in (3, 5, 7) for e in (3, 4, 6)]
    specs += [conv((16, 32, 32), c, 3) for c in (8, 16, 24, 32, 40, 48)]
    ops.write_text("\n".join(s.key for s in specs) + "\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "hwlat", "profile", "--device", "cpu-ort", "--ops", str(ops), "-o", str(out),
           "--no-progress", "--chunk-size", "2", "--rounds", "3", "--round-time", "0.02", "--no-canary"]
    # a runner started in the background ignores SIGINT, and children inherit that: restore the
    # default disposition so that Ctrl-C reaches hwlat as it does in a terminal
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    cp = out / CHECKPOINT_NAME

    def op_lines() -> list[str]:
        lines = cp.read_text().splitlines()[1:] if cp.exists() else []
        return [ln for ln in lines if ln.strip() and '"key":"__' not in ln]

    deadline = time.time() + 120
    while time.time() < deadline:
        if len(op_lines()) >= 3:
            break
        if proc.poll() is not None:
            pytest.fail(f"profile ended before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    proc.send_signal(sig)
    rc = proc.wait(timeout=60)
    if sig == signal.SIGINT:
        err = proc.stderr.read().decode()
        assert rc == 130 and "run the same command again to resume" in err and "Traceback" not in err
    assert not (out / TABLE_NAME).exists()
    done_before = len(op_lines())
    assert 0 < done_before < len(specs)
    rerun = subprocess.run(cmd + ["--format", "json"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)["summary"]
    assert summary["resumed"] >= done_before
    assert summary["resumed"] + summary["measured"] == len(specs)
    keys = [json.loads(ln)["key"] for ln in op_lines()]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == len(specs)
    from hwlat.latency_tables import LatencyTable

    assert len(LatencyTable.load(out / TABLE_NAME)) == len(specs)


class _NoisyOnce(Prepared):
    """Synthetic times: the first rounds scatter widely, later ones are steady."""

    def __init__(self):
        self.inputs = []
        self.calls = 0
        self.rng = np.random.default_rng(0)

    def run(self):  # pragma: no cover
        pass

    def outputs(self):  # pragma: no cover
        return []

    def time_calls(self, n):
        self.calls += n
        if self.calls < 300:
            return self.rng.uniform(0.5e-3, 3e-3, n)
        return np.full(n, 1e-3) + self.rng.normal(0, 1e-6, n)


class _FakeRuntime(Runtime):
    name = "fake"
    model_format = "onnx"
    providers = ("cpu",)

    @classmethod
    def is_available(cls):
        return True

    @classmethod
    def version(cls):
        return "0"

    def prepare(self, graph, *, seed=0):
        return _NoisyOnce()


def test_noisy_measurements_are_remeasured():
    proto = Protocol(rounds=3, round_time_s=0.01, min_runs=20, max_runs=20, warmup_min_runs=5,
                     warmup_max_runs=10, remeasure=2)
    (m,) = measure_specs(_FakeRuntime(), [SPECS[0]], proto)
    assert m.remeasured >= 1
    assert len(m.rounds) > proto.rounds


class _Refuses(_FakeRuntime):
    def prepare(self, graph, *, seed=0):
        raise UnsupportedOpError("no kernel for HardSwish")


def test_op_a_runtime_cannot_run_is_named():
    with pytest.raises(UnsupportedOpError, match=r"cannot run conv:3x32x32.*HardSwish"):
        measure_specs(_Refuses(), [SPECS[0]], QUICK)


def test_empty_op_list_is_an_error(tmp_path):
    with pytest.raises(InputError, match="empty"):
        profile_ops([], "cpu-ort", protocol=QUICK, out_dir=tmp_path, progress=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_is_an_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(InputError, match="not writable|cannot"):
        profile_ops(SPECS[:1], "cpu-ort", protocol=QUICK, out_dir=ro / "x", progress=False)


def test_ops_are_also_timed_in_context(tmp_path):
    """An op whose output has its input's shape is timed as a chain of copies too: inside a
    network it pays neither the per-call overhead nor, on ONNX Runtime, the layout conversions."""
    specs = [conv((16, 32, 32), 16, 1), pool((16, 32, 32), 3, 1, pad=1), add((16, 32, 32), 2), pool((16, 32, 32), 2, 2)]
    res = profile_ops(specs, "cpu-ort", protocol=QUICK, out_dir=tmp_path, progress=False)
    t = res.table
    ctx = t.lookup_many(specs, "context_ms")
    lat = t.lookup_many(specs)
    assert np.isnan(ctx[3])  # a stride-2 pool changes the shape: no chain
    assert np.all(ctx[:3] > 0) and np.all(ctx[:3] < lat[:3])
    assert t.metadata.protocol["context_copies"] == QUICK.context_copies
    again = profile_ops(specs, "cpu-ort", protocol=QUICK, out_dir=tmp_path, progress=False)
    assert again.n_measured == 0
    np.testing.assert_array_equal(again.table.lookup_many(specs, "context_ms"), ctx)


def test_build_chain():
    from hwlat.ops.ir import build_chain, chainable

    g = build_chain(add((8, 4, 4), 3), 4)
    assert len(g.nodes) == 4 * 2 and len(g.inputs) == 1 and g.output_shapes() == [(8, 4, 4)]  # n=3: two adds each
    assert chainable(conv((8, 4, 4), 8, 3)) and not chainable(conv((8, 4, 4), 16, 3))
    with pytest.raises(InputError, match="cannot form a chain"):
        build_chain(pool((8, 4, 4), 2, 2), 2)
