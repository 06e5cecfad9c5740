"""Fidelity of the lookup predictor: predicted vs measured end-to-end latency, beside the noise floor.

    python benchmarks/bench_fidelity.py [--devices cpu-ort cpu-litert] [--spaces nb201 ofa-mbv3 proxyless]
                                        [--n 100] [--calibrate 10] [--tables benchmarks/out/profile]

For each device and space: a table (reused from bench_profile.py's output when present, else
profiled), N random architectures measured end to end twice (the second pass is the noise floor)
and K others to calibrate ``a·S + b``; then share within ±5 % / ±10 %, MAPE, Spearman, Kendall.
Also the lookup query speed (a million architectures in one call). OFA is validated at 224x224.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from hwlat.devices import detect, fingerprint_summary
from hwlat.latency_tables import LatencyTable
from hwlat.predictors import LookupPredictor
from hwlat.predictors.validate import validate_space
from hwlat.profiler import Protocol, profile_ops
from hwlat.search.spaces import get_space

SPACE_KW = {"nb201": {}, "ofa-mbv3": {"resolutions": [224]}, "proxyless": {"resolution": 224}}


def table_for(dev: str, space, tables: Path, out: Path, protocol: Protocol) -> LatencyTable:
    reuse = {"nb201": tables / dev / "nb201-run2" / "table.parquet",
             "ofa-mbv3": tables / dev / "ofa-224" / "table.parquet"}.get(space.name)
    if reuse is not None and reuse.exists():
        return LatencyTable.load(reuse)
    ops = space.all_ops(resolution=224) if space.name == "ofa-mbv3" else space.all_ops()
    return profile_ops(ops, dev, protocol=protocol, out_dir=out / dev / f"{space.name}-table", progress=False).table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", nargs="+", default=["cpu-ort", "cpu-litert"])
    ap.add_argument("--spaces", nargs="+", default=["nb201", "ofa-mbv3", "proxyless"])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--calibrate", type=int, default=10)
    ap.add_argument("--tables", type=Path, default=Path("benchmarks/out/profile"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/fidelity"))
    args = ap.parse_args()
    protocol = Protocol()
    t0 = time.time()
    print(f"machine: {fingerprint_summary(detect())}; load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for dev in args.devices:
        for name in args.spaces:
            space = get_space(name, **SPACE_KW[name])
            table = table_for(dev, space, args.tables, args.out, protocol)
            t1 = time.time()
            res = validate_space(space, table, dev, n=args.n, calibrate=args.calibrate, seed=0, protocol=protocol,
                                 out_dir=args.out / dev / name, progress=False)
            p, f = res.prediction, res.noise_floor
            rows.append({"device": dev, "space": name, **{f"pred_{k}": v for k, v in p.items()},
                         **{f"noise_{k}": v for k, v in f.items()}, "a": res.calibration["a"],
                         "b_ms": res.calibration["b_ms"], "median_ms": float(res.rows["measured_ms"].median()),
                         "wall_s": time.time() - t1})
            print(f"[{dev} {name}] ±10 %: {p['within_10_pct']:.0f} % (noise floor {f['within_10_pct']:.0f} %), "
                  f"±5 %: {p['within_5_pct']:.0f} % ({f['within_5_pct']:.0f} %), Spearman {p['spearman']:.3f} "
                  f"({f['spearman']:.3f}), MAPE {p['mape_pct']:.1f} % ({f['mape_pct']:.1f} %), "
                  f"{time.time() - t1:.0f} s", flush=True)
    speed = {}
    for name in args.spaces:
        space = get_space(name, **SPACE_KW[name])
        dev = args.devices[0]
        pred = LookupPredictor(space, table_for(dev, space, args.tables, args.out, protocol)).fit()
        g = space.sample_genes(0, 1_000_000)
        pred.predict_genes(g[:1000])
        times = []
        for _ in range(5):
            t1 = time.perf_counter()
            pred.predict_genes(g)
            times.append(time.perf_counter() - t1)
        speed[name] = 1_000_000 / float(np.median(times))
    (args.out).mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"rows": rows, "queries_per_s": speed}, indent=2))
    print("\n| device | space | median network | within ±10 % (noise floor) | within ±5 % (noise floor) | "
          "MAPE (noise floor) | Spearman (noise floor) | Kendall | calibration a, b |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['device']} | {r['space']} | {r['median_ms']:.2f} ms | {r['pred_within_10_pct']:.0f} % "
              f"({r['noise_within_10_pct']:.0f} %) | {r['pred_within_5_pct']:.0f} % ({r['noise_within_5_pct']:.0f} %) | "
              f"{r['pred_mape_pct']:.1f} % ({r['noise_mape_pct']:.1f} %) | {r['pred_spearman']:.3f} "
              f"({r['noise_spearman']:.3f}) | {r['pred_kendall']:.3f} | {r['a']:.3f}, {r['b_ms']:.3f} ms |")
    print("\n| space | lookup queries per second (1,000,000 architectures in one call, median of 5) |")
    print("|---|---|")
    for name, qps in speed.items():
        print(f"| {name} | {qps:,.0f} |")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}; wall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
