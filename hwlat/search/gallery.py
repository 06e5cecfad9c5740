"""The latency–accuracy gallery: the best network for every budget, each one measured for real.

A search leaves an archive of evaluated architectures (predicted latency, accuracy). The gallery
keeps its Pareto front, picks the most accurate member under each budget, measures the picked
members (and a thinned selection of the rest of the front) end to end on the device with the
same protocol as the tables, and writes a folder a person can open:

==================  ==========================================================================
``front.csv``       one row per front member: architecture, predicted and **measured** latency
``front.json``      (ms), their relative difference, accuracy and its source, exported files
``budgets.csv``     one row per budget: the pick, its predicted and measured latency, whether
                    the measurement meets the budget (a pick measured over its budget gives way
                    to the most accurate measured member under it: ``replaced_member``)
``pareto.png``      the archive, the front, the measured positions and the budgets
``index.html``      the plot and both tables in one file (the plot is embedded: no server, no
                    other file needed)
``models/``         the picked members as ONNX and TFLite files
==================  ==========================================================================

Measurements go to ``measurements/measurements.jsonl`` as they finish, so an interrupted gallery
resumes without measuring anything twice.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hwlat._io import atomic_path, atomic_write_text, ensure_writable_dir
from hwlat.errors import InputError
from hwlat.profiler.meter import Interference
from hwlat.profiler.networks import NetworkMeasurements, drift_text, measure_archs
from hwlat.search.page import agreement_text, render_page
from hwlat.search.pareto import non_dominated_mask

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec
    from hwlat.profiler.protocol import Protocol
    from hwlat.profiler.runtimes import Runtime
    from hwlat.spaces import SearchSpace

__all__ = ["Gallery", "build_gallery", "default_budgets", "export_member"]

log = logging.getLogger(__name__)


def default_budgets(front_ms: np.ndarray, n: int = 6, upper_ms: float | None = None) -> list[float]:
    """``n`` budgets (ms) spread evenly between the front's fastest member and ``upper_ms`` (or its
    slowest member), rounded to 3 significant digits."""
    lo = float(np.min(front_ms))
    hi = float(upper_ms if upper_ms is not None else np.max(front_ms))
    if hi <= lo:
        return [_round3(hi)]
    return sorted({_round3(v) for v in np.linspace(lo + (hi - lo) / n, hi, n)})


def _round3(x: float) -> float:
    if x <= 0 or not math.isfinite(x):
        return float(x)
    return float(round(x, 2 - int(math.floor(math.log10(abs(x))))))


def export_member(space: SearchSpace, arch: Any, out_dir: str | os.PathLike[str], stem: str, *,
                  formats: Sequence[str] = ("onnx", "tflite"), seed: int = 0) -> list[Path]:
    """Write the network of ``arch`` as ``out_dir/stem.onnx`` and/or ``.tflite`` (seeded weights)."""
    bad = sorted(set(formats) - {"onnx", "tflite"})
    if bad:
        raise InputError(f"unknown export format(s) {', '.join(bad)}; choose onnx and/or tflite")
    d = ensure_writable_dir(out_dir)
    graph = space.build(arch, seed=seed)
    files = []
    if "onnx" in formats:
        import onnx

        from hwlat.ops.onnx_emit import graph_to_onnx

        p = d / f"{stem}.onnx"
        with atomic_path(p) as tmp:
            onnx.save(graph_to_onnx(graph), str(tmp))
        files.append(p)
    if "tflite" in formats:
        from hwlat.ops.tflite_emit import graph_to_tflite

        p = d / f"{stem}.tflite"
        with atomic_path(p) as tmp:
            Path(tmp).write_bytes(graph_to_tflite(graph))
        files.append(p)
    return files


@dataclass
class Gallery:
    """What :func:`build_gallery` wrote: the front, the budget table and the files."""

    front: pd.DataFrame
    budgets: pd.DataFrame
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def agreement(self) -> str:
        """One line: how many measured members the prediction matched within ±10 % and ±5 %."""
        return agreement_text(self.meta)

    def summary(self) -> str:
        b = self.budgets
        lines = [f"gallery: {len(self.front)} front members, {int(self.front['measured_ms'].notna().sum())} measured "
                 f"on {self.meta.get('device')}; accuracy: {self.meta.get('accuracy')}", self.agreement()]
        if self.meta.get("interference"):

            lines.append(Interference.from_dict(self.meta["interference"]).summary())
        anchors = self.meta.get("anchors")
        if anchors:
            lines.append(f"level: the {anchors['n']} calibration networks, measured again beside the members, ran "
                         f"x{1 / anchors['factor']:.3f} of their calibrated latencies (quartiles "
                         f"x{1 / anchors['ratio_q3']:.3f} to x{1 / anchors['ratio_q1']:.3f}); measured latencies "
                         f"are at the calibration's level (raw ones in raw_measured_ms)")
        elif self.meta.get("drift"):
            lines.append(drift_text(self.meta["drift"]))
        m = self.meta.get("budget_margin")
        if m is not None:
            lines.append(f"budget margin: picks are predicted within budget / {1 + m:.3f} (calibration networks ran up "
                         f"to {100 * m:.1f} % over their leave-one-out predictions, 90th percentile)")
        if len(b):
            with pd.option_context("display.width", 200, "display.max_colwidth", 60,
                                   "display.float_format", lambda v: f"{v:.4g}" if abs(v) >= 1e5 else f"{v:.3f}"):
                cols = ["budget_ms", "accuracy", "predicted_ms", "measured_ms", "meets_budget", "arch"]
                lines.append(b[cols].to_string(index=False))
            gone = b.dropna(subset=["replaced_member"]) if "replaced_member" in b else b.iloc[:0]
            for _, r in gone.iterrows():
                lines.append(f"budget {r['budget_ms']:g} ms: member {int(r['replaced_member'])}, picked by its "
                             f"prediction, measured over the budget; member {int(r['member'])} (measured under it) "
                             "takes its place")
        lines.append(f"open {self.out_dir / 'index.html'}")
        return "\n".join(lines)


def _size(space: SearchSpace, text: str) -> dict[str, float]:
    """FLOPs and weights (millions) of a network, from the graph hwlat builds of it."""
    try:
        arch = space.decode(text)
        g = space.build(arch)
        return {"mflops": space.flops(arch) / 1e6,
                "mparams": sum(int(w.size) for n in g.nodes for w in n.weights.values()) / 1e6}
    except Exception as exc:  # noqa: BLE001 - a size is a nicety; the gallery does not fail for it
        log.debug("no size for %s: %s", text, exc)
        return {"mflops": float("nan"), "mparams": float("nan")}


def _front_rows(archive: pd.DataFrame) -> pd.DataFrame:

    mask = non_dominated_mask(np.column_stack([archive["latency_ms"].to_numpy(float),
                                               -archive["accuracy"].to_numpy(float)]))
    return archive[mask].sort_values("latency_ms").reset_index(drop=True)


def _thin(n: int, keep: int) -> list[int]:
    if n <= keep:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, keep)})


def _measure_with_anchors(space: SearchSpace, archs: list[Any], anchors: tuple[Sequence[Any], Sequence[float]],
                          device: DeviceSpec | str, protocol: Protocol | None, out: Path, progress: bool,
                          runtime: Runtime | None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, NetworkMeasurements, dict[str, Any]]:
    """The members' latencies at the calibration's level, from anchors measured beside them.

    Returns (levelled ms, raw ms, IQR %) of ``archs``, the measurements, and what the anchors said."""
    anc_archs, anc_ms = list(anchors[0]), np.asarray(anchors[1], dtype=np.float64).ravel()
    if len(anc_archs) != anc_ms.size or anc_ms.size == 0 or not np.all(np.isfinite(anc_ms) & (anc_ms > 0)):
        raise InputError(f"anchors need one positive latency (ms) per network, got {len(anc_archs)} networks and "
                         f"{anc_ms.size} latencies")
    anc_names = [space.encode(a) for a in anc_archs]
    pos = {space.encode(a): i for i, a in enumerate(archs)}
    todo = list(archs)
    for a, n in zip(anc_archs, anc_names):
        if n not in pos:  # an anchor that is a member is measured once
            pos[n] = len(todo)
            todo.append(a)
    # one seeded order mixes anchors into every chunk: they see the conditions the members see
    order = np.random.default_rng(len(todo)).permutation(len(todo))
    got = measure_archs(space, [todo[i] for i in order], device, protocol=protocol, out_dir=out / "measurements",
                        passes=1, tag="gallery-", progress=progress, runtime=runtime, kind="gallery")
    raw_all = np.empty(len(todo))
    raw_all[order] = (got.raw_ms if got.raw_ms is not None else got.ms)[:, 0]
    now = raw_all[[pos[n] for n in anc_names]]
    ratio = anc_ms / now
    factor = float(np.median(ratio))
    q1, q3 = np.percentile(ratio, [25, 75])
    raw = raw_all[:len(archs)]
    spread = np.empty(len(todo))
    spread[order] = _spread_pct(got)
    info = {"n": int(anc_ms.size), "factor": factor, "ratio_q1": float(q1), "ratio_q3": float(q3)}
    return raw * factor, raw, spread[:len(archs)], got, info


def _spread_pct(got: NetworkMeasurements) -> np.ndarray:
    """Each network's interquartile range over its median (%), from its first copy's samples."""
    out = []
    for rs in got.records:
        r = rs[0] if rs else {}
        iqr, med = r.get("iqr_ms"), r.get("median_ms")
        out.append(100.0 * float(iqr) / float(med) if iqr is not None and med else np.nan)
    return np.asarray(out, dtype=np.float64)


def build_gallery(space: SearchSpace, archive: pd.DataFrame, device: DeviceSpec | str,
                  out_dir: str | os.PathLike[str], *, accuracy_name: str, accuracy_kind: str = "accuracy",
                  budgets: Sequence[float] | None = None,
                  max_budget_ms: float | None = None, measure: bool = True, max_measure: int = 30,
                  protocol: Protocol | None = None, export: str = "budgets", meta: dict[str, Any] | None = None,
                  progress: bool = True, runtime: Runtime | None = None, level_ms: float | None = None,
                  anchors: tuple[Sequence[Any], Sequence[float]] | None = None,
                  all_members: bool = False, margin: float | None = None) -> Gallery:
    """Write the gallery of ``archive`` (columns ``arch`` — the space's text form —, ``latency_ms``
    predicted, ``accuracy``) to ``out_dir``.

    ``budgets`` (ms) default to six spread over the front, up to ``max_budget_ms`` if given. The
    members picked for a budget are always measured; up to ``max_measure`` members in all (the
    rest of the front thinned evenly). ``export``: ``"budgets"`` (the picked members),
    ``"front"`` (every measured member) or ``"none"``. ``level_ms``: the reference level of the
    calibration the predictions come from (:func:`~hwlat.profiler.networks.measure_archs`), so
    that the measured column is at the level the predictor speaks; the raw numbers are kept in
    ``raw_measured_ms``. ``anchors``: the calibration networks and their latencies as the
    predictor was fitted on them (``(archs, ms)``). They are measured again, mixed into the
    members' chunks, and the measured column is the members' raw latencies times the median over
    the anchors of (calibrated / now): the machine's level now against the calibration's, read off
    networks of every size instead of one reference (``level_ms`` is then not used).
    ``all_members``: every candidate is a member, not only the
    non-dominated ones. ``margin``: how far (a fraction) a measurement may run over the prediction
    (:meth:`~hwlat.predictors.LookupPredictor.budget_margin`); a budget's pick is then predicted
    within ``budget / (1 + margin)`` (``pick_under_ms`` in ``budgets.csv``), or within the budget
    itself where nothing is predicted that fast.
    """
    for col in ("arch", "latency_ms", "accuracy"):
        if col not in archive.columns:
            raise InputError(f"the archive lacks the column {col!r}; it needs arch, latency_ms and accuracy")
    if export not in ("budgets", "front", "none"):
        raise InputError(f"export must be 'budgets', 'front' or 'none', got {export!r}")
    if len(archive) == 0:
        raise InputError("the archive is empty: nothing was evaluated")
    out = ensure_writable_dir(out_dir)
    arc = archive.drop_duplicates("arch").reset_index(drop=True)
    front = arc.sort_values("latency_ms").reset_index(drop=True) if all_members else _front_rows(arc)
    lat = front["latency_ms"].to_numpy(float)
    if budgets is None:
        budgets = default_budgets(lat, upper_ms=max_budget_ms)
    budgets = sorted(float(b) for b in budgets)
    if any(b <= 0 or not math.isfinite(b) for b in budgets):
        raise InputError(f"budgets must be positive numbers of ms, got {budgets}")

    if margin is not None and not (math.isfinite(margin) and margin >= 0):
        raise InputError(f"the budget margin must be a fraction >= 0, got {margin!r}")
    picks: list[int | None] = []
    under: list[float] = []
    for b in budgets:
        cut = b / (1.0 + (margin or 0.0))
        ok = np.flatnonzero(lat <= cut)
        if not ok.size:  # nothing is predicted that fast: the budget itself
            cut, ok = b, np.flatnonzero(lat <= b)
        under.append(cut)
        picks.append(int(ok[np.argmax(front["accuracy"].to_numpy(float)[ok])]) if ok.size else None)
    picked = sorted({p for p in picks if p is not None})
    to_measure = sorted(set(picked) | set(_thin(len(front), max(max_measure - len(picked), 0))))[:max(max_measure,
                                                                                                        len(picked))]
    front["measured_ms"] = np.nan
    front["raw_measured_ms"] = np.nan
    front["measured_iqr_pct"] = np.nan
    interference = None
    drift = None
    anchor_info: dict[str, Any] | None = None
    if measure and to_measure:

        archs = [space.decode(front.at[i, "arch"]) for i in to_measure]
        if anchors is not None:
            measured, raw, spread, got, anchor_info = _measure_with_anchors(space, archs, anchors, device, protocol,
                                                                            out, progress, runtime)
        else:
            got = measure_archs(space, archs, device, protocol=protocol, out_dir=out / "measurements", passes=1,
                                tag="gallery-", progress=progress, runtime=runtime, level_ms=level_ms,
                                kind="gallery")
            measured = got[:, 0]
            raw = got.raw_ms[:, 0] if got.raw_ms is not None else measured
            spread = _spread_pct(got)
        front.loc[to_measure, "measured_ms"] = measured
        front.loc[to_measure, "raw_measured_ms"] = raw
        front.loc[to_measure, "measured_iqr_pct"] = spread
        interference = got.interference
        drift = got.drift
    front["error_pct"] = 100 * (front["latency_ms"] - front["measured_ms"]) / front["measured_ms"]
    # a pick measured over its budget gives way to the most accurate measured member under it
    replaced: dict[int, int] = {}
    meas, acc = front["measured_ms"].to_numpy(float), front["accuracy"].to_numpy(float)
    for n, (b, p) in enumerate(zip(budgets, picks)):
        if p is not None and np.isfinite(meas[p]) and meas[p] > b:
            fits = np.flatnonzero(np.isfinite(meas) & (meas <= b))
            if fits.size:
                picks[n], replaced[n] = int(fits[np.argmax(acc[fits])]), p
    picked = sorted({p for p in picks if p is not None})
    front["accuracy_source"] = accuracy_name
    front["files"] = ""
    files: list[Path] = []
    if export != "none":
        which = picked if export == "budgets" else [i for i in to_measure]
        for i in which:
            made = export_member(space, space.decode(front.at[i, "arch"]), out / "models", f"member{i:03d}")
            front.at[i, "files"] = " ".join(str(p.relative_to(out)) for p in made)
            files += made
    front = front.rename(columns={"latency_ms": "predicted_ms"})
    front.insert(0, "member", range(len(front)))

    rows = []
    for n, (b, p) in enumerate(zip(budgets, picks)):
        mark = {"pick_under_ms": round(under[n], 4), "margin_pct": None if margin is None else round(100 * margin, 1)}
        if p is None:
            rows.append({"budget_ms": b, "member": None, "arch": None, "accuracy": np.nan, "predicted_ms": np.nan,
                         "measured_ms": np.nan, "meets_budget": None, "replaced_member": None, **mark})
            continue
        r = front.iloc[p]
        m = r["measured_ms"]
        mark.update(_size(space, r["arch"]))
        rows.append({"budget_ms": b, "member": int(r["member"]), "arch": r["arch"], "accuracy": float(r["accuracy"]),
                     "predicted_ms": float(r["predicted_ms"]), "measured_ms": float(m),
                     "meets_budget": None if not np.isfinite(m) else bool(m <= b),
                     "replaced_member": replaced.get(n), **mark})
    btab = pd.DataFrame(rows)

    err = front["error_pct"].to_numpy(float)
    err = err[np.isfinite(err)]
    info = {"space": space.name, "device": getattr(device, "name", str(device)), "accuracy": accuracy_name,
            "accuracy_kind": accuracy_kind, "archive_size": len(arc), "front_size": len(front),
            "measured": int(err.size), "within_10_pct": int((np.abs(err) <= 10).sum()),
            "within_5_pct": int((np.abs(err) <= 5).sum()),
            "median_abs_error_pct": float(np.median(np.abs(err))) if err.size else None,
            "interference": interference.to_dict() if interference is not None else None, "drift": drift,
            "anchors": anchor_info, "budget_margin": margin, **(meta or {})}
    keep = [c for c in front.columns if c not in ("genes",)]
    front_csv, front_json, bud_csv = out / "front.csv", out / "front.json", out / "budgets.csv"
    with atomic_path(front_csv) as tmp:
        front[keep].to_csv(tmp, index=False)
    with atomic_path(bud_csv) as tmp:
        btab.to_csv(tmp, index=False)
    payload = {"meta": info, "front": json.loads(front[keep].to_json(orient="records")),
               "budgets": json.loads(btab.to_json(orient="records"))}
    atomic_write_text(front_json, json.dumps(payload, indent=2))
    png = _plot(arc, front, btab, out / "pareto.png", info)
    page = out / "index.html"
    off = arc[~arc["arch"].isin(front["arch"])]
    off = off.iloc[_thin(len(off), 1500)] if len(off) > 1500 else off  # the page stays light
    atomic_write_text(page, render_page(front[keep], btab, off, png, info))
    return Gallery(front, btab, out, [front_csv, front_json, bud_csv, png, page, *files], info)


def _plot(archive: pd.DataFrame, front: pd.DataFrame, budgets: pd.DataFrame, path: Path,
          info: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.0), dpi=120)
    ax.scatter(archive["latency_ms"], archive["accuracy"], s=4, color="0.75", label=f"evaluated ({len(archive)})",
               rasterized=True)
    ax.step(front["predicted_ms"], front["accuracy"], where="post", color="tab:red", lw=1.2,
            label=f"Pareto front, predicted ({len(front)})")
    ax.scatter(front["predicted_ms"], front["accuracy"], s=14, color="tab:red", zorder=3)
    m = front[front["measured_ms"].notna()]
    if len(m):
        ax.scatter(m["measured_ms"], m["accuracy"], s=30, facecolors="none", edgecolors="tab:blue", zorder=4,
                   label=f"measured on {info['device']} ({len(m)})")
        for _, r in m.iterrows():
            ax.plot([r["predicted_ms"], r["measured_ms"]], [r["accuracy"]] * 2, color="tab:blue", lw=0.6, alpha=0.7)
    for i, b in enumerate(budgets["budget_ms"]):
        ax.axvline(b, color="0.4", ls=":", lw=0.8, label="budgets" if i == 0 else None)
    # the front is what matters: far-below points (e.g. disconnected cells) would flatten it
    fa = front["accuracy"].to_numpy(float)
    av = archive["accuracy"].to_numpy(float)
    pos = av[av > 0]
    # e.g. synflow spans tens of decades: a log axis (symmetric-log if some values are 0)
    log_scale = bool(av.min() >= 0 and pos.size and pos.max() / pos.min() > 1e3)
    if log_scale:
        if av.min() > 0:
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=float(pos.min()))
            ax.set_ylim(0, float(pos.max()) * 10)
    lo = float(fa.min() - max(1.5 * np.ptp(fa), 0.5))
    below = int((av < lo).sum())
    if below and lo > float(av.min()) and not log_scale:
        top = float(max(fa.max(), archive["accuracy"].max()))
        ax.set_ylim(lo, top + 0.05 * (top - lo))
        ax.text(0.01, 0.01, f"{below} evaluated networks below the plot", transform=ax.transAxes, fontsize=7,
                color="0.4")
    ax.set_xlabel("latency (ms)")
    label = info["accuracy"]
    if info.get("accuracy_kind") == "proxy":
        label += "  (a zero-cost proxy: a ranking score, not accuracy)"
    ax.set_ylabel(label, fontsize=8 if len(label) > 40 else 10)
    ax.set_title(f"{info['space']} on {info['device']}", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
