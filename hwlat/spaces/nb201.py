"""NAS-Bench-201 cell search space (Dong & Yang, ICLR 2020; NATS-Bench topology space).

The network, as in the benchmark: stem conv3x3 + BN; three stages of ``cells_per_stage`` cells at
C, 2C, 4C channels with a ResNet basic block (stride 2) between stages; BN + ReLU; global average
pooling and a linear classifier. Every cell is the same DAG of 4 nodes and 6 edges
(1<-0; 2<-0,1; 3<-0,1,2), each edge one of :data:`OPERATIONS`:

* ``nor_conv_1x1`` / ``nor_conv_3x3``: ReLU-Conv-BN (``conv`` with ``pre_act=relu``);
* ``avg_pool_3x3``: average pooling 3x3, stride 1, padding 1 (``pool``);
* ``skip_connect``: identity — computes nothing and is left out of :meth:`NB201Space.ops`;
* ``none``: no connection.

A node is the sum of its incoming tensors (an ``add`` with ``n`` = their number when >= 2).

How ``none`` edges become ops is chosen with ``none_edges``:

* ``"absent"`` (default): a ``none`` edge does not exist, and the network holds only what reaches
  the cell output (dead nodes are dropped, as an exporter that prunes unused branches would). A
  node left with no incoming edge is a zero tensor; where such a node is used (it feeds a live
  edge, or it is the cell output) it is materialised once as a ``bn`` op (a per-channel affine,
  ``act=none``) with scale 0 and shift 0 applied to the cell input, so the graph stays connected
  and numerically right, and its cost is one elementwise pass — the same order as the
  ``x.mul(0.)`` of the benchmark's PyTorch code. Ops applied to a zero node (conv, pool, add) are
  still executed and listed, as in the real network.
* ``"zero"``: the benchmark's own PyTorch forward (``InferCell``): every ``none`` edge computes a
  zero tensor from its source (here the same zero ``bn``), every node ``j`` sums all ``j`` of its
  inputs, and nothing is pruned.

Networks whose cell output is always zero have near-constant latency and 10 % accuracy in the
benchmark; both choices give them a defined, runnable graph (:meth:`NB201Space.degenerate_genes`).

long-module: one class holds the space's encoding, its ops and its graphs; the kernel listing
of a runtime is apart, in :mod:`hwlat.spaces.nb201_kernels`.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwlat.errors import InputError
from hwlat.ops.ir import Graph, GraphBuilder
from hwlat.ops.spec import OpSpec, add, bn, conv, fc, pool, resblock
from hwlat.spaces.base import Part, RngLike, SearchSpace, as_rng, unique_ops
from hwlat.spaces.nb201_kernels import EDGES, FUSERS, alias_roots, stage_kernels

__all__ = ["NB201Space", "OPERATIONS", "EDGES", "load_benchmark_index"]

#: edge operations, in the order used by :meth:`NB201Space.index`
OPERATIONS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
_DATA_HINT = (
    "get NAS-Bench-201 / NATS-Bench data from https://github.com/D-X-Y/NATS-Bench (topology search "
    "space, 'NATS-tss-v1_0-3ffb9') and export a CSV with columns index,arch_str"
)

Arch = tuple[str, ...]


@functools.lru_cache(maxsize=256)
def _cached_spec(kind: str, shape: tuple[int, ...], **params: Any) -> OpSpec:
    return OpSpec.make(kind, shape, **params)


def load_benchmark_index(csv_path: str | Path) -> dict[str, int]:
    """Map arch strings to the official NAS-Bench-201 indices, from a CSV with ``index,arch_str``."""
    from hwlat._files import read_input_text

    path = Path(csv_path)
    text = read_input_text(path, "NAS-Bench-201 index file", fix=_DATA_HINT)
    out: dict[str, int] = {}
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        if not {"index", "arch_str"} <= cols:
            raise InputError(
                f"{path} needs columns 'index' and 'arch_str', found {sorted(cols)}; {_DATA_HINT}"
            )
        for line, row in enumerate(reader, start=2):
            try:
                idx = int(row["index"])
            except (TypeError, ValueError):
                raise InputError(f"{path}:{line}: index {row['index']!r} is not an integer") from None
            out[str(row["arch_str"]).strip()] = idx
    return out


class NB201Space(SearchSpace):
    """NAS-Bench-201: 5 operations on 6 edges, 15,625 cells; arch = tuple of 6 op names.

    The arch tuple follows the edge order of the official arch string
    ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (see :data:`EDGES`).
    """

    name = "nb201"

    def __init__(self, num_classes: int = 10, input_size: int = 32, channels: int = 16,
                 cells_per_stage: int = 5, *, none_edges: str = "absent", fuse: str = "none") -> None:
        for label, v, lo in (("num_classes", num_classes, 1), ("input_size", input_size, 4),
                             ("channels", channels, 1), ("cells_per_stage", cells_per_stage, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InputError(f"NB201Space: {label} must be an integer >= {lo}, got {v!r}")
        if none_edges not in ("absent", "zero"):
            raise InputError(f"NB201Space: none_edges must be 'absent' or 'zero', got {none_edges!r}")
        if fuse not in FUSERS or (fuse != "none" and none_edges != "absent"):
            raise InputError(f"NB201Space: fuse must be one of {', '.join(FUSERS)} ('none' with none_edges='zero', "
                             f"which fuses nothing), got {fuse!r}")
        self.num_classes = num_classes
        self.input_size = input_size
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.none_edges = none_edges
        self.fuse = fuse

    # -- validity and text form ------------------------------------------------------------------
    def _check(self, arch: Any) -> Arch:
        if isinstance(arch, str):
            raise InputError(f"an NB201 arch is a tuple of 6 op names; use decode() for arch strings like {_EXAMPLE}")
        try:
            t = tuple(arch)
        except TypeError:
            raise InputError(f"an NB201 arch is a tuple of 6 op names, got {arch!r}; "
                             f"e.g. decode({_EXAMPLE!r})") from None
        if len(t) != 6:
            raise InputError(f"an NB201 arch has 6 edges, got {len(t)}: {t!r}; e.g. {self.decode(_EXAMPLE)!r}")
        for i, op in enumerate(t):
            if op not in OPERATIONS:
                raise InputError(f"NB201 edge {i} has unknown op {op!r}; choose from {', '.join(OPERATIONS)}")
        return tuple(str(op) for op in t)

    def validate(self, arch: Arch) -> None:
        self._check(arch)

    def encode(self, arch: Arch) -> str:
        a = self._check(arch)
        nodes = [[f"{a[e]}~{src}" for e, (dst, src) in enumerate(EDGES) if dst == j] for j in (1, 2, 3)]
        return "+".join("|" + "|".join(n) + "|" for n in nodes)

    def decode(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise InputError(f"an NB201 arch string is text, got {type(text).__name__}; e.g. {_EXAMPLE}")
        s = text.strip()
        parts = s.split("+")
        if len(parts) != 3:
            raise InputError(f"an NB201 arch string has 3 nodes joined by '+', got {len(parts)} in {text!r}; "
                             f"a valid one: {_EXAMPLE}")
        ops: list[str] = []
        for j, part in enumerate(parts, start=1):
            if not (part.startswith("|") and part.endswith("|")) or len(part) < 2:
                raise InputError(f"node {j} of {text!r} must look like |op~0|...|; a valid string: {_EXAMPLE}")
            items = part[1:-1].split("|")
            if len(items) != j:
                raise InputError(f"node {j} of {text!r} needs {j} incoming edge(s), got {len(items)}; "
                                 f"a valid string: {_EXAMPLE}")
            for src, item in enumerate(items):
                op, sep, idx = item.partition("~")
                if not sep or idx != str(src):
                    raise InputError(f"edge {item!r} of node {j} in {text!r} must be 'op~{src}'; "
                                     f"a valid string: {_EXAMPLE}")
                if op not in OPERATIONS:
                    raise InputError(f"unknown op {op!r} in {text!r}; choose from {', '.join(OPERATIONS)}; "
                                     f"a valid string: {_EXAMPLE}")
                ops.append(op)
        return tuple(ops)

    # -- enumeration -----------------------------------------------------------------------------
    def size(self) -> int:
        return len(OPERATIONS) ** len(EDGES)

    def index(self, arch: Arch) -> int:
        """Position of ``arch`` in hwlat's enumeration (NOT the official benchmark index).

        The 6 edges are base-5 digits, the first edge most significant, each op numbered by its
        place in :data:`OPERATIONS`. Use :func:`load_benchmark_index` for the official indices.
        """
        idx = 0
        for op in self._check(arch):
            idx = idx * len(OPERATIONS) + OPERATIONS.index(op)
        return idx

    def from_index(self, i: int) -> Arch:
        """Inverse of :meth:`index`."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < self.size():
            raise InputError(f"NB201 index must be an integer in [0, {self.size() - 1}], got {i!r}")
        i = int(i)
        digits = []
        for _ in EDGES:
            i, d = divmod(i, len(OPERATIONS))
            digits.append(OPERATIONS[d])
        return tuple(reversed(digits))

    def _sample_one(self, rng: np.random.Generator) -> Arch:
        return tuple(OPERATIONS[int(d)] for d in rng.integers(0, len(OPERATIONS), size=len(EDGES)))

    def mutate(self, arch: Arch, rng_or_seed: RngLike) -> Arch:
        rng = as_rng(rng_or_seed)
        a = list(self._check(arch))
        e = int(rng.integers(len(EDGES)))
        others = [op for op in OPERATIONS if op != a[e]]
        a[e] = others[int(rng.integers(len(others)))]
        return tuple(a)

    # -- structure -------------------------------------------------------------------------------
    def input_shape(self, arch: Arch | None = None) -> tuple[int, int, int]:
        return (3, self.input_size, self.input_size)

    def _stages(self, resolution: int) -> list[tuple[int, int, int]]:
        """(C, H, W) of the three stages for an input of ``resolution``."""
        h1 = resolution
        h2 = (h1 - 1) // 2 + 1
        h3 = (h2 - 1) // 2 + 1
        c = self.channels
        return [(c, h1, h1), (2 * c, h2, h2), (4 * c, h3, h3)]

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def _edge_spec(op: str, shape: tuple[int, int, int], relu_shared: bool = False) -> OpSpec | None:
        """The op of an edge; ``relu_shared``: the conv's ReLU runs once per source node, apart."""
        pre = "none" if relu_shared else "relu"
        if op == "nor_conv_1x1":
            return conv(shape, shape[0], 1, pre_act=pre)
        if op == "nor_conv_3x3":
            return conv(shape, shape[0], 3, pre_act=pre)
        if op == "avg_pool_3x3":
            return pool(shape, 3, 1, mode="avg", pad=1)
        return None  # skip_connect / none: nothing executed

    def _cell_plan(self, arch: Arch) -> list[tuple[str, Any]]:
        """The cell as steps over node tensors, in execution order.

        Steps: ``("edge", e)`` apply edge ``e``; ``("relu", i)`` / ``("pool", i)`` the ReLU / the
        3x3 average pool of node ``i``, shared by all its conv / pool edges (``"absent"`` only; the
        conv edges then run without their own ReLU); ``("zero", j)`` materialise node ``j`` as
        zeros from the cell input; ``("zero_edge", (e, i))`` a ``none`` edge computing zeros from
        node ``i`` (``none_edges="zero"`` only); ``("sum", (j, sources))`` node ``j`` = sum of
        sources, each ``("edge", e)``, ``("pool", i)``, ``("zedge", e)`` or ``("node", i)``.
        """
        steps: list[tuple[str, Any]] = []
        if self.none_edges == "zero":
            for j in (1, 2, 3):
                srcs: list[tuple[str, int]] = []
                for e, (dst, src) in enumerate(EDGES):
                    if dst != j:
                        continue
                    if arch[e] == "none":
                        steps.append(("zero_edge", (e, src)))
                        srcs.append(("zedge", e))
                    elif arch[e] == "skip_connect":
                        srcs.append(("node", src))
                    else:
                        steps.append(("edge", e))
                        srcs.append(("edge", e))
                steps.append(("sum", (j, srcs)))
            return steps
        # "absent": keep what reaches node 3. Work shared by several edges of one source node is
        # done once, as any optimising runtime does (common subexpression elimination): one ReLU
        # feeds all of the node's conv edges, one average pool all of its pool edges; and a node
        # whose only input is a skip of another node is that node (its ReLU and pool are shared).
        live = {3}
        for j in (3, 2, 1):
            if j in live:
                for e, (dst, src) in enumerate(EDGES):
                    if dst == j and arch[e] != "none":
                        live.add(src)
        relu_done: set[int] = set()
        pool_done: set[int] = set()
        root = alias_roots(arch)
        for j in (1, 2, 3):
            if j not in live:
                continue
            srcs = []
            for e, (dst, src) in enumerate(EDGES):
                if dst != j or arch[e] == "none":
                    continue
                r = root[src]  # a node that is only a skip of another is that node
                if arch[e] == "skip_connect":
                    srcs.append(("node", src))
                elif arch[e] == "avg_pool_3x3":
                    if r not in pool_done:
                        steps.append(("pool", r))
                        pool_done.add(r)
                    srcs.append(("pool", r))
                else:
                    if r not in relu_done:
                        steps.append(("relu", r))
                        relu_done.add(r)
                    steps.append(("edge", e))
                    srcs.append(("edge", e))
            if srcs:
                steps.append(("sum", (j, srcs)))
            else:
                steps.append(("zero", j))
        return steps

    def _cell_ops(self, arch: Arch, shape: tuple[int, int, int], plan: list[tuple[str, Any]],
                  fused: tuple[set[int], dict[int, int]] = (set(), {})) -> list[OpSpec]:
        """The ops of the cell ``plan`` (:meth:`_cell_plan`); ``fused``: the nodes whose ReLU, and
        the adds, a runtime fuses away (the unfused adds left per summing node)."""
        out: list[OpSpec] = []
        shared = self.none_edges == "absent"
        relus, left = fused
        for kind, arg in plan:
            if kind == "edge":
                spec = self._edge_spec(arch[arg], shape, shared)
                assert spec is not None
                out.append(spec)
            elif kind == "relu":
                if arg not in relus:
                    out.append(_cached_spec("act", shape, fn="relu"))
            elif kind == "pool":
                spec = self._edge_spec("avg_pool_3x3", shape)
                assert spec is not None
                out.append(spec)
            elif kind in ("zero", "zero_edge"):
                out.append(_cached_spec("bn", shape, act="none"))
            elif kind == "sum" and len(arg[1]) >= 2:
                n = left.get(arg[0], len(arg[1]) - 1) + 1  # n - 1 adds of which some may be fused
                if n >= 2:
                    out.append(_cached_spec("add", shape, n=n))
        return out

    def _stage_ops(self, a: Arch, stage: int, shape: tuple[int, int, int]) -> tuple[list[OpSpec], bool]:
        """The ops of the cells of stage ``stage`` (0-based), and whether the head's batch norm is
        folded into the last of them (``fuse`` only)."""
        n, plan = self.cells_per_stage, self._cell_plan(a)
        if self.fuse == "none":
            return self._cell_ops(a, shape, plan) * n, False
        places = [(c == 0, c == n - 1) for c in range(n)]  # first, middle and last: the middle ones are alike
        kernels = stage_kernels(a, plan, alias_roots(a), set(places), input_kind="conv" if stage == 0 else "convsum",
                                after="head" if stage == 2 else "resblock")
        cells = {p: self._cell_ops(a, shape, plan, (relus, left)) for p, (relus, left, _) in kernels.items()}
        return [op for p in places for op in cells[p]], kernels[places[-1]][2]

    def ops(self, arch: Arch) -> list[OpSpec]:
        """Ops in execution order; ``skip_connect`` edges compute nothing and are not listed."""
        a = self._check(arch)
        return self._ops(a, self.input_size)

    def _ops(self, a: Arch, resolution: int) -> list[OpSpec]:
        st = self._stages(resolution)
        out = [conv((3, resolution, resolution), self.channels, 3)]
        head = False
        for i, shape in enumerate(st):
            if i > 0:
                out.append(resblock(st[i - 1], shape[0], 3, 2))
            cells, head = self._stage_ops(a, i, shape)
            out.extend(cells)
        last = st[-1]
        if not head:
            out.append(bn(last, act="relu"))
        out.append(fc(last, self.num_classes))
        return out

    def all_ops(self, resolution: int | None = None, **kw: Any) -> list[OpSpec]:
        """Stem, every cell op and add (n=2, 3) and zero-``bn`` at each stage, the reductions, head."""
        if kw:
            raise InputError(f"NB201Space.all_ops takes only resolution=, got {', '.join(kw)}")
        r = self.input_size if resolution is None else int(resolution)
        st = self._stages(r)
        out = [conv((3, r, r), self.channels, 3)]
        for i, shape in enumerate(st):
            if i > 0:
                out.append(resblock(st[i - 1], shape[0], 3, 2))
            shared = self.none_edges == "absent"
            for op in ("nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"):
                spec = self._edge_spec(op, shape, shared)
                assert spec is not None
                out.append(spec)
            if shared:
                out.append(_cached_spec("act", shape, fn="relu"))
            out += [add(shape, n=2), add(shape, n=3), bn(shape, act="none")]
        out += [bn(st[-1], act="relu"), fc(st[-1], self.num_classes)]
        return unique_ops(out)

    def config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "input_size": self.input_size, "channels": self.channels,
                "cells_per_stage": self.cells_per_stage, "none_edges": self.none_edges, "fuse": self.fuse}

    def for_runtime(self, runtime: str) -> NB201Space:
        """This space listing the kernels ``runtime`` runs (``fuse``, see
        :mod:`hwlat.spaces.nb201_kernels`): what a latency table of that runtime should sum."""
        fuse = runtime if runtime in FUSERS and self.none_edges == "absent" else "none"
        if fuse == self.fuse:
            return self
        return NB201Space(self.num_classes, self.input_size, self.channels, self.cells_per_stage,
                          none_edges=self.none_edges, fuse=fuse)

    # -- what search needs -------------------------------------------------------------------------
    def default_accuracy(self) -> str:
        """A zero-cost proxy computed live (labelled as a proxy): synflow."""
        return "proxy:synflow"

    def torch_net(self, arch: Arch, *, bn: bool = True, seed: int = 0, num_classes: int | None = None) -> Any:
        """The benchmark's trainable network of ``arch`` (see :mod:`hwlat.spaces.nb201_net`), following
        the space's ``channels``, ``cells_per_stage`` and ``num_classes``."""
        from hwlat.spaces.nb201_net import build_nb201_net  # it imports this module (EDGES)

        a = self._check(arch)
        return build_nb201_net(a, channels=self.channels, cells_per_stage=self.cells_per_stage,
                               num_classes=self.num_classes if num_classes is None else int(num_classes), bn=bn,
                               seed=seed)

    # -- integer encoding ---------------------------------------------------------------------------
    def gene_sizes(self) -> tuple[int, ...]:
        """Six genes, one per edge, each an index into :data:`OPERATIONS`."""
        return (len(OPERATIONS),) * len(EDGES)

    def to_genes(self, archs: Sequence[Arch]) -> np.ndarray:
        idx = {op: i for i, op in enumerate(OPERATIONS)}
        return np.array([[idx[op] for op in self._check(a)] for a in archs], dtype=np.int64).reshape(-1, len(EDGES))

    def from_genes(self, genes: Sequence[int] | np.ndarray) -> Arch:
        g = [int(x) for x in genes]
        if len(g) != len(EDGES) or not all(0 <= x < len(OPERATIONS) for x in g):
            raise InputError(f"an NB201 gene vector is 6 integers in 0..{len(OPERATIONS) - 1}, got {g}")
        return tuple(OPERATIONS[x] for x in g)

    def degenerate_genes(self, genes: np.ndarray) -> np.ndarray:
        """Cells whose output no path of non-``none`` edges links to the cell input."""
        live = np.asarray(genes) != OPERATIONS.index("none")
        reach = {0: np.ones(live.shape[0], dtype=bool)}
        for node in (1, 2, 3):
            reach[node] = np.logical_or.reduce([live[:, e] & reach[src] for e, (dst, src) in enumerate(EDGES)
                                                if dst == node])
        return ~reach[3]

    def parts(self) -> list[Part]:
        """The fixed part (stem, reductions, head) and the cells of each of the 3 stages."""
        return [Part("stem+reductions+head")] + [Part(f"cells-stage{i + 1}", tuple(range(len(EDGES))))
                                                   for i in range(3)]

    def part_ops(self, part: int, values: Sequence[int]) -> list[OpSpec]:
        r = self.input_size
        st = self._stages(r)
        fusing = self.fuse != "none"
        if part == 0:
            out = [conv((3, r, r), self.channels, 3)]
            out += [resblock(st[i - 1], st[i][0], 3, 2) for i in (1, 2)]
            # with fusion, whether the head's batch norm runs depends on the last stage's cells
            return out + ([] if fusing else [bn(st[-1], act="relu")]) + [fc(st[-1], self.num_classes)]
        if not 1 <= part <= 3:
            raise InputError(f"NB201 has parts 0..3, got {part}")
        cells, head = self._stage_ops(self.from_genes(values), part - 1, st[part - 1])
        return cells + ([bn(st[-1], act="relu")] if fusing and part == 3 and not head else [])

    def build(self, arch: Arch, *, seed: int = 0) -> Graph:
        a = self._check(arch)
        b = GraphBuilder(seed=seed, name=self.name)
        zero_outputs: set[str] = set()
        r = self.input_size
        st = self._stages(r)
        x = b.apply(conv((3, r, r), self.channels, 3), b.input((3, r, r)))
        plan = self._cell_plan(a)
        for i, shape in enumerate(st):
            if i > 0:
                x = b.apply(resblock(st[i - 1], shape[0], 3, 2), x)
            for _ in range(self.cells_per_stage):
                x = self._build_cell(b, a, plan, shape, x, zero_outputs)
        x = b.apply(bn(st[-1], act="relu"), x)
        y = b.apply(fc(st[-1], self.num_classes), x)
        g = b.finish([y])
        for node in g.nodes:  # the zero tensors: affine with scale 0, shift 0
            if node.output in zero_outputs:
                node.weights = {k: np.zeros_like(v) for k, v in node.weights.items()}
        return g

    def _build_cell(self, b: GraphBuilder, a: Arch, plan: list[tuple[str, Any]], shape: tuple[int, int, int],
                    x: str, zero_outputs: set[str]) -> str:
        nodes: dict[int, str] = {0: x}
        edges: dict[int, str] = {}
        zedges: dict[int, str] = {}
        relus: dict[int, str] = {}
        pools: dict[int, str] = {}
        shared = self.none_edges == "absent"
        root = alias_roots(a)

        def zero_of(t: str) -> str:
            z = b.apply(bn(shape, act="none"), t)
            zero_outputs.add(z)
            return z

        for kind, arg in plan:
            if kind == "edge":
                src = EDGES[arg][1]
                spec = self._edge_spec(a[arg], shape, shared)
                assert spec is not None
                edges[arg] = b.apply(spec, relus[root[src]] if shared else nodes[src])
            elif kind == "relu":
                relus[arg] = b.apply(_cached_spec("act", shape, fn="relu"), nodes[arg])
            elif kind == "pool":
                spec = self._edge_spec("avg_pool_3x3", shape)
                assert spec is not None
                pools[arg] = b.apply(spec, nodes[arg])
            elif kind == "zero":
                nodes[arg] = zero_of(x)
            elif kind == "zero_edge":
                e, src = arg
                zedges[e] = zero_of(nodes[src])
            else:
                j, srcs = arg
                ts = [edges[i] if k == "edge" else zedges[i] if k == "zedge" else pools[i] if k == "pool" else nodes[i]
                      for k, i in srcs]
                nodes[j] = ts[0] if len(ts) == 1 else b.apply(add(shape, n=len(ts)), *ts)
        return nodes[3]
