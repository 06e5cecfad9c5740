"""``hwlat query``: the predicted latency of architectures of a space, or of ONNX models."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from hwlat.cli.common import emit, numbered_lines, space_of
from hwlat.cli.options import Parents, command, format_parser, fraction, space_parser
from hwlat.errors import InputError

if TYPE_CHECKING:
    from hwlat.predictors.base import Predictor
    from hwlat.spaces import SearchSpace


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(
        sub, "query", parents.of(space_parser(required=False), format_parser()),
        "predict the latency (ms) of architectures or ONNX models from tables, in microseconds per query",
        description="Predict the latency (ms) of architectures of a space (from a latency table or a saved "
                    "predictor) or of ONNX models (from a table of their kernels). An ofa-mbv3 architecture "
                    "carries its resolution ('r'): the table needs that resolution only.",
        epilog="""
            hwlat query --space nb201 --table t.parquet '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
            hwlat query --space nb201 --predictor val/predictor.npz --archs-file archs.txt --format csv
            hwlat space sample nb201 -n 100 | hwlat query --space nb201 --table t.parquet --archs-file -
            hwlat query --space ofa-mbv3 --table note10.parquet --explain '{"d":[2,2,2,2,2],"e":[3,...],"ks":[3,...],"r":224}'
            hwlat query model.onnx --device cpu-ort --table kernels.parquet --explain
            hwlat query model.onnx --table kernels.parquet --regressor kernels.npz --save-predictor graph.npz
            hwlat query other.onnx --predictor graph.npz
        """)  # noqa: E501 - example command lines print as written; the NB201 and OFA archs do not fit
    p.add_argument("archs", nargs="*", help="architectures in the space's text form, or .onnx files")
    p.add_argument("--archs-file", metavar="FILE",
                   help="more architectures, one per line ('-': standard input, e.g. from 'hwlat space sample')")
    p.add_argument("--table", help="latency table (.parquet/.csv)")
    p.add_argument("--predictor", help="a saved predictor (.npz): from hwlat validate or adapt for architectures, "
                                       "from --save-predictor for ONNX models")
    p.add_argument("--regressor", help="ONNX: a kernel regressor (.npz from 'hwlat kernels fit') for kernels "
                                       "the table lacks")
    p.add_argument("--device", default="cpu-ort", help="device whose runtime optimises ONNX models")
    p.add_argument("--save-predictor", metavar="P.npz",
                   help="ONNX: also write the graph predictor (table, regressor and calibration in one file) for "
                        "later queries with --predictor")
    p.add_argument("--allow-fallback", action="store_true",
                   help="ONNX: estimate ops the table/regressor cannot predict (reported) instead of failing")
    p.add_argument("--explain", action="store_true",
                   help="per-op breakdown: each op with its count, latency and share (ONNX: per node)")
    p.add_argument("--interval", nargs="?", const=0.9, default=None, metavar="LEVEL",
                   type=fraction(0.0, 1.0, "an interval holds a share of outcomes strictly between 0 and 1"),
                   help="also each prediction's LEVEL interval (default 0.9), from a predictor that gives one "
                        "(hwlat adapt --reference-devices)")
    p.set_defaults(func=cmd_query)


def cmd_query(args: argparse.Namespace) -> int:
    import numpy as np

    onnx_files = [a for a in args.archs if a.endswith(".onnx")]
    if onnx_files:
        return _query_onnx(args, onnx_files)
    if not args.space:
        raise InputError("give --space for architectures (or pass .onnx files)")
    space = space_of(args)
    from hwlat._files import shown

    texts = list(args.archs)
    where = [f"architecture {i}" for i in range(1, len(texts) + 1)]
    if args.archs_file:
        name = "standard input" if args.archs_file == "-" else shown(args.archs_file)
        lines = numbered_lines(args.archs_file, "architecture file")
        if not lines and not texts:
            raise InputError(f"the architecture file {name} holds no architecture (only blank or '#' lines); "
                             f"write one per line, e.g. {space.example()}")
        texts += [t for _, t in lines]
        where += [f"{name}:{i}" for i, _ in lines]
    if not texts:
        raise InputError(f"no architecture given; e.g. hwlat query --space {space.name} --table T.parquet "
                         f"'{space.example()}'")
    archs = _decode(space, texts, where)
    pred = _predictor(args, space, archs)
    ms = [float(m) for m in np.atleast_1d(pred.predict(archs))]
    if args.explain:
        return _explain(args, pred, texts, archs, ms)
    if args.interval is not None:
        interval = getattr(pred, "predict_interval", None)
        if not callable(interval):
            raise InputError(f"--interval needs a predictor that gives intervals (hwlat adapt --reference-devices); "
                             f"this one is a {type(pred).__name__}")
        lo, hi = interval(archs, level=args.interval)
        emit([{"arch": t, "latency_ms": m, "low_ms": float(a), "high_ms": float(b)}
              for t, m, a, b in zip(texts, ms, lo, hi)], args.format)
        return 0
    emit([{"arch": t, "latency_ms": m} for t, m in zip(texts, ms)], args.format)
    return 0


def _decode(space: SearchSpace, texts: list[str], where: list[str]) -> list[Any]:
    archs = []
    for w, t in zip(where, texts):
        try:
            archs.append(space.decode(t))
        except InputError as exc:
            raise InputError(f"{w} ({t[:60]}): {exc}") from None
    return archs


def _predictor(args: argparse.Namespace, space: SearchSpace, archs: list[Any]) -> Predictor:
    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors import LookupPredictor, load_predictor
    from hwlat.predictors.io import space_kinds

    table = LatencyTable.load(args.table) if args.table else None
    if args.predictor:
        pred = load_predictor(args.predictor, table=table, kinds=space_kinds(),
                              use=f"a query of {space.name} architectures")
        if getattr(getattr(pred, "space", None), "name", None) != space.name:
            raise InputError(f"{args.predictor} predicts the {getattr(pred.space, 'name', '?')} space, not "
                             f"{space.name}; give a predictor fitted on the {space.name} space")
        if table is None and args.explain:
            raise InputError("--explain needs the table (--table) the predictor was fitted on")
        return pred
    if table is None:
        raise InputError("give a latency table (--table T.parquet) or a saved predictor (--predictor P.npz)")
    if args.space == "ofa-mbv3" and not args.resolution:
        # the resolution is part of an ofa-mbv3 architecture: the table needs the queried ones only
        args.resolution = sorted({int(space.input_shape(a)[-1]) for a in archs})
        space = space_of(args)
    return LookupPredictor(space=space, table=table).fit()


# pred: Any: a predictor with explain(arch); a LookupPredictor, unless --predictor loaded another kind
def _explain(args: argparse.Namespace, pred: Any, texts: list[str], archs: list[Any], ms: Any) -> int:
    """Per architecture, its ops grouped by key: count, the table's latency, the summed contribution
    and share; the slowest first, the per-model overhead last."""
    out = []
    for text, arch, m in zip(texts, archs, ms):
        rows = group_explain(pred.explain(arch))
        if args.format == "json":
            out.append({"arch": text, "latency_ms": float(m), "explain": rows.to_dict(orient="records")})
            continue
        if args.format == "table":
            print(f"{text}: {m:.4f} ms ({int(rows['count'].sum())} ops, {len(rows)} distinct)")
        else:
            rows.insert(0, "arch", text)
        emit(rows, args.format)
        if args.format == "table":
            print()
    if args.format == "json":
        emit(out, "json")
    return 0


def group_explain(df: Any) -> Any:
    """Rows of ``LookupPredictor.explain`` (one per op occurrence) grouped by op key."""
    g = df.groupby(["key", "kind"], sort=False, dropna=False).agg(
        count=("key", "size"), table_ms=("table_ms", "first"), contribution_ms=("contribution_ms", "sum"),
        share_pct=("share_pct", "sum")).reset_index()
    overhead = g["kind"] == "overhead"
    g = g.assign(_o=overhead).sort_values(["_o", "contribution_ms"], ascending=[True, False]).drop(columns="_o")
    return g.reset_index(drop=True)


def _query_onnx(args: argparse.Namespace, files: list[str]) -> int:
    """``hwlat query model.onnx ...``: latency (ms) per model, and the per-kernel breakdown."""
    import numpy as np
    import pandas as pd

    from hwlat.predictors import save_predictor
    from hwlat.predictors.graph import query_models

    res = query_models(files, table=getattr(args, "table", None), predictor=getattr(args, "predictor", None),
                       regressor=getattr(args, "regressor", None), device=args.device,
                       devices_dir=getattr(args, "devices_dir", None),
                       allow_fallback=bool(getattr(args, "allow_fallback", False)), explain=bool(args.explain))
    if getattr(args, "save_predictor", None):
        save_predictor(res.predictor, args.save_predictor)
        print(f"wrote {args.save_predictor} (table, calibration and regressor in one file)", file=sys.stderr)
    for r in res.rows:
        for _, k in r.get("fallback_kernels", pd.DataFrame()).iterrows():
            print(f"{r['model']}: fallback estimate for {k['node']} ({k['op_type']}, {k['shapes']}): "
                  f"{k['predicted_ms']:.4f} ms; {k['note']}", file=sys.stderr)
    fmt = getattr(args, "format", "table") or "table"
    if fmt == "json":
        out = [{**{k: v for k, v in r.items() if k not in ("explain", "fallback_kernels")},
                **({"by_kind": by_kind(r["explain"]).replace({np.nan: None}).to_dict(orient="records"),
                    "explain": r["explain"].replace({np.nan: None}).to_dict(orient="records")}
                   if "explain" in r else {})} for r in res.rows]
        print(json.dumps(out, indent=2, default=str))
        return 0
    summary = res.summary()
    if fmt == "csv":
        if args.explain:  # one table: a row per kernel of each model
            summary = pd.concat([r["explain"].assign(model=r["model"]) for r in res.rows], ignore_index=True)
        summary.to_csv(sys.stdout, index=False)
        return 0
    with pd.option_context("display.max_rows", 2000, "display.max_columns", 50, "display.width", 220,
                           "display.max_colwidth", 70, "display.float_format", "{:.4f}".format):
        if args.explain:
            for r in res.rows:
                print(f"{r['model']}: {r['latency_ms']:.4f} ms, by kernel kind:")
                print(by_kind(r["explain"]).to_string(index=False))
                print("\nper kernel:")
                cols = ["node", "op_type", "kind", "key", "source", "predicted_ms", "share_pct"]
                print(r["explain"][cols].to_string(index=False))
                print()
        else:
            print(summary.to_string(index=False))
    return 0


def by_kind(df: Any) -> Any:
    """Rows of ``GraphPredictor.explain`` (one per kernel) grouped by kernel kind: how many kernels,
    their summed prediction and share, and where the figures came from (table, regressor, ...);
    the largest share first, the per-model overhead last."""
    g = df.groupby("kind", sort=False, dropna=False).agg(
        kernels=("kind", "size"), predicted_ms=("predicted_ms", "sum"), share_pct=("share_pct", "sum"),
        sources=("source", lambda s: ", ".join(f"{k} {v}" for k, v in s.value_counts().items()))).reset_index()
    last = g["kind"] == "overhead"
    return g.assign(_o=last).sort_values(["_o", "predicted_ms"], ascending=[True, False]).drop(columns="_o") \
        .reset_index(drop=True)
