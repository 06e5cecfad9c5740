"""Zero-cost proxies computed live: NASWOT and synflow scores of untrained networks.

A zero-cost proxy scores a freshly initialised network from one minibatch, without training.
Its value is a **proxy** for accuracy — a score whose *ranking* of architectures correlates with
the ranking by trained accuracy — never an accuracy itself; hwlat labels it ``proxy:<name>``.

The networks scored are real trainable PyTorch networks in train mode, with batch norm and
PyTorch's default initialisation (seeded), not the BN-folded inference graphs of
:meth:`~hwlat.spaces.SearchSpace.build`:

* **NAS-Bench-201**: the benchmark's own network (``TinyNetwork`` of Dong & Yang, ICLR 2020):
  stem conv 3x3 + BN; 3 stages of ``cells_per_stage`` cells at C, 2C, 4C channels with a ResNet
  basic block (stride 2, AvgPool+1x1 shortcut) between stages; BN + ReLU; global average pooling;
  linear classifier. Cell edges: ReLU-Conv-BN (1x1, 3x3), avg-pool 3x3 (``count_include_pad=False``),
  identity, and ``none`` = ``x * 0`` as in the benchmark's code. The space's ``channels``,
  ``cells_per_stage``, ``num_classes`` and ``input_size`` are followed.
* **ProxylessNAS**: the MobileNetV2 network of the arch (see
  :func:`hwlat.search.gradient.build_proxyless_net`) at the space's width and resolution.

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
from typing import Any

import numpy as np

from hwlat._optional import import_optional
from hwlat.errors import InputError
from hwlat.search._torch import seeded, single_threaded

__all__ = ["PROXIES", "ProxyAccuracy", "build_nb201_net", "naswot_score", "synflow_score", "proxy_inputs",
           "proxy_net"]

log = logging.getLogger(__name__)

#: the zero-cost proxies hwlat computes (higher is better for each)
PROXIES = ("naswot", "synflow")
_DATA = ("gaussian", "digits")


def _torch() -> Any:
    return import_optional("torch", "zero-cost proxies")


# -- NAS-Bench-201 network --------------------------------------------------------------------------
def _nb201_classes() -> dict[str, type]:
    """The NB201 torch modules (built on first use: torch is imported lazily)."""
    if _NB201_CLASSES:
        return _NB201_CLASSES
    torch = _torch()
    nn = torch.nn

    def norm(c: int, bn: bool) -> nn.Module:
        return nn.BatchNorm2d(c) if bn else nn.Identity()

    class ReLUConvBN(nn.Sequential):
        """ReLU, conv (no bias), BN: NB201's ``nor_conv`` edges and the reduction block's convs."""

        def __init__(self, cin: int, cout: int, k: int, stride: int, bn: bool) -> None:
            super().__init__(nn.ReLU(inplace=False),
                             nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
                             norm(cout, bn))

    class Zero(nn.Module):
        """NB201's ``none`` edge: ``x * 0`` (kept in the autograd graph, as in the benchmark code)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mul(0.0)

    class Cell(nn.Module):
        """The 4-node cell; node j is the sum of the edges from every earlier node."""

        def __init__(self, arch: Sequence[str], c: int, bn: bool) -> None:
            super().__init__()
            from hwlat.spaces.nb201 import EDGES

            self.edges = [(dst, src) for dst, src in EDGES]
            ops = []
            for op in arch:
                if op == "nor_conv_1x1":
                    ops.append(ReLUConvBN(c, c, 1, 1, bn))
                elif op == "nor_conv_3x3":
                    ops.append(ReLUConvBN(c, c, 3, 1, bn))
                elif op == "avg_pool_3x3":
                    ops.append(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False))
                elif op == "skip_connect":
                    ops.append(nn.Identity())
                else:
                    ops.append(Zero())
            self.ops = nn.ModuleList(ops)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            nodes = [x]
            for j in (1, 2, 3):
                s = None
                for e, (dst, src) in enumerate(self.edges):
                    if dst == j:
                        y = self.ops[e](nodes[src])
                        s = y if s is None else s + y
                nodes.append(s)
            return nodes[3]

    class ResBlock(nn.Module):
        """NB201's reduction: ReLUConvBN 3x3 s2, ReLUConvBN 3x3, shortcut AvgPool 2x2 + conv 1x1."""

        def __init__(self, cin: int, cout: int, bn: bool) -> None:
            super().__init__()
            self.conv_a = ReLUConvBN(cin, cout, 3, 2, bn)
            self.conv_b = ReLUConvBN(cout, cout, 3, 1, bn)
            self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.downsample(x) + self.conv_b(self.conv_a(x))

    class NB201Net(nn.Module):
        """NAS-Bench-201's network of one cell architecture (train mode, BN optional)."""

        def __init__(self, arch: Sequence[str], c: int = 16, n: int = 5, num_classes: int = 10,
                     bn: bool = True) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), norm(c, bn))
            layers: list[nn.Module] = []
            cin = c
            for i, width in enumerate((c, 2 * c, 4 * c)):
                if i > 0:
                    layers.append(ResBlock(cin, width, bn))
                layers += [Cell(arch, width, bn) for _ in range(n)]
                cin = width
            self.cells = nn.Sequential(*layers)
            self.lastact = nn.Sequential(norm(cin, bn), nn.ReLU(inplace=False))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(cin, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.lastact(self.cells(self.stem(x)))
            return self.classifier(torch.flatten(self.pool(x), 1))

    for cls in (ReLUConvBN, Zero, Cell, ResBlock, NB201Net):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
        _NB201_CLASSES[cls.__name__] = cls
    return _NB201_CLASSES


_NB201_CLASSES: dict[str, type] = {}


def build_nb201_net(arch: Sequence[str], *, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
                    bn: bool = True, seed: int = 0) -> Any:
    """The trainable NAS-Bench-201 network of ``arch`` (6 op names), PyTorch default init from ``seed``.

    ``bn=False`` builds the same network without batch norm (same weights for the same seed).
    """
    cls = _nb201_classes()["NB201Net"]
    return seeded(seed, lambda: cls(tuple(arch), channels, cells_per_stage, num_classes, bn)).train()


def proxy_net(space: Any, arch: Any, *, bn: bool = True, seed: int = 0) -> Any:
    """The trainable network of ``arch`` in ``space`` that proxies score (train mode)."""
    space.validate(arch)
    if space.name == "nb201":
        return build_nb201_net(arch, channels=space.channels, cells_per_stage=space.cells_per_stage,
                               num_classes=space.num_classes, bn=bn, seed=seed)
    if space.name == "proxyless":
        from hwlat.search.gradient import build_proxyless_net

        return build_proxyless_net(space, arch, bn=bn, seed=seed).train()
    raise InputError(f"zero-cost proxies support the 'nb201' and 'proxyless' spaces, not {space.name!r}; "
                     "score other spaces with an accuracy predictor or a user callable")


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
        A search space (``nb201`` or ``proxyless``).
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

    def __init__(self, space: Any, name: str = "naswot", *, batch_size: int = 128, seed: int = 0,
                 data: str = "gaussian") -> None:
        if name not in PROXIES:
            raise InputError(f"unknown zero-cost proxy {name!r}; choose from {', '.join(PROXIES)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
            raise InputError(f"batch_size must be an integer >= 2, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        if data not in _DATA:
            raise InputError(f"data must be one of {', '.join(_DATA)}, got {data!r}")
        if getattr(space, "name", None) not in ("nb201", "proxyless"):
            raise InputError(f"zero-cost proxies support the 'nb201' and 'proxyless' spaces, "
                             f"not {getattr(space, 'name', space)!r}")
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

    def score(self, arch: Any) -> float:
        """The proxy value of one architecture (cached)."""
        key = self.space.encode(arch)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if self.proxy == "naswot":
            v = naswot_score(proxy_net(self.space, arch, seed=self.seed), self._inputs(arch))
        else:
            v = synflow_score(proxy_net(self.space, arch, bn=False, seed=self.seed), self.space.input_shape(arch))
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
