"""The ``hwlat`` command: one module per noun, each a thin layer over the public API.

Exit codes (:mod:`hwlat.cli.options`): 0 success; 1 bad input (one message, no traceback unless
``--debug``); 2 command-line usage error (argparse's convention); 3 a check asked for failed
(``table diff --fail-if``, ``table coverage --fail-if-missing``); 130 interrupted.

Building the parser (``hwlat --version``, ``--help``) imports no numpy, pandas or onnx: each
command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence

from hwlat import __version__
from hwlat.cli import (
    adapt,
    agent,
    devices,
    kernels,
    measure,
    ops,
    profile,
    query,
    search,
    space,
    table,
    validate,
)
from hwlat.cli.options import (
    EXIT_CHECK,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    HelpFormatter,
    Parents,
    Parser,
    examples,
)
from hwlat.errors import HwlatError

__all__ = ["EXIT_CHECK", "EXIT_INPUT", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

#: the command modules, in the order ``hwlat --help`` lists them
COMMANDS = (devices, ops, space, profile, validate, query, search, measure, kernels, adapt, table, agent)


def build_parser() -> argparse.ArgumentParser:
    """The ``hwlat`` parser with every command."""
    parents = Parents()
    p = Parser(
        prog="hwlat", formatter_class=HelpFormatter,
        description="Hardware-aware latency toolkit: profile a device, store latency tables, "
                    "predict latency, search under a latency budget.",
        epilog=examples("""
            hwlat devices list
            hwlat devices detect
            hwlat profile --device cpu-ort --space nb201 -o tables/cpu-ort
            hwlat profile --device cpu-litert --space ofa-mbv3 --resolution 224 -o tables/cpu-litert
            hwlat profile-model model.onnx --device cpu-ort
            hwlat validate --device cpu-ort --space nb201 --n 100 --table tables/cpu-ort/table.parquet -o val
            hwlat query --space nb201 --predictor val/predictor.npz --archs-file archs.txt
            hwlat table show tables/cpu-ort/table.parquet
            hwlat table diff old.parquet new.parquet --fail-if latency_ms:+5%
            hwlat measure model.onnx --device cpu-ort
        """) + f"\n\nexit codes: {EXIT_OK} done, {EXIT_INPUT} bad input, {EXIT_USAGE} usage error, "
               f"{EXIT_CHECK} a --fail-if check failed, {EXIT_INTERRUPTED} interrupted",
    )
    p.add_argument("--version", action="version", version=f"hwlat {__version__}")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and debug logs")
    # a destination of its own: a command's --devices-dir default must not hide this one
    p.add_argument("--devices-dir", action="append", metavar="DIR", dest="top_devices_dir", default=None,
                   help="a folder of device spec YAML files (repeatable; also $HWLAT_DEVICES)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.add_parser(sub, parents)
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line; ``--devices-dir`` before the command and after it both count."""
    args = build_parser().parse_args(argv)
    dirs = [*(getattr(args, "top_devices_dir", None) or []), *(getattr(args, "devices_dir", None) or [])]
    args.devices_dir = dirs or None
    return args


def _output_lock(args: argparse.Namespace) -> contextlib.AbstractContextManager[object]:
    """The lock on the command's output folder (``-o DIR``), held while the command runs, so that
    two runs never write into one folder; nothing for a command without one."""
    out = getattr(args, "output", None)
    if out and getattr(args, "output_folder", False):
        from hwlat._io import folder_lock

        return folder_lock(out)
    return contextlib.nullcontext()


def main(argv: Sequence[str] | None = None) -> int:
    from hwlat._files import tolerant_streams

    tolerant_streams()  # paths that are not UTF-8 print too
    args = parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if not debug:
        import warnings

        def _show(message, category, filename, lineno, file=None, line=None):  # one plain line
            print(f"hwlat: warning: {message}", file=sys.stderr)

        warnings.showwarning = _show
    try:
        with _output_lock(args):
            return int(args.func(args) or 0)
    except HwlatError as exc:
        if debug:
            raise
        print(f"hwlat: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("\nhwlat: interrupted; what was measured is kept: run the same command again to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:
        if debug:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"hwlat: error: {exc.strerror or exc}{where}; check the path and its permissions", file=sys.stderr)
        return EXIT_INPUT
