"""Finding device specs: built-ins, user folders, ``HWLAT_DEVICES`` and single files.

A YAML file holds one spec (a mapping; ``name`` defaults to the file's stem) or several under
``devices:``. Names are looked up, first match wins, in:

1. the folders passed as ``search_path``,
2. the folders in the ``HWLAT_DEVICES`` environment variable (``os.pathsep``-separated),
3. the built-in specs shipped in ``hwlat/devices/builtin/``.

So a user spec named like a built-in overrides it, with a warning naming the file (once per
process).

A device file is read strictly: a key given twice, an unknown field, an option the spec's runtime
and location do not take, and a value out of its type or bounds are errors naming the file and
line (see :mod:`hwlat.devices.options`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from hwlat._io import load_yaml
from hwlat.devices.options import check_options
from hwlat.devices.spec import DeviceSpec
from hwlat.errors import InputError

__all__ = [
    "as_device",
    "ENV_VAR",
    "BUILTIN_DIR",
    "load_device",
    "list_devices",
    "dump_device",
    "read_device_file",
    "device_search_path",
    "builtin_names",
]

logger = logging.getLogger(__name__)

#: environment variable with extra device folders (``os.pathsep``-separated)
ENV_VAR = "HWLAT_DEVICES"
#: the folder of the built-in specs
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
_SUFFIXES = (".yaml", ".yml")
_MAX_FILE_BYTES = 1 << 20  # a device file is a few lines; a larger one is a mistake


def read_device_file(path: str | os.PathLike[str], *, source: str | None = None) -> list[DeviceSpec]:
    """All specs in one YAML file, in file order.

    ``source`` (default: the path) is recorded in each spec. Raises :class:`InputError` naming
    the file and line for malformed YAML, a key given twice, bad fields or options, or a name used
    twice in the file.
    """
    p = Path(path)
    src = source if source is not None else str(p)
    data, node = load_yaml(p, "device file", unique_keys=True, max_bytes=_MAX_FILE_BYTES)

    def line_of(n: Any) -> str:
        return f"{p}:{n.start_mark.line + 1}" if n is not None else str(p)

    def field_line(n: Any, field: Any) -> str:
        """The line of ``field`` (a key, or ``(key, subkey)``) in mapping node ``n``, else of ``n``."""
        path = (field,) if isinstance(field, str) else tuple(field or ())
        at = n
        for key in path:
            if not isinstance(at, yaml.MappingNode):
                break
            hit = next(((k, v) for k, v in at.value if getattr(k, "value", None) == key), None)
            if hit is None:
                break
            n, at = hit
        return line_of(n)

    entries: list[tuple[Any, Any]]  # (mapping, yaml node)
    if isinstance(data, dict) and "devices" in data:
        extra = sorted(str(k) for k in data if k != "devices")
        if extra:
            raise InputError(f"{line_of(node)}: a file with 'devices:' holds nothing else, found {', '.join(extra)}")
        items = data["devices"]
        if not isinstance(items, list):
            raise InputError(f"{line_of(node)}: 'devices:' must be a list of device specs")
        seq = next((v for k, v in node.value if k.value == "devices"), None)
        entries = list(zip(items, seq.value if seq is not None else [None] * len(items)))
    elif isinstance(data, list):
        entries = list(zip(data, node.value))
    elif isinstance(data, dict):
        if "name" not in data:
            data = {"name": p.stem, **data}
        entries = [(data, node)]
    else:
        raise InputError(
            f"device file {p} holds {'nothing' if data is None else type(data).__name__}; "
            "write one spec as a mapping (name:, runtime:, provider:, ...) or several under 'devices:'"
        )
    specs: list[DeviceSpec] = []
    seen: dict[str, str] = {}
    for item, item_node in entries:
        where = line_of(item_node)
        try:
            spec = dataclasses.replace(DeviceSpec.from_dict(item), source=src)
            check_options(spec.options, spec.runtime, spec.location_kind, f"device {spec.name!r}")
        except InputError as exc:
            at = field_line(item_node, getattr(exc, "field", None))
            if len(entries) == 1:  # the field's line
                raise InputError(f"{at}: {exc}") from None
            # the spec's line, then the field's (a list of specs in one file)
            raise InputError(f"{where}: {exc}" + (f" (line {at.rpartition(':')[2]})" if at != where else "")) from None
        if spec.name in seen:
            raise InputError(f"{where}: device {spec.name!r} is already defined at {seen[spec.name]}; rename one")
        seen[spec.name] = where
        specs.append(spec)
    return specs


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix in _SUFFIXES and f.is_file() and not f.name.startswith("."))


def _read_folder(folder: Path, *, source_label: str | None = None) -> dict[str, DeviceSpec]:
    found: dict[str, DeviceSpec] = {}
    for f in _yaml_files(folder):
        for spec in read_device_file(f, source=source_label):
            if spec.name in found:
                other = found[spec.name].source
                raise InputError(
                    f"device {spec.name!r} is defined in both {other} and {f}; "
                    "keep one definition per folder"
                )
            found[spec.name] = spec
    return found


@functools.lru_cache(maxsize=1)
def _builtins() -> tuple[DeviceSpec, ...]:
    return tuple(_read_folder(BUILTIN_DIR, source_label="builtin").values())


def builtin_names() -> list[str]:
    """The names of the built-in device specs, sorted."""
    return sorted(s.name for s in _builtins())


def device_search_path(search_path: Iterable[str | os.PathLike[str]] | None = None) -> list[tuple[Path, str]]:
    """The user folders searched, in order, each with where it came from (argument or env var)."""
    out: list[tuple[Path, str]] = []
    for d in search_path or ():
        out.append((Path(d), "search_path"))
    for d in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if d.strip():
            out.append((Path(d.strip()).expanduser(), ENV_VAR))
    return out


def _collect(search_path: Iterable[str | os.PathLike[str]] | None) -> dict[str, DeviceSpec]:
    """name -> spec, earlier folders winning over later ones and over the built-ins."""
    merged: dict[str, DeviceSpec] = {}
    for folder, origin in device_search_path(search_path):
        if not folder.is_dir():
            raise InputError(
                f"device folder {folder} (from {origin}) does not exist or is not a folder; "
                f"create it or fix {'the search path' if origin == 'search_path' else 'the ' + ENV_VAR + ' variable'}"
            )
        for name, spec in _read_folder(folder).items():
            if name in merged:
                logger.debug("device %r from %s is shadowed by %s", name, spec.source, merged[name].source)
                continue
            merged[name] = spec
    for spec in _builtins():
        if spec.name in merged:
            _warn_override(spec.name, merged[spec.name].source)
            continue
        merged[spec.name] = spec
    return merged


_warned: set[tuple[str, str]] = set()


def _warn_override(name: str, source: str) -> None:
    """Warn, once per process for each (name, file), that a user file replaces a built-in device."""
    if (name, source) in _warned:
        return
    _warned.add((name, source))
    warnings.warn(f"device {name!r} from {source} overrides the built-in device {name!r}; rename it "
                  "to keep both", UserWarning, stacklevel=4)


def _looks_like_path(s: str) -> bool:
    base = s.split("#", 1)[0]
    return base.endswith(_SUFFIXES) or "/" in base or os.sep in base or (os.altsep or "/") in base


def load_device(name_or_path: str | os.PathLike[str], *,
                search_path: Sequence[str | os.PathLike[str]] | None = None) -> DeviceSpec:
    """A device spec by name, or from a YAML file.

    ``name_or_path`` is a device name (looked up in ``search_path``, then ``HWLAT_DEVICES``, then
    the built-ins), a path to a ``.yaml`` file holding one spec, or ``file.yaml#name`` to pick one
    spec out of a file that holds several. Raises :class:`InputError` listing the valid names
    (and the closest ones) when nothing matches.
    """
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or not name_or_path:
        raise InputError(f"a device is named by a string or a path to a .yaml file, got {name_or_path!r}")
    if _looks_like_path(name_or_path) or Path(name_or_path).is_file():
        path, _, pick = name_or_path.partition("#")
        specs = read_device_file(path)
        if pick:
            for spec in specs:
                if spec.name == pick:
                    return spec
            raise InputError(f"device file {path} has no device {pick!r}; it holds {', '.join(s.name for s in specs)}")
        if len(specs) == 1:
            return specs[0]
        names = ", ".join(s.name for s in specs)
        raise InputError(f"device file {path} holds {len(specs)} devices ({names}); pick one with '{path}#NAME'")
    known = _collect(search_path)
    if name_or_path in known:
        return known[name_or_path]
    close = difflib.get_close_matches(name_or_path, list(known), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise InputError(
        f"unknown device {name_or_path!r}; {hint}valid names: {', '.join(sorted(known))} "
        f"(add your own as YAML files in a folder named by {ENV_VAR} or pass a path to a .yaml file)"
    )


def as_device(device: DeviceSpec | str | os.PathLike[str], *,
              search_path: Sequence[str | os.PathLike[str]] | None = None) -> DeviceSpec:
    """``device`` itself when it is a :class:`DeviceSpec`, else :func:`load_device` of it (a name,
    ``FILE.yaml`` or ``FILE.yaml#name``): what every function taking "a device" accepts."""
    if isinstance(device, DeviceSpec):
        return device
    return load_device(device, search_path=search_path)


def list_devices(search_path: Sequence[str | os.PathLike[str]] | None = None) -> list[DeviceSpec]:
    """Every known device (user folders over built-ins), sorted by name."""
    return sorted(_collect(search_path).values(), key=lambda s: s.name)


def dump_device(spec: DeviceSpec) -> str:
    """The spec as YAML text that :func:`load_device` reads back to an equal spec."""
    return yaml.safe_dump(spec.to_dict(), sort_keys=False, default_flow_style=False, allow_unicode=True,
                          width=1000)
