"""The options a device spec may hold (``options:`` in its YAML), checked when a spec file is read.

An option is a runtime setting (``graph_optimization_level`` for ONNX Runtime, ``mode`` for
PyTorch) or a setting of the transport that reaches the device (``agent_command`` and
``ssh_options`` for ``ssh://``, ``benchmark_model`` for ``adb://``). Which names a spec accepts
depends on its runtime and on its location kind; a name outside them is an error that lists the
accepted ones, and every value is checked against its type and bounds.

Some options make hwlat run programs: :func:`executed` lists those a spec sets, so that a user
can see what a device folder will run before using it (``hwlat devices check``).

The tables here describe hwlat's own runtimes and transports (``hwlat.profiler`` reads the same
options; a test keeps both sides equal). A runtime or transport a plugin registers may declare its
option names with the registration's ``options`` meta (``RUNTIMES.register(name, obj,
options=("a", "b"))``); one that declares none accepts any options.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hwlat.devices.spec import _NUMBER_TEXT_RE, MAX_THREADS, field_error
from hwlat.errors import InputError
from hwlat.registry import RUNTIMES, TRANSPORTS

__all__ = ["OptionSpec", "RUNTIME_OPTIONS", "TRANSPORT_OPTIONS", "MAX_SECONDS", "accepted_options",
           "check_options", "executed"]

#: the longest time any timeout option may ask for: one day
MAX_SECONDS = 86400.0

_SSH_OPTION_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*=.*\Z")
#: ssh options whose value ssh runs as a command on this machine
_SSH_LOCAL_COMMANDS = ("proxycommand", "localcommand", "knownhostscommand")


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", type(None): "null"}.get(type(value), type(value).__name__)


def _got(value: Any) -> str:
    text = f"got {_type_name(value)} {value!r}"
    if isinstance(value, str) and _NUMBER_TEXT_RE.match(value.strip()):
        text += " (YAML reads a number such as 1e3 without a '.' as text: write 1000 or 1.0e+3)"
    return text


@dataclass(frozen=True)
class OptionSpec:
    """One option: its ``kind`` (how the value is checked), a one-line ``help`` and, when the
    option makes hwlat run or write something, ``runs``: where (``"this machine"``, ``"the device"``)."""

    name: str
    kind: str  # choice|int|seconds|seconds0|text|command|path|remote_dir|ssh_options|flags|hexmask
    help: str
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = MAX_SECONDS
    runs: str = ""

    def check(self, value: Any, where: str) -> None:
        """Raise :class:`InputError` (naming the option and ``where``) unless ``value`` fits."""
        bad = f"{where}: option {self.name!r} ({self.help}) "
        if self.kind == "choice":
            if value not in self.choices:
                raise InputError(bad + f"must be one of {', '.join(self.choices)}, {_got(value)}")
        elif self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
                raise InputError(bad + f"must be an integer from {self.low:g} to {self.high:g}, {_got(value)}")
        elif self.kind in ("seconds", "seconds0"):  # seconds0: zero allowed
            zero = self.kind == "seconds0"
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or not (value >= 0 if zero else value > 0) or value > self.high):
                lo = "from 0" if zero else "above 0"
                raise InputError(bad + f"must be a number of seconds {lo} up to {self.high:g}, {_got(value)}")
        elif self.kind in ("text", "command", "path", "remote_dir"):
            if not isinstance(value, str) or not value.strip() or any(c in value for c in "\n\r\0"):
                raise InputError(bad + f"must be a non-empty one-line string, {_got(value)}")
            if self.kind == "remote_dir" and (not value.startswith("/") or "'" in value):
                raise InputError(bad + f"must be an absolute path on the device without quotes, {_got(value)}")
        elif self.kind == "hexmask":
            if not isinstance(value, (str, int)) or isinstance(value, bool) \
                    or not re.fullmatch(r"(?:0x)?[0-9A-Fa-f]+", str(value)):
                raise InputError(bad + f"must be a hexadecimal CPU mask such as 'f0', {_got(value)}")
        elif self.kind in ("ssh_options", "flags"):
            items = [value] if isinstance(value, str) and self.kind == "ssh_options" else value
            want = ("a list of 'Key=Value' ssh options, e.g. ['ProxyJump=gateway']" if self.kind == "ssh_options"
                    else "a list of '--name=value' strings")
            if not isinstance(items, list):
                raise InputError(bad + f"must be {want}, {_got(value)}")
            for item in items:
                ok = isinstance(item, str) and not any(c in item for c in "\n\r\0") and (
                    _SSH_OPTION_RE.match(item) is not None if self.kind == "ssh_options"
                    else item.startswith("--") and len(item) > 2)
                if not ok:
                    raise InputError(bad + f"must be {want}; {_got(item)}")
        else:  # pragma: no cover - the tables below use the kinds above only
            raise AssertionError(self.kind)


_RT = "the runtime on the device"
#: the options each of hwlat's runtimes understands (``hwlat.profiler.runtimes``)
RUNTIME_OPTIONS: Mapping[str, tuple[OptionSpec, ...]] = {
    "onnxruntime": (
        OptionSpec("graph_optimization_level", "choice", "ONNX Runtime's graph optimisations",
                   choices=("disable", "basic", "extended", "all")),
        OptionSpec("inter_op_threads", "int", "ONNX Runtime's inter-op threads", low=1, high=MAX_THREADS),
        OptionSpec("execution_mode", "choice", "ONNX Runtime's execution mode", choices=("sequential", "parallel")),
    ),
    "litert": (),
    "torch": (OptionSpec("mode", "choice", "eager PyTorch or TorchScript", choices=("eager", "jit")),),
}

_AGENT_TIMEOUT = OptionSpec("agent_timeout_s", "seconds", "the longest one request to the agent may take")
#: the options each of hwlat's transports understands (``hwlat.profiler.remote``, ``hwlat.profiler.adb``)
TRANSPORT_OPTIONS: Mapping[str, tuple[OptionSpec, ...]] = {
    "local": (),
    "subprocess": (
        OptionSpec("agent_command", "command", "the hwlat command started with 'agent --stdio'",
                   runs="this machine"),
        _AGENT_TIMEOUT,
    ),
    "ssh": (
        OptionSpec("agent_command", "command", "the hwlat command on the device, started with 'agent --stdio'",
                   runs="the device"),
        OptionSpec("ssh_identity", "path", "the private key ssh logs in with"),
        OptionSpec("ssh_options", "ssh_options", "'Key=Value' options handed to ssh on this machine",
                   runs="this machine"),
        _AGENT_TIMEOUT,
    ),
    "adb": (
        OptionSpec("benchmark_model", "path", "the benchmark_model binary pushed to the phone and run there",
                   runs="the device"),
        OptionSpec("adb", "path", "the adb executable", runs="this machine"),
        OptionSpec("remote_dir", "remote_dir", "the folder on the phone for the binary and the models",
                   runs="the device (a folder hwlat writes)"),
        OptionSpec("warmup_runs", "int", "benchmark_model's warm-up runs per invocation", high=100_000),
        OptionSpec("warmup_min_secs", "seconds0", "benchmark_model's least warm-up time per invocation", high=3600),
        OptionSpec("taskset", "hexmask", "the CPU mask benchmark_model runs under"),
        OptionSpec("extra_flags", "flags", "more benchmark_model flags", runs="the device"),
        OptionSpec("timeout_s", "seconds", "the longest one adb command may take"),
    ),
}
#: transports that hand the device only their own options (no runtime options reach it)
_TRANSPORT_ONLY = ("adb",)


def _declared(meta: Mapping[str, Any]) -> dict[str, OptionSpec | None] | None:
    names = meta.get("options")
    if names is None:
        return None
    return {str(n): None for n in names}


def accepted_options(runtime: str, location_kind: str) -> dict[str, OptionSpec | None] | None:
    """name -> :class:`OptionSpec` (None: a plugin's option, any value) of the options a spec with
    this runtime and location kind accepts; None when a plugin declares no options (any accepted)."""
    if location_kind in TRANSPORT_OPTIONS:
        transport: dict[str, OptionSpec | None] | None = {o.name: o for o in TRANSPORT_OPTIONS[location_kind]}
    else:
        transport = _declared(TRANSPORTS.meta(location_kind)) if location_kind in TRANSPORTS else None
    if location_kind in _TRANSPORT_ONLY:
        return transport
    if runtime in RUNTIME_OPTIONS:
        own: dict[str, OptionSpec | None] | None = {o.name: o for o in RUNTIME_OPTIONS[runtime]}
    else:
        own = _declared(RUNTIMES.meta(runtime)) if runtime in RUNTIMES else None
    if own is None or transport is None:
        return None
    return {**own, **transport}


def check_options(options: Mapping[str, Any], runtime: str, location_kind: str, where: str) -> None:
    """Raise :class:`InputError` for an option this runtime and location do not take (listing the
    accepted ones, with the closest name) or a value out of its type or bounds.

    The error's ``field`` attribute is ``("options", NAME)``, for pointing at the line."""
    accepted = accepted_options(runtime, location_kind)
    if accepted is None:
        return
    for name, value in options.items():
        if name not in accepted:
            close = difflib.get_close_matches(str(name), list(accepted), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            on = f"runtime {runtime}" + ("" if location_kind == "local" else f" with location kind {location_kind!r}")
            known = ", ".join(accepted) or "none (leave options empty)"
            raise field_error(("options", name),
                              f"{where}: unknown option {name!r} for {on}; {hint}accepted options: {known}")
        spec = accepted[name]
        if spec is not None:
            try:
                spec.check(value, where)
            except InputError as exc:
                raise field_error(("options", name), str(exc)) from None


def executed(options: Mapping[str, Any], runtime: str, location_kind: str) -> list[tuple[str, str, Any]]:
    """``(option, where it runs, value)`` for each option set that makes hwlat run a program or a
    command: on ``"this machine"`` or on ``"the device"``. An ``ssh_options`` entry that ssh runs
    as a local command (``ProxyCommand``, ``LocalCommand``, ``KnownHostsCommand``) is its own row."""
    accepted = accepted_options(runtime, location_kind) or {}
    rows: list[tuple[str, str, Any]] = []
    for name, value in options.items():
        spec = accepted.get(name)
        if spec is None or not spec.runs:
            continue
        if name == "ssh_options":
            items = [value] if isinstance(value, str) else list(value)
            for item in items:
                key = str(item).partition("=")[0].lower()
                where = "this machine (a command ssh runs)" if key in _SSH_LOCAL_COMMANDS else "this machine"
                rows.append((name, where, item))
        else:
            rows.append((name, spec.runs, value))
    return rows
