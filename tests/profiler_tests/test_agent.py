"""The hwlat agent and the remote runtime, over a real local subprocess (no network)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import hwlat
from hwlat.devices import DeviceSpec, detect
from hwlat.errors import DeviceError, InputError, UnsupportedOpError
from hwlat.ops import build_graph, conv, dwconv, fc, pool, to_onnx, to_tflite
from hwlat.profiler import Protocol
from hwlat.profiler.agent import PROTOCOL_VERSION, decode_array, encode_array, main
from hwlat.profiler.connection import subprocess_command
from hwlat.profiler.profile import CHECKPOINT_NAME, TABLE_NAME, profile_ops
from hwlat.profiler.remote import RemoteRuntime
from hwlat.profiler.transports import runtime_for_device
from hwlat.testing.runtime import RuntimeContract

REPO = Path(hwlat.__file__).resolve().parents[1]
QUICK = Protocol.quick()


def agent_env(cache: Path) -> dict[str, str]:
    """The environment of an agent started by a test: this checkout importable, a private cache."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["HWLAT_AGENT_CACHE"] = str(cache)
    return env


def has_litert() -> bool:
    from hwlat._optional import has_module

    return has_module("ai_edge_litert")


# -- the runtime contract, through an agent ---------------------------------------------------------

_shared: dict[str, RemoteRuntime] = {}


@pytest.fixture(scope="module", autouse=True)
def _close_shared_agents():
    yield
    for rt in _shared.values():
        rt.close()
    _shared.clear()


def _shared_runtime(name: str, tmp: Path) -> RemoteRuntime:
    # one agent per runtime for the whole module: starting an interpreter per test would dominate
    if name not in _shared or not _shared[name].is_available():
        _shared[name] = RemoteRuntime(name, env=agent_env(tmp / "cache"), cwd=REPO)
    return _shared[name]


class TestRemoteOnnxRuntime(RuntimeContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path_factory):
        self.tmp = tmp_path_factory.getbasetemp()

    def make(self):
        return _shared_runtime("onnxruntime", self.tmp)


@pytest.mark.skipif(not has_litert(), reason="ai-edge-litert is not installed")
class TestRemoteLiteRT(RuntimeContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path_factory):
        self.tmp = tmp_path_factory.getbasetemp()

    def make(self):
        return _shared_runtime("litert", self.tmp)


# -- the wire protocol, spoken by hand --------------------------------------------------------------

class RawAgent:
    """An agent process and a test speaking JSON lines to it."""

    def __init__(self, *args: str, cache: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "hwlat.profiler.agent", "--stdio", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=agent_env(cache), cwd=REPO)

    def send_raw(self, line: bytes) -> dict:
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        assert reply, f"the agent died: {self.proc.stderr.read().decode()}"
        return json.loads(reply)

    def ask(self, **msg) -> dict:
        return self.send_raw(json.dumps(msg).encode())

    def close(self) -> int:
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc


@pytest.fixture
def raw(tmp_path):
    agent = RawAgent("--max-message-mb", "0.05", cache=tmp_path / "cache")
    yield agent
    if agent.proc.poll() is None:
        agent.proc.kill()
        agent.proc.wait()


def _hello(raw: RawAgent) -> dict:
    return raw.ask(id=1, op="hello", protocol_version=PROTOCOL_VERSION, hwlat_version=hwlat.__version__)


def test_handshake_names_versions_runtimes_and_the_host(raw):
    r = _hello(raw)
    assert r["ok"] and r["id"] == 1
    assert r["protocol_version"] == PROTOCOL_VERSION and r["hwlat_version"] == hwlat.__version__
    assert r["runtimes"]["onnxruntime"]["available"] and r["runtimes"]["onnxruntime"]["version"]
    assert r["runtimes"]["litert"]["available"] == has_litert()
    assert r["fingerprint"]["host_id"] == detect(gpus=False)["host_id"]
    assert r["pid"] == raw.proc.pid and r["max_message_bytes"] == int(0.05 * 2**20)
    assert raw.close() == 0  # end of input ends the agent


def test_bad_messages_get_error_replies_and_the_agent_lives_on(raw):
    cases = [
        (b'{"id": 3, "op": "hel', None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b'{"id": 4, "op": "dance"}', 4, "unknown request 'dance'"),
        (b'{"id": 5, "op": "time", "model": 99, "n": 3}', 5, "no prepared model 99"),
        (b'{"id": 6, "op": "time", "model": "x", "n": 3}', 6, "wrong type"),
        (b'{"id": 7, "op": "runtime", "name": "onnxruntime"}', 7, "lacks the field 'threads'"),
        (b"\xff\xfe not utf-8", None, "not valid JSON"),
        (b"x" * 200_000, None, "rejected: the agent accepts at most 0.05 MB"),
    ]
    for line, rid, match in cases:
        r = raw.send_raw(line)
        assert not r["ok"] and r["id"] == rid and r["error"]["type"] == "ProtocolError"
        assert match in r["error"]["message"], r
        assert _hello(raw)["ok"]  # still serving, and in step
    assert raw.close() == 0


def test_models_are_addressed_by_content_hash(raw, tmp_path):
    import base64
    import hashlib

    assert _hello(raw)["ok"]
    rt = raw.ask(id=2, op="runtime", name="onnxruntime", threads=1, provider="cpu", precision="fp32", options={})
    assert rt["ok"] and rt["info"]["runtime"] == "onnxruntime"
    model = to_onnx(conv((4, 8, 8), 4, 3)).SerializeToString()
    sha = hashlib.sha256(model).hexdigest()
    prep = {"op": "prepare", "runtime": rt["runtime"], "sha256": sha, "seed": 0}
    missing = raw.ask(id=3, **prep)
    assert missing["error"]["type"] == "ModelMissing"
    data = base64.b64encode(model).decode()
    bad = raw.ask(id=4, op="put_model", sha256="0" * 64, format="onnx", data=data)
    assert bad["error"]["type"] == "InputError" and "damaged" in bad["error"]["message"]
    assert raw.ask(id=5, op="put_model", sha256=sha, format="onnx", data=data)["bytes"] == len(model)
    assert (tmp_path / "cache" / f"{sha}.onnx").read_bytes() == model
    ok = raw.ask(id=6, **prep, return_inputs=True)
    assert ok["ok"] and decode_array(ok["inputs"][0]).shape == (1, 4, 8, 8)
    t = raw.ask(id=7, op="time", model=ok["model"], n=4, number=2)
    assert len(t["times_s"]) == 4 and all(x > 0 for x in t["times_s"])
    # a file the runtime cannot load comes back as an error message
    junk = b"not an onnx model"
    jsha = hashlib.sha256(junk).hexdigest()
    raw.ask(id=8, op="put_model", sha256=jsha, format="onnx", data=base64.b64encode(junk).decode())
    r = raw.ask(id=9, op="prepare", runtime=rt["runtime"], sha256=jsha, seed=0)
    assert r["error"]["type"] == "UnsupportedOpError" and "cannot load" in r["error"]["message"]
    # inputs that do not fit the model are refused, not bound
    r = raw.ask(id=10, **prep, inputs=[encode_array(np.zeros((1, 3, 8, 8), np.float32))])
    assert r["error"]["type"] == "InputError" and "do not fit" in r["error"]["message"]
    r = raw.ask(id=11, op="runtime", name="torch", threads=1, provider="cpu")
    assert r["error"]["type"] == "InputError" and "onnxruntime and litert" in r["error"]["message"]
    assert raw.ask(id=12, op="close", model=ok["model"])["ok"]
    assert raw.ask(id=13, op="bye")["ok"]
    assert raw.proc.wait(timeout=30) == 0


def test_a_client_of_another_protocol_is_refused(raw):
    r = raw.ask(id=1, op="hello", protocol_version=PROTOCOL_VERSION + 1, hwlat_version="9.9")
    assert r["ok"] and r["protocol_version"] == PROTOCOL_VERSION  # the versions, so the host can explain
    r = raw.ask(id=2, op="runtime", name="onnxruntime", threads=1, provider="cpu")
    assert not r["ok"] and f"protocol {PROTOCOL_VERSION}" in r["error"]["message"]


def test_array_encoding_round_trips_and_rejects_objects():
    for a in (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=">i8"), np.zeros((0, 3))):
        b = decode_array(json.loads(json.dumps(encode_array(a))))
        assert b.dtype == a.dtype and np.array_equal(a, b)
    with pytest.raises(InputError):
        decode_array({"dtype": "|O", "shape": [1], "data": ""})
    with pytest.raises(InputError):
        decode_array({"dtype": "<f4", "shape": [3], "data": "AAAA"})


def test_agent_command_line():
    with pytest.raises(SystemExit) as exc:
        main(["agent", "--stdio", "--max-message-mb", "0"])
    assert exc.value.code == 2  # a usage error
    with pytest.raises(SystemExit):
        main([])  # --stdio is required
    from hwlat.cli import build_parser
    from hwlat.cli import main as hwlat_main

    # 'hwlat agent ...' hands everything after 'agent' to the agent's own command line
    args = build_parser().parse_args(["agent", "--stdio", "--cache-dir", "/tmp/x", "--max-message-mb", "8"])
    assert args.rest == ["--stdio", "--cache-dir", "/tmp/x", "--max-message-mb", "8"]
    with pytest.raises(SystemExit) as exc:
        hwlat_main(["agent", "--stdio", "--max-message-mb", "0"])
    assert exc.value.code == 2


# -- the remote runtime -----------------------------------------------------------------------------

def test_models_are_uploaded_once_and_cached_across_sessions(tmp_path):
    graph = build_graph(dwconv((8, 12, 12), 3), seed=4)
    env = agent_env(tmp_path / "cache")
    with RemoteRuntime("onnxruntime", env=env, cwd=REPO) as rt:
        with rt.prepare(graph) as p1, rt.prepare(graph) as p2:
            assert rt.uploads == 1
            np.testing.assert_array_equal(p1.outputs()[0], p2.outputs()[0])
    assert len(list((tmp_path / "cache").glob("*.onnx"))) == 1
    with RemoteRuntime("onnxruntime", env=env, cwd=REPO) as rt:  # a new agent finds it in its cache
        with rt.prepare(graph) as p:
            assert p.time_calls(3).shape == (3,)
        assert rt.uploads == 0


@pytest.mark.parametrize("name", ["onnxruntime", pytest.param("litert", marks=pytest.mark.skipif(
    not has_litert(), reason="ai-edge-litert is not installed"))])
def test_model_files_run_remotely_as_locally(tmp_path, name):
    from hwlat.profiler.runtimes import make_runtime

    specs = [conv((8, 10, 10), 8, 3), pool((8, 10, 10), 2)]
    path = tmp_path / ("m.onnx" if name == "onnxruntime" else "m.tflite")
    path.write_bytes(to_onnx(specs).SerializeToString() if name == "onnxruntime" else to_tflite(specs))
    local = make_runtime(name)
    with RemoteRuntime(name, env=agent_env(tmp_path / "cache"), cwd=REPO) as rt:
        with rt.prepare_file(path, seed=5) as pr, local.prepare_file(path, seed=5) as pl:
            for a, b in zip(pr.inputs, pl.inputs):
                np.testing.assert_array_equal(a, b)
            np.testing.assert_allclose(pr.outputs()[0], pl.outputs()[0], rtol=1e-5, atol=1e-6)
        with pytest.raises(InputError, match="is not a"):
            rt.prepare_file(tmp_path / "m.bin")


def test_profile_through_an_agent_records_the_agents_host(tmp_path):
    """The table's host fingerprint is the one the agent sent: here the agent runs pinned to one
    core, which the host process is not."""
    import shutil

    if shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs taskset and at least two usable cores to tell the agent's host apart")
    cmd = ["taskset", "-c", "0", *subprocess_command()]
    specs = [conv((4, 8, 8), 4, 3), fc((8, 2, 2), 4)]
    with RemoteRuntime("onnxruntime", command=cmd, env=agent_env(tmp_path / "cache"), cwd=REPO) as rt:
        res = profile_ops(specs, "cpu-ort", runtime=rt, protocol=QUICK, out_dir=tmp_path / "out", progress=False)
    assert len(res.table) == 2 and res.overhead_ms and res.overhead_ms > 0
    assert res.table.metadata.host["cpu_cores_available"] == 1
    assert detect(gpus=False)["cpu_cores_available"] > 1
    assert res.table.metadata.runtime == "onnxruntime"


# -- what goes wrong --------------------------------------------------------------------------------

FAKE_AGENT = textwrap.dedent("""
    import json, sys
    for line in sys.stdin:
        msg = json.loads(line)
        print(json.dumps({"id": msg["id"], "ok": True, "protocol_version": 99, "hwlat_version": "7.0.0",
                          "runtimes": {}, "fingerprint": {}, "max_message_bytes": 1000}), flush=True)
""")


def test_an_agent_of_another_version_is_refused_with_both_versions(tmp_path):
    script = tmp_path / "old_agent.py"
    script.write_text("print('Welcome to the board!')\n" + FAKE_AGENT)  # a banner line is skipped
    with pytest.raises(DeviceError) as ei:
        RemoteRuntime("onnxruntime", command=[sys.executable, str(script)])
    msg = str(ei.value)
    assert "hwlat 7.0.0" in msg and f"hwlat {hwlat.__version__}" in msg and "protocol 99" in msg
    assert f"pip install hwlat=={hwlat.__version__}" in msg


def test_a_device_without_the_runtime_is_named(tmp_path):
    # a real agent in a Python where ai_edge_litert cannot be imported
    code = ("import sys; sys.modules['ai_edge_litert'] = None; "
            "from hwlat.profiler.agent import main; sys.exit(main(['--stdio']))")
    want = r"runtime litert is not installed on this device.*pip install ai-edge-litert"
    with pytest.raises(DeviceError, match=want):
        RemoteRuntime("litert", command=[sys.executable, "-c", code], env=agent_env(tmp_path / "c"), cwd=REPO)


def test_an_agent_that_cannot_start_is_explained(tmp_path):
    code = "import sys; sys.stderr.write('boom: no runtime here\\n'); sys.exit(3)"
    with pytest.raises(DeviceError, match=r"exited with status 3 before answering: boom: no runtime here"):
        RemoteRuntime("onnxruntime", command=[sys.executable, "-c", code])
    with pytest.raises(DeviceError, match="is not installed here"):
        RemoteRuntime("onnxruntime", command=[str(tmp_path / "no-such-agent"), "--stdio"])
    with pytest.raises(InputError, match="only be profiled locally"):
        RemoteRuntime.for_device(DeviceSpec(name="t", runtime="torch", location="ssh://pi@board"))
    with pytest.raises(InputError, match="ssh_identity"):
        RemoteRuntime.for_device(DeviceSpec(name="o", runtime="onnxruntime", location="ssh://pi@board",
                                            options={"ssh_identity": str(tmp_path / "missing-key")}))


def test_an_op_the_remote_runtime_cannot_run_is_named(tmp_path):
    with RemoteRuntime("onnxruntime", env=agent_env(tmp_path / "cache"), cwd=REPO) as rt:
        bad = tmp_path / "bad.onnx"
        bad.write_bytes(b"garbage")
        with pytest.raises(UnsupportedOpError, match="cannot load the model"):
            rt.prepare_file(bad)
        with rt.prepare(build_graph(conv((4, 8, 8), 4, 3))) as p:  # the session survives the error
            assert p.time_samples(2, 2).shape == (2,)


def test_subprocess_location_in_a_device_spec(tmp_path, monkeypatch):
    try:
        spec = DeviceSpec(name="ort-agent", runtime="onnxruntime", location="subprocess")
    except InputError:
        pytest.skip("this DeviceSpec does not accept location 'subprocess'")
    for k, v in agent_env(tmp_path / "cache").items():
        if k in ("HWLAT_AGENT_CACHE", "PYTHONPATH"):
            monkeypatch.setenv(k, v)
    rt = runtime_for_device(spec)
    try:
        assert isinstance(rt, RemoteRuntime) and rt.info()["location"] == "subprocess"
    finally:
        rt.close()
    res = profile_ops([conv((4, 8, 8), 4, 1)], spec, protocol=QUICK, progress=False, overhead=False)
    assert len(res.table) == 1 and res.table.metadata.device["location"] == "subprocess"


def test_local_and_adb_dispatch():
    from hwlat.profiler.runtimes.ort import OnnxRuntime

    assert isinstance(runtime_for_device(DeviceSpec(name="l", runtime="onnxruntime")), OnnxRuntime)
    # adb:// goes to the adb transport, with its own errors (adb missing, no such phone)
    import shutil

    from hwlat.errors import HwlatError

    spec = DeviceSpec(name="phone", runtime="litert", location="adb://hwlat-no-such-phone")
    if shutil.which("adb") is not None:
        pytest.skip("adb is installed here: a real adb server would be asked about the phone")
    with pytest.raises(HwlatError, match="adb"):
        runtime_for_device(spec)


# -- killed in the middle, then resumed -------------------------------------------------------------

CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from hwlat.ops import OpSpec
    from hwlat.profiler import Protocol
    from hwlat.profiler.profile import profile_ops
    from hwlat.profiler.remote import RemoteRuntime

    keys, out, pid_file = json.loads(Path(sys.argv[1]).read_text()), sys.argv[2], Path(sys.argv[3])
    rt = RemoteRuntime("onnxruntime")
    pid_file.write_text(json.dumps(rt.connection.hello["pid"]))
    profile_ops([OpSpec.from_key(k) for k in keys], "cpu-ort", runtime=rt, out_dir=out, progress=False,
                chunk_size=2, protocol=Protocol.quick().replace(round_time_s=0.02, canary=False))
""")


def test_agent_killed_mid_profile_then_resume(tmp_path):
    specs = [conv((8, 16, 16), c, k) for c in (4, 8, 12, 16) for k in (1, 3)] + [pool((8, 16, 16), 2, 2)]
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps([s.key for s in specs]))
    out, pid_file = tmp_path / "out", tmp_path / "agent.pid"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = agent_env(tmp_path / "cache")
    proc = subprocess.Popen([sys.executable, str(script), str(keys_file), str(out), str(pid_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO)
    cp = out / CHECKPOINT_NAME

    def op_keys() -> list[str]:
        lines = cp.read_text().splitlines()[1:] if cp.exists() else []
        recs = [json.loads(ln) for ln in lines if ln.strip() and ln.endswith("}")]
        return [r["key"] for r in recs if not r["key"].startswith("__")]

    deadline = time.time() + 120
    while time.time() < deadline and len(op_keys()) < 2:
        if proc.poll() is not None:
            pytest.fail(f"profile ended before its agent could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.02)
    agent_pid = json.loads(pid_file.read_text())
    os.kill(agent_pid, signal.SIGKILL)
    rc = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    assert rc == 1 and "DeviceError" in err and "was lost" in err and "run the same command again" in err, err
    done_before = op_keys()
    assert 0 < len(done_before) < len(specs)
    assert not (out / TABLE_NAME).exists()

    with RemoteRuntime("onnxruntime", env=env, cwd=REPO) as rt:
        res = profile_ops(specs, "cpu-ort", runtime=rt, out_dir=out, progress=False, chunk_size=2,
                          protocol=QUICK.replace(round_time_s=0.02, canary=False))
    assert res.n_resumed == len(done_before) and res.n_measured == len(specs) - len(done_before)
    keys = op_keys()
    assert sorted(keys) == sorted({s.key for s in specs}) and len(keys) == len(specs)  # none measured twice
    assert len(res.table) == len(specs)


def test_the_agent_needs_only_numpy_and_a_runtime(tmp_path):
    """The host-side packages (onnx for emitting, pandas for tables, torch...) are not needed on a device."""
    code = ("import sys; [sys.modules.__setitem__(m, None) for m in ('onnx', 'pandas', 'pyarrow', 'torch', 'scipy', "
            "'sklearn', 'tqdm', 'matplotlib')]; from hwlat.profiler.agent import main; sys.exit(main(['--stdio']))")
    names = ["onnxruntime"] + (["litert"] if has_litert() else [])
    for name in names:
        with RemoteRuntime(name, command=[sys.executable, "-c", code], env=agent_env(tmp_path / "c"), cwd=REPO) as rt:
            with rt.prepare(build_graph(conv((4, 8, 8), 4, 3))) as p:
                assert p.time_samples(3, 2).shape == (3,)
