"""``hwlat search``: search a space under a latency budget and write a gallery measured on the device."""

from __future__ import annotations

import argparse
from typing import Any

from hwlat.cli.common import device_of, emit, protocol_of, space_of
from hwlat.cli.options import (
    CALIBRATIONS,
    SEED,
    Parents,
    Parser,
    add_progress,
    at_most,
    command,
    count,
    format_parser,
    number,
    output_parser,
    positive_float,
    seed_help,
    show_default,
    space_parser,
    strategy_choices,
)
from hwlat.errors import InputError

#: a latency budget in ms: positive, and under 1000 s (a network that slow has no latency budget)
BUDGET = positive_float(1e6, "a latency in ms")

DESCRIPTION = (
    "Profile (or reuse) the device's latency table, calibrate the lookup predictor on a few networks measured end "
    "to end, search with NSGA-II, aging evolution (MnasNet reward) or random search, and write a gallery: "
    "front.csv/front.json (predicted and measured latency, accuracy and its source), budgets.csv, pareto.png and "
    "index.html (one row per budget). Every step resumes when the same command is run again. Accuracy sources: "
    "{syntax}. Without --accuracy, NB201 is ranked by a zero-cost proxy computed live, labelled as such. "
    "--format csv prints the budgets' table."
)


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(
        sub, "search", parents.of(space_parser(), format_parser(),
                                  output_parser("folder", "the gallery (front, budgets, plots, models; resumable)"),
                                  protocol=True),
        "search a space under a latency budget; write a gallery measured on the device",
        description=DESCRIPTION.format(syntax="see 'hwlat search --help'"),
        epilog="""
        hwlat search --device cpu-ort --space nb201 --budget 5 -o gallery/
        hwlat search --space ofa-mbv3 --resolution 224 --table note10_224.parquet --no-measure \
            --accuracy ofa-predictor:acc_predictor.pth --budgets 15 20 25 30 40 50 -o note10-gallery/
        hwlat search --device cpu-ort --space nb201 --accuracy nb201-csv:accuracy.csv:cifar100 --table t.parquet -o g/
        hwlat search --device cpu-ort --space proxyless --strategy gradient --budgets 6 8 10 12 -o pnas/
        hwlat search --device cpu-litert --space ofa-mbv3 --resolution 224 --accuracy ofa-predictor:acc_predictor.pth \\
            --strategy evolution --reward hard --budget 30 --evaluations 5000 -o ofa-gallery/
        """)
    p.help_hooks.append(_accuracy_help)
    p.add_argument("--device", help="device to measure on (and whose table to profile); not needed with --table T "
                                    "--no-measure, which searches for T's device")
    p.add_argument("--accuracy", metavar="SOURCE", help="accuracy source")
    p.add_argument("--table", help="the device's latency table of the space (default: profile it into DIR/table)")
    p.add_argument("--predictor", help="a saved latency predictor (.npz) instead of a table")
    p.add_argument("--strategy", choices=strategy_choices(), default="budgets",
                   help="search strategy; budgets (the default): one evolution run that aims at every budget of the "
                        "gallery; gradient: ProxylessNAS/FBNet supernet search (proxyless space), one per budget")
    show_default(p.add_argument("--reward", choices=("hard", "soft"),
                                help="evolution: hard budget constraint, or MnasNet's soft ACC*(LAT/T)^-0.07 (an "
                                     "exchange rate between accuracy and latency, not a budget)"), "hard")
    p.add_argument("--population", type=count(2, 100_000, "a generation of the search holds this many networks"),
                   help="population size of evolution / NSGA-II")
    p.add_argument("--evaluations", type=count(1, 1_000_000, "the search keeps every network it evaluates"),
                   default=1000, help="architectures evaluated by the search")
    p.add_argument("--budget", type=BUDGET, metavar="MS", help="latency budget (ms): the search's constraint")
    p.add_argument("--budgets", type=BUDGET, nargs="+", metavar="MS",
                   action=at_most(100, "the gallery picks and measures a network per budget"),
                   help="budgets (ms) of the gallery's table (default: six up to --budget or over the front)")
    p.add_argument("--calibrate", type=count(0, 10_000, "each is a network measured end to end"), default=10,
                   help="networks measured to calibrate the predictor (spread over the latency range of the table)")
    show_default(p.add_argument("--calibration", choices=CALIBRATIONS, default=None,
                                help="how the calibration networks correct the table (auto: per op type or affine, "
                                     "chosen on the calibration networks themselves)"), "auto")
    p.add_argument("--max-measure", type=count(1, 10_000, "each is a network measured end to end; --no-measure "
                                                          "measures none"),
                   default=30, help="front members measured end to end at most")
    p.add_argument("--no-measure", action="store_true", help="measure nothing (predicted latencies only)")
    p.add_argument("--export", choices=("budgets", "front", "none"), default="budgets",
                   help="write ONNX and TFLite files of the budget picks, of every measured member, or none")
    p.add_argument("--seed", type=SEED, default=0, help=seed_help("the search and the calibration sample"))
    add_progress(p)
    g = p.add_argument_group("gradient search (--strategy gradient)")
    g.add_argument("--loss", choices=("add-linear", "mul-log", "fbnet"), default="add-linear",
                   help="ProxylessNAS's CE + λ·(E[LAT]-T)/T or CE·α·(log E[LAT]/log T)^β; FBNet's "
                        "CE·α·(1+log(E[LAT]/T))^β")
    g.add_argument("--latency-weight", type=number(0.0, 100.0, "a weight or an exponent of the latency term"),
                   help="λ of add-linear or β of mul-log/fbnet (default: 0.2 and 0.6)")
    g.add_argument("--sampling", choices=("binary", "gumbel"), default="binary",
                   help="ProxylessNAS binarised paths or FBNet Gumbel-softmax")
    g.add_argument("--dataset", default="digits",
                   help="'digits' (scikit-learn's, upsampled; offline) or a dataset folder/.npz")
    g.add_argument("--epochs", type=count(1, 1000, "every epoch trains the supernet once more, per budget"),
                   default=8, help="supernet training epochs per budget")
    g.add_argument("--max-batches", type=count(1, 1_000_000, "batches per epoch; leave it out for all"),
                   help="batches per epoch at most (quick runs)")
    p.set_defaults(func=cmd_search, usage_error=p.error)


def _accuracy_help(p: Parser) -> None:
    """The accuracy sources' syntax, read when help is shown (from the registry: hwlat.search
    imports numpy and pandas)."""
    from hwlat.registry import accuracy_syntax

    lines = accuracy_syntax()
    p.description = DESCRIPTION.format(syntax="; ".join(lines))
    for action in p._actions:
        if action.dest == "accuracy":
            action.help = "accuracy source: " + " | ".join(lines).replace("%", "%%")


def cmd_search(args: argparse.Namespace) -> int:
    from hwlat.search.workflow import search_gallery

    if args.device is None and not (args.no_measure and (args.table or args.predictor)):
        args.usage_error("--device is needed to measure (or to profile a table); to search from a table alone give "
                         "--table T --no-measure")
    device = device_of(args) if args.device is not None else None
    space = space_of(args)
    predictor = None
    if args.predictor:
        from hwlat.predictors import load_predictor
        from hwlat.predictors.io import space_kinds

        predictor = load_predictor(args.predictor, kinds=space_kinds(), use=f"a search of the {space.name} space")
        if getattr(getattr(predictor, "space", None), "name", None) != space.name:
            raise InputError(f"{args.predictor} does not predict the {space.name} space")
    kw: dict[str, Any] = {}
    if args.reward:
        if args.strategy != "evolution":
            raise InputError("--reward applies to --strategy evolution")
        kw["reward"] = args.reward
    if args.population is not None:
        if not _takes(args.strategy, "population"):
            raise InputError(f"--population applies to strategies with a population (nsga2, evolution), not "
                             f"{args.strategy}")
        kw["population"] = args.population
    if args.strategy == "gradient":
        kw.update({"loss": args.loss, "sampling": args.sampling, "dataset": args.dataset, "epochs": args.epochs})
        if args.max_batches:
            kw["max_batches"] = args.max_batches
        if args.latency_weight is not None:
            kw["loss_params"] = {"lambda" if args.loss == "add-linear" else "beta": args.latency_weight}
    else:
        gradient_only = {"--loss": args.loss != "add-linear", "--latency-weight": args.latency_weight is not None,
                         "--sampling": args.sampling != "binary", "--dataset": args.dataset != "digits",
                         "--epochs": args.epochs != 8, "--max-batches": args.max_batches is not None}
        given = [opt for opt, on in gradient_only.items() if on]
        if given:
            raise InputError(f"{', '.join(given)} apply to --strategy gradient, not {args.strategy}; leave them out")
    run = search_gallery(space, device, args.output, accuracy=args.accuracy, table=args.table, predictor=predictor,
                         strategy=args.strategy, n_evals=args.evaluations, budget_ms=args.budget,
                         budgets=args.budgets, seed=args.seed, calibrate=args.calibrate, measure=not args.no_measure,
                         max_measure=args.max_measure, export=args.export, protocol=protocol_of(args),
                         progress=not args.no_progress, calibration=args.calibration, **kw)
    s = run.summary
    if args.format == "json":
        emit(s, "json")
    elif args.format == "csv":
        emit(s["budgets"], "csv")
    else:
        print(f"{s['strategy']} on {s['space']}: {s['evaluations']} evaluations in {s['search_wall_s']:.2f} s; "
              f"accuracy: {s['accuracy']}; latency: {s['latency']}")
        print(run.gallery.summary())
    return 0


def _takes(strategy: str, param: str) -> bool:
    """Whether the registered ``strategy``'s constructor takes ``param`` (or any keyword)."""
    import inspect

    from hwlat.registry import STRATEGIES

    sig = inspect.signature(STRATEGIES.get(strategy).__init__)
    return param in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
