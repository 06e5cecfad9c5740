"""Checking predictions against real measurements: ``hwlat validate``.

Random architectures of a space are built, emitted for the device's runtime and measured end to
end with the same protocol and statistic as the table (:func:`~hwlat.profiler.networks.measure_archs`).
Each test network is prepared twice and both copies are measured in the same chunk, their rounds
interleaved: the first copy is compared with the prediction, the second with the first — the
noise floor of the measurement itself, taken under the same conditions and reported side by side
with the run's interference figure. Measurements go to a checkpoint as they finish, so an
interrupted validation resumes.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hwlat._io import atomic_path, atomic_write_text
from hwlat.devices import as_device
from hwlat.errors import InputError
from hwlat.predictors.io import save_predictor
from hwlat.predictors.lookup import DEFAULT_CALIBRATION, LookupPredictor
from hwlat.profiler import Protocol
from hwlat.profiler.networks import drift_text, measure_archs

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec
    from hwlat.latency_tables import LatencyTable
    from hwlat.profiler.runtimes import Runtime
    from hwlat.spaces import SearchSpace

__all__ = ["metrics", "spread_sample", "ValidationResult", "validate_space"]

log = logging.getLogger(__name__)


def metrics(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """RMSE (ms), MAPE (%), share within ±5 % / ±10 % (%), Spearman and Kendall of two series."""
    from scipy.stats import kendalltau, spearmanr

    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    if p.shape != m.shape or p.size == 0:
        raise InputError("metrics need two non-empty series of the same length")
    rel = (p - m) / m
    out = {
        "n": int(p.size),
        "rmse_ms": float(np.sqrt(np.mean((p - m) ** 2))),
        "mape_pct": float(100 * np.mean(np.abs(rel))),
        "within_5_pct": float(100 * np.mean(np.abs(rel) <= 0.05)),
        "within_10_pct": float(100 * np.mean(np.abs(rel) <= 0.10)),
        "median_error_pct": float(100 * np.median(rel)),
    }
    if p.size >= 3 and np.ptp(m) > 0 and np.ptp(p) > 0:
        out["spearman"] = float(spearmanr(p, m).statistic)
        out["kendall"] = float(kendalltau(p, m).statistic)
    else:
        out["spearman"] = out["kendall"] = float("nan")
    return out


@dataclass
class ValidationResult:
    """Predicted vs measured latencies of test architectures, and the noise floor beside them."""

    space: str
    device: str
    rows: pd.DataFrame  # arch, predicted_ms, measured_ms, repeat_ms, error_pct, repeat_error_pct
    prediction: dict[str, float]
    noise_floor: dict[str, float]
    calibration: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    predictor: LookupPredictor | None = None  # the calibrated predictor
    interference: Any = None  # Interference of the test networks' run
    statistic: str = "min"
    drift: dict[str, Any] | None = None  # NetworkMeasurements.drift of the networks' run

    def summary(self) -> str:
        p, n = self.prediction, self.noise_floor
        cal = self.calibration
        lines = [f"{self.space} on {self.device}: {p['n']} test architectures "
                 f"(predictor calibrated on {cal.get('n', 0)} others, {cal.get('mode', 'affine')} calibration); "
                 f"statistic: {self.statistic}",
                 self.interference.summary() if self.interference is not None else "interference: not measured",
                 *([drift_text(self.drift)] if self.drift else []),
                 f"{'':24s}{'prediction':>12s}{'noise floor':>14s}",
                 f"{'within ±5 %':24s}{p['within_5_pct']:>11.1f}%{n['within_5_pct']:>13.1f}%",
                 f"{'within ±10 %':24s}{p['within_10_pct']:>11.1f}%{n['within_10_pct']:>13.1f}%",
                 f"{'MAPE':24s}{p['mape_pct']:>11.2f}%{n['mape_pct']:>13.2f}%",
                 f"{'RMSE (ms)':24s}{p['rmse_ms']:>12.4f}{n['rmse_ms']:>14.4f}",
                 f"{'Spearman':24s}{p['spearman']:>12.4f}{n['spearman']:>14.4f}",
                 f"{'Kendall':24s}{p['kendall']:>12.4f}{n['kendall']:>14.4f}"]
        if self.files:
            lines.append("wrote: " + ", ".join(str(f) for f in self.files))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "device": self.device, "statistic": self.statistic,
                "prediction": self.prediction, "noise_floor": self.noise_floor, "calibration": self.calibration,
                "interference": self.interference.to_dict() if self.interference is not None else None,
                "drift": self.drift}

    def plot(self, path: str | Path) -> Path:
        """Scatter plot of predicted vs measured (and repeat vs first measurement) as PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        df = self.rows
        fig, ax = plt.subplots(figsize=(5.5, 5.2), dpi=120)
        lo = float(min(df["measured_ms"].min(), df["predicted_ms"].min())) * 0.9
        hi = float(max(df["measured_ms"].max(), df["predicted_ms"].max())) * 1.1
        xs = np.linspace(lo, hi, 50)
        ax.fill_between(xs, xs * 0.9, xs * 1.1, color="0.92", label="±10 %")
        ax.fill_between(xs, xs * 0.95, xs * 1.05, color="0.84", label="±5 %")
        ax.plot(xs, xs, color="0.4", lw=0.8)
        ax.scatter(df["measured_ms"], df["repeat_ms"], s=12, marker="x", color="tab:gray",
                   label=f"repeat measurement (±10 %: {self.noise_floor['within_10_pct']:.0f} %)")
        ax.scatter(df["measured_ms"], df["predicted_ms"], s=14, color="tab:blue",
                   label=f"prediction (±10 %: {self.prediction['within_10_pct']:.0f} %, "
                         f"ρ={self.prediction['spearman']:.3f})")
        ax.set_xlabel("measured latency (ms)")
        ax.set_ylabel("predicted / repeated latency (ms)")
        ax.set_title(f"{self.space} on {self.device}", fontsize=10)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        p = Path(path)
        with atomic_path(p) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        return p


def validate_space(space: SearchSpace, table: LatencyTable, device: DeviceSpec | str, *, n: int = 100,
                   calibrate: int = 10, seed: int = 0, protocol: Protocol | None = None,
                   out_dir: str | os.PathLike[str] | None = None, progress: bool = True,
                   calibration: str | None = None, runtime: Runtime | None = None) -> ValidationResult:
    """Measure ``n`` random architectures and ``calibrate`` others, all mixed in the same chunks
    (two interleaved copies each: the second is the noise floor); compare with the
    :class:`~hwlat.predictors.lookup.LookupPredictor` of ``table`` calibrated on the latter
    (``calibration``: see :data:`~hwlat.predictors.lookup.CALIBRATIONS`)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise InputError(f"validate needs a whole number of at least 3 test architectures, got n={n!r}")
    if isinstance(calibrate, bool) or not isinstance(calibrate, (int, np.integer)) or calibrate < 0:
        raise InputError(f"calibrate must be a whole number >= 0, got {calibrate!r}")
    protocol = protocol or Protocol()
    dev = as_device(device)
    _check_table_device(table, dev)
    archs = _distinct_sample(space, n + calibrate, seed)
    test, cal = archs[:n], archs[n:]
    predictor = LookupPredictor(space=space, table=table, calibration=calibration or DEFAULT_CALIBRATION).fit()
    # calibration and test networks are measured mixed in the same chunks: the machine's level at
    # that time is the same for both, and the repeat copy of each test network sits beside it
    order = np.random.default_rng(seed + 1).permutation(len(archs))
    got = measure_archs(space, [archs[i] for i in order], dev, protocol=protocol, out_dir=out_dir, passes=2,
                        progress=progress, seed=seed + 2, runtime=runtime, kind="validate")
    ms = np.empty_like(got.ms)
    ms[order] = got.ms
    meas = ms[:n]
    if cal:
        predictor.calibrate(cal, ms[n:, 0])
    pred = predictor.predict(test)
    rows = pd.DataFrame({"arch": [space.encode(a) for a in test], "predicted_ms": pred,
                         "measured_ms": meas[:, 0], "repeat_ms": meas[:, 1]})
    rows["error_pct"] = 100 * (rows["predicted_ms"] - rows["measured_ms"]) / rows["measured_ms"]
    rows["repeat_error_pct"] = 100 * (rows["repeat_ms"] - rows["measured_ms"]) / rows["measured_ms"]
    res = ValidationResult(space.name, dev.name, rows, metrics(pred, meas[:, 0]), metrics(meas[:, 1], meas[:, 0]),
                           {"n": len(cal), "mode": predictor.calibrated_, "b_ms": float(predictor.coef_[1]),
                            "overhead_ms": predictor.overhead_ms_, "multipliers": predictor.group_coef_},
                           predictor=predictor, interference=got.interference, statistic=got.statistic,
                           drift=got.drift)
    if out_dir is not None:
        d = Path(out_dir)
        csv, png, js = d / "validation.csv", d / "validation.png", d / "validation.json"
        atomic_write_text(csv, rows.to_csv(index=False))
        res.plot(png)
        atomic_write_text(js, json.dumps(res.to_dict(), indent=2))
        res.files = [csv, png, js, save_predictor(predictor, d / "predictor.npz")]
    return res


def _distinct_sample(space: SearchSpace, n: int, seed: int) -> list[Any]:
    """``n`` distinct architectures (fewer only if the space is smaller)."""
    rng = np.random.default_rng(seed)
    seen: dict[str, Any] = {}
    limit = min(n, space.size())
    for _ in range(50):  # bounded: each draw adds what is new
        for a in space.sample(rng, max(limit - len(seen), 1) * 2):
            seen.setdefault(space.encode(a), a)
            if len(seen) >= limit:
                return list(seen.values())
    return list(seen.values())


def spread_sample(space: SearchSpace, predictor: LookupPredictor, k: int, seed: int, pool: int = 20,
                  upper_ms: float | None = None) -> list[Any]:
    """``k`` distinct architectures spread evenly over the latency range that ``predictor``'s
    uncalibrated table sum gives ``pool * k`` random ones, its fastest and slowest included.
    ``upper_ms``: only up to this table sum (a search under a budget calibrates where it looks;
    the range keeps at least the ``k`` fastest candidates).

    A calibration set drawn at random bunches where most of a space lies; a search's gallery
    spans the whole range, and a calibration fitted only in the middle predicts its ends worse
    (its small networks high, its large ones low). Spread over the range, the same number of
    measurements fixes the ends too.
    """
    cands = _distinct_sample(space, max(k, 1) * pool, seed)
    if len(cands) <= k:
        return cands
    raw = np.asarray(predictor.raw_sum(cands), dtype=np.float64)
    if upper_ms is not None:
        top = max(float(upper_ms), float(np.sort(raw)[k - 1]))
        keep = np.flatnonzero(raw <= top)
        cands, raw = [cands[i] for i in keep], raw[keep]
    free = np.ones(len(cands), dtype=bool)
    picked = []
    for t in np.linspace(raw.min(), raw.max(), k):  # the nearest unused candidate to each target
        i = int(np.argmin(np.where(free, np.abs(raw - t), np.inf)))
        free[i] = False
        picked.append(i)
    return [cands[i] for i in picked]


def _check_table_device(table: LatencyTable, dev: DeviceSpec) -> None:
    md = table.metadata
    name = (md.device or {}).get("name")
    if md.source == "measured" and name and name != dev.name:
        raise InputError(f"the table was measured on device {name!r}, not {dev.name!r}; validate on {name!r} "
                         "or profile this device first")
    if md.source == "measured" and md.runtime not in ("unknown", dev.runtime):
        raise InputError(f"the table was measured with {md.runtime}, the device {dev.name!r} uses {dev.runtime}")
