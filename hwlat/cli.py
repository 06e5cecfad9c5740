"""The ``hwlat`` command. Each subcommand is a thin call into the public API.

Exit codes: 0 success, 1 bad input or a failed check (one message, no traceback unless
``--debug``), 2 command-line usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from hwlat import __version__
from hwlat.errors import HwlatError, InputError

log = logging.getLogger("hwlat")


# -- output helpers ---------------------------------------------------------------------------------

def _emit(obj: Any, fmt: str, *, table_cols: Sequence[str] | None = None) -> None:
    """Print a DataFrame / list of dicts / dict as a table, JSON or CSV to stdout."""
    import pandas as pd

    if fmt == "json":
        if isinstance(obj, pd.DataFrame):
            obj = obj.to_dict(orient="records")
        print(json.dumps(obj, indent=2, default=str))
        return
    df = obj if isinstance(obj, pd.DataFrame) else pd.DataFrame(obj if isinstance(obj, list) else [obj])
    if table_cols is not None:
        df = df[[c for c in table_cols if c in df.columns]]
    if fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    else:
        with pd.option_context("display.max_rows", 500, "display.max_columns", 50, "display.width", 200,
                               "display.max_colwidth", 90, "display.float_format", "{:.4f}".format):
            print(df.to_string(index=False) if len(df) else "(empty)")


def _nb201_kw(space_name: str, none_edges: str | None) -> dict[str, Any]:
    if none_edges is None:
        return {}
    if space_name != "nb201":
        raise InputError(f"--none-edges applies to the nb201 space, not {space_name}")
    return {"none_edges": none_edges}


def _space_ops(space_name: str, resolutions: Sequence[int] | None, none_edges: str | None = None) -> list:
    from hwlat.spaces import get_space

    return get_space(space_name, **_nb201_kw(space_name, none_edges)).table_ops(resolutions)


def _read_ops_file(path: str) -> list:
    """Op specs from a file: one key per line (``#`` comments), or a JSON/YAML list of keys or dicts."""
    from hwlat._io import load_yaml
    from hwlat.ops import OpSpec

    p = Path(path)
    if not p.exists():
        raise InputError(f"op list {p} does not exist")
    items: list[Any]
    if p.suffix in (".json", ".yaml", ".yml"):
        items = load_yaml(p, "op list")[0] or []
        if isinstance(items, dict) and "ops" in items:
            items = items["ops"]
        if not isinstance(items, list):
            raise InputError(f"{p} must hold a list of op keys or op dicts (kind, input_shape, params)")
    else:
        text = p.read_text(encoding="utf-8")
        items = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
        items = [ln for ln in items if ln]
    specs = []
    for i, item in enumerate(items, 1):
        try:
            if isinstance(item, str):
                specs.append(OpSpec.from_key(item))
            elif isinstance(item, dict):
                d = dict(item)
                kind, shape = d.pop("kind", None), d.pop("input_shape", None)
                if kind is None or shape is None:
                    raise InputError("an op dict needs 'kind' and 'input_shape'")
                specs.append(OpSpec.make(kind, shape, **d.pop("params", {}), **d))
            else:
                raise InputError(f"expected an op key string or a dict, got {type(item).__name__}")
        except InputError as exc:
            raise InputError(f"{p}, op {i}: {exc}") from None
    if not specs:
        raise InputError(f"{p} lists no ops")
    return specs


def _protocol(args: argparse.Namespace):
    from hwlat.profiler import Protocol

    base = Protocol.quick() if getattr(args, "quick", False) else Protocol()
    changes: dict[str, Any] = {}
    for flag, field in (("rounds", "rounds"), ("round_time", "round_time_s"), ("remeasure", "remeasure"),
                        ("seed", "seed"), ("statistic", "statistic")):
        v = getattr(args, flag, None)
        if v is not None:
            changes[field] = v
    if getattr(args, "no_canary", False):
        changes["canary"] = False
    return base.replace(**changes) if changes else base


# -- subcommands ------------------------------------------------------------------------------------

def cmd_devices_list(args: argparse.Namespace) -> int:
    from hwlat.devices import list_devices

    rows = []
    for d in list_devices(search_path=args.devices_dir):
        rows.append({"name": d.name, "runtime": d.runtime, "provider": d.provider, "threads": d.threads,
                     "precision": d.precision, "location": d.location, "description": d.description})
    _emit(rows, args.format)
    return 0


def cmd_devices_show(args: argparse.Namespace) -> int:
    from hwlat.devices import dump_device, load_device

    spec = load_device(args.name, search_path=args.devices_dir)
    if args.format == "json":
        _emit(spec.to_dict(), "json")
    else:
        print(dump_device(spec), end="")
    return 0


def cmd_devices_detect(args: argparse.Namespace) -> int:
    from hwlat.devices import detect, fingerprint_summary, list_devices
    from hwlat.profiler.runtimes import get_runtime_class

    fp = detect()
    usable = []
    for d in list_devices(search_path=args.devices_dir):
        try:
            cls = get_runtime_class(d.runtime)
            ok = cls.is_available() and (d.provider != "cuda" or _cuda_ok(d.runtime))
        except HwlatError:
            ok = False
        usable.append({"device": d.name, "usable_here": ok})
    if args.format == "json":
        _emit({"host": fp, "devices": usable}, "json")
    else:
        print(fingerprint_summary(fp))
        print()
        _emit(usable, "table")
    return 0


def _cuda_ok(runtime: str) -> bool:
    from hwlat.profiler.runtimes import get_runtime_class

    return get_runtime_class(runtime).cuda_available()


def cmd_ops_list(args: argparse.Namespace) -> int:
    specs = _space_ops(args.space, args.resolution, args.none_edges)
    if args.format == "keys":
        for s in specs:
            print(s.key)
    else:
        rows = [{"key": s.key, "kind": s.kind, "output_shape": "x".join(map(str, s.output_shape)),
                 "mflops": s.flops / 1e6} for s in specs]
        _emit(rows, args.format)
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from hwlat.devices import load_device
    from hwlat.profiler.profile import profile_ops

    sources = [x for x in (args.space, args.ops, args.kernels, args.model) if x]
    if len(sources) != 1:
        raise InputError("give exactly one of --space NAME, --ops FILE, --kernels KINDS or --model FILE.onnx")
    if args.adaptive and not args.kernels:
        raise InputError("--adaptive applies to --kernels")
    device = load_device(args.device, search_path=args.devices_dir)
    protocol = _protocol(args)
    seed = args.seed if args.seed is not None else 0
    if args.space:
        specs = _space_ops(args.space, args.resolution, args.none_edges)
    elif args.ops:
        specs = _read_ops_file(args.ops)
    elif args.model:
        from hwlat.predictors.onnx_kernels import kernel_specs_of

        specs = kernel_specs_of(args.model, device=device)
    else:
        from hwlat.predictors.sampling import (
            adaptive_kernel_specs,
            kernel_specs,
            profiling_measure,
        )

        kinds = [k.strip() for k in args.kernels.split(",") if k.strip()]
        if args.adaptive:
            measure = profiling_measure(device, protocol=protocol, out_dir=args.output,
                                        progress=not args.no_progress)
            specs = adaptive_kernel_specs(kinds, args.samples, seed=seed, measure=measure)
        else:
            specs = kernel_specs(kinds, args.samples, seed=seed)
    result = profile_ops(specs, device, protocol=protocol, out_dir=args.output,
                         progress=not args.no_progress, chunk_size=args.chunk_size, fresh=args.fresh)
    print(result.summary(), file=sys.stderr)
    table = result.table
    if args.format == "json":
        _emit({"summary": {"ops": result.n_ops, "measured": result.n_measured, "resumed": result.n_resumed,
                           "remeasured": result.n_remeasured, "unstable": result.unstable,
                           "statistic": result.statistic,
                           "interference": result.interference.to_dict() if result.interference else None,
                           "overhead_ms": result.overhead_ms, "wall_s": result.wall_s},
               "table": str(result.files[0]) if result.files else None}, "json")
    else:
        df = table.df.sort_values("latency_ms", ascending=False)
        print(f"{len(df)} ops on {device.name}; the {min(args.top, len(df))} slowest:")
        _emit(df.head(args.top), "table", table_cols=TABLE_COLS)
    return 0


def cmd_profile_model(args: argparse.Namespace) -> int:
    from hwlat.devices import load_device
    from hwlat.profiler.model import profile_model

    device = load_device(args.device, search_path=args.devices_dir)
    if device.location_kind == "adb":
        return _profile_model_adb(args, device)
    prof = profile_model(args.model, device, protocol=_protocol(args), trace_runs=args.runs,
                         warmup_runs=args.warmup)
    if args.format == "json":
        _emit(prof.to_dict(), "json")
        return 0
    nodes = prof.nodes if args.top <= 0 else prof.nodes.head(args.top)
    if args.format == "csv":
        _emit(prof.nodes, "csv")
        return 0
    print(f"{prof.path.name} on {prof.device}: {prof.latency!r}")
    print(f"sum of traced nodes: {prof.sum_nodes_ms:.4f} ms over {len(prof.nodes)} kernels "
          f"({prof.latency.statistic} over {prof.traced_runs} traced runs, {prof.dropped_runs} warm-up runs dropped)")
    print()
    _emit(nodes, "table", table_cols=["node", "op_type", "provider", "latency_ms", "median_ms", "share_pct"])
    if args.top > 0 and len(prof.nodes) > args.top:
        print(f"... {len(prof.nodes) - args.top} more (use --top 0 for all)")
    print()
    _emit(prof.by_op_type(), "table")
    return 0


def _profile_model_adb(args: argparse.Namespace, device: Any) -> int:
    from hwlat.profiler.model import profile_model

    prof = profile_model(args.model, device, trace_runs=args.runs, warmup_runs=args.warmup)
    if args.format in ("json", "csv"):
        _emit(prof.to_dict() if args.format == "json" else prof.nodes, args.format)
        return 0
    print(f"{prof.path.name} on {prof.device}: {prof.latency!r}")
    print(f"sum of benchmark_model's per-node means: {prof.sum_nodes_ms:.4f} ms over {len(prof.nodes)} nodes")
    print()
    nodes = prof.nodes if args.top <= 0 else prof.nodes.head(args.top)
    _emit(nodes, "table", table_cols=["node", "op_type", "latency_ms", "share_pct", "delegated"])
    print()
    _emit(prof.by_op_type(), "table")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from hwlat.devices import load_device
    from hwlat.search.workflow import search_gallery

    device = load_device(args.device, search_path=args.devices_dir)
    space = _space_from_args(args)
    predictor = None
    if args.predictor:
        from hwlat.predictors import load_predictor

        predictor = load_predictor(args.predictor)
        if getattr(getattr(predictor, "space", None), "name", None) != space.name:
            raise InputError(f"{args.predictor} does not predict the {space.name} space")
    kw: dict[str, Any] = {}
    if args.reward:
        if args.strategy != "evolution":
            raise InputError("--reward applies to --strategy evolution")
        kw["reward"] = args.reward
    if args.population:
        kw["population"] = args.population
    if args.strategy == "gradient":
        kw.update({"loss": args.loss, "sampling": args.sampling, "dataset": args.dataset, "epochs": args.epochs})
        if args.max_batches:
            kw["max_batches"] = args.max_batches
        if args.latency_weight is not None:
            kw["loss_params"] = {"lambda" if args.loss == "add-linear" else "beta": args.latency_weight}
    elif args.max_batches or args.dataset != "digits":
        raise InputError("--dataset and --max-batches apply to --strategy gradient")
    run = search_gallery(space, device, args.output, accuracy=args.accuracy, table=args.table, predictor=predictor,
                         strategy=args.strategy, n_evals=args.evaluations, budget_ms=args.budget,
                         budgets=args.budgets, seed=args.seed, calibrate=args.calibrate, measure=not args.no_measure,
                         max_measure=args.max_measure, export=args.export, protocol=_protocol(args),
                         progress=not args.no_progress, calibration=args.calibration, **kw)
    if args.format == "json":
        _emit(run.summary, "json")
        return 0
    s = run.summary
    print(f"{s['strategy']} on {s['space']}: {s['evaluations']} evaluations in {s['search_wall_s']:.2f} s; "
          f"accuracy: {s['accuracy']}; latency: {s['latency']}")
    print(run.gallery.summary())
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    from hwlat.devices import load_device
    from hwlat.profiler.networks import measure_files
    from hwlat.profiler.runtimes import get_runtime_class

    device = load_device(args.device, search_path=args.devices_dir)
    backend = get_runtime_class(device.runtime)
    want = f".{backend.model_format}" if backend.model_files else None
    for m in args.models:
        if want is None:
            raise InputError(f"hwlat measure runs model files on onnxruntime (.onnx) or litert (.tflite) devices; "
                             f"{device.name} uses {device.runtime}")
        if not str(m).endswith(want):
            raise InputError(f"device {device.name} runs {want} files ({device.runtime}); {m} is not one")
    got = measure_files(args.models, device, protocol=_protocol(args), passes=1, progress=not args.no_progress)
    rows = []
    for path, (rec,) in zip(args.models, got.records):
        rows.append({"model": str(path), "device": device.name, "latency_ms": rec["latency_ms"],
                     "statistic": got.statistic, "median_ms": rec["median_ms"], "p10_ms": rec["p10_ms"],
                     "p90_ms": rec["p90_ms"], "iqr_ms": rec["iqr_ms"], "stability_pct": rec["stability_pct"],
                     "n": rec["n"], "rounds": rec["rounds"]})
    if args.format == "json":
        _emit({"models": rows, "interference": got.interference.to_dict() if got.interference else None}, "json")
    elif args.format == "csv":
        _emit(rows, "csv")
    else:
        for r in rows:
            print(f"{r['model']} on {r['device']}: {r['latency_ms']:.4f} ms ({r['statistic']} of {r['n']} single calls "
                  f"over {r['rounds']} rounds; median {r['median_ms']:.4f}, p10-p90 {r['p10_ms']:.4f}-{r['p90_ms']:.4f} ms"
                  f", stable within {r['stability_pct']:.1f} %)")
        if got.interference is not None:
            print(got.interference.summary())
    return 0


def cmd_table_show(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable

    t = LatencyTable.load(args.table)
    if args.format == "json":
        _emit({"metadata": t.metadata.to_dict(), "rows": t.df.to_dict(orient="records")}, "json")
        return 0
    if args.format == "csv":
        _emit(t.df, "csv")
        return 0
    print(repr(t))
    df = t.df.sort_values("latency_ms", ascending=False)
    if args.top > 0:
        df = df.head(args.top)
    _emit(df, "table", table_cols=TABLE_COLS)
    return 0


def cmd_table_diff(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable, check_regression, diff

    a, b = LatencyTable.load(args.a), LatencyTable.load(args.b)
    d = diff(a, b)
    if args.format == "json":
        _emit({"summary": d.summary(), "rows": d.rows.to_dict(orient="records"), "only_a": d.only_a,
               "only_b": d.only_b}, "json")
    else:
        rows = d.rows.reindex(d.rows["delta_pct"].abs().sort_values(ascending=False).index)
        _emit(rows.head(args.top) if args.top > 0 else rows, args.format)
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
            return 1
    return 0


def cmd_table_merge(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable, merge

    out = LatencyTable.load(args.tables[0])
    for p in args.tables[1:]:
        out = merge(out, LatencyTable.load(p), prefer=args.prefer, force=args.force)
    out.save(args.output)
    print(f"wrote {args.output}: {len(out)} rows", file=sys.stderr)
    return 0


def cmd_table_coverage(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable, coverage

    t = LatencyTable.load(args.table)
    cov = coverage(t, _space_ops(args.space, args.resolution, args.none_edges))
    if args.format == "json":
        _emit({"needed": cov.n_needed, "present": cov.n_present, "fraction": cov.fraction,
               "missing": [s.key for s in cov.missing]}, "json")
    else:
        print(cov)
        for s in cov.missing[: args.top if args.top > 0 else None]:
            print(f"  missing: {s.key}")
    return 0 if not cov.missing or not args.fail_if_missing else 1


def cmd_table_import(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import import_ofa_yaml, merge

    tables = [import_ofa_yaml(p, space=args.space) for p in args.yaml]
    out = tables[0]
    for t in tables[1:]:
        out = merge(out, t, force=True)
    out.save(args.output)
    print(f"wrote {args.output}: {len(out)} rows from {len(tables)} file(s)", file=sys.stderr)
    return 0


def cmd_table_export(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable

    t = LatencyTable.load(args.table)
    t.save(args.output)
    print(f"wrote {args.output}: {len(t)} rows", file=sys.stderr)
    return 0


def _space_from_args(args: argparse.Namespace):
    from hwlat.spaces import get_space

    space = get_space(args.space, **_nb201_kw(args.space, getattr(args, "none_edges", None)))
    return space.with_resolutions(args.resolution) if getattr(args, "resolution", None) else space


def cmd_validate(args: argparse.Namespace) -> int:
    from hwlat.devices import load_device
    from hwlat.predictors.validate import validate_space
    from hwlat.search.workflow import space_table

    device = load_device(args.device, search_path=args.devices_dir)
    space = _space_from_args(args)
    out = Path(args.output)
    protocol = _protocol(args)
    if not args.table:
        print(f"no --table given: profiling the {space.name} ops on {device.name} into {out / 'table'} first",
              file=sys.stderr)
    table = space_table(space, device, args.table, out, protocol=protocol, progress=not args.no_progress)
    result = validate_space(space, table, device, n=args.n, calibrate=args.calibrate, seed=args.seed,
                            protocol=protocol, out_dir=out, progress=not args.no_progress,
                            calibration=args.calibration)
    if args.format == "json":
        _emit({**result.to_dict(), "files": [str(f) for f in result.files]}, "json")
    else:
        print(result.summary())
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    import numpy as np

    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors import LookupPredictor, load_predictor

    onnx_files = [a for a in args.archs if a.endswith(".onnx")]
    if onnx_files:
        return _query_onnx(args, onnx_files)
    if not args.space:
        raise InputError("give --space for architectures (or pass .onnx files)")
    space = _space_from_args(args)
    texts = list(args.archs)
    if args.archs_file:
        p = Path(args.archs_file)
        if not p.exists():
            raise InputError(f"architecture file {p} does not exist")
        texts += [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()
                  if ln.strip() and not ln.lstrip().startswith("#")]
    if not texts:
        raise InputError(f"no architecture given; e.g. hwlat query --space {space.name} --table T.parquet "
                         f"'{space.example()}'")
    archs = []
    for i, t in enumerate(texts, 1):
        try:
            archs.append(space.decode(t))
        except InputError as exc:
            raise InputError(f"architecture {i} ({t[:60]}): {exc}") from None
    table = LatencyTable.load(args.table) if args.table else None
    if args.predictor:
        pred = load_predictor(args.predictor, table=table)
        if pred.space.name != space.name:
            raise InputError(f"{args.predictor} predicts the {pred.space.name} space, not {space.name}")
        if table is None and args.explain:
            raise InputError("--explain needs the table (--table) the predictor was fitted on")
    else:
        if table is None:
            raise InputError("give a latency table (--table T.parquet) or a saved predictor (--predictor P.npz)")
        pred = LookupPredictor(space=space, table=table).fit()
    ms = pred.predict(archs)
    if args.explain:
        for text, arch, m in zip(texts, archs, ms):
            print(f"{text}: {m:.4f} ms")
            _emit(pred.explain(arch), args.format if args.format != "json" else "table",
                  table_cols=["key", "table_ms", "contribution_ms", "share_pct"])
            print()
        return 0
    rows = [{"arch": t, "latency_ms": float(m)} for t, m in zip(texts, np.atleast_1d(ms))]
    _emit(rows, args.format)
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    import pandas as pd

    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors import save_predictor
    from hwlat.predictors.fewshot import FewShotAdapter

    space = _space_from_args(args)
    ref = LatencyTable.load(args.reference)
    p = Path(args.measurements)
    if not p.exists():
        raise InputError(f"measurement file {p} does not exist")
    try:
        df = pd.read_csv(p)
    except Exception as exc:
        raise InputError(f"{p} is not a readable CSV: {exc}") from None
    missing = [c for c in ("arch", "latency_ms") if c not in df.columns]
    if missing:
        raise InputError(f"{p} needs columns arch and latency_ms (missing: {', '.join(missing)}); "
                         "one row per measured architecture")
    archs = []
    for i, t in enumerate(df["arch"].astype(str), 2):
        try:
            archs.append(space.decode(t))
        except InputError as exc:
            raise InputError(f"{p}:{i}: {exc}") from None
    model = FewShotAdapter(space=space, reference_table=ref, grouping=args.grouping)
    model.fit(archs, df["latency_ms"].to_numpy(float))
    save_predictor(model, args.output)
    print(f"fitted on {len(archs)} measured architectures ({model.mode_}); wrote {args.output}", file=sys.stderr)
    if args.format == "json":
        _emit({"mode": model.mode_, "intercept_ms": float(model.intercept_),
               "coef": {k: float(v) for k, v in model.coef_.items()}}, "json")
    else:
        _emit(model.coef_.rename("multiplier").reset_index().rename(columns={"index": "group"}), "table")
    return 0


def cmd_kernels_fit(args: argparse.Namespace) -> int:
    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors import save_predictor
    from hwlat.predictors.kernels import KernelRegressor

    table = LatencyTable.load(args.table)
    model = KernelRegressor(estimator=args.estimator, random_state=args.seed)
    report = model.held_out_report(table, test_size=args.test_size, random_state=args.seed)
    model.fit(table)
    save_predictor(model, args.output)
    print(f"fitted on {len(table)} ops ({', '.join(model.kinds_)}); wrote {args.output}", file=sys.stderr)
    print("held-out error per kind (fit on a split, scored on the rest):", file=sys.stderr)
    _emit(report, args.format)
    return 0


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
                **({"explain": r["explain"].replace({np.nan: None}).to_dict(orient="records")}
                   if "explain" in r else {})} for r in res.rows]
        print(json.dumps(out, indent=2, default=str))
        return 0
    summary = res.summary()
    if fmt == "csv" and not args.explain:
        summary.to_csv(sys.stdout, index=False)
        return 0
    with pd.option_context("display.max_rows", 2000, "display.max_columns", 50, "display.width", 220,
                           "display.max_colwidth", 70, "display.float_format", "{:.4f}".format):
        if args.explain:
            for r in res.rows:
                print(f"{r['model']}: {r['latency_ms']:.4f} ms")
                cols = ["node", "op_type", "key", "source", "predicted_ms", "share_pct"]
                if fmt == "csv":
                    r["explain"].to_csv(sys.stdout, index=False)
                else:
                    print(r["explain"][cols].to_string(index=False))
                print()
        else:
            print(summary.to_string(index=False))
    return 0


# -- parser -----------------------------------------------------------------------------------------

class _Fmt(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


#: the columns of a latency table printed by profile and table show
TABLE_COLS = ["key", "latency_ms", "median_ms", "p90_ms", "stability_pct", "n"]
#: the calibrations of the lookup predictor (kept here: building the parser imports no numpy)
CALIBRATIONS = ("auto", "type", "kind", "key", "affine", "none")
STATISTICS = ("min", "p5", "p10", "quiet", "median", "mean")


def _protocol_parser() -> argparse.ArgumentParser:
    """The measurement protocol's options, shared by every command that measures."""
    proto = argparse.ArgumentParser(add_help=False)
    g = proto.add_argument_group("measurement protocol")
    g.add_argument("--quick", action="store_true", help="a short protocol (6 short rounds) for smoke tests")
    g.add_argument("--rounds", type=int, help="interleaved rounds per item (default 12)")
    g.add_argument("--round-time", type=float, metavar="S", help="seconds of calls per item and round (default 0.004)")
    g.add_argument("--remeasure", type=int,
                   help="times an item with an unstable estimate gets more rounds (default 3)")
    g.add_argument("--statistic", choices=STATISTICS,
                   help="what the reported latency is: the minimum of single calls (default), a low quantile, the "
                        "quiet-mode median, or the median / mean of all calls")
    g.add_argument("--no-canary", action="store_true",
                   help="no canary model in the rounds (no interference figure, no re-measurement of slow spells)")
    return proto


def _examples(text: str) -> str:
    return "examples:\n" + textwrap.indent(textwrap.dedent(text).strip(), "  ")


class _Parser(argparse.ArgumentParser):
    """Usage errors (unknown choice, missing option) exit 1 with one line, like any bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"hwlat: error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    from hwlat.registry import SPACES

    spaces = SPACES.names()  # the choices of --space: every registered space, plugins included
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks and debug logs")
    common.add_argument("--devices-dir", action="append", metavar="DIR", default=None,
                        help="a folder of device spec YAML files (repeatable; also $HWLAT_DEVICES)")
    proto = _protocol_parser()

    p = _Parser(
        prog="hwlat", formatter_class=_Fmt, parents=[common],
        description="Hardware-aware latency toolkit: profile a device, store latency tables, "
                    "predict latency, search under a latency budget.",
        epilog=_examples("""
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
        """),
    )
    p.add_argument("--version", action="version", version=f"hwlat {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    fmt_help = "output format"

    # devices
    pd_ = sub.add_parser("devices", help="list, show and detect devices", formatter_class=_Fmt, parents=[common],
                         epilog=_examples("hwlat devices list\nhwlat devices show cpu-litert\nhwlat devices detect --format json"))
    dsub = pd_.add_subparsers(dest="action", metavar="ACTION")
    dsub.required = True
    x = dsub.add_parser("list", help="the device specs known (built-in and yours)", parents=[common], formatter_class=_Fmt)
    x.add_argument("--format", choices=("table", "json", "csv"), default="table", help=fmt_help)
    x.set_defaults(func=cmd_devices_list)
    x = dsub.add_parser("show", help="one device spec as YAML", parents=[common], formatter_class=_Fmt)
    x.add_argument("name", help="a device name or a YAML file")
    x.add_argument("--format", choices=("yaml", "json"), default="yaml", help=fmt_help)
    x.set_defaults(func=cmd_devices_show)
    x = dsub.add_parser("detect", help="this host's fingerprint and which devices run here", parents=[common],
                        formatter_class=_Fmt)
    x.add_argument("--format", choices=("table", "json"), default="table", help=fmt_help)
    x.set_defaults(func=cmd_devices_detect)

    # ops
    po = sub.add_parser("ops", help="list the op specs a search space needs", formatter_class=_Fmt, parents=[common],
                        epilog=_examples("hwlat ops list --space nb201\n"
                                         "hwlat ops list --space ofa-mbv3 --resolution 224 --format keys > ofa224.txt"))
    osub = po.add_subparsers(dest="action", metavar="ACTION")
    osub.required = True
    x = osub.add_parser("list", help="the distinct op specs of a space", parents=[common], formatter_class=_Fmt)
    x.add_argument("--space", choices=spaces, required=True, help="search space")
    x.add_argument("--resolution", type=int, nargs="+", help="input resolution(s) (ofa-mbv3, proxyless)")
    x.add_argument("--none-edges", choices=("absent", "zero"), default=None,
                      help="nb201: how none edges become ops (absent: a node's shared ReLU/pool; zero: the benchmark's own forward pass); default absent")
    x.add_argument("--format", choices=("table", "json", "csv", "keys"), default="table", help=fmt_help)
    x.set_defaults(func=cmd_ops_list)

    # profile
    pp = sub.add_parser(
        "profile", help="measure every op of a space (or an op list) on a device", formatter_class=_Fmt,
        parents=[common, proto],
        description="Measure the latency of every distinct op of a search space (or of an op list) on a "
                    "device and write a latency table (DIR/table.parquet and DIR/table.csv). Progress and "
                    "ETA go to stderr. Interrupted runs resume: run the same command again.",
        epilog=_examples("""
            hwlat profile --device cpu-ort --space nb201 -o tables/cpu-ort
            hwlat profile --device cpu-litert --space ofa-mbv3 --resolution 160 192 224 -o tables/cpu-litert
            hwlat profile --device cpu-ort --ops my_ops.txt -o tables/mine     # one op key per line
            hwlat ops list --space proxyless --format keys > ops.txt           # a file to start from
            hwlat profile --device cpu-ort --kernels conv,pool,fc,add --samples 300 -o tables/kernels
            hwlat profile --device cpu-ort --model resnet18.onnx -o tables/resnet18
        """))
    pp.add_argument("--device", required=True, help="device name (see 'hwlat devices list') or YAML file")
    pp.add_argument("--space", choices=spaces, help="profile every op this search space needs")
    pp.add_argument("--resolution", type=int, nargs="+", help="input resolution(s) for ofa-mbv3/proxyless")
    pp.add_argument("--none-edges", choices=("absent", "zero"), default=None,
                      help="nb201: how none edges become ops (absent: a node's shared ReLU/pool; zero: the benchmark's own forward pass); default absent")
    pp.add_argument("--ops", metavar="FILE", help="profile the op keys in FILE (text: one per line; or JSON/YAML list)")
    pp.add_argument("--kernels", metavar="KINDS",
                    help="profile random configurations of these op kinds (e.g. conv,pool,fc,add) to train a "
                         "kernel regressor")
    pp.add_argument("--samples", type=int, default=200, help="configurations per kind with --kernels")
    pp.add_argument("--adaptive", action="store_true",
                    help="with --kernels: sample more where a regressor's error is high (in rounds)")
    pp.add_argument("--model", metavar="FILE.onnx",
                    help="profile the kernels an ONNX model runs (after the runtime's graph optimisation)")
    pp.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (resumes if it holds a run)")
    pp.add_argument("--seed", type=int, help="seed for weights, inputs and round order (default 0)")
    pp.add_argument("--chunk-size", type=int, default=16, help="ops measured together, interleaved")
    pp.add_argument("--fresh", action="store_true", help="discard earlier measurements in DIR and start over")
    pp.add_argument("--no-progress", action="store_true", help="no progress bar")
    pp.add_argument("--top", type=int, default=10, help="slowest ops to print at the end")
    pp.add_argument("--format", choices=("table", "json"), default="table", help=fmt_help)
    pp.set_defaults(func=cmd_profile)

    # profile-model
    pm = sub.add_parser(
        "profile-model", help="per-node latency breakdown of one ONNX (or, on a phone, TFLite) model",
        formatter_class=_Fmt, parents=[common, proto],
        description="Time an ONNX model end to end (untraced) and break its latency down per kernel from the "
                    "ONNX Runtime trace, warm-up runs dropped, sorted, with the share of the total. On an adb "
                    "device, a .tflite model is timed and broken down by LiteRT's benchmark_model "
                    "(--enable_op_profiling).",
        epilog=_examples("hwlat profile-model resnet18.onnx --device cpu-ort --top 15\n"
                         "hwlat profile-model model.onnx --device cpu-ort --format csv > nodes.csv\n"
                         "hwlat profile-model model.tflite --device phones/pixel7.yaml"))
    pm.add_argument("model", help="an .onnx file (a .tflite file for an adb device)")
    pm.add_argument("--device", default="cpu-ort", help="an onnxruntime device, or an adb device")
    pm.add_argument("--runs", type=int, default=50, help="traced runs kept")
    pm.add_argument("--warmup", type=int, default=10, help="traced warm-up runs dropped")
    pm.add_argument("--top", type=int, default=20, help="nodes to print (0 = all)")
    pm.add_argument("--format", choices=("table", "json", "csv"), default="table", help=fmt_help)
    pm.set_defaults(func=cmd_profile_model)

    # validate
    pv = sub.add_parser(
        "validate", help="check predictions against real measurements of random architectures",
        formatter_class=_Fmt, parents=[common, proto],
        description="Build N random architectures of a space, measure each end to end on the device (twice, "
                    "to show the noise floor of the measurement itself), and compare with the lookup predictor "
                    "calibrated on K other measured architectures. Writes validation.csv, validation.png, "
                    "validation.json and the calibrated predictor.npz to the output folder. Resumable.",
        epilog=_examples("""
            hwlat validate --device cpu-ort --space nb201 --n 100 --table tables/cpu-ort/table.parquet -o val/
            hwlat validate --device cpu-litert --space ofa-mbv3 --resolution 224 --n 50 -o val-litert/  # profiles first
        """))
    pv.add_argument("--device", required=True, help="device name or YAML file")
    pv.add_argument("--space", choices=spaces, required=True, help="search space")
    pv.add_argument("--resolution", type=int, nargs="+", help="resolution(s) for ofa-mbv3/proxyless")
    pv.add_argument("--none-edges", choices=("absent", "zero"), default=None,
                      help="nb201: how none edges become ops (absent: a node's shared ReLU/pool; zero: the benchmark's own forward pass); default absent")
    pv.add_argument("--table", help="latency table of the device (default: profile the space first)")
    pv.add_argument("--n", type=int, default=100, help="test architectures")
    pv.add_argument("--calibrate", type=int, default=10, help="other architectures measured to calibrate")
    pv.add_argument("--seed", type=int, default=0, help="seed of the architecture sample")
    pv.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    pv.add_argument("--calibration", choices=CALIBRATIONS, default=None,
                    help="how the K networks correct the table: auto (default: per op type or affine, whichever "
                         "predicts left-out calibration networks better), one multiplier per op type, kind or op, "
                         "an affine a*S+b, or none")
    pv.add_argument("--no-progress", action="store_true", help="no progress bar")
    pv.add_argument("--format", choices=("table", "json"), default="table", help=fmt_help)
    pv.set_defaults(func=cmd_validate)

    # query
    pq = sub.add_parser(
        "query", help="predict the latency (ms) of architectures or ONNX models from tables, in microseconds per query",
        formatter_class=_Fmt, parents=[common],
        epilog=_examples("""
            hwlat query --space nb201 --table t.parquet '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
            hwlat query --space nb201 --predictor val/predictor.npz --archs-file archs.txt --format csv
            hwlat query --space ofa-mbv3 --table note10.parquet --explain '{"d":[2,2,2,2,2],"e":[3,...],"ks":[3,...],"r":224}'
            hwlat query model.onnx --device cpu-ort --table kernels.parquet --explain
            hwlat query model.onnx --table kernels.parquet --regressor kernels.npz --save-predictor graph.npz
            hwlat query other.onnx --predictor graph.npz
        """))
    pq.add_argument("archs", nargs="*", help="architectures in the space's text form, or .onnx files")
    pq.add_argument("--space", choices=spaces, help="search space of the architectures")
    pq.add_argument("--resolution", type=int, nargs="+", help="resolution(s) for ofa-mbv3/proxyless")
    pq.add_argument("--none-edges", choices=("absent", "zero"), default=None,
                      help="nb201: how none edges become ops (absent: a node's shared ReLU/pool; zero: the benchmark's own forward pass); default absent")
    pq.add_argument("--archs-file", metavar="FILE", help="more architectures, one per line")
    pq.add_argument("--table", help="latency table (.parquet/.csv)")
    pq.add_argument("--predictor", help="a saved predictor (.npz): from hwlat validate or adapt for architectures, "
                                        "from --save-predictor for ONNX models")
    pq.add_argument("--regressor", help="ONNX: a kernel regressor (.npz from 'hwlat kernels fit') for kernels "
                                        "the table lacks")
    pq.add_argument("--device", default="cpu-ort", help="device whose runtime optimises ONNX models")
    pq.add_argument("--save-predictor", metavar="P.npz",
                    help="ONNX: also write the graph predictor (table, regressor and calibration in one file) for "
                         "later queries with --predictor")
    pq.add_argument("--allow-fallback", action="store_true",
                    help="ONNX: estimate ops the table/regressor cannot predict (reported) instead of failing")
    pq.add_argument("--explain", action="store_true", help="per-op breakdown")
    pq.add_argument("--format", choices=("table", "json", "csv"), default="table", help=fmt_help)
    pq.set_defaults(func=cmd_query)

    # search
    from hwlat.search.accuracy import accuracy_syntax
    from hwlat.search.strategies import strategy_names

    accuracy_lines = accuracy_syntax()

    ps = sub.add_parser(
        "search", help="search a space under a latency budget; write a gallery measured on the device",
        formatter_class=_Fmt, parents=[common, proto],
        description="Profile (or reuse) the device's latency table, calibrate the lookup predictor on a few networks "
                    "measured end to end, search with NSGA-II, aging evolution (MnasNet reward) or random search, and "
                    "write a gallery: front.csv/front.json (predicted and measured latency, accuracy and its source), "
                    "budgets.csv, pareto.png and index.html (one row per budget). Every step resumes when the same "
                    "command is run again. Accuracy sources: " + "; ".join(accuracy_lines) + ". Without --accuracy, "
                    "NB201 is ranked by a zero-cost proxy computed live, labelled as such.",
        epilog=_examples("""
            hwlat search --device cpu-ort --space nb201 --budget 5 -o gallery/
            hwlat search --device cpu-ort --space nb201 --accuracy nb201-csv:accuracy.csv:cifar100 --table t.parquet -o g/
            hwlat search --device cpu-ort --space proxyless --strategy gradient --budgets 6 8 10 12 -o pnas/
            hwlat search --device cpu-litert --space ofa-mbv3 --resolution 224 --accuracy ofa-predictor:acc_predictor.pth \\
                --strategy evolution --reward hard --budget 30 --evaluations 5000 -o ofa-gallery/
        """))
    ps.add_argument("--device", required=True, help="device to measure on (and whose table to use)")
    ps.add_argument("--space", choices=spaces, required=True)
    ps.add_argument("--resolution", type=int, nargs="+", help="resolution(s) for ofa-mbv3/proxyless")
    ps.add_argument("--none-edges", choices=("absent", "zero"), default=None,
                    help="nb201: how none edges become ops; default absent")
    ps.add_argument("-o", "--output", required=True, help="gallery folder (resumable)")
    ps.add_argument("--accuracy", help="accuracy source: " + " | ".join(accuracy_lines))
    ps.add_argument("--table", help="the device's latency table of the space (default: profile it into OUTPUT/table)")
    ps.add_argument("--predictor", help="a saved latency predictor (.npz) instead of a table")
    ps.add_argument("--strategy", choices=strategy_names(), default="nsga2",
                    help="gradient: ProxylessNAS/FBNet supernet search (proxyless space), one per budget")
    ps.add_argument("--reward", choices=("hard", "soft"),
                    help="evolution: hard budget constraint, or MnasNet's soft ACC*(LAT/T)^-0.07 (an exchange rate "
                         "between accuracy and latency, not a budget); default hard")
    ps.add_argument("--population", type=int, help="population size of evolution / NSGA-II")
    ps.add_argument("--evaluations", type=int, default=1000, help="architectures evaluated by the search")
    ps.add_argument("--budget", type=float, help="latency budget (ms): the search's constraint")
    ps.add_argument("--loss", choices=("add-linear", "mul-log", "fbnet"), default="add-linear",
                    help="gradient: ProxylessNAS's CE + λ·(E[LAT]-T)/T or CE·α·(log E[LAT]/log T)^β; FBNet's "
                         "CE·α·(1+log(E[LAT]/T))^β")
    ps.add_argument("--latency-weight", type=float,
                    help="gradient: λ of add-linear (default 0.2) or β of mul-log/fbnet (default 0.6)")
    ps.add_argument("--sampling", choices=("binary", "gumbel"), default="binary",
                    help="gradient: ProxylessNAS binarised paths or FBNet Gumbel-softmax")
    ps.add_argument("--dataset", default="digits",
                    help="gradient: 'digits' (scikit-learn's, upsampled; offline) or a dataset folder/.npz")
    ps.add_argument("--epochs", type=int, default=8, help="gradient: supernet training epochs per budget")
    ps.add_argument("--max-batches", type=int, help="gradient: batches per epoch at most (quick runs)")
    ps.add_argument("--budgets", type=float, nargs="+", help="budgets (ms) of the gallery's table; default six up to "
                                                              "--budget or over the front")
    ps.add_argument("--calibrate", type=int, default=10, help="random networks measured to calibrate the predictor")
    ps.add_argument("--max-measure", type=int, default=30, help="front members measured end to end at most")
    ps.add_argument("--no-measure", action="store_true", help="measure nothing (predicted latencies only)")
    ps.add_argument("--export", choices=("budgets", "front", "none"), default="budgets",
                    help="write ONNX and TFLite files of the budget picks, of every measured member, or none")
    ps.add_argument("--seed", type=int, default=0)
    ps.add_argument("--calibration", choices=CALIBRATIONS, default=None,
                    help="how the calibration networks correct the table (default auto: per op type or affine, "
                         "chosen on the calibration networks themselves)")
    ps.add_argument("--no-progress", action="store_true", help="no progress bars")
    ps.add_argument("--format", choices=("table", "json"), default="table", help=fmt_help)
    ps.set_defaults(func=cmd_search)

    # measure
    pme = sub.add_parser(
        "measure", help="the end-to-end latency of model files, with hwlat's measurement protocol",
        formatter_class=_Fmt, parents=[common, proto],
        description="Time whole models (.onnx on an onnxruntime device, .tflite on a litert device) with the same "
                    "protocol and statistic as a latency table's ops: single calls over interleaved rounds, the "
                    "minimum by default, the spread beside it, and the interference figure of the run.",
        epilog=_examples("""
            hwlat measure resnet18.onnx --device cpu-ort
            hwlat measure a.onnx b.onnx --device cpu-ort --format csv > latency.csv
            hwlat measure model.tflite --device cpu-litert --statistic median --format json
        """))
    pme.add_argument("models", nargs="+", help="model files (measured together, interleaved)")
    pme.add_argument("--device", default="cpu-ort", help="device name or YAML file")
    pme.add_argument("--no-progress", action="store_true", help="no progress bar")
    pme.add_argument("--format", choices=("table", "json", "csv"), default="table", help=fmt_help)
    pme.set_defaults(func=cmd_measure)

    # kernels
    pk = sub.add_parser("kernels", help="fit kernel regressors for op configurations never measured",
                        formatter_class=_Fmt, parents=[common],
                        epilog=_examples("""
                            hwlat profile --device cpu-ort --kernels conv,pool,fc,add --samples 300 -o tables/kernels
                            hwlat kernels fit tables/kernels/table.parquet -o kernels.npz
                            hwlat query model.onnx --table tables/kernels/table.parquet --regressor kernels.npz
                        """))
    ksub = pk.add_subparsers(dest="action", metavar="ACTION")
    ksub.required = True
    x = ksub.add_parser("fit", help="fit one regressor per op kind; print its held-out error", parents=[common],
                        formatter_class=_Fmt)
    x.add_argument("table", help="a latency table of sampled kernels")
    x.add_argument("-o", "--output", required=True, help="regressor file (.npz)")
    x.add_argument("--estimator", choices=("et", "rf", "gbrt", "hgb"), default="et",
                   help="extra trees, random forest, gradient boosting, histogram gradient boosting")
    x.add_argument("--test-size", type=float, default=0.2, help="share held out to report the error")
    x.add_argument("--seed", type=int, default=0)
    x.add_argument("--format", choices=("table", "json", "csv"), default="table", help=fmt_help)
    x.set_defaults(func=cmd_kernels_fit)

    # adapt
    pa = sub.add_parser(
        "adapt", help="fit a new device from a few whole-model measurements (few-shot)", formatter_class=_Fmt,
        parents=[common],
        description="For a device that cannot be profiled op by op: fit it from K measured architectures "
                    "(a CSV with columns arch, latency_ms) and the latency table of another device. Writes a "
                    "predictor for 'hwlat query --predictor'.",
        epilog=_examples("""
            hwlat adapt --space nb201 --reference tables/cpu-ort/table.parquet --measurements phone.csv -o phone.npz
            hwlat query --space nb201 --predictor phone.npz --archs-file archs.txt
        """))
    pa.add_argument("--space", choices=spaces, required=True)
    pa.add_argument("--resolution", type=int, nargs="+", help="resolution(s) for ofa-mbv3/proxyless")
    pa.add_argument("--none-edges", choices=("absent", "zero"), default=None,
                      help="nb201: how none edges become ops (absent: a node's shared ReLU/pool; zero: the benchmark's own forward pass); default absent")
    pa.add_argument("--reference", required=True, help="latency table of a reference device")
    pa.add_argument("--measurements", required=True, help="CSV with columns arch, latency_ms")
    pa.add_argument("--grouping", choices=("type", "kind", "key", "total"), default="type",
                    help="one multiplier per op type (kind + parameters but channels), kind, op, or one in all")
    pa.add_argument("-o", "--output", required=True, help="predictor file (.npz)")
    pa.add_argument("--format", choices=("table", "json"), default="table", help=fmt_help)
    pa.set_defaults(func=cmd_adapt)

    # table
    pt = sub.add_parser("table", help="show, diff, merge, check coverage of, import and export latency tables",
                        formatter_class=_Fmt, parents=[common],
                        epilog=_examples("""
                            hwlat table show tables/cpu-ort/table.parquet --top 20
                            hwlat table diff a.parquet b.parquet --fail-if latency_ms:+5%
                            hwlat table merge a.parquet b.parquet -o both.parquet
                            hwlat table coverage t.parquet --space ofa-mbv3 --resolution 224
                            hwlat table import-ofa note10_lut_224.yaml -o note10.parquet
                            hwlat table export t.parquet -o t.csv
                        """))
    tsub = pt.add_subparsers(dest="action", metavar="ACTION")
    tsub.required = True
    x = tsub.add_parser("show", help="metadata and the slowest rows", parents=[common], formatter_class=_Fmt)
    x.add_argument("table", help="a .parquet or .csv table")
    x.add_argument("--top", type=int, default=20, help="rows to print (0 = all)")
    x.add_argument("--format", choices=("table", "json", "csv"), default="table", help=fmt_help)
    x.set_defaults(func=cmd_table_show)
    x = tsub.add_parser("diff", help="compare two tables op by op", parents=[common], formatter_class=_Fmt)
    x.add_argument("a")
    x.add_argument("b")
    x.add_argument("--fail-if", metavar="RULE",
                   help="exit 1 if any op breaks RULE, e.g. latency_ms:+5%% (b slower by >5%%), latency_ms:5%%, "
                        "p90_ms:+0.1ms")
    x.add_argument("--top", type=int, default=20, help="rows to print (0 = all)")
    x.add_argument("--format", choices=("table", "json", "csv"), default="table", help=fmt_help)
    x.set_defaults(func=cmd_table_diff)
    x = tsub.add_parser("merge", help="merge tables of one device", parents=[common], formatter_class=_Fmt)
    x.add_argument("tables", nargs="+")
    x.add_argument("-o", "--output", required=True)
    x.add_argument("--prefer", choices=("a", "b"), default="b", help="whose row wins on a shared key (b = later)")
    x.add_argument("--force", action="store_true", help="merge tables of different devices (warns)")
    x.set_defaults(func=cmd_table_merge)
    x = tsub.add_parser("coverage", help="which ops of a space a table lacks", parents=[common], formatter_class=_Fmt)
    x.add_argument("table")
    x.add_argument("--space", choices=spaces, required=True)
    x.add_argument("--resolution", type=int, nargs="+")
    x.add_argument("--none-edges", choices=("absent", "zero"), default=None,
                      help="nb201: how none edges become ops (absent: a node's shared ReLU/pool; zero: the benchmark's own forward pass); default absent")
    x.add_argument("--top", type=int, default=20, help="missing keys to print (0 = all)")
    x.add_argument("--fail-if-missing", action="store_true", help="exit 1 when anything is missing")
    x.add_argument("--format", choices=("table", "json"), default="table", help=fmt_help)
    x.set_defaults(func=cmd_table_coverage)
    x = tsub.add_parser("import-ofa", help="import Once-for-All / ProxylessNAS YAML lookup tables",
                        parents=[common], formatter_class=_Fmt)
    x.add_argument("yaml", nargs="+", help="YAML tables (e.g. note10_lut_224.yaml)")
    x.add_argument("--space", choices=("ofa-mbv3", "proxyless"), default="ofa-mbv3")
    x.add_argument("-o", "--output", required=True, help="a .parquet or .csv file")
    x.set_defaults(func=cmd_table_import)
    x = tsub.add_parser("export", help="write a table as .csv or .parquet", parents=[common], formatter_class=_Fmt)
    x.add_argument("table")
    x.add_argument("-o", "--output", required=True)
    x.set_defaults(func=cmd_table_export)
    from hwlat.profiler.agent import add_agent_parser

    add_agent_parser(sub, [common], _Fmt)

    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if not debug:
        import warnings

        def _show(message, category, filename, lineno, file=None, line=None):  # one plain line
            print(f"hwlat: warning: {message}", file=sys.stderr)

        warnings.showwarning = _show
    try:
        return int(args.func(args) or 0)
    except HwlatError as exc:
        if debug:
            raise
        print(f"hwlat: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nhwlat: interrupted; what was measured is kept: run the same command again to resume",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        if debug:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"hwlat: error: {exc.strerror or exc}{where}; check the path and its permissions", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
