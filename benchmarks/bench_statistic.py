"""Which statistic makes a latency repeatable and additive on a shared machine?

    python benchmarks/bench_statistic.py [--devices cpu-ort cpu-litert] [--spaces nb201 proxyless ofa-mbv3]
                                         [--n 40] [--calibrate 10] [--stress] [--out benchmarks/out/statistic]

For each device and space, with hwlat's protocol (single calls over many short rounds,
interleaved; the raw samples kept):

* every op of the space is measured once (the table), and N random networks three times: copies
  A and B prepared separately and measured in the same chunks (rounds interleaved), copy C in a
  second pass after all of A and B (seconds to minutes later);
* every statistic (min, p5, p10, quiet, median, mean) is computed from the *same* samples, so
  the comparison is side by side;
* repeatability: the share of networks whose B (and C) is within ±5 % / ±10 % of A;
* additivity: the table of each statistic, calibrated per op type on the first K networks (copy
  A), predicting copy A of the others: share within ±10 % / ±5 %.

``--stress`` keeps the other core busy with a plain Python loop for the whole run. The
interference figure (share of canary rounds that ran slow) is printed beside every row.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np

from hwlat.devices import detect, fingerprint_summary, load_device
from hwlat.latency_tables import LatencyTable, TableMetadata
from hwlat.predictors import LookupPredictor
from hwlat.predictors.validate import metrics
from hwlat.profiler import Protocol
from hwlat.profiler.jobs import OVERHEAD_SPEC
from hwlat.profiler.measurement import STATISTICS
from hwlat.profiler.meter import Meter
from hwlat.profiler.transports import runtime_for_device
from hwlat.spaces import get_space

SPACE_KW = {"nb201": {}, "ofa-mbv3": {"resolutions": [224]}, "proxyless": {"resolution": 224}}


def busy() -> None:  # pragma: no cover - a stress process
    x = 0
    while True:
        x += 1


def measure_chunks(meter: Meter, items: list, chunk: int) -> list:
    out = []
    for start in range(0, len(items), chunk):
        out += meter.measure(items[start:start + chunk])[:len(items[start:start + chunk])]
    return out


def run_one(dev_name: str, space_name: str, n: int, k: int, protocol: Protocol, seed: int) -> dict:
    dev = load_device(dev_name)
    rt = runtime_for_device(dev)
    space = get_space(space_name, **SPACE_KW[space_name])
    meter = Meter(rt, protocol, rng=np.random.default_rng(seed))
    t0 = time.time()
    ops = list(space.all_ops())
    op_ms = measure_chunks(meter, [meter.spec_item(s) for s in ops] + [meter.spec_item(OVERHEAD_SPEC, "overhead")], 16)
    op_ms, ovh = op_ms[:-1], op_ms[-1]
    archs = space.sample(seed + 1, n)

    def net(i: int, tag: str):
        return meter.graph_item(f"{tag}{i}", lambda: space.build(archs[i], seed=protocol.seed))

    ab = measure_chunks(meter, [it for i in range(n) for it in (net(i, "A"), net(i, "B"))], 16)
    A, B = ab[0::2], ab[1::2]
    C = measure_chunks(meter, [net(i, "C") for i in range(n)], 8)
    wall = time.time() - t0
    rows = {}
    for st in STATISTICS:
        a = np.array([m.estimate_ms(st) for m in A])
        b = np.array([m.estimate_ms(st) for m in B])
        c = np.array([m.estimate_ms(st) for m in C])
        dab, dac = np.abs(b / a - 1), np.abs(c / a - 1)
        md = TableMetadata(device={"name": dev.name}, runtime=dev.runtime, overhead_ms=ovh.estimate_ms(st))
        table = LatencyTable.from_rows(md, [(s, {"latency_ms": m.estimate_ms(st)}) for s, m in zip(ops, op_ms)])
        pred = LookupPredictor(space=space, table=table, calibration="type").fit(archs[:k], a[:k])
        fid = metrics(pred.predict(archs[k:]), a[k:])
        rows[st] = {"ab_within_5": 100 * float(np.mean(dab <= 0.05)), "ab_within_10": 100 * float(np.mean(dab <= 0.10)),
                    "ac_within_5": 100 * float(np.mean(dac <= 0.05)), "ac_within_10": 100 * float(np.mean(dac <= 0.10)),
                    "ab_median_abs_pct": 100 * float(np.median(dab)), "ac_median_abs_pct": 100 * float(np.median(dac)),
                    "pred_within_10": fid["within_10_pct"], "pred_within_5": fid["within_5_pct"],
                    "pred_mape": fid["mape_pct"], "pred_spearman": fid["spearman"]}
    f = meter.interference()
    if hasattr(rt, "close"):
        rt.close()
    return {"device": dev_name, "space": space_name, "n": n, "k": k, "ops": len(ops), "wall_s": wall,
            "median_network_ms": float(np.median([m.latency_ms for m in A])),
            "interference": f.to_dict(), "statistics": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", nargs="+", default=["cpu-ort", "cpu-litert"])
    ap.add_argument("--spaces", nargs="+", default=["nb201", "proxyless", "ofa-mbv3"])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--calibrate", type=int, default=10)
    ap.add_argument("--stress", action="store_true", help="keep the other core busy with a Python loop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/statistic"))
    args = ap.parse_args()
    stress = None
    if args.stress:
        stress = mp.get_context("spawn").Process(target=busy, daemon=True)
        stress.start()
    t0 = time.time()
    print(f"machine: {fingerprint_summary(detect())}; stress: {'on' if stress else 'off'}; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    try:
        for dev in args.devices:
            for sp in args.spaces:
                r = run_one(dev, sp, args.n, args.calibrate, Protocol(), args.seed)
                results.append(r)
                f = r["interference"]
                print(f"[{dev} {sp}] {r['wall_s']:.0f} s; slow rounds {f['slow_rounds_pct']:.0f} % "
                      f"(x{f['slowdown']:.2f}); " + "; ".join(
                          f"{st}: {v['ab_within_5']:.0f}/{v['ac_within_5']:.0f}/{v['pred_within_10']:.0f}"
                          for st, v in r["statistics"].items()), flush=True)
    finally:
        if stress is not None:
            stress.terminate()
    args.out.mkdir(parents=True, exist_ok=True)
    name = "results-stress.json" if args.stress else "results.json"
    (args.out / name).write_text(json.dumps({"stress": args.stress, "results": results}, indent=2))
    print(f"\nstress: {'the other core kept busy' if args.stress else 'off'}; N = {args.n} networks, "
          f"K = {args.calibrate} to calibrate (per op type)\n")
    print("| device | space | slow rounds (slowdown) | statistic | A–B within ±5 % | A–B ±10 % | A–C (later) "
          "±5 % | A–C ±10 % | median \\|A–B\\| | prediction ±10 % | ±5 % | Spearman |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        f = r["interference"]
        for st, v in r["statistics"].items():
            print(f"| {r['device']} | {r['space']} | {f['slow_rounds_pct']:.0f} % (x{f['slowdown']:.2f}) | {st} | "
                  f"{v['ab_within_5']:.0f} % | {v['ab_within_10']:.0f} % | {v['ac_within_5']:.0f} % | "
                  f"{v['ac_within_10']:.0f} % | {v['ab_median_abs_pct']:.2f} % | {v['pred_within_10']:.0f} % | "
                  f"{v['pred_within_5']:.0f} % | {v['pred_spearman']:.3f} |")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}; wall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
