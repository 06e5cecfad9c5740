"""``hwlat table show | diff | merge | coverage | import-ofa | export``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hwlat.cli.common import TABLE_COLS, emit, space_ops
from hwlat.cli.options import (
    EXIT_CHECK,
    Parents,
    add_top,
    command,
    format_parser,
    output_parser,
    space_parser,
    subcommands,
)
from hwlat.errors import InputError


def add_parser(sub: Any, parents: Parents) -> None:
    pt = command(sub, "table", parents.of(),
                 "show, diff, merge, check coverage of, import and export latency tables", epilog="""
                    hwlat table show tables/cpu-ort/table.parquet --top 20
                    hwlat table diff a.parquet b.parquet --fail-if latency_ms:+5%
                    hwlat table merge a.parquet b.parquet -o both.parquet
                    hwlat table coverage t.parquet --space ofa-mbv3 --resolution 224
                    hwlat table import-ofa note10_lut_224.yaml -o note10.parquet
                    hwlat table export t.parquet -o t.csv
                 """)
    s = subcommands(pt)
    x = command(s, "show", parents.of(format_parser()), "metadata and the slowest rows",
                epilog="hwlat table show tables/cpu-ort/table.parquet\nhwlat table show t.parquet --format csv > t.csv")
    x.add_argument("table", help="a .parquet or .csv table")
    add_top(x, 20)
    x.set_defaults(func=cmd_show)

    x = command(s, "diff", parents.of(format_parser()), "compare two tables op by op",
                description=f"Compare two tables op by op (b against a). With --fail-if, exit {EXIT_CHECK} when an "
                            "op breaks the rule: a regression gate for CI.",
                epilog="hwlat table diff old.parquet new.parquet\n"
                       "hwlat table diff old.parquet new.parquet --fail-if latency_ms:+5%   # exit 3 on a regression")
    x.add_argument("a", help="the reference table (.parquet or .csv), e.g. the last release's")
    x.add_argument("b", help="the table compared with it, e.g. today's")
    x.add_argument("--fail-if", metavar="RULE",
                   help=f"exit {EXIT_CHECK} if any op breaks RULE, e.g. latency_ms:+5%% (b slower by >5%%), "
                        "latency_ms:5%% (either way), p90_ms:+0.1ms; exit 1 when the tables share no op")
    add_top(x, 20)
    x.set_defaults(func=cmd_diff)

    x = command(s, "merge", parents.of(output_parser("file", "the merged table (.parquet or .csv)")),
                "merge tables of one device", epilog="hwlat table merge monday.parquet tuesday.parquet -o week.parquet")
    x.add_argument("tables", nargs="+", help="tables (.parquet or .csv), merged in order")
    x.add_argument("--prefer", choices=("a", "b"), default="b", help="whose row wins on a shared key (b = later)")
    x.add_argument("--force", action="store_true", help="merge tables of different devices (warns)")
    x.set_defaults(func=cmd_merge)

    x = command(s, "coverage", parents.of(space_parser(), format_parser()), "which ops of a space a table lacks",
                epilog="hwlat table coverage t.parquet --space nb201\n"
                       "hwlat table coverage t.parquet --space ofa-mbv3 --resolution 224 --fail-if-missing")
    x.add_argument("table", help="a .parquet or .csv table")
    add_top(x, 20, "missing keys")
    x.add_argument("--fail-if-missing", action="store_true", help=f"exit {EXIT_CHECK} when anything is missing")
    x.set_defaults(func=cmd_coverage)

    x = command(s, "import-ofa", parents.of(output_parser("file", "the table (.parquet or .csv)")),
                "import Once-for-All / ProxylessNAS YAML lookup tables",
                epilog="hwlat table import-ofa note10_lut_224.yaml -o note10.parquet\n"
                       "hwlat table import-ofa proxyless_gpu.yaml --space proxyless -o gpu.csv")
    x.add_argument("yaml", nargs="+", help="YAML tables (e.g. note10_lut_224.yaml)")
    x.add_argument("--space", choices=("ofa-mbv3", "proxyless"), default="ofa-mbv3",
                   help="the space whose op specs the YAML keys become")
    x.set_defaults(func=cmd_import)

    x = command(s, "export", parents.of(output_parser("file", "the table (.csv or .parquet, by its suffix)")),
                "write a table as .csv or .parquet", epilog="hwlat table export t.parquet -o t.csv")
    x.add_argument("table", help="a .parquet or .csv table")
    x.set_defaults(func=cmd_export)


def cmd_show(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable

    t = LatencyTable.load(args.table)
    if args.format == "json":
        emit({"metadata": t.metadata.to_dict(), "rows": t.df.to_dict(orient="records")}, "json")
        return 0
    if args.format == "csv":
        emit(t.df, "csv")
        return 0
    print(repr(t))
    df = t.df.sort_values("latency_ms", ascending=False)
    if args.top > 0:
        df = df.head(args.top)
    emit(df, "table", table_cols=TABLE_COLS)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable, check_regression, diff

    a, b = LatencyTable.load(args.a), LatencyTable.load(args.b)
    d = diff(a, b)
    if args.fail_if and not len(d.rows):
        raise InputError(f"--fail-if has nothing to compare: {args.a} and {args.b} share no op key "
                         f"({len(d.only_a)} keys only in {args.a}, {len(d.only_b)} only in {args.b}); compare "
                         "tables of the same ops (e.g. profiled with the same --space and --resolution)")
    if args.format == "json":
        emit({"summary": d.summary(), "rows": d.rows.to_dict(orient="records"), "only_a": d.only_a,
              "only_b": d.only_b}, "json")
    else:
        rows = d.rows.reindex(d.rows["delta_pct"].abs().sort_values(ascending=False).index)
        emit(rows.head(args.top) if args.top > 0 else rows, args.format)
        if args.format == "table":
            print(f"\n{json.dumps(d.summary(), default=str)}")
            if d.only_a or d.only_b:
                print(f"only in {args.a}: {len(d.only_a)} keys; only in {args.b}: {len(d.only_b)} keys")
    if args.fail_if:
        bad = check_regression(d, args.fail_if)
        if len(bad):
            print(f"hwlat: {len(bad)} op(s) fail --fail-if {args.fail_if}:", file=sys.stderr)
            for _, r in bad.head(20).iterrows():
                print(f"  {r['key']}: {r['a_ms']:.4f} -> {r['b_ms']:.4f} ms ({r['delta_pct']:+.1f} %)", file=sys.stderr)
            return EXIT_CHECK
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable, merge

    out = LatencyTable.load(args.tables[0])
    for p in args.tables[1:]:
        out = merge(out, LatencyTable.load(p), prefer=args.prefer, force=args.force)
    out.save(args.output)
    print(f"wrote {args.output}: {len(out)} rows", file=sys.stderr)
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable, coverage

    t = LatencyTable.load(args.table)
    cov = coverage(t, space_ops(args.space, args.resolution, args.none_edges))
    if args.format == "json":
        emit({"needed": cov.n_needed, "present": cov.n_present, "fraction": cov.fraction,
              "missing": [s.key for s in cov.missing]}, "json")
    elif args.format == "csv":
        import pandas as pd

        emit(pd.DataFrame([(s.key, s.kind) for s in cov.missing], columns=["missing", "kind"]), "csv")
    else:
        print(cov)
        for s in cov.missing[: args.top if args.top > 0 else None]:
            print(f"  missing: {s.key}")
    return EXIT_CHECK if cov.missing and args.fail_if_missing else 0


def cmd_import(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import import_ofa_yaml, merge

    tables = [import_ofa_yaml(p, space=args.space) for p in args.yaml]
    out = tables[0]
    for t in tables[1:]:
        out = merge(out, t, force=True)
    out.save(args.output)
    print(f"wrote {args.output}: {len(out)} rows from {len(tables)} file(s)", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable

    t = LatencyTable.load(args.table)
    t.save(args.output)
    print(f"wrote {args.output}: {len(t)} rows", file=sys.stderr)
    return 0
