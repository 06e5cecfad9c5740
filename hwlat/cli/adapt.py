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
    format_parser,
    output_parser,
    space_parser,
)
from hwlat.errors import InputError


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(
        sub, "adapt", parents.of(space_parser(), format_parser(), output_parser("file", "the predictor (.npz)")),
        "fit a new device from a few whole-model measurements (few-shot)",
        description="For a device that cannot be profiled op by op: fit it from K measured architectures "
                    "(a CSV with columns arch, latency_ms) and the latency table of another device. Writes a "
                    "predictor for 'hwlat query --predictor'.",
        epilog="""
            hwlat space sample nb201 -n 20 --format csv > phone.csv    # then fill in latency_ms
            hwlat adapt --space nb201 --reference tables/cpu-ort/table.parquet --measurements phone.csv -o phone.npz
            hwlat query --space nb201 --predictor phone.npz --archs-file archs.txt
        """)
    p.add_argument("--reference", required=True, help="latency table of a reference device")
    p.add_argument("--measurements", required=True, help="CSV with columns arch, latency_ms")
    p.add_argument("--grouping", choices=("type", "kind", "key", "total"), default="type",
                   help="one multiplier per op type (kind + parameters but channels), kind, op, or one in all")
    p.set_defaults(func=cmd_adapt)


def cmd_adapt(args: argparse.Namespace) -> int:
    import pandas as pd

    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors import save_predictor
    from hwlat.predictors.fewshot import FewShotAdapter

    space = space_of(args)
    ref = LatencyTable.load(args.reference)
    import io

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
    ms = _latencies(p, df["latency_ms"])
    model = FewShotAdapter(space=space, reference_table=ref, grouping=args.grouping)
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
