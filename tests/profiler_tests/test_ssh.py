"""Profiling through ``ssh://`` devices, against a real OpenSSH server on 127.0.0.1.

The server runs as the current user on a free high port, with a throwaway host key and user
keys made here by ``ssh-keygen``; it skips where ``/usr/sbin/sshd`` or ``ssh`` is absent.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import hwlat
from hwlat.devices import DeviceSpec, detect
from hwlat.errors import DeviceError
from hwlat.ops import conv, pool
from hwlat.profiler import Protocol
from hwlat.profiler.connection import explain_ssh_failure, ssh_command
from hwlat.profiler.profile import CHECKPOINT_NAME, TABLE_NAME, profile_ops
from hwlat.profiler.transports import runtime_for_device

REPO = Path(hwlat.__file__).resolve().parents[1]
SSHD = Path("/usr/sbin/sshd")
QUICK = Protocol.quick()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hwlat-test", "-f", str(path)],
                   check=True, capture_output=True)
    return path


class Sshd:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.key = _keygen(root / "user_key")
        self.wrong_key = _keygen(root / "other_key")
        host_key = _keygen(root / "host_key")
        (root / "authorized_keys").write_text((root / "user_key.pub").read_text())
        os.chmod(root / "authorized_keys", 0o600)
        self.port = _free_port()
        config = root / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {root / 'sshd.pid'}",
            f"AuthorizedKeysFile {root / 'authorized_keys'}", "UsePAM no", "StrictModes no", "PermitRootLogin yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            "LogLevel ERROR", "",
        ]))
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # the privilege separation folder
        self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.time() + 15
        while True:
            if self.proc.poll() is not None:
                pytest.skip(f"sshd did not start: {self.proc.stderr.read().decode().strip()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    pytest.skip("sshd did not accept connections within 15 s")
                time.sleep(0.05)

    @property
    def location(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    def options(self, *, key: Path | None = None, cache: Path, pin: bool = False) -> dict:
        """Device options reaching this checkout's agent through the test server."""
        python = shlex.quote(sys.executable)
        pinned = "taskset -c 0 " if pin else ""
        command = (f"cd {shlex.quote(str(REPO))} && PYTHONPATH={shlex.quote(str(REPO))} "
                   f"HWLAT_AGENT_CACHE={shlex.quote(str(cache))} {pinned}{python} -m hwlat.profiler.agent")
        return {"ssh_identity": str(key or self.key), "agent_command": command,
                "ssh_options": [f"UserKnownHostsFile={self.root / 'known_hosts'}", "StrictHostKeyChecking=no"]}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc.stderr.close()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not SSHD.exists():
        pytest.skip("/usr/sbin/sshd is not installed (apt-get install openssh-server)")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("the OpenSSH client (ssh, ssh-keygen) is not installed")
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def _device(sshd: Sshd, tmp_path: Path, **kw) -> DeviceSpec:
    return DeviceSpec(name="loopback-ort", runtime="onnxruntime", location=sshd.location,
                      options=sshd.options(cache=tmp_path / "agent-cache", **kw))


def test_profile_over_ssh_records_the_remote_host(sshd, tmp_path):
    pin = shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) > 1
    spec = _device(sshd, tmp_path, pin=pin)
    res = profile_ops([conv((4, 8, 8), 4, 3), pool((4, 8, 8), 2, 2)], spec, protocol=QUICK, out_dir=tmp_path / "out",
                      progress=False)
    assert len(res.table) == 2 and (tmp_path / "out" / TABLE_NAME).exists()
    meta = res.table.metadata
    assert meta.device["location"] == sshd.location and meta.runtime == "onnxruntime"
    assert "ssh_identity" not in json.dumps(meta.extra) and meta.host["host_id"] == detect(gpus=False)["host_id"]
    if pin:  # the agent ran pinned to one core: the fingerprint is the agent's, not this process's
        assert meta.host["cpu_cores_available"] == 1
    # two ops, the conv in context, empty model, canary
    assert len(list((tmp_path / "agent-cache").glob("*.onnx"))) == 5


def test_agent_killed_mid_profile_over_ssh_then_resume(sshd, tmp_path):
    specs = [conv((8, 16, 16), c, k) for c in (4, 8, 12) for k in (1, 3)] + [pool((8, 16, 16), 2, 2)]
    spec = _device(sshd, tmp_path)
    rt = runtime_for_device(spec)
    out = tmp_path / "out"
    cp = out / CHECKPOINT_NAME
    killed: list[int] = []
    stop = threading.Event()

    def op_lines() -> list[str]:
        lines = cp.read_text().splitlines()[1:] if cp.exists() else []
        return [ln for ln in lines if ln.endswith("}") and '"key":"__' not in ln]

    agent_pid = rt.connection.hello["pid"]  # the agent's pid on the device: this machine here

    def watch() -> None:  # the agent at the other end of the ssh session dies once two ops are on disk
        while not stop.wait(0.02):
            if len(op_lines()) >= 2:
                os.kill(agent_pid, signal.SIGKILL)
                killed.append(agent_pid)
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with pytest.raises(DeviceError, match="was lost.*run the same command again to resume") as ei:
            profile_ops(specs, spec, runtime=rt, protocol=QUICK.replace(canary=False), out_dir=out, progress=False,
                        chunk_size=2)
        assert sshd.location in str(ei.value)
    finally:
        stop.set()
        watcher.join()
    assert killed and not (out / TABLE_NAME).exists()
    before = [json.loads(ln)["key"] for ln in op_lines()]
    assert 2 <= len(before) < len(specs)
    res = profile_ops(specs, spec, protocol=QUICK.replace(canary=False), out_dir=out, progress=False, chunk_size=2)
    assert res.n_resumed == len(before) and len(res.table) == len(specs)
    keys = [json.loads(ln)["key"] for ln in op_lines()]
    assert sorted(keys) == sorted({s.key for s in specs})  # nothing measured twice, nothing missing


def test_a_key_the_device_does_not_accept(sshd, tmp_path):
    spec = _device(sshd, tmp_path, key=sshd.wrong_key)
    with pytest.raises(DeviceError, match=r"refused the SSH login \(.*Permission denied.*ssh_identity"):
        profile_ops([conv((4, 8, 8), 4, 1)], spec, protocol=QUICK, progress=False)


def test_an_unreachable_port(sshd, tmp_path):
    spec = DeviceSpec(name="closed", runtime="onnxruntime", location=f"ssh://{sshd.user}@127.0.0.1:{_free_port()}",
                      options=sshd.options(cache=tmp_path))
    with pytest.raises(DeviceError, match=r"cannot reach .*refused the connection on port"):
        runtime_for_device(spec)


def test_a_device_without_hwlat(sshd, tmp_path):
    opts = {**sshd.options(cache=tmp_path), "agent_command": str(tmp_path / "no" / "hwlat")}
    spec = DeviceSpec(name="bare", runtime="onnxruntime", location=sshd.location, options=opts)
    with pytest.raises(DeviceError, match=rf"could not be started on .*pip install hwlat=={hwlat.__version__}"):
        runtime_for_device(spec)


# -- without a server ---------------------------------------------------------------------------

def test_ssh_command_line():
    argv = ssh_command("ssh://pi@board:2222", identity="~/.ssh/k", ssh_options=["StrictHostKeyChecking=no"],
                       agent_command="/opt/venv/bin/python -m hwlat")
    assert argv[0] == "ssh" and argv[-3:] == ["2222", "pi@board", "/opt/venv/bin/python -m hwlat agent --stdio"]
    # the user's options come before hwlat's defaults: ssh keeps the first value of an option
    assert argv.index("StrictHostKeyChecking=no") < argv.index("StrictHostKeyChecking=accept-new")
    assert "BatchMode=yes" in argv and argv[argv.index("-i") + 1] == str(Path("~/.ssh/k").expanduser())
    assert ssh_command("ssh://board")[-2:] == ["board", "hwlat agent --stdio"]


@pytest.mark.parametrize("stderr, rc, match", [
    ("ssh: connect to host 10.0.0.9 port 22: Connection refused\n", 255, "refused the connection on port 22"),
    ("ssh: connect to host 10.0.0.9 port 22: Connection timed out\n", 255, "did not answer"),
    ("ssh: Could not resolve hostname board: Name or service not known\n", 255, "does not resolve"),
    ("pi@10.0.0.9: Permission denied (publickey).\n", 255, "refused the SSH login"),
    ("Host key verification failed.\n", 255, "ssh-keygen -R 10.0.0.9"),
    ("ssh: connect to host 10.0.0.9 port 22: No route to host\n", 255, "check the network"),
    ("bash: line 1: hwlat: command not found\n", 127, "install hwlat there"),
    ("/usr/bin/python3: No module named hwlat\n", 1, "install hwlat there"),
    ("kex_exchange_identification: read: Connection reset by peer\n", 255, "SSH connection to .* failed"),
])
def test_ssh_failures_are_explained(stderr, rc, match):
    import re

    msg = explain_ssh_failure(stderr, rc, "ssh://pi@10.0.0.9")
    assert msg is not None and re.search(match, msg), msg
    assert explain_ssh_failure("", 0, "ssh://pi@10.0.0.9") is None
