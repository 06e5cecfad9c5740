"""How well a search's gallery agrees with measurement, over repeated runs of what `make demo` does.

    python benchmarks/bench_gallery.py [--runs 5] [--device cpu-ort] [--budget 2] [--out DIR]

Each run is ``hwlat search --space nb201 --budget B --evaluations 300 --max-measure 12`` with
its own seed (its own calibration networks, search and gallery), on a fresh output folder: the
table is profiled, the predictor calibrated on 10 networks, the gallery measured. For every run
it prints how many measured members the prediction matched within ±10 % and ±5 %, and the
median signed error, three ways side by side, from the same measurements:

* **anchored** (hwlat's gallery): raw latencies times the median, over the calibration networks
  measured again beside the members, of calibrated / now;
* **reference**: raw latencies times the calibration's reference level over the reference network
  of the member's chunk (hwlat's gallery before the anchors);
* **raw**: as measured.

and the interference figure of the gallery's measurement. The NB201 accuracies come from
``../shared/data/nb201/accuracy.csv`` (``--accuracy`` for another file). Run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ACCURACY = ROOT.parent / "shared" / "data" / "nb201" / "accuracy.csv"


def score(out: Path) -> dict:
    f = json.loads((out / "front.json").read_text())
    meta = f["meta"]
    level = (meta.get("calibration") or {}).get("drift", {}).get("level_ms")
    refs = {}
    for line in (out / "measurements" / "gallery.jsonl").open():
        r = json.loads(line)
        if r.get("key", "").startswith("gallery-"):
            refs[r["key"].split("|", 1)[1]] = r.get("reference_ms")
    m = [x for x in f["front"] if x["measured_ms"] is not None]
    pred = np.array([x["predicted_ms"] for x in m])
    raw = np.array([x["raw_measured_ms"] for x in m])
    ways = {"anchored": np.array([x["measured_ms"] for x in m]), "raw": raw}
    if level:
        ways["reference"] = np.array([x["raw_measured_ms"] * level / refs[x["arch"]] for x in m])
    res = {"n": len(m), "interference": meta.get("interference"), "anchors": meta.get("anchors"),
           "calibration": (meta.get("calibration") or {}).get("mode")}
    for k, y in ways.items():
        e = 100 * (pred - y) / y
        res[k] = {"w10": int((abs(e) <= 10).sum()), "w5": int((abs(e) <= 5).sum()), "median": float(np.median(e))}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--device", default="cpu-ort")
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--accuracy", type=Path, default=DEFAULT_ACCURACY)
    ap.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    args = ap.parse_args()
    if not args.accuracy.is_file():
        sys.exit(f"no NB201 accuracy file at {args.accuracy}; give one with --accuracy")
    base = args.out or Path(tempfile.mkdtemp(prefix="hwlat-bench-gallery-"))
    print(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}; {args.runs} runs on {args.device}, "
          f"budget {args.budget} ms; load average {os.getloadavg()[0]:.2f}; {base}", flush=True)
    print("| run | measured | anchored ±10 % / ±5 % (median error) | reference | raw | gallery slow rounds "
          "(slowdown) | anchors: now / calibrated (quartiles) | calibration |")
    print("|---|---|---|---|---|---|---|---|")
    tot: dict[str, list[int]] = {}
    for seed in range(1, args.runs + 1):
        out = base / f"run{seed}"
        cmd = [sys.executable, "-m", "hwlat", "search", "--device", args.device, "--space", "nb201", "--budget",
               str(args.budget), "--accuracy", f"nb201-csv:{args.accuracy}:cifar10", "--evaluations", "300",
               "--max-measure", "12", "--no-progress", "--seed", str(seed), "-o", str(out), "--format", "json"]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            print(f"| {seed} | failed: {done.stderr.strip().splitlines()[-1:]} |")
            continue
        r = score(out)
        cells = []
        for k in ("anchored", "reference", "raw"):
            if k in r:
                t = tot.setdefault(k, [0, 0, 0])
                t[0] += r[k]["w10"]
                t[1] += r[k]["w5"]
                t[2] += r["n"]
                cells.append(f"{r[k]['w10']}/{r['n']} / {r[k]['w5']}/{r['n']} ({r[k]['median']:+.1f} %)")
            else:
                cells.append("—")
        i, a = r["interference"] or {}, r["anchors"] or {}
        anchors = (f"x{1 / a['factor']:.3f} (x{1 / a['ratio_q3']:.3f}–x{1 / a['ratio_q1']:.3f})" if a else "—")
        print(f"| {seed} | {r['n']} | {' | '.join(cells)} | {i.get('slow_rounds_pct', float('nan')):.0f} % "
              f"(x{i.get('slowdown', float('nan')):.2f}) | {anchors} | {r['calibration']} |", flush=True)
    print("| all | | " + " | ".join(f"{t[0]}/{t[2]} / {t[1]}/{t[2]}" for t in
                                    (tot.get(k, [0, 0, 0]) for k in ("anchored", "reference", "raw"))) + " | | | |")


if __name__ == "__main__":
    main()
