"""The pieces every command's parser is built from: the parser class, the help formatter and the
shared parent parsers (space, protocol, output, format).

Building the parser imports no numpy, pandas or onnx (``hwlat --version`` and ``--help`` stay
fast): the choices come from :mod:`hwlat.registry`, which lists names without importing entries,
and the few constants below mirror the library's (a test keeps them equal).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from hwlat.registry import SPACES, STRATEGIES

__all__ = [
    "CALIBRATIONS",
    "EXIT_CHECK",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FORMATS",
    "NONE_EDGES",
    "PROTOCOL_DEFAULTS",
    "STATISTICS",
    "HelpFormatter",
    "Parents",
    "Parser",
    "add_progress",
    "add_top",
    "command",
    "examples",
    "format_parser",
    "output_parser",
    "protocol_parser",
    "seed_help",
    "show_default",
    "space_choices",
    "space_parser",
    "strategy_choices",
    "subcommands",
]

#: exit codes of the ``hwlat`` command
EXIT_OK = 0
#: bad input (a file that does not exist, an unknown device, a malformed architecture...)
EXIT_INPUT = 1
#: command-line usage error (an unknown option or choice, a missing argument): argparse's convention
EXIT_USAGE = 2
#: a check asked for on the command line failed (``table diff --fail-if``, ``table coverage --fail-if-missing``)
EXIT_CHECK = 3
#: interrupted (Ctrl-C); what was measured is kept
EXIT_INTERRUPTED = 130

#: the lookup predictor's calibrations (hwlat.predictors.lookup.CALIBRATIONS)
CALIBRATIONS = ("auto", "type", "kind", "key", "affine", "none")
#: the statistics a measurement reports (hwlat.profiler.measurement.STATISTICS)
STATISTICS = ("min", "p5", "p10", "quiet", "median", "mean")
#: the defaults of hwlat.profiler.Protocol shown in help (the parsed default is None, so that
#: --quick keeps its own values where an option is not given)
PROTOCOL_DEFAULTS: dict[str, Any] = {"rounds": 12, "round_time": 0.004, "remeasure": 3, "statistic": "min"}
NONE_EDGES = ("absent", "zero")
#: the output formats every command that prints results offers
FORMATS = ("table", "json", "csv")


class Parser(argparse.ArgumentParser):
    """A usage error is one line on stderr and exit code 2 (argparse's convention).

    ``help_hooks`` run before help is formatted: a command whose help text needs a heavy import
    (the accuracy sources of ``hwlat search``) fills it in there, not when the parser is built.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help_hooks: list[Callable[[Parser], None]] = []

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"hwlat: error: {message}; see '{self.prog} --help'\n")

    def format_help(self) -> str:
        for hook in self.help_hooks:
            hook(self)
        self.help_hooks.clear()
        return super().format_help()


def show_default(action: argparse.Action, value: Any) -> argparse.Action:
    """Show ``value`` as the default of ``action`` in help although the parsed default stays
    ``None`` (the value is decided later, e.g. by the measurement protocol)."""
    action.shown_default = value  # type: ignore[attr-defined]
    return action


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written; each option's default once, ``(default: X)``, and only
    where there is one (not for ``None``, flags, or a help text that already speaks of its default)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings:
            return text
        value = getattr(action, "shown_default", action.default)
        if value is None or value is argparse.SUPPRESS or isinstance(value, bool) or value == []:
            return text
        if isinstance(value, (list, tuple)):
            value = " ".join(map(str, value))
        return f"{text} (default: {str(value).replace('%', '%%')})"


def examples(text: str) -> str:
    """An epilog: ``examples:`` and the command lines, indented."""
    return "examples:\n" + textwrap.indent(textwrap.dedent(text).strip(), "  ")


def space_choices() -> list[str]:
    return SPACES.names()


def strategy_choices() -> list[str]:
    """Registered strategies, without the other names some are also registered under (``alias_of``)."""
    return STRATEGIES.primary_names()


class Parents:
    """The parent parsers shared by the commands, built once per :func:`~hwlat.cli.build_parser`."""

    def __init__(self) -> None:
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show tracebacks and debug logs")
        common.add_argument("--devices-dir", action="append", metavar="DIR", default=None,
                            help="a folder of device spec YAML files (repeatable; also $HWLAT_DEVICES)")
        self.common = common
        self.protocol = protocol_parser()

    def of(self, *extra: argparse.ArgumentParser, protocol: bool = False) -> list[argparse.ArgumentParser]:
        """``common`` (and the protocol's options), then ``extra``."""
        return [self.common, *([self.protocol] if protocol else []), *extra]


def format_parser(*choices: str, default: str | None = None) -> argparse.ArgumentParser:
    """``--format``: table, json and csv unless other ``choices`` are given."""
    choices = choices or FORMATS
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--format", choices=choices, default=default or choices[0],
                   help="output format"
                   + (": table for people, json and csv for programs" if choices == FORMATS else ""))
    return p


def output_parser(kind: str, what: str, *, required: bool = True,
                  default: str | None = None) -> argparse.ArgumentParser:
    """``-o/--output``: a folder (``kind="folder"``) or a file (``kind="file"``) holding ``what``.

    An output folder is locked for the whole run (:func:`hwlat.cli.main`, ``output_folder`` in
    the parsed arguments): a second run on the same folder stops at once."""
    if kind not in ("folder", "file"):
        raise ValueError(f"kind is 'folder' or 'file', not {kind!r}")
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-o", "--output", required=required, default=default, metavar="DIR" if kind == "folder" else "FILE",
                   help=f"output {kind}: {what}")
    p.set_defaults(output_folder=kind == "folder")
    return p


def space_parser(*, required: bool = True, resolutions: bool = True) -> argparse.ArgumentParser:
    """``--space`` (the registered spaces), ``--resolution`` and ``--none-edges``."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("search space")
    g.add_argument("--space", choices=space_choices(), required=required, metavar="SPACE",
                   help="search space: " + ", ".join(space_choices()))
    if resolutions:
        g.add_argument("--resolution", type=int, nargs="+", metavar="PX",
                       help="input resolution(s) of ofa-mbv3 (several) or proxyless (one); nb201 is 32x32. "
                            "Architectures of ofa-mbv3 carry their own ('r')")
    show_default(g.add_argument("--none-edges", choices=NONE_EDGES, default=None,
                                help="nb201: how none edges become ops (absent: a node's shared ReLU/pool; zero: "
                                     "the benchmark's own forward pass)"), "absent")
    return p


def protocol_parser() -> argparse.ArgumentParser:
    """The measurement protocol's options, shared by every command that measures."""
    proto = argparse.ArgumentParser(add_help=False)
    g = proto.add_argument_group("measurement protocol")
    g.add_argument("--quick", action="store_true", help="a short protocol (6 short rounds) for smoke tests")
    d = PROTOCOL_DEFAULTS
    show_default(g.add_argument("--rounds", type=int, help="interleaved rounds per item"), d["rounds"])
    show_default(g.add_argument("--round-time", type=float, metavar="S", help="seconds of calls per item and round"),
                 d["round_time"])
    show_default(g.add_argument("--remeasure", type=int, help="times an item with an unstable estimate gets more "
                                                              "rounds"), d["remeasure"])
    show_default(g.add_argument("--statistic", choices=STATISTICS,
                                help="what the reported latency is: the minimum of single calls, a low quantile, "
                                     "the quiet-mode median, or the median / mean of all calls"), d["statistic"])
    g.add_argument("--no-canary", action="store_true",
                   help="no canary model in the rounds (no interference figure, no re-measurement of slow spells)")
    return proto


def seed_help(what: str) -> str:
    return f"random seed of {what}"


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (when stderr is not a terminal, progress is a line now and then)")


def add_top(p: argparse.ArgumentParser, default: int, what: str = "rows") -> None:
    p.add_argument("--top", type=int, default=default, help=f"{what} to print (0 = all)")


def subcommands(p: argparse.ArgumentParser, dest: str = "action") -> Any:
    s = p.add_subparsers(dest=dest, metavar="ACTION")
    s.required = True
    return s


def command(sub: Any, name: str, parents: Sequence[argparse.ArgumentParser], help: str,
            epilog: str | None = None, description: str | None = None) -> Parser:
    """A (sub)command parser with the project's formatter; ``epilog`` are example lines."""
    description = description or (help[0].upper() + help[1:] + ".")
    return sub.add_parser(name, help=help, description=textwrap.fill(description, 100),
                          parents=list(parents), formatter_class=HelpFormatter,
                          epilog=examples(epilog) if epilog else None)
