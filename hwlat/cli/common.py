"""What the command handlers share: printing results, reading the inputs they take (op lists,
architectures, devices, spaces, the protocol) from the parsed arguments.

Heavy imports (pandas, the spaces, the profiler) happen inside the functions: this module is
imported when the parser is built.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwlat.errors import InputError

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec
    from hwlat.spaces import SearchSpace

__all__ = [
    "TABLE_COLS",
    "device_of",
    "emit",
    "nb201_kw",
    "protocol_of",
    "read_lines",
    "read_ops_file",
    "space_of",
    "space_ops",
]

#: the columns of a latency table printed by profile and table show
TABLE_COLS = ["key", "latency_ms", "median_ms", "p90_ms", "stability_pct", "n"]


def emit(obj: Any, fmt: str, *, table_cols: Sequence[str] | None = None) -> None:
    """Print a DataFrame / list of dicts / dict as a table, JSON or CSV to stdout."""
    import pandas as pd

    if fmt == "json":
        if isinstance(obj, pd.DataFrame):
            obj = obj.to_dict(orient="records")
        print(json.dumps(obj, indent=2, default=str))
        return
    df = obj if isinstance(obj, pd.DataFrame) else pd.DataFrame(obj if isinstance(obj, list) else [obj])
    if table_cols is not None:
        df = df[[c for c in table_cols if c in df.columns]]
    if fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    else:
        with pd.option_context("display.max_rows", 500, "display.max_columns", 50, "display.width", 200,
                               "display.max_colwidth", 90, "display.float_format", "{:.4f}".format):
            print(df.to_string(index=False) if len(df) else "(empty)")


def read_lines(path: str, what: str) -> list[str]:
    """The non-empty lines of ``path`` (``-``: standard input), ``#`` comment lines dropped."""
    return [ln for _, ln in numbered_lines(path, what)]


def numbered_lines(path: str, what: str) -> list[tuple[int, str]]:
    """:func:`read_lines` with each line's number in the file."""
    from hwlat._files import read_input_text

    text = read_input_text(path, what)
    return [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1)
            if ln.strip() and not ln.lstrip().startswith("#")]


def read_ops_file(path: str) -> list:
    """Op specs from a file: one key per line (``#`` comments), or a JSON/YAML list of keys or dicts."""
    from hwlat._files import read_input_text, shown
    from hwlat._io import load_yaml
    from hwlat.ops import OpSpec
    from hwlat.ops.memory import check_op_memory

    p = Path(path)
    name = shown(p)
    items: list[Any]
    lines: list[int] = []
    if p.suffix in (".json", ".yaml", ".yml"):
        items = load_yaml(p, "op list")[0] or []
        if isinstance(items, dict) and "ops" in items:
            items = items["ops"]
        if not isinstance(items, list):
            raise InputError(f"{name} must hold a list of op keys or op dicts (kind, input_shape, params)")
    else:
        text = read_input_text(p, "op list")
        numbered = [(n, ln.split("#", 1)[0].strip()) for n, ln in enumerate(text.splitlines(), 1)]
        lines = [n for n, ln in numbered if ln]
        items = [ln for _, ln in numbered if ln]
    specs = []
    for i, item in enumerate(items, 1):
        where = f"{name}:{lines[i - 1]}" if lines else f"{name}, op {i}"
        try:
            if isinstance(item, str):
                specs.append(OpSpec.from_key(item))
            elif isinstance(item, dict):
                d = dict(item)
                kind, shape = d.pop("kind", None), d.pop("input_shape", None)
                if kind is None or shape is None:
                    raise InputError("an op dict needs 'kind' and 'input_shape'")
                specs.append(OpSpec.make(kind, shape, **d.pop("params", {}), **d))
            else:
                raise InputError(f"expected an op key string or a dict, got {type(item).__name__}")
            check_op_memory(specs[-1])
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    if not specs:
        raise InputError(f"op list {name} lists no ops; write one op key per line "
                         "(hwlat ops list --space SPACE --format keys prints a file to start from)")
    return specs


def protocol_of(args: argparse.Namespace) -> Any:
    """The measurement protocol the options ask for (``--quick`` and the values given)."""
    from hwlat.profiler import Protocol

    base = Protocol.quick() if getattr(args, "quick", False) else Protocol()
    changes: dict[str, Any] = {}
    for flag, field in (("rounds", "rounds"), ("round_time", "round_time_s"), ("remeasure", "remeasure"),
                        ("settle_budget", "settle_budget"), ("seed", "seed"), ("statistic", "statistic")):
        v = getattr(args, flag, None)
        if v is not None:
            changes[field] = v
    if getattr(args, "no_canary", False):
        changes["canary"] = False
    return base.replace(**changes) if changes else base


def device_of(args: argparse.Namespace, name: str | None = None) -> DeviceSpec:
    """The device ``--device`` (or ``name``) names, looked up in ``--devices-dir`` too."""
    from hwlat.devices import load_device

    return load_device(name if name is not None else args.device, search_path=args.devices_dir)


def nb201_kw(space_name: str, none_edges: str | None) -> dict[str, Any]:
    if none_edges is None:
        return {}
    if space_name != "nb201":
        raise InputError(f"--none-edges applies to the nb201 space, not {space_name}")
    return {"none_edges": none_edges}


def space_of(args: argparse.Namespace) -> SearchSpace:
    """The space ``--space``, ``--resolution`` and ``--none-edges`` describe."""
    from hwlat.spaces import get_space

    space = get_space(args.space, **nb201_kw(args.space, getattr(args, "none_edges", None)))
    return space.with_resolutions(args.resolution) if getattr(args, "resolution", None) else space


def space_ops(space_name: str, resolutions: Sequence[int] | None, none_edges: str | None = None) -> list:
    """Every distinct op of a space (at ``resolutions``, where given)."""
    from hwlat.spaces import get_space

    return get_space(space_name, **nb201_kw(space_name, none_edges)).table_ops(resolutions)

