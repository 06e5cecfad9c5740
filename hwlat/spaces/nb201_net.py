"""The trainable NAS-Bench-201 network (torch, imported lazily): what zero-cost proxies score.

The benchmark's own network (``TinyNetwork`` of Dong & Yang, ICLR 2020): stem conv 3x3 + BN; 3
stages of ``cells_per_stage`` cells at C, 2C, 4C channels with a ResNet basic block (stride 2,
AvgPool+1x1 shortcut) between stages; BN + ReLU; global average pooling; linear classifier. Cell
edges: ReLU-Conv-BN (1x1, 3x3), avg-pool 3x3 (``count_include_pad=False``), identity, and
``none`` = ``x * 0`` as in the benchmark's code. Batch norm is optional (same weights without it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwlat._optional import import_optional
from hwlat._torch import seeded
from hwlat.spaces.nb201 import EDGES

__all__ = ["build_nb201_net"]


def _torch() -> Any:
    return import_optional("torch", "the NAS-Bench-201 torch network")


def _nb201_classes() -> dict[str, type]:
    """The NB201 torch modules (built on first use: torch is imported lazily)."""
    if _NB201_CLASSES:
        return _NB201_CLASSES
    _torch()  # MissingDependencyError, naming the extra to install, when torch is missing
    import torch
    from torch import nn

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
            self.edges = [(dst, src) for dst, src in EDGES]
            ops: list[nn.Module] = []
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
                assert s is not None  # every node has an edge into it
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

