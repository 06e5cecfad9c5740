"""Once-for-All's published MobileNetV3 accuracy predictor: ``ofa-predictor:PATH``."""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat._optional import import_optional
from hwlat.errors import InputError
from hwlat.search.accuracy.base import AccuracySource, check_genes

if TYPE_CHECKING:
    from hwlat.spaces.ofa_mbv3 import OFAMobileNetV3Space

__all__ = ["OFAPredictorAccuracy", "from_text"]

log = logging.getLogger(__name__)

OFA_HINT = (
    "download Once-for-All's accuracy predictor from the once-for-all repository "
    "(https://github.com/mit-han-lab/once-for-all, tutorial: "
    "https://hanlab.mit.edu/files/OnceForAll/tutorial/acc_predictor.pth) and give its path"
)

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

    spaces = ("ofa-mbv3",)
    label = "Once-for-All's accuracy predictor"
    space: OFAMobileNetV3Space

    def __init__(self, path: str | Path, space: OFAMobileNetV3Space, *, backend: str = "numpy",
                 image_sizes: Sequence[int] | None = None) -> None:
        super().__init__(space)
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
        from hwlat._files import check_input_file

        p = check_input_file(self.path, "Once-for-All accuracy predictor", fix=OFA_HINT)
        torch = import_optional("torch", "reading Once-for-All's accuracy predictor")
        try:
            sd = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
            log.debug("torch.load(%s): %r", p, exc)
            why = "it is empty" if p.stat().st_size == 0 else (
                "it holds Python objects besides tensors, which hwlat does not load (no pickled code runs)"
                if "weights_only" in str(exc) or "Unpickl" in type(exc).__name__ else "it is damaged or another kind "
                "of file")
            raise InputError(f"{p} is not a PyTorch state dict of tensors: {why}; {OFA_HINT}") from None
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
        g = check_genes(s, genes)
        n = g.shape[0]
        nk, ne = len(s.KS), len(s.E)
        active = s.active_layers(g)  # (n, 20): layers within their stage's depth
        layer = np.arange(s.n_layers)[None, :]
        kcol = nk * layer + g[:, s.GENES_K]
        ecol = ne * layer + g[:, s.GENES_E]
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
        X[np.arange(n), self._r_col[g[:, s.GENE_R]]] = 1.0
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
        torch = import_optional("torch", "the torch backend of Once-for-All's accuracy predictor")

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
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _BLAS.append(None)
    ctl = _BLAS[0]
    return ctl.limit(limits=1, user_api="blas") if ctl is not None else contextlib.nullcontext()


def from_text(rest: str, space: OFAMobileNetV3Space, **kw: Any) -> OFAPredictorAccuracy:
    """The source of ``ofa-predictor:PATH`` (``rest`` is the path)."""
    if not rest:
        raise InputError(f"'ofa-predictor:': give the predictor's path, e.g. ofa-predictor:acc_predictor.pth; "
                         f"{OFA_HINT}")
    return OFAPredictorAccuracy(rest, space, **kw)
