"""Few-shot adaptation benchmark: NAS-Bench-201 latency on 15 devices from K whole-model measurements.

    python benchmarks/bench_fewshot.py [--data ../shared/data/nb201/latency_ms.csv] [--reference TABLE]
                                       [--ks 5 10 20 50] [--seeds 10] [--out benchmarks/out/fewshot]

The target latencies are whole-model times (ms) of every NAS-Bench-201 architecture on 15 device
settings (GPUs at batch 1/32/256, server CPUs), a CSV with columns ``index, arch_str, <device>...``.
The reference is hwlat's own latency table of the NB201 ops on this machine (``cpu-ort``),
profiled at the start (resumable, in ``<out>/../fewshot-ref``) unless ``--reference`` names one.

For each device, K and seed: K architectures are drawn, a :class:`FewShotAdapter` is fitted on
their measured latencies and predicts the other ~15,600; Spearman's rho and MAPE are averaged
over seeds and devices. Baselines: an affine map of FLOPs (no reference table at all), and a
single scale / an affine map of the reference table's plain sum. Both NB201 semantics for
``none`` edges are tried. Prints Markdown; writes the raw figures as JSON in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls
from scipy.stats import spearmanr

from hwlat.latency_tables import LatencyTable
from hwlat.predictors.fewshot import FewShotAdapter
from hwlat.profiler import profile_ops
from hwlat.spaces import get_space
from hwlat.spaces.base import unique_ops

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "nb201" / "latency_ms.csv"
HELP_ANCHOR = "HELP (meta-learned, published): mean Spearman 0.932 with 10 samples"
SEMANTICS = ("zero", "absent")

#: name -> (FewShotAdapter kwargs, or None for the FLOPs baseline; needs a reference table?)
METHODS: dict[str, dict[str, Any] | None] = {
    "flops-affine": None,
    "ref-scale": {"grouping": "total", "min_per_feature": 1e9},
    "ref-affine": {"grouping": "total"},
    "groups:kind": {"grouping": "kind"},
    "groups:type (alpha=0)": {"grouping": "type", "alpha": 0.0},
    "groups:type": {"grouping": "type"},
    "groups:key": {"grouping": "key"},
}


def reference_table(path: str | None, out: Path) -> LatencyTable:
    if path:
        return LatencyTable.load(path)
    specs = unique_ops([s for sem in SEMANTICS for s in get_space("nb201", none_edges=sem).all_ops()])
    return profile_ops(specs, "cpu-ort", out_dir=out, progress=False).table


def flops_affine(f_fit: np.ndarray, y: np.ndarray, f_all: np.ndarray) -> np.ndarray:
    """y ≈ a·FLOPs + b (a, b >= 0), fitted on the relative error."""
    A = np.column_stack([f_fit / f_fit.mean(), np.ones_like(f_fit)]) / y[:, None]
    (a, b), _ = nnls(A, np.ones_like(y))
    return a * f_all / f_fit.mean() + b


def run(df: pd.DataFrame, table: LatencyTable, ks: list[int], seeds: int) -> pd.DataFrame:
    devices = [c for c in df.columns if c not in ("index", "arch_str")]
    rows = []
    for sem in SEMANTICS:
        space = get_space("nb201", none_edges=sem)
        archs = [space.decode(s) for s in df["arch_str"]]
        G = space.to_genes(archs)
        flops = None
        for name, kw in METHODS.items():
            t0 = time.perf_counter()
            if kw is None:
                if flops is None:
                    flops = np.array([space.flops(a) for a in archs], dtype=np.float64)
                ad = None
            else:
                ad = FewShotAdapter(space=space, reference_table=table, **kw)
            for dev in devices:
                y = df[dev].to_numpy(dtype=np.float64)
                for K in ks:
                    for seed in range(seeds):
                        idx = np.random.default_rng(seed).choice(len(y), K, replace=False)
                        test = np.ones(len(y), dtype=bool)
                        test[idx] = False
                        if ad is None:
                            pred = flops_affine(flops[idx], y[idx], flops[test])
                            mode = "affine"
                        else:
                            ad.fit_genes(G[idx], y[idx])
                            pred = ad.predict_genes(G[test])
                            mode = ad.mode_
                        yt = y[test]
                        rho = spearmanr(pred, yt).statistic if np.ptp(pred) > 0 else 0.0
                        rows.append({"semantics": sem, "method": name, "device": dev, "K": K, "seed": seed,
                                     "spearman": float(rho),
                                     "mape_pct": float(100 * np.mean(np.abs(pred - yt) / yt)), "mode": mode})
            print(f"  [{sem}] {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    return pd.DataFrame(rows)


def markdown(res: pd.DataFrame, ks: list[int], best: tuple[str, str]) -> str:
    out = []
    agg = res.groupby(["semantics", "method", "K"], sort=False)[["spearman", "mape_pct"]].mean()
    out.append("### Mean over devices and seeds: Spearman ρ / MAPE (%) on the held-out architectures\n")
    out.append("| none edges | method | " + " | ".join(f"K={k}" for k in ks) + " |")
    out.append("|---|---|" + "---|" * len(ks))
    for (sem, method), _ in agg.groupby(level=[0, 1], sort=False):
        cells = [f"{agg.loc[(sem, method, k), 'spearman']:.3f} / {agg.loc[(sem, method, k), 'mape_pct']:.1f}"
                 for k in ks]
        out.append(f"| {sem} | {method} | " + " | ".join(cells) + " |")
    out.append(f"\nAnchor: {HELP_ANCHOR}.\n")
    sem, method = best
    sub = res[(res["semantics"] == sem) & (res["method"] == method)]
    per = sub.groupby(["device", "K"], sort=False)[["spearman", "mape_pct"]].mean()
    out.append(f"### Per device ({method}, none edges = {sem}): Spearman ρ / MAPE (%)\n")
    out.append("| device | " + " | ".join(f"K={k}" for k in ks) + " |")
    out.append("|---|" + "---|" * len(ks))
    for dev in dict.fromkeys(sub["device"]):
        out.append(f"| {dev} | " + " | ".join(
            f"{per.loc[(dev, k), 'spearman']:.3f} / {per.loc[(dev, k), 'mape_pct']:.1f}" for k in ks) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="NB201 whole-model latencies (CSV, ms)")
    ap.add_argument("--reference", default=None, help="reference latency table (default: profile cpu-ort now)")
    ap.add_argument("--ks", type=int, nargs="+", default=[5, 10, 20, 50])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "fewshot"))
    args = ap.parse_args(argv)
    data = Path(args.data)
    if not data.is_file():
        raise SystemExit(f"{data} not found; pass --data PATH to the NB201 latency CSV (index, arch_str, devices...)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    table = reference_table(args.reference, out.parent / "fewshot-ref")
    t_ref = time.perf_counter() - t0
    df = pd.read_csv(data)
    print(f"reference: {table.metadata.device_name} ({table.metadata.runtime}, {len(table)} ops, "
          f"{t_ref:.1f} s); target: {data.name}, {len(df)} architectures x {len(df.columns) - 2} devices", flush=True)
    res = run(df, table, args.ks, args.seeds)
    mean = res.groupby(["semantics", "method"])["spearman"].mean()
    best = tuple(mean.idxmax())
    md = markdown(res, args.ks, best)  # type: ignore[arg-type]
    wall = time.perf_counter() - t0
    print()
    print(md)
    print(f"\nwall time {wall:.0f} s (reference table {t_ref:.0f} s); {args.seeds} seeds per device and K")
    summary = {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "data": str(data),
               "reference": table.summary(), "ks": args.ks, "seeds": args.seeds, "wall_s": wall,
               "methods": {k: v for k, v in METHODS.items()}, "best": list(best),
               "mean": res.groupby(["semantics", "method", "K"])[["spearman", "mape_pct"]].mean()
               .reset_index().to_dict(orient="records")}
    (out / "fewshot.json").write_text(json.dumps(summary, indent=2, default=float))
    res.to_csv(out / "fewshot_runs.csv", index=False)
    (out / "fewshot.md").write_text(md + "\n")


if __name__ == "__main__":
    main()
