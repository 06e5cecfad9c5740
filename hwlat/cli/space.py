"""``hwlat space list | sample``: the search spaces, and architectures sampled from one."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hwlat.cli.common import emit, space_of
from hwlat.cli.options import (
    MAX_RESOLUTIONS,
    RESOLUTION,
    SEED,
    Parents,
    at_most,
    command,
    count,
    format_parser,
    seed_help,
    space_choices,
    subcommands,
)
from hwlat.errors import InputError


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(sub, "space", parents.of(), "list the search spaces; sample architectures of one", epilog="""
        hwlat space list
        hwlat space sample nb201 -n 100 > archs.txt
        hwlat space sample ofa-mbv3 -n 20 --resolution 192 224 --seed 1 --format json
    """)
    s = subcommands(p)
    x = command(s, "list", parents.of(format_parser()), "the registered search spaces and their sizes",
                epilog="hwlat space list\nhwlat space list --format json")
    x.set_defaults(func=cmd_list)
    x = command(s, "sample", parents.of(format_parser("text", "json", "csv")),
                "random architectures of a space, in the text form the other commands read",
                description="Random architectures of a space (uniform over its genes), one per line: what "
                            "'hwlat query --archs-file' reads. csv has one column, arch (add latency_ms for "
                            "'hwlat adapt --measurements'); json is a list of texts.",
                epilog="hwlat space sample nb201 -n 100 > archs.txt\n"
                       "hwlat space sample nb201 -n 100 | hwlat query --space nb201 --table t.parquet --archs-file -\n"
                       "hwlat space sample proxyless -n 12 --seed 3 --format csv > to_measure.csv")
    x.add_argument("space", choices=space_choices(), metavar="SPACE",
                   help="search space: " + ", ".join(space_choices()))
    x.add_argument("-n", type=count(1, 1_000_000, "a million lines of architectures is plenty for any query"),
                   default=10, help="architectures to sample")
    x.add_argument("--seed", type=SEED, default=0, help=seed_help("the sample"))
    x.add_argument("--resolution", type=RESOLUTION, nargs="+", metavar="PX",
                   action=at_most(MAX_RESOLUTIONS, "architectures carry one resolution each"),
                   help="input resolution(s) of ofa-mbv3 (several) or proxyless (one)")
    x.set_defaults(func=cmd_sample)


def cmd_list(args: argparse.Namespace) -> int:
    from hwlat.spaces import get_space

    rows = []
    for name in space_choices():
        space = get_space(name)
        rows.append({"space": name, "architectures": float(space.size()), "example": space.example()})
    emit(rows, args.format)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise InputError(f"-n must be at least 1, got {args.n}")
    space = space_of(args)
    texts = [space.encode(a) for a in space.sample(args.seed, args.n)]
    if args.format == "json":
        print(json.dumps(texts, indent=2))
    elif args.format == "csv":
        import pandas as pd

        emit(pd.DataFrame({"arch": texts}), "csv")
    else:
        for t in texts:
            print(t)
    return 0
