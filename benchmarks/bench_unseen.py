"""Unseen model-zoo networks on cpu-ort: predicted from a sampled kernel profile vs measured end to end.

The networks (torchvision's zoo, random init, batch 1) are never profiled themselves. The device
gets a *kernel profile* in the nn-Meter way: random configurations of each op kind
(:func:`hwlat.predictors.sampling.kernel_specs`, the blocks ``mbconv`` and ``resblock`` left out
by default), measured with the default protocol as ``hwlat profile --kernels`` does. A
:class:`~hwlat.predictors.kernels.KernelRegressor` is fitted on that table, and each network is
predicted by :class:`~hwlat.predictors.graph.GraphPredictor` (table hits, else the regressor,
else the explicit fallback rule) and measured end to end (``measure_model``, default protocol).
Measured and predicted figures are the protocol's statistic (``min``), the table's own.
The report says how many sampled keys happen to equal a kernel of the networks (expected: few),
each network's error, the share of its prediction that came from the fallback rule and the op
types behind it, and the summary figures against the issue's goals.

Every step resumes: the profile's checkpoint lives in ``OUT/kernels`` (``OUT/kernels-quick``
with ``--quick``: a checkpoint resumes only under its own protocol), the measurements in
``OUT/measured.csv`` (one row per network, rewritten as each finishes), the profile's wall time
in ``OUT/timings.json``; the report goes to ``OUT/results.csv`` and ``OUT/results.md``
(``-quick`` suffixes with ``--quick``). ``--calibrate K`` fits ``a·S + b`` on K networks drawn
with ``--seed`` and scores the others only.

Run (export the networks first, in the zoo's own environment; see benchmarks/zoo_export.py)::

    python -m venv .zoo && .zoo/bin/pip install torch==2.14.1 torchvision==0.29.1 onnx
    .zoo/bin/python benchmarks/zoo_export.py -o benchmarks/out/unseen/models
    python benchmarks/bench_unseen.py [--models-dir benchmarks/out/unseen/models] [-o benchmarks/out/unseen]
        [--kinds conv,pool,fc,...] [--samples 60] [--seed 0] [--models resnet18,vit_b_16]
        [--calibrate 0] [--quick] [--phase profile|measure|predict|all]

Expected duration on a 2-core machine: the full profile (16 kinds x 60 samples, conv x8, matmul
x3, fc x2: 1560 kernels) about 8-10 min, ``--quick`` (15 samples, Protocol.quick()) a few
minutes; measuring the 27 networks 1-2 min; predicting them under a minute (the runtime's
optimiser runs once per network).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

import hwlat
from hwlat.devices import detect, fingerprint_summary, load_device
from hwlat.errors import HwlatError, InputError, UnsupportedOpError
from hwlat.latency_tables import LatencyTable
from hwlat.ops.spec import OpSpec
from hwlat.predictors.graph import GraphPredictor
from hwlat.predictors.kernels import KernelRegressor
from hwlat.predictors.onnx_kernels import kernel_specs_of
from hwlat.predictors.sampling import SAMPLE_WEIGHTS, SAMPLED_KINDS, kernel_specs
from hwlat.profiler.model import measure_model
from hwlat.profiler.profile import TABLE_NAME, profile_ops
from hwlat.profiler.protocol import Protocol
from hwlat.profiler.runtimes import make_runtime

HERE = Path(__file__).resolve().parent
DEVICE = "cpu-ort"
BLOCK_KINDS = ("mbconv", "resblock")  # blocks of several kernels, not kernels
DEFAULT_KINDS = tuple(k for k in SAMPLED_KINDS if k not in BLOCK_KINDS)
SAMPLES, QUICK_SAMPLES = 60, 15
GOALS = "goals: >= 90 % within ±10 %, mean |error| <= 5 %, Spearman >= 0.98, fallback < 2 % on every model"
MEASURED_COLS = ["model", "latency_ms", "median_ms", "statistic", "slow_rounds_pct", "stability_pct", "unstable",
                 "wall_s", "error"]
RESULT_COLS = ["model", "family", "measured_ms", "predicted_ms", "error_pct", "fallback_pct", "kernels", "table",
               "regressor", "fallback", "zero_cost", "none", "unmapped_top3"]


# -- small helpers --------------------------------------------------------------------------------

def family(name: str) -> str:
    if name.startswith("maxvit"):
        return "hybrid"
    if name.startswith(("vit", "swin")):
        return "transformer"
    return "CNN"  # convnext included


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def model_paths(models_dir: Path, only: str | None) -> dict[str, Path]:
    """name -> .onnx file, from ``models.json`` (zoo_export.py) or the folder's .onnx files."""
    index = models_dir / "models.json"
    if index.exists():
        found = {n: models_dir / r["file"] for n, r in json.loads(index.read_text()).items()}
    else:
        found = {p.stem: p for p in models_dir.glob("*.onnx")}
    found = {n: p for n, p in found.items() if p.exists()}
    if not found:
        raise InputError(f"no ONNX models in {models_dir}; export them first with benchmarks/zoo_export.py")
    if only:
        wanted = [m.strip() for m in only.split(",") if m.strip()]
        missing = [m for m in wanted if m not in found]
        if missing:
            raise InputError(f"not in {models_dir}: {', '.join(missing)}; there: {', '.join(sorted(found))}")
        return {m: found[m] for m in wanted}
    return dict(sorted(found.items(), key=lambda kv: (family(kv[0]) != "CNN", kv[0])))


def read_timings(out: Path) -> dict[str, float]:
    p = out / "timings.json"
    return json.loads(p.read_text()) if p.exists() else {}


def add_timing(out: Path, name: str, seconds: float) -> None:
    t = read_timings(out)
    t[name] = t.get(name, 0.0) + seconds
    write_atomic(out / "timings.json", json.dumps(t, indent=1))


# -- 1. the kernel profile, 2. the regressor ------------------------------------------------------

def only_keys(table: LatencyTable, keys: set[str]) -> LatencyTable:
    """The rows of ``keys``: a folder resumed with other --kinds/--samples/--seed holds more."""
    return LatencyTable(table.metadata, table.df[table.df["key"].isin(keys)].reset_index(drop=True))


def profile(specs: list[OpSpec], table_dir: Path, protocol: Protocol, out: Path, tag: str) -> LatencyTable:
    print(f"profiling {len(specs)} sampled kernels on {DEVICE} into {table_dir} ...", file=sys.stderr, flush=True)
    res = profile_ops(specs, load_device(DEVICE), protocol=protocol, out_dir=table_dir, progress=True)
    print(res.summary(), file=sys.stderr, flush=True)
    if res.n_measured:
        add_timing(out, f"profile{tag}_s", res.wall_s)
    return only_keys(res.table, {s.key for s in specs})


def load_profile(specs: list[OpSpec], table_dir: Path) -> LatencyTable:
    path = table_dir / TABLE_NAME
    if not path.exists():
        raise InputError(f"no kernel profile at {path}; run --phase profile first (same --kinds/--samples/--quick)")
    table = only_keys(LatencyTable.load(path), {s.key for s in specs})
    if len(table) < len(specs):
        raise InputError(f"{path} holds {len(table)} of the {len(specs)} sampled kernels; run --phase profile")
    return table


def overlap(table: LatencyTable, paths: dict[str, Path]) -> tuple[str, set[str]]:
    """How many sampled keys coincide exactly with a kernel key of the test models, and those keys
    (dropped from the table before any fit: the models stay unseen)."""
    sampled = set(table.keys())
    model_keys: set[str] = set()
    per_model = []
    for name, p in paths.items():
        keys = {s.key for s in kernel_specs_of(p, DEVICE)}
        model_keys |= keys
        if keys & sampled:
            per_model.append(f"{name} {len(keys & sampled)}")
    hit = sampled & model_keys
    return (f"sampled kernel keys equal to a kernel key of the test models: {len(hit)} of {len(sampled)} sampled, "
            f"of {len(model_keys)} distinct model kernel keys" + (f" ({', '.join(per_model)})" if per_model else "")
            + "; dropped from the table before fitting and predicting"), hit


def fit_regressor(table: LatencyTable, seed: int, target: str, estimator: str) -> KernelRegressor:
    reg = KernelRegressor(random_state=seed, target=target, estimator=estimator)
    try:
        rep = reg.held_out_report(table, random_state=seed)
        print("\nkernel regressor, held-out error per kind (fit on 80 %, scored on 20 % of the profile):")
        print(rep.to_string(index=False, float_format=lambda v: f"{v:.3g}"), flush=True)
    except InputError as exc:
        print(f"held-out report skipped: {exc}", file=sys.stderr)
    return reg.fit(table)


# -- 3. end-to-end measurements -------------------------------------------------------------------

def read_measured(path: Path) -> pd.DataFrame:
    if path.exists():
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    return pd.DataFrame(columns=MEASURED_COLS)


def measure(paths: dict[str, Path], protocol: Protocol, csv: Path) -> None:
    rows = read_measured(csv).to_dict("records")
    todo = [n for n in paths if n not in {r["model"] for r in rows}]
    if not todo:
        return
    dev = load_device(DEVICE)
    with make_runtime(dev.runtime, **dev.runtime_kwargs()) as rt:
        for i, name in enumerate(todo, 1):
            t0 = time.perf_counter()
            row: dict[str, Any] = {"model": name}
            try:
                m = measure_model(rt, paths[name], protocol)
                inter = m.extra.get("interference", {})
                row.update(latency_ms=m.latency_ms, median_ms=m.median_ms, statistic=m.statistic,
                           slow_rounds_pct=inter.get("slow_rounds_pct"), stability_pct=100 * m.stability,
                           unstable=m.unstable)
            except HwlatError as exc:  # recorded in the row and the report, not hidden
                row["error"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            row["wall_s"] = time.perf_counter() - t0
            rows.append(row)
            write_atomic(csv, pd.DataFrame(rows, columns=MEASURED_COLS).to_csv(index=False))
            what = row.get("error") or f"{row['latency_ms']:.2f} ms ({row['slow_rounds_pct']} % slow rounds)"
            print(f"[measure {i}/{len(todo)}] {name}: {what} in {row['wall_s']:.0f} s", file=sys.stderr, flush=True)


# -- 4. predictions -------------------------------------------------------------------------------

def calibration_set(names: Sequence[str], k: int, seed: int) -> list[str]:
    """K models by a fixed rule: a draw seeded by ``seed`` from the sorted names."""
    if k <= 0:
        return []
    if k > len(names) - 2:
        raise InputError(f"--calibrate {k} leaves fewer than 2 of the {len(names)} measured models to score")
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(sorted(names), size=k, replace=False).tolist())


def predict_row(pred: GraphPredictor, name: str, path: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"model": name, "family": family(name)}
    try:
        row["predicted_ms"] = float(pred.predict([path])[0])
    except UnsupportedOpError as exc:  # kernels even the fallback cannot estimate
        row["predicted_ms"], row["error"] = np.nan, str(exc).replace("\n", " | ")
    df = pred.kernels(path)
    src = df["source"].value_counts().to_dict()
    unmapped = df[df["source"].isin(["fallback", "none"])]
    by_op = unmapped.groupby("op_type").agg(n=("node", "size"), ms=("predicted_ms", "sum"))
    by_op = by_op.sort_values(["ms", "n"], ascending=False).head(3)
    fb_ms = float(df.loc[df["source"] == "fallback", "predicted_ms"].sum())
    total = row["predicted_ms"]
    row.update(kernels=len(df), table=src.get("table", 0), regressor=src.get("regressor", 0),
               fallback=src.get("fallback", 0), zero_cost=src.get("zero-cost", 0), none=src.get("none", 0),
               fallback_pct=100 * fb_ms / total if total > 0 else np.nan,
               unmapped_top3=", ".join(f"{op} x{int(r.n)}" for op, r in by_op.iterrows()))
    others = sorted(set(src) - {"table", "regressor", "fallback", "zero-cost", "none"})
    if others:
        row["other_sources"] = ", ".join(f"{s} {src[s]}" for s in others)
    return row


def predict(table: LatencyTable, reg: KernelRegressor, paths: dict[str, Path], measured: pd.DataFrame,
            k: int, seed: int) -> tuple[pd.DataFrame, list[str]]:
    pred = GraphPredictor(table=table, regressor=reg, device=DEVICE, allow_fallback=True).fit()
    ok = measured[measured["error"].isna() & measured["model"].isin(list(paths))].set_index("model")
    cal = calibration_set(list(ok.index), k, seed)
    if cal:
        pred.calibrate([paths[n] for n in cal], ok.loc[cal, "latency_ms"].to_numpy(dtype=float))
        print(f"calibrated on {', '.join(cal)}: a={pred.coef_[0]:.4f}, b={pred.coef_[1]:.4f} ms", file=sys.stderr)
    rows = []
    for i, (name, path) in enumerate(paths.items(), 1):
        if name in cal:
            continue
        print(f"[predict {i}/{len(paths)}] {name}", file=sys.stderr, flush=True)
        row = predict_row(pred, name, path)
        row["measured_ms"] = float(ok.loc[name, "latency_ms"]) if name in ok.index else np.nan
        row["error_pct"] = 100 * (row["predicted_ms"] / row["measured_ms"] - 1)
        rows.append(row)
    df = pd.DataFrame(rows)
    return df[RESULT_COLS + [c for c in df.columns if c not in RESULT_COLS]], cal


# -- 5. the report --------------------------------------------------------------------------------

def summary_line(df: pd.DataFrame, label: str) -> str:
    d = df.dropna(subset=["error_pct"])
    if d.empty:
        return f"- {label}: no model with both a measurement and a prediction"
    e = d["error_pct"].abs()
    rho = float(spearmanr(d["predicted_ms"], d["measured_ms"])[0]) if len(d) >= 3 else float("nan")
    return (f"- {label} ({len(d)} models): within ±10 % {100 * (e <= 10).mean():.0f} %, within ±5 % "
            f"{100 * (e <= 5).mean():.0f} %, mean |error| {e.mean():.1f} %, Spearman {rho:.3f}, "
            f"fallback < 2 % on {int((d['fallback_pct'] < 2).sum())} of {len(d)} "
            f"(max {d['fallback_pct'].max():.1f} %)")


def report(df: pd.DataFrame, header: list[str], footer: list[str], cal: list[str]) -> str:
    lines = [*header, "", "| model | family | measured ms | predicted ms | error % | fallback % | kernels "
             "(table/regressor/fallback) | unmapped ops (top 3) |", "|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples():
        lines.append(f"| {r.model} | {r.family} | {r.measured_ms:.2f} | {r.predicted_ms:.2f} | {r.error_pct:+.1f} "
                     f"| {r.fallback_pct:.1f} | {r.kernels} ({r.table}/{r.regressor}/{r.fallback}) "
                     f"| {r.unmapped_top3 or '-'} |")
    lines += ["", "summary" + (f" (calibrated on {', '.join(cal)}, left out of every figure)" if cal else "") + ":",
              summary_line(df, "all"), summary_line(df[df["family"] == "CNN"], "CNNs"),
              summary_line(df[df["family"] != "CNN"], "transformers and hybrids"), f"- {GOALS}"]
    if "error" in df:
        lines += [f"- {r.model}: not predicted: {r.error}" for r in df.itertuples() if isinstance(r.error, str)]
    return "\n".join([*lines, "", *footer])


def host_header(args: argparse.Namespace, kinds: list[str], samples: int, same: str) -> list[str]:
    return [f"## Unseen zoo networks on {DEVICE}: sampled kernel profile vs end-to-end measurement", "",
            f"- host: {fingerprint_summary(detect(gpus=False))} (platform.processor: {platform.processor() or '?'}, "
            f"{os.cpu_count()} logical CPUs)",
            f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; hwlat {hwlat.__version__}; "
            f"{'quick' if args.quick else 'default'} protocol",
            f"- profile: {samples} samples x {len(kinds)} kinds ({', '.join(kinds)}; per kind x "
            f"{', '.join(f'{k} {w}' for k, w in SAMPLE_WEIGHTS.items())}), seed {args.seed}",
            f"- {same}",
            f"- command: {shlex.join([sys.executable, *sys.argv])}"]


# -- the command ----------------------------------------------------------------------------------

def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", type=Path, default=HERE / "out" / "unseen" / "models")
    ap.add_argument("-o", "--out", type=Path, default=HERE / "out" / "unseen")
    ap.add_argument("--kinds", default=",".join(DEFAULT_KINDS), help="sampled kinds, comma separated")
    ap.add_argument("--samples", type=int, default=None,
                    help=f"configurations per kind (default {SAMPLES}, {QUICK_SAMPLES} with --quick)")
    ap.add_argument("--seed", type=int, default=0, help="sampling, protocol, regressor and calibration draw")
    ap.add_argument("--models", default=None, help="comma-separated subset of the models' names")
    ap.add_argument("--calibrate", type=int, default=0, metavar="K", help="fit a·S+b on K models, score the rest")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES} samples per kind and Protocol.quick()")
    ap.add_argument("--phase", choices=("profile", "measure", "predict", "all"), default="all")
    ap.add_argument("--target", choices=("roofline", "residual", "log", "ms"), default="roofline",
                    help="KernelRegressor target (roofline, the default: trees over c + flops/P + bytes/B)")
    ap.add_argument("--estimator", choices=("gbrt", "et", "rf", "hgb"), default="gbrt",
                    help="KernelRegressor estimator")
    ap.add_argument("--max-flops", type=float, default=1e9,
                    help="largest sampled kernel, in FLOPs (the zoo's largest kernels are about 1e9)")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    tag = "-quick" if args.quick else ""
    protocol = (Protocol.quick() if args.quick else Protocol()).replace(seed=args.seed)  # as hwlat profile does
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    samples = args.samples or (QUICK_SAMPLES if args.quick else SAMPLES)
    paths = model_paths(args.models_dir, args.models)
    specs = kernel_specs(kinds, samples, seed=args.seed, ranges={"max_flops": args.max_flops})
    table_dir, measured_csv = out / f"kernels{tag}", out / f"measured{tag}.csv"
    phase_s: dict[str, float] = {}

    table = None
    if args.phase in ("profile", "all"):
        t0 = time.perf_counter()
        table = profile(specs, table_dir, protocol, out, tag)
        phase_s["profile (this run)"] = time.perf_counter() - t0
    if args.phase in ("measure", "all"):
        t0 = time.perf_counter()
        measure(paths, protocol, measured_csv)
        phase_s["measure (this run)"] = time.perf_counter() - t0
    if args.phase == "measure":
        return 0
    table = table if table is not None else load_profile(specs, table_dir)
    t0 = time.perf_counter()
    same, coinciding = overlap(table, paths)
    table = only_keys(table, set(table.keys()) - coinciding)
    phase_s["kernel analysis"] = time.perf_counter() - t0
    print(same, flush=True)
    if args.phase == "profile":
        return 0

    t0 = time.perf_counter()
    reg = fit_regressor(table, args.seed, args.target, args.estimator)
    phase_s["regressor fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    logging.getLogger("hwlat.predictors.graph").setLevel(logging.ERROR)  # the fallback share is reported instead
    measured = read_measured(measured_csv)
    df, cal = predict(table, reg, paths, measured, args.calibrate, args.seed)
    phase_s["predict"] = time.perf_counter() - t0

    done = measured[measured["model"].isin(list(paths))]
    footer = [f"time: kernel profile {read_timings(out).get(f'profile{tag}_s', 0.0) / 60:.1f} min in all "
              f"({len(specs)} kernels; goal <= 30 min full, <= 10 min quick, on 2 cores); end-to-end measurements "
              f"{done['wall_s'].sum() / 60:.1f} min ({len(done)} models); "
              + "; ".join(f"{k} {v:.0f} s" for k, v in phase_s.items())]
    text = report(df, host_header(args, kinds, samples, same), footer, cal)
    tag = f"{tag}-{args.estimator}-{args.target}"
    write_atomic(out / f"results{tag}.csv", df.to_csv(index=False))
    write_atomic(out / f"results{tag}.md", text + "\n")
    print("\n" + text + f"\n\nwrote {out / f'results{tag}.md'} and {out / f'results{tag}.csv'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return run(args)
    except HwlatError as exc:  # a sampled kind the runtime cannot emit, a missing profile...: say so
        print(f"bench_unseen: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
