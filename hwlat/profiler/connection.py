"""The conversation with an ``hwlat agent --stdio`` process: the commands that start one (over ssh
or as a local subprocess), the handshake, requests and replies, and what a failure means.

:class:`~hwlat.profiler.remote.RemoteRuntime` drives a device through one
:class:`AgentConnection`; the wire protocol is described in :mod:`hwlat.profiler.agent`.

Nothing an agent sends is taken on trust: every line is read within the bounds of
:func:`~hwlat.profiler.wire.loads_message` (and at most :data:`MAX_REPLY_MB` long), and every reply
is checked against what its request promises (:data:`REPLY_FIELDS`: the fields, their types,
times that are finite and not negative). A reply that fails is a :class:`DeviceError` naming the
agent's location and what was wrong.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import select
import shlex
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hwlat.devices.spec import SshTarget, parse_location
from hwlat.errors import DeviceError, InputError, UnsupportedOpError
from hwlat.profiler.agent import PROTOCOL_VERSION
from hwlat.profiler.wire import MessageError, dumps_message, loads_message

__all__ = ["AgentConnection", "ModelMissingReply", "ssh_command", "subprocess_command", "explain_ssh_failure",
           "check_reply", "DEFAULT_TIMEOUT_S", "START_TIMEOUT_S", "MAX_REPLY_MB", "REPLY_FIELDS"]

log = logging.getLogger(__name__)

#: the longest one request may take by default (s)
DEFAULT_TIMEOUT_S = 600.0
#: the longest the start of an agent may take (s): ssh connect + interpreter start + fingerprint
START_TIMEOUT_S = 120.0
_MAX_BANNER_LINES = 200  # non-JSON lines tolerated before the handshake (login banners)
#: the longest line read from an agent (MB = 2**20 bytes): four times the largest request an agent
#: takes by default; the largest replies carry a model's outputs or inputs
MAX_REPLY_MB = 1024
#: the fields every successful reply to a request must have, with their JSON types (an integer
#: field is never a boolean); ``hello`` may leave out ``max_message_bytes`` (no limit)
REPLY_FIELDS: dict[str, dict[str, type]] = {
    "hello": {"protocol_version": int, "hwlat_version": str, "runtimes": dict, "fingerprint": dict},
    "runtime": {"runtime": int, "info": dict},
    "put_model": {"sha256": str, "bytes": int},
    "prepare": {"model": int},
    "time": {"times_s": list},
    "outputs": {"outputs": list},
}
_JSON_TYPES = {int: "an integer", str: "a string", dict: "an object", list: "an array", bool: "true or false"}


def check_reply(reply: Any, op: str, location: str, sent: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``reply`` to the request ``op`` (with the fields ``sent``), checked: an object with ``ok``
    true or false, an error object with a type and a message, the fields of :data:`REPLY_FIELDS`,
    and for ``time`` one time per sample asked for (``n``), each a finite number of seconds, not
    negative. Anything else raises :class:`DeviceError`."""
    def bad(what: str, fix: str = "check that the device runs the same hwlat version as this host and that "
                                  "nothing else writes to the agent's output") -> DeviceError:
        return DeviceError(f"the hwlat agent at {location} sent a malformed reply to {op!r}: {what}; {fix}")

    def kind(value: Any) -> str:
        return "null" if value is None else next(
            (n for t, n in _JSON_TYPES.items() if type(value) is t), type(value).__name__)

    if not isinstance(reply, dict):
        raise bad(f"it is {kind(reply)}, not an object")
    if not isinstance(reply.get("ok"), bool):
        raise bad(f"its 'ok' is {kind(reply.get('ok'))}, not true or false")
    if not reply["ok"]:
        err = reply.get("error")
        if not isinstance(err, dict) or not isinstance(err.get("type"), str) or not isinstance(err.get("message"), str):
            raise bad("an error reply without an error object of a 'type' and a 'message' string")
        return reply
    for name, want in REPLY_FIELDS.get(op, {}).items():
        value = reply.get(name)
        if not isinstance(value, want) or (isinstance(value, bool) and want is int):
            got = "missing" if name not in reply else f"{kind(value)}"
            raise bad(f"its field {name!r} is {got}, not {_JSON_TYPES[want]}")
    if op == "hello" and reply.get("max_message_bytes") is not None:
        limit = reply["max_message_bytes"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise bad(f"its field 'max_message_bytes' is {str(limit)[:40]}, not a positive integer")
    if op == "time":
        n = (sent or {}).get("n")
        if n is not None and len(reply["times_s"]) != n:
            raise bad(f"it holds {len(reply['times_s'])} times for {n} samples")
        for t in reply["times_s"]:
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
                raise bad(f"a time of {str(t)[:40]!r}, not a number of seconds")
            if t < 0:
                raise bad(f"a negative time ({t:g} s), which no latency is made of",
                          "the device's clock or its runtime is broken; nothing from this reply was recorded")
    return reply


# -- commands ---------------------------------------------------------------------------------------

def subprocess_command(agent_command: str | None = None) -> list[str]:
    """The argv of a local agent: ``agent_command agent --stdio`` (split like a shell would), or
    this interpreter running ``-m hwlat.profiler.agent --stdio``."""
    if agent_command is None:
        return [sys.executable, "-m", "hwlat.profiler.agent", "--stdio"]
    return [*shlex.split(agent_command), "agent", "--stdio"]


def ssh_command(location: Any, *, identity: str | os.PathLike[str] | None = None,
                ssh_options: Sequence[str] = (), agent_command: str = "hwlat",
                connect_timeout_s: int = 15) -> list[str]:
    """The ``ssh`` argv that starts the agent at ``location`` (``ssh://[user@]host[:port]`` or an
    :class:`~hwlat.devices.SshTarget`).

    ``ssh_options`` (``Key=Value`` strings) come first so that they override hwlat's defaults
    (ssh keeps the first value it gets for an option): batch mode (never a password prompt),
    accept-new host keys, a connect timeout and keep-alives that notice a dead link within a minute.
    """
    if isinstance(location, SshTarget):
        target = location
    else:
        kind, parsed = parse_location(location)
        if kind != "ssh":
            raise InputError(f"location {location!r} is not an ssh:// location")
        target = parsed  # type: ignore[assignment]
    argv = ["ssh", "-T"]
    for opt in ssh_options:
        argv += ["-o", opt]
    argv += ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
             "-o", f"ConnectTimeout={int(connect_timeout_s)}", "-o", "ServerAliveInterval=15",
             "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR"]
    if identity is not None:
        argv += ["-i", str(Path(identity).expanduser()), "-o", "IdentitiesOnly=yes"]
    argv += target.ssh_args()
    argv.append(f"{agent_command} agent --stdio")
    return argv


def explain_ssh_failure(stderr: str, returncode: int | None, location: str, *,
                        agent_command: str = "hwlat") -> str | None:
    """One actionable sentence for an ssh session that failed before the agent answered, from
    ssh's exit status and stderr; None when it is not an ssh failure hwlat recognises."""
    from hwlat import __version__

    try:
        _, target = parse_location(location)
    except InputError:
        target = None
    host = getattr(target, "host", location)
    port = getattr(target, "port", None) or 22
    dest = getattr(target, "destination", location)
    text = stderr.lower()
    last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    if "could not resolve hostname" in text or "name or service not known" in text:
        return (f"cannot reach {location}: the host name {host!r} does not resolve ({last}); check the "
                "spelling of the location or use the device's IP address")
    if "connection refused" in text:
        return (f"cannot reach {location}: {host} refused the connection on port {port} ({last}); check that "
                "the device is on, that its SSH server runs, and the port in the location")
    if "timed out" in text:
        return (f"cannot reach {location}: {host} port {port} did not answer ({last}); check that the device "
                "is on and reachable from this machine (network, firewall, port)")
    if "no route to host" in text or "network is unreachable" in text:
        return f"cannot reach {location}: {last}; check the network between this machine and the device"
    if "host key verification failed" in text or "remote host identification has changed" in text:
        return (f"the SSH host key of {host} is not the one this machine knows ({last}); if the device was "
                f"reinstalled, remove the old key with: ssh-keygen -R {host}")
    if "permission denied" in text or "too many authentication failures" in text:
        return (f"{dest} refused the SSH login ({last}): give the key it accepts with the device option "
                f"ssh_identity: ~/.ssh/KEY, or install your public key there (ssh-copy-id {dest}); "
                "password logins are not used (batch mode)")
    if returncode == 127 or "command not found" in text or "no module named hwlat" in text \
            or ("not found" in text and agent_command.split()[0] in stderr):
        return (f"the hwlat agent could not be started on {location} ({last}): install hwlat there "
                f"(pip install hwlat=={__version__}) or give its full command with the device option "
                f"agent_command: '/path/to/venv/bin/python -m hwlat'")
    if returncode == 255:
        return f"the SSH connection to {location} failed ({last or 'ssh exited with status 255'})"
    return None


# -- the connection ---------------------------------------------------------------------------------

def _version() -> str:
    from hwlat import __version__

    return __version__


class ModelMissingReply(Exception):
    """The agent does not have the model asked for: upload it, then ask again."""
    pass


def _drain(stream: Any, tail: collections.deque[str]) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip()
        tail.append(line)
        log.debug("agent stderr: %s", line)
    stream.close()


def _shutdown(proc: subprocess.Popen[bytes]) -> None:
    """End an agent process: close its input (it exits at end of input), then wait, then kill."""
    if proc.poll() is None:
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for s in (proc.stdin, proc.stdout):
        try:
            if s is not None:
                s.close()
        except OSError:
            pass


class AgentConnection:
    """A running agent process and the request/reply conversation with it.

    ``argv`` is the command that starts ``hwlat agent --stdio`` (an ssh command line or a local
    one); ``location`` names it in messages; ``kind`` is ``"ssh"`` or ``"subprocess"`` (it
    decides how start failures are explained). The handshake happens here: a hwlat or protocol
    version different from this host's is a :class:`DeviceError`.
    """

    def __init__(self, argv: Sequence[str], *, location: str, kind: str = "subprocess",
                 timeout_s: float = DEFAULT_TIMEOUT_S, env: Mapping[str, str] | None = None,
                 cwd: str | os.PathLike[str] | None = None, agent_command: str = "hwlat") -> None:
        self.argv = list(argv)
        self.location = location
        self.kind = kind
        self.timeout_s = float(timeout_s)
        self.agent_command = agent_command
        self._broken: str | None = None
        self._next_id = 0
        self._buf = bytearray()
        self._scan = 0
        self.max_message_bytes: int | None = None
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=dict(env) if env is not None else None,
                                          cwd=cwd, start_new_session=True)
        except FileNotFoundError as exc:
            what = "the OpenSSH client (ssh)" if kind == "ssh" else repr(self.argv[0])
            raise DeviceError(f"cannot start the agent for {location}: {what} is not installed here "
                              f"({exc.strerror}); install it (apt-get install openssh-client) or fix agent_command"
                              ) from exc
        self._stderr: collections.deque[str] = collections.deque(maxlen=60)
        self._stderr_thread = threading.Thread(target=_drain, args=(self._proc.stderr, self._stderr), daemon=True)
        self._stderr_thread.start()
        self._finalizer = weakref.finalize(self, _shutdown, self._proc)
        self.hello = self._handshake()
        self.max_message_bytes = self.hello.get("max_message_bytes")

    # -- properties -----------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        """The process id of the agent's local end (the ssh client for ssh locations)."""
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._broken is None and self._proc.poll() is None

    # -- low level --------------------------------------------------------------------------------
    def _read_line(self, timeout_s: float) -> bytes | None:
        """The next line from the agent; None at end of stream; TimeoutError after ``timeout_s``."""
        fd = self._proc.stdout.fileno()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_s
        while True:
            i = self._buf.find(b"\n", self._scan)
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[:i + 1]
                self._scan = 0
                return line
            self._scan = len(self._buf)
            if self._scan > MAX_REPLY_MB * 2**20:
                raise self._fail(f"the hwlat agent at {self.location} sent a line of more than {MAX_REPLY_MB} MB, "
                                 "longer than any reply of the protocol; check that nothing else writes to the "
                                 "agent's output")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self._buf += chunk

    def _stderr_text(self) -> str:
        self._stderr_thread.join(timeout=1.0)
        return "\n".join(self._stderr)

    def _exit_code(self) -> int | None:
        try:
            return self._proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            return None

    def _fail(self, message: str) -> DeviceError:
        """Mark the connection dead, end the process, return the error to raise."""
        self._broken = message
        self._finalizer()
        return DeviceError(message)

    def _start_failure(self) -> DeviceError:
        rc = self._exit_code()
        if rc is None:
            self._proc.kill()
        err = self._stderr_text()
        msg = None
        if self.kind == "ssh":
            msg = explain_ssh_failure(err, rc, self.location, agent_command=self.agent_command)
        if msg is None:
            tail = " | ".join(ln for ln in err.splitlines()[-5:] if ln.strip()) or "no message"
            if "No module named" in err:
                msg = (f"the hwlat agent could not be started for {self.location}: {tail}; install hwlat and "
                       "its runtime in the Python that agent_command names")
            else:
                msg = (f"the hwlat agent for {self.location} ({shlex.join(self.argv)}) exited with status {rc} "
                       f"before answering: {tail}")
        return self._fail(msg)

    def _lost(self, what: str) -> DeviceError:
        rc = self._exit_code()
        err = self._stderr_text()
        tail = " | ".join(ln for ln in err.splitlines()[-3:] if ln.strip())
        why = f"exit status {rc}" if rc is not None else "no answer"
        if self.kind == "ssh" and rc == 255:
            explained = explain_ssh_failure(err, rc, self.location, agent_command=self.agent_command)
            # a specific cause (the link went down...) replaces the bare status; ssh exits 255 too
            # when the agent at the other end was killed
            why = explained if explained and not explained.startswith("the SSH connection") else "ssh exit status 255"
        return self._fail(
            f"the connection to the hwlat agent at {self.location} was lost during {what} ({why}"
            + (f": {tail}" if tail and tail not in why else "") + "); what was measured before is kept: "
            "run the same command again to resume")

    def _send(self, msg: dict[str, Any], what: str) -> None:
        try:
            line = dumps_message(msg)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what} cannot be sent to the agent at {self.location}: {exc} (only finite numbers, "
                             "strings, true/false, null, lists and mappings with string keys can be sent; check "
                             "the device's options)") from None
        if self.max_message_bytes is not None and len(line) > self.max_message_bytes:
            raise InputError(
                f"{what} needs a message of {len(line) / 2**20:.1f} MB, more than the agent at {self.location} "
                f"accepts ({self.max_message_bytes / 2**20:.3g} MB); start it with a larger --max-message-mb")
        try:
            self._proc.stdin.write(line)  # type: ignore[union-attr]
            self._proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError, ValueError):
            raise self._lost(what) from None

    def _handshake(self) -> dict[str, Any]:
        import hwlat

        self._next_id += 1
        try:
            self._proc.stdin.write(dumps_message(  # type: ignore[union-attr]
                {"id": self._next_id, "op": "hello", "protocol_version": PROTOCOL_VERSION,
                 "hwlat_version": hwlat.__version__}))
            self._proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            raise self._start_failure() from None
        deadline = time.monotonic() + min(self.timeout_s, START_TIMEOUT_S)
        junk = 0
        while True:
            try:
                line = self._read_line(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise self._fail(f"the hwlat agent at {self.location} did not answer within "
                                 f"{min(self.timeout_s, START_TIMEOUT_S):g} s; check that "
                                 f"'{self.agent_command} agent --stdio' runs there") from None
            if line is None:
                raise self._start_failure()
            try:
                reply = loads_message(line)
                if not isinstance(reply, dict) or "ok" not in reply:
                    raise ValueError
            except ValueError:  # MessageError too
                junk += 1  # a login banner or a shell profile printing something
                log.debug("ignoring a line before the handshake: %r", line[:200])
                if junk > _MAX_BANNER_LINES:
                    raise self._fail(f"{self.location} does not speak the hwlat agent protocol (it printed "
                                     f"{junk} lines that are not JSON); check agent_command") from None
                continue
            break
        theirs_p, theirs_v = reply.get("protocol_version"), reply.get("hwlat_version")
        if reply.get("ok") is not True or theirs_p != PROTOCOL_VERSION or theirs_v != hwlat.__version__:
            err = reply.get("error")
            refusal = err.get("message") if isinstance(err, dict) else None
            detail = "" if reply.get("ok") is True else f" ({str(refusal or 'it refused the handshake')[:500]})"
            theirs_v = str(theirs_v)[:40] if theirs_v else "of an unknown version"
            theirs_p = str(theirs_p)[:20] if theirs_p is not None else "?"
            raise self._fail(
                f"the hwlat agent at {self.location} is hwlat {theirs_v} (agent protocol {theirs_p}), this host runs "
                f"hwlat {hwlat.__version__} (protocol {PROTOCOL_VERSION}){detail}; install the same version on the "
                f"device: pip install hwlat=={hwlat.__version__}")
        return self._checked(reply, "hello")

    def _checked(self, reply: Any, op: str, sent: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            return check_reply(reply, op, self.location, sent)
        except DeviceError as exc:
            raise self._fail(str(exc)) from None

    # -- requests ---------------------------------------------------------------------------------
    def request(self, op: str, *, timeout_s: float | None = None, **fields: Any) -> dict[str, Any]:
        """Send one request and return its reply; an error reply raises the matching hwlat error."""
        if self._broken is not None:
            raise DeviceError(self._broken)
        self._next_id += 1
        rid = self._next_id
        what = f"the request {op!r}"
        self._send({"id": rid, "op": op, **fields}, what)
        timeout = self.timeout_s if timeout_s is None else timeout_s
        while True:
            try:
                line = self._read_line(timeout)
            except TimeoutError:
                raise self._fail(
                    f"the hwlat agent at {self.location} did not answer {what} within {timeout:g} s; raise "
                    "the device option agent_timeout_s if the device is that slow; what was measured before "
                    "is kept: run the same command again to resume") from None
            if line is None:
                raise self._lost(what)
            try:
                reply = loads_message(line)
            except MessageError as exc:
                raise self._fail(f"the hwlat agent at {self.location} answered {what} with a line that is not a "
                                 f"message of the protocol: {exc}; check that the device runs hwlat "
                                 f"{_version()} and that nothing else writes to the agent's output") from None
            reply = self._checked(reply, op, fields)
            got = reply.get("id")
            if got is None or got == rid:
                break
            if not isinstance(got, int) or isinstance(got, bool) or not 0 < got < rid:
                raise self._fail(f"the hwlat agent at {self.location} answered {what} with the id {str(got)[:40]}, "
                                 f"which no request of this host had; check that the device runs hwlat {_version()}")
            log.debug("dropping a stale reply %r", got)
        if reply["ok"]:
            return reply
        raise self._error(reply, op)

    def _error(self, reply: dict[str, Any], op: str) -> Exception:
        kind, msg = reply["error"]["type"], reply["error"]["message"][:4000]
        if kind == "ModelMissing":
            return ModelMissingReply(msg)
        if kind == "UnsupportedOpError":
            return UnsupportedOpError(msg)
        if kind == "InputError":
            return InputError(f"the hwlat agent at {self.location} rejected {op!r}: {msg}")
        if kind in ("DeviceError", "MissingDependencyError"):
            return DeviceError(f"{self.location}: {msg}")
        return DeviceError(f"the hwlat agent at {self.location} failed on {op!r}: {msg}")

    def close(self) -> None:
        """Say goodbye and end the process (idempotent)."""
        if self._broken is None and self._proc.poll() is None:
            try:
                self._send({"id": None, "op": "bye"}, "bye")
            except (DeviceError, InputError):
                pass
        self._broken = self._broken or f"the connection to the agent at {self.location} was closed"
        self._finalizer()
