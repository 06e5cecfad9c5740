"""Few-shot latency of a device never profiled, with other devices' latency tables as the prior.

    python benchmarks/bench_fewshot_tables.py --space ofa-mbv3 --resolution 224 \\
        --references note10_224.parquet tables/cpu-litert/table.parquet \\
        --networks benchmarks/out/fidelity/alone/cpu-ort/ofa-mbv3/networks.json [--k 5 10 20] [--draws 20]
    python benchmarks/bench_fewshot_tables.py --space proxyless --lodo benchmarks/out/fewshot_tables/alone

The target device is known only through whole networks measured on it (``--networks``: a
``networks.json`` written by ``bench_fidelity.py``: ``archs`` and ``levelled_ms``, the first
copy is used). Its own table is never read. For each K and each seeded draw, K of those networks
are the measurements and the others are predicted:

* ``device prior``: :class:`~hwlat.predictors.DevicePrior` through the reference tables;
* ``counts``: the same model's plain count baseline (non-negative least squares on op counts);
* ``table <name>``: :class:`~hwlat.predictors.FewShotAdapter` (one multiplier per op type) over
  one reference table, the approach before the prior.

* ``best table (oracle)``: per draw, whichever single-table adapter scored best on the held-out
  networks, a bound no user reaches (they cannot know which table to trust).

With ``--lodo DIR`` (``bench_fidelity.py --out DIR`` run on several devices) each device is the
target in turn and the other devices' tables are the references (with any ``--references``).

Cells: mean over draws of Spearman ρ / MAPE (%) / share within ±10 % of the held-out networks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from hwlat.latency_tables import LatencyTable
from hwlat.predictors import DevicePrior, FewShotAdapter
from hwlat.predictors.references import read_references
from hwlat.spaces import get_space


def _score(pred: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    err = pred / y - 1
    return float(spearmanr(pred, y)[0]), float(100 * np.mean(np.abs(err))), float(100 * np.mean(np.abs(err) <= 0.10))


def run(space, references: list[str], networks: Path, ks: list[int], draws: int) -> list[dict]:
    """One target device (its ``networks.json``) predicted through ``references``: a row per K."""
    refs = read_references(references, space)
    net = json.loads(networks.read_text())
    archs = [space.decode(a) for a in net["archs"]]
    y = np.array([v[0] if isinstance(v, list) else v for v in net["levelled_ms"]], dtype=np.float64)
    tables = {name: LatencyTable.load(p) for name, p in zip(refs.devices, references)}
    print(f"target: {networks} ({len(y)} networks, median {np.median(y):.2f} ms); references: "
          f"{', '.join(refs.devices)}; {draws} draws per K", file=sys.stderr)
    rows = []
    for k in ks:
        cells: dict[str, list[tuple[float, float, float]]] = {}
        fit_s = []
        for seed in range(draws):
            idx = np.random.default_rng(seed).choice(len(y), k, replace=False)
            test = np.setdiff1d(np.arange(len(y)), idx)
            train = [archs[i] for i in idx]
            held = [archs[i] for i in test]
            t0 = time.perf_counter()
            prior = DevicePrior(space=space, references=refs).fit(train, y[idx])
            fit_s.append(time.perf_counter() - t0)
            cells.setdefault("device prior", []).append(_score(prior.predict(held), y[test]))
            counts = DevicePrior(space=space, references=refs, blend="counts").fit(train, y[idx])
            cells.setdefault("counts", []).append(_score(counts.predict(held), y[test]))
            best = None
            for name, table in tables.items():
                fs = FewShotAdapter(space=space, reference_table=table, grouping="type").fit(train, y[idx])
                score = _score(fs.predict(held), y[test])
                cells.setdefault(f"table {name}", []).append(score)
                best = score if best is None or score[0] > best[0] else best
            # the best single table on the held-out networks themselves: an oracle no user has
            cells.setdefault("best table (oracle)", []).append(best)
        row: dict = {"K": k, "fit_s": float(np.median(fit_s))}
        for name, v in cells.items():
            a = np.array(v)
            row[name] = f"{np.nanmean(a[:, 0]):.3f} / {a[:, 1].mean():.1f} / {a[:, 2].mean():.0f}"
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def _print(rows: list[dict], title: str = "") -> None:
    if title:
        print(f"\n{title}\n")
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="ofa-mbv3")
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--references", nargs="*", default=[], help="latency tables of reference devices")
    ap.add_argument("--networks", type=Path, help="networks.json of the target device (bench_fidelity)")
    ap.add_argument("--lodo", type=Path, metavar="DIR",
                    help="leave one device out over DIR/<device>/<space>/ (bench_fidelity's output): each device "
                         "is the target in turn, the others' tables (and --references) the references")
    ap.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--draws", type=int, default=20)
    args = ap.parse_args(argv)
    kw = {"resolutions": [args.resolution]} if args.space == "ofa-mbv3" else (
        {"resolution": args.resolution} if args.space == "proxyless" else {})
    space = get_space(args.space, **kw)
    if args.lodo is None:
        if args.networks is None or len(args.references) < 2:
            ap.error("give --networks and at least 2 --references, or --lodo DIR")
        _print(run(space, args.references, args.networks, args.k, args.draws))
        return 0
    devices = sorted(p.parent.parent.name for p in args.lodo.glob(f"*/{args.space}/networks.json"))
    if len(devices) + len(args.references) < 3:
        ap.error(f"{args.lodo} holds {len(devices)} device(s) with {args.space} networks; leaving one out needs "
                 "at least 2 references")
    for target in devices:
        others = [str(args.lodo / d / args.space / "table" / "table.parquet") for d in devices if d != target]
        rows = run(space, others + list(args.references), args.lodo / target / args.space / "networks.json",
                   args.k, args.draws)
        _print(rows, f"Target {target} (references: {', '.join(d for d in devices if d != target)}"
                     f"{', ' if args.references else ''}{', '.join(Path(r).stem for r in args.references)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
