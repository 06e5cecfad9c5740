"""``hwlat ops list``: the op specs a search space needs."""

from __future__ import annotations

import argparse
from typing import Any

from hwlat.cli.common import emit, space_ops
from hwlat.cli.options import (
    FORMATS,
    Parents,
    command,
    format_parser,
    space_parser,
    subcommands,
)


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(sub, "ops", parents.of(), "list the op specs a search space needs", epilog="""
        hwlat ops list --space nb201
        hwlat ops list --space ofa-mbv3 --resolution 224 --format keys > ofa224.txt
    """)
    s = subcommands(p)
    x = command(s, "list", parents.of(space_parser(), format_parser(*FORMATS, "keys")),
                "the distinct op specs of a space (keys: one op key per line, what 'hwlat profile --ops' reads)",
                epilog="hwlat ops list --space nb201 --none-edges zero\n"
                       "hwlat ops list --space proxyless --resolution 160 --format keys > ops.txt")
    x.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    specs = space_ops(args.space, args.resolution, args.none_edges)
    if args.format == "keys":
        for s in specs:
            print(s.key)
    else:
        rows = [{"key": s.key, "kind": s.kind, "output_shape": "x".join(map(str, s.output_shape)),
                 "mflops": s.flops / 1e6} for s in specs]
        emit(rows, args.format)
    return 0
