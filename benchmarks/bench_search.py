"""Search benchmark: how close random search, aging evolution, NSGA-II and the budget-aware
strategy get to the true front.

    python benchmarks/bench_search.py [--data ../shared/data] [--table TABLE] [--seeds 5]
                                      [--out benchmarks/out/search]

NAS-Bench-201, CIFAR-10 and CIFAR-100 test accuracies (NATS-Bench CSV) with hwlat's own latency
table of this machine (``cpu-ort``; ``benchmarks/out/profile/cpu-ort/nb201-run2/table.parquet`` if
present, else profiled now): the exact front from all 15,625 architectures; the hypervolume ratio
(reference point: the worst latency and the worst accuracy of the space) reached after 100, 200,
500 and 1000 evaluations over several seeds; the accuracy regret of the best architecture found
under 10 budgets spread over the front's latency range; the time of 10,000 evaluations.

Once-for-All MobileNetV3 with the published Note10 lookup tables (resolutions 160-224) and
the published accuracy predictor: the best predicted top-1 under 15-50 ms of Once-for-All's own
EvolutionFinder (``evolution_finder.py``: one run of 50,100 evaluations per budget) against one
run of ``--ofa-evals`` evaluations that serves all six budgets (the budget-aware strategy,
NSGA-II, random search) and constrained aging evolution with a sixth of them per budget, with
the evaluations and wall time used.

Prints Markdown and writes it to ``<out>/results.md`` (raw figures in ``<out>/results.json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # evolution_finder.py beside this file

from hwlat._io import atomic_write_text
from hwlat.latency_tables import LatencyTable, import_ofa_yaml, merge
from hwlat.predictors import LookupPredictor
from hwlat.search import ParetoFront, get_space, make_accuracy, min_latency, run_search

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_TABLE = REPO / "benchmarks" / "out" / "profile" / "cpu-ort" / "nb201-run2" / "table.parquet"
EVALS = (100, 200, 500, 1000)
STRATEGIES = ("random", "evolution", "nsga2", "budgets")
OFA_RES = (160, 176, 192, 208, 224)
OFA_BUDGETS = (15, 20, 25, 30, 40, 50)


def nb201_table(path: str | None, out: Path) -> tuple[LatencyTable, str]:
    p = Path(path) if path else DEFAULT_TABLE
    if p.is_file():
        return LatencyTable.load(p), str(p.relative_to(REPO) if p.is_relative_to(REPO) else p)
    from hwlat.profiler import profile_ops

    res = profile_ops(get_space("nb201").all_ops(), "cpu-ort", out_dir=out / "nb201-table", progress=False)
    return res.table, f"profiled now into {out / 'nb201-table'}"


def run(strategy: str, space: Any, pred: Any, acc: Any, n: int, seed: int, **kw: Any) -> Any:
    return run_search(space, pred, acc, strategy, n_evals=n, seed=seed, progress=False, **kw)


def bench_nb201(data: Path, table: LatencyTable, seeds: int) -> dict[str, Any]:
    space = get_space("nb201")
    pred = LookupPredictor(space=space, table=table).fit()
    genes = np.stack(np.unravel_index(np.arange(space.size()), space.gene_sizes()), axis=1)
    lat = pred.predict_genes(genes)
    out: dict[str, Any] = {"min_latency": min_latency(space, pred)}
    for dataset in ("cifar10", "cifar100"):
        acc = make_accuracy(f"nb201-csv:{data / 'nb201' / 'accuracy.csv'}:{dataset}", space)
        a = acc.evaluate_genes(genes)
        true = ParetoFront.from_points(lat, a)
        ref = (float(lat.max()), float(a.min()))
        hv_true = true.hypervolume(ref)
        soft_t = float(np.median(lat))
        hv: dict[str, dict[int, list[float]]] = {s: {n: [] for n in EVALS} for s in STRATEGIES}
        for s in STRATEGIES:
            kw = {"budget_ms": soft_t, "reward": "soft"} if s == "evolution" else {}
            for seed in range(seeds):
                res = run(s, space, pred, acc, max(EVALS), seed, **kw)
                for n in EVALS:  # the archive in evaluation order: the first n evaluations
                    f = ParetoFront.from_points(res.latency_ms[:n], res.accuracy[:n])
                    hv[s][n].append(f.hypervolume(ref) / hv_true)
        # regret under 10 budgets spread over the front's latency range
        budgets = np.linspace(true.latency_ms.min(), true.latency_ms.max(), 11)[1:]
        best_true = true.best_under(budgets)["accuracy"].to_numpy()
        regret: dict[str, dict[int, list[float]]] = {s: {n: [] for n in (500, 1000)} for s in STRATEGIES}
        for s in STRATEGIES:
            for n in (500, 1000):
                for seed in range(seeds):
                    if s == "evolution":  # one constrained search per budget
                        found = [run(s, space, pred, acc, n, seed, budget_ms=float(b)).best()["accuracy"]
                                 for b in budgets]
                    else:  # one search serves every budget (the budgets strategy is told them)
                        res = run(s, space, pred, acc, n, seed,
                                  **({"budgets": list(budgets)} if s == "budgets" else {}))
                        found = res.front.best_under(budgets)["accuracy"].to_numpy()
                    regret[s][n].append(float(np.mean(best_true - np.asarray(found, dtype=float))))
        out[dataset] = {"accuracy_name": acc.name, "front_size": len(true), "ref": ref, "hv_true": hv_true,
                        "soft_target_ms": soft_t, "hv": hv, "budgets": budgets.tolist(),
                        "best_true": best_true.tolist(), "regret": regret}
    # speed: 10,000 evaluations (predictor + accuracy table), one seed
    acc = make_accuracy(f"nb201-csv:{data / 'nb201' / 'accuracy.csv'}:cifar10", space)
    speed = {}
    for s in STRATEGIES:
        kw = {"budget_ms": float(np.median(lat))} if s == "evolution" else {}
        t0 = time.perf_counter()
        res = run(s, space, pred, acc, 10_000, 0, check_budget=False, **kw)
        speed[s] = {"n": res.n_evals, "wall_s": time.perf_counter() - t0, "loop_s": res.wall_s}
    out["speed"] = speed
    return out


def bench_ofa(data: Path, seeds: int, n_evals: int) -> dict[str, Any]:
    """Best predicted top-1 under each budget: EvolutionFinder (one run per budget, its defaults)
    against one run of ``n_evals`` serving every budget (budgets, NSGA-II, random), and
    constrained evolution with ``n_evals / 6`` per budget."""
    from evolution_finder import evolution_finder

    space = get_space("ofa-mbv3", resolutions=list(OFA_RES))
    table = None
    for r in OFA_RES:
        t = import_ofa_yaml(data / "ofa" / f"note10_lut_{r}.yaml")
        table = t if table is None else merge(table, t)
    pred = LookupPredictor(space=space, table=table, overhead_ms=0.0, calibration="none").fit()
    acc = make_accuracy(f"ofa-predictor:{data / 'ofa' / 'acc_predictor.pth'}", space)
    res_out: dict[str, Any] = {"accuracy_name": acc.name, "min_latency": min_latency(space, pred), "rows": [],
                               "n_evals": n_evals, "seeds": seeds}

    def add(name: str, b: float, accs: list[float], lats: list[float], evals: int, wall: float) -> None:
        res_out["rows"].append({"strategy": name, "budget_ms": b, "acc": accs, "lat": lats, "evals": evals,
                                "wall_s": wall})

    for b in OFA_BUDGETS:  # the reference: one EvolutionFinder run per budget
        t0 = time.perf_counter()
        found = [evolution_finder(space, pred.predict_genes, acc.evaluate_genes, float(b), np.random.default_rng(seed))
                 for seed in range(seeds)]
        add("EvolutionFinder (per budget)", b, [f.accuracy for f in found], [f.latency_ms for f in found],
            found[0].evaluations, (time.perf_counter() - t0) / seeds)
    for s in ("budgets", "nsga2", "random"):  # one run per seed serves every budget
        kw = {"budgets": list(OFA_BUDGETS)} if s == "budgets" else {}
        runs = [run(s, space, pred, acc, n_evals, seed, **kw) for seed in range(seeds)]
        for b in OFA_BUDGETS:
            best = [r.best(b) for r in runs]
            add(f"{s} (one run)", b, [x["accuracy"] if x else np.nan for x in best],
                [x["latency_ms"] if x else np.nan for x in best], n_evals, float(np.mean([r.wall_s for r in runs])))
    per = n_evals // len(OFA_BUDGETS)
    for b in OFA_BUDGETS:
        runs = [run("evolution", space, pred, acc, per, seed, budget_ms=float(b)) for seed in range(seeds)]
        best = [r.best() for r in runs]
        add("evolution, hard (per budget)", b, [x["accuracy"] if x else np.nan for x in best],
            [x["latency_ms"] if x else np.nan for x in best], per, float(np.mean([r.wall_s for r in runs])))
    return res_out


def markdown(nb: dict[str, Any], ofa: dict[str, Any], meta: dict[str, Any]) -> str:
    L = [f"## Search ({meta['utc']}, {meta['host']}, {meta['seeds']} seeds)", ""]
    L.append(f"NAS-Bench-201 latency: {meta['table']} (LookupPredictor; least latency "
             f"{nb['min_latency'][0]:.3f} ms, {nb['min_latency'][1]}). Accuracy: NATS-Bench 200-epoch test "
             "accuracy. Hypervolume reference point: the worst latency and the worst accuracy of the space; "
             "ratio = HV(front of the first n evaluations) / HV(exact front of all 15,625). Evolution for the "
             "hypervolume uses the soft MnasNet reward with T = the space's median latency; for regret, one "
             "hard-constrained evolution per budget; random and NSGA-II serve all budgets from one run. "
             "The CIFAR-100 rows reuse the 10-class network's latency.")
    L.append("")
    for ds in ("cifar10", "cifar100"):
        d = nb[ds]
        L.append(f"### NAS-Bench-201 {ds}: exact front {d['front_size']} points, HV {d['hv_true']:.3f}")
        L.append("")
        L.append("| strategy | " + " | ".join(f"HV ratio @{n}" for n in EVALS)
                 + " | regret @500 (pts) | regret @1000 |")
        L.append("|---|" + "---|" * (len(EVALS) + 2))
        for s in STRATEGIES:
            cells = [f"{np.mean(d['hv'][s][n]):.4f} (min {np.min(d['hv'][s][n]):.4f})" for n in EVALS]
            reg = [f"{np.mean(d['regret'][s][n]):.3f}" for n in (500, 1000)]
            L.append(f"| {s} | " + " | ".join(cells) + " | " + " | ".join(reg) + " |")
        L.append("")
        L.append("Budgets (ms): " + ", ".join(f"{b:.2f}" for b in d["budgets"]))
        L.append("")
    L.append("10,000 evaluations on NAS-Bench-201 (LookupPredictor + accuracy table), wall time:")
    L.append("")
    L.append("| strategy | evaluations | search loop (s) | with setup (s) |")
    L.append("|---|---|---|---|")
    for s, v in nb["speed"].items():
        L.append(f"| {s} | {v['n']} | {v['loop_s']:.3f} | {v['wall_s']:.3f} |")
    L.append("")
    L.append(f"### Once-for-All MobileNetV3, Note10 tables ({', '.join(map(str, OFA_RES))} px), {ofa['accuracy_name']}")
    L.append("")
    L.append(f"Least latency of the space: {ofa['min_latency'][0]:.2f} ms ({ofa['min_latency'][1]}). "
             f"Best predicted top-1 (%) within each budget: median over {ofa['seeds']} seeds (min-max), and the "
             "median's difference from EvolutionFinder's median (points). Evaluations: per budget for the "
             "per-budget rows, in all for the one-run rows.")
    L.append("")
    ref = {r["budget_ms"]: float(np.median(r["acc"])) for r in ofa["rows"]
           if r["strategy"].startswith("EvolutionFinder")}
    L.append("| strategy | budget (ms) | best top-1 (%) | Δ vs EvolutionFinder | latency (ms) | evaluations "
             "| wall (s) per run |")
    L.append("|---|---|---|---|---|---|---|")
    for r in ofa["rows"]:
        a = np.asarray(r["acc"], dtype=float)
        d = np.nanmedian(a) - ref[r["budget_ms"]]
        L.append(f"| {r['strategy']} | {r['budget_ms']} | {np.nanmedian(a):.2f} "
                 f"({np.nanmin(a):.2f}-{np.nanmax(a):.2f}) | {d:+.2f} | {np.nanmedian(r['lat']):.2f} "
                 f"| {r['evals']} | {r['wall_s']:.2f} |")
    L.append("")
    L.append("Timings are indicative: the machine was shared with other jobs.")
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--table", default=None, help="NAS-Bench-201 latency table (default: the cpu-ort profile)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--ofa-evals", type=int, default=30_000,
                    help="evaluations of a one-run search on Once-for-All (per-budget evolution gets a sixth)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "search"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table, table_src = nb201_table(args.table, out)
    t0 = time.perf_counter()
    nb = bench_nb201(data, table, args.seeds)
    ofa = bench_ofa(data, args.seeds, args.ofa_evals)
    meta = {"utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "host": platform.node() or "host",
            "seeds": args.seeds, "table": table_src, "bench_s": time.perf_counter() - t0}
    md = markdown(nb, ofa, meta)
    atomic_write_text(out / "results.md", md)
    atomic_write_text(out / "results.json",
                      json.dumps({"meta": meta, "nb201": nb, "ofa": ofa}, indent=1,
                                 default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    print(md)


if __name__ == "__main__":
    main()
