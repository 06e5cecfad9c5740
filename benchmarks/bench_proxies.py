"""Zero-cost proxies on NAS-Bench-201: Spearman's rho of NASWOT / synflow against CIFAR-10 accuracy.

    python benchmarks/bench_proxies.py [--n 1000] [--proxies naswot synflow] [--batch-size 128]
                                       [--data gaussian|digits] [--seed 0] [--time-limit-s 0]
                                       [--acc ../shared/data/nb201/accuracy.csv] [--out benchmarks/out/proxies]

``--n`` architectures are drawn (seeded, without replacement) from the 15,625 of NAS-Bench-201;
each is built as the benchmark's trainable network (train mode, PyTorch default init, seed
``--seed``) and scored live with :class:`hwlat.search.proxies.ProxyAccuracy`. The scores are
proxies — compared by rank with the CIFAR-10 test accuracy after 200 epochs as published in
NATS-Bench (``accuracy.csv``), never read as accuracies.

Scores are appended to ``<out>/<proxy>-<data>-bs<B>-seed<S>.jsonl`` as they finish, so an
interrupted run resumes; ``--time-limit-s`` stops a run early (the report then states how many
architectures were scored). Writes ``<out>/results.json`` and ``<out>/results.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr
from tqdm.auto import tqdm

from hwlat._io import atomic_write_text, ensure_writable_dir
from hwlat.search.proxies import ProxyAccuracy
from hwlat.spaces import get_space

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ACC = REPO.parent / "shared" / "data" / "nb201" / "accuracy.csv"

#: published Spearman rho on NAS-Bench-201 CIFAR-10 (as quoted; all 15,625 architectures)
PUBLISHED = {
    "synflow": ("0.74", "Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021, Table 2 "
                        "(CIFAR-10 images, batch 64 for the data-dependent proxies; synflow uses all-ones)"),
    "naswot": ("~0.78", "Mellor et al., Neural Architecture Search without Training, ICML 2021 "
                        "(hook_logdet, CIFAR-10 images, batch 128)"),
}


def sample_rows(acc: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(acc), size=min(n, len(acc)), replace=False)
    return acc.iloc[idx].reset_index(drop=True)


def score_all(rows: pd.DataFrame, proxy: str, args: argparse.Namespace, out: Path, deadline: float
              ) -> tuple[dict[int, dict[str, Any]], Path]:
    space = get_space("nb201")
    src = ProxyAccuracy(space, proxy, batch_size=args.batch_size, seed=args.seed, data=args.data)
    bs = args.batch_size if proxy == "naswot" else 1
    path = out / f"{proxy}-{args.data if proxy == 'naswot' else 'ones'}-bs{bs}-seed{args.seed}.jsonl"
    done: dict[int, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                done[int(r["index"])] = r
    todo = rows[~rows["index"].isin(done)]
    with path.open("a", encoding="utf-8") as fh, tqdm(total=len(rows), initial=len(rows) - len(todo), unit="arch",
                                                       desc=f"{proxy}", file=sys.stderr, dynamic_ncols=True) as bar:
        for idx, arch_str in zip(todo["index"], todo["arch_str"]):
            if deadline and time.perf_counter() > deadline:
                bar.write(f"{proxy}: time limit reached after {len(done)} architectures")
                break
            t0 = time.perf_counter()
            v = src.score(space.decode(arch_str))
            r = {"index": int(idx), "arch": arch_str, "score": v if np.isfinite(v) else str(v),
                 "seconds": time.perf_counter() - t0}
            fh.write(json.dumps(r) + "\n")
            fh.flush()
            done[int(idx)] = r
            bar.update(1)
    return done, path


def summarise(rows: pd.DataFrame, done: dict[int, dict[str, Any]]) -> dict[str, Any]:
    sub = rows[rows["index"].isin(done)]
    scores = np.array([float(done[int(i)]["score"]) for i in sub["index"]])
    acc = sub["cifar10_test_acc"].to_numpy(dtype=np.float64)
    secs = np.array([done[int(i)]["seconds"] for i in sub["index"]])
    out: dict[str, Any] = {"n": int(len(sub)), "n_requested": int(len(rows)),
                           "non_finite": int(np.sum(~np.isfinite(scores))),
                           "seconds_per_arch_median": float(np.median(secs)) if len(secs) else float("nan"),
                           "seconds_total": float(secs.sum())}
    if len(sub) >= 3:
        out["spearman"] = float(spearmanr(scores, acc).statistic)
        out["kendall"] = float(kendalltau(scores, acc).statistic)
        fin = np.isfinite(scores)
        ok = acc > 15  # architectures that trained at all (disconnected cells sit at 10 %)
        out["spearman_trained_only"] = float(spearmanr(scores[ok & fin], acc[ok & fin]).statistic)
        out["n_trained_only"] = int(np.sum(ok & fin))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--proxies", nargs="+", default=["synflow", "naswot"], choices=["naswot", "synflow"])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--data", default="gaussian", choices=["gaussian", "digits"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit-s", type=float, default=0.0, help="stop each proxy after this long (0: no limit)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 avoids oversubscription "
                    "on a shared machine)")
    ap.add_argument("--acc", default=str(DEFAULT_ACC))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "proxies"))
    args = ap.parse_args(argv)
    acc_path = Path(args.acc)
    if not acc_path.is_file():
        print(f"NAS-Bench-201 accuracy file {acc_path} not found; pass --acc (columns index, arch_str, "
              "cifar10_test_acc)", file=sys.stderr)
        return 1
    out = ensure_writable_dir(args.out)
    import torch

    torch.set_num_threads(max(1, args.threads))
    rows = sample_rows(pd.read_csv(acc_path), args.n, args.seed)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results: dict[str, Any] = {"started": started, "n_requested": args.n, "seed": args.seed,
                               "batch_size": args.batch_size, "data": args.data, "threads": args.threads,
                               "accuracy": "CIFAR-10 test accuracy (%), 200 epochs, NATS-Bench topology space",
                               "proxies": {}}
    wall0 = time.perf_counter()
    for proxy in args.proxies:
        t0 = time.perf_counter()
        deadline = t0 + args.time_limit_s if args.time_limit_s > 0 else 0.0
        done, path = score_all(rows, proxy, args, out, deadline)
        s = summarise(rows, done)
        s["wall_s_this_run"] = time.perf_counter() - t0
        s["file"] = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
        s["published_spearman"], s["published_source"] = PUBLISHED[proxy]
        results["proxies"][proxy] = s
    results["wall_s"] = time.perf_counter() - wall0
    atomic_write_text(out / "results.json", json.dumps(results, indent=2))
    lines = [
        "# Zero-cost proxies on NAS-Bench-201 (CIFAR-10)",
        "",
        f"Started {started}; {args.n} architectures requested (seed {args.seed}); NASWOT on a batch of "
        f"{args.batch_size} {args.data} images 32x32x3; synflow on one all-ones image, float64, BN removed; "
        f"{args.threads} torch thread(s), on a shared 2-core machine (timings are indicative only).",
        "Scores are zero-cost **proxies** (ranks), not accuracies. Accuracy: CIFAR-10 test accuracy after "
        "200 epochs (NATS-Bench topology space).",
        "",
        "| proxy | n scored | Spearman ρ | Kendall τ | ρ (trained archs only) | non-finite | s/arch (median) "
        "| published ρ | source |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for proxy, s in results["proxies"].items():
        lines.append(f"| {proxy} | {s['n']} / {s['n_requested']} | {s.get('spearman', float('nan')):.3f} | "
                     f"{s.get('kendall', float('nan')):.3f} | {s.get('spearman_trained_only', float('nan')):.3f} "
                     f"(n={s.get('n_trained_only', 0)}) | {s['non_finite']} | "
                     f"{s['seconds_per_arch_median']:.3f} | {s['published_spearman']} | {s['published_source']} |")
    lines += ["", f"Wall time of this run: {results['wall_s']:.0f} s.", ""]
    text = "\n".join(lines)
    atomic_write_text(out / "results.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
