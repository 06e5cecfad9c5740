"""``DevicePrior``: a new device from K whole-network measurements, through what many reference
devices share.

Devices differ from one another in a few directions: how much a 3x3 convolution costs against
a pooling, how much the per-network constant weighs. Measured latencies of the same
architectures on many reference devices (a CSV of architectures x devices, or latency tables
whose sums stand for a device) show those directions. A new device is modelled in log latency as

    log y(a) = b0 + b1 * m(a) + sum_k w_k B_k(a) + sum_j c_j n_j(a) + e,

``m(a)`` the mean log latency of ``a`` over the reference devices, ``B_k`` their principal
directions (scaled so that a reference device's ``w`` has unit variance), ``n_j(a)`` the count
of each op choice in ``a`` (:meth:`~hwlat.spaces.base.SearchSpace.op_counts`; for a device unlike
all references), ``e`` noise of scale ``noise``.
A Gaussian prior (``b1`` near 1, ``w ~ N(0, 1)``, ``c`` small) and the K measurements give the
posterior in one small linear solve; a Huber-weighted refit keeps one bad measurement from
pulling the fit, and measurements that do not fit are named (:attr:`DevicePrior.outliers_`).

With ``blend="auto"`` the prediction is, in log terms, a share of that model and the rest of the
plain count model (non-negative least squares of latency on op counts and a constant), the share
chosen by leave-one-out over the K measurements; then a share of the reference device nearest the
new one, rescaled, where leave-one-out says so (with a few unlike references, such as one CPU's
runtimes, one of them can be closer than their mean and directions from K measurements). The
choices minimise a Huber loss of the leave-one-out errors, so one bad measurement does not make
them. Predictions are the exponential of a finite
log latency, never 0 or below; intervals come from the posterior, rescaled to the leave-one-out
error, with Student's t quantiles for an error scale estimated from K measurements.

Degenerate architectures (:meth:`~hwlat.spaces.base.SearchSpace.degenerate_genes`: an NB201 cell
cut off from its input) are fitted with the others, unless the measured ones ran at under a
quarter of what the model of the others expects: some runtimes prune such a cell and measure it
near zero, which no model of op costs explains. Then they are left out of the fit and predicted
at the median of the measured ones (``degenerate_`` says which).

:meth:`DevicePrior.suggest` proposes which architectures to measure: greedily, the one whose
prediction the prior is least sure of, given those already chosen.

The predictor needs the reference latencies of every architecture it is asked about: with
latency tables as the references (:mod:`hwlat.predictors.references`) any architecture of any
space has them; with a CSV of measured latencies, only the architectures it lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator

from hwlat.errors import InputError, NotFittedError
from hwlat.predictors.base import LayerTables
from hwlat.predictors.references import ReferenceLatencies, read_references
from hwlat.spaces import get_space

if TYPE_CHECKING:
    from hwlat.spaces.base import SearchSpace

__all__ = ["DevicePrior", "ReferenceLatencies", "read_references", "BLENDS"]

BLENDS = ("auto", "prior", "counts")
#: measurements whose leave-one-out error is above this many times the fit's error scale are named
OUTLIER_Z = 3.0
_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
#: degenerate architectures measured below exp(-APART_LOG) = 1/4 of the model's expectation are set apart
APART_LOG = math.log(4.0)


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
        Prior variance of the log effect of each op choice's count in a typical network (small: the
        references carry the structure); per unit count it is divided by the squared mean count.
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
        """The principal directions of the reference devices, and the prior over the weights."""
        if self.space is None or self.references is None:
            raise InputError("a DevicePrior needs space= and references= (the reference devices' latencies)")
        if self.blend not in BLENDS:
            raise InputError(f"blend must be one of {', '.join(BLENDS)}, got {self.blend!r}")
        if not (0 < self.noise < 10 and 0 <= self.count_var < 100):
            raise InputError(f"noise must be in (0, 10) and count_var in [0, 100), got {self.noise}, {self.count_var}")
        space, ref = self.space, self.references
        genes = space.to_genes([space.decode(a) for a in ref.archs])
        self.ref_genes_ = genes
        self.ref_log_ = np.log(ref.ms)
        self.tables_ = tuple(ref.tables)
        self._index()
        z = self.ref_log_
        centred = z - z.mean(axis=1)[:, None]
        self.colmean_ = centred.mean(axis=0)
        _, s, vt = np.linalg.svd(centred - self.colmean_, full_matrices=False)
        keep = s > 1e-9 * max(float(s[0]), 1e-300)
        self.proj_ = vt[keep].T / math.sqrt(z.shape[1])  # a reference device's weights have unit variance
        # count_var is the variance of the log effect of a typical network's count of a choice: per
        # unit count it is divided by the squared mean count (an OFA network runs ~5 layers of each
        # kernel size, an NB201 cell ~1.2 edges of each op)
        typical = np.maximum(space.op_counts(genes).mean(axis=0), 1.0)
        self.prior_mean_ = np.r_[0.0, 1.0, np.zeros(self.proj_.shape[1] + typical.size)]
        self.prior_var_ = np.r_[100.0, 1.0, np.ones(self.proj_.shape[1]), self.count_var / typical ** 2]

    def _index(self) -> None:
        """Rows of the reference architectures by flat gene index (CSV references: the only
        architectures with reference latencies)."""
        sizes = self._need_space().gene_sizes()
        self.row_of_flat_: np.ndarray | None = None
        if self.tables_:
            return
        flat = np.ravel_multi_index(tuple(self.ref_genes_.T), sizes)
        if math.prod(sizes) <= 50_000_000:
            index = np.full(math.prod(sizes), -1, dtype=np.int64)
            index[flat] = np.arange(len(flat))
            self.row_of_flat_ = index
        else:
            order = np.argsort(flat)
            self.row_of_flat_ = np.stack([flat[order], order])

    def _ref_log(self, genes: np.ndarray) -> np.ndarray:
        """Log reference latencies of each gene row, ``(n, devices)``."""
        space = self._need_space()
        g = np.asarray(genes)
        sizes = space.gene_sizes()
        if g.ndim != 2 or g.shape[1] != len(sizes):
            raise InputError(f"genes must be an integer array of shape (n, {len(sizes)})")
        if self.tables_:
            return np.log(np.maximum(np.column_stack([t.predict_genes(g) for t in self.tables_]), 1e-9))
        flat = np.ravel_multi_index(tuple(g.T), sizes)
        index = self.row_of_flat_
        assert index is not None
        if index.ndim == 1:
            rows = index[flat]
        else:
            pos = np.clip(np.searchsorted(index[0], flat), 0, index.shape[1] - 1)
            rows = np.where(index[0][pos] == flat, index[1][pos], -1)
        if (rows < 0).any():
            a = space.encode(space.from_genes(g[int(np.argmax(rows < 0))]))
            raise InputError(f"{a} has no reference latencies; a DevicePrior with measured reference devices predicts "
                             "only the architectures they were measured on (give latency tables to predict any)")
        return self.ref_log_[rows]

    def _features(self, genes: np.ndarray, z: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The model's features of each gene row, and the count model's (counts and a constant);
        ``z``: the rows' log reference latencies, where the caller has them already."""
        z = self._ref_log(genes) if z is None else z
        m = z.mean(axis=1)
        basis = (z - m[:, None] - self.colmean_) @ self.proj_
        counts = self._need_space().op_counts(np.asarray(genes))
        ones = np.ones(len(counts))
        return np.column_stack([ones, m, basis, counts]), np.column_stack([counts, ones])

    def _need_space(self) -> SearchSpace:
        if self.space is None:
            raise InputError("a DevicePrior needs space=")
        return self.space

    def _posterior(self, a: np.ndarray, t: np.ndarray, robust: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and covariance of the weights from log latencies ``t`` with features ``a``."""
        w = np.ones(len(a))
        s2 = self.noise ** 2
        for _ in range(6 if robust else 1):
            prec = (a * w[:, None]).T @ a / s2 + np.diag(1 / self.prior_var_)
            cov = np.linalg.inv(prec)
            mean = cov @ ((a * w[:, None]).T @ t / s2 + self.prior_mean_ / self.prior_var_)
            r = np.abs(t - a @ mean) / self.noise
            w = np.minimum(1.0, 2.0 / np.maximum(r, 1e-12))  # Huber at two noise scales
        return mean, cov

    @staticmethod
    def _count_fit(c: np.ndarray, y: np.ndarray) -> np.ndarray:
        from scipy.optimize import nnls

        coef, _ = nnls(c / y[:, None], np.ones(len(y)))  # relative error
        return coef

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
        genes = space.to_genes(archs)
        z = self._ref_log(genes)
        fa, ca = self._features(genes, z)
        deg = np.asarray(space.degenerate_genes(genes), dtype=bool)
        # degenerate architectures are fitted with the others unless they run far faster than the
        # model of the others expects (a runtime that prunes a dead cell measures them near zero);
        # only a large drop counts: one degenerate cell set apart on a device that runs it like any
        # other puts all of them at one latency (an NB201 Xeon: Spearman 0.94 -> 0.78)
        apart = False
        if deg.any() and (~deg).sum() >= 3:
            m0, _ = self._posterior(fa[~deg], np.log(y[~deg]))
            off = np.log(y[deg]) - fa[deg] @ m0
            apart = float(np.median(off)) < -APART_LOG
        main = ~deg if apart else np.ones(len(genes), dtype=bool)
        if main.sum() < 3:
            raise InputError(f"{int(main.sum())} measured architectures that are not degenerate; a DevicePrior needs "
                             "at least 3 (degenerate: the cell computes nothing of the input)")
        f, c, t, ym = fa[main], ca[main], np.log(y[main]), y[main]
        self.floor_ = 0.25 * float(ym.min())
        # leave-one-out predictions of both models, for the blend, the error scale and the outliers
        loo_p, loo_c = np.empty(t.size), np.empty(t.size)
        for i in range(t.size):
            rest = np.arange(t.size) != i
            m, _ = self._posterior(f[rest], t[rest])
            loo_p[i] = float(f[i] @ m)
            loo_c[i] = math.log(max(float(c[i] @ self._count_fit(c[rest], ym[rest])), self.floor_))
        shares = {"prior": (1.0,), "counts": (0.0,), "auto": _SHARES}[self.blend]
        errs = [self._loss(a * loo_p + (1 - a) * loo_c - t) for a in shares]
        share = shares[int(np.argmin(errs))]
        loo = share * loo_p + (1 - share) * loo_c
        # the error scale of intervals is the blend's before the nearest device is mixed in: that
        # choice, among the devices and shares, makes its own leave-one-out error look too small
        # (90 % intervals held 76-88 % leave-one-device-out on NB201 at that scale)
        self.sigma_ = max(float(np.sqrt(np.mean((loo - t) ** 2))), 0.01)
        self.near_: tuple[int, float, float] | None = None
        if self.blend == "auto":
            loo = self._choose_nearest(z[main], t, loo)
        resid = loo - t
        self.share_ = float(share)
        self.loo_rmse_ = float(np.sqrt(np.mean(resid ** 2)))
        self.post_mean_, self.post_cov_ = self._posterior(f, t)
        self.count_coef_ = self._count_fit(c, ym)
        measured_deg = y[deg]
        self.degenerate_log_: tuple[float, float] | None = None
        if apart:
            self.degenerate_log_ = (math.log(float(np.median(measured_deg))),
                                    max(float(np.std(np.log(measured_deg))), self.sigma_))
            self.degenerate_ = (f"apart: the {measured_deg.size} measured degenerate architecture(s) ran unlike the "
                                "model of the others; all are predicted at their median")
        elif measured_deg.size:
            self.degenerate_ = (f"with the others: the {measured_deg.size} measured degenerate architecture(s) "
                                "fit the model")
        else:
            self.degenerate_ = "by the model (none was measured)"
        # each measurement against the error scale of the others (one bad one inflates its own)
        others = np.sqrt(np.maximum((np.sum(resid ** 2) - resid ** 2) / max(resid.size - 1, 1), 0.0))
        scale = np.maximum(others, self.noise / 2)
        names = [space.encode(a) for a, d in zip(archs, main) if d]
        self.outliers_ = [{"arch": n, "measured_ms": float(v), "loo_ms": float(math.exp(p)),
                           "z": float(e / sc)} for n, v, p, e, sc in zip(names, ym, loo, resid, scale)
                          if abs(e) > OUTLIER_Z * sc]
        self.n_fit_ = int(y.size)
        self.n_degenerate_ = int(deg.sum())
        self.devices_ = list(self.references.devices) if self.references is not None else []
        self.degenerate_apart_ = apart
        return self

    def _loss(self, resid: np.ndarray) -> float:
        """Mean Huber loss of leave-one-out log errors, quadratic up to two noise scales: what
        chooses between models, so that one bad measurement does not choose for the others."""
        r = np.abs(resid)
        h = 2 * self.noise
        return float(np.mean(np.where(r <= h, r ** 2, 2 * h * r - h ** 2)))

    def _choose_nearest(self, z: np.ndarray, t: np.ndarray, loo: np.ndarray) -> np.ndarray:
        """Mix in the reference device nearest the new one, rescaled (``log y = a + z_j``), where
        leave-one-out says so: with a few unlike references (a CPU's runtimes) one of them can be
        closer to the new device than their mean and directions are from K measurements. Sets
        ``near_`` (device index, log scale, share; None when not mixed) and returns the mixed
        leave-one-out predictions (``z``: the log reference latencies of the measured rows)."""
        d = t[:, None] - z  # each device's log scale to the new one, by measurement: its median is
        rest = ~np.eye(t.size, dtype=bool)  # robust to a bad measurement
        loo_n = z + np.stack([np.median(d[r], axis=0) for r in rest])
        j = int(np.argmin([self._loss(loo_n[:, i] - t) for i in range(z.shape[1])]))
        errs = [self._loss((1 - a) * loo + a * loo_n[:, j] - t) for a in _SHARES]
        a = _SHARES[int(np.argmin(errs))]
        if a == 0:
            return loo
        self.near_ = (j, float(np.median(d[:, j])), float(a))
        return (1 - a) * loo + a * loo_n[:, j]

    # -- predicting -----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "post_mean_"):
            raise NotFittedError("this DevicePrior is not fitted yet; call fit(archs, y_ms) first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "post_mean_")

    def log_predict_genes(self, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the log latency (log ms) of each gene row."""
        self._check_fitted()
        z = self._ref_log(genes)
        f, c = self._features(genes, z)
        share = self.share_
        # the posterior assumes the prior's noise scale; where the fit's own leave-one-out error is
        # smaller, its spread is rescaled to it (with the t quantile of predict_interval, 90 % intervals
        # hold 90-92 % of held-out truths leave-one-device-out on NB201 at K = 5, 10, 20; 94-96 % before)
        var = np.einsum("ij,jk,ik->i", f, self.post_cov_, f) * min(1.0, (self.sigma_ / self.noise) ** 2)
        mean = share * (f @ self.post_mean_) + (1 - share) * np.log(np.maximum(c @ self.count_coef_, self.floor_))
        if self.near_ is not None:  # a share of the nearest reference device, rescaled
            j, scale, a = self.near_
            mean = (1 - a) * mean + a * (z[:, j] + scale)
            share *= 1 - a
        sd = np.sqrt(share ** 2 * var + self.sigma_ ** 2)
        if self.degenerate_log_ is not None:
            deg = np.asarray(self._need_space().degenerate_genes(np.asarray(genes)), dtype=bool)
            mean[deg], sd[deg] = self.degenerate_log_
        return mean, sd

    def predict_genes(self, genes: np.ndarray) -> np.ndarray:
        return np.exp(self.log_predict_genes(genes)[0])

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        return self.predict_genes(self._need_space().to_genes(list(X)))

    def predict_interval(self, X: Sequence[Any], level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper ends (ms) of each prediction's ``level`` interval."""
        from scipy.stats import t as student_t

        if not 0 < level < 1:
            raise InputError(f"an interval level is between 0 and 1, got {level}")
        m, s = self.log_predict_genes(self._need_space().to_genes(list(X)))
        # the error scale is estimated from the K measurements themselves: Student's t, K - 1 degrees
        z = float(student_t.ppf(0.5 + level / 2, max(self.n_fit_ - 1, 1)))
        return np.exp(m - z * s), np.exp(m + z * s)

    def min_latency(self) -> float | None:
        """The least prediction over the reference architectures (the whole space where the
        references are tables of a space small enough to take whole)."""
        self._check_fitted()
        return float(self.predict_genes(self.ref_genes_).min())

    def layer_tables(self) -> LayerTables | None:
        return None  # not additive over parts

    def suggest(self, k: int, exclude: Sequence[Any] = ()) -> list[Any]:
        """``k`` architectures to measure: greedily the one whose prediction the prior (updated with
        those already chosen) is least sure of. Degenerate architectures are never proposed."""
        if k < 1:
            raise InputError(f"suggest needs k >= 1, got {k}")
        self._prepare()
        space = self._need_space()
        f, _ = self._features(self.ref_genes_)
        cov = np.diag(self.prior_var_)
        ok = ~np.asarray(space.degenerate_genes(self.ref_genes_), dtype=bool)
        if exclude:
            gone = {tuple(g) for g in space.to_genes(list(exclude))}
            ok &= np.array([tuple(g) not in gone for g in self.ref_genes_])
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
        return [space.from_genes(self.ref_genes_[i]) for i in chosen]

    # -- saving ---------------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        space = self._need_space()
        arrays = {"ref_genes": self.ref_genes_, "ref_log": self.ref_log_, "colmean": self.colmean_,
                  "proj": self.proj_, "post_mean": self.post_mean_, "post_cov": self.post_cov_,
                  "count_coef": self.count_coef_}
        tables = []
        for d, t in enumerate(self.tables_):
            tables.append({"dims": [list(x) for x in t.dims], "constant_ms": t.constant_ms, "names": list(t.names)})
            for j, (g, v) in enumerate(zip(t.genes, t.tables)):
                arrays[f"t{d}_genes{j}"], arrays[f"t{d}_ms{j}"] = g, v
        header = {"kind": "device-prior", "space": {"name": space.name, "config": space.config()},
                  "devices": self.devices_, "tables": tables,
                  "noise": self.noise, "count_var": self.count_var, "blend": self.blend,
                  "fitted": {"share": self.share_, "loo_rmse": self.loo_rmse_, "sigma": self.sigma_,
                             "floor": self.floor_, "degenerate_log": self.degenerate_log_,
                             "n_fit": self.n_fit_, "n_degenerate": self.n_degenerate_,
                             "degenerate": self.degenerate_, "outliers": self.outliers_,
                             "near": list(self.near_) if self.near_ is not None else None}}
        return header, arrays

    @classmethod
    def from_state(cls, header: dict[str, Any], arrays: dict[str, np.ndarray], table: Any = None) -> DevicePrior:
        try:
            space = get_space(header["space"]["name"], **header["space"]["config"])
            pred = cls(space=space, noise=float(header["noise"]), count_var=float(header["count_var"]),
                       blend=str(header["blend"]))
            f = header["fitted"]
            ints = {"ref_genes"}
            for name in ("ref_genes", "ref_log", "colmean", "proj", "post_mean", "post_cov", "count_coef"):
                setattr(pred, name + "_", np.asarray(arrays[name], dtype=np.int64 if name in ints else np.float64))
            pred.tables_ = tuple(
                LayerTables.of([arrays[f"t{d}_genes{j}"] for j in range(len(t["dims"]))], t["dims"],
                               [arrays[f"t{d}_ms{j}"] for j in range(len(t["dims"]))], float(t["constant_ms"]),
                               t.get("names", ()))
                for d, t in enumerate(header.get("tables", [])))
            n, k = pred.proj_.shape[1], pred.post_mean_.size
            if (pred.ref_genes_.ndim != 2 or pred.ref_genes_.shape[1] != len(space.gene_sizes())
                    or pred.ref_log_.shape != (len(pred.ref_genes_), pred.colmean_.size)
                    or pred.proj_.shape[0] != pred.colmean_.size or pred.post_cov_.shape != (k, k)
                    or k != 1 + n + pred.count_coef_.size
                    or pred.count_coef_.size != 1 + space.op_counts(pred.ref_genes_[:1]).shape[1]
                    or (pred.tables_ and len(pred.tables_) != pred.colmean_.size)):
                raise ValueError("the arrays do not match the space")
            if not all(np.isfinite(getattr(pred, n + "_")).all() for n in ("ref_log", "post_mean", "post_cov")):
                raise ValueError("non-finite values")
            pred._index()
            pred.share_, pred.loo_rmse_, pred.sigma_ = float(f["share"]), float(f["loo_rmse"]), float(f["sigma"])
            pred.floor_ = float(f["floor"])
            dl = f.get("degenerate_log")
            pred.degenerate_log_ = (float(dl[0]), float(dl[1])) if dl is not None else None
            pred.n_fit_, pred.n_degenerate_ = int(f["n_fit"]), int(f["n_degenerate"])
            pred.degenerate_, pred.outliers_ = str(f["degenerate"]), list(f["outliers"])
            pred.devices_ = list(header.get("devices", []))
            near = f.get("near")
            pred.near_ = (int(near[0]), float(near[1]), float(near[2])) if near is not None else None
            if pred.near_ is not None and not (0 <= pred.near_[0] < pred.colmean_.size and 0 < pred.near_[2] <= 1):
                raise ValueError("the nearest reference device is out of range")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"malformed device-prior predictor file: {exc}; write it again with hwlat adapt") from None
        return pred

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # noqa: N803 - BaseEstimator's signature
        fitted = hasattr(self, "post_mean_")
        state = f"fit on {self.n_fit_} measurements, share {self.share_:g}" if fitted else "unfitted"
        n = len(self.devices_) if fitted else len(self.references.devices) if self.references is not None else 0
        return f"DevicePrior(space={getattr(self.space, 'name', self.space)!r}, {n} reference devices, {state})"
