"""``DevicePrior``: a new device from K whole-network measurements, through what many reference
devices share.

Devices differ from one another in a few directions: how much a 3x3 convolution costs against
a pooling, how much the per-network constant weighs. Measured latencies of the same
architectures on many reference devices (a CSV of architectures x devices, or latency tables
whose sums stand for a device) show those directions. A new device is modelled in log latency as

    log y(a) = b0 + b1 * m(a) + sum_k w_k B_k(a) + sum_j c_j n_j(a) + e,

``m(a)`` the mean log latency of ``a`` over the reference devices, ``B_k`` their principal
directions (scaled so that a reference device's ``w`` has unit variance), ``n_j(a)`` the count
of each op choice in ``a`` (for a device unlike all references), ``e`` noise of scale ``noise``.
A Gaussian prior (``b1`` near 1, ``w ~ N(0, 1)``, ``c`` small) and the K measurements give the
posterior in one small linear solve; a Huber-weighted refit keeps one bad measurement from
pulling the fit, and measurements that do not fit are named (:attr:`DevicePrior.outliers_`).

With ``blend="auto"`` the prediction is, in log terms, a share of that model and the rest of the
plain count model (non-negative least squares of latency on op counts and a constant), the share
chosen by leave-one-out over the K measurements. Predictions are the exponential of a finite
log latency, never 0 or below; intervals come from the posterior and the leave-one-out error.

Degenerate architectures (:meth:`~hwlat.spaces.base.SearchSpace.degenerate_genes`: an NB201 cell
cut off from its input) are left out of the fit: some devices measure them near zero, which no
model of op costs explains. They are predicted at the median of the measured ones, or by the
model when none was measured (``degenerate_`` says which).

:meth:`DevicePrior.suggest` proposes which architectures to measure: greedily, the one whose
prediction the prior is least sure of, given those already chosen.

The predictor needs the reference latencies of every architecture it is asked about: the space
must be enumerable (NB201) or the references must cover the queries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator

from hwlat.errors import InputError, NotFittedError
from hwlat.predictors.base import LayerTables
from hwlat.spaces import get_space

if TYPE_CHECKING:
    from hwlat.spaces.base import SearchSpace

__all__ = ["DevicePrior", "ReferenceLatencies", "read_references", "BLENDS"]

BLENDS = ("auto", "prior", "counts")
#: measurements whose leave-one-out error is above this many times the fit's error scale are named
OUTLIER_Z = 3.0
_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class ReferenceLatencies:
    """Latencies (ms) of the same architectures (text form) on several reference devices."""

    archs: list[str]
    devices: list[str]
    ms: np.ndarray  # (len(archs), len(devices))

    def __post_init__(self) -> None:
        self.ms = np.asarray(self.ms, dtype=np.float64)
        if self.ms.shape != (len(self.archs), len(self.devices)):
            raise InputError(f"reference latencies: {self.ms.shape} values for {len(self.archs)} architectures "
                             f"x {len(self.devices)} devices")
        if len(self.devices) < 2:
            raise InputError(f"a device prior needs at least 2 reference devices, got {len(self.devices)}")
        bad = ~(np.isfinite(self.ms) & (self.ms > 0))
        if bad.any():
            i, j = (int(x[0]) for x in np.nonzero(bad))
            raise InputError(f"reference latency of {self.archs[i]} on {self.devices[j]} is {self.ms[i, j]!r}; "
                             "every reference latency is a positive number of ms")

    def without(self, device: str) -> ReferenceLatencies:
        """These references less one device (a benchmark's held-out device)."""
        keep = [j for j, d in enumerate(self.devices) if d != device]
        return ReferenceLatencies(self.archs, [self.devices[j] for j in keep], self.ms[:, keep])


def read_references(paths: Sequence[Any], space: SearchSpace) -> ReferenceLatencies:
    """Reference devices from CSV files: a column ``arch`` (or ``arch_str``) of architectures in the
    space's text form and one numeric column of latencies (ms) per device (an ``index`` column is
    ignored). Several files are joined on the architectures they share."""
    import io

    import pandas as pd

    from hwlat._files import read_input_text, shown

    merged: pd.DataFrame | None = None
    for path in paths:
        text = read_input_text(path, "reference devices file")
        try:
            df = pd.read_csv(io.StringIO(text))
        except Exception as exc:  # noqa: BLE001 - pandas raises many kinds of error for a bad CSV
            raise InputError(f"{shown(path)} is not a readable CSV: {exc}") from None
        col = next((c for c in ("arch", "arch_str") if c in df.columns), None)
        if col is None:
            raise InputError(f"{shown(path)} needs a column arch (or arch_str) of architectures, then one column of "
                             "latencies (ms) per reference device")
        devices = [c for c in df.columns if c not in (col, "index") and pd.api.types.is_numeric_dtype(df[c])]
        if not devices:
            raise InputError(f"{shown(path)} has no numeric column of latencies; give one per reference device")
        archs = []
        for line, a in enumerate(df[col].astype(str), 2):
            try:
                archs.append(space.encode(space.decode(a)))
            except InputError as exc:
                raise InputError(f"{shown(path)}:{line}: {exc}") from None
        part = pd.DataFrame(df[devices].to_numpy(dtype=np.float64), index=pd.Index(archs, name="arch"),
                            columns=[str(d) for d in devices])
        if part.index.has_duplicates:
            raise InputError(f"{shown(path)} lists {part.index[part.index.duplicated()][0]} twice")
        if merged is not None:
            clash = sorted(set(merged.columns) & set(part.columns))
            if clash:
                raise InputError(f"{shown(path)}: device {clash[0]} is already given by an earlier file")
            merged = merged.join(part, how="inner")
        else:
            merged = part
    if merged is None or merged.empty:
        raise InputError("no reference architectures: give at least one file, sharing architectures with the others")
    if merged.shape[1] < 2:
        raise InputError(f"{', '.join(shown(p) for p in paths)} give(s) one reference device ({merged.columns[0]}); "
                         "a device prior learns from at least 2: one column of latencies (ms) per device")
    return ReferenceLatencies(list(merged.index), list(merged.columns), merged.to_numpy())


class DevicePrior(BaseEstimator):
    """Latency (ms) on a new device from a few measured architectures (see the module docstring).

    Parameters
    ----------
    space:
        The search space (its architectures' genes index the references).
    references:
        :class:`ReferenceLatencies` of the space's architectures on the reference devices.
    noise:
        The prior's scale of a measurement's log error (0.10: about 10 %).
    count_var:
        Prior variance of each op count's log effect (small: the references carry the structure).
    blend:
        ``"auto"`` (share of the prior model and the count model chosen by leave-one-out),
        ``"prior"`` or ``"counts"`` (one of them alone).
    """

    def __init__(self, *, space: SearchSpace | None = None, references: ReferenceLatencies | None = None,
                 noise: float = 0.10, count_var: float = 0.05, blend: str = "auto") -> None:
        self.space = space
        self.references = references
        self.noise = noise
        self.count_var = count_var
        self.blend = blend

    # -- the prior ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Features of every reference architecture, and the map from genes to them."""
        if self.space is None or self.references is None:
            raise InputError("a DevicePrior needs space= and references= (the reference devices' latencies)")
        if self.blend not in BLENDS:
            raise InputError(f"blend must be one of {', '.join(BLENDS)}, got {self.blend!r}")
        if not (0 < self.noise < 10 and 0 <= self.count_var < 100):
            raise InputError(f"noise must be in (0, 10) and count_var in [0, 100), got {self.noise}, {self.count_var}")
        space, ref = self.space, self.references
        genes = space.to_genes([space.decode(a) for a in ref.archs])
        sizes = space.gene_sizes()
        n_flat = math.prod(sizes)
        if n_flat > 50_000_000:
            raise InputError(f"a DevicePrior indexes every architecture of its space; {space.name} has {n_flat:,}")
        self.row_of_flat_ = np.full(n_flat, -1, dtype=np.int64)
        self.row_of_flat_[np.ravel_multi_index(tuple(genes.T), sizes)] = np.arange(len(genes))
        z = np.log(ref.ms)
        mean = z.mean(axis=1)
        centred = z - mean[:, None]
        centred -= centred.mean(axis=0)
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        keep = s > 1e-9 * max(float(s[0]), 1e-300)
        basis = u[:, keep] * s[keep] / math.sqrt(z.shape[1])
        counts = np.stack([(genes == v).sum(axis=1) for v in range(1, max(sizes))], axis=1).astype(np.float64)
        self.features_ = np.column_stack([np.ones(len(genes)), mean, basis, counts])
        self.prior_mean_ = np.r_[0.0, 1.0, np.zeros(basis.shape[1] + counts.shape[1])]
        self.prior_var_ = np.r_[100.0, 1.0, np.ones(basis.shape[1]), np.full(counts.shape[1], self.count_var)]
        self.counts_ = np.column_stack([counts, np.ones(len(genes))])
        self.degenerate_rows_ = np.asarray(space.degenerate_genes(genes), dtype=bool)

    def _rows(self, genes: np.ndarray) -> np.ndarray:
        g = np.asarray(genes)
        sizes = self._need_space().gene_sizes()
        if g.ndim != 2 or g.shape[1] != len(sizes):
            raise InputError(f"genes must be an integer array of shape (n, {len(sizes)})")
        rows = self.row_of_flat_[np.ravel_multi_index(tuple(g.T), sizes)]
        if (rows < 0).any():
            a = self._need_space().encode(self._need_space().from_genes(g[int(np.argmax(rows < 0))]))
            raise InputError(f"{a} has no reference latencies; a DevicePrior predicts only the architectures its "
                             "reference devices were measured on")
        return rows

    def _need_space(self) -> SearchSpace:
        if self.space is None:
            raise InputError("a DevicePrior needs space=")
        return self.space

    def _posterior(self, rows: np.ndarray, t: np.ndarray, robust: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and covariance of the weights from log latencies ``t`` of ``rows``."""
        a = self.features_[rows]
        w = np.ones(len(rows))
        s2 = self.noise ** 2
        for _ in range(6 if robust else 1):
            prec = (a * w[:, None]).T @ a / s2 + np.diag(1 / self.prior_var_)
            cov = np.linalg.inv(prec)
            mean = cov @ ((a * w[:, None]).T @ t / s2 + self.prior_mean_ / self.prior_var_)
            r = np.abs(t - a @ mean) / self.noise
            w = np.minimum(1.0, 2.0 / np.maximum(r, 1e-12))  # Huber at two noise scales
        return mean, cov

    def _count_fit(self, rows: np.ndarray, y: np.ndarray) -> np.ndarray:
        from scipy.optimize import nnls

        coef, _ = nnls(self.counts_[rows] / y[:, None], np.ones(len(rows)))  # relative error
        return coef

    def _count_log(self, coef: np.ndarray, rows: np.ndarray | slice, floor: float) -> np.ndarray:
        return np.log(np.maximum(self.counts_[rows] @ coef, floor))

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X: Sequence[Any], y: Sequence[float] | np.ndarray) -> DevicePrior:
        """Adapt to the new device from measured latencies ``y`` (ms) of architectures ``X``."""
        self._prepare()
        space = self._need_space()
        archs = list(X)
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(archs) != y.size:
            raise InputError(f"{len(archs)} architectures but {y.size} measured latencies")
        if not (np.isfinite(y) & (y > 0)).all():
            raise InputError("every measured latency must be a positive number of ms")
        rows = self._rows(space.to_genes(archs))
        deg = self.degenerate_rows_[rows]
        # degenerate architectures are fitted with the others unless they run unlike what the model
        # of the others expects (a runtime that prunes a dead cell measures them near zero)
        apart = False
        if deg.any() and (~deg).sum() >= 3:
            m0, _ = self._posterior(rows[~deg], np.log(y[~deg]))
            off = np.log(y[deg]) - self.features_[rows[deg]] @ m0
            apart = float(np.median(np.abs(off))) > OUTLIER_Z * self.noise
        main = ~deg if apart else np.ones(len(rows), dtype=bool)
        if main.sum() < 3:
            raise InputError(f"{int(main.sum())} measured architectures that are not degenerate; a DevicePrior needs "
                             "at least 3 (degenerate: the cell computes nothing of the input)")
        r, t, ym = rows[main], np.log(y[main]), y[main]
        floor = 0.25 * float(ym.min())
        # leave-one-out predictions of both models, for the blend, the error scale and the outliers
        loo_p, loo_c = np.empty(r.size), np.empty(r.size)
        for i in range(r.size):
            rest = np.arange(r.size) != i
            m, _ = self._posterior(r[rest], t[rest])
            loo_p[i] = float(self.features_[r[i]] @ m)
            loo_c[i] = float(self._count_log(self._count_fit(r[rest], ym[rest]), r[i:i + 1], floor)[0])
        shares = {"prior": (1.0,), "counts": (0.0,), "auto": _SHARES}[self.blend]
        errs = [float(np.mean((a * loo_p + (1 - a) * loo_c - t) ** 2)) for a in shares]
        share = shares[int(np.argmin(errs))]
        loo = share * loo_p + (1 - share) * loo_c
        resid = loo - t
        self.share_ = float(share)
        self.loo_rmse_ = float(np.sqrt(np.mean(resid ** 2)))
        self.sigma_ = max(self.loo_rmse_, 0.01)
        mean, cov = self._posterior(r, t)
        coef = self._count_fit(r, ym)
        f = self.features_
        log_p = f @ mean
        var_p = np.einsum("ij,jk,ik->i", f, cov, f)
        self.log_mean_ = share * log_p + (1 - share) * self._count_log(coef, slice(None), floor)
        self.log_sd_ = np.sqrt(share ** 2 * var_p + self.sigma_ ** 2)
        measured_deg = y[deg]
        if apart:
            self.log_mean_[self.degenerate_rows_] = math.log(float(np.median(measured_deg)))
            self.log_sd_[self.degenerate_rows_] = max(float(np.std(np.log(measured_deg))), self.sigma_)
            self.degenerate_ = (f"apart: the {measured_deg.size} measured degenerate architecture(s) ran unlike the "
                                "model of the others; all are predicted at their median")
        elif measured_deg.size:
            self.degenerate_ = (f"with the others: the {measured_deg.size} measured degenerate architecture(s) "
                                "fit the model")
        else:
            self.degenerate_ = "by the model (none was measured)"
        scale = max(self.sigma_, self.noise / 2)
        names = [space.encode(a) for a, d in zip(archs, main) if d]
        self.outliers_ = [{"arch": n, "measured_ms": float(v), "loo_ms": float(math.exp(p)),
                           "z": float(e / scale)} for n, v, p, e in zip(names, ym, loo, resid)
                          if abs(e) > OUTLIER_Z * scale]
        self.n_fit_ = int(y.size)
        self.n_degenerate_ = int(deg.sum())
        self.devices_ = list(self.references.devices) if self.references is not None else []
        self.degenerate_apart_ = apart
        return self

    # -- predicting -----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "log_mean_"):
            raise NotFittedError("this DevicePrior is not fitted yet; call fit(archs, y_ms) first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "log_mean_")

    def predict_genes(self, genes: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.exp(self.log_mean_[self._rows(genes)])

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        return self.predict_genes(self._need_space().to_genes(list(X)))

    def predict_interval(self, X: Sequence[Any], level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper ends (ms) of each prediction's ``level`` interval."""
        from scipy.stats import norm

        if not 0 < level < 1:
            raise InputError(f"an interval level is between 0 and 1, got {level}")
        self._check_fitted()
        rows = self._rows(self._need_space().to_genes(list(X)))
        z = float(norm.ppf(0.5 + level / 2))
        m, s = self.log_mean_[rows], self.log_sd_[rows]
        return np.exp(m - z * s), np.exp(m + z * s)

    def min_latency(self) -> float | None:
        self._check_fitted()
        return float(np.exp(self.log_mean_.min()))

    def layer_tables(self) -> LayerTables | None:
        return None  # not additive over parts

    def suggest(self, k: int, exclude: Sequence[Any] = ()) -> list[Any]:
        """``k`` architectures to measure: greedily the one whose prediction the prior (updated with
        those already chosen) is least sure of. Degenerate architectures are never proposed."""
        if k < 1:
            raise InputError(f"suggest needs k >= 1, got {k}")
        self._prepare()
        space = self._need_space()
        f = self.features_
        cov = np.diag(self.prior_var_)
        ok = ~self.degenerate_rows_
        if exclude:
            ok[self._rows(space.to_genes(list(exclude)))] = False
        chosen: list[int] = []
        s2 = self.noise ** 2
        for _ in range(min(k, int(ok.sum()))):
            fc = f @ cov
            var = np.einsum("ij,ij->i", fc, f)
            var[~ok] = -np.inf
            i = int(np.argmax(var))
            chosen.append(i)
            ok[i] = False
            g = cov @ f[i]
            cov = cov - np.outer(g, g) / (s2 + float(f[i] @ g))
        return [space.decode(self.references.archs[i]) for i in chosen]  # type: ignore[union-attr]

    # -- saving ---------------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        space = self._need_space()
        header = {"kind": "device-prior", "space": {"name": space.name, "config": space.config()},
                  "devices": self.devices_,
                  "noise": self.noise, "count_var": self.count_var, "blend": self.blend,
                  "fitted": {"share": self.share_, "loo_rmse": self.loo_rmse_, "sigma": self.sigma_,
                             "n_fit": self.n_fit_, "n_degenerate": self.n_degenerate_,
                             "degenerate": self.degenerate_, "outliers": self.outliers_}}
        return header, {"log_mean": self.log_mean_, "log_sd": self.log_sd_, "row_of_flat": self.row_of_flat_}

    @classmethod
    def from_state(cls, header: dict[str, Any], arrays: dict[str, np.ndarray], table: Any = None) -> DevicePrior:
        try:
            space = get_space(header["space"]["name"], **header["space"]["config"])
            pred = cls(space=space, noise=float(header["noise"]), count_var=float(header["count_var"]),
                       blend=str(header["blend"]))
            f = header["fitted"]
            pred.log_mean_ = np.asarray(arrays["log_mean"], dtype=np.float64)
            pred.log_sd_ = np.asarray(arrays["log_sd"], dtype=np.float64)
            pred.row_of_flat_ = np.asarray(arrays["row_of_flat"], dtype=np.int64)
            n_flat = math.prod(space.gene_sizes())
            if pred.row_of_flat_.size != n_flat or pred.row_of_flat_.max() >= pred.log_mean_.size:
                raise ValueError("the arrays do not match the space")
            if not (np.isfinite(pred.log_mean_).all() and np.isfinite(pred.log_sd_).all()):
                raise ValueError("non-finite predictions")
            pred.share_, pred.loo_rmse_, pred.sigma_ = float(f["share"]), float(f["loo_rmse"]), float(f["sigma"])
            pred.n_fit_, pred.n_degenerate_ = int(f["n_fit"]), int(f["n_degenerate"])
            pred.degenerate_, pred.outliers_ = str(f["degenerate"]), list(f["outliers"])
            pred.devices_ = list(header.get("devices", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed device-prior predictor file: {exc}; write it again with hwlat adapt") from None
        return pred

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # noqa: N803 - BaseEstimator's signature
        fitted = hasattr(self, "log_mean_")
        state = f"fit on {self.n_fit_} measurements, share {self.share_:g}" if fitted else "unfitted"
        n = len(self.devices_) if fitted else len(self.references.devices) if self.references is not None else 0
        return f"DevicePrior(space={getattr(self.space, 'name', self.space)!r}, {n} reference devices, {state})"
