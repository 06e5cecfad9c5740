"""One Android phone through ``adb``: connection checks, pushing models and the benchmark binary,
and running ``benchmark_model`` there (its log is read by :mod:`hwlat.profiler.adb.parser`)."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hwlat.errors import DeviceError, InputError, MissingDependencyError
from hwlat.profiler.adb.parser import BENCHMARK_TOOL_URL, ERROR_HINTS, BenchmarkResult, parse_benchmark_output

__all__ = ["AdbDevice", "parse_adb_devices", "DEFAULT_REMOTE_DIR", "PLATFORM_TOOLS_URL"]

log = logging.getLogger(__name__)

DEFAULT_REMOTE_DIR = "/data/local/tmp/hwlat"
PLATFORM_TOOLS_URL = "https://developer.android.com/tools/releases/platform-tools"
_GET_ADB = (f"install the Android SDK platform-tools ({PLATFORM_TOOLS_URL}; on Debian/Ubuntu: "
            "apt install adb) and put adb on PATH, or give its path as the device option 'adb'")
_GET_BINARY = ("download the prebuilt 'android_aarch64_benchmark_model' (or android_arm for 32-bit phones) "
               f"from the LiteRT benchmark tools page ({BENCHMARK_TOOL_URL}) and give its path as the "
               "device option 'benchmark_model'")

_RUN_MARK = "@@hwlat-run"
_EXIT_MARK = "@@hwlat-exit"


def parse_adb_devices(text: str) -> dict[str, str]:
    """``adb devices`` output -> {serial: state} (``device``, ``unauthorized``, ``offline``, ...)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("List of devices", "*")):
            continue  # the header and the "* daemon started successfully" lines
        parts = s.split(None, 1)
        if len(parts) == 2:
            out[parts[0]] = parts[1].split("  ")[0].strip()
    return out


_STATE_FIX = {
    "unauthorized": "unlock the phone and accept the 'Allow USB debugging?' prompt (tick 'Always allow'), "
                    "then try again",
    "offline": "reconnect the cable, or restart the adb server (adb kill-server; adb devices)",
    "no permissions": "give your user access to the USB device (Linux udev rules for Android, then replug); "
                      "see https://developer.android.com/studio/run/device",
    "recovery": "reboot the phone into Android (adb reboot)",
    "bootloader": "reboot the phone into Android",
    "sideload": "reboot the phone into Android (adb reboot)",
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AdbDevice:
    """One phone reached through ``adb -s SERIAL`` with a ``benchmark_model`` binary to push to it.

    ``adb`` is the adb executable (default: the one on PATH); ``benchmark_binary`` the Android build
    of LiteRT's benchmark tool on this machine. Both are checked when the object is made and raise
    :class:`MissingDependencyError` / :class:`InputError` saying where to get them. Models are pushed
    under ``remote_dir`` named by the SHA-256 of their content, once per object.
    """

    def __init__(self, serial: str, *, adb: str | os.PathLike[str] | None = None,
                 benchmark_binary: str | os.PathLike[str] | None, remote_dir: str = DEFAULT_REMOTE_DIR,
                 timeout_s: float = 600.0, taskset: str | None = None) -> None:
        if not isinstance(serial, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]*", serial):
            raise InputError(f"adb serial {serial!r} is not valid; use the serial `adb devices` lists, "
                             "e.g. 'emulator-5554' or '192.168.1.20:5555'")
        self.serial = serial
        self.adb = self._find_adb(adb)
        if benchmark_binary is None:
            raise MissingDependencyError(f"no benchmark_model binary was given for adb device {serial}; {_GET_BINARY}")
        binary = Path(benchmark_binary).expanduser()
        if not binary.is_file():
            raise InputError(f"the benchmark_model binary {binary} does not exist; {_GET_BINARY}")
        self.benchmark_binary = binary
        if not isinstance(remote_dir, str) or not remote_dir.startswith("/") or "'" in remote_dir:
            raise InputError(f"remote_dir must be an absolute path on the phone, e.g. {DEFAULT_REMOTE_DIR}; "
                             f"got {remote_dir!r}")
        self.remote_dir = remote_dir.rstrip("/") or "/"
        if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or timeout_s <= 0:
            raise InputError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        if taskset is not None and not re.fullmatch(r"(?:0x)?[0-9A-Fa-f]+", str(taskset)):
            raise InputError(f"taskset must be a hexadecimal CPU mask such as 'f0', got {taskset!r}")
        self.taskset = None if taskset is None else str(taskset)
        self._pushed: dict[str, str] = {}  # content sha256 -> remote path
        self._ready = False
        self._binary_sha: str | None = None
        self._props: dict[str, str] | None = None

    @staticmethod
    def _find_adb(adb: str | os.PathLike[str] | None) -> str:
        if adb is None:
            found = shutil.which("adb")
            if found is None:
                raise MissingDependencyError(f"adb was not found on PATH; {_GET_ADB}")
            return found
        p = Path(adb).expanduser()
        if not p.is_file() or not os.access(p, os.X_OK):
            raise InputError(f"adb executable {p} does not exist or is not executable; {_GET_ADB}")
        return str(p)

    @property
    def remote_binary(self) -> str:
        return f"{self.remote_dir}/benchmark_model"

    def __repr__(self) -> str:
        return f"AdbDevice({self.serial!r}, remote_dir={self.remote_dir!r})"

    # -- running adb -------------------------------------------------------------------------------
    def _run(self, args: Sequence[str], *, timeout: float | None = None, what: str = "",
             device: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [self.adb, *(("-s", self.serial) if device else ()), *args]
        log.debug("running %s", " ".join(shlex.quote(c) for c in cmd))
        try:
            return subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                                  timeout=timeout or self.timeout_s, check=False)
        except FileNotFoundError as exc:
            raise MissingDependencyError(f"adb ({self.adb}) cannot be run: {exc}; {_GET_ADB}") from exc
        except subprocess.TimeoutExpired as exc:
            raise DeviceError(f"adb {what or args[0]} on {self.serial} did not finish within "
                              f"{timeout or self.timeout_s:g} s; check the phone, or raise the device option "
                              "timeout_s") from exc

    def devices(self) -> dict[str, str]:
        """The devices adb sees: {serial: state}."""
        r = self._run(["devices"], device=False, timeout=60, what="devices")
        if r.returncode != 0:
            raise DeviceError(f"'adb devices' failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()}; "
                              "restart the adb server with 'adb kill-server'")
        return parse_adb_devices(r.stdout)

    def check_connected(self) -> None:
        """Raise :class:`DeviceError` unless adb lists the serial as a ready device."""
        seen = self.devices()
        state = seen.get(self.serial)
        if state == "device":
            return
        if state is None:
            listed = ", ".join(f"{s} ({st})" for s, st in seen.items()) or "none"
            raise DeviceError(
                f"adb device {self.serial} is not connected (adb sees: {listed}); connect the phone by USB with "
                "USB debugging enabled (Settings > Developer options), or run 'adb connect HOST:PORT' for a "
                "network device, and check the serial with 'adb devices'"
            )
        fix = _STATE_FIX.get(state, "check the phone and the cable, then run 'adb devices'")
        raise DeviceError(f"adb device {self.serial} is {state}; {fix}")

    def shell(self, command: str, *, timeout: float | None = None, what: str = "shell") -> tuple[int, str]:
        """Run ``command`` in the phone's shell; return (exit status, stdout + stderr)."""
        r = self._run(["shell", command], timeout=timeout, what=what)
        return r.returncode, (r.stdout or "") + (r.stderr or "")

    def _check_shell(self, command: str, what: str) -> str:
        rc, out = self.shell(command, what=what)
        if rc != 0:
            raise DeviceError(f"{what} failed on adb device {self.serial} (exit {rc}): {out.strip()[:500]}")
        return out

    def push(self, local: str | os.PathLike[str], remote: str) -> None:
        r = self._run(["push", str(local), remote], what="push")
        if r.returncode != 0:
            raise DeviceError(f"adb push {local} -> {self.serial}:{remote} failed (exit {r.returncode}): "
                              f"{(r.stderr or r.stdout).strip()[:500]}; check free space on the phone "
                              f"(adb shell df {self.remote_dir})")

    # -- setting up and pushing ------------------------------------------------------------------------
    def setup(self) -> None:
        """Check the connection, create ``remote_dir`` and push the benchmark binary (once)."""
        if self._ready:
            return
        self.check_connected()
        q = shlex.quote(self.remote_dir)
        self._check_shell(f"mkdir -p {q}", "creating the remote folder")
        data = self.benchmark_binary.read_bytes()
        self._binary_sha = _sha256(data)
        self.push(self.benchmark_binary, self.remote_binary)
        self._check_shell(f"chmod 755 {shlex.quote(self.remote_binary)}", "making benchmark_model executable")
        self._ready = True

    def push_model(self, model: bytes | str | os.PathLike[str]) -> str:
        """Push a ``.tflite`` model (bytes or a file) unless this object pushed the same content
        already; return its path on the phone."""
        self.setup()
        if isinstance(model, (bytes, bytearray)):
            data = bytes(model)
            src: Path | None = None
        else:
            src = Path(model).expanduser()
            if not src.is_file():
                raise InputError(f"model file {src} does not exist; give the path of a .tflite file")
            data = src.read_bytes()
        digest = _sha256(data)
        if digest in self._pushed:
            return self._pushed[digest]
        remote = f"{self.remote_dir}/{digest[:16]}.tflite"
        if src is not None:
            self.push(src, remote)
        else:
            with tempfile.TemporaryDirectory(prefix="hwlat-adb-") as tmp:
                p = Path(tmp) / f"{digest[:16]}.tflite"
                p.write_bytes(data)
                self.push(p, remote)
        self._pushed[digest] = remote
        log.debug("pushed %d bytes to %s:%s", len(data), self.serial, remote)
        return remote

    # -- running the benchmark -------------------------------------------------------------------------
    def run_benchmark(self, flags: Sequence[str], *, repeat: int = 1,
                      require_op_profile: bool = False) -> list[BenchmarkResult]:
        """Run ``benchmark_model FLAGS`` ``repeat`` times in one ``adb shell``; parse each log.

        A failing invocation stops the loop and raises :class:`DeviceError` with the tool's errors.
        """
        if not isinstance(repeat, int) or repeat < 1:
            raise InputError(f"repeat must be a positive integer, got {repeat!r}")
        self.setup()
        prefix = f"taskset {self.taskset} " if self.taskset else ""
        bench = prefix + " ".join(shlex.quote(a) for a in [self.remote_binary, *flags])
        script = (f"i=0; while [ $i -lt {repeat} ]; do echo {_RUN_MARK}; {bench} 2>&1; rc=$?; "
                  f"if [ $rc -ne 0 ]; then echo \"{_EXIT_MARK} $rc\"; exit $rc; fi; i=$((i+1)); done")
        rc, out = self.shell(script, timeout=self.timeout_s, what="benchmark_model")
        chunks = re.split(rf"^{_RUN_MARK}\r?\n", out, flags=re.MULTILINE)
        head, runs = chunks[0], chunks[1:]
        if not runs:
            raise DeviceError(f"benchmark_model did not start on adb device {self.serial} (exit {rc}): "
                              f"{head.strip()[:500] or 'no output'}")
        results = []
        for chunk in runs:
            m = re.search(rf"^{_EXIT_MARK} (\d+)\s*$", chunk, re.MULTILINE)
            if m is not None:
                body, code = chunk[: m.start()], int(m[1])
                try:
                    parse_benchmark_output(body)
                except DeviceError as exc:
                    if ERROR_HINTS[0][0].search(str(exc)):
                        self._pushed.clear()  # push the models again on the next run
                    if str(exc).startswith("benchmark_model failed"):
                        raise DeviceError(f"{exc} (adb device {self.serial}, exit {code})") from None
                hint = ""
                if code in (126, 127) or ERROR_HINTS[2][0].search(body):
                    hint = f". Fix: {ERROR_HINTS[2][1]}"
                raise DeviceError(f"benchmark_model exited with status {code} on adb device {self.serial}: "
                                  f"{body.strip()[-500:] or 'no output'}{hint}")
            results.append(parse_benchmark_output(chunk, require_op_profile=require_op_profile))
        if len(results) != repeat:
            raise DeviceError(f"benchmark_model ran {len(results)} of {repeat} times on adb device {self.serial} "
                              f"(adb exit {rc}); the connection may have dropped")
        if rc != 0:
            raise DeviceError(f"adb shell exited with status {rc} on {self.serial} after benchmark_model ran: "
                              f"{head.strip()[:300]}")
        return results

    def getprop(self, name: str) -> str:
        """An Android system property (``ro.product.model``...); '' when unset."""
        rc, out = self.shell(f"getprop {shlex.quote(name)}", timeout=60, what="getprop")
        return out.strip() if rc == 0 else ""

    def properties(self) -> dict[str, str]:
        """What to record about the phone: model, SoC, ABI, Android release (cached)."""
        if self._props is None:
            keys = {"model": "ro.product.model", "manufacturer": "ro.product.manufacturer",
                    "soc": "ro.soc.model", "board": "ro.board.platform", "abi": "ro.product.cpu.abi",
                    "android": "ro.build.version.release"}
            self._props = {k: v for k, p in keys.items() if (v := self.getprop(p))}
        return dict(self._props)

    def binary_sha256(self) -> str:
        if self._binary_sha is None:
            self._binary_sha = _sha256(self.benchmark_binary.read_bytes())
        return self._binary_sha

    def cleanup(self) -> None:
        """Remove ``remote_dir`` (binary and models) from the phone."""
        self._check_shell(f"rm -rf {shlex.quote(self.remote_dir)}", "removing the remote folder")
        self._pushed.clear()
        self._ready = False
