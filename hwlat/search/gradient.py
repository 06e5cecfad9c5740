"""Gradient architecture search under a latency budget: ProxylessNAS and FBNet on a supernet.

A **supernet** over the ProxylessNAS MobileNetV2 space (:class:`~hwlat.spaces.ProxylessSpace`)
holds, at each of the 21 searchable layers, every candidate of the space — MBConv with kernel
{3, 5, 7} x expand {3, 6}, and ``zero`` (the layer skipped, its identity shortcut kept) where the
space allows it — and one vector of architecture parameters ``α`` per layer. Architectures come
out in the space's own representation (a tuple of 21 choices such as ``"k5_e6"`` / ``"zero"``).
The supernet is the space's own (:meth:`~hwlat.spaces.SearchSpace.supernet`, here
:mod:`hwlat.spaces.proxyless_net`); as a strategy of ``hwlat search`` this is
:class:`hwlat.search.strategies.GradientSearch`.

**Latency is differentiable**: a :class:`LayerLatency` holds, for every layer and candidate, the
latency (ms) a :class:`~hwlat.predictors.LookupPredictor` assigns to it (its per-part tables:
overhead-free table medians, then the predictor's calibration ``a·S + b``), so
``E[LAT] = a·(base + Σ_l Σ_c p_lc·T_lc) + b`` is a smooth function of the path probabilities
``p_l = softmax(α_l)``. Any other predictor with ``predict_genes`` / ``predict`` is linearised
one layer at a time around a reference architecture (exact for additive predictors).

**Losses** (``E`` = expected latency in ms, ``T`` = the budget in ms, ``CE`` = cross-entropy):

* ``"mul-log"`` — ProxylessNAS's released code (``mul#log``): ``CE · α · (log E / log T)^β``,
  ``α = 1, β = 0.6``; needs ``T > 1 ms``. Note: ``(log E / log T)^β = (log E)^β / (log T)^β``, so
  ``T`` only rescales the loss; with Adam on ``α`` (scale-invariant, as in ProxylessNAS) the budget
  then has next to no effect on the search — the accuracy/latency trade-off is set by ``β``. For a
  sweep over budgets use ``"add-linear"`` (the default) or ``"fbnet"``.
* ``"add-linear"`` — ProxylessNAS's ``add#linear``: ``CE + λ · (E − T) / T``, ``λ = 0.2``.
* ``"fbnet"`` — FBNet's ``CE · α · (log LAT)^β`` (``α = 0.2, β = 0.6``, Wu et al., CVPR 2019) with
  the latency measured in units of ``T / e``, i.e. ``log(e·LAT/T) = 1 + log(LAT/T)``: FBNet's
  published loss has no budget, this puts one in (the factor is ``α`` at ``LAT = T``; it is
  clamped at 0.05 below ``T/e``).

Override the constants with ``loss_params={"alpha": ..., "beta": ..., "lambda": ...}``.

**Sampling**:

* ``"binary"`` (ProxylessNAS): weight steps run one path per layer drawn from ``softmax(α)``;
  architecture steps draw two paths per layer, gate one of them, and pass ``∂L/∂g`` to ``α``
  through the two renormalised probabilities (``g − p.detach() + p``: the forward value is the
  gated path, the gradient the paper's binary-gate estimate); after each update the two ``α``
  are shifted so the probability mass of the unsampled paths is unchanged, as in the released
  code. Expected latency uses the full ``softmax(α)``.
* ``"gumbel"`` (FBNet): in architecture steps every path runs, mixed by Gumbel-softmax weights
  whose temperature decays exponentially from ``tau[0]`` to ``tau[1]`` over the search; latency
  uses the same weights. Weight steps run one path per layer drawn from ``softmax(α)`` (FBNet
  trains the weights on the soft mixture; one path costs ~1/7 of it on a CPU).

With both samplings the first ``warmup_epochs`` train the weights alone (paths drawn uniformly).

Training runs for real on a small dataset: by default scikit-learn's bundled handwritten digits
(1,797 8x8 images, upsampled to ``input_size``, 3 channels), or a folder / array file the user
gives (see :func:`hwlat.search.data.load_dataset`). The data is split (seeded) 70 % for weights,
15 % for ``α``, 15 % held out for the reported accuracy. The supernet is narrow (``width_mult``, default 0.35)
and fed small images so that a search runs on a laptop CPU in a minute or two; by default the
candidates of a layer share weights (``shared_weights``), without which a few CPU epochs of
one-path-at-a-time training teach it nothing.

**Read the results plainly**: the latency of a derived architecture is that of the **full-size
network of the table's space** (e.g. width 1.0 at 224x224), while ``supernet_accuracy`` is the
top-1 of the **small supernet's** derived path, with inherited weights (batch-norm statistics
recalibrated), on the held-out part of the small dataset. It ranks candidates within one search;
it is not the accuracy the full network would reach on ImageNet.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hwlat._optional import import_optional
from hwlat._progress import progress_bar
from hwlat._torch import single_threaded
from hwlat.errors import InputError
from hwlat.search.data import load_dataset
from hwlat.search.layer_latency import LayerLatency, check_supernet, discretise, layer_latency

__all__ = ["LOSSES", "SAMPLINGS", "GradientResult", "LayerLatency", "layer_latency", "gradient_search", "sweep"]

log = logging.getLogger(__name__)

LOSSES = ("mul-log", "add-linear", "fbnet")
SAMPLINGS = ("binary", "gumbel")
_LOSS_DEFAULTS = {"mul-log": {"alpha": 1.0, "beta": 0.6}, "add-linear": {"lambda": 0.2},
                  "fbnet": {"alpha": 0.2, "beta": 0.6}}


def _torch() -> Any:
    return import_optional("torch", "gradient architecture search")


# -- results ----------------------------------------------------------------------------------------
@dataclass
class GradientResult:
    """The architecture a gradient search derived for one latency budget.

    ``expected_latency_ms``: ``E[LAT]`` under the final ``softmax(α)``; ``predicted_latency_ms``:
    the predictor's latency of the derived (argmax) architecture — both for the full-size network
    of the table's space. ``supernet_accuracy``: top-1 (0..1) of the derived path of the small
    supernet, inherited weights, on the held-out split of the search dataset (see the module doc).
    """

    arch: tuple[str, ...]
    arch_text: str
    budget_ms: float
    expected_latency_ms: float
    predicted_latency_ms: float
    supernet_accuracy: float
    history: list[dict[str, float]]
    probabilities: list[list[float]]
    loss: str
    sampling: str
    dataset: str
    seed: int
    epochs: int
    seconds: float
    accuracy_source: str = ""
    measured_latency_ms: float | None = None
    derive: str = "argmax"  # how the path was read off the probabilities ("budget": see hwlat.search.layer_latency)
    argmax_latency_ms: float | None = None  # each layer's most probable choice, for comparison

    @property
    def within_budget(self) -> bool:
        """True when the predicted latency of the derived architecture is within the budget."""
        return self.predicted_latency_ms <= self.budget_ms

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arch"] = list(self.arch)
        d["within_budget"] = self.within_budget
        return d

    def __repr__(self) -> str:
        return (f"GradientResult(budget={self.budget_ms:.2f} ms, predicted={self.predicted_latency_ms:.2f} ms, "
                f"expected={self.expected_latency_ms:.2f} ms, supernet_accuracy={self.supernet_accuracy:.3f}, "
                f"arch={self.arch_text!r})")


# -- the search -------------------------------------------------------------------------------------
def _check_args(loss: str, sampling: str, budget_ms: float, epochs: int, warmup_epochs: int | None,
                batch_size: int, width_mult: float, tau: tuple[float, float]) -> None:
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
    if sampling not in SAMPLINGS:
        raise InputError(f"unknown sampling {sampling!r}; choose from {', '.join(SAMPLINGS)}")
    if isinstance(budget_ms, bool) or not isinstance(budget_ms, (int, float)) or not math.isfinite(budget_ms) \
            or budget_ms <= 0:
        raise InputError(f"budget_ms must be a positive number of milliseconds, got {budget_ms!r}")
    if loss == "mul-log" and budget_ms <= 1.0:
        raise InputError(f"loss 'mul-log' uses log(E[LAT]) / log(budget) and needs a budget above 1 ms, got "
                         f"{budget_ms} ms; use loss='add-linear' for sub-millisecond budgets")
    for label, v, lo in (("epochs", epochs, 1), ("batch_size", batch_size, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InputError(f"{label} must be an integer >= {lo}, got {v!r}")
    if warmup_epochs is not None and (not isinstance(warmup_epochs, int) or not 0 <= warmup_epochs < epochs):
        raise InputError(f"warmup_epochs must be an integer in [0, epochs), got {warmup_epochs!r}")
    if not isinstance(width_mult, (int, float)) or width_mult <= 0:
        raise InputError(f"width_mult must be a positive number, got {width_mult!r}")
    if len(tau) != 2 or not all(t > 0 for t in tau):
        raise InputError(f"tau must be two positive temperatures (start, end), got {tau!r}")


def _reg_loss(torch: Any, ce: Any, e_ms: Any, loss: str, t_ms: float, p: dict[str, float]) -> Any:
    if loss == "mul-log":
        ratio = torch.log(e_ms.clamp_min(1.0 + 1e-6)) / math.log(t_ms)
        return p["alpha"] * ce * ratio.clamp_min(1e-3) ** p["beta"]
    if loss == "add-linear":
        return ce + p["lambda"] * (e_ms - t_ms) / t_ms
    factor = (1.0 + torch.log(e_ms / t_ms)).clamp_min(0.05)
    return p["alpha"] * ce * factor ** p["beta"]


@single_threaded
def gradient_search(space: Any, table_or_predictor: Any, budget_ms: float, *, loss: str = "add-linear",
                    sampling: str = "binary", dataset: Any = "digits", epochs: int = 8,
                    warmup_epochs: int | None = None, batch_size: int = 64, input_size: int = 32,
                    width_mult: float = 0.35, lr: float = 0.05, arch_lr: float = 0.05,
                    loss_params: dict[str, float] | None = None, tau: tuple[float, float] = (5.0, 0.5),
                    max_batches: int | None = None, shared_weights: bool = True, seed: int = 0, derive: str = "budget",
                    margin: float = 0.0,
                    progress: bool = False, _data: tuple[np.ndarray, np.ndarray, str] | None = None,
                    _latency: LayerLatency | None = None) -> GradientResult:
    """Search ``space`` (ProxylessNAS) for an architecture under ``budget_ms`` by gradient descent.

    Parameters
    ----------
    table_or_predictor:
        A :class:`~hwlat.latency_tables.LatencyTable` of the space's ops, a fitted
        :class:`~hwlat.predictors.LookupPredictor`, or any predictor (``predict_genes`` / ``predict`` in ms).
    budget_ms:
        The latency target ``T`` (ms) of the loss.
    loss, sampling:
        See the module doc (``"mul-log"`` / ``"add-linear"`` / ``"fbnet"``; ``"binary"`` / ``"gumbel"``).
    dataset:
        ``"digits"`` or a dataset path (see :func:`hwlat.search.data.load_dataset`).
    epochs, warmup_epochs:
        Passes over the weight split; the first ``warmup_epochs`` (default ``epochs // 4``) train
        weights only, on paths drawn uniformly.
    batch_size, input_size, width_mult:
        Minibatch size; image side (px); width multiplier of the supernet (not of the searched space).
    lr, arch_lr:
        SGD (momentum 0.9, cosine schedule) learning rate of the weights; Adam learning rate of ``α``
        (larger than the paper's 6e-3 because these searches are ~100x shorter).
    max_batches:
        Stop each epoch after this many batches (quick runs, tests).
    shared_weights:
        ``True`` (default): the MBConv candidates of a layer share one set of weights (kernel k is
        the centre of the 7x7 kernel, expand e the first channels; Single-Path NAS / Once-for-All
        style), which trains in the few CPU epochs a search has here. ``False``: separate weights
        per candidate, as in ProxylessNAS (needs far longer training to learn anything).
    seed:
        Seeds the data split, the weights, ``α`` and every path sample: same seed, same result.
    derive:
        ``"budget"`` (default): the most probable path within -10 %…0 % of the budget
        (:func:`~hwlat.search.layer_latency.discretise`); ``"argmax"``: each layer's most probable choice.
        ``margin``: with ``"budget"``, the path is predicted within ``budget_ms / (1 + margin)``.

    The search runs on one torch thread (the supernet is small; see
    :func:`hwlat._torch.single_threaded`).
    """
    torch = _torch()
    check_supernet(space)
    _check_args(loss, sampling, budget_ms, epochs, warmup_epochs, batch_size, width_mult, tau)
    if derive not in ("budget", "argmax"):
        raise InputError(f"derive must be 'budget' or 'argmax', got {derive!r}")
    params = dict(_LOSS_DEFAULTS[loss])
    for k, v in (loss_params or {}).items():
        if k not in params or not (isinstance(v, (int, float, np.number)) and math.isfinite(v) and v >= 0):
            raise InputError(f"loss {loss!r} takes parameters {', '.join(params)} (finite numbers >= 0), got {k}={v!r}")
        params[k] = float(v)
    t_start = time.perf_counter()
    lat = _latency or layer_latency(space, table_or_predictor)
    lo, _ = lat.bounds()
    if budget_ms < lo:
        raise InputError(f"no architecture of the {space.name} space runs within {budget_ms:g} ms: the least latency "
                         f"it can reach is {lo:.4g} ms; raise the budget to at least that")
    x_all, y_all, data_name = _data or load_dataset(dataset, input_size=input_size)
    n_classes = int(y_all.max()) + 1
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y_all))
    n_tr, n_ar = int(0.7 * len(perm)), int(0.15 * len(perm))
    tr, ar, te = perm[:n_tr], perm[n_tr:n_tr + n_ar], perm[n_tr + n_ar:]
    X, Y = torch.from_numpy(x_all), torch.from_numpy(y_all)

    cands = [space.choices(i) for i in range(space.n_layers)]
    net = space.supernet(num_classes=n_classes, input_size=input_size, width_mult=float(width_mult),
                         shared_weights=bool(shared_weights), seed=seed)
    gen = torch.Generator().manual_seed(int(seed))
    alphas = [torch.zeros(len(c), dtype=torch.float32, requires_grad=True) for c in cands]
    tables = [torch.from_numpy(t.astype(np.float32)) for t in lat.tables]

    def expected_latency(weights: Sequence[Any]) -> Any:
        s = sum((w * t).sum() for w, t in zip(weights, tables))
        return lat.scale * (lat.base_ms + s) + lat.offset_ms

    steps_per_epoch = max(1, math.ceil(len(tr) / batch_size))
    if max_batches is not None:
        steps_per_epoch = min(steps_per_epoch, int(max_batches))
    warm = epochs // 4 if warmup_epochs is None else warmup_epochs
    opt_w = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=4e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt_w, T_max=epochs * steps_per_epoch)
    opt_a = torch.optim.Adam(alphas, lr=arch_lr, betas=(0.0, 0.999), eps=1e-8)
    ce_fn = torch.nn.functional.cross_entropy
    total_arch_steps = max(1, (epochs - warm) * steps_per_epoch)
    arch_step = 0
    history: list[dict[str, float]] = []

    def gumbel(a: Any, t: float) -> Any:
        u = torch.rand(a.shape, generator=gen).clamp(1e-9, 1 - 1e-9)
        return torch.softmax((a - torch.log(-torch.log(u))) / t, dim=0)

    def tau_now() -> float:
        return float(tau[0] * (tau[1] / tau[0]) ** min(1.0, arch_step / total_arch_steps))

    bar = progress_bar(total=epochs * steps_per_epoch, unit="step", disable=not progress,
                       desc=f"{loss}/{sampling} T={budget_ms:g} ms")
    with bar:
        for epoch in range(epochs):
            t_ep = time.perf_counter()
            searching = epoch >= warm
            order = tr[rng.permutation(len(tr))]
            ar_order = ar[rng.permutation(len(ar))]
            ce_sum, arch_sum, n_b = 0.0, 0.0, 0
            for b in range(steps_per_epoch):
                idx = torch.from_numpy(order[b * batch_size:(b + 1) * batch_size])
                if idx.numel() < 2:
                    continue
                # weight step
                net.train()
                with torch.no_grad():  # one path per layer, drawn from softmax(α)
                    plan = [[(int(torch.multinomial(torch.softmax(a, 0), 1, generator=gen)), None)] for a in alphas]
                opt_w.zero_grad(set_to_none=True)
                ce = ce_fn(net(X[idx], plan), Y[idx])
                ce.backward()
                opt_w.step()
                sched.step()
                ce_sum += float(ce.detach())
                n_b += 1
                # architecture step
                if searching:
                    j0 = (b * batch_size) % max(1, len(ar_order))
                    aidx = torch.from_numpy(np.resize(np.roll(ar_order, -j0), min(batch_size, len(ar_order))))
                    opt_a.zero_grad(set_to_none=True)
                    for w in net.parameters():  # the arch step updates α only
                        w.requires_grad_(False)
                    picked = []
                    if sampling == "binary":
                        plan = []
                        for a in alphas:
                            with torch.no_grad():
                                pair = torch.multinomial(torch.softmax(a, 0), 2, replacement=False, generator=gen)
                            p2 = torch.softmax(a[pair], 0)
                            with torch.no_grad():
                                active = int(torch.multinomial(p2.detach(), 1, generator=gen))
                            gate = torch.zeros(2)
                            gate[active] = 1.0
                            w2 = gate - p2.detach() + p2
                            plan.append([(int(pair[0]), w2[0]), (int(pair[1]), w2[1])])
                            picked.append(pair)
                        e_ms = expected_latency([torch.softmax(a, 0) for a in alphas])
                    else:
                        ws = [gumbel(a, tau_now()) for a in alphas]
                        plan = [[(i, w[i]) for i in range(len(w))] for w in ws]
                        e_ms = expected_latency(ws)
                    ce_a = ce_fn(net(X[aidx], plan), Y[aidx])
                    total = _reg_loss(torch, ce_a, e_ms, loss, float(budget_ms), params)
                    old = [a.detach().clone() for a in alphas]
                    total.backward()
                    opt_a.step()
                    for w in net.parameters():
                        w.requires_grad_(True)
                    if sampling == "binary":  # keep the unsampled paths' probability mass (released code)
                        with torch.no_grad():
                            for a, o, pair in zip(alphas, old, picked):
                                shift = torch.logsumexp(a[pair], 0) - torch.logsumexp(o[pair], 0)
                                a[pair] -= shift
                    arch_sum += float(total.detach())
                    arch_step += 1
                bar.update(1)
            probs = [torch.softmax(a.detach(), 0) for a in alphas]
            derived = [int(p.argmax()) for p in probs]
            history.append({
                "epoch": epoch + 1,
                "searching": float(searching),
                "train_ce": ce_sum / max(n_b, 1),
                "arch_loss": arch_sum / max(n_b, 1) if searching else float("nan"),
                "expected_latency_ms": float(expected_latency(probs)),
                "derived_latency_ms": lat.latency(derived),
                "mean_entropy": float(np.mean([float(-(p * p.clamp_min(1e-12).log()).sum()) for p in probs])),
                "tau": tau_now() if sampling == "gumbel" else float("nan"),
                "seconds": time.perf_counter() - t_ep,
            })
            log.info("epoch %d: %s", epoch + 1, history[-1])
    probs = [torch.softmax(a.detach(), 0) for a in alphas]
    # the most probable path within -10 %...0 % of the budget, not each layer's argmax
    cut = discretise([p.numpy() for p in probs], lat, float(budget_ms), margin=margin) if derive == "budget" else None
    derived = cut.choices if cut is not None else [int(p.argmax()) for p in probs]
    arch = tuple(space.choices(i)[c] for i, c in enumerate(derived))
    fixed = [[(c, None)] for c in derived]
    acc, history[-1]["val_accuracy"] = _subnet_accuracy(torch, net, fixed, X[tr], [(X[te], Y[te]), (X[ar], Y[ar])],
                                                        batch_size)
    predicted = lat.latency(derived)
    if lat.predictor is not None and not (callable(getattr(lat.predictor, "layer_tables", None))
                                          and lat.predictor.layer_tables() is not None):
        predicted = float(np.asarray(lat.predictor.predict([arch]))[0])
    return GradientResult(
        arch=arch, arch_text=space.encode(arch), budget_ms=float(budget_ms),
        expected_latency_ms=float(expected_latency(probs)), predicted_latency_ms=float(predicted),
        supernet_accuracy=acc, history=history, probabilities=[p.tolist() for p in probs], loss=loss,
        sampling=sampling, dataset=data_name, seed=int(seed), epochs=epochs,
        seconds=time.perf_counter() - t_start, derive=derive,
        argmax_latency_ms=lat.latency([int(p.argmax()) for p in probs]),
        accuracy_source=(f"supernet:{data_name} (derived path of a width-{width_mult:g} supernet at "
                         f"{input_size}x{input_size}, inherited weights, held-out split)"),
    )


def _subnet_accuracy(torch: Any, net: Any, plan: Any, x_cal: Any, evals: Sequence[tuple[Any, Any]],
                     batch_size: int, n_cal: int = 512) -> list[float]:
    """Top-1 of ``net`` on ``plan`` for each ``(x, y)`` of ``evals``, after recalibrating the
    batch-norm statistics on the first ``n_cal`` images of ``x_cal`` (the model is left as it was)."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    out = []
    with torch.no_grad():
        net.train()
        step = max(batch_size, 32)
        for i in range(0, min(len(x_cal), n_cal), step):
            net(x_cal[i:i + step], plan)
        net.eval()
        for x, y in evals:
            correct = sum(int((net(x[i:i + 256], plan).argmax(1) == y[i:i + 256]).sum()) for i in range(0, len(x), 256))
            out.append(correct / max(1, len(x)))
    net.train()
    for m, (mom, mean, var, nbt) in zip(bns, saved):
        m.momentum = mom
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
        m.num_batches_tracked.copy_(nbt)
    return out


def sweep(space: Any, table_or_predictor: Any, budgets: Sequence[float], *, dataset: Any = "digits",
          input_size: int = 32, progress: bool = False,
          on_result: Callable[[GradientResult], object] | None = None, **kw: Any) -> list[GradientResult]:
    """One :func:`gradient_search` per budget (ms), same seed and data, data and latency model prepared
    once (``kw`` goes to it); ``on_result`` gets each budget's result as soon as it is done."""
    budgets = [float(b) for b in budgets]
    if not budgets:
        raise InputError("sweep needs at least one budget (ms)")
    lat = layer_latency(space, table_or_predictor)
    data = load_dataset(dataset, input_size=input_size)
    out = []
    for b in budgets:
        r = gradient_search(space, table_or_predictor, b, dataset=dataset, input_size=input_size, progress=progress,
                            _data=data, _latency=lat, **kw)
        log.info("budget %.3f ms: %r", b, r)
        out.append(r)
        if on_result is not None:
            on_result(r)
    return out
