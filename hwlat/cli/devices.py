"""``hwlat devices list | show | detect``."""

from __future__ import annotations

import argparse
from typing import Any

from hwlat.cli.common import emit
from hwlat.cli.options import Parents, command, format_parser, subcommands
from hwlat.errors import HwlatError


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(sub, "devices", parents.of(), "list, show and detect devices", epilog="""
        hwlat devices list
        hwlat devices show cpu-litert
        hwlat --devices-dir my-devices/ devices show my-board
        hwlat devices detect --format json
    """)
    s = subcommands(p)
    x = command(s, "list", parents.of(format_parser()), "the device specs known (built-in and yours)",
                epilog="hwlat devices list\nhwlat devices list --devices-dir my-devices/ --format csv")
    x.set_defaults(func=cmd_list)
    x = command(s, "show", parents.of(format_parser("yaml", "json")), "one device spec as YAML",
                epilog="hwlat devices show cpu-ort\nhwlat devices show boards/pi5.yaml --format json")
    x.add_argument("name", help="a device name or a YAML file")
    x.set_defaults(func=cmd_show)
    x = command(s, "detect", parents.of(format_parser()), "this host's fingerprint and which devices run here",
                epilog="hwlat devices detect\nhwlat devices detect --format json")
    x.set_defaults(func=cmd_detect)


def cmd_list(args: argparse.Namespace) -> int:
    from hwlat.devices import list_devices

    rows = []
    for d in list_devices(search_path=args.devices_dir):
        rows.append({"name": d.name, "runtime": d.runtime, "provider": d.provider, "threads": d.threads,
                     "precision": d.precision, "location": d.location, "description": d.description})
    emit(rows, args.format)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from hwlat.devices import dump_device, load_device

    spec = load_device(args.name, search_path=args.devices_dir)
    if args.format == "json":
        emit(spec.to_dict(), "json")
    else:
        print(dump_device(spec), end="")
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from hwlat.devices import detect, fingerprint_summary, list_devices
    from hwlat.profiler.runtimes import get_runtime_class

    fp = detect()
    usable = []
    for d in list_devices(search_path=args.devices_dir):
        try:
            cls = get_runtime_class(d.runtime)
            ok = cls.is_available() and (d.provider != "cuda" or cls.cuda_available())
        except HwlatError:
            ok = False
        usable.append({"device": d.name, "usable_here": ok})
    if args.format == "json":
        emit({"host": fp, "devices": usable}, "json")
    elif args.format == "csv":
        emit(usable, "csv")
    else:
        print(fingerprint_summary(fp))
        print()
        emit(usable, "table")
    return 0
