"""The trainable ProxylessNAS MobileNetV2 networks (torch, imported lazily): one architecture's
network, what zero-cost proxies score, and the supernet gradient search trains.

:class:`MBConv` is an inverted bottleneck; :class:`SharedMBConv` runs every MBConv candidate of a
layer on one set of weights (Single-Path NAS / Once-for-All style); ``ProxylessSupernet`` holds a
list of candidates per searchable layer and runs the weighted paths of a plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from hwlat._optional import import_optional
from hwlat._torch import seeded
from hwlat.errors import InputError
from hwlat.ops.spec import make_divisible
from hwlat.spaces.proxyless import STRIDES, ProxylessSpace

__all__ = ["build_proxyless_net", "build_proxyless_supernet"]


def _torch() -> Any:
    return import_optional("torch", "the ProxylessNAS torch network")


_CLASSES: dict[str, type] = {}


def _classes() -> dict[str, type]:
    if _CLASSES:
        return _CLASSES
    _torch()  # MissingDependencyError, naming the extra to install, when torch is missing
    import torch
    from torch import nn

    def norm(c: int, bn: bool) -> nn.Module:
        return nn.BatchNorm2d(c) if bn else nn.Identity()

    class MBConv(nn.Module):
        """Inverted bottleneck: 1x1 expand + BN + ReLU6 (when ``mid != cin``), kxk depthwise + BN + ReLU6,
        1x1 project + BN. The residual is added by the caller."""

        def __init__(self, cin: int, cout: int, k: int, stride: int, mid: int, bn: bool = True) -> None:
            super().__init__()
            self.expand = None
            if mid != cin:
                self.expand = nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), norm(mid, bn), nn.ReLU6())
            self.depthwise = nn.Sequential(nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False),
                                           norm(mid, bn), nn.ReLU6())
            self.project = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), norm(cout, bn))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.expand is not None:
                x = self.expand(x)
            return self.project(self.depthwise(x))

    F = torch.nn.functional

    def sliced_bn(h: torch.Tensor, bn: nn.BatchNorm2d, c: int) -> torch.Tensor:
        """Batch norm over the first ``c`` channels of ``bn`` (its running statistics updated in place)."""
        # running statistics are tracked (nn.BatchNorm2d's default, kept by every caller here)
        assert bn.running_mean is not None and bn.running_var is not None and bn.num_batches_tracked is not None
        mom = 0.0
        if bn.training:
            bn.num_batches_tracked.add_(1)
            mom = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        return F.batch_norm(h, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c],
                            bn.training, mom, bn.eps)

    class SharedMBConv(nn.Module):
        """Every MBConv candidate of a layer on one set of weights (Single-Path NAS / Once-for-All
        style): kernel k uses the centre k x k of a 7 x 7 depthwise kernel, expand ratio e the first
        ``make_divisible(round(cin*e), 8)`` channels; batch norm is sliced likewise."""

        def __init__(self, cin: int, cout: int, stride: int, kes: Sequence[tuple[int, int]]) -> None:
            super().__init__()
            self.cin, self.stride = cin, stride
            self.kmax = max(k for k, _ in kes)
            self.mids = {e: make_divisible(round(cin * e), 8) for _, e in kes}
            mid = max(self.mids.values())
            self.expand = nn.Conv2d(cin, mid, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(mid)
            self.depthwise = nn.Conv2d(mid, mid, self.kmax, groups=mid, bias=False)
            self.bn2 = nn.BatchNorm2d(mid)
            self.project = nn.Conv2d(mid, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)

        def forward(self, x: torch.Tensor, k: int, e: int) -> torch.Tensor:
            mid = self.mids[e]
            h = F.relu6(sliced_bn(F.conv2d(x, self.expand.weight[:mid]), self.bn1, mid))
            off = (self.kmax - k) // 2
            w = self.depthwise.weight[:mid, :, off:off + k, off:off + k]
            h = F.relu6(sliced_bn(F.conv2d(h, w, None, self.stride, k // 2, 1, mid), self.bn2, mid))
            return sliced_bn(F.conv2d(h, self.project.weight[:, :mid]), self.bn3, self.project.out_channels)

    class ProxylessSupernet(nn.Module):
        """The ProxylessNAS network with a list of candidates per searchable layer.

        ``forward(x, plan)``: ``plan[l]`` lists ``(candidate index, weight or None)`` of layer
        ``l``; the layer outputs the weighted sum of those candidates (``zero`` adds nothing), plus
        its input when the layer has a residual. Without a plan every layer runs its first candidate.
        ``shared=True`` puts the MBConv candidates of a layer on one set of weights (:class:`SharedMBConv`);
        ``shared=False`` gives each its own (ProxylessNAS).
        """

        def __init__(self, space: ProxylessSpace, candidates: Sequence[Sequence[str]], num_classes: int,
                     last_channel: int, bn: bool = True, shared: bool = False) -> None:
            super().__init__()
            c0, c1 = space.first_width, space.first_block_width
            self.first = nn.Sequential(nn.Conv2d(3, c0, 3, 2, 1, bias=False), norm(c0, bn), nn.ReLU6())
            self.first_block = MBConv(c0, c1, 3, 1, c0, bn)
            self.candidates = [tuple(c) for c in candidates]
            self.shared = bool(shared)
            self.layers = nn.ModuleList()
            self.residual: list[bool] = []
            self.kes: list[list[tuple[int, int] | None]] = []
            cin = c1
            for (i, j), choices in zip(space.layers, self.candidates):
                cout = space.stage_widths[i]
                stride = STRIDES[i] if j == 0 else 1
                # a candidate is "zero" or "k{K}_e{E}": a (kernel, expand ratio) pair
                kes = [None if ch == "zero" else cast("tuple[int, int]", tuple(int(v) for v in ch[1:].split("_e")))
                       for ch in choices]
                if self.shared:
                    ops = nn.ModuleList([SharedMBConv(cin, cout, stride, [ke for ke in kes if ke is not None])])
                else:
                    ops = nn.ModuleList(nn.Identity() if ke is None else
                                        MBConv(cin, cout, ke[0], stride, make_divisible(round(cin * ke[1]), 8), bn)
                                        for ke in kes)
                self.layers.append(ops)
                self.kes.append(kes)
                self.residual.append(j > 0)
                cin = cout
            self.mix = nn.Sequential(nn.Conv2d(cin, last_channel, 1, bias=False), norm(last_channel, bn), nn.ReLU6())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(last_channel, num_classes)

        def forward(self, x: torch.Tensor, plan: Sequence[Sequence[tuple[int, Any]]] | None = None) -> torch.Tensor:
            x = self.first_block(self.first(x))
            for layer, ops in enumerate(cast("Iterable[nn.ModuleList]", self.layers)):
                steps = plan[layer] if plan is not None else ((0, None),)
                y = None
                for idx, w in steps:
                    ke = self.kes[layer][idx]
                    if ke is None:  # zero
                        continue
                    o = ops[0](x, *ke) if self.shared else ops[idx](x)
                    if w is not None:
                        o = o * w
                    y = o if y is None else y + o
                if self.residual[layer]:
                    x = x if y is None else x + y
                else:
                    assert y is not None, "the first layer of a stage cannot be zero"
                    x = y
            x = self.mix(x)
            return self.classifier(torch.flatten(self.pool(x), 1))

    for cls in (MBConv, SharedMBConv, ProxylessSupernet):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
        _CLASSES[cls.__name__] = cls
    return _CLASSES



def build_proxyless_net(space: ProxylessSpace, arch: Sequence[str], *, bn: bool = True, seed: int = 0,
                        num_classes: int | None = None) -> Any:
    """The trainable torch network of one ProxylessNAS ``arch`` (a tuple of choices) at ``space``'s
    width (PyTorch default init from ``seed``; ``bn=False`` drops batch norm, same weights)."""
    cls = _classes()["ProxylessSupernet"]
    nc = space.num_classes if num_classes is None else int(num_classes)
    return seeded(seed, lambda: cls(space, [(c,) for c in arch], nc, space.last_channel, bn))


def build_proxyless_supernet(space: ProxylessSpace, *, num_classes: int, input_size: int, width_mult: float,
                             shared_weights: bool = True, seed: int = 0) -> Any:
    """The gradient-search supernet of ``space``: every choice of each of its layers, on a copy of
    the space at ``width_mult`` and ``input_size`` px (at least 32), seeded."""
    small = type(space)(width_mult=float(width_mult), num_classes=num_classes, resolution=max(32, input_size))
    cands = [space.choices(i) for i in range(space.n_layers)]
    if any(tuple(small.choices(i)) != tuple(c) for i, c in enumerate(cands)):
        raise InputError("the space's layer choices differ from the ProxylessNAS supernet's")
    cls = _classes()["ProxylessSupernet"]
    return seeded(seed, lambda: cls(small, cands, num_classes, make_divisible(1280 * width_mult, 8), True,
                                    bool(shared_weights)))
