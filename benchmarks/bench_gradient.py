"""Gradient search (ProxylessNAS / FBNet) over a sweep of latency budgets, each result measured.

    python benchmarks/bench_gradient.py [--budgets 4 6 8 10] [--loss add-linear] [--sampling binary]
                                        [--epochs 6] [--gumbel-budget 6] [--seed 0] [--threads 1]
                                        [--out benchmarks/out/gradient]

Latency model: the calibrated ProxylessNAS predictor of ``benchmarks/bench_fidelity.py``
(``benchmarks/out/fidelity/cpu-ort/proxyless/predictor.npz``) when it exists, else a
LookupPredictor over its table (``.../proxyless-table/table.parquet``), else a table profiled here
(``<out>/table``) — all for ``cpu-ort`` and the full-size ProxylessNAS space (width 1.0, 224x224).

For each budget a search runs on the digits dataset (a width-0.35 supernet at 32x32); the derived
architecture is then **measured end to end** on ``cpu-ort`` (whole network at 224x224, default
protocol, checkpointed in ``<out>/measurements``). Results go to ``<out>/results.jsonl`` (one
line per search, reused on a rerun), ``<out>/results.json`` and ``<out>/results.md``.

The latency is that of the full-size network at 224x224; the accuracy is that of the derived
path of the small supernet trained on digits (a ranking signal within the search, not an
ImageNet accuracy).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from hwlat._io import atomic_write_text, ensure_writable_dir
from hwlat.search.data import load_dataset
from hwlat.search.gradient import gradient_search, layer_latency
from hwlat.spaces import get_space

REPO = Path(__file__).resolve().parents[1]
FIDELITY = REPO / "benchmarks" / "out" / "fidelity" / "cpu-ort"


def latency_model(space: Any, out: Path, table_arg: str | None = None, calibrate: int = 10) -> tuple[Any, str]:
    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors.io import load_predictor
    from hwlat.predictors.lookup import LookupPredictor
    from hwlat.profiler import profile_ops

    if table_arg:  # a table given: calibrated here, on networks measured now, spread over its range
        from hwlat.predictors.validate import spread_sample
        from hwlat.profiler.networks import measure_archs

        pred = LookupPredictor(space=space, table=LatencyTable.load(table_arg)).fit()
        if calibrate:
            archs = spread_sample(space, pred, calibrate, 10_007)
            got = measure_archs(space, archs, "cpu-ort", out_dir=out / "calibration", passes=1, tag="cal-",
                                progress=True)
            pred.calibrate(archs, got[:, 0])
        return pred, f"LookupPredictor over {table_arg}, calibrated on {calibrate} networks ({pred.calibrated_})"
    pred_path, table_path = FIDELITY / "proxyless" / "predictor.npz", FIDELITY / "proxyless-table" / "table.parquet"
    table = LatencyTable.load(table_path) if table_path.exists() else None
    if pred_path.exists():
        return load_predictor(pred_path, table=table), f"{pred_path.relative_to(REPO)} (calibrated LookupPredictor)"
    if table is None:
        table = profile_ops(space.all_ops(), "cpu-ort", out_dir=out / "table").table
        table_path = out / "table" / "table.parquet"
    return LookupPredictor(space=space, table=table).fit(), f"LookupPredictor over {table_path}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", nargs="+", type=float, default=[4.0, 6.0, 8.0, 10.0])
    ap.add_argument("--loss", default="add-linear", choices=["mul-log", "add-linear", "fbnet"])
    ap.add_argument("--sampling", default="binary", choices=["binary", "gumbel"])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--gumbel-budget", type=float, default=6.0,
                    help="also run FBNet (fbnet loss, Gumbel sampling) at this budget; 0 to skip")
    ap.add_argument("--latency-weight", type=float, default=None,
                    help="λ of add-linear (default 0.2) or β of mul-log/fbnet (default 0.6)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--table", help="a cpu-ort table of the space, calibrated here on --calibrate networks")
    ap.add_argument("--calibrate", type=int, default=10)
    ap.add_argument("--derive", choices=["budget", "argmax"], default="budget",
                    help="read the network off the probabilities within -10 %%...0 %% of the budget, or by argmax")
    ap.add_argument("--margin", action="store_true",
                    help="derive each network within budget / (1 + m), m the calibrated predictor's budget margin")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "gradient"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import torch

    torch.set_num_threads(max(1, args.threads))
    out = ensure_writable_dir(args.out)
    space = get_space("proxyless")
    pred, pred_desc = latency_model(space, out, args.table, args.calibrate)
    lat = layer_latency(space, pred)
    margin = (pred.budget_margin() or 0.0) if args.margin and hasattr(pred, "budget_margin") else 0.0
    lo, hi = lat.bounds()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    wall0 = time.perf_counter()
    runs = [(b, args.loss, args.sampling) for b in args.budgets]
    if args.gumbel_budget > 0:
        runs.append((args.gumbel_budget, "fbnet", "gumbel"))
    done_path = out / "results.jsonl"
    done: dict[str, dict[str, Any]] = {}
    if done_path.exists():
        for line in done_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                done[r["key"]] = r
    data = load_dataset("digits", input_size=32)
    rows = []
    for budget, loss, sampling in runs:
        lw = args.latency_weight if loss == args.loss else None
        params = None if lw is None else {"lambda" if loss == "add-linear" else "beta": lw}
        key = (f"{loss}|{sampling}|{budget:g}|e{args.epochs}|s{args.seed}|{args.derive}|m{margin:.4f}"
               + ("" if lw is None else f"|w{lw:g}"))
        if key not in done:
            r = gradient_search(space, pred, budget, loss=loss, sampling=sampling, epochs=args.epochs, seed=args.seed,
                                loss_params=params, progress=True, _data=data, _latency=lat, derive=args.derive,
                                margin=margin)
            d = r.to_dict() | {"key": key}
            with done_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(d) + "\n")
            done[key] = d
        rows.append(done[key])
    from hwlat.profiler.networks import measure_archs

    archs = [tuple(r["arch"]) for r in rows]
    meas = measure_archs(space, archs, "cpu-ort", out_dir=out / "measurements", progress=True)[:, 0]
    for r, m in zip(rows, meas):
        r["measured_latency_ms"] = float(m)
    result = {"started": started, "wall_s": time.perf_counter() - wall0, "predictor": pred_desc,
              "space_latency_bounds_ms": [lo, hi], "epochs": args.epochs, "seed": args.seed,
              "threads": args.threads, "runs": rows}
    atomic_write_text(out / "results.json", json.dumps(result, indent=2))
    lines = [
        "# Gradient search on the ProxylessNAS space (cpu-ort)",
        "",
        f"Started {started}; predictor: {pred_desc}; the space spans {lo:.2f}–{hi:.2f} ms (predicted).",
        f"{args.epochs} epochs per search on scikit-learn digits (70 % weights / 15 % α / 15 % held out), "
        f"supernet width 0.35 at 32x32 with shared candidate weights, seed {args.seed}, "
        f"{args.threads} torch thread(s), "
        f"latency weight {'default' if args.latency_weight is None else f'{args.latency_weight:g}'} for {args.loss}, "
        "on a shared 2-core machine.",
        "",
        "**Latency** (expected, predicted, measured) is that of the **full-size ProxylessNAS network at 224x224** "
        "on ONNX Runtime CPU (1 thread); **accuracy** is the top-1 of the derived path of the **small supernet "
        "trained on digits** (inherited weights, BN recalibrated, held-out split) — a ranking signal within the "
        "search, not the ImageNet accuracy of the full network.",
        "",
        f"Networks read off the probabilities by: {args.derive} (budget: the most probable path within -10 %…0 % "
        "of the budget; argmax: each layer's most probable choice, whose latency is also shown); budget margin "
        f"{100 * margin:.1f} % (the path predicted within budget / (1 + margin)).",
        "",
        "| budget (ms) | loss / sampling | E[LAT] (ms) | argmax (ms) | predicted (ms) | vs budget | measured (ms) "
        "| measured ≤ budget | supernet acc (digits) | search (s) | architecture |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        am = r.get("argmax_latency_ms")
        lines.append(f"| {r['budget_ms']:g} | {r['loss']} / {r['sampling']} | {r['expected_latency_ms']:.2f} | "
                     f"{'' if am is None else f'{am:.2f}'} | {r['predicted_latency_ms']:.2f} | "
                     f"{100 * (r['predicted_latency_ms'] / r['budget_ms'] - 1):+.1f} % | "
                     f"{r['measured_latency_ms']:.2f} | "
                     f"{'yes' if r['measured_latency_ms'] <= r['budget_ms'] else 'no'} | "
                     f"{r['supernet_accuracy']:.3f} | {r['seconds']:.0f} | `{r['arch_text']}` |")
    pe = np.array([100 * (r["predicted_latency_ms"] - r["measured_latency_ms"]) / r["measured_latency_ms"]
                   for r in rows])
    lines += ["", f"Predicted vs measured: median error {np.median(pe):+.1f} %, max |error| {np.abs(pe).max():.1f} %.",
              f"Wall time of this run: {result['wall_s']:.0f} s (searches reused from results.jsonl are not re-timed).",
              ""]
    text = "\n".join(lines)
    atomic_write_text(out / "results.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
