"""``hwlat agent --stdio``: the worker that measures on a device for a host that drives it.

The agent needs numpy and one runtime (ONNX Runtime or LiteRT) on the device; it never builds
graphs. The host emits each model file (ONNX or TFLite bytes), uploads it once, addressed by
its SHA-256 (the agent keeps it in a cache folder, so a model is never sent twice), and drives
the timing with the same code as a local run: each ``time`` request runs
``Prepared.time_samples(n, number)`` on the device and returns the raw times. The clock is read
on the device, so the round trip to the host is never inside a timed region.

Wire protocol (version :data:`PROTOCOL_VERSION`): JSON lines over stdin/stdout, UTF-8, one JSON
object per line, one reply per request, in order. A request is ``{"id": N, "op": OP, ...}``;
its reply is ``{"id": N, "ok": true, ...}`` or ``{"id": N, "ok": false, "error": {"type":
T, "message": M}}`` where ``T`` is the hwlat error class (``InputError``, ``DeviceError``,
``UnsupportedOpError``, ``MissingDependencyError``), ``ModelMissing`` (prepare a model that was
not uploaded: upload it, then prepare again), ``ProtocolError`` (a malformed, oversized or
unknown request; its ``id`` is null when the line could not be read or the id was not an
integer, a string or null) or ``AgentError`` (an unexpected failure). An error never ends the
agent; end of input or ``bye`` does.

Every line is read within bounds (:mod:`hwlat.profiler.wire`): at most :data:`~hwlat.profiler.wire.MAX_DEPTH`
levels of nesting, integers of at most :data:`~hwlat.profiler.wire.MAX_INT_DIGITS` digits, no
``NaN`` or ``Infinity``; replies are standard JSON. The work of one ``time`` request is bounded
too: :data:`MAX_SAMPLES`, :data:`MAX_NUMBER`, :data:`MAX_CALLS` and :data:`MAX_REQUEST_S`; a
request over one of them gets an ``InputError`` reply that names it.

Binary data travels base64-encoded inside the JSON line (no separate framing): a model in
``put_model``'s ``data``; an array as ``{"dtype": "<f4", "shape": [...], "data": BASE64}``
(C order). Lines longer than ``--max-message-mb`` are read to their end, discarded and answered
with a ``ProtocolError``.

Requests:

``hello`` {protocol_version, hwlat_version}
    -> {protocol_version, hwlat_version, runtimes: {name: {available, version, providers}},
    fingerprint (:func:`hwlat.devices.detect` of the device), max_message_bytes, pid}. A client
    speaking another protocol version gets a ``ProtocolError`` for every later request.
``runtime`` {name, threads, provider, precision, options} -> {runtime: RID, info}
``put_model`` {sha256, format ("onnx" | "tflite"), data} -> {sha256, bytes}
``prepare`` {runtime: RID, sha256, seed, inputs: [ARRAY] | null, return_inputs}
    -> {model: MID, inputs?}. With ``inputs`` (channels-first, as ``Graph.random_inputs``
    makes them) those are bound; without, the file's own random inputs (``prepare_file``).
``time`` {model, n, number} -> {times_s: [n floats]}: seconds per call, each sample the mean
    of ``number`` back-to-back calls
``run`` {model}; ``outputs`` {model} -> {outputs: [ARRAY]}; ``close`` {model}; ``bye``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from hwlat.errors import DeviceError, HwlatError, InputError
from hwlat.profiler.runtimes import Runtime, get_runtime_class
from hwlat.profiler.wire import (
    MAX_MESSAGE_MB,
    MessageError,
    decode_array,
    dumps_message,
    encode_array,
    loads_message,
    message_mb,
)
from hwlat.registry import RUNTIMES

__all__ = ["PROTOCOL_VERSION", "DEFAULT_MAX_MESSAGE_MB", "MAX_SAMPLES", "MAX_NUMBER", "MAX_CALLS", "MAX_REQUEST_S",
           "MAX_ID_CHARS", "served_runtimes", "Agent", "serve", "encode_reply", "encode_array", "decode_array",
           "default_cache_dir", "cmd_agent", "main"]

log = logging.getLogger(__name__)

#: version of the wire protocol; host and agent must speak the same one
PROTOCOL_VERSION = 1
#: the largest request line accepted by default (MB = 2**20 bytes)
DEFAULT_MAX_MESSAGE_MB = 256.0
#: the most samples one ``time`` request may ask for: a round of the measurement protocol takes
#: ``max_runs`` samples (1000 by default), and the reply stays a few MB
MAX_SAMPLES = 100_000
#: the most back-to-back calls one sample may average: enough for a sample of 1 s of a 1 us op
MAX_NUMBER = 1_000_000
#: the most calls one ``time`` request may make (``n * number``): ten seconds of a 1 us op
MAX_CALLS = 10_000_000
#: the longest one ``time`` request may keep the agent timing (s): half the host's default
#: ``agent_timeout_s``, so that the refusal reaches the host before it gives up waiting
MAX_REQUEST_S = 300.0
#: the longest string id echoed back (an id is an integer, a string or null)
MAX_ID_CHARS = 200
#: environment variable naming the model cache folder
CACHE_ENV = "HWLAT_AGENT_CACHE"

_SHA_RE = re.compile(r"[0-9a-f]{64}\Z")


class _ProtocolError(Exception):
    """A request the agent cannot read (malformed, oversized, unknown op, missing field)."""


class _ModelMissing(Exception):
    """``prepare`` named a model that was never uploaded."""


def served_runtimes() -> dict[str, type[Runtime]]:
    """The registered runtimes an agent can serve: those that load model files
    (:attr:`Runtime.model_files`), by name. A runtime that cannot be imported here is left out."""
    out: dict[str, type[Runtime]] = {}
    for name in RUNTIMES.names():
        try:
            cls = get_runtime_class(name)
        except HwlatError as exc:
            log.debug("runtime %s left out of the agent's: %s", name, exc)
            continue
        if cls.model_files:
            out[name] = cls
    return out


def _names(runtimes: dict[str, Any]) -> str:
    names = list(runtimes)
    return " and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " and " + names[-1]


def default_cache_dir() -> Path:
    """``$HWLAT_AGENT_CACHE``, else ``$XDG_CACHE_HOME/hwlat/agent-models`` (``~/.cache/...``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hwlat" / "agent-models"


def _field(msg: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in msg:
        raise _ProtocolError(f"request {msg.get('op')!r} lacks the field {name!r}")
    value = msg[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise _ProtocolError(f"field {name!r} of request {msg.get('op')!r} has the wrong type "
                             f"({type(value).__name__})")
    return value


class Agent:
    """The request handler: one :meth:`handle` call per request (no I/O of its own)."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, *,
                 max_message_bytes: int = int(DEFAULT_MAX_MESSAGE_MB * 2**20),
                 max_request_s: float = MAX_REQUEST_S) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the agent's model cache {self.cache_dir}: {exc.strerror}; "
                             f"give another one with --cache-dir or ${CACHE_ENV}") from exc
        self.max_message_bytes = int(max_message_bytes)
        self.max_request_s = float(max_request_s)
        self.client_protocol: int | None = None
        self._runtimes: dict[int, Any] = {}
        self._models: dict[int, Any] = {}
        self._next = 0
        self.done = False

    # -- dispatch ---------------------------------------------------------------------------
    def handle_line(self, line: bytes) -> dict[str, Any]:
        """The reply to one request line as it was read; a line that is not a message of the
        protocol (see :func:`~hwlat.profiler.wire.loads_message`) gets a ``ProtocolError`` reply."""
        try:
            msg = loads_message(line)
        except MessageError as exc:
            return _error_reply(None, "ProtocolError", f"a message of {len(line)} bytes was rejected: {exc}")
        return self.handle(msg)

    def handle(self, msg: Any) -> dict[str, Any]:
        """The reply to one decoded request; every failure becomes an error reply."""
        rid = msg.get("id") if isinstance(msg, dict) else None
        try:
            if not isinstance(msg, dict):
                raise _ProtocolError(f"a request is a JSON object, got {type(msg).__name__}")
            if not (rid is None or (isinstance(rid, int) and not isinstance(rid, bool))
                    or (isinstance(rid, str) and len(rid) <= MAX_ID_CHARS)):
                rid = None
                raise _ProtocolError(f"a request's id is an integer, a string of at most {MAX_ID_CHARS} "
                                     f"characters or null, not {_short(msg['id'])}")
            op = msg.get("op")
            handler = getattr(self, f"_op_{op}", None) if isinstance(op, str) else None
            if handler is None:
                raise _ProtocolError(f"unknown request {_short(op)}; this agent (protocol {PROTOCOL_VERSION}) "
                                     "knows " + ", ".join(sorted(n[4:] for n in dir(self) if n.startswith("_op_"))))
            if op not in ("hello", "bye") and self.client_protocol not in (None, PROTOCOL_VERSION):
                raise _ProtocolError(f"this agent speaks protocol {PROTOCOL_VERSION}, the host "
                                     f"{self.client_protocol}; install the same hwlat version on both")
            return {"id": rid, "ok": True, **handler(msg)}
        except _ProtocolError as exc:
            return _error_reply(rid, "ProtocolError", str(exc))
        except _ModelMissing as exc:
            return _error_reply(rid, "ModelMissing", str(exc))
        except HwlatError as exc:
            return _error_reply(rid, type(exc).__name__, str(exc))
        except Exception as exc:  # the agent outlives whatever a runtime throws
            log.exception("request %s failed", _short(msg.get("op") if isinstance(msg, dict) else msg))
            return _error_reply(rid, "AgentError", f"{type(exc).__name__}: {str(exc)[:2000]}")

    # -- requests ---------------------------------------------------------------------------
    def _op_hello(self, msg: dict[str, Any]) -> dict[str, Any]:
        import hwlat
        from hwlat.devices.fingerprint import detect

        client = msg.get("protocol_version")
        self.client_protocol = client if isinstance(client, int) else -1
        return {"protocol_version": PROTOCOL_VERSION, "hwlat_version": hwlat.__version__,
                "runtimes": self._runtime_table(), "fingerprint": detect(),
                "max_message_bytes": self.max_message_bytes, "pid": os.getpid()}

    @staticmethod
    def _runtime_table() -> dict[str, dict[str, Any]]:
        out = {}
        for name, cls in served_runtimes().items():
            ok = bool(cls.is_available())
            out[name] = {"available": ok, "version": cls.version() if ok else None, "providers": list(cls.providers)}
        return out

    def _op_runtime(self, msg: dict[str, Any]) -> dict[str, Any]:
        name = _field(msg, "name", str)
        served = served_runtimes()
        if name not in served:
            raise InputError(f"the hwlat agent runs {_names(served)} models, not {name!r}; "
                             "use a device spec with one of those runtimes")
        cls = served[name]
        if not cls.is_available():
            others = [f"{n} {v['version']}" for n, v in self._runtime_table().items() if v["available"]]
            raise DeviceError(f"runtime {name} is not installed on this device (available: "
                              f"{', '.join(others) or 'none'}); "
                              f"install it there: pip install {cls.distribution or name}")
        options = msg.get("options") or {}
        if not isinstance(options, dict):
            raise _ProtocolError("field 'options' must be an object")
        rt = cls(threads=_field(msg, "threads", int), provider=_field(msg, "provider", str),
                 precision=msg.get("precision", "fp32"), options=options)
        if rt.provider == "cuda" and not cls.cuda_available():
            raise DeviceError(f"runtime {name} on this device cannot use CUDA (no NVIDIA GPU, or a build of "
                              f"{cls.distribution or name} without CUDA); install its CUDA build there")
        rid = self._new_id()
        self._runtimes[rid] = rt
        return {"runtime": rid, "info": rt.info()}

    def _model_path(self, sha: str, fmt: str) -> Path:
        return self.cache_dir / f"{sha}.{fmt}"

    def _op_put_model(self, msg: dict[str, Any]) -> dict[str, Any]:
        from hwlat._io import atomic_write_bytes

        sha = _field(msg, "sha256", str)
        fmt = _field(msg, "format", str)
        if not _SHA_RE.match(sha):
            raise _ProtocolError("sha256 must be 64 lowercase hex digits")
        formats = sorted({cls.model_format for cls in served_runtimes().values()})
        if fmt not in formats:
            raise InputError(f"model format {fmt!r} is not one the agent runs ({', '.join(formats)})")
        try:
            data = base64.b64decode(_field(msg, "data", str), validate=True)
        except ValueError as exc:
            raise _ProtocolError(f"the model data is not valid base64: {exc}") from None
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            raise InputError(f"the model received has SHA-256 {got[:12]}..., not the {sha[:12]}... announced: "
                             "it was damaged on the way; send it again")
        path = self._model_path(sha, fmt)
        if not path.exists():
            atomic_write_bytes(path, data)
        return {"sha256": sha, "bytes": len(data)}

    def _op_prepare(self, msg: dict[str, Any]) -> dict[str, Any]:
        rt = self._runtime(msg)
        sha = _field(msg, "sha256", str)
        if not _SHA_RE.match(sha):
            raise _ProtocolError("sha256 must be 64 lowercase hex digits")
        path = self._model_path(sha, rt.model_format)
        if not path.is_file():
            raise _ModelMissing(f"model {sha[:12]}... is not in the agent's cache; upload it with put_model")
        seed = msg.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise _ProtocolError("field 'seed' must be a non-negative integer")
        raw_inputs = msg.get("inputs")
        if not isinstance(raw_inputs, (list, type(None))) or not isinstance(msg.get("return_inputs", False), bool):
            raise _ProtocolError("field 'inputs' must be a list of arrays or null, and 'return_inputs' true or false")
        inputs = None if raw_inputs is None else [decode_array(a) for a in raw_inputs]
        # with the inputs sent (channels-first, as Graph.random_inputs makes them) bound as
        # rt.prepare would bind them; without, the file's own random inputs
        prepared = rt.prepare_file(path, seed=seed, inputs=inputs)
        mid = self._new_id()
        self._models[mid] = prepared
        reply: dict[str, Any] = {"model": mid}
        if msg.get("return_inputs"):
            reply["inputs"] = [encode_array(x) for x in prepared.inputs]
        return reply

    def _op_time(self, msg: dict[str, Any]) -> dict[str, Any]:
        prepared = self._model(msg)
        n, number = _field(msg, "n", int), msg.get("number", 1)
        if not isinstance(number, int) or isinstance(number, bool) or n < 1 or number < 1:
            raise _ProtocolError("'n' and 'number' must be positive integers")
        for value, limit, what in ((n, MAX_SAMPLES, "samples (n)"), (number, MAX_NUMBER, "calls per sample (number)"),
                                   (n * number, MAX_CALLS, "calls (n * number)")):
            if value > limit:
                raise InputError(f"a time request may ask for at most {limit} {what}, not {value}; ask for "
                                 "fewer in each request (a profile's are set by its protocol: max_runs, sample_time_s)")
        return {"times_s": [float(t) for t in self._time_bounded(prepared, n, number)]}

    def _time_bounded(self, prepared: Any, n: int, number: int) -> np.ndarray:
        """``prepared.time_samples(n, number)`` in chunks of whole samples (the timed regions are the
        same), refused once it is over :attr:`max_request_s`, or sure to be: after a tenth of that
        time, the samples after the first chunk (which may hold a cold call) project the rest."""
        start = time.monotonic()
        parts: list[np.ndarray] = []
        done, chunk, after_first = 0, 1, (0.0, 0)
        while done < n:
            k = min(chunk, n - done)
            t0 = time.monotonic()
            parts.append(np.asarray(prepared.time_samples(k, number), dtype=np.float64).reshape(-1))
            done, now = done + k, time.monotonic()
            if len(parts) == 1:
                after_first = (now, done)
            span, samples = now - after_first[0], done - after_first[1]
            eta = span / samples * (n - done) if samples and span >= 0.1 * self.max_request_s else 0.0
            if done < n and now - start + eta > self.max_request_s:
                raise InputError(f"a time request of {n} samples of {number} calls would take more than "
                                 f"{self.max_request_s:g} s (after {now - start:.3g} s, {done} samples were "
                                 "done), the most the agent times in one request; ask for fewer samples in each "
                                 "(a profile's are set by its protocol: max_runs, round_time_s)")
            chunk = 2 * k if now - t0 < 0.25 else k
        return np.concatenate(parts)

    def _op_run(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._model(msg).run()
        return {}

    def _op_outputs(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {"outputs": [encode_array(np.asarray(o)) for o in self._model(msg).outputs()]}

    def _op_close(self, msg: dict[str, Any]) -> dict[str, Any]:
        prepared = self._models.pop(_field(msg, "model", int), None)
        if prepared is not None:
            prepared.close()
        return {}

    def _op_bye(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.done = True
        return {}

    # -- helpers ----------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next += 1
        return self._next

    def _runtime(self, msg: dict[str, Any]) -> Any:
        rid = _field(msg, "runtime", int)
        if rid not in self._runtimes:
            raise _ProtocolError(f"no runtime {rid} was opened in this session")
        return self._runtimes[rid]

    def _model(self, msg: dict[str, Any]) -> Any:
        mid = _field(msg, "model", int)
        if mid not in self._models:
            raise _ProtocolError(f"no prepared model {mid} in this session (closed, or never prepared)")
        return self._models[mid]

    def close(self) -> None:
        for prepared in self._models.values():
            prepared.close()
        self._models.clear()


def _error_reply(rid: Any, kind: str, message: str) -> dict[str, Any]:
    return {"id": rid, "ok": False, "error": {"type": kind, "message": message}}


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) or value is None else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def encode_reply(reply: dict[str, Any]) -> bytes:
    """``reply`` as one line of standard JSON; a reply that JSON cannot hold (a NaN time from a
    runtime, an object) becomes an ``AgentError`` reply to the same request."""
    try:
        return dumps_message(reply)
    except (TypeError, ValueError) as exc:
        log.warning("a reply could not be written as JSON: %s", exc)
        return dumps_message(_error_reply(reply.get("id"), "AgentError",
                                          f"the reply could not be written as standard JSON ({exc})"))


# -- the stdio loop ---------------------------------------------------------------------------------

def _read_line(rfile: IO[bytes], limit: int) -> bytes | None:
    """The next line (without its newline), None at end of input; raises _ProtocolError for a line
    over ``limit`` bytes after reading it to its end."""
    line = rfile.readline(limit + 1)
    if not line:
        return None
    if len(line) > limit and not line.endswith(b"\n"):
        skipped = len(line)
        while True:
            chunk = rfile.readline(1 << 20)
            skipped += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                break
        raise _ProtocolError(f"a message of {skipped / 2**20:.1f} MB was rejected: the agent accepts at most "
                             f"{limit / 2**20:.3g} MB per message (start it with a larger --max-message-mb)")
    return line.rstrip(b"\r\n")


def serve(agent: Agent, rfile: IO[bytes], wfile: IO[bytes]) -> int:
    """Answer requests from ``rfile`` on ``wfile`` until end of input or ``bye``; returns 0."""

    def send(reply: dict[str, Any]) -> None:
        wfile.write(encode_reply(reply))
        wfile.flush()

    try:
        while not agent.done:
            try:
                line = _read_line(rfile, agent.max_message_bytes)
            except _ProtocolError as exc:
                send(_error_reply(None, "ProtocolError", str(exc)))
                continue
            if line is None:
                break
            if not line.strip():
                continue
            send(agent.handle_line(line))
    except BrokenPipeError:
        pass  # the host went away
    finally:
        agent.close()
    return 0


def _serve_stdio(agent: Agent) -> int:
    # Keep the protocol stream clean: whatever a runtime prints (to fd 1 or sys.stdout) goes to stderr.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with os.fdopen(out_fd, "wb") as wfile:
        return serve(agent, sys.stdin.buffer, wfile)


# -- command line -----------------------------------------------------------------------------------

def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stdio", action="store_true", required=True,
                   help="talk JSON lines over stdin/stdout (the only transport: ssh and subprocesses use it)")
    p.add_argument("--cache-dir", metavar="DIR", default=None,
                   help=f"where uploaded models are kept, by SHA-256; unset: ${CACHE_ENV}, else "
                        "~/.cache/hwlat/agent-models")
    p.add_argument("--max-message-mb", type=message_mb, default=DEFAULT_MAX_MESSAGE_MB, metavar="N",
                   help=f"reject request lines larger than this (MB; over 0, at most {MAX_MESSAGE_MB:g})")


def cmd_agent(args: argparse.Namespace) -> int:
    """Run the agent on stdin/stdout until the host closes the stream."""
    agent = Agent(args.cache_dir, max_message_bytes=int(args.max_message_mb * 2**20))
    try:
        return _serve_stdio(agent)
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hwlat.profiler.agent [agent] --stdio ...`` (a leading ``agent`` is ignored, so
    that an agent command of ``python -m hwlat.profiler.agent`` takes the arguments ``hwlat`` takes)."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["agent"]:
        args_in = args_in[1:]
    p = argparse.ArgumentParser(
        prog="hwlat agent", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A worker that runs on the device: the host uploads ONNX/TFLite models and asks for "
                    "timings over a JSON-lines stream on stdin/stdout. A host starts it itself "
                    "(ssh DEVICE hwlat agent --stdio); there is no need to run it by hand.",
        epilog="examples:\n  hwlat agent --stdio\n  ssh pi@board hwlat agent --stdio --cache-dir /tmp/hwlat-models")
    _configure(p)
    args = p.parse_args(args_in)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        return cmd_agent(args)
    except HwlatError as exc:
        print(f"hwlat agent: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    sys.exit(main())
