"""``hwlat devices list | show | check | detect``."""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from hwlat.cli.common import emit
from hwlat.cli.options import Parents, command, format_parser, subcommands
from hwlat.errors import HwlatError, InputError

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(sub, "devices", parents.of(), "list, show, check and detect devices", epilog="""
        hwlat devices list
        hwlat devices show cpu-litert
        hwlat --devices-dir my-devices/ devices show my-board
        hwlat devices check my-devices/pi5.yaml
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
    x = command(s, "check", parents.of(format_parser()),
                "validate one device spec file and list what it will execute",
                description="Validate one device spec file (every spec in it) and list what each spec makes "
                            "hwlat execute: the commands it starts on this machine (ssh, a local agent, adb), "
                            "the ssh options it hands to ssh (a ProxyCommand is a local command), and the "
                            "commands, programs and folders it uses on the device. A device folder runs "
                            "commands like a script does: check a folder's files before using it. "
                            "Exit 0 when the file is valid, 1 with the reason when it is not.",
                epilog="hwlat devices check my-devices/pi5.yaml\n"
                       "hwlat devices check fleet.yaml --format json")
    x.add_argument("file", help="a device spec YAML file (one spec, or several under 'devices:')")
    x.set_defaults(func=cmd_check)
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


def executes(spec: DeviceSpec) -> list[dict[str, str]]:
    """What ``spec`` makes hwlat execute, one row each: ``where`` (``this machine`` or ``the
    device``), ``what`` (a command, a program, a folder...), ``value`` and the ``option`` (or
    field) it comes from. Empty for a local device (hwlat runs the model in its own process)."""
    from hwlat.devices.options import executed

    kind = spec.location_kind
    opts = dict(spec.options)
    rows: list[dict[str, str]] = []

    def row(where: str, what: str, value: Any, option: str) -> None:
        rows.append({"where": where, "what": what, "value": str(value), "option": option})

    if kind == "local":
        return rows
    if kind == "subprocess":
        from hwlat.profiler.connection import subprocess_command

        agent = opts.get("agent_command")
        row("this machine", "command", shlex.join(subprocess_command(agent)),
            "agent_command" if agent is not None else "location")
    elif kind == "ssh":
        from hwlat.profiler.connection import ssh_command

        ssh_opts = opts.get("ssh_options", [])
        ssh_opts = [ssh_opts] if isinstance(ssh_opts, str) else list(ssh_opts)
        agent = str(opts.get("agent_command", "hwlat"))
        row("this machine", "command", shlex.join(ssh_command(spec.location, identity=opts.get("ssh_identity"),
                                                              ssh_options=ssh_opts, agent_command=agent)),
            "location")
        for option, where, value in executed(opts, spec.runtime, kind):
            if option == "ssh_options" and "command" in where:
                row("this machine", "command ssh runs", value, option)
        row("the device", "command", f"{agent} agent --stdio",
            "agent_command" if "agent_command" in opts else "location")
    elif kind == "adb":
        from hwlat.profiler.adb.device import DEFAULT_REMOTE_DIR

        row("this machine", "program", opts.get("adb", "adb (from PATH)"), "adb" if "adb" in opts else "location")
        remote = str(opts.get("remote_dir", DEFAULT_REMOTE_DIR))
        if "benchmark_model" in opts:
            row("the device", "program", f"{opts['benchmark_model']} (pushed to {remote} and run there)",
                "benchmark_model")
        row("the device", "folder", remote, "remote_dir" if "remote_dir" in opts else "location")
        if opts.get("extra_flags"):
            row("the device", "benchmark_model flags", " ".join(map(str, opts["extra_flags"])), "extra_flags")
    else:
        row("this machine", "transport", f"the {kind!r} transport a plugin registered; hwlat cannot tell what "
            "it runs", "location")
    return rows


def _executes_lines(spec: DeviceSpec) -> list[str]:
    return [f"runs on {r['where']} ({r['option']}): {r['value']}" if r["what"] == "command"
            else f"{r['what']} on {r['where']} ({r['option']}): {r['value']}" for r in executes(spec)]


def cmd_show(args: argparse.Namespace) -> int:
    from hwlat.devices import dump_device, load_device

    spec = load_device(args.name, search_path=args.devices_dir)
    if args.format == "json":
        emit(spec.to_dict(), "json")
    else:
        print(dump_device(spec), end="")
        lines = _executes_lines(spec)
        if lines:  # YAML comments: the output still loads as the same spec
            print("# what this spec executes:")
            for line in lines:
                print(f"#   {line}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hwlat.devices import read_device_file
    from hwlat.devices.registry import BUILTIN_DIR, builtin_names

    path = Path(args.file)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give one device spec file, e.g. {path / 'board.yaml'}")
    specs = read_device_file(path)
    builtins = set(builtin_names()) if path.resolve().parent != BUILTIN_DIR else set()
    report: list[dict[str, Any]] = []
    for spec in specs:
        if spec.location_kind in ("ssh", "subprocess"):  # what opening it would say, without starting it
            from hwlat.profiler.agent import served_runtimes

            served = served_runtimes()
            if spec.runtime not in served:
                raise InputError(f"{path}: device {spec.name!r}: the hwlat agent runs {' and '.join(served)} "
                                 f"models; runtime {spec.runtime!r} can only be profiled locally (location: local)")
        report.append({"name": spec.name, "device": str(spec), "executes": executes(spec),
                       "overrides_builtin": spec.name in builtins})
    if args.format == "json":
        emit({"file": str(path), "valid": True, "devices": report}, "json")
        return 0
    if args.format == "csv":  # one row per thing executed
        rows = [{"device": e["name"], **r} for e in report for r in e["executes"]]
        if rows:
            emit(rows, "csv")
        else:
            print("device,where,what,value,option")
        return 0
    print(f"{path}: valid, {len(specs)} device spec{'s' * (len(specs) != 1)}")
    for spec, entry in zip(specs, report):
        print(f"{spec}")
        lines = _executes_lines(spec) or ["executes nothing outside hwlat (the model runs in hwlat's own process)"]
        for line in lines:
            print(f"  {line}")
        if entry["overrides_builtin"]:
            print(f"  replaces the built-in device {spec.name!r} when its folder is a device folder "
                  "(hwlat warns when it does)")
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
