"""Once-for-All MobileNetV3 search space (Cai et al., ICLR 2020), ``ofa_mbv3_d234_e346_k357_w1.2``.

The network: first conv 3x3 stride 2 (h-swish); a first MBConv block without expansion (3x3,
ReLU, identity skip); five elastic stages of up to 4 MBConv layers (strides 2, 2, 2, 1, 2;
activations ReLU, ReLU, h-swish, h-swish, h-swish; squeeze-excite in stages 2, 4 and 5); a final
1x1 expand conv (h-swish); global average pooling; a 1x1 feature-mix conv without BN (h-swish);
a linear classifier. Stage ``i`` runs its first ``d[i]`` layers; layer ``j`` of stage ``i`` uses
kernel ``ks[4*i+j]`` and expand ratio ``e[4*i+j]``, with ``mid = make_divisible(round(cin*e), 8)``
channels; every layer but the first of a stage has a residual.

With ``width_mult=1.2`` the widths are 24 (first conv and block), 32, 48, 96, 136, 192, 1152
(final expand) and 1536 (feature mix), the op set at each resolution being the 96 blocks of the
published Note10 lookup tables (``note10_lut_<r>.yaml``).

An arch is ``{"ks": [20 ints], "e": [20 ints], "d": [5 ints], "r": int}``; the entries of ``ks``
and ``e`` for layers beyond a stage's depth are kept but do not change the network (as in OFA).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hwlat.errors import InputError
from hwlat.ops.spec import OpSpec, conv, fc, gap, make_divisible, mbconv
from hwlat.spaces.base import Part, RngLike, SearchSpace, as_rng, unique_ops

__all__ = ["OFAMobileNetV3Space"]

BASE_WIDTHS = (16, 16, 24, 40, 80, 112, 160, 960, 1280)
STRIDES = (2, 2, 2, 1, 2)
ACTS = ("relu", "relu", "hswish", "hswish", "hswish")
SES = (0, 1, 0, 1, 1)

Arch = dict[str, Any]


class OFAMobileNetV3Space(SearchSpace):
    """Once-for-All MobileNetV3: elastic kernel {3,5,7}, expand {3,4,6}, depth {2,3,4}, resolution."""

    name = "ofa-mbv3"
    KS = (3, 5, 7)
    E = (3, 4, 6)
    D = (2, 3, 4)
    N_STAGES = 5
    MAX_DEPTH = 4

    def __init__(self, width_mult: float = 1.2, num_classes: int = 1000,
                 resolutions: Iterable[int] = range(128, 225, 4)) -> None:
        if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or width_mult <= 0:
            raise InputError(f"OFAMobileNetV3Space: width_mult must be a positive number, got {width_mult!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise InputError(f"OFAMobileNetV3Space: num_classes must be a positive integer, got {num_classes!r}")
        res = tuple(sorted({int(r) for r in resolutions}))
        if not res or min(res) < 32:
            raise InputError(f"OFAMobileNetV3Space: resolutions must be a non-empty set of sizes >= 32, got {res}")
        self.width_mult = float(width_mult)
        self.num_classes = num_classes
        self.resolutions = res
        w = [make_divisible(b * self.width_mult, 8) for b in BASE_WIDTHS]
        self.first_width = w[0]
        self.first_block_width = w[1]
        self.stage_widths = tuple(w[2:7])
        self.final_expand_width = w[7]
        self.last_channel = w[8]

    # -- validity and text form ------------------------------------------------------------------
    def _example(self) -> str:
        return json.dumps({"d": [4] * 5, "e": [6] * 20, "ks": [7] * 20, "r": self.resolutions[-1]},
                          sort_keys=True, separators=(",", ":"))

    def _check(self, arch: Any) -> Arch:
        if not isinstance(arch, dict):
            raise InputError(f"an OFA arch is a dict with keys ks, e, d, r, got {type(arch).__name__}; "
                             f"e.g. {self._example()}")
        keys = set(arch)
        if keys != {"ks", "e", "d", "r"}:
            raise InputError(f"an OFA arch has exactly the keys d, e, ks, r; got {sorted(map(str, keys))}; "
                             f"e.g. {self._example()}")
        out: Arch = {}
        n = self.N_STAGES * self.MAX_DEPTH
        for key, length, choices in (("ks", n, self.KS), ("e", n, self.E), ("d", self.N_STAGES, self.D)):
            v = arch[key]
            if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != length:
                raise InputError(f"OFA arch {key!r} must be a list of {length} integers from {choices}, got {v!r}")
            vals = []
            for x in v:
                if isinstance(x, bool) or not isinstance(x, (int, np.integer, float)) \
                        or (isinstance(x, float) and not math.isfinite(x)) or int(x) != x or int(x) not in choices:
                    raise InputError(f"OFA arch {key!r} holds {x!r}; each value must be one of {choices}")
                vals.append(int(x))
            out[key] = vals
        r = arch["r"]
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or int(r) not in self.resolutions:
            raise InputError(f"OFA arch resolution r={r!r} is not in this space; choose one of "
                             f"{', '.join(map(str, self.resolutions))}")
        out["r"] = int(r)
        return out

    def validate(self, arch: Arch) -> None:
        self._check(arch)

    def encode(self, arch: Arch) -> str:
        return json.dumps(self._check(arch), sort_keys=True, separators=(",", ":"))

    def decode(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise InputError(f"an OFA arch string is JSON text, got {type(text).__name__}; e.g. {self._example()}")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"OFA arch string is not valid JSON ({exc.msg} at char {exc.pos}); "
                             f"a valid one: {self._example()}") from None
        try:
            return self._check(obj)
        except InputError as exc:
            if self._example() in str(exc):
                raise
            raise InputError(f"{exc}; a valid arch string: {self._example()}") from None

    def to_ofa_dict(self, arch: Arch) -> dict[str, list[int]]:
        """OFA's own format: ``{"ks": [...], "e": [...], "d": [...], "r": [r]}``."""
        a = self._check(arch)
        return {"ks": list(a["ks"]), "e": list(a["e"]), "d": list(a["d"]), "r": [a["r"]]}

    def from_ofa_dict(self, d: dict[str, Any]) -> Arch:
        """Inverse of :meth:`to_ofa_dict` (``r`` may be a one-element list or an int)."""
        if not isinstance(d, dict):
            raise InputError(f"expected OFA's dict format {{'ks': [...], 'e': [...], 'd': [...], 'r': [r]}}, got {d!r}")
        a = dict(d)
        r = a.get("r")
        if isinstance(r, (list, tuple)):
            if len(r) != 1:
                raise InputError(f"OFA 'r' must hold one resolution, got {r!r}")
            a["r"] = r[0]
        return self._check(a)

    # -- enumeration -----------------------------------------------------------------------------
    def size(self) -> int:
        """Distinct networks: (sum over depths of (|ks|*|e|)^depth)^5 x number of resolutions."""
        per_stage = sum((len(self.KS) * len(self.E)) ** d for d in self.D)
        return per_stage ** self.N_STAGES * len(self.resolutions)

    def _sample_one(self, rng: np.random.Generator) -> Arch:
        n = self.N_STAGES * self.MAX_DEPTH
        return {
            "ks": [int(self.KS[i]) for i in rng.integers(0, len(self.KS), n)],
            "e": [int(self.E[i]) for i in rng.integers(0, len(self.E), n)],
            "d": [int(self.D[i]) for i in rng.integers(0, len(self.D), self.N_STAGES)],
            "r": int(self.resolutions[int(rng.integers(len(self.resolutions)))]),
        }

    def mutate(self, arch: Arch, rng_or_seed: RngLike) -> Arch:
        """Change one active kernel size, expand ratio, depth or the resolution."""
        rng = as_rng(rng_or_seed)
        a = self._check(arch)
        active = [4 * i + j for i in range(self.N_STAGES) for j in range(a["d"][i])]
        slots: list[tuple[str, int, Sequence[int]]] = [("ks", p, self.KS) for p in active]
        slots += [("e", p, self.E) for p in active]
        slots += [("d", i, self.D) for i in range(self.N_STAGES)]
        if len(self.resolutions) > 1:
            slots.append(("r", -1, self.resolutions))
        key, pos, choices = slots[int(rng.integers(len(slots)))]
        cur = a[key] if key == "r" else a[key][pos]
        others = [c for c in choices if c != cur]
        new = int(others[int(rng.integers(len(others)))])
        if key == "r":
            a["r"] = new
        else:
            a[key][pos] = new
        return a

    # -- structure -------------------------------------------------------------------------------
    def input_shape(self, arch: Arch) -> tuple[int, int, int]:
        r = self._check(arch)["r"]
        return (3, r, r)

    def _head(self, r: int) -> tuple[list[OpSpec], tuple[int, ...]]:
        first = conv((3, r, r), self.first_width, 3, 2, act="hswish")
        shape = first.output_shape
        block = mbconv(shape, self.first_block_width, 3, 1, mid=shape[0], se=0, act="relu",
                       res=int(shape[0] == self.first_block_width))
        return [first, block], block.output_shape

    def _layer(self, i: int, j: int, shape: tuple[int, ...], k: int, e: int) -> OpSpec:
        cin = shape[0]
        mid = make_divisible(round(cin * e), 8)
        return mbconv(shape, self.stage_widths[i], k, STRIDES[i] if j == 0 else 1, mid=mid, se=SES[i],
                      act=ACTS[i], res=int(j > 0))

    def _tail(self, shape: tuple[int, ...]) -> list[OpSpec]:
        expand = conv(shape, self.final_expand_width, 1, act="hswish")
        pooled = gap(expand.output_shape)
        mix = conv(pooled.output_shape, self.last_channel, 1, bn=0, act="hswish")
        return [expand, pooled, mix, fc(mix.output_shape, self.num_classes)]

    def config(self) -> dict[str, Any]:
        return {"width_mult": self.width_mult, "num_classes": self.num_classes, "resolutions": list(self.resolutions)}

    def with_resolutions(self, resolutions: Sequence[int]) -> OFAMobileNetV3Space:
        """This space with networks at input ``resolutions`` (px)."""
        config = {**self.config(), "resolutions": [int(r) for r in resolutions]}
        return self.from_config(config)  # type: ignore[return-value]

    def default_accuracy(self) -> str:
        raise InputError("the ofa-mbv3 space has no built-in accuracy; give --accuracy ofa-predictor:PATH/"
                         "acc_predictor.pth (Once-for-All's published accuracy predictor, from the once-for-all "
                         "repository)")

    # -- integer encoding ---------------------------------------------------------------------------
    #: the gene layout: [resolution index, d x 5 (index into D), ks x 20 (index into KS), e x 20 (index
    #: into E)]; ``GENE_R`` is the column of the resolution, the others the columns of each kind
    GENE_R = 0
    GENES_D = slice(1, 6)
    GENES_K = slice(6, 26)
    GENES_E = slice(26, 46)

    @property
    def n_layers(self) -> int:
        """Elastic layers (stages x their greatest depth): 20."""
        return self.N_STAGES * self.MAX_DEPTH

    def active_layers(self, genes: np.ndarray) -> np.ndarray:
        """``(n, n_layers)`` booleans: which layers of each gene row run (those within their stage's depth)."""
        g = np.asarray(genes, dtype=np.int64)
        d = np.asarray(self.D)[g[:, self.GENES_D]]  # (n, N_STAGES) depth values
        layer = np.arange(self.n_layers)
        return (layer % self.MAX_DEPTH)[None, :] < d[:, layer // self.MAX_DEPTH]

    def canonical_genes(self, genes: np.ndarray) -> np.ndarray:
        """Kernel and expand genes of layers beyond their stage's depth set to 0 (they do not change
        the network)."""
        g = np.array(genes, dtype=np.int64, copy=True)
        if g.size:
            inactive = ~self.active_layers(g)
            g[:, self.GENES_K][inactive] = 0
            g[:, self.GENES_E][inactive] = 0
        return g

    def op_counts(self, genes: np.ndarray) -> np.ndarray:
        """Layers that run, by kernel size (3, 5, 7: their sum is the depth) and by expand ratio
        (4, 6): kernel and expand genes of a layer its stage skips count for nothing."""
        g = np.asarray(genes, dtype=np.int64)
        act = self.active_layers(g)
        k, e = g[:, self.GENES_K], g[:, self.GENES_E]
        cols = [((k == v) & act).sum(axis=1) for v in range(len(self.KS))]
        cols += [((e == v) & act).sum(axis=1) for v in range(1, len(self.E))]
        return np.stack(cols, axis=1).astype(np.float64)

    def gene_sizes(self) -> tuple[int, ...]:
        return (len(self.resolutions),) + (len(self.D),) * 5 + (len(self.KS),) * 20 + (len(self.E),) * 20

    def to_genes(self, archs: Sequence[Arch]) -> np.ndarray:
        ri = {r: i for i, r in enumerate(self.resolutions)}
        rows = []
        for arch in archs:
            a = self._check(arch)
            if a["r"] not in ri:
                raise InputError(f"resolution {a['r']} is not one of this space's resolutions {self.resolutions}")
            rows.append([ri[a["r"]]] + [self.D.index(d) for d in a["d"]] + [self.KS.index(k) for k in a["ks"]]
                        + [self.E.index(e) for e in a["e"]])
        return np.array(rows, dtype=np.int64).reshape(-1, 46)

    def from_genes(self, genes: Sequence[int] | np.ndarray) -> Arch:
        g = [int(x) for x in genes]
        sizes = self.gene_sizes()
        if len(g) != len(sizes) or not all(0 <= x < n for x, n in zip(g, sizes)):
            raise InputError(f"an OFA gene vector is {len(sizes)} integers within {sizes}, got {g}")
        return {"ks": [self.KS[x] for x in g[self.GENES_K]], "e": [self.E[x] for x in g[self.GENES_E]],
                "d": [self.D[x] for x in g[self.GENES_D]], "r": self.resolutions[g[self.GENE_R]]}

    def parts(self) -> list[Part]:
        """Head (first conv + first block), each of the 20 elastic layers, tail."""
        r, d, k, e = self.GENE_R, self.GENES_D.start, self.GENES_K.start, self.GENES_E.start
        out = [Part("head", (r,))]
        for i in range(self.N_STAGES):
            for j in range(self.MAX_DEPTH):
                genes: tuple[int, ...] = (r, k + 4 * i + j, e + 4 * i + j)
                if j >= min(self.D):  # only these layers can be skipped by depth
                    genes = (r, d + i, k + 4 * i + j, e + 4 * i + j)
                out.append(Part(f"stage{i + 1}-layer{j + 1}", genes))
        out.append(Part("tail", (r,)))
        return out

    def _stage_inputs(self, r: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(input shape of the stage's first layer, input shape of its other layers) per stage."""
        _, shape = self._head(r)
        out = []
        for i in range(self.N_STAGES):
            first = self._layer(i, 0, shape, self.KS[0], self.E[0])
            out.append((shape, first.output_shape))
            shape = first.output_shape
        return out

    def part_ops(self, part: int, values: Sequence[int]) -> list[OpSpec]:
        r = self.resolutions[int(values[0])]
        n_layers = self.N_STAGES * self.MAX_DEPTH
        if part == 0:
            return self._head(r)[0]
        if part == n_layers + 1:
            return self._tail(self._stage_inputs(r)[-1][1])
        if not 1 <= part <= n_layers:
            raise InputError(f"the OFA space has parts 0..{n_layers + 1}, got {part}")
        i, j = divmod(part - 1, self.MAX_DEPTH)
        if len(values) == 4:
            if self.D[int(values[1])] <= j:
                return []
            k, e = self.KS[int(values[2])], self.E[int(values[3])]
        else:
            k, e = self.KS[int(values[1])], self.E[int(values[2])]
        first_in, rest_in = self._stage_inputs(r)[i]
        return [self._layer(i, j, first_in if j == 0 else rest_in, k, e)]

    def ops(self, arch: Arch) -> list[OpSpec]:
        a = self._check(arch)
        out, shape = self._head(a["r"])
        for i in range(self.N_STAGES):
            for j in range(a["d"][i]):
                spec = self._layer(i, j, shape, a["ks"][4 * i + j], a["e"][4 * i + j])
                out.append(spec)
                shape = spec.output_shape
        return out + self._tail(shape)

    def _ops_at(self, r: int) -> list[OpSpec]:
        out, shape = self._head(r)
        for i in range(self.N_STAGES):
            first = None
            for k in self.KS:
                for e in self.E:
                    first = self._layer(i, 0, shape, k, e)
                    out.append(first)
            assert first is not None
            shape = first.output_shape
            for k in self.KS:
                for e in self.E:
                    out.append(self._layer(i, 1, shape, k, e))
        return out + self._tail(shape)

    def all_ops(self, resolution: int | None = None, **kw: Any) -> list[OpSpec]:
        """Every distinct op of every arch at ``resolution``; with None, the union over all resolutions."""
        if kw:
            raise InputError(f"OFAMobileNetV3Space.all_ops takes only resolution=, got {', '.join(kw)}")
        if resolution is None:
            return unique_ops(s for r in self.resolutions for s in self._ops_at(r))
        r = int(resolution)
        if r < 32:
            raise InputError(f"resolution must be >= 32, got {resolution}")
        return unique_ops(self._ops_at(r))
