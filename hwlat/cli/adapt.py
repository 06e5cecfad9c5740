"""``hwlat adapt``: a new device fitted from a few whole-model measurements (few-shot)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hwlat.cli.common import emit, space_of
from hwlat.cli.options import (
    Parents,
    command,
    count,
    format_parser,
    output_parser,
    space_parser,
)
from hwlat.errors import InputError


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(
        sub, "adapt",
        parents.of(space_parser(), format_parser(), output_parser("file", "the predictor (.npz)", required=False)),
        "fit a new device from a few whole-model measurements (few-shot)",
        description="For a device that cannot be profiled op by op: fit it from K measured architectures "
                    "(a CSV with columns arch, latency_ms), either through what many reference devices share "
                    "(--reference-devices: a CSV of the same architectures' latencies on other devices; prints the "
                    "fit's leave-one-out error, gives intervals) or through the latency table of one other device "
                    "(--reference). Writes a predictor for 'hwlat query --predictor'.",
        epilog="""
            hwlat adapt --space nb201 --reference-devices devices.csv --suggest 10 > phone.csv  # fill in latency_ms
            hwlat adapt --space nb201 --reference-devices devices.csv --measurements phone.csv -o phone.npz
            hwlat query --space nb201 --predictor phone.npz --archs-file archs.txt --interval
            hwlat adapt --space proxyless --reference-devices tables/a tables/b --measurements board.csv -o b.npz
            hwlat adapt --space nb201 --reference tables/cpu-ort/table.parquet --measurements phone.csv -o t.npz
        """)
    p.add_argument("--reference", help="latency table of one reference device")
    p.add_argument("--reference-devices", nargs="+", metavar="CSV|TABLE",
                   help="latencies of the space's architectures on reference devices: CSV files (a column arch or "
                        "arch_str and one column of ms per device, joined on their architectures) and/or latency "
                        "tables (.parquet or a folder with table.parquet; each stands for its device, and with "
                        "tables only any architecture of the space can be predicted)")
    p.add_argument("--measurements", help="CSV with columns arch, latency_ms (the new device's)")
    p.add_argument("--suggest", type=count(1, 1000, "a few-shot fit needs a handful of measurements"), metavar="K",
                   help="with --reference-devices: print K architectures worth measuring (a CSV to fill in), "
                        "instead of fitting")
    p.add_argument("--grouping", choices=("type", "kind", "key", "total"), default="type",
                   help="one multiplier per op type (kind + parameters but channels), kind, op, or one in all")
    p.set_defaults(func=cmd_adapt, usage_error=p.error)


def cmd_adapt(args: argparse.Namespace) -> int:
    usage = args.usage_error
    if bool(args.reference) == bool(args.reference_devices):
        usage("give either --reference-devices (other devices' latencies of the architectures) or "
              "--reference (one device's latency table)")
    if args.suggest is not None:
        if not args.reference_devices:
            usage("--suggest needs --reference-devices: the proposal comes from what they share")
        return _suggest(args)
    if not args.measurements:
        usage("give --measurements M.csv (columns arch, latency_ms), or --suggest K to choose what to measure first")
    if not args.output:
        usage("the following arguments are required: -o/--output (the predictor file to write)")
    if args.reference_devices:
        return _adapt_devices(args)
    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors import save_predictor
    from hwlat.predictors.fewshot import FewShotAdapter

    space = space_of(args)
    ref = LatencyTable.load(args.reference)
    archs, ms = _read_measurements(args, space)
    model = FewShotAdapter(space=space, reference_table=ref, grouping=args.grouping)
    p = Path(args.measurements)
    try:
        model.fit(archs, ms)
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from None
    save_predictor(model, args.output)
    print(f"fitted on {len(archs)} measured architectures ({model.mode_}); wrote {args.output}", file=sys.stderr)
    if args.format == "json":
        emit({"mode": model.mode_, "intercept_ms": float(model.intercept_),
              "coef": {k: float(v) for k, v in model.coef_.items()}}, "json")
    else:
        emit(model.coef_.rename("multiplier").reset_index().rename(columns={"index": "group"}), args.format)
    return 0


def _suggest(args: argparse.Namespace) -> int:
    from hwlat.predictors.device_prior import DevicePrior, read_references

    space = space_of(args)
    refs = read_references(args.reference_devices, space)
    archs = DevicePrior(space=space, references=refs).suggest(args.suggest)
    print(f"{len(archs)} architectures the {len(refs.devices)} reference devices leave least certain; measure "
          "them on the new device, fill in latency_ms, and give the file to --measurements", file=sys.stderr)
    emit([{"arch": space.encode(a), "latency_ms": ""} for a in archs], args.format)
    return 0


def _adapt_devices(args: argparse.Namespace) -> int:
    import numpy as np

    from hwlat.predictors import save_predictor
    from hwlat.predictors.device_prior import DevicePrior, read_references

    space = space_of(args)
    refs = read_references(args.reference_devices, space)
    archs, ms = _read_measurements(args, space)
    model = DevicePrior(space=space, references=refs)
    try:
        model.fit(archs, ms)
    except InputError as exc:
        raise InputError(f"{args.measurements}: {exc}") from None
    save_predictor(model, args.output)
    err = 100 * (np.exp(model.loo_rmse_) - 1)
    print(f"fitted on {len(archs)} measured architectures through {len(refs.devices)} reference devices; "
          f"leave-one-out error {err:.1f} % (rms, log); share of the device model {model.share_:g} "
          f"(the rest: op counts){_near(model, refs.devices)}; degenerate architectures: {model.degenerate_}; "
          f"wrote {args.output}",
          file=sys.stderr)
    for o in model.outliers_:
        print(f"warning: {o['arch']} measured {o['measured_ms']:.4g} ms, the others predict {o['loo_ms']:.4g} ms: "
              "check that measurement", file=sys.stderr)
    summary = {"reference_devices": len(refs.devices), "n_fit": model.n_fit_, "loo_error_pct": round(err, 2),
               "share": model.share_, "nearest_device": refs.devices[model.near_[0]] if model.near_ else None,
               "nearest_share": model.near_[2] if model.near_ else 0.0,
               "degenerate": model.degenerate_, "outliers": len(model.outliers_)}
    emit({**summary, "reference_devices": refs.devices, "outliers": model.outliers_} if args.format == "json"
         else [summary], args.format)
    return 0


def _near(model: Any, devices: list[str]) -> str:
    """What the fit took from the nearest reference device, for the summary line."""
    if model.near_ is None:
        return ""
    j, _, share = model.near_
    return f", mixed {share:g} with the nearest reference device, {devices[j]}, rescaled"


def _read_measurements(args: argparse.Namespace, space: Any) -> tuple[list[Any], Any]:
    import io

    import pandas as pd

    from hwlat._files import read_input_text

    p = Path(args.measurements)
    text = read_input_text(p, "measurement file")
    try:
        df = pd.read_csv(io.StringIO(text))
    except Exception as exc:  # noqa: BLE001 - pandas raises many kinds of error for a bad CSV
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
    return archs, _latencies(p, df["latency_ms"])


def _latencies(path: Path, column: Any) -> Any:
    """The ``latency_ms`` column as floats; the file and line of the first that is not a positive
    finite number (NaN and infinities named as such)."""
    import numpy as np
    import pandas as pd

    ms = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    for line, (raw, v) in enumerate(zip(column.tolist(), ms), 2):
        if np.isfinite(v) and v > 0:
            continue
        if isinstance(raw, str) and np.isnan(v):
            what = f"{raw!r}, not a number"
        elif np.isnan(v):
            what = "empty or NaN (not a number)"
        else:
            what = "infinite" if np.isinf(v) else f"{v:g}"
        raise InputError(f"{path}:{line}: latency_ms is {what}; give each architecture's measured latency in ms "
                         "(a positive number)")
    return ms
