"""What a device is: a named target = runtime + provider + threads + precision + where it runs.

A :class:`DeviceSpec` is frozen and validated when it is built, so a spec that exists is a spec
that makes sense. It does not import the runtimes (``hwlat.profiler`` imports devices, not the
other way round): runtime names and their providers are read from :data:`hwlat.registry.RUNTIMES`
(the registration's ``providers`` meta, so no backend is imported), and location kinds from
:data:`hwlat.registry.TRANSPORTS`; a runtime or a transport a plugin registers is accepted like a
built-in one. :meth:`DeviceSpec.runtime_kwargs` gives what
``hwlat.profiler.runtimes.make_runtime(spec.runtime, **spec.runtime_kwargs())`` expects.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, NamedTuple

from hwlat.errors import InputError
from hwlat.registry import RUNTIMES, TRANSPORTS

__all__ = [
    "DeviceSpec",
    "SshTarget",
    "PRECISIONS",
    "parse_location",
    "runtime_providers",
]

#: numeric precisions a spec may ask for
PRECISIONS: tuple[str, ...] = ("fp32", "fp16")

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
# ssh://[user@]host[:port] where host is a DNS name, an IPv4 address or a bracketed IPv6 address
_SSH_RE = re.compile(
    r"ssh://(?:(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@)?"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?/?\Z"
)
_NUMBER_TEXT_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z")
# adb serials: "R58M123ABC", "emulator-5554", "192.168.1.20:5555"
_ADB_RE = re.compile(r"adb://(?P<serial>[A-Za-z0-9][A-Za-z0-9._:-]*)\Z")
_OPTION_SCALARS = (str, int, float, bool, type(None))
#: the most intra-op threads a spec may ask for
MAX_THREADS = 1024
_MAX_OPTION_VALUES = 10_000
_MAX_OPTION_DEPTH = 16
_BUILTIN_KINDS = ("local", "subprocess", "ssh", "adb")


class SshTarget(NamedTuple):
    """The parts of an ``ssh://[user@]host[:port]`` location."""

    user: str | None
    host: str
    port: int | None

    @property
    def destination(self) -> str:
        """``user@host`` (or ``host``), as ``ssh`` takes it."""
        return f"{self.user}@{self.host}" if self.user else self.host

    def ssh_args(self) -> list[str]:
        """Arguments for the ``ssh`` command: ``["-p", "2222", "pi@board"]``."""
        return (["-p", str(self.port)] if self.port is not None else []) + [self.destination]


def parse_location(location: str) -> tuple[str, SshTarget | str | None]:
    """Split a location into its kind and target.

    Returns ``("local", None)``, ``("ssh", SshTarget)`` or ``("adb", serial)``; raises
    :class:`InputError` with the accepted forms for anything else.
    """
    forms = "'local', 'ssh://[user@]host[:port]', 'adb://SERIAL' or 'subprocess'"
    if not isinstance(location, str):
        raise InputError(f"location must be a string ({forms}), got {location!r}")
    if location == "local":
        return "local", None
    if location in ("subprocess", "subprocess://"):  # the hwlat agent as a local child process
        return "subprocess", None
    if location.startswith("ssh://"):
        m = _SSH_RE.match(location)
        if m is None:
            raise InputError(
                f"location {location!r} is not a valid SSH address; write it as "
                "'ssh://[user@]host[:port]', e.g. 'ssh://pi@raspberrypi.local:22'"
            )
        port = int(m["port"]) if m["port"] else None
        if port is not None and not 1 <= port <= 65535:
            raise InputError(f"location {location!r} has port {port}; an SSH port is between 1 and 65535")
        host = m["host"]
        if host.startswith("["):
            host = host[1:-1]
        return "ssh", SshTarget(m["user"], host, port)
    if location.startswith("adb://"):
        m = _ADB_RE.match(location)
        if m is None:
            raise InputError(
                f"location {location!r} is not a valid adb address; write it as 'adb://SERIAL' "
                "with the serial that `adb devices` lists, e.g. 'adb://emulator-5554'"
            )
        return "adb", m["serial"]
    scheme, sep, rest = location.partition("://")
    if sep and scheme not in _BUILTIN_KINDS and scheme in TRANSPORTS:  # a transport a plugin registered
        return scheme, rest
    raise InputError(f"location {location!r} is not understood; use {forms}")


def runtime_providers(runtime: str) -> tuple[str, ...]:
    """The providers ``runtime`` accepts, the first one the default (from its registration's
    ``providers`` meta; for a runtime registered without it, from the class). For LiteRT the
    provider is the delegate: ``xnnpack`` (the default CPU delegate) or ``none`` (the reference
    kernels)."""
    providers = RUNTIMES.meta(runtime).get("providers")
    if providers is None:
        return tuple(getattr(RUNTIMES.get(runtime), "providers", ()))
    return tuple(providers)


def field_error(field: str | tuple[str, ...], message: str) -> InputError:
    """An :class:`InputError` about one field of a spec: its ``field`` attribute (``"threads"``, or
    ``("options", "agent_command")``) lets a file reader point at that field's line."""
    exc = InputError(message)
    exc.field = field  # type: ignore[attr-defined]
    return exc


def _check_options(options: Any, where: str) -> dict[str, Any]:
    if not isinstance(options, Mapping):
        raise field_error("options", f"{where}: options must be a mapping of runtime settings, "
                                     f"got {type(options).__name__}")

    seen = 0  # values visited: YAML aliases can make a short file hold billions of them

    def ok(value: Any, depth: int = 0) -> bool:
        nonlocal seen
        seen += 1
        if seen > _MAX_OPTION_VALUES or depth > _MAX_OPTION_DEPTH:
            raise field_error("options", f"{where}: options hold more than {_MAX_OPTION_VALUES} values or nest "
                                         f"deeper than {_MAX_OPTION_DEPTH} levels; a device's options are a few "
                                         "settings (check the file for repeated YAML aliases)")
        if isinstance(value, _OPTION_SCALARS):
            return True
        if isinstance(value, (list, tuple)):
            return all(ok(v, depth + 1) for v in value)
        if isinstance(value, Mapping):
            return all(isinstance(k, str) and ok(v, depth + 1) for k, v in value.items())
        return False

    for key, value in options.items():
        if not isinstance(key, str):
            raise InputError(f"{where}: option names must be strings, got {key!r}")
        if not ok(value):
            raise field_error(("options", key),
                f"{where}: option {key!r} has a value of type {type(value).__name__}; "
                "options hold strings, numbers, booleans, null, lists and mappings of those"
            )
    return copy.deepcopy(dict(options))


@dataclass(frozen=True)
class DeviceSpec:
    """A named measurement target.

    ``threads`` is the intra-op thread count (1 to :data:`MAX_THREADS`; 0 = the runtime's
    default); ``options`` are runtime-specific settings (``{"graph_optimization_level": "all"}``
    for ONNX Runtime, ``{"mode": "jit"}`` for PyTorch; a spec file may hold only those its runtime
    and location take, see :mod:`hwlat.devices.options`); ``source`` is the file the spec came
    from or ``"builtin"`` (it is provenance, not identity: two specs that differ only in source
    are equal).
    """

    name: str
    runtime: str
    provider: str = ""
    threads: int = 1
    precision: str = "fp32"
    location: str = "local"
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = f"device {self.name!r}" + (f" ({self.source})" if self.source else "")
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise field_error("name",
                f"{where}: invalid name; a device name starts with a lowercase letter or digit and "
                "holds only lowercase letters, digits, '.', '_' and '-' (e.g. 'pi4-ort-4t')"
            )
        if not isinstance(self.runtime, str) or self.runtime not in RUNTIMES:
            close = difflib.get_close_matches(str(self.runtime), RUNTIMES.names(), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise field_error("runtime", f"{where}: unknown runtime {self.runtime!r}; {hint}"
                                         f"choose one of {', '.join(RUNTIMES.names())}")
        providers = runtime_providers(self.runtime)
        if not providers:
            raise field_error("runtime", f"{where}: runtime {self.runtime!r} declares no providers; register it "
                                         "with providers=(...) or give its class a providers tuple")
        if self.provider in ("", None):
            object.__setattr__(self, "provider", providers[0])
        elif self.provider not in providers:
            raise field_error("provider",
                f"{where}: runtime {self.runtime!r} has no provider {self.provider!r}; "
                f"choose one of {', '.join(providers)}"
            )
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or not 0 <= self.threads <= MAX_THREADS:
            raise field_error("threads",
                f"{where}: threads must be a non-negative integer up to {MAX_THREADS} (0 = the runtime's default), "
                f"got {self.threads!r}"
            )
        if self.precision not in PRECISIONS:
            raise field_error("precision", f"{where}: unknown precision {self.precision!r}; "
                                           f"choose one of {', '.join(PRECISIONS)}")
        try:
            parse_location(self.location)
        except InputError as exc:
            raise field_error("location", f"{where}: {exc}") from None
        if not isinstance(self.description, str):
            raise field_error("description",
                              f"{where}: description must be a string, got {type(self.description).__name__}")
        if "\n" in self.description.strip():
            raise field_error("description", f"{where}: description must be one line")
        object.__setattr__(self, "description", self.description.strip())
        if not isinstance(self.source, str):
            raise InputError(f"{where}: source must be a string (a path or 'builtin'), got {self.source!r}")
        # a private copy behind a read-only view: the spec stays immutable
        object.__setattr__(self, "options", MappingProxyType(_check_options(self.options, where)))

    def __hash__(self) -> int:
        return hash((self.name, self.runtime, self.provider, self.threads, self.precision, self.location,
                     self.description, json.dumps(dict(self.options), sort_keys=True, default=repr)))

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # the read-only options view cannot be pickled; rebuild from a plain dict instead
        return _rebuild, (self.to_dict(with_source=True),)

    # -- conversions -------------------------------------------------------------------------

    def to_dict(self, *, with_source: bool = False) -> dict[str, Any]:
        """A plain dict (YAML/JSON-ready); ``source`` only when ``with_source`` is true."""
        d: dict[str, Any] = {
            "name": self.name,
            "runtime": self.runtime,
            "provider": self.provider,
            "threads": self.threads,
            "precision": self.precision,
            "location": self.location,
            "description": self.description,
            "options": copy.deepcopy(dict(self.options)),
        }
        if with_source:
            d["source"] = self.source
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str | None = None) -> DeviceSpec:
        """Build a spec from a mapping (as read from YAML); ``name`` and ``runtime`` are required.

        ``source`` (a path or ``"builtin"``) overrides a ``source`` key in ``d``.
        """
        where = f"device spec from {source}" if source else "device spec"
        if not isinstance(d, Mapping):
            raise InputError(f"{where}: expected a mapping of fields, got {type(d).__name__}")
        valid = [f.name for f in fields(cls)]
        unknown = sorted(str(k) for k in d if k not in valid)
        if unknown:
            close = [c for k in unknown for c in difflib.get_close_matches(k, valid, n=1)]
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise field_error(unknown[0], f"{where}: unknown field(s) {', '.join(unknown)}; {hint}"
                                          f"valid fields are {', '.join(valid)}")
        missing = [k for k in ("name", "runtime") if d.get(k) in (None, "")]
        if missing:
            raise InputError(f"{where}: missing required field(s) {', '.join(missing)}")
        types: dict[str, tuple[type, ...]] = {
            "name": (str,), "runtime": (str,), "provider": (str,), "threads": (int,), "precision": (str,),
            "location": (str,), "description": (str,), "options": (Mapping,), "source": (str,),
        }
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            if value is None and key not in ("name", "runtime"):
                continue  # an empty YAML field means "the default"
            if not isinstance(value, types[key]) or (key == "threads" and isinstance(value, bool)):
                want = {"str": "a string", "int": "an integer", "Mapping": "a mapping"}[types[key][0].__name__]
                if key == "threads":
                    want += f" from 0 to {MAX_THREADS} (0 = the runtime's default)"
                name = d.get("name")
                got = f"got {type(value).__name__} {value!r}"
                if isinstance(value, str) and _NUMBER_TEXT_RE.match(value.strip()):
                    got += " (YAML reads a number such as 1e3 without a '.' as text)"
                raise field_error(key,
                    f"{where}" + (f" {name!r}" if isinstance(name, str) else "")
                    + f": field {key!r} must be {want}, {got}"
                )
            kwargs[key] = value
        if source is not None:
            kwargs["source"] = source
        return cls(**kwargs)

    # -- derived properties ------------------------------------------------------------------

    @property
    def is_gpu(self) -> bool:
        """True when the spec runs on an NVIDIA GPU (provider ``cuda``)."""
        return self.provider == "cuda"

    @property
    def is_local(self) -> bool:
        """True when the spec runs on this machine."""
        return self.location == "local"

    @property
    def location_kind(self) -> str:
        """``"local"``, ``"ssh"``, ``"adb"``, ``"subprocess"`` or a plugin transport's scheme: the
        key of :data:`hwlat.registry.TRANSPORTS` that opens this device's runtime."""
        return parse_location(self.location)[0]

    @property
    def ssh_target(self) -> SshTarget | None:
        """The parsed ``ssh://`` location, or None for other locations."""
        kind, target = parse_location(self.location)
        return target if kind == "ssh" else None  # type: ignore[return-value]

    @property
    def adb_serial(self) -> str | None:
        """The serial of an ``adb://`` location, or None for other locations."""
        kind, target = parse_location(self.location)
        return target if kind == "adb" else None  # type: ignore[return-value]

    def runtime_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``make_runtime(spec.runtime, **spec.runtime_kwargs())``."""
        return {
            "threads": self.threads,
            "provider": self.provider,
            "precision": self.precision,
            "options": copy.deepcopy(dict(self.options)),
        }

    def __str__(self) -> str:
        where = "" if self.is_local else f" @ {self.location}"
        threads = "default threads" if self.threads == 0 else f"{self.threads} thread{'s' * (self.threads != 1)}"
        return f"{self.name}: {self.runtime}/{self.provider}, {threads}, {self.precision}{where}"


def _rebuild(d: dict[str, Any]) -> DeviceSpec:
    return DeviceSpec(**d)
