"""``hwlat kernels fit``: kernel regressors for op configurations never measured."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hwlat.cli.common import emit
from hwlat.cli.options import (
    SEED,
    Parents,
    command,
    format_parser,
    fraction,
    output_parser,
    seed_help,
    subcommands,
)
from hwlat.errors import InputError


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(sub, "kernels", parents.of(), "fit kernel regressors for op configurations never measured", epilog="""
        hwlat profile --device cpu-ort --kernels all --samples 60 -o tables/kernels
        hwlat kernels fit tables/kernels/table.parquet -o kernels.npz
        hwlat query model.onnx --table tables/kernels/table.parquet --regressor kernels.npz
    """)
    s = subcommands(p)
    x = command(s, "fit", parents.of(format_parser(), output_parser("file", "the regressor (.npz)")),
                "fit one regressor per op kind; print its held-out error",
                epilog="hwlat kernels fit tables/kernels/table.parquet -o kernels.npz\n"
                       "hwlat kernels fit t.parquet --estimator et --target residual --test-size 0.3 \\\n"
                       "    -o k.npz --format json")
    x.add_argument("table", help="a latency table of sampled kernels (hwlat profile --kernels)")
    x.add_argument("--estimator", choices=("gbrt", "et", "rf", "hgb"), default="gbrt",
                   help="gradient boosting (default), extra trees, random forest, histogram gradient boosting")
    x.add_argument("--target", choices=("roofline", "residual", "log", "ms"), default="roofline",
                   help="what the trees fit: log latency over a roofline c + flops/P + bytes/B (default), over a "
                        "log-linear FLOPs/bytes model, log latency alone, or milliseconds")
    x.add_argument("--test-size", type=fraction(0.05, 0.5, "both sides of the split need rows: the fit needs a "
                                                           "kind's most, the score at least 2 of them", closed=True),
                   default=0.2, help="share held out to report the error")
    x.add_argument("--seed", type=SEED, default=0, help=seed_help("the split and the estimator"))
    x.set_defaults(func=cmd_fit)


def cmd_fit(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors import save_predictor
    from hwlat.predictors.kernels import KernelRegressor

    table = LatencyTable.load(args.table)
    model = KernelRegressor(estimator=args.estimator, target=args.target, random_state=args.seed)
    try:
        report = model.held_out_report(table, test_size=args.test_size, random_state=args.seed)
        model.fit(table)
    except InputError as exc:
        raise InputError(f"{args.table}: {exc}") from None
    save_predictor(model, args.output)
    print(f"fitted on {len(table)} ops ({', '.join(model.kinds_)}); wrote {args.output}", file=sys.stderr)
    print("held-out error per kind (fit on a split, scored on the rest):", file=sys.stderr)
    for _, r in report[report["mape_pct"].isna() & (report["kind"] != "all")].iterrows():
        print(f"hwlat: {r['kind']} is not scored: --test-size {args.test_size:g} of its "
              f"{r['n_train'] + r['n_test']} rows leaves {r['n_train']} to fit (it needs {model.min_samples}) and "
              f"{r['n_test']} to score (it needs 2)", file=sys.stderr)
    emit(report, args.format)
    return 0
