"""The pieces every command's parser is built from: the parser class, the help formatter and the
shared parent parsers (space, protocol, output, format).

Building the parser imports no numpy, pandas or onnx (``hwlat --version`` and ``--help`` stay
fast): the choices come from :mod:`hwlat.registry`, which lists names without importing entries,
and the few constants below mirror the library's (a test keeps them equal).
"""

from __future__ import annotations

import argparse
import math
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
    "MAX_RESOLUTIONS",
    "REMEASURE",
    "RESOLUTION",
    "ROUNDS",
    "ROUND_TIME",
    "SEED",
    "STATISTICS",
    "TOP",
    "Bounded",
    "HelpFormatter",
    "Parents",
    "Parser",
    "add_progress",
    "add_top",
    "at_most",
    "command",
    "count",
    "describe_value",
    "dimension",
    "examples",
    "format_parser",
    "fraction",
    "number",
    "output_parser",
    "positive_float",
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
PROTOCOL_DEFAULTS: dict[str, Any] = {"rounds": 12, "round_time": 0.004, "remeasure": 3, "settle_budget": 0.0,
                                     "statistic": "min"}
NONE_EDGES = ("absent", "zero")
#: the output formats every command that prints results offers
FORMATS = ("table", "json", "csv")


# -- checked option values ---------------------------------------------------------------------------
# Every numeric option takes one of these as its argparse ``type``: a value out of range, NaN or
# infinite is a usage error (exit 2) that names the option (argparse adds it), the value and the
# range, with the reason for the bound. ``--help`` shows the range beside the default.

def describe_value(text: str) -> str:
    """How a message names the value given: NaN and infinities as such, the rest as typed."""
    try:
        v = float(text)
    except ValueError:
        return repr(text)
    if math.isnan(v):
        return "NaN (not a number)"
    if math.isinf(v):
        return "infinity" if v > 0 else "minus infinity"
    return text


def _fmt(v: float) -> str:
    if isinstance(v, int) or (float(v).is_integer() and abs(v) < 1e15):
        return f"{int(v):,}"
    return f"{v:g}"


class Bounded:
    """An argparse ``type``: the text as a whole number (``integer=True``) or a finite number within
    ``lo`` .. ``hi`` (``lo_open`` / ``hi_open``: the bound itself excluded), else
    :class:`argparse.ArgumentTypeError` with the value, the range and ``why``."""

    def __init__(self, lo: float, hi: float, why: str, *, integer: bool, lo_open: bool = False,
                 hi_open: bool = False) -> None:
        if not lo <= hi:
            raise ValueError(f"empty range {lo}..{hi}")
        self.lo, self.hi, self.why, self.integer = lo, hi, why, integer
        self.lo_open, self.hi_open = lo_open, hi_open
        self.__name__ = "whole number" if integer else "number"  # argparse's name for the type

    @property
    def range_text(self) -> str:
        """The range in words: ``1 to 1,000``, ``over 0, at most 10``."""
        lo = f"over {_fmt(self.lo)}" if self.lo_open else _fmt(self.lo)
        if self.hi_open:
            return f"{lo}, under {_fmt(self.hi)}" if self.lo_open else f"{lo} or more, under {_fmt(self.hi)}"
        return f"{lo}, at most {_fmt(self.hi)}" if self.lo_open else f"{lo} to {_fmt(self.hi)}"

    def _wanted(self) -> str:
        """What to give, in words: ``a whole number from 1 to 1,000 (why)``."""
        kind = "a whole number" if self.integer else "a number"
        return f"{kind} {'' if self.lo_open else 'from '}{self.range_text} ({self.why})"

    def _refuse(self, text: str) -> NoReturn:
        raise argparse.ArgumentTypeError(f"{describe_value(text)} is out of range: give {self._wanted()}")

    def __call__(self, text: str) -> Any:
        raw = text.strip()
        v: float
        try:
            v = int(raw)  # exact for whole numbers of any size
        except ValueError:
            v = self._float(raw)
        if self.integer and v != int(v):
            raise argparse.ArgumentTypeError(f"{raw} is not a whole number: give {self._wanted()}")
        if v < self.lo or v > self.hi or (self.lo_open and v == self.lo) or (self.hi_open and v == self.hi):
            self._refuse(raw)
        return int(v) if self.integer else float(v)

    def _float(self, raw: str) -> float:
        try:
            v = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a number: give {self._wanted()}") from None
        if not math.isfinite(v):
            self._refuse(raw)
        return v

    def __repr__(self) -> str:
        return f"Bounded({self.range_text})"


def count(lo: int, hi: int, why: str) -> Bounded:
    """A whole number from ``lo`` to ``hi`` (``why``: the reason for the bounds, shown when refused)."""
    return Bounded(lo, hi, why, integer=True)


def number(lo: float, hi: float, why: str, *, lo_open: bool = False, hi_open: bool = False) -> Bounded:
    """A finite number from ``lo`` to ``hi`` (NaN and infinities refused)."""
    return Bounded(lo, hi, why, integer=False, lo_open=lo_open, hi_open=hi_open)


def positive_float(max: float, why: str) -> Bounded:
    """A finite number over 0 and at most ``max``."""
    return Bounded(0.0, max, why, integer=False, lo_open=True)


def fraction(lo: float, hi: float, why: str, *, closed: bool = False) -> Bounded:
    """A share between ``lo`` and ``hi`` (the bounds themselves excluded unless ``closed``)."""
    return Bounded(lo, hi, why, integer=False, lo_open=not closed, hi_open=not closed)


def at_most(n: int, what: str) -> type[argparse.Action]:
    """An ``nargs="+"`` action that refuses more than ``n`` values (``what``: why not)."""

    class AtMost(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                     option_string: str | None = None) -> None:
            if len(values) > n:
                parser.error(f"argument {option_string or self.dest}: {len(values)} values given, at most {n} "
                             f"({what})")
            setattr(namespace, self.dest, values)

    return AtMost


#: a random seed: numpy's and scikit-learn's seeds are 32-bit, and hwlat derives seed + k from it
SEED = count(0, 2**31 - 1, "a seed is a 31-bit number, so that the seeds derived from it stay 32-bit")
#: an input resolution in pixels
RESOLUTION = count(1, 4096, "a network input of at most 4096 px a side; each space checks its own resolutions further")
#: resolutions of one command at most
MAX_RESOLUTIONS = 16
#: the size of one input dimension
DIM_SIZE = count(1, 1_000_000, "one dimension of a model input, which is allocated whole")


def dimension(text: str) -> tuple[str, int]:
    """``NAME=N``: a named symbolic input dimension and its size (``--dim batch=1``)."""
    name, eq, size = text.partition("=")
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=N: give a symbolic dimension's name and its size, "
                                         "e.g. batch=1")
    return name.strip(), DIM_SIZE(size)


#: rows printed by --top at most
TOP = count(0, 1_000_000, "0 prints all rows")
#: the measurement protocol's options: a profile times hundreds of items, each for
#: rounds x round time, again up to remeasure times
ROUNDS = count(1, 1000, "every round times each item of a chunk once more; 1,000 rounds of a space's ops take hours")
ROUND_TIME = positive_float(10.0, "seconds per item and round; a profile has hundreds of items")
REMEASURE = count(0, 20, "each time is another full set of rounds for an unstable item")
SETTLE_BUDGET = Bounded(0.0, 100.0, "a multiple of a chunk's first pass; 100 lets a busy host take a hundred "
                        "times longer", integer=False)


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
    """Descriptions and epilogs as written; a bounded option's range and each option's default once,
    ``(1 to 1,000; default: X)``, the default only where there is one (not for ``None``, flags, or a
    help text that already speaks of its default)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings:
            return text
        notes = []
        bounds = getattr(action.type, "range_text", None)
        if bounds:
            notes.append(bounds)
        value = getattr(action, "shown_default", action.default)
        if not ("default" in text or value is None or value is argparse.SUPPRESS or isinstance(value, bool)
                or value == []):
            if isinstance(value, (list, tuple)):
                value = " ".join(map(str, value))
            notes.append(f"default: {value}")
        return f"{text} ({'; '.join(notes).replace('%', '%%')})" if notes else text


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
        g.add_argument("--resolution", type=RESOLUTION, nargs="+", metavar="PX",
                       action=at_most(MAX_RESOLUTIONS, "each resolution is a whole table of ops"),
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
    show_default(g.add_argument("--rounds", type=ROUNDS, help="interleaved rounds per item"), d["rounds"])
    show_default(g.add_argument("--round-time", type=ROUND_TIME, metavar="S",
                                help="seconds of calls per item and round"), d["round_time"])
    show_default(g.add_argument("--remeasure", type=REMEASURE, help="times an item with an unstable estimate gets "
                                                                    "more rounds"), d["remeasure"])
    show_default(g.add_argument("--settle-budget", type=SETTLE_BUDGET, metavar="X",
                                help="after those, items still unstable or short of quiet rounds get more rounds "
                                     "while a chunk's extra time stays under X times its first pass (for a host "
                                     "that runs slow nearly all the time; 0: off)"),
                 d["settle_budget"])
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
    p.add_argument("--top", type=TOP, default=default, help=f"{what} to print, 0 for all")


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
