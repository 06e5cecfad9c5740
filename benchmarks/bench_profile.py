"""Profiling benchmark: wall time, repeatability and per-call overhead on this machine's CPU.

    python benchmarks/bench_profile.py [--devices cpu-ort cpu-litert] [--ofa-resolutions 160 176 192 208 224]
                                       [--out benchmarks/out/profile]

Prints a Markdown report (for benchmarks/RESULTS.md) and writes the raw figures as JSON beside
the tables it measured. Figures:
- wall time to profile the full NB201 op set and each OFA MobileNetV3 resolution, per device;
- repeatability: the NB201 set profiled twice, |delta| of the per-op latencies (the protocol's
  statistic; median, p90) and of their in-context costs;
- each runtime's per-call overhead (an empty model), from the same runs;
- how disturbed the run was: its interference figure (share of canary rounds that ran slow),
  ops still unstable, ops given more rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hwlat.devices import detect, fingerprint_summary
from hwlat.profiler import Protocol, profile_ops
from hwlat.spaces import get_space


def _noise(res) -> dict:
    df = res.table.df
    f = res.interference.to_dict() if res.interference is not None else {}
    return {"unstable_share": float(df["unstable"].mean()), "median_stability_pct": float(df["stability_pct"].median()),
            "remeasured_share": float((df["remeasured"] > 0).mean()), "slow_rounds_pct": f.get("slow_rounds_pct"),
            "slowdown": f.get("slowdown")}


def run(devices: list[str], resolutions: list[int], out: Path, protocol: Protocol) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    nb201 = get_space("nb201").all_ops()
    ofa = get_space("ofa-mbv3")
    results: dict = {"machine": fingerprint_summary(detect()), "date_utc": datetime.now(timezone.utc).isoformat(
        timespec="seconds"), "protocol": protocol.to_dict(), "load_avg_start": os.getloadavg(), "devices": {}}
    for dev in devices:
        r: dict = {}
        runs = []
        for rep in (1, 2):
            d = out / dev / f"nb201-run{rep}"
            shutil.rmtree(d, ignore_errors=True)
            res = profile_ops(nb201, dev, protocol=protocol, out_dir=d, progress=False)
            runs.append(res)
            r[f"nb201_run{rep}"] = {"ops": res.n_ops, "wall_s": res.wall_s, "overhead_us": res.overhead_ms * 1e3,
                                    **_noise(res)}
        a, b = runs[0].table, runs[1].table
        keys = a.keys()
        ma, mb = a.lookup_many(keys), b.lookup_many(keys)
        rel = np.abs(mb - ma) / ma * 100
        ca, cb = a.lookup_many(keys, "context_ms"), b.lookup_many(keys, "context_ms")
        ok = np.isfinite(ca) & np.isfinite(cb) & (ca > 0)
        crel = np.abs(cb[ok] - ca[ok]) / ca[ok] * 100
        ratio = mb / ma
        shape = np.abs(ratio / np.median(ratio) - 1) * 100  # after removing the run's common speed factor
        r["nb201_repeat"] = {"n_ops": len(keys), "median_abs_delta_pct": float(np.median(rel)),
                             "common_factor": float(np.median(ratio)),
                             "median_abs_delta_after_common_factor_pct": float(np.median(shape)),
                             "p90_abs_delta_pct": float(np.percentile(rel, 90)),
                             "max_abs_delta_pct": float(rel.max()),
                             "context_median_abs_delta_pct": float(np.median(crel)) if crel.size else None}
        r["ofa"] = {}
        total = 0.0
        for res_px in resolutions:
            d = out / dev / f"ofa-{res_px}"
            shutil.rmtree(d, ignore_errors=True)
            res = profile_ops(ofa.all_ops(resolution=res_px), dev, protocol=protocol, out_dir=d, progress=False)
            total += res.wall_s
            r["ofa"][res_px] = {"ops": res.n_ops, "wall_s": res.wall_s, "overhead_us": res.overhead_ms * 1e3,
                                **_noise(res)}
            print(f"[{dev}] ofa r={res_px}: {res.n_ops} ops in {res.wall_s:.1f} s", flush=True)
        r["ofa_total_wall_s"] = total
        results["devices"][dev] = r
        print(json.dumps({dev: r}, indent=1), flush=True)
    results["load_avg_end"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


def report(results: dict) -> str:
    lines = [f"Machine: {results['machine']}; {platform.python_version()}; date (UTC) {results['date_utc']}; "
             f"load average at start {results['load_avg_start'][0]:.2f}, at end {results['load_avg_end'][0]:.2f}.", ""]
    lines += ["| device | NB201 ops | NB201 wall (run 1 / run 2) | repeat: median abs Δ | p90 abs Δ | max abs Δ | "
              "in-context cost: median abs Δ | per-call overhead | slow rounds (run 1 / run 2) | unstable (run 1) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for dev, r in results["devices"].items():
        a, b, rep = r["nb201_run1"], r["nb201_run2"], r["nb201_repeat"]
        ctx = rep["context_median_abs_delta_pct"]
        lines.append(f"| {dev} | {a['ops']} | {a['wall_s']:.1f} s / {b['wall_s']:.1f} s | "
                     f"{rep['median_abs_delta_pct']:.2f} % | {rep['p90_abs_delta_pct']:.1f} % | "
                     f"{rep['max_abs_delta_pct']:.1f} % | {'—' if ctx is None else f'{ctx:.1f} %'} | "
                     f"{a['overhead_us']:.1f} µs / {b['overhead_us']:.1f} µs | "
                     f"{a['slow_rounds_pct']:.0f} % / {b['slow_rounds_pct']:.0f} % | "
                     f"{100 * a['unstable_share']:.0f} % |")
    lines += ["", "| device | OFA resolution | ops | wall | slow rounds | unstable | median stability |",
              "|---|---|---|---|---|---|---|"]
    for dev, r in results["devices"].items():
        for res_px, o in r["ofa"].items():
            lines.append(f"| {dev} | {res_px} | {o['ops']} | {o['wall_s']:.1f} s | {o['slow_rounds_pct']:.0f} % | "
                         f"{100 * o['unstable_share']:.0f} % | {o['median_stability_pct']:.2f} % |")
        lines.append(f"| {dev} | all {len(r['ofa'])} | | **{r['ofa_total_wall_s']:.1f} s** | | | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", nargs="+", default=["cpu-ort", "cpu-litert"])
    ap.add_argument("--ofa-resolutions", type=int, nargs="+", default=[160, 176, 192, 208, 224])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/profile"))
    args = ap.parse_args()
    t0 = time.time()
    results = run(args.devices, args.ofa_resolutions, args.out, Protocol())
    print(report(results))
    print(f"\nbenchmark wall time: {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
