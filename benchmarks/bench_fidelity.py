"""Fidelity of the lookup predictor: predicted vs measured end-to-end latency, beside the noise floor.

    python benchmarks/bench_fidelity.py [--devices cpu-ort cpu-litert] [--spaces nb201 ofa-mbv3 proxyless]
                                        [--n 100] [--calibrate 10 20] [--stress] [--out benchmarks/out/fidelity]
                                        [--reuse] [--splits 20]

For each device and space, everything with hwlat's default protocol and statistic, in one run:

1. the space's latency table is profiled (wall time and interference figure recorded);
2. N test networks and max(K) calibration networks are measured end to end, mixed in the same
   chunks, each as two separately prepared copies whose rounds interleave (the second copy is
   the noise floor: how well one measurement agrees with another taken beside it);
3. every calibration (none, affine, kind, type, key) is fitted on the first K calibration
   networks, for each K, and predicts the N test networks (copy 1): share within ±5 % / ±10 %,
   MAPE, Spearman, Kendall. The test networks are never part of any fit.

Networks are measured beside their space's reference network and reported at its level
(hwlat's default; see ``hwlat.profiler.networks``). Side by side, from the same samples, the
``auto`` calibration is also fitted and scored on the raw numbers (``auto/raw``): what the
reference takes out. ``--reuse`` keeps the table and the measurements of an earlier run (resumed,
nothing measured again) and only fits and scores again. ``--splits S`` also refits on S random
splits of the same networks, with the calibration set drawn at random or spread over the table's
latency range: how far one split's figure is from the typical one.

``--stress`` keeps the other core busy with a plain Python loop for the whole run. Also the
lookup query speed (a million architectures in one call). OFA and ProxylessNAS at 224x224.
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
from hwlat.predictors import LookupPredictor
from hwlat.predictors.lookup import CALIBRATIONS
from hwlat.predictors.validate import _distinct_sample, metrics
from hwlat.profiler import Protocol, profile_ops
from hwlat.profiler.networks import CHECKPOINT_NAME, measure_archs
from hwlat.profiler.transports import runtime_for_device
from hwlat.spaces import get_space

SPACE_KW = {"nb201": {}, "ofa-mbv3": {"resolutions": [224]}, "proxyless": {"resolution": 224}}


def busy() -> None:  # pragma: no cover - a stress process
    x = 0
    while True:
        x += 1


def split_scores(space, table, archs: list, y: np.ndarray, ks: list[int], n_splits: int) -> dict:
    """The same measurements split again and again: each split holds out all but ``2 * max(ks)``
    networks as its test set, and the ``auto`` calibration is fitted on K of the others, drawn at
    random or spread over the table's latency range (as ``hwlat search`` picks them). How much
    one split's figure says: the mean and the range over the splits."""
    from hwlat.predictors.validate import metrics as score

    raw = LookupPredictor(space=space, table=table).fit().raw_sum(archs)
    rng = np.random.default_rng(7)
    pool = 2 * max(ks)
    got: dict[str, list[tuple[float, float]]] = {}
    for _ in range(n_splits):
        idx = rng.permutation(len(archs))
        test, cand = idx[:-pool], idx[-pool:]
        for k in ks:
            free = np.ones(pool, dtype=bool)
            spread = []
            for t in np.linspace(raw[cand].min(), raw[cand].max(), k):
                i = int(np.argmin(np.where(free, np.abs(raw[cand] - t), np.inf)))
                free[i] = False
                spread.append(cand[i])
            for how, cal in (("random", cand[:k]), ("spread", np.array(spread))):
                pred = LookupPredictor(space=space, table=table).fit()
                pred.calibrate([archs[i] for i in cal], y[cal])
                m = score(pred.predict([archs[i] for i in test]), y[test])
                got.setdefault(f"K={k} {how}", []).append((m["within_10_pct"], m["within_5_pct"]))
    return {key: {"splits": n_splits, "test": len(archs) - pool,
                  "within_10_pct": [float(np.mean(a[:, 0])), float(a[:, 0].min()), float(a[:, 0].max())],
                  "within_5_pct": [float(np.mean(a[:, 1])), float(a[:, 1].min()), float(a[:, 1].max())]}
            for key, v in got.items() for a in [np.array(v)]}


def run_one(dev_name: str, space_name: str, n: int, ks: list[int], out: Path, protocol: Protocol,
            reuse: bool = False, splits: int = 0) -> dict:
    dev = load_device(dev_name)
    rt = runtime_for_device(dev)
    space = get_space(space_name, **SPACE_KW[space_name])
    t0 = time.time()
    prof = profile_ops(space.all_ops(), dev, protocol=protocol, runtime=rt, out_dir=out / "table", progress=False,
                       fresh=not reuse)
    t1 = time.time()
    k_max = max(ks)
    archs = _distinct_sample(space, n + k_max, 0)
    order = np.random.default_rng(1).permutation(len(archs))
    ckpt = out / "networks"
    if not reuse:
        for name in ("measurements.jsonl", CHECKPOINT_NAME):  # (the first: the file of hwlat before 2026-12-01)
            (ckpt / name).unlink(missing_ok=True)
    got = measure_archs(space, [archs[i] for i in order], dev, protocol=protocol, out_dir=ckpt, passes=2,
                        progress=False, runtime=rt)
    ms, raw = np.empty_like(got.ms), np.empty_like(got.ms)
    ms[order], raw[order] = got.ms, got.raw_ms
    test = archs[:n]
    cal = archs[n:]
    rows = []
    floor = metrics(ms[:n, 1], ms[:n, 0])
    for k in ks:
        for cmode, data in [(c, ms) for c in CALIBRATIONS] + [("auto/raw", raw)]:
            pred = LookupPredictor(space=space, table=prof.table, calibration=cmode.split("/")[0]).fit()
            pred.calibrate(cal[:k], data[n:n + k, 0])
            rows.append({"k": k, "calibration": cmode, "fitted": pred.calibrated_,
                         **metrics(pred.predict(test), data[:n, 0])})
    (out / "networks.json").write_text(json.dumps({
        "archs": [space.encode(a) for a in archs], "n_test": n, "measurement_order": order.tolist(),
        "levelled_ms": ms.tolist(), "raw_ms": raw.tolist(), "reference_level_ms": got.reference_level_ms}))
    t2 = time.time()
    if hasattr(rt, "close"):
        rt.close()
    extra = {"splits": split_scores(space, prof.table, archs, ms[:, 0], ks, splits)} if splits else {}
    return {**extra, "device": dev_name, "space": space_name, "n": n, "ops": prof.n_ops, "profile_wall_s": prof.wall_s,
            "networks_wall_s": t2 - t1, "table_interference": prof.interference.to_dict(),
            "networks_interference": got.interference.to_dict(), "networks_drift": got.drift,
            "median_network_ms": float(np.median(ms[:n, 0])),
            "noise_floor": floor, "predictions": rows, "wall_s": t2 - t0}


def query_speed(space_name: str, table) -> float:
    space = get_space(space_name, **SPACE_KW[space_name])
    pred = LookupPredictor(space=space, table=table).fit()
    g = space.sample_genes(0, 1_000_000)
    pred.predict_genes(g[:1000])
    times = []
    for _ in range(5):
        t = time.perf_counter()
        pred.predict_genes(g)
        times.append(time.perf_counter() - t)
    return 1_000_000 / float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", nargs="+", default=["cpu-ort", "cpu-litert"])
    ap.add_argument("--spaces", nargs="+", default=["nb201", "ofa-mbv3", "proxyless"])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--calibrate", type=int, nargs="+", default=[10, 20])
    ap.add_argument("--stress", action="store_true", help="keep the other core busy with a Python loop")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/fidelity"))
    ap.add_argument("--splits", type=int, default=0, metavar="S",
                    help="also refit on S random splits of the same networks (random and spread calibration sets)")
    ap.add_argument("--reuse", action="store_true",
                    help="fit and score again on the table and measurements of an earlier run (nothing measured)")
    args = ap.parse_args()
    stress = None
    if args.stress:
        stress = mp.get_context("spawn").Process(target=busy, daemon=True)
        stress.start()
    tag = "stress" if args.stress else "alone"
    protocol = Protocol()
    t0 = time.time()
    print(f"machine: {fingerprint_summary(detect())}; stress: {tag}; load average {os.getloadavg()[0]:.2f}",
          flush=True)
    results = []
    try:
        for dev in args.devices:
            for name in args.spaces:
                r = run_one(dev, name, args.n, args.calibrate, args.out / tag / dev / name, protocol, args.reuse,
                            args.splits)
                results.append(r)
                best = {p["k"]: p for p in r["predictions"] if p["calibration"] == "auto"}
                d = r["networks_drift"] or {}
                print(f"[{dev} {name}] {r['wall_s']:.0f} s; noise floor ±5 % {r['noise_floor']['within_5_pct']:.0f} %; "
                      f"drift x{d.get('chunk_ratio_min', 1):.3f}..x{d.get('chunk_ratio_max', 1):.3f}; "
                      + "; ".join(f"auto K={k} ({p['fitted']}): ±10 % {p['within_10_pct']:.0f} %, "
                                  f"±5 % {p['within_5_pct']:.0f} %"
                                  for k, p in best.items()), flush=True)
                for key, v in r.get("splits", {}).items():
                    a10, a5 = v["within_10_pct"], v["within_5_pct"]
                    print(f"    {v['splits']} splits, {key}: ±10 % {a10[0]:.0f} % ({a10[1]:.0f}–{a10[2]:.0f}), "
                          f"±5 % {a5[0]:.0f} % ({a5[1]:.0f}–{a5[2]:.0f})", flush=True)
    finally:
        if stress is not None:
            stress.terminate()
    speed = {}
    if not args.stress:
        from hwlat.latency_tables import LatencyTable

        for name in args.spaces:
            speed[name] = query_speed(name, LatencyTable.load(args.out / tag / args.devices[0] / name / "table" /
                                                              "table.parquet"))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"results-{tag}.json").write_text(json.dumps({"stress": args.stress, "rows": results,
                                                               "queries_per_s": speed}, indent=2))
    print(f"\nstress: {'the other core kept busy by a Python loop' if args.stress else 'none (alone)'}; "
          f"{args.n} test networks per row; statistic: {protocol.statistic}\n")
    print("| device | space | median network | table: ops, wall, slow rounds | networks: slow rounds, drift | "
          "noise floor ±5 % / ±10 % | K | calibration | ±10 % | ±5 % | MAPE | Spearman | Kendall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        f = r["noise_floor"]
        ti, ni, d = r["table_interference"], r["networks_interference"], r["networks_drift"] or {}
        for p in r["predictions"]:
            if p["calibration"] in ("kind", "key") and p["k"] != max(args.calibrate):
                continue
            fitted = p["calibration"] if p["fitted"] == p["calibration"] else f"{p['calibration']}→{p['fitted']}"
            print(f"| {r['device']} | {r['space']} | {r['median_network_ms']:.2f} ms | {r['ops']}, "
                  f"{r['profile_wall_s']:.0f} s, {ti['slow_rounds_pct']:.0f} % | {ni['slow_rounds_pct']:.0f} % "
                  f"(x{ni['slowdown']:.2f}), x{d.get('chunk_ratio_min', 1):.2f}..x{d.get('chunk_ratio_max', 1):.2f} | "
                  f"{f['within_5_pct']:.0f} % / {f['within_10_pct']:.0f} % | {p['k']} | "
                  f"{fitted} | {p['within_10_pct']:.0f} % | {p['within_5_pct']:.0f} % | {p['mape_pct']:.1f} % | "
                  f"{p['spearman']:.3f} | {p['kendall']:.3f} |")
    if speed:
        print("\n| space | lookup queries per second (1,000,000 architectures in one call, median of 5) |")
        print("|---|---|")
        for name, qps in speed.items():
            print(f"| {name} | {qps:,.0f} |")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}; wall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
