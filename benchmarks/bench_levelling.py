"""How each levelling rule holds between processes: the same networks measured in two separate
processes, one after the other, each run's checkpoint levelled by each rule, side by side.

A network's latency is reported at the level of its space's reference network, timed in every
chunk (``hwlat.profiler.networks``). Which level a chunk gets is the question here:

* ``raw``: none, as measured;
* ``chunk``: the reference's estimate in that chunk (hwlat before 2026-12-02);
* ``trend``: the run's drift trend alone (a Theil-Sen line through the reference's estimates);
* ``half``: the trend times the square root of the chunk's own departure from it (the default,
  ``CHUNK_SHARE``).

Nothing is fitted to the networks: the figure is how well two measurements of the same network
agree, after taking out the one ratio between the runs (their median). The within-run noise floor
(two copies interleaved in one chunk) cannot see chunk-level noise; this can.

    python benchmarks/bench_levelling.py
    python benchmarks/bench_levelling.py --devices cpu-ort --spaces nb201 --n 60

``--refit RUN`` measures nothing: it levels the saved networks of a ``bench_fidelity.py`` run
(``RUN/DEVICE/SPACE``) by each rule and scores the predictions over random splits, as
``bench_fidelity.py --splits`` does.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np

from hwlat.devices import detect, fingerprint_summary
from hwlat.predictors.validate import _distinct_sample
from hwlat.profiler.jobs import REFERENCE_KEY
from hwlat.profiler.networks import CHECKPOINT_NAME, CHUNK_SHARE, measure_archs, reference_levels
from hwlat.spaces import get_space

SPACE_KW = {"nb201": {}, "ofa-mbv3": {"resolution": 224}, "proxyless": {"resolution": 224}}
RULES = ("raw", "chunk", "trend", "half")


def measure_once(dev: str, space_name: str, n: int, seed: int, out: str, q: mp.Queue) -> None:  # pragma: no cover
    """One run in its own process (a child of the benchmark, spawned)."""
    space = get_space(space_name, **SPACE_KW[space_name])
    archs = _distinct_sample(space, n, 0)
    order = np.random.default_rng(seed).permutation(len(archs))
    got = measure_archs(space, [archs[i] for i in order], dev, out_dir=out, seed=seed, progress=False)
    q.put(got.interference.to_dict() if got.interference else {})


def levelled(folder: Path) -> dict[str, dict[str, float]]:
    """Each network's latency (ms, by name) in a run's checkpoint under each rule."""
    rows: dict[str, dict] = {}
    for line in (folder / CHECKPOINT_NAME).read_text().splitlines()[1:]:
        r = json.loads(line)
        rows[r["key"]] = r  # a network measured again is written again: the last line counts
    refs = {int(k.split("#", 1)[1]): r["latency_ms"] for k, r in rows.items() if k.startswith(REFERENCE_KEY + "#")}
    level = float(np.percentile(list(refs.values()), 25))
    by_rule = {"chunk": dict(refs), "raw": {c: level for c in refs},
               "trend": reference_levels(refs, 0.0)[0], "half": reference_levels(refs, CHUNK_SHARE)[0]}
    nets = {k.split("|", 1)[1]: r for k, r in rows.items() if k.startswith("pass0|")}
    return {rule: {n: r["latency_ms"] * level / lv[r["chunk"]] for n, r in nets.items()}
            for rule, lv in by_rule.items()}


def refit(run: Path, n_splits: int) -> None:
    """Level the networks of a saved bench_fidelity run by each rule; predict over random splits."""
    import glob

    from bench_fidelity import SPACE_KW as FIDELITY_KW
    from bench_fidelity import split_scores

    from hwlat.latency_tables import LatencyTable
    from hwlat.predictors.validate import metrics

    for d in sorted(p for p in run.glob("*/*") if (p / "networks.json").is_file()):
        dev, name = d.parent.name, d.name
        net = json.loads((d / "networks.json").read_text())
        space = get_space(name, **FIDELITY_KW[name])
        table = LatencyTable.load(glob.glob(str(d / "table" / "*.parquet"))[0])
        archs = [space.decode(a) for a in net["archs"]]
        raw = np.array(net["raw_ms"])
        # the chunk of each record: the reference record that follows it in the checkpoint
        refs: list[float] = []
        seen: dict[str, list[tuple[int, float]]] = {}
        pending: list[tuple[str, float]] = []
        for line in (d / "networks" / CHECKPOINT_NAME).read_text().splitlines()[1:]:
            r = json.loads(line)
            if r["key"].startswith(REFERENCE_KEY):
                for k, ms in pending:
                    seen.setdefault(k, []).append((len(refs), ms))
                refs.append(r["latency_ms"])
                pending = []
            elif r["key"].startswith("pass"):
                pending.append((r["key"], r["latency_ms"]))
        chunk = np.array([[min(seen[f"pass{p}|{n}"], key=lambda t: abs(t[1] - raw[i, p]))[0]
                           for p in range(raw.shape[1])] for i, n in enumerate(net["archs"])])
        ref = dict(enumerate(refs))
        level = float(np.percentile(refs, 25))
        rules = {"raw": {c: level for c in ref}, "chunk": ref, "trend": reference_levels(ref, 0.0)[0],
                 "half": reference_levels(ref, CHUNK_SHARE)[0]}
        for rule, lv in rules.items():
            y = raw * level / np.vectorize(lv.get)(chunk)
            s = split_scores(space, table, archs, y[:, 0], [10, 20], n_splits)
            print(f"| {dev} | {name} | {rule} | {metrics(y[:, 1], y[:, 0])['within_5_pct']:.0f} | " + " | ".join(
                f"{s[k]['within_10_pct'][0]:.0f} / {s[k]['within_5_pct'][0]:.0f}"
                for k in ("K=10 random", "K=10 spread", "K=20 random", "K=20 spread")) + " |", flush=True)


def agreement(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    names = sorted(a)
    d = np.array([a[n] / b[n] for n in names])
    d = 100 * (d / np.median(d) - 1)
    return {"within_5_pct": float(np.mean(abs(d) <= 5) * 100), "within_2_pct": float(np.mean(abs(d) <= 2) * 100),
            "median_abs_pct": float(np.median(abs(d)))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", nargs="+", default=["cpu-ort", "cpu-litert"])
    ap.add_argument("--spaces", nargs="+", default=["nb201", "proxyless"])
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/levelling"))
    ap.add_argument("--refit", type=Path, metavar="RUN", help="level a saved bench_fidelity run; measure nothing")
    ap.add_argument("--splits", type=int, default=10, help="random splits for --refit")
    args = ap.parse_args()
    if args.refit:
        print("| device | space | rule | floor ±5 % | K=10 random ±10 / ±5 | K=10 spread | K=20 random | K=20 spread |")
        print("|---|---|---|---|---|---|---|---|")
        refit(args.refit, args.splits)
        return
    print(f"machine: {fingerprint_summary(detect())}; load average {os.getloadavg()[0]:.2f}", flush=True)
    ctx = mp.get_context("spawn")
    results = []
    for dev in args.devices:
        for name in args.spaces:
            t0 = time.time()
            runs, figs = [], []
            for seed in (1, 2):
                folder = args.out / dev / name / f"run{seed}"
                (folder / CHECKPOINT_NAME).unlink(missing_ok=True)
                q = ctx.Queue()
                p = ctx.Process(target=measure_once, args=(dev, name, args.n, seed, str(folder), q))
                p.start()
                figs.append(q.get())
                p.join()
                runs.append(levelled(folder))
            row = {"device": dev, "space": name, "n": args.n, "wall_s": time.time() - t0,
                   "slow_rounds_pct": [f.get("slow_rounds_pct") for f in figs],
                   "slowdown": [f.get("slowdown") for f in figs],
                   **{rule: agreement(runs[0][rule], runs[1][rule]) for rule in RULES}}
            results.append(row)
            print(f"{dev} {name}: slow rounds {row['slow_rounds_pct']} % | " + " | ".join(
                f"{rule}: ±5 {row[rule]['within_5_pct']:.0f} %, ±2 {row[rule]['within_2_pct']:.0f} %, "
                f"median |d| {row[rule]['median_abs_pct']:.2f} %" for rule in RULES), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print("\n| device | space | slow rounds (run 1 / run 2) | " + " | ".join(
        f"{r}: ±5 % / ±2 % / median abs" for r in RULES) + " |")
    print("|---|---|---|" + "---|" * len(RULES))
    for r in results:
        print(f"| {r['device']} | {r['space']} | {r['slow_rounds_pct'][0]:.0f} % / {r['slow_rounds_pct'][1]:.0f} % | "
              + " | ".join(f"{r[k]['within_5_pct']:.0f} / {r[k]['within_2_pct']:.0f} / {r[k]['median_abs_pct']:.2f} %"
                           for k in RULES) + " |")


if __name__ == "__main__":
    main()
