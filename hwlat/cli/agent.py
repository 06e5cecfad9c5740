"""``hwlat agent``: handed as it is to :func:`hwlat.profiler.agent.main`, which owns its options
(the same program runs as ``python -m hwlat.profiler.agent``)."""

from __future__ import annotations

import argparse
from typing import Any

from hwlat.cli.options import Parents

HELP = "serve measurements for a host (started by it over ssh or as a subprocess; 'hwlat agent --help')"


def add_parser(sub: Any, parents: Parents) -> None:
    # no options of its own: everything after 'agent' (--help too) is the agent's
    p = sub.add_parser("agent", help=HELP, add_help=False, prefix_chars="\0")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_agent)


def cmd_agent(args: argparse.Namespace) -> int:
    from hwlat.profiler.agent import main

    return main(list(args.rest))
