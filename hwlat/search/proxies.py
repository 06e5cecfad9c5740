"""Zero-cost proxies computed live: NASWOT and synflow scores of untrained networks.

A zero-cost proxy scores a freshly initialised network from one minibatch, without training.
Its value is a **proxy** for accuracy — a score whose *ranking* of architectures correlates with
the ranking by trained accuracy — never an accuracy itself; hwlat labels it ``proxy:<name>``.

The networks scored are real trainable PyTorch networks in train mode, with batch norm and
PyTorch's default initialisation (seeded), not the BN-folded inference graphs of
:meth:`~hwlat.spaces.SearchSpace.build`: each space's own
:meth:`~hwlat.spaces.SearchSpace.torch_net` (NAS-Bench-201: the benchmark's ``TinyNetwork``, see
:mod:`hwlat.spaces.nb201_net`; ProxylessNAS: the MobileNetV2 network of the arch at the space's
width and resolution, see :mod:`hwlat.spaces.proxyless_net`). Any space with a torch network
can be scored.

Proxies:

* ``naswot`` (Mellor et al., "Neural Architecture Search without Training", ICML 2021): every
  ReLU's input over a minibatch gives each image a binary code (unit active or not); the kernel
  ``K[i, j]`` counts the units on which images ``i`` and ``j`` agree (``N_A`` minus the Hamming
  distance), summed over all ReLUs; the score is ``log|det K|``. As in the reference code
  (BayesWatch/nas-without-training) only ReLUs reached by the backward pass count — in these
  networks every ReLU is (``none`` edges multiply by zero but stay in the graph), so the backward
  pass is skipped.
* ``synflow`` (Tanaka et al., NeurIPS 2020, as a NAS proxy in Abdelfattah et al., "Zero-Cost
  Proxies for Lightweight NAS", ICLR 2021): ``sum |θ ⊙ ∂R/∂θ|`` over the weights of every
  convolution and linear layer, where every parameter is replaced by its absolute value, the input
  is a single all-ones image, ``R`` is the sum of the outputs, computed in float64. As in the
  reference code (SamsungLabs/zero-cost-nas, ``synflow`` with ``bn=False``) the network is scored
  **without its batch-norm layers** (they are identities), from the same initial weights.

Inputs for NASWOT (synflow needs none): ``data="gaussian"`` — seeded standard-normal images of the
network's input size (the default; needs no dataset) — or ``data="digits"`` — scikit-learn's
bundled 8x8 handwritten digits upsampled (bilinear) to the input size, 3 channels, standardised.
Published NASWOT numbers use CIFAR-10 images; neither input here is CIFAR-10.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat._optional import import_optional
from hwlat._torch import single_threaded
from hwlat.errors import InputError

if TYPE_CHECKING:
    from hwlat.spaces import SearchSpace

__all__ = ["PROXIES", "ProxyAccuracy", "naswot_score", "synflow_score", "proxy_inputs", "from_text"]

log = logging.getLogger(__name__)

#: the zero-cost proxies hwlat computes (higher is better for each)
PROXIES = ("naswot", "synflow")
_DATA = ("gaussian", "digits")


def _torch() -> Any:
    return import_optional("torch", "zero-cost proxies")


# -- inputs -------------------------------------------------------------------------------------------
def proxy_inputs(data: str, batch_size: int, input_shape: tuple[int, int, int], seed: int = 0) -> Any:
    """A float32 batch ``(batch_size, C, H, W)`` of ``data`` ("gaussian" or "digits"), seeded."""
    torch = _torch()
    if data not in _DATA:
        raise InputError(f"proxy input data must be one of {', '.join(_DATA)}, got {data!r}")
    c, h, w = input_shape
    rng = np.random.default_rng(seed)
    if data == "gaussian":
        return torch.from_numpy(rng.standard_normal((batch_size, c, h, w)).astype(np.float32))
    from sklearn.datasets import load_digits

    digits = load_digits()
    idx = rng.choice(len(digits.images), size=batch_size, replace=batch_size > len(digits.images))
    x = torch.from_numpy(digits.images[idx].astype(np.float32) / 16.0)[:, None]
    x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    x = (x - x.mean()) / x.std().clamp_min(1e-6)
    return x.expand(-1, c, -1, -1).contiguous()


# -- the proxies --------------------------------------------------------------------------------------
def naswot_score(net: Any, x: Any) -> float:
    """NASWOT: ``log|det K|`` of the ReLU-code kernel of ``net`` over the batch ``x`` (higher is better).

    ``K = sum over ReLUs of (c c^T + (1-c)(1-c)^T)`` with ``c`` the 0/1 code of each image
    (ReLU input > 0), accumulated in float64. Every ReLU module of ``net`` is counted.
    """
    torch = _torch()
    n = int(x.shape[0])
    if n < 2:
        raise InputError(f"NASWOT needs a batch of at least 2 images, got {n}")
    k = torch.zeros((n, n), dtype=torch.float64)

    def hook(_module: Any, inputs: tuple[Any, ...], _out: Any) -> None:
        nonlocal k
        c = (inputs[0].detach().reshape(n, -1) > 0).to(torch.float32)
        k += (c @ c.t() + (1.0 - c) @ (1.0 - c).t()).to(torch.float64)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (torch.nn.ReLU, torch.nn.ReLU6))]
    if not handles:
        raise InputError("NASWOT needs a network with ReLU activations; this one has none")
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    _sign, logdet = np.linalg.slogdet(k.numpy())
    return float(logdet)


def synflow_score(net: Any, input_shape: tuple[int, int, int]) -> float:
    """synflow: ``sum |θ ⊙ ∂R/∂θ|`` over conv and linear weights, all parameters made non-negative,
    an all-ones input, float64 (higher is better). ``net`` is modified (abs, float64): pass a copy."""
    torch = _torch()
    nn = torch.nn
    net = net.double()
    with torch.no_grad():
        for p in net.state_dict().values():
            if p.is_floating_point():
                p.abs_()
    net.zero_grad(set_to_none=True)
    x = torch.ones((1, *input_shape), dtype=torch.float64)
    torch.sum(net(x)).backward()
    total = 0.0
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None:
            total += float((m.weight.detach() * m.weight.grad).abs().sum())
    return total


# -- accuracy source ----------------------------------------------------------------------------------
class ProxyAccuracy:
    """A zero-cost proxy as an accuracy source for search (``kind = "proxy"``; higher is better).

    Parameters
    ----------
    space:
        A search space with a trainable torch network (:attr:`~hwlat.spaces.SearchSpace.has_torch_net`:
        ``nb201``, ``proxyless``).
    name:
        ``"naswot"`` or ``"synflow"``.
    batch_size:
        NASWOT minibatch size (the paper uses 128); synflow always uses one all-ones image.
    seed:
        Seeds the network initialisation and the input batch; the same seed gives the same scores.
    data:
        NASWOT input: ``"gaussian"`` (seeded noise images) or ``"digits"`` (scikit-learn digits,
        upsampled).

    Scores are cached per architecture (by its text form). They are proxies, not accuracies:
    compare them with each other, never with accuracies in %.
    """

    kind = "proxy"

    def __init__(self, space: SearchSpace, name: str = "naswot", *, batch_size: int = 128, seed: int = 0,
                 data: str = "gaussian") -> None:
        if name not in PROXIES:
            raise InputError(f"unknown zero-cost proxy {name!r}; choose from {', '.join(PROXIES)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
            raise InputError(f"batch_size must be an integer >= 2, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        if data not in _DATA:
            raise InputError(f"data must be one of {', '.join(_DATA)}, got {data!r}")
        if not getattr(space, "has_torch_net", False):
            raise InputError(f"zero-cost proxies score a space's trainable torch network (nb201 and proxyless have "
                             f"one), and the {getattr(space, 'name', space)!r} space has none; score it with an "
                             "accuracy predictor or a user callable")
        self.space = space
        self.proxy = name
        self.batch_size = batch_size
        self.seed = int(seed)
        self.data = data
        self._cache: dict[str, float] = {}
        self._x: Any = None

    @property
    def name(self) -> str:
        """The source's label in outputs, e.g. ``proxy:naswot``."""
        return f"proxy:{self.proxy}"

    def describe(self) -> str:
        extra = f", batch {self.batch_size} of {self.data} images" if self.proxy == "naswot" else ", all-ones input"
        return (f"zero-cost proxy {self.proxy} (a score, not an accuracy) of the untrained "
                f"{self.space.name} network, seed {self.seed}{extra}")

    def _inputs(self, arch: Any) -> Any:
        if self._x is None:
            self._x = proxy_inputs(self.data, self.batch_size, self.space.input_shape(arch), seed=self.seed)
        return self._x

    def _net(self, arch: Any, *, bn: bool) -> Any:
        self.space.validate(arch)
        return self.space.torch_net(arch, bn=bn, seed=self.seed).train()

    def score(self, arch: Any) -> float:
        """The proxy value of one architecture (cached)."""
        key = self.space.encode(arch)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if self.proxy == "naswot":
            v = naswot_score(self._net(arch, bn=True), self._inputs(arch))
        else:
            v = synflow_score(self._net(arch, bn=False), self.space.input_shape(arch))
        if not math.isfinite(v):
            log.debug("%s of %s is %s", self.proxy, key, v)
        self._cache[key] = v
        return v

    @single_threaded
    def evaluate(self, archs: Sequence[Any]) -> np.ndarray:
        """Proxy values (float64, higher is better) of ``archs``, scored on one torch thread."""
        return np.array([self.score(a) for a in archs], dtype=np.float64)

    def evaluate_genes(self, genes: np.ndarray) -> np.ndarray:
        """Proxy values of the architectures of gene rows ``(n, n_genes)``."""
        g = np.asarray(genes)
        if g.ndim != 2:
            raise InputError(f"genes must be a 2-D integer array (n, n_genes), got shape {g.shape}")
        return self.evaluate([self.space.from_genes(row) for row in g])

    def __repr__(self) -> str:
        return (f"ProxyAccuracy(space={self.space.name!r}, name={self.proxy!r}, batch_size={self.batch_size}, "
                f"seed={self.seed}, data={self.data!r}, cached={len(self._cache)})")


def from_text(rest: str, space: SearchSpace, **kw: Any) -> ProxyAccuracy:
    """The source of ``proxy:NAME`` (``rest`` is the proxy's name); ``kw`` go to :class:`ProxyAccuracy`."""
    name = rest.strip()
    if not name:
        raise InputError("proxy: needs a proxy name, e.g. proxy:naswot")
    return ProxyAccuracy(space, name=name.lower(), **kw)
