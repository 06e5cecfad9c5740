"""Calibration choices for the lookup predictor, on the measurements bench_fidelity.py took.

    python benchmarks/bench_calibration.py [--fidelity benchmarks/out/fidelity] [--tables benchmarks/out/profile]

No timing happens here: it re-reads the K calibration and N test architectures that
``bench_fidelity.py`` measured (``measurements.jsonl``/``validation.csv`` of each device and
space) and compares, on the same data, the affine map ``a·S + b`` (hwlat's default) with a
per-group multiplier fitted on the device's own table (:class:`FewShotAdapter` with grouping
``type``, ``kind`` or ``total``). Each prediction is scored against the first measurement (as
``hwlat validate`` does) and against the mean of the two measurements (less noise in the
reference). The noise floor is the second measurement scored against the first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from hwlat.latency_tables import LatencyTable
from hwlat.predictors import LookupPredictor
from hwlat.predictors.fewshot import FewShotAdapter
from hwlat.predictors.validate import metrics
from hwlat.spaces import get_space

SPACE_KW = {"nb201": {}, "ofa-mbv3": {"resolutions": [224]}, "proxyless": {"resolution": 224}}


def table_path(fid: Path, tables: Path, dev: str, name: str) -> Path:
    return {"nb201": tables / dev / "nb201-run2" / "table.parquet",
            "ofa-mbv3": tables / dev / "ofa-224" / "table.parquet"}.get(
        name, fid / dev / f"{name}-table" / "table.parquet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fidelity", type=Path, default=Path("benchmarks/out/fidelity"))
    ap.add_argument("--tables", type=Path, default=Path("benchmarks/out/profile"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/calibration.md"))
    args = ap.parse_args()
    lines = ["| device | space | calibration | ±10 % | ±5 % | MAPE % | Spearman "
             "| ±10 % vs mean of 2 | MAPE vs mean of 2 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for dev_dir in sorted(p for p in args.fidelity.iterdir() if p.is_dir()):
        dev = dev_dir.name
        for name in ("nb201", "ofa-mbv3", "proxyless"):
            d = dev_dir / name
            tp = table_path(args.fidelity, args.tables, dev, name)
            if not (d / "validation.csv").exists() or not tp.exists():
                continue
            space = get_space(name, **SPACE_KW[name])
            table = LatencyTable.load(tp)
            cal = {}
            with open(d / "measurements.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    rec = json.loads(line)
                    if rec.get("key", "").startswith("cal-pass0|"):
                        cal[rec["key"].split("|", 1)[1]] = rec["median_ms"]
            cal_archs, cal_y = [space.decode(k) for k in cal], np.array(list(cal.values()))
            val = pd.read_csv(d / "validation.csv")
            test = [space.decode(a) for a in val["arch"]]
            first, second = val["measured_ms"].to_numpy(), val["repeat_ms"].to_numpy()
            both = (first + second) / 2
            lookup = LookupPredictor(space=space, table=table).fit(cal_archs, cal_y)
            preds = {"affine a·S+b (default)": lookup.predict(test)}
            for g in ("total", "kind", "type"):
                ad = FewShotAdapter(space=space, reference_table=table, grouping=g).fit(cal_archs, cal_y)
                preds[f"per-{g} multipliers"] = ad.predict(test)
            preds["noise floor (2nd vs 1st)"] = second
            for label, p in preds.items():
                m1, m2 = metrics(p, first), metrics(p, both)
                # the second measurement is half of the mean of two: scoring it against that is circular
                vs2 = ("— | —" if label.startswith("noise") else f"{m2['within_10_pct']:.0f} | {m2['mape_pct']:.1f}")
                lines.append(f"| {dev} | {name} | {label} | {m1['within_10_pct']:.0f} | {m1['within_5_pct']:.0f} | "
                             f"{m1['mape_pct']:.1f} | {m1['spearman']:.3f} | {vs2} |")
            print(f"{dev} {name}: K={len(cal_y)}, N={len(test)}", flush=True)
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
