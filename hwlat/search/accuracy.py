"""Accuracy sources: where the accuracy half of a latency–accuracy front comes from.

Every source is named (``.name``, written next to each accuracy in the output), says what it
is (``.kind``: ``"accuracy"`` for a measured or predicted accuracy in percent, ``"proxy"`` for a
zero-cost proxy score whose only meaning is its ranking) and evaluates architectures in batches
(``evaluate(archs)`` or, faster, ``evaluate_genes(genes)`` on the integer encoding of the space).

Sources are built from a short text, the same one the command line takes
(:func:`make_accuracy`):

==========================================  =========================================================
``nb201-csv:PATH[:DATASET]``                NAS-Bench-201 test accuracy (%) from a NATS-Bench CSV;
                                            ``DATASET`` is ``cifar10`` (default), ``cifar100`` or
                                            ``imagenet16-120``
``ofa-predictor:PATH``                      Once-for-All's published accuracy predictor (predicted
                                            ImageNet top-1, %) for the ``ofa-mbv3`` space
``proxy:NAME``                              a zero-cost proxy computed live (``naswot``, ``synflow``)
``module:function`` / ``file.py:function``  any Python callable taking a list of architectures and
                                            returning one accuracy per architecture
==========================================  =========================================================

The benchmark tables and third-party weights do not ship with hwlat: give their path; the error
when one is missing says where to get it.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwlat.errors import InputError

__all__ = [
    "AccuracySource",
    "NB201TableAccuracy",
    "OFAPredictorAccuracy",
    "CallableAccuracy",
    "make_accuracy",
    "ACCURACY_SYNTAX",
    "NB201_DATASETS",
]

log = logging.getLogger(__name__)

#: one line per accepted accuracy specification (for help texts)
ACCURACY_SYNTAX = (
    "nb201-csv:PATH[:cifar10|cifar100|imagenet16-120]",
    "ofa-predictor:PATH",
    "proxy:NAME (e.g. proxy:naswot, proxy:synflow)",
    "module:function or path/to/file.py:function",
)

#: dataset name -> (CSV column, number of classes, input size) of NAS-Bench-201
NB201_DATASETS: dict[str, tuple[str, int, int]] = {
    "cifar10": ("cifar10_test_acc", 10, 32),
    "cifar100": ("cifar100_test_acc", 100, 32),
    "imagenet16-120": ("imagenet16_120_test_acc", 120, 16),
}

NB201_HINT = (
    "get the NAS-Bench-201 accuracies from the NATS-Bench release (https://github.com/D-X-Y/NATS-Bench, "
    "topology search space 'NATS-tss-v1_0-3ffb9', 200-epoch test accuracy) and export a CSV with the columns "
    "index, arch_str, cifar10_test_acc, cifar100_test_acc, imagenet16_120_test_acc"
)
OFA_HINT = (
    "download Once-for-All's accuracy predictor from the once-for-all repository "
    "(https://github.com/mit-han-lab/once-for-all, tutorial: "
    "https://hanlab.mit.edu/files/OnceForAll/tutorial/acc_predictor.pth) and give its path"
)


class AccuracySource:
    """Base class of accuracy sources; subclasses override ``evaluate`` or ``evaluate_genes``.

    Attributes: ``name`` (shown with every accuracy), ``kind`` (``"accuracy"`` | ``"proxy"``),
    ``unit`` (``"%"`` for accuracies; ``"score"`` for proxies) and ``space``.
    """

    name: str = "accuracy"
    kind: str = "accuracy"
    unit: str = "%"

    def __init__(self, space: Any) -> None:
        self.space = space

    def evaluate(self, archs: Sequence[Any]) -> np.ndarray:
        """Accuracy of each architecture (float array, ``len(archs)``)."""
        self._check_overridden()
        return self.evaluate_genes(self.space.to_genes(list(archs)))

    def evaluate_genes(self, genes: np.ndarray) -> np.ndarray:
        """Accuracy of each gene row of ``genes`` (``(n, n_genes)`` integers)."""
        self._check_overridden()
        return self.evaluate([self.space.from_genes(g) for g in np.asarray(genes)])

    def _check_overridden(self) -> None:
        cls = type(self)
        if cls.evaluate is AccuracySource.evaluate and cls.evaluate_genes is AccuracySource.evaluate_genes:
            raise NotImplementedError(f"{cls.__name__} must override evaluate() or evaluate_genes()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r})"


def _check_genes(space: Any, genes: Any) -> np.ndarray:
    g = np.asarray(genes)
    n = len(space.gene_sizes())
    if g.ndim != 2 or g.shape[1] != n or (g.size and not np.issubdtype(g.dtype, np.integer)):
        raise InputError(f"genes must be an integer array of shape (n, {n}) for the {space.name} space, "
                         f"got {g.dtype} {g.shape}")
    return g.astype(np.int64, copy=False)


# -- NAS-Bench-201 table ------------------------------------------------------------------------------
def _nb201_dataset(name: str) -> str:
    key = str(name).strip().lower().replace("_", "-")
    if key not in NB201_DATASETS:
        raise InputError(f"unknown NAS-Bench-201 dataset {name!r}; choose one of {', '.join(NB201_DATASETS)}")
    return key


class NB201TableAccuracy(AccuracySource):
    """NAS-Bench-201 test accuracy (%) of every cell, read from a CSV.

    The CSV has the columns ``index, arch_str, cifar10_test_acc, cifar100_test_acc,
    imagenet16_120_test_acc`` (NATS-Bench topology space, 200 epochs; NAS-Bench-201 v1_1 values
    differ by up to ~3 points for some cells — the file name is part of :attr:`name` so a result
    says which file it used). Rows are matched by ``arch_str``, so any row order works; a cell
    missing from the file is an error when it is queried.
    """

    kind = "accuracy"
    unit = "%"

    def __init__(self, path: str | Path, space: Any, dataset: str = "cifar10") -> None:
        from hwlat.spaces.nb201 import NB201Space

        super().__init__(space)
        if not isinstance(space, NB201Space):
            raise InputError(f"NAS-Bench-201 accuracies belong to the nb201 search space, not to "
                             f"{getattr(space, 'name', space)!r}; use an accuracy source of that space "
                             "(e.g. ofa-predictor:PATH for ofa-mbv3)")
        self.dataset = _nb201_dataset(dataset)
        self.path = Path(path)
        column, classes, size = NB201_DATASETS[self.dataset]
        self.table_ = self._load(column)
        self.name = f"nb201:{self.dataset} test acc ({self.path.name})"
        if (space.num_classes, space.input_size) != (classes, size):
            log.warning("accuracies are for %s (%d classes, %dx%d inputs) but the nb201 space has %d classes and "
                        "%dx%d inputs, so its latencies are of a slightly different network; build the space "
                        "with num_classes=%d, input_size=%d to match", self.dataset, classes, size, size,
                        space.num_classes, space.input_size, space.input_size, classes, size)

    def _load(self, column: str) -> np.ndarray:
        import pandas as pd

        p = self.path
        if not p.is_file():
            raise InputError(f"NAS-Bench-201 accuracy file {p} not found; {NB201_HINT}")
        try:
            df = pd.read_csv(p)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read NAS-Bench-201 accuracy file {p}: {exc}; {NB201_HINT}") from None
        need = {"arch_str", column}
        if not need <= set(df.columns):
            raise InputError(f"{p} is not a NAS-Bench-201 accuracy file for {self.dataset}: it needs the columns "
                             f"{sorted(need)}, found {list(df.columns)[:8]}; {NB201_HINT}")
        sizes = self.space.gene_sizes()
        table = np.full(int(np.prod(sizes)), np.nan)
        acc = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64)
        archs = []
        for line, s in enumerate(df["arch_str"].astype(str), start=2):
            try:
                archs.append(self.space.decode(s))
            except InputError as exc:
                raise InputError(f"{p}:{line}: {s[:80]!r} is not a NAS-Bench-201 cell ({exc}); is this an "
                                 f"accuracy file of another search space? {NB201_HINT}") from None
        if not archs:
            raise InputError(f"{p} holds no architectures; {NB201_HINT}")
        flat = np.ravel_multi_index(tuple(self.space.to_genes(archs).T), sizes)
        uniq, counts = np.unique(flat, return_counts=True)
        if (counts > 1).any():
            dup = self.space.encode(self.space.from_genes(np.unravel_index(uniq[counts > 1][0], sizes)))
            raise InputError(f"{p} lists cell {dup} more than once; keep one row per cell")
        bad = ~np.isfinite(acc)
        if bad.any():
            log.warning("%s: %d rows have no %s value; those cells cannot be evaluated", p, int(bad.sum()), column)
        if np.nanmax(acc) <= 1.0:
            log.warning("%s: every %s value is <= 1; hwlat expects percent (0-100)", p, column)
        table[flat] = acc
        n_missing = int(np.isnan(table).sum())
        if n_missing:
            log.info("%s: %d of %d cells have no %s value", p, n_missing, table.size, column)
        return table

    def evaluate_genes(self, genes: np.ndarray) -> np.ndarray:
        g = _check_genes(self.space, genes)
        sizes = self.space.gene_sizes()
        if g.size and ((g < 0).any() or (g >= np.asarray(sizes)).any()):
            raise InputError(f"NAS-Bench-201 genes must lie in 0..{sizes[0] - 1}")
        out = self.table_[np.ravel_multi_index(tuple(g.T), sizes)] if g.shape[0] else np.zeros(0)
        if np.isnan(out).any():
            i = int(np.flatnonzero(np.isnan(out))[0])
            raise InputError(f"{self.path} has no {self.dataset} accuracy for cell "
                             f"{self.space.encode(self.space.from_genes(g[i]))} ({int(np.isnan(out).sum())} "
                             f"of {len(out)} queried cells missing); use a complete file — {NB201_HINT}")
        return out

    def evaluate(self, archs: Sequence[Any]) -> np.ndarray:
        return self.evaluate_genes(self.space.to_genes(list(archs)))


# -- Once-for-All accuracy predictor ----------------------------------------------------------------------
_TUTORIAL_KEYS = ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "6.weight", "6.bias")


class OFAPredictorAccuracy(AccuracySource):
    """Once-for-All's published accuracy predictor: predicted ImageNet top-1 (%) of an OFA subnet.

    The predictor is an MLP (128 -> 400 -> 400 -> 400 -> 1, ReLU) over a one-hot encoding of the
    subnet, exactly as in the once-for-all repository. Two checkpoint layouts are read:

    * the tutorial predictor (``acc_predictor.pth``, keys ``0.weight`` ... ``6.bias``): features
      are 60 kernel-size slots (20 layers x {3, 5, 7}), 60 expand-ratio slots (20 x {3, 4, 6}) and
      8 resolution slots ``(r - 112) // 16`` (so 112-239 px in 16-pixel bins; the published
      subnets use 160-224); layers beyond a stage's depth have all-zero slots;
    * the ``ofa.nas.accuracy_predictor`` layout (``layers.*`` keys, ``base_acc`` added to the
      output): resolution slots first, one per entry of ``image_sizes`` (which the checkpoint does
      not record: pass it), then kernel and expand slots per layer.

    The MLP forward runs in numpy from the loaded weights (``backend="numpy"``, the default:
    no torch at query time) or in torch (``backend="torch"``). torch is needed to read the file.
    The output (a fraction in the file) is reported in percent.
    """

    kind = "accuracy"
    unit = "%"

    def __init__(self, path: str | Path, space: Any, *, backend: str = "numpy",
                 image_sizes: Sequence[int] | None = None) -> None:
        from hwlat.spaces.ofa_mbv3 import OFAMobileNetV3Space

        super().__init__(space)
        if not isinstance(space, OFAMobileNetV3Space):
            raise InputError(f"Once-for-All's accuracy predictor is for the ofa-mbv3 search space, not "
                             f"{getattr(space, 'name', space)!r}; use an accuracy source of that space "
                             "(e.g. nb201-csv:PATH for nb201)")
        if backend not in ("numpy", "torch"):
            raise InputError(f"backend must be 'numpy' or 'torch', got {backend!r}")
        if (space.KS, space.E, space.D, space.N_STAGES, space.MAX_DEPTH) != ((3, 5, 7), (3, 4, 6), (2, 3, 4), 5, 4):
            raise InputError("Once-for-All's predictor encodes kernels {3,5,7}, expand ratios {3,4,6}, depths "
                             "{2,3,4} in 5 stages of up to 4 layers; this space differs")
        if abs(space.width_mult - 1.2) > 1e-9:
            log.warning("Once-for-All's published predictor is for the width-1.2 supernet; this space has width %g",
                        space.width_mult)
        self.path = Path(path)
        self.backend = backend
        self._load(image_sizes)
        self.name = f"ofa-predictor:imagenet top-1 ({self.path.name})"

    def _load(self, image_sizes: Sequence[int] | None) -> None:
        p = self.path
        if not p.is_file():
            raise InputError(f"Once-for-All accuracy predictor {p} not found; {OFA_HINT}")
        from hwlat._optional import import_optional

        torch = import_optional("torch", "reading Once-for-All's accuracy predictor")
        try:
            sd = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
            raise InputError(f"{p} is not a PyTorch state dict ({type(exc).__name__}: {str(exc)[:200]}); "
                             f"{OFA_HINT}") from None
        if isinstance(sd, dict) and "state_dict" in sd:
            sd = sd["state_dict"]
        if not isinstance(sd, dict):
            raise InputError(f"{p} holds a {type(sd).__name__}, not a state dict; {OFA_HINT}")
        arrays = {str(k): v.detach().cpu().numpy().astype(np.float32) for k, v in sd.items()
                  if hasattr(v, "detach")}
        keys = set(arrays)
        n_dim = len(self.space.KS) * 20 + len(self.space.E) * 20
        if set(_TUTORIAL_KEYS) <= keys:
            self.layout = "tutorial"
            ws = [arrays[f"{i}.weight"] for i in (0, 2, 4, 6)]
            bs = [arrays[f"{i}.bias"] for i in (0, 2, 4, 6)]
            base = 0.0
            self.image_sizes = None
            n_r = ws[0].shape[1] - n_dim if ws[0].ndim == 2 else -1
            if n_r != 8:
                raise InputError(f"{p}: the first layer takes {ws[0].shape[1] if ws[0].ndim == 2 else '?'} features; "
                                 "Once-for-All's MobileNetV3 predictor takes 128 (is this a predictor of another "
                                 f"space?); {OFA_HINT}")
        elif "layers.0.0.weight" in keys and "base_acc" in keys:
            self.layout = "ofa.nas"
            hidden = sorted(int(m.group(1)) for k in keys if (m := re.fullmatch(r"layers\.(\d+)\.0\.weight", k)))
            ws = [arrays[f"layers.{i}.0.weight"] for i in hidden] + [arrays[f"layers.{len(hidden)}.weight"]]
            bs = [arrays[f"layers.{i}.0.bias"] for i in hidden] + [np.zeros(1, np.float32)]
            base = float(arrays["base_acc"].reshape(-1)[0])
            n_r = ws[0].shape[1] - n_dim
            if image_sizes is None or len(image_sizes) != n_r:
                raise InputError(f"{p} is an ofa.nas accuracy predictor with {n_r} resolution slots; pass "
                                 f"image_sizes= the {n_r} resolutions it was trained with (its image_size_list)")
            self.image_sizes = tuple(int(r) for r in image_sizes)
        else:
            raise InputError(f"{p} is not Once-for-All's MobileNetV3 accuracy predictor (keys: "
                             f"{sorted(keys)[:6]}...); {OFA_HINT}")
        for w, b in zip(ws, bs):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise InputError(f"{p}: malformed layer weights {w.shape} / {b.shape}; {OFA_HINT}")
        for w0, w1 in itertools.pairwise(ws):
            if w1.shape[1] != w0.shape[0]:
                raise InputError(f"{p}: layer sizes do not chain ({w0.shape} then {w1.shape}); {OFA_HINT}")
        if ws[-1].shape[0] != 1:
            raise InputError(f"{p}: the last layer has {ws[-1].shape[0]} outputs, expected 1; {OFA_HINT}")
        self.weights_ = [np.ascontiguousarray(w.T) for w in ws]  # (in, out) for x @ W
        self.biases_ = bs
        self.base_acc_ = base
        self.n_features_ = ws[0].shape[1]
        # resolution slot of each of the space's resolutions
        res = np.asarray(self.space.resolutions)
        if self.layout == "tutorial":
            slot = (res - 112) // 16
            bad = res[(slot < 0) | (slot > 7)]
            if bad.size:
                raise InputError(f"Once-for-All's predictor encodes resolutions 112-239 only; this space has "
                                 f"{bad.tolist()}; build the space with resolutions in that range")
            self._r_col = 120 + slot
        else:
            missing = [int(r) for r in res if int(r) not in self.image_sizes]  # type: ignore[operator]
            if missing:
                raise InputError(f"the predictor knows resolutions {self.image_sizes}; this space also has {missing}")
            self._r_col = np.array([self.image_sizes.index(int(r)) for r in res])  # type: ignore[union-attr]

    # -- encoding ------------------------------------------------------------------------------------
    def features(self, genes: np.ndarray) -> np.ndarray:
        """The predictor's one-hot input of each gene row, ``(n, 128)`` float32 (vectorised)."""
        s = self.space
        g = _check_genes(s, genes)
        n = g.shape[0]
        nk, ne = len(s.KS), len(s.E)
        d = np.asarray(s.D)[g[:, s._G_D:s._G_D + s.N_STAGES]]  # (n, 5) depth values
        j = np.arange(s.N_STAGES * s.MAX_DEPTH) % s.MAX_DEPTH  # position of each layer in its stage
        stage = np.arange(s.N_STAGES * s.MAX_DEPTH) // s.MAX_DEPTH
        active = j[None, :] < d[:, stage]  # (n, 20)
        layer = np.arange(s.N_STAGES * s.MAX_DEPTH)[None, :]
        kcol = nk * layer + g[:, s._G_K:s._G_K + 20]
        ecol = ne * layer + g[:, s._G_E:s._G_E + 20]
        if self.layout == "tutorial":
            kcol = kcol + 0
            ecol = ecol + nk * 20
        else:
            off = len(self.image_sizes)  # type: ignore[arg-type]
            kcol = kcol + off
            ecol = ecol + off + nk * 20
        X = np.zeros((n, self.n_features_), dtype=np.float32)
        rows = np.broadcast_to(np.arange(n)[:, None], active.shape)
        X[rows[active], kcol[active]] = 1.0
        X[rows[active], ecol[active]] = 1.0
        X[np.arange(n), self._r_col[g[:, 0]]] = 1.0
        return X

    # -- prediction ----------------------------------------------------------------------------------
    def _forward_numpy(self, X: np.ndarray) -> np.ndarray:
        if X.shape[0] < _SMALL_BATCH:
            # small products on one BLAS thread: waking a thread pool for a few rows costs up to
            # tens of ms on a busy machine, far more than the product itself
            with _one_blas_thread():
                return self._forward_numpy_raw(X)
        return self._forward_numpy_raw(X)

    def _forward_numpy_raw(self, X: np.ndarray) -> np.ndarray:
        h = X
        last = len(self.weights_) - 1
        for i, (w, b) in enumerate(zip(self.weights_, self.biases_)):
            h = h @ w + b
            if i < last:
                np.maximum(h, 0.0, out=h)
        return h[:, 0].astype(np.float64) + self.base_acc_

    def _forward_torch(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            h = torch.from_numpy(X)
            last = len(self.weights_) - 1
            for i, (w, b) in enumerate(zip(self.weights_, self.biases_)):
                h = torch.nn.functional.linear(h, torch.from_numpy(np.ascontiguousarray(w.T)), torch.from_numpy(b))
                if i < last:
                    h = torch.relu(h)
            return h[:, 0].double().numpy() + self.base_acc_

    def evaluate_genes(self, genes: np.ndarray, *, backend: str | None = None) -> np.ndarray:
        """Predicted ImageNet top-1 (%) of each gene row."""
        X = self.features(genes)
        if X.shape[0] == 0:
            return np.zeros(0)
        how = backend or self.backend
        y = self._forward_torch(X) if how == "torch" else self._forward_numpy(X)
        return 100.0 * y

    def evaluate(self, archs: Sequence[Any]) -> np.ndarray:
        return self.evaluate_genes(self.space.to_genes(list(archs)))


_SMALL_BATCH = 2048
_BLAS: list[Any] = []


def _one_blas_thread() -> Any:
    """A context limiting BLAS to one thread (threadpoolctl), or a no-op where it is absent."""
    import contextlib

    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _BLAS.append(None)
    ctl = _BLAS[0]
    return ctl.limit(limits=1, user_api="blas") if ctl is not None else contextlib.nullcontext()


# -- user callable -----------------------------------------------------------------------------------------
_TARGET_RE = re.compile(r"^(?P<mod>[^:]+):(?P<fn>[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)$")
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _resolve_target(target: str) -> Callable[..., Any]:
    m = _TARGET_RE.match(target.strip())
    example = "mypackage.accuracy:evaluate or path/to/file.py:evaluate"
    if not m:
        raise InputError(f"accuracy callable {target!r} must look like module:function ({example})")
    mod_name, fn_path = m.group("mod"), m.group("fn")
    if mod_name.endswith(".py"):
        p = Path(mod_name)
        if not p.is_file():
            raise InputError(f"accuracy callable {target!r}: file {p} not found")
        name = f"_hwlat_user_accuracy_{abs(hash(str(p.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, p)
        if spec is None or spec.loader is None:
            raise InputError(f"accuracy callable {target!r}: cannot load {p} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # any error in user code at import
            sys.modules.pop(name, None)
            raise InputError(f"accuracy callable {target!r}: importing {p} failed ({type(exc).__name__}: {exc})") \
                from exc
    else:
        if not _MODULE_RE.match(mod_name):
            raise InputError(f"accuracy callable {target!r}: {mod_name!r} is not a module name ({example})")
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            raise InputError(f"accuracy callable {target!r}: cannot import module {mod_name!r} ({exc}); install it "
                             "or add its folder to PYTHONPATH") from None
    obj: Any = module
    for part in fn_path.split("."):
        if not hasattr(obj, part):
            raise InputError(f"accuracy callable {target!r}: module {mod_name!r} has no attribute {fn_path!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise InputError(f"accuracy callable {target!r}: {fn_path!r} is a {type(obj).__name__}, not a function")
    return obj


class CallableAccuracy(AccuracySource):
    """Accuracy from any Python callable ``fn(list_of_archs) -> sequence of accuracies``.

    ``target`` is the callable itself or its ``module:function`` / ``file.py:function`` path.
    Architectures are passed in the space's own form (a tuple, a dict; see the space). ``kind``
    says whether the values are accuracies (``"accuracy"``, percent) or a proxy score.
    """

    def __init__(self, target: str | Callable[[list[Any]], Any], space: Any, *, kind: str = "accuracy",
                 name: str | None = None) -> None:
        super().__init__(space)
        if kind not in ("accuracy", "proxy"):
            raise InputError(f"kind must be 'accuracy' or 'proxy', got {kind!r}")
        if isinstance(target, str):
            self.fn = _resolve_target(target)
            label = target.strip()
        elif callable(target):
            self.fn = target
            label = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"
        else:
            raise InputError(f"an accuracy callable is a function or a 'module:function' string, got "
                             f"{type(target).__name__}")
        self.kind = kind
        self.unit = "%" if kind == "accuracy" else "score"
        self.name = name or f"callable:{label}"

    def evaluate(self, archs: Sequence[Any]) -> np.ndarray:
        archs = list(archs)
        if not archs:
            return np.zeros(0)
        raw = self.fn(archs)
        try:
            out = np.asarray(raw, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InputError(f"{self.name} must return numbers, one per architecture; got {type(raw).__name__}") \
                from None
        if out.size != len(archs):
            raise InputError(f"{self.name} returned {out.size} values for {len(archs)} architectures; return one "
                             "accuracy per architecture, in order")
        if not np.all(np.isfinite(out)):
            raise InputError(f"{self.name} returned NaN or infinite accuracies")
        return out


# -- protocol adapter and registry ---------------------------------------------------------------------------
class _Adapter(AccuracySource):
    """Any object with ``name``, ``kind`` and ``evaluate`` and/or ``evaluate_genes``."""

    def __init__(self, obj: Any, space: Any) -> None:
        super().__init__(space)
        self.obj = obj
        self.name = str(obj.name)
        self.kind = str(getattr(obj, "kind", "accuracy"))
        self.unit = str(getattr(obj, "unit", "%" if self.kind == "accuracy" else "score"))
        self._has_genes = callable(getattr(obj, "evaluate_genes", None))
        self._has_archs = callable(getattr(obj, "evaluate", None))

    def evaluate(self, archs: Sequence[Any]) -> np.ndarray:
        if self._has_archs:
            return np.asarray(self.obj.evaluate(list(archs)), dtype=np.float64).reshape(-1)
        return np.asarray(self.obj.evaluate_genes(self.space.to_genes(list(archs))), dtype=np.float64).reshape(-1)

    def evaluate_genes(self, genes: np.ndarray) -> np.ndarray:
        if self._has_genes:
            return np.asarray(self.obj.evaluate_genes(np.asarray(genes)), dtype=np.float64).reshape(-1)
        return np.asarray(self.obj.evaluate([self.space.from_genes(g) for g in np.asarray(genes)]),
                          dtype=np.float64).reshape(-1)


def _as_source(obj: Any, space: Any) -> AccuracySource:
    if isinstance(obj, AccuracySource):
        return obj
    if not isinstance(getattr(obj, "name", None), str):
        raise InputError(f"an accuracy source needs a .name (shown next to its accuracies); "
                         f"{type(obj).__name__} has none")
    kind = getattr(obj, "kind", "accuracy")
    if kind not in ("accuracy", "proxy"):
        raise InputError(f"accuracy source {obj.name!r} has kind {kind!r}; it must be 'accuracy' or 'proxy'")
    if not (callable(getattr(obj, "evaluate", None)) or callable(getattr(obj, "evaluate_genes", None))):
        raise InputError(f"accuracy source {obj.name!r} needs evaluate(archs) or evaluate_genes(genes)")
    return _Adapter(obj, space)


def make_accuracy(spec: Any, space: Any, **kw: Any) -> AccuracySource:
    """The accuracy source described by ``spec`` for ``space`` (see the module docstring).

    ``spec`` is a text (``nb201-csv:PATH[:DATASET]``, ``ofa-predictor:PATH``, ``proxy:NAME``,
    ``module:function``), a Python callable taking a list of architectures, or an object with
    ``name``, ``kind`` and ``evaluate``/``evaluate_genes`` (returned as a source). ``kw`` go to the
    source's constructor (e.g. ``backend="torch"``, ``dataset="cifar100"``).
    """
    if not isinstance(spec, str):
        if hasattr(spec, "name") and (hasattr(spec, "evaluate") or hasattr(spec, "evaluate_genes")):
            return _as_source(spec, space)
        if callable(spec):
            return CallableAccuracy(spec, space, **kw)
        raise InputError(f"an accuracy source is a text like {ACCURACY_SYNTAX[0]!r}, a callable or an accuracy "
                         f"source object; got {type(spec).__name__}")
    text = spec.strip()
    prefix, sep, rest = text.partition(":")
    prefix = prefix.lower()
    if prefix == "nb201-csv" and sep:
        path, dataset = rest, kw.pop("dataset", "cifar10")
        head, sep2, tail = rest.rpartition(":")
        if sep2 and tail.strip().lower().replace("_", "-") in NB201_DATASETS:
            path, dataset = head, tail
        if not path:
            raise InputError(f"{text!r}: give the CSV path, e.g. nb201-csv:accuracy.csv:cifar100")
        return NB201TableAccuracy(path, space, dataset=dataset, **kw)
    if prefix == "ofa-predictor" and sep:
        if not rest:
            raise InputError(f"{text!r}: give the predictor's path, e.g. ofa-predictor:acc_predictor.pth; {OFA_HINT}")
        return OFAPredictorAccuracy(rest, space, **kw)
    if prefix == "proxy" and sep:
        return _make_proxy(rest.strip(), space, **kw)
    if sep:
        return CallableAccuracy(text, space, **kw)
    raise InputError(f"unknown accuracy source {spec!r}; use one of: {'; '.join(ACCURACY_SYNTAX)}")


def _make_proxy(name: str, space: Any, **kw: Any) -> AccuracySource:
    if not name:
        raise InputError("proxy: needs a proxy name, e.g. proxy:naswot")
    try:
        proxies = importlib.import_module("hwlat.search.proxies")
    except ImportError as exc:
        if getattr(exc, "name", None) not in ("hwlat.search.proxies",):
            raise
        raise InputError("zero-cost proxies are not available in this hwlat installation") from None
    if callable(getattr(proxies, "make_proxy", None)):
        obj = proxies.make_proxy(name, space, **kw)
    else:
        obj = proxies.ProxyAccuracy(space, name=name.lower(), **kw)
    return _as_source(obj, space)
