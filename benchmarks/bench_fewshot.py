"""Few-shot latency on a device never seen: leave one device out of 15, learn on the other 14.

    python benchmarks/bench_fewshot.py [--data ../shared/data/nb201/latency_ms.csv]
                                       [--ks 5 10 20] [--draws 20] [--out benchmarks/out/fewshot]

The data are whole-model latencies (ms) of every NAS-Bench-201 architecture on 15 device
settings (GPUs at batch 1/32/256, server CPUs; published with HELP), a CSV with columns
``index, arch_str, <device>...``. For each device in turn: the :class:`DevicePrior` learns from
the other 14 devices only (the held-out device's numbers never reach the prior), K architectures
of the held-out device are drawn at random (20 seeded draws), the predictor is fitted on their
latencies and predicts every other architecture. Reported per device and as the mean: Spearman,
Kendall, MAPE, the share within ±10 %, and how often the 90 % interval holds the truth; beside
them, on the same draws, the trivial baseline (non-negative least squares of latency on the
counts of each op in the cell plus a constant), and per device the paired difference in ρ with
its 95 % interval over the draws (a device is "significantly" below the baseline when the whole
interval is below 0). ``suggest`` rows fit on the K architectures
:meth:`DevicePrior.suggest` proposes from the prior (one draw: the proposal is deterministic).

Prints Markdown; writes the raw figures as JSON in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from scipy.stats import kendalltau, spearmanr

from hwlat.predictors.device_prior import DevicePrior, read_references
from hwlat.spaces import get_space

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "nb201" / "latency_ms.csv"
HELP_RHO = 0.932  # HELP's published mean Spearman at K = 10 (its own meta-test devices)


def scores(pred: np.ndarray, y: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> dict:
    rel = pred / y - 1
    out = {"spearman": float(spearmanr(pred, y)[0]), "kendall": float(kendalltau(pred, y)[0]),
           "mape": float(np.mean(np.abs(rel)) * 100), "within_10": float(np.mean(np.abs(rel) <= 0.10) * 100)}
    if lo is not None and hi is not None:
        out["coverage_90"] = float(np.mean((y >= lo) & (y <= hi)) * 100)
    return out


def baseline(counts: np.ndarray, idx: np.ndarray, y: np.ndarray) -> np.ndarray:
    coef, _ = nnls(counts[idx], y[idx])
    return counts @ coef


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--ks", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/fewshot"))
    args = ap.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data} not found: the NAS-Bench-201 latencies published with HELP (../shared/data)")
    t0 = time.time()
    space = get_space("nb201")
    refs = read_references([args.data], space)
    genes = space.to_genes([space.decode(a) for a in refs.archs])
    counts = np.column_stack([np.stack([(genes == v).sum(1) for v in range(1, 5)], 1), np.ones(len(genes))])
    archs = [space.decode(a) for a in refs.archs]
    rows: list[dict] = []
    fit_s: list[float] = []
    for j, dev in enumerate(refs.devices):
        y = refs.ms[:, j]
        prior = refs.without(dev)  # the held-out device never reaches the prior
        for k in args.ks:
            rng = np.random.default_rng(1000 * k + j)
            plans = [("random", s, rng.choice(len(y), k, replace=False)) for s in range(args.draws)]
            sug = DevicePrior(space=space, references=prior).suggest(k)
            plans.append(("suggest", 0, np.array([refs.archs.index(space.encode(a)) for a in sug])))
            for how, s, idx in plans:
                test = np.ones(len(y), dtype=bool)
                test[idx] = False
                t = time.perf_counter()
                model = DevicePrior(space=space, references=prior).fit([archs[i] for i in idx], y[idx])
                fit_s.append(time.perf_counter() - t)
                pred = np.log(model.predict_genes(genes))
                lo, hi = model.predict_interval([archs[i] for i in np.nonzero(test)[0]])
                rows.append({"device": dev, "k": k, "draw": s, "selection": how, "method": "device-prior",
                             "share": model.share_, **scores(np.exp(pred[test]), y[test], lo, hi)})
                rows.append({"device": dev, "k": k, "draw": s, "selection": how, "method": "baseline",
                             **scores(np.maximum(baseline(counts, idx, y)[test], 1e-9), y[test])})
        print(f"{dev}: done ({time.time() - t0:.0f} s)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lodo.json").write_text(json.dumps(rows))
    report(rows, refs.devices, args.ks, time.time() - t0, float(np.median(fit_s)))


def report(rows: list[dict], devices: list[str], ks: list[int], wall: float, fit_s: float) -> None:
    import pandas as pd
    from scipy.stats import t as student_t

    df = pd.DataFrame(rows)
    rnd = df[df.selection == "random"]

    def paired(k: int) -> pd.DataFrame:
        """Per device: the mean over draws of the device prior's ρ minus the baseline's on the same
        draw, and the half-width of its 95 % interval."""
        w = rnd[rnd.k == k].pivot_table(index=["device", "draw"], columns="method", values="spearman")
        d = (w["device-prior"] - w["baseline"]).groupby("device")
        n = d.count()
        return pd.DataFrame({"diff": d.mean(), "half": student_t.ppf(0.975, n - 1) * d.std() / n ** 0.5})
    print(f"\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {wall:.0f} s; median fit {fit_s * 1e3:.0f} ms\n")
    print("| K | method | mean ρ | mean Kendall τ | mean MAPE % | within ±10 % | 90 % interval holds "
          "| devices below baseline ρ (significantly) |")
    print("|---|---|---|---|---|---|---|---|")
    for k in ks:
        per = rnd[rnd.k == k].groupby(["method", "device"]).mean(numeric_only=True)
        base = per.loc["baseline"]["spearman"]
        gap = paired(k)
        for m in ("device-prior", "baseline"):
            p = per.loc[m]
            below = f"{int((p['spearman'] < base - 1e-9).sum())} ({int((gap['diff'] + gap['half'] < 0).sum())})"
            cov = f"{p['coverage_90'].mean():.1f} %" if "coverage_90" in p and p["coverage_90"].notna().all() else ""
            print(f"| {k} | {m} | {p['spearman'].mean():.3f} | {p['kendall'].mean():.3f} | {p['mape'].mean():.1f} | "
                  f"{p['within_10'].mean():.0f} % | {cov} | {below if m != 'baseline' else ''} |")
    print(f"\nHELP (published, its meta-test devices): mean ρ {HELP_RHO} at K = 10.\n")
    print("Suggested against random draws (device prior; mean over devices):\n")
    print("| K | random ρ / MAPE | suggested ρ / MAPE | devices where suggested beats random (ρ) |")
    print("|---|---|---|---|")
    for k in ks:
        dp = df[(df.k == k) & (df.method == "device-prior")]
        r = dp[dp.selection == "random"].groupby("device").mean(numeric_only=True)
        s = dp[dp.selection == "suggest"].groupby("device").mean(numeric_only=True)
        print(f"| {k} | {r['spearman'].mean():.3f} / {r['mape'].mean():.1f} | {s['spearman'].mean():.3f} / "
              f"{s['mape'].mean():.1f} | {int((s['spearman'] > r['spearman']).sum())} of {len(s)} |")
    k = 10 if 10 in ks else ks[0]
    print(f"\nPer device, K = {k}, random draws: ρ / MAPE % (device prior; baseline)\n")
    print("| device | device prior | baseline | ρ prior − baseline, 95 % interval over draws "
          "| 90 % interval holds | share of the prior model |")
    print("|---|---|---|---|---|---|")
    per = rnd[rnd.k == k].groupby(["method", "device"]).mean(numeric_only=True)
    gap = paired(k)
    for d in devices:
        a, b = per.loc[("device-prior", d)], per.loc[("baseline", d)]
        print(f"| {d} | {a['spearman']:.3f} / {a['mape']:.1f} | {b['spearman']:.3f} / {b['mape']:.1f} | "
              f"{gap.loc[d, 'diff']:+.4f} ± {gap.loc[d, 'half']:.4f} | {a['coverage_90']:.0f} % | {a['share']:.2f} |")


if __name__ == "__main__":
    main()
