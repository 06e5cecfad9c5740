"""Kernel regressors benchmark: how well configurations never measured are predicted on this CPU.

    python benchmarks/bench_kernels.py [--device cpu-ort] [--out benchmarks/out/kernels] [--seed 0]
                                       [--conv 300 --pool 100 --fc 60 --add 60] [--no-adaptive] [--fresh]

Samples random kernels (conv incl. depthwise and pointwise, pool, fc, add), profiles them on the
device (resumably, under --out), then for several estimator/target choices reports the held-out
MAPE, share within ±10 % and Spearman per kind, averaged over 3 random 80/20 splits. Then compares
adaptive sampling (nn-Meter) with random sampling at equal budget (150) on conv: both arms start
from the same 75 random configurations (the first of the main sample); the adaptive arm spends the
rest of its budget near its worst predictions, the random arm on the next random ones; both are
scored on the last 100 random conv kernels of the main sample, which neither trained on.
Prints Markdown (for benchmarks/RESULTS.md) and writes results.json under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from hwlat.devices import detect, fingerprint_summary
from hwlat.predictors.adaptive_sampling import adaptive_sample, profiling_measure
from hwlat.predictors.kernels import KernelRegressor
from hwlat.predictors.sampling import sample_kernels
from hwlat.predictors.validate import metrics
from hwlat.profiler import Protocol, profile_ops

CHOICES = [(e, t) for e in ("gbrt", "rf", "et", "hgb") for t in ("log", "residual", "roofline")]
SPLITS = (0, 1, 2)


def held_out(specs, ms, choices, splits) -> pd.DataFrame:
    frames = []
    for est, target in choices:
        t0 = time.perf_counter()
        reps = [KernelRegressor(estimator=est, target=target).held_out_report(specs, ms, random_state=s)
                for s in splits]
        fit_s = (time.perf_counter() - t0) / len(splits)
        df = pd.concat(reps).groupby("kind", sort=False).mean(numeric_only=True).reset_index()
        df.insert(0, "estimator", f"{est}/{target}")
        df["fit_eval_s"] = fit_s
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def adaptive_vs_random(device, protocol, out: Path, seed: int, n_conv: int, budget: int, n_test: int,
                       estimator: str, target: str) -> dict:
    """Both arms start from the first random conv kernels of the main sample (already measured in ``out``)."""
    conv_all = sample_kernels("conv", n_conv, seed=seed)
    if budget + n_test > n_conv:
        raise SystemExit(f"the adaptive comparison needs --conv >= {budget + n_test}")
    test = conv_all[-n_test:]
    random_arm = conv_all[:budget]
    measure = profiling_measure(device, protocol=protocol, out_dir=out)
    rounds = 3
    per_round = (budget - budget // 2) // rounds
    n_init = budget - rounds * per_round
    t0 = time.perf_counter()
    a_specs, a_ms = adaptive_sample("conv", measure, n_initial=n_init, n_rounds=rounds, n_per_round=per_round,
                                    seed=seed)
    adaptive_s = time.perf_counter() - t0
    assert [s.key for s in a_specs[:n_init]] == [s.key for s in conv_all[:n_init]], "arms must share the start"
    table = profile_ops(conv_all, device, protocol=protocol, out_dir=out, progress=False).table
    y_test = table.lookup_many(test)
    out_d: dict = {"budget": budget, "n_initial": n_init, "rounds": rounds, "per_round": per_round,
                   "n_test": n_test, "adaptive_wall_s": adaptive_s, "estimator": f"{estimator}/{target}",
                   "overlap_with_test": len({s.key for s in a_specs} & {s.key for s in test})}
    for name, specs, ms in (("random", random_arm, table.lookup_many(random_arm)), ("adaptive", a_specs, a_ms)):
        reg = KernelRegressor(estimator=estimator, target=target).fit(specs, ms)
        out_d[name] = metrics(reg.predict(test), y_test)
    return out_d


def run(device: str, out: Path, seed: int, counts: dict[str, int], protocol: Protocol, adaptive: bool,
        fresh: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": fingerprint_summary(detect()), "date_utc": datetime.now(timezone.utc).isoformat(
        timespec="seconds"), "protocol": protocol.to_dict(), "device": device, "counts": counts, "seed": seed,
        "load_avg_start": os.getloadavg()}
    specs = [s for kind, n in counts.items() for s in sample_kernels(kind, n, seed=seed)]
    prof = profile_ops(specs, device, protocol=protocol, out_dir=out / "sampled", progress=True, fresh=fresh)
    results["profile"] = {"ops": prof.n_ops, "measured_now": prof.n_measured, "wall_s": prof.wall_s,
                          "still_noisy": len(prof.still_noisy), "overhead_ms": prof.overhead_ms}
    df = prof.table.df
    df = df[df["key"].isin({s.key for s in specs})]  # the folder may also hold the adaptive arm's kernels
    results["latency_range_ms"] = {k: [float(g.median_ms.min()), float(g.median_ms.median()),
                                       float(g.median_ms.max())] for k, g in df.groupby("kind")}
    print(f"profiled {prof.n_ops} kernels in {prof.wall_s:.0f} s", flush=True)
    rep = held_out(specs, prof.table.lookup_many(specs), CHOICES, SPLITS)
    results["held_out"] = rep.to_dict(orient="records")
    if adaptive:
        overall = rep[rep.kind == "all"].sort_values("mape_pct").iloc[0]["estimator"]
        est, target = overall.split("/")
        results["adaptive"] = adaptive_vs_random(device, protocol, out / "sampled", seed, n_conv=counts["conv"],
                                                 budget=150, n_test=100, estimator=est, target=target)
    results["load_avg_end"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    return results


def report(r: dict) -> str:
    lines = [(f"Machine: {r['machine']}; Python {platform.python_version()}; device {r['device']}; "
             f"date (UTC) {r['date_utc']}; load average {r['load_avg_start'][0]:.2f} at start, "
             f"{r['load_avg_end'][0]:.2f} at end."),
             (f"Kernels: {', '.join(f'{n} {k}' for k, n in r['counts'].items())} (seed {r['seed']}), profiled in "
             f"{r['profile']['wall_s']:.0f} s ({r['profile']['measured_now']} measured in this run); "
             f"protocol rounds={r['protocol']['rounds']}, round_time_s={r['protocol']['round_time_s']}."),
             "Latency range (ms, min / median / max): " + "; ".join(
                 f"{k} {a:.3f} / {b:.3f} / {c:.2f}" for k, (a, b, c) in r["latency_range_ms"].items()), "",
             "Held-out (80/20 split per kind, mean of 3 splits):", "",
             "| estimator/target | kind | n train | n test | MAPE | within ±10 % | Spearman |",
             "|---|---|---|---|---|---|---|"]
    for row in r["held_out"]:
        lines.append(f"| {row['estimator']} | {row['kind']} | {row['n_train']:.0f} | {row['n_test']:.0f} | "
                     f"{row['mape_pct']:.1f} % | {row['within_10_pct']:.0f} % | {row['spearman']:.3f} |")
    if "adaptive" in r:
        a = r["adaptive"]
        lines += ["", (f"Adaptive vs random sampling, conv, equal budget of {a['budget']} measured kernels "
                  f"({a['n_initial']} shared random + {a['rounds']} rounds x {a['per_round']}), "
                  f"{a['estimator']}, scored on {a['n_test']} other random conv kernels:"), "",
                  "| sampling | MAPE | within ±10 % | Spearman |", "|---|---|---|---|"]
        for name in ("random", "adaptive"):
            m = a[name]
            lines.append(f"| {name} | {m['mape_pct']:.1f} % | {m['within_10_pct']:.0f} % | {m['spearman']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu-ort")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/kernels"))
    ap.add_argument("--seed", type=int, default=0)
    for kind, n in (("conv", 300), ("pool", 100), ("fc", 60), ("add", 60)):
        ap.add_argument(f"--{kind}", type=int, default=n, help=f"number of {kind} kernels (default {n})")
    ap.add_argument("--no-adaptive", action="store_true", help="skip the adaptive vs random comparison")
    ap.add_argument("--fresh", action="store_true", help="measure again instead of resuming under --out")
    args = ap.parse_args()
    protocol = Protocol(rounds=3, round_time_s=0.04, remeasure=1)
    t0 = time.time()
    counts = {k: getattr(args, k) for k in ("conv", "pool", "fc", "add")}
    results = run(args.device, args.out, args.seed, counts, protocol, not args.no_adaptive, args.fresh)
    print(report(results))
    print(f"\nbenchmark wall time: {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
