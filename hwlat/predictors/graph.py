"""``GraphPredictor``: the latency (ms) of any ONNX model from the kernels the runtime really runs.

The kernels of a model are those of ONNX Runtime's own optimised graph
(:mod:`hwlat.predictors.onnx_kernels`), each mapped to an :class:`~hwlat.ops.spec.OpSpec` where
the vocabulary covers it (:mod:`hwlat.ops.onnx_import`):

===========================================  ==============================================
kernel                                        spec
===========================================  ==============================================
Conv / FusedConv (square, pads = dil*(k-1)//2)  ``conv`` (bn=1 when it has a bias; act from
                                              the fused activation: Relu, Clip(0,6),
                                              HardSigmoid(1/6,1/2), Sigmoid, HardSwish)
MaxPool / AveragePool (square, symmetric pad)  ``pool``
GlobalAveragePool, ReduceMean over H,W         ``gap``
Gemm / MatMul on a (1, K) vector, constant W   ``fc``
Add / Sum of same-shape (C,H,W) tensors        ``add``
Concat on channels of same-shape tensors       ``concat``
Relu / Clip(0,6) / HardSwish / HardSigmoid /   ``act``
Sigmoid on (C,H,W) (HardSwish is inlined by
the runtime as HardSigmoid+Mul: read back as
one HardSwish)
BatchNormalization (not folded)                ``bn``
Reshape / Flatten / Squeeze / Unsqueeze /      zero cost: ONNX Runtime's kernels of these ops
Identity / Dropout                             alias their input buffer (no copy is made)
===========================================  ==============================================

Everything else (a Transpose, a Slice, a channel gate ``(C,H,W) * (C,1,1)``, a Conv with
asymmetric padding...) cannot be predicted from the table: :meth:`GraphPredictor.predict`
raises :class:`~hwlat.errors.UnsupportedOpError` listing every such node, unless
``allow_fallback=True``; then each one is estimated by an explicit, reported rule (see
:meth:`GraphPredictor.kernels`, source ``fallback``): FLOPs times a rate fitted on the table's
``conv`` (or ``fc``) rows for convolutions and matrix products, elements moved (inputs + output)
times a rate fitted on its elementwise rows (``add``, ``act``, ``bn``, ``concat``) otherwise.

A kernel spec found in the table costs its latency less the runtime's per-call overhead (every
row was timed with it) and less the layout conversions it paid alone (``in_graph_ms``: on
``cpu-ort`` a lone convolution converts its input and output to and from the runtime's NCHWc
block layout, which neighbours inside a network share); the overhead is added once per model,
and each conversion the runtime does place in the network (its ``ReorderInput``/``ReorderOutput``
nodes, source ``layout``) costs its elements times the per-element rate the table's rows paid.
Weighted matrix products also pay for streaming their weights once a model's weights outgrow the
caches, at the rate the profile measured (:mod:`hwlat.predictors.streaming`). A kernel regressor
(any object with ``predict(specs) -> ms`` that raises ``UnsupportedOpError`` for kinds it does not
know, e.g. :class:`hwlat.predictors.kernels.KernelRegressor`) answers specs missing from the table.
:func:`~hwlat.predictors.onnx_kernels.kernel_specs_of` lists the distinct specs of a model, so
that profiling exactly those gives exact table hits.

Cost: the first query of a model runs the optimiser and maps the graph (cached, see
:mod:`hwlat.predictors.onnx_kernels`); a prediction is then a table gather (~0.1-0.2 ms).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from hwlat._files import check_input_file
from hwlat.devices import DeviceSpec, as_device, load_device
from hwlat.errors import InputError, NotFittedError, UnsupportedOpError
from hwlat.latency_tables import FLOAT_STATS, IN_GRAPH, LatencyTable, TableMetadata
from hwlat.ops.onnx_import import KernelInfo
from hwlat.ops.spec import OpSpec
from hwlat.predictors.base import NotOverASpace, required, table_hash
from hwlat.predictors.io import load_predictor
from hwlat.predictors.onnx_kernels import LAYOUT_OPS, ModelLike, analyse_model, model_label, ort_device
from hwlat.predictors.parts import fit_affine
from hwlat.predictors.streaming import streaming_curve, streaming_ms
from hwlat.registry import PREDICTORS

__all__ = ["GraphPredictor", "GraphQuery", "query_models"]

log = logging.getLogger(__name__)

NEEDS_TABLE = ("GraphPredictor needs table= (a LatencyTable of the models' kernels); make one with: "
               "hwlat profile --device cpu-ort --model MODEL.onnx -o tables/kernels")

_ELEMWISE_KINDS = ("add", "act", "bn", "concat")


# -- the predictor ---------------------------------------------------------------------------------

class GraphPredictor(NotOverASpace, BaseEstimator):
    """Latency (ms) of ONNX models from a latency table of their kernels.

    A scikit-learn estimator: every parameter is keyword-only and stored unchanged;
    ``GraphPredictor(table=table).fit()`` reads the table's overhead and fallback rates.

    Parameters
    ----------
    table:
        A :class:`~hwlat.latency_tables.LatencyTable` measured on ``device`` (ideally holding the
        specs of :func:`~hwlat.predictors.onnx_kernels.kernel_specs_of` for the models to predict).
    regressor:
        Optional: an object with ``predict(specs) -> ms`` that raises
        :class:`~hwlat.errors.UnsupportedOpError` for kinds it cannot predict (e.g. a fitted
        :class:`hwlat.predictors.kernels.KernelRegressor`); answers kernels missing from the table.
    device:
        The ONNX Runtime device (name or :class:`~hwlat.devices.DeviceSpec`) whose optimiser
        finds the kernels.
    allow_fallback:
        ``False``: a kernel neither the table nor the regressor predicts is an error
        (:class:`~hwlat.errors.UnsupportedOpError` listing all of them). ``True``: estimate it
        from FLOPs or elements moved times a rate fitted on the table (see the module doc) and
        report it with source ``fallback``.
    """

    predicts = "ONNX models (predict(paths))"

    def __init__(self, *, table: LatencyTable | None = None, regressor: Any = None,
                 device: DeviceSpec | str = "cpu-ort", allow_fallback: bool = False) -> None:
        self.table = table
        self.regressor = regressor
        self.device = device
        self.allow_fallback = allow_fallback

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X: Sequence[ModelLike] | None = None, y: Sequence[float] | np.ndarray | None = None
            ) -> GraphPredictor:
        """Read the table's overhead and fallback rates; calibrate ``y ≈ a·S + b`` on measured
        whole-model latencies (ms) of models ``X`` when given."""
        if self.table is None:
            raise InputError(NEEDS_TABLE)
        ort_device(self.device)
        self.overhead_ms_ = float(self.table.metadata.overhead_ms or 0.0)
        self.coef_ = np.array([1.0, self.overhead_ms_])
        self.n_calibration_ = 0
        self.fallback_rates_ = self._fit_rates()
        self.layout_rates_ = self._fit_layout_rates()
        self.streaming_ = streaming_curve(self.table.metadata.extra)
        if X is not None or y is not None:
            if X is None or y is None:
                raise InputError("calibration needs both models and their measured latencies (ms)")
            self.calibrate(X, y)
        return self

    def _need_table(self) -> LatencyTable:
        """``table``, which fitting, predicting and saving need (the error fit gives without it)."""
        return required(self.table, NEEDS_TABLE)

    def _fit_rates(self) -> dict[str, tuple[float, int, str]]:
        """rate name -> (ms per unit, rows used, description), fitted on the table's own rows."""
        df = self._need_table().df
        rates: dict[str, tuple[float, int, str]] = {}
        if df.empty:
            return rates
        ms = df["latency_ms"].to_numpy(dtype=np.float64) - self.overhead_ms_
        for name, kinds in (("conv", ("conv",)), ("fc", ("fc",))):
            sel = df["kind"].isin(kinds).to_numpy() & (ms > 0)
            flops = df["flops"].to_numpy(dtype=np.float64)[sel] if "flops" in df else np.array([])
            ok = flops > 0
            if ok.sum():
                rates[name] = (float(np.median(ms[sel][ok] / flops[ok])), int(ok.sum()), f"ms per FLOP of {name} rows")
        sel = df["kind"].isin(_ELEMWISE_KINDS).to_numpy() & (ms > 0)
        if sel.any():
            elems = []
            for key in df["key"][sel]:
                spec = OpSpec.from_key(key)
                elems.append(math.prod(spec.input_shape) * spec.n_inputs + math.prod(spec.output_shape))
            rates["elem"] = (float(np.median(ms[sel] / np.asarray(elems, dtype=np.float64))), int(sel.sum()),
                             f"ms per element moved of {'/'.join(_ELEMWISE_KINDS)} rows")
        return rates

    def _fit_layout_rates(self) -> dict[str, tuple[float, int]]:
        """op type -> (ms per element, rows used) of the runtime's layout conversions, from the
        ``reorder_in_ms`` (per input element) and ``reorder_out_ms`` (per output element) each
        row paid alone; empty where the table recorded none."""
        df = self._need_table().df
        rates: dict[str, tuple[float, int]] = {}
        for op, col, side in (("ReorderInput", "reorder_in_ms", "input_shape"),
                              ("ReorderOutput", "reorder_out_ms", "output_shape")):
            if col not in df or df.empty:
                continue
            ms = df[col].to_numpy(dtype=np.float64, na_value=np.nan)
            sel = np.flatnonzero(ms > 0)
            if not len(sel):
                continue
            elems = np.array([math.prod(getattr(OpSpec.from_key(df["key"].iat[i]), side)) for i in sel], dtype=float)
            rates[op] = (float(np.median(ms[sel] / elems)), len(sel))
        return rates

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("this GraphPredictor is not fitted yet; call fit() first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "coef_")

    def calibrate(self, X: Sequence[ModelLike], y: Sequence[float] | np.ndarray) -> GraphPredictor:
        """Fit ``a, b ≥ 0`` of ``y ≈ a·S + b`` (relative error), ``S`` the overhead-free kernel sum."""
        self._check_fitted()
        models = list(X) if isinstance(X, (list, tuple)) else [X]
        s = np.array([self._raw(m)[0] for m in models], dtype=np.float64)
        coef = fit_affine(s, y, self.overhead_ms_)
        if coef is not None:
            self.coef_ = coef
            self.n_calibration_ = int(np.size(y))
        return self

    # -- predicting -----------------------------------------------------------------------------
    def _costs(self, kernels: list[KernelInfo]) -> tuple[np.ndarray, list[str], list[str]]:
        """Overhead-free cost (ms) of each kernel, its source and how it was obtained."""
        n = len(kernels)
        cost = np.full(n, np.nan)
        source = ["none"] * n
        how = [""] * n
        todo: list[int] = []
        keys: list[str] = []
        for i, k in enumerate(kernels):
            if k.zero_reason:
                cost[i], source[i], how[i] = 0.0, "zero-cost", k.zero_reason
            elif k.op_type in LAYOUT_OPS and k.spec is None:
                cost[i], source[i], how[i] = self._layout_cost(k)
            elif k.spec is not None:
                todo.append(i)
                keys.append(k.spec.key)
        if todo:
            ms, hit = self._need_table().get_many(keys, IN_GRAPH)
            idx = np.asarray(todo)
            cost[idx[hit]] = ms[hit] - self.overhead_ms_
            for i in idx[hit]:
                source[i] = "table"
            missing = [int(i) for i in idx[~hit]]
            if missing and self.regressor is not None:
                by_kind: dict[str, list[int]] = {}
                for i in missing:
                    by_kind.setdefault(kernels[i].spec.kind, []).append(i)  # type: ignore[union-attr]
                for items in by_kind.values():
                    try:
                        ms = np.asarray(self.regressor.predict([kernels[i].spec for i in items]), dtype=np.float64)
                    except UnsupportedOpError as exc:
                        for i in items:
                            how[i] = f"regressor: {exc}"
                        continue
                    for i, v in zip(items, ms):
                        cost[i], source[i] = float(v) - self.overhead_ms_, "regressor"
        for i, k in enumerate(kernels):
            if source[i] != "none":
                continue
            if k.spec is not None and not how[i]:
                how[i] = "not in the table" + ("" if self.regressor is None else "; the regressor cannot predict it")
            elif k.spec is None:
                how[i] = k.note or "no vocabulary kind"
            if self.allow_fallback:
                est = self._fallback(k)
                if est is not None:
                    cost[i], source[i] = est[0], "fallback"
                    how[i] = f"{how[i]}; fallback: {est[1]}"
        extra, total = streaming_ms(kernels, getattr(self, "streaming_", None))
        for i in map(int, np.flatnonzero((extra > 0) & np.isfinite(cost))):
            cost[i] += extra[i]
            how[i] = (how[i] and f"{how[i]}; ") + f"+{extra[i]:.3g} ms streaming weights ({total / 2**20:.0f} MiB)"
        return cost, source, how

    def _layout_cost(self, k: KernelInfo) -> tuple[float, str, str]:
        """(ms, source, how) of a layout conversion the runtime placed in the network."""
        rate = getattr(self, "layout_rates_", {}).get(k.op_type)
        if rate is None or k.elements is None:
            return 0.0, "zero-cost", ("the table's latencies include the layout conversions each op paid alone "
                                      "(no reorder_in_ms/reorder_out_ms recorded)")
        return k.elements * rate[0], "layout", (f"{k.elements:.3g} elements x {rate[0]:.3g} ms per element of the "
                                                f"{k.op_type} each table op paid alone ({rate[1]} rows)")

    def _fallback(self, k: KernelInfo) -> tuple[float, str] | None:
        rates = self.fallback_rates_
        if k.spec is not None:  # a vocabulary op missing from the table: its own FLOPs/elements
            if k.spec.kind == "conv" and "conv" in rates:
                r = rates["conv"]
                return k.spec.flops * r[0], f"{k.spec.flops:.3g} FLOPs x {r[0]:.3g} {r[2]} ({r[1]})"
            if k.spec.kind == "fc" and ("fc" in rates or "conv" in rates):
                r = rates["fc"] if "fc" in rates else rates["conv"]
                return k.spec.flops * r[0], f"{k.spec.flops:.3g} FLOPs x {r[0]:.3g} {r[2]} ({r[1]})"
        if k.compute and k.flops is not None:
            rate = rates.get("fc" if "Gemm" in k.op_type or "MatMul" in k.op_type else "conv") or rates.get("conv") \
                or rates.get("fc")
            if rate is not None:
                return k.flops * rate[0], f"{k.flops:.3g} FLOPs x {rate[0]:.3g} {rate[2]} ({rate[1]})"
        if k.elements is not None and "elem" in rates:
            r = rates["elem"]
            return k.elements * r[0], f"{k.elements:.3g} elements x {r[0]:.3g} {r[2]} ({r[1]})"
        return None

    def _raw(self, model: ModelLike, *, strict: bool = True) -> tuple[float, list[KernelInfo], np.ndarray,
                                                                       list[str], list[str]]:
        kernels = analyse_model(model, self.device)
        cost, source, how = self._costs(kernels)
        bad = [i for i, s in enumerate(source) if s == "none"]
        if bad and strict:
            label = model_label(model)
            lines = [f"  {kernels[i].node} ({kernels[i].op_type}, {kernels[i].shapes}): {how[i]}" for i in bad]
            fix = ("profile the missing kernels (hwlat profile --device DEVICE --model MODEL.onnx, or "
                   "profile_ops(kernel_specs_of(model), device)), give a kernel regressor, or allow an explicit "
                   "fallback estimate (allow_fallback=True, --allow-fallback)")
            if self.allow_fallback:
                fix = ("the fallback needs the table to hold conv/fc rows (compute) and add/act/bn/concat rows "
                       "(elementwise), and known shapes; profile some of those")
            raise UnsupportedOpError(f"{label}: {len(bad)} kernel(s) cannot be predicted:\n" + "\n".join(lines)
                                     + f"\n{fix}")
        return float(np.nansum(cost)), kernels, cost, source, how

    def predict(self, models: ModelLike | Sequence[ModelLike]) -> np.ndarray:
        """Latency (ms) of each model (paths, bytes or ``onnx.ModelProto``)."""
        self._check_fitted()
        items = [models] if isinstance(models, (str, os.PathLike, bytes, bytearray)) or hasattr(models, "graph") \
            else list(models)
        a, b = self.coef_
        out = np.empty(len(items))
        for j, m in enumerate(items):
            s, kernels, _, source, _ = self._raw(m)
            nfb = source.count("fallback")
            if nfb:
                log.warning("%d of %d kernel(s) estimated by the fallback rule; see GraphPredictor.kernels()",
                            nfb, len(kernels))
            out[j] = a * s + b
        return out

    def kernels(self, model: ModelLike) -> pd.DataFrame:
        """One row per kernel of the optimised graph: ``node, op_type, shapes, key`` (spec key or
        None), ``kind`` (spec kind, else ``layout`` or the op type), ``source`` (table | regressor |
        layout | fallback | zero-cost | none), ``predicted_ms`` (NaN if unpredicted), ``note``."""
        self._check_fitted()
        _, kernels, cost, source, how = self._raw(model, strict=False)
        a = self.coef_[0]
        notes = [h if h else k.note for k, h in zip(kernels, how)]
        return pd.DataFrame({
            "node": [k.node for k in kernels],
            "op_type": [k.op_type for k in kernels],
            "shapes": [k.shapes for k in kernels],
            "key": [k.spec.key if k.spec is not None else None for k in kernels],
            "kind": [k.spec.kind if k.spec is not None else "layout" if s == "layout" else k.op_type
                     for k, s in zip(kernels, source)],
            "source": source,
            "predicted_ms": a * cost,
            "note": notes,
        })

    def explain(self, model: ModelLike) -> pd.DataFrame:
        """:meth:`kernels` plus a last row for the per-model overhead (and calibration offset),
        with each row's share of the total in ``share_pct``."""
        df = self.kernels(model)
        extra = pd.DataFrame([{"node": "(per-model overhead and calibration offset)", "op_type": "overhead",
                               "shapes": "", "key": None, "kind": "overhead", "source": "overhead",
                               "predicted_ms": self.coef_[1], "note": ""}])
        df = pd.concat([df, extra], ignore_index=True)
        total = df["predicted_ms"].sum(skipna=True)
        df["share_pct"] = 100 * df["predicted_ms"] / total if total > 0 else np.nan
        return df

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # noqa: N803 - BaseEstimator's signature
        state = "unfitted"
        if hasattr(self, "coef_"):
            state = f"a={self.coef_[0]:.4f}, b={self.coef_[1]:.4f} ms, calibrated on {self.n_calibration_} model(s)"
        dev = getattr(self.device, "name", self.device)
        return f"GraphPredictor(device={dev!r}, allow_fallback={self.allow_fallback}, {state})"

    # -- saving ---------------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(header, arrays) for :func:`hwlat.predictors.save_predictor`.

        The file is self-contained: it holds the table's keys and latency statistics (plain
        arrays), its metadata, the calibration, the fallback rates and, when there is one, the
        kernel regressor's own saved state; loading it needs no table file.
        """
        self._check_fitted()
        dev, table = self.device, self._need_table()
        header: dict[str, Any] = {
            "kind": "graph",
            "device": dev.to_dict() if hasattr(dev, "to_dict") else {"name": str(dev)},
            "allow_fallback": bool(self.allow_fallback),
            "coef": [float(c) for c in self.coef_],
            "overhead_ms": self.overhead_ms_,
            "n_calibration": self.n_calibration_,
            "fallback_rates": {k: [float(v[0]), int(v[1]), str(v[2])] for k, v in self.fallback_rates_.items()},
            "layout_rates": {k: [float(v[0]), int(v[1])] for k, v in self.layout_rates_.items()},
            "table_hash": table_hash(table),
            "table_metadata": table.metadata.to_dict(),
            "table_stats": [c for c in FLOAT_STATS if c in table.df],
        }
        df = table.df
        arrays: dict[str, np.ndarray] = {"table_keys": np.asarray(df["key"].tolist(), dtype=str)}
        for c in header["table_stats"]:
            arrays[f"table_{c}"] = df[c].to_numpy(dtype=np.float64)
        if self.regressor is not None:
            if not hasattr(self.regressor, "to_state"):
                raise InputError(f"cannot save a GraphPredictor whose regressor ({type(self.regressor).__name__}) "
                                 "has no saved form; use a KernelRegressor or save without the regressor")
            reg_header, reg_arrays = self.regressor.to_state()
            header["regressor"] = reg_header
            arrays.update({f"regressor.{k}": v for k, v in reg_arrays.items()})
        return header, arrays

    @classmethod
    def from_state(cls, header: dict[str, Any], arrays: dict[str, np.ndarray], table: LatencyTable | None = None
                   ) -> GraphPredictor:
        """Rebuild a saved predictor. The table comes from the file itself; ``table`` (optional) is
        only compared by hash, in :func:`hwlat.predictors.load_predictor`."""
        try:
            d = header["device"]
            device: DeviceSpec = DeviceSpec.from_dict(d) if "runtime" in d else load_device(d["name"])
            stats = list(header["table_stats"])
            keys = [str(k) for k in arrays["table_keys"]]
            cols = {c: arrays[f"table_{c}"] for c in stats}
            rows = ((OpSpec.from_key(k), {c: float(cols[c][i]) for c in stats}) for i, k in enumerate(keys))
            tab = LatencyTable.from_rows(TableMetadata.from_dict(header["table_metadata"]), rows)
            regressor = None
            if "regressor" in header:
                reg_arrays = {k[len("regressor."):]: v for k, v in arrays.items() if k.startswith("regressor.")}
                reg_cls = PREDICTORS.get(header["regressor"]["kind"])
                regressor = reg_cls.from_state(header["regressor"], reg_arrays, None)
            pred = cls(table=tab, regressor=regressor, device=device, allow_fallback=bool(header["allow_fallback"]))
            pred.overhead_ms_ = float(header["overhead_ms"])
            pred.coef_ = np.asarray(header["coef"], dtype=np.float64)
            pred.n_calibration_ = int(header["n_calibration"])
            pred.fallback_rates_ = {k: (float(v[0]), int(v[1]), str(v[2])) for k, v in header["fallback_rates"].items()}
            pred.streaming_ = streaming_curve(tab.metadata.extra)
            pred.layout_rates_ = {k: (float(v[0]), int(v[1])) for k, v in header.get("layout_rates", {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed graph predictor file: {exc!r}; save it again with save_predictor") from None
        pred.table_hash_ = header.get("table_hash")
        return pred


# -- queries -----------------------------------------------------------------------------------------

@dataclass
class GraphQuery:
    """The answer to ``hwlat query model.onnx ...``: the predictor used and one row per model.

    Each row holds ``model``, ``latency_ms`` and, where the breakdown was computed (``explain``
    or ``allow_fallback``), ``kernels``, ``from_table``, ``from_regressor`` and ``fallback``
    (counts), ``fallback_kernels`` (the kernels estimated by the fallback rule, a DataFrame)
    and with ``explain`` the whole breakdown, ``explain`` (:meth:`GraphPredictor.explain`).
    """

    predictor: GraphPredictor
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """One row per model without the DataFrames."""
        return pd.DataFrame([{k: v for k, v in r.items() if k not in ("explain", "fallback_kernels")}
                             for r in self.rows])


def query_models(files: Sequence[str | os.PathLike[str]], *, table: LatencyTable | str | os.PathLike[str] | None = None,
                 predictor: GraphPredictor | str | os.PathLike[str] | None = None, regressor: Any = None,
                 device: DeviceSpec | str = "cpu-ort", devices_dir: Any = None,
                 allow_fallback: bool = False, explain: bool = False) -> GraphQuery:
    """Predict the latency (ms) of ONNX model files from a kernel table or a saved graph predictor.

    ``table``, ``predictor`` (a saved :class:`GraphPredictor`) and ``regressor`` (a saved kernel
    regressor) are objects or file paths; with ``predictor`` the device is the one it was saved
    for. ``explain`` adds the per-kernel breakdown of each model.
    """
    if table is None and predictor is None:
        raise InputError("an ONNX model needs a latency table of its kernels (--table T.parquet) or a saved graph "
                         "predictor (--predictor P.npz); make a table with: "
                         "hwlat profile --device cpu-ort --model MODEL.onnx -o tables/kernels")
    table_path = table if isinstance(table, (str, os.PathLike)) else None
    tab = LatencyTable.load(table) if isinstance(table, (str, os.PathLike)) else table
    if predictor is not None:
        saved = predictor
        pred = (load_predictor(saved, table=tab, kinds=("graph",), use="a query of ONNX models (--predictor)")
                if isinstance(saved, (str, os.PathLike)) else saved)
        if not isinstance(pred, GraphPredictor):
            raise InputError(f"{saved} is not a graph predictor (it predicts architectures of a search space); "
                             "for ONNX models give --table, or a file written by --save-predictor")
        if allow_fallback:
            pred.allow_fallback = True
    else:
        assert tab is not None  # checked above: without a predictor there is a table
        dev = as_device(device, search_path=devices_dir)
        tdev = tab.metadata.device_name
        if tdev and tdev != dev.name:
            log.warning("table %s was measured on %r, predicting for %r", table_path or "", tdev, dev.name)
        if isinstance(regressor, (str, os.PathLike)):
            regressor = load_predictor(regressor, table=None, kinds=("kernel",), use="--regressor")
        pred = GraphPredictor(table=tab, regressor=regressor, device=dev, allow_fallback=bool(allow_fallback)).fit()
    out = GraphQuery(pred)
    for f in files:
        p = check_input_file(f, "model file", fix="give the path of an .onnx model file")
        ms = float(pred.predict([p])[0])
        df = pred.explain(p) if explain or pred.allow_fallback else None
        row: dict[str, Any] = {"model": str(f), "latency_ms": ms}
        if df is not None:
            src = df["source"].value_counts().to_dict()
            fb = df[df["source"] == "fallback"]
            row.update({"kernels": int((df["source"] != "overhead").sum()), "from_table": int(src.get("table", 0)),
                        "from_regressor": int(src.get("regressor", 0)), "fallback": len(fb),
                        "fallback_kernels": fb.reset_index(drop=True)})
        if explain:
            row["explain"] = df
        out.rows.append(row)
    return out
