"""ProxylessNAS MobileNetV2 search space (Cai et al., ICLR 2019), the mobile setting.

The network: first conv 3x3 stride 2 to 32 channels (ReLU6); a first MBConv 32->16 without
expansion; six stages of widths 24, 40, 80, 96, 192, 320 with 4, 4, 4, 4, 4, 1 layers and
strides 2, 2, 2, 1, 2, 1; a 1x1 feature-mix conv to 1280 (ReLU6); global pooling and a linear
classifier (one ``fc`` op on the 7x7 map, pooling included). Every layer picks a kernel size
{3, 5, 7} and expand ratio {3, 6} (``mid = make_divisible(round(cin*e), 8)``), and every layer but
the first of its stage may instead be ``zero``: skipped, leaving its identity shortcut, which
computes nothing and is not listed by :meth:`ProxylessSpace.ops`. Non-first layers have a
residual; all activations are ReLU6.

An arch is a tuple of 21 choices, each ``"k{K}_e{E}"`` or ``"zero"``; its text form joins them with
commas: ``"k3_e6,k5_e3,zero,..."``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from hwlat.errors import InputError
from hwlat.ops.spec import OpSpec, conv, fc, make_divisible, mbconv
from hwlat.spaces.base import Part, RngLike, SearchSpace, as_rng, unique_ops

__all__ = ["ProxylessSpace"]

WIDTHS = (24, 40, 80, 96, 192, 320)
DEPTHS = (4, 4, 4, 4, 4, 1)
STRIDES = (2, 2, 2, 1, 2, 1)
KS = (3, 5, 7)
ES = (3, 6)
BLOCK_CHOICES = tuple(f"k{k}_e{e}" for k in KS for e in ES)
ZERO = "zero"
_CHOICE_RE = re.compile(r"^k(\d+)_e(\d+)$")

Arch = tuple[str, ...]


class ProxylessSpace(SearchSpace):
    """ProxylessNAS MobileNetV2: 21 layers x {k3,k5,k7} x {e3,e6} (+ zero on 15 of them)."""

    name = "proxyless"

    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000, resolution: int = 224) -> None:
        if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or width_mult <= 0:
            raise InputError(f"ProxylessSpace: width_mult must be a positive number, got {width_mult!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise InputError(f"ProxylessSpace: num_classes must be a positive integer, got {num_classes!r}")
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 32:
            raise InputError(f"ProxylessSpace: resolution must be an integer >= 32, got {resolution!r}")
        self.width_mult = float(width_mult)
        self.num_classes = num_classes
        self.resolution = resolution
        self.first_width = make_divisible(32 * self.width_mult, 8)
        self.first_block_width = make_divisible(16 * self.width_mult, 8)
        self.stage_widths = tuple(make_divisible(w * self.width_mult, 8) for w in WIDTHS)
        self.last_channel = make_divisible(1280 * self.width_mult, 8) if self.width_mult > 1.0 else 1280
        # (stage, index in stage) of each of the 21 searchable layers
        self.layers = tuple((i, j) for i, d in enumerate(DEPTHS) for j in range(d))

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def choices(self, position: int) -> tuple[str, ...]:
        """The allowed choices of layer ``position`` (0-based)."""
        _, j = self.layers[position]
        return BLOCK_CHOICES + ((ZERO,) if j > 0 else ())

    # -- validity and text form ------------------------------------------------------------------
    def _example(self) -> str:
        return ",".join("k3_e6" if j == 0 else ("zero" if j == 3 else "k5_e3") for _, j in self.layers)

    def _check(self, arch: Any) -> Arch:
        if isinstance(arch, str):
            raise InputError(f"a proxyless arch is a tuple of {self.n_layers} choices; use decode() for text like "
                             f"{self._example()!r}")
        try:
            t = tuple(arch)
        except TypeError:
            raise InputError(f"a proxyless arch is a tuple of {self.n_layers} choices, got {arch!r}") from None
        if len(t) != self.n_layers:
            raise InputError(f"a proxyless arch has {self.n_layers} layers, got {len(t)}; "
                             f"e.g. {self._example()!r}")
        for p, c in enumerate(t):
            allowed = self.choices(p)
            if c not in allowed:
                i, j = self.layers[p]
                why = " (the first layer of a stage cannot be zero)" if c == ZERO else ""
                raise InputError(f"layer {p} (stage {i + 1}, layer {j + 1}) has choice {c!r}{why}; "
                                 f"choose from {', '.join(allowed)}")
        return tuple(str(c) for c in t)

    def validate(self, arch: Arch) -> None:
        self._check(arch)

    def encode(self, arch: Arch) -> str:
        return ",".join(self._check(arch))

    def decode(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise InputError(f"a proxyless arch string is text, got {type(text).__name__}; e.g. {self._example()}")
        items = tuple(s.strip() for s in text.strip().split(","))
        try:
            return self._check(items)
        except InputError as exc:
            raise InputError(f"bad proxyless arch string {text!r}: {exc}; a valid one: {self._example()}") from None

    # -- enumeration -----------------------------------------------------------------------------
    def size(self) -> int:
        n = 1
        for p in range(self.n_layers):
            n *= len(self.choices(p))
        return n

    def _sample_one(self, rng: np.random.Generator) -> Arch:
        out = []
        for p in range(self.n_layers):
            ch = self.choices(p)
            out.append(ch[int(rng.integers(len(ch)))])
        return tuple(out)

    def mutate(self, arch: Arch, rng_or_seed: RngLike) -> Arch:
        rng = as_rng(rng_or_seed)
        a = list(self._check(arch))
        p = int(rng.integers(self.n_layers))
        others = [c for c in self.choices(p) if c != a[p]]
        a[p] = others[int(rng.integers(len(others)))]
        return tuple(a)

    # -- structure -------------------------------------------------------------------------------
    def input_shape(self, arch: Arch | None = None) -> tuple[int, int, int]:
        return (3, self.resolution, self.resolution)

    def _head(self, r: int) -> tuple[list[OpSpec], tuple[int, ...]]:
        first = conv((3, r, r), self.first_width, 3, 2, act="relu6")
        shape = first.output_shape
        block = mbconv(shape, self.first_block_width, 3, 1, mid=shape[0], act="relu6",
                       res=int(shape[0] == self.first_block_width))
        return [first, block], block.output_shape

    def _layer(self, i: int, j: int, shape: tuple[int, ...], choice: str) -> OpSpec:
        m = _CHOICE_RE.match(choice)
        assert m is not None, choice
        k, e = int(m.group(1)), int(m.group(2))
        mid = make_divisible(round(shape[0] * e), 8)
        return mbconv(shape, self.stage_widths[i], k, STRIDES[i] if j == 0 else 1, mid=mid, act="relu6",
                      res=int(j > 0))

    def _tail(self, shape: tuple[int, ...]) -> list[OpSpec]:
        mix = conv(shape, self.last_channel, 1, act="relu6")
        return [mix, fc(mix.output_shape, self.num_classes)]

    def config(self) -> dict[str, Any]:
        return {"width_mult": self.width_mult, "num_classes": self.num_classes, "resolution": self.resolution}

    def with_resolutions(self, resolutions: Sequence[int]) -> ProxylessSpace:
        """This space at one input resolution (px)."""
        rs = [int(r) for r in resolutions]
        if len(rs) != 1:
            raise InputError(f"the proxyless space takes one resolution, got {rs}")
        return self.from_config({**self.config(), "resolution": rs[0]})  # type: ignore[return-value]

    # -- torch networks ------------------------------------------------------------------------------
    def torch_net(self, arch: Arch, *, bn: bool = True, seed: int = 0, num_classes: int | None = None) -> Any:
        """The MobileNetV2 network of ``arch`` (a tuple or its text) at this space's width (see
        :mod:`hwlat.spaces.proxyless_net`)."""
        from hwlat.spaces.proxyless_net import build_proxyless_net  # it imports this module (STRIDES)

        a = self.decode(arch) if isinstance(arch, str) else self._check(arch)
        return build_proxyless_net(self, a, bn=bn, seed=seed, num_classes=num_classes).train()

    def supernet(self, *, num_classes: int, input_size: int, width_mult: float, shared_weights: bool = True,
                 seed: int = 0) -> Any:
        """Every choice of each of the 21 layers in one network (``zero`` adds nothing), narrow and at
        ``input_size`` px; the MBConv candidates of a layer share weights unless ``shared_weights=False``."""
        from hwlat.spaces.proxyless_net import build_proxyless_supernet  # it imports this module

        return build_proxyless_supernet(self, num_classes=num_classes, input_size=input_size, width_mult=width_mult,
                                        shared_weights=shared_weights, seed=seed)

    # -- integer encoding ---------------------------------------------------------------------------
    def gene_sizes(self) -> tuple[int, ...]:
        """One gene per layer: an index into :meth:`choices` of that layer."""
        return tuple(len(self.choices(i)) for i in range(self.n_layers))

    def to_genes(self, archs: Sequence[Arch]) -> np.ndarray:
        rows = [[self.choices(i).index(c) for i, c in enumerate(self._check(a))] for a in archs]
        return np.array(rows, dtype=np.int64).reshape(-1, self.n_layers)

    def from_genes(self, genes: Sequence[int] | np.ndarray) -> Arch:
        g = [int(x) for x in genes]
        sizes = self.gene_sizes()
        if len(g) != len(sizes) or not all(0 <= x < n for x, n in zip(g, sizes)):
            raise InputError(f"a ProxylessNAS gene vector is {len(sizes)} integers within {sizes}, got {g}")
        return tuple(self.choices(i)[x] for i, x in enumerate(g))

    def parts(self) -> list[Part]:
        """The fixed head and tail, and each of the 21 searchable layers."""
        return [Part("head+tail")] + [Part(f"layer{i + 1}", (i,)) for i in range(self.n_layers)]

    def _layer_inputs(self) -> tuple[list[tuple[int, ...]], tuple[int, ...]]:
        """Input shape of each searchable layer, and the tail's input shape.

        Both are fixed: the first layer of a stage (never zero) sets the stage's shape.
        """
        _, shape = self._head(self.resolution)
        out = []
        for i, j in self.layers:
            out.append(shape)
            if j == 0:
                shape = self._layer(i, 0, shape, BLOCK_CHOICES[0]).output_shape
        return out, shape

    def part_ops(self, part: int, values: Sequence[int]) -> list[OpSpec]:
        if part == 0:
            head, _ = self._head(self.resolution)
            return head + self._tail(self._layer_inputs()[1])
        if not 1 <= part <= self.n_layers:
            raise InputError(f"the ProxylessNAS space has parts 0..{self.n_layers}, got {part}")
        choice = self.choices(part - 1)[int(values[0])]
        if choice == ZERO:
            return []
        i, j = self.layers[part - 1]
        return [self._layer(i, j, self._layer_inputs()[0][part - 1], choice)]

    def ops(self, arch: Arch) -> list[OpSpec]:
        """Ops in execution order; ``zero`` layers compute nothing and are not listed."""
        a = self._check(arch)
        out, shape = self._head(self.resolution)
        for (i, j), c in zip(self.layers, a):
            if c == ZERO:
                continue
            spec = self._layer(i, j, shape, c)
            out.append(spec)
            shape = spec.output_shape
        return out + self._tail(shape)

    def all_ops(self, resolution: int | None = None, **kw: Any) -> list[OpSpec]:
        """Every distinct op of every arch at ``resolution`` (default: the space's)."""
        if kw:
            raise InputError(f"ProxylessSpace.all_ops takes only resolution=, got {', '.join(kw)}")
        r = self.resolution if resolution is None else int(resolution)
        if r < 32:
            raise InputError(f"resolution must be >= 32, got {resolution}")
        out, shape = self._head(r)
        for i, d in enumerate(DEPTHS):
            first = [self._layer(i, 0, shape, c) for c in BLOCK_CHOICES]
            out += first
            shape = first[0].output_shape
            if d > 1:
                out += [self._layer(i, 1, shape, c) for c in BLOCK_CHOICES]
        return unique_ops(out + self._tail(shape))
