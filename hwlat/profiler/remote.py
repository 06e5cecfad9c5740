"""Profiling a device through ``hwlat agent --stdio``: over SSH or as a local subprocess.

:class:`RemoteRuntime` is a :class:`~hwlat.profiler.runtimes.Runtime` whose prepared models live
in an agent process (see :mod:`hwlat.profiler.agent` for the wire protocol), so the profiler's
own warm-up, rounds and re-measurement logic drive a remote device exactly as a local one:
every ``time_calls``/``time_samples`` call is one round trip that returns raw times measured on
the device. The host emits each graph as an ONNX or TFLite file (as the local runtimes do),
uploads it once by SHA-256 and sends the same random inputs a local run would bind.

Where the agent runs is the device spec's ``location``:

``ssh://[user@]host[:port]``
    ``ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new ... [user@]host hwlat agent --stdio``
    (see :func:`hwlat.profiler.connection.ssh_command`). The table records the fingerprint of that host.
``subprocess`` (or ``subprocess://``)
    a child process on this machine, ``python -m hwlat.profiler.agent --stdio`` with this
    interpreter: the same protocol without a network (for testing agents, or for isolating the
    measuring process from the host's).

Device-spec options for the transport (removed before the runtime options are sent):

``ssh_identity``
    a private key file (``ssh -i FILE -o IdentitiesOnly=yes``)
``ssh_options``
    a list of ``Key=Value`` ssh options (each passed as ``-o Key=Value``; they take precedence
    over hwlat's defaults)
``agent_command``
    the hwlat command on the device, followed by ``agent --stdio`` (default ``hwlat``; e.g.
    ``"/home/pi/venv/bin/python -m hwlat"`` or ``"cd /opt/hwlat && python -m hwlat"``; for
    ``subprocess`` the default is this interpreter)
``agent_timeout_s``
    the longest one request may take, in seconds (default 600)

Errors are one :class:`~hwlat.errors.DeviceError` each, with what to do: an unreachable host, a
refused key, an agent of another hwlat version, a runtime the device lacks, an agent that dies
mid-profile (the profile's checkpoint keeps what was measured; rerun to resume).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hwlat.errors import DeviceError, InputError
from hwlat.ops.ir import Graph
from hwlat.profiler.agent import served_runtimes
from hwlat.profiler.connection import (
    DEFAULT_TIMEOUT_S,
    START_TIMEOUT_S,
    AgentConnection,
    ModelMissingReply,
    ssh_command,
    subprocess_command,
)
from hwlat.profiler.runtimes.base import Prepared, Runtime
from hwlat.profiler.wire import decode_array, encode_array

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec

__all__ = ["RemoteRuntime", "agent_runtime", "TRANSPORT_OPTIONS", "SUBPROCESS_LOCATIONS"]

log = logging.getLogger(__name__)

#: device-spec options that configure the transport, not the runtime
TRANSPORT_OPTIONS = ("ssh_identity", "ssh_options", "agent_command", "agent_timeout_s")
#: locations that start the agent as a local child process
SUBPROCESS_LOCATIONS = ("subprocess", "subprocess://")


# -- the runtime ------------------------------------------------------------------------------------

def _arrays(reply: dict[str, Any], field: str, op: str, location: str) -> list[np.ndarray]:
    """The arrays of a reply's ``field``; a malformed one is a :class:`DeviceError` naming the agent."""
    raw = reply.get(field)
    try:
        if not isinstance(raw, list):
            raise InputError(f"its field {field!r} is not a list of arrays")
        return [decode_array(a) for a in raw]
    except InputError as exc:
        raise DeviceError(f"the hwlat agent at {location} sent a malformed reply to {op!r}: {exc}; check that "
                          "the device runs the same hwlat version as this host") from None


class _RemotePrepared(Prepared):
    """A model prepared in the agent; every call is one round trip, timed on the device."""

    def __init__(self, runtime: RemoteRuntime, model_id: int, inputs: list[np.ndarray]) -> None:
        self._rt = runtime
        self._id: int | None = model_id
        self.inputs = inputs

    def _model(self) -> int:
        if self._id is None:
            raise InputError("this remote model was closed; prepare it again before running it")
        return self._id

    def run(self) -> None:
        self._rt.connection.request("run", model=self._model())

    def outputs(self) -> list[np.ndarray]:
        reply = self._rt.connection.request("outputs", model=self._model())
        return _arrays(reply, "outputs", "outputs", self._rt.location)

    def time_calls(self, n: int) -> np.ndarray:
        return self.time_samples(n, 1)

    def time_samples(self, n: int, number: int = 1) -> np.ndarray:
        """``n`` samples timed on the device, each the mean seconds of ``number`` calls."""
        if n <= 0:
            return np.empty(0, dtype=np.float64)
        reply = self._rt.connection.request("time", model=self._model(), n=int(n), number=max(1, int(number)))
        return np.asarray(reply["times_s"], dtype=np.float64)  # n finite times >= 0: checked by the connection

    def close(self) -> None:
        if self._id is None:
            return
        mid, self._id = self._id, None
        if self._rt.connection.alive:
            try:
                self._rt.connection.request("close", model=mid)
            except DeviceError as exc:  # closing never hides the error that ended a profile
                log.debug("closing remote model %d failed: %s", mid, exc)


class RemoteRuntime(Runtime):
    """A runtime (``onnxruntime`` or ``litert``) served by an hwlat agent.

    ``command`` is the argv that starts ``hwlat agent --stdio`` (default: a local subprocess with
    this interpreter); ``location`` names the agent in messages and provenance. The agent is
    started, its version checked and the runtime opened here, so a device that cannot serve the
    runtime fails at construction with one :class:`DeviceError`. :attr:`host_fingerprint` is
    the device's :func:`~hwlat.devices.detect`. Use :meth:`for_device` for a device spec.
    """

    name = "remote"
    model_format = "onnx"
    providers: ClassVar[tuple[str, ...]] = ()  # the served runtime's, set per instance

    def __init__(self, runtime: str = "onnxruntime", *, command: Sequence[str] | None = None,
                 location: str = "subprocess", kind: str = "subprocess", threads: int = 1,
                 provider: str | None = None, precision: str = "fp32", options: dict[str, Any] | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, env: Mapping[str, str] | None = None,
                 cwd: str | os.PathLike[str] | None = None, agent_command: str = "hwlat") -> None:
        served = served_runtimes()
        if runtime not in served:
            raise InputError(f"the hwlat agent runs {' and '.join(served)} models, not {runtime!r}; "
                             f"profile {runtime} devices locally")
        cls = served[runtime]
        self._backend = cls  # emits the models the agent runs
        self.name = cls.name  # type: ignore[misc]
        self.model_format = cls.model_format  # type: ignore[misc]
        self.providers = cls.providers  # type: ignore[misc]
        self.model_files = cls.model_files  # type: ignore[misc]
        self.distribution = cls.distribution  # type: ignore[misc]
        super().__init__(threads=threads, provider=provider or cls.providers[0], precision=precision,
                         options=options)
        if not timeout_s > 0:
            raise InputError(f"agent_timeout_s must be a positive number of seconds, got {timeout_s!r}")
        self.location = location
        self.uploads = 0  #: models sent to the agent by this runtime (the others were in its cache)
        self.connection = AgentConnection(command or subprocess_command(), location=location, kind=kind,
                                          timeout_s=timeout_s, env=env, cwd=cwd, agent_command=agent_command)
        try:
            reply = self.connection.request(
                "runtime", name=self.name, threads=self.threads, provider=self.provider, precision=self.precision,
                options=self.options, timeout_s=min(float(timeout_s), START_TIMEOUT_S))
        except BaseException:
            self.connection.close()
            raise
        self._rid = int(reply["runtime"])
        self._info = dict(reply["info"])

    # -- construction from a device spec -----------------------------------------------------------
    @classmethod
    def for_device(cls, device: DeviceSpec) -> RemoteRuntime:
        """The runtime for an ``ssh://`` or ``subprocess`` device spec (see the module docs for the
        transport options)."""
        options = dict(device.options)
        transport = {k: options.pop(k) for k in TRANSPORT_OPTIONS if k in options}
        where = f"device {device.name!r}"
        agent_command = transport.get("agent_command")
        if agent_command is not None and (not isinstance(agent_command, str) or not agent_command.strip()):
            raise InputError(f"{where}: option agent_command must be a command line (a string), "
                             f"got {agent_command!r}")
        timeout = transport.get("agent_timeout_s", DEFAULT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InputError(f"{where}: option agent_timeout_s must be a positive number of seconds, got {timeout!r}")
        served = served_runtimes()
        if device.runtime not in served:
            raise InputError(f"{where}: the hwlat agent at {device.location} runs {' and '.join(served)} "
                             f"models; runtime {device.runtime!r} can only be profiled locally")
        common: dict[str, Any] = {"threads": device.threads, "provider": device.provider,
                                  "precision": device.precision, "options": options,
                                  "timeout_s": float(timeout), "location": device.location}
        if device.location in SUBPROCESS_LOCATIONS:
            if "ssh_identity" in transport or "ssh_options" in transport:
                raise InputError(f"{where}: ssh_identity and ssh_options apply to ssh:// locations only")
            return cls(device.runtime, command=subprocess_command(agent_command), kind="subprocess",
                       agent_command=agent_command or "python -m hwlat", **common)
        target = device.ssh_target
        if target is None:
            raise InputError(f"{where}: location {device.location!r} is neither ssh:// nor subprocess")
        identity = transport.get("ssh_identity")
        if identity is not None and (not isinstance(identity, str) or not Path(identity).expanduser().is_file()):
            raise InputError(f"{where}: ssh_identity {identity!r} is not a key file; give the path of the "
                             "private key the device accepts (e.g. ~/.ssh/id_ed25519)")
        ssh_opts = transport.get("ssh_options", [])
        if isinstance(ssh_opts, str):
            ssh_opts = [ssh_opts]
        if not isinstance(ssh_opts, (list, tuple)) or not all(isinstance(o, str) and "=" in o for o in ssh_opts):
            raise InputError(f"{where}: ssh_options must be a list of 'Key=Value' ssh options, got {ssh_opts!r}")
        command = ssh_command(target, identity=identity, ssh_options=ssh_opts,
                              agent_command=agent_command or "hwlat")
        return cls(device.runtime, command=command, kind="ssh", agent_command=agent_command or "hwlat", **common)

    @classmethod
    def over_ssh(cls, location: str, runtime: str = "onnxruntime", *, identity: str | None = None,
                 ssh_options: Sequence[str] = (), agent_command: str = "hwlat", **kwargs: Any) -> RemoteRuntime:
        """A runtime served by ``agent_command agent --stdio`` on the host at ``location``."""
        command = ssh_command(location, identity=identity, ssh_options=ssh_options, agent_command=agent_command)
        return cls(runtime, command=command, location=location, kind="ssh", agent_command=agent_command, **kwargs)

    # -- Runtime ----------------------------------------------------------------------------------
    def is_available(self) -> bool:  # type: ignore[override]
        """True while the agent is connected (a runtime the device lacks fails at construction)."""
        return self.connection.alive

    def version(self) -> str:  # type: ignore[override]
        """The runtime's version on the device."""
        return str(self._info.get("runtime_version"))

    @property
    def host_fingerprint(self) -> dict[str, Any]:
        """The device's fingerprint (:func:`hwlat.devices.detect` run there)."""
        return dict(self.connection.hello.get("fingerprint") or {})

    @property
    def agent_version(self) -> str:
        return str(self.connection.hello.get("hwlat_version"))

    def info(self) -> dict[str, Any]:
        return {**self._info, "location": self.location}

    def emit(self, graph: Graph) -> bytes:  # type: ignore[override]
        """``graph`` in the served runtime's format (emitted here, run there)."""
        return self._backend.emit(graph)

    def _prepare_bytes(self, data: bytes, **fields: Any) -> dict[str, Any]:
        """Prepare by content hash; upload the bytes only when the agent's cache lacks them."""
        sha = hashlib.sha256(data).hexdigest()
        args = {"runtime": self._rid, "sha256": sha, **fields}
        try:
            return self.connection.request("prepare", **args)
        except ModelMissingReply:
            pass
        self.connection.request("put_model", sha256=sha, format=self.model_format,
                                data=base64.b64encode(data).decode("ascii"))
        self.uploads += 1
        try:
            return self.connection.request("prepare", **args)
        except ModelMissingReply as exc:
            raise DeviceError(f"the hwlat agent at {self.location} lost a model just uploaded ({exc}); check "
                              "that its cache folder is writable and not cleaned while it runs") from None

    def prepare(self, graph: Graph, *, seed: int = 0) -> Prepared:
        """Emit ``graph`` here, run it on the device with the inputs a local run would bind."""
        inputs = graph.random_inputs(seed)
        reply = self._prepare_bytes(self.emit(graph), seed=seed, inputs=[encode_array(x) for x in inputs])
        return _RemotePrepared(self, int(reply["model"]), inputs)

    def prepare_file(self, path: str | os.PathLike[str], *, seed: int = 0,
                     inputs: Sequence[np.ndarray] | None = None) -> Prepared:
        """Upload a model file (``.onnx`` for onnxruntime, ``.tflite`` for litert) and load it there
        with random inputs made on the device (returned, so ``inputs`` holds them), or with ``inputs``."""
        p = Path(path)
        if p.suffix.lower() != f".{self.model_format}":
            raise InputError(f"{p} is not a .{self.model_format} file, which runtime {self.name} needs")
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read model file {p}: {exc.strerror}") from exc
        if inputs is not None:
            sent = [np.asarray(x) for x in inputs]
            reply = self._prepare_bytes(data, seed=seed, inputs=[encode_array(x) for x in sent])
            return _RemotePrepared(self, int(reply["model"]), sent)
        reply = self._prepare_bytes(data, seed=seed, inputs=None, return_inputs=True)
        return _RemotePrepared(self, int(reply["model"]), _arrays(reply, "inputs", "prepare", self.location))

    def close(self) -> None:
        """End the agent session."""
        self.connection.close()

    def __repr__(self) -> str:
        return f"RemoteRuntime({self.name!r}, location={self.location!r}, provider={self.provider!r}, " \
               f"threads={self.threads})"


# -- the transport ----------------------------------------------------------------------------------

def agent_runtime(device: DeviceSpec) -> RemoteRuntime:
    """The transport of ``ssh://`` and ``subprocess`` devices (see :data:`hwlat.registry.TRANSPORTS`)."""
    return RemoteRuntime.for_device(device)
