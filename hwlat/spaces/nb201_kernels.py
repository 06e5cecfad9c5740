"""The kernels an optimising runtime runs for an NB201 cell: which ReLUs and adds it fuses away.

ONNX Runtime's CPU provider (all graph optimisations) rewrites the network before it runs it:

* an ``Add`` with an input that is the output of a convolution read by nothing else becomes that
  convolution's fused sum (one ``Add`` of a chain per such convolution; a convolution takes one);
* a ``Relu`` whose input is the output of a convolution (plain or with its fused sum) read by
  nothing else becomes that convolution's activation;
* a ``BatchNormalization`` right after a plain convolution read by nothing else is folded in;
  a standalone one (a zero node's) runs as a kernel that takes the ReLU after it the same way.

A latency table times each op alone, where none of this happens, so the plain sum charges every
cell a ReLU and an add kernel that never run: small networks of 1x1 convolutions and adds, which
a budgeted search favours, come out 5–15 % slow. :func:`stage_kernels` applies the three rules to a
cell's plan (:meth:`~hwlat.spaces.nb201.NB201Space._cell_plan`), given what precedes and follows
the cell, and :class:`~hwlat.spaces.nb201.NB201Space` with ``fuse="onnxruntime"`` lists the ops
left. The network it builds is the same either way; only what the table sums changes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

Arch = tuple[str, ...]

__all__ = ["FUSERS", "EDGES", "alias_roots", "stage_kernels"]

#: the runtimes whose fusions :func:`stage_kernels` knows
FUSERS = ("none", "onnxruntime")

CONV_EDGES = ("nor_conv_1x1", "nor_conv_3x3")
#: (target node, source node) of the 6 edges, in arch-string order
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def alias_roots(arch: Arch) -> dict[int, int]:
    """Each node's representative: a node whose only live input is a skip edge of another node
    holds the same tensor as that node (and so, recursively, as its root)."""
    root = {0: 0}
    for j in (1, 2, 3):
        inc = [(e, src) for e, (dst, src) in enumerate(EDGES) if dst == j and arch[e] != "none"]
        root[j] = root[inc[0][1]] if len(inc) == 1 and arch[inc[0][0]] == "skip_connect" else j
    return root


def _consumers(arch: Arch, plan: list[tuple[str, Any]], root: dict[int, int]) -> Counter[int]:
    """How many ops of the cell read each node's tensor as it is (keyed by the node's root)."""
    reads: Counter[int] = Counter()
    for kind, arg in plan:
        if kind in ("relu", "pool"):
            reads[arg] += 1
        elif kind == "zero":
            reads[0] += 1  # a zero node is computed from the cell input
        elif kind == "sum" and len(arg[1]) >= 2:
            for k, i in arg[1]:
                if k == "node":
                    reads[root[i]] += 1
    return reads


def _free_conv(arch: Arch, src: tuple[str, Any], made: dict[int, str], root: dict[int, int],
               reads: Counter[int]) -> bool:
    """Whether a summed source is a plain convolution's output that nothing else reads."""
    k, i = src
    if k == "edge":
        return arch[i] in CONV_EDGES
    return bool(k == "node" and made.get(root[i]) == "conv" and reads[root[i]] == 1)


def _producers(arch: Arch, plan: list[tuple[str, Any]], root: dict[int, int], reads: Counter[int],
               input_kind: str) -> tuple[dict[int, str], dict[int, int]]:
    """The kind of kernel that makes each node's tensor (``conv``: a plain convolution, ``convsum``:
    one with a fused sum, ``add``, ``pool``, ``zero``) and the adds of each node left unfused."""
    made: dict[int, str] = {0: input_kind}
    left: dict[int, int] = {}
    for kind, arg in plan:
        if kind == "zero":
            made[arg] = "zero"
        if kind != "sum":
            continue
        j, srcs = arg
        if len(srcs) == 1:
            k, i = srcs[0]
            made[j] = made[root[i]] if k == "node" else "pool" if k == "pool" else "conv"
            continue
        taken: set[tuple[str, int]] = set()
        fused = []
        for n, s in enumerate(srcs[1:], start=1):
            cands = [srcs[0], s] if n == 1 else [s]
            hit = next((c for c in cands if c not in taken and _free_conv(arch, c, made, root, reads)), None)
            if hit is not None:
                taken.add(hit)
            fused.append(hit is not None)
        left[j] = fused.count(False)
        made[j] = "convsum" if fused[-1] else "add"
    return made, left


Place = tuple[bool, bool]  # (first, last) of a cell in its stage


def stage_kernels(arch: Arch, plan: list[tuple[str, Any]], root: dict[int, int], places: set[Place], *,
                  input_kind: str, after: str) -> dict[Place, tuple[set[int], dict[int, int], bool]]:
    """What ONNX Runtime fuses away in a stage's cells, for each place ``(first, last)`` asked.

    ``plan``: the cell's steps (``none_edges="absent"``); ``root``: each node's alias root;
    ``input_kind``: the kernel that makes the first cell's input (``conv`` for the stem,
    ``convsum`` for a reduction block, whose add is fused); ``after``: what reads the last cell's
    output (``resblock``: a ReLU and a pool; ``head``: a batch norm). For each place: the nodes
    whose ReLU is fused, the adds left unfused per summing node, and whether the head's batch
    norm and ReLU fold into the last cell's output convolution.
    """
    reads = _consumers(arch, plan, root)
    out = root[3]
    # a cell whose output is its input passes one tensor through the whole stage: leave it be
    chain = out != 0
    outside = {"resblock": 2, "head": 1}[after]
    # the cell's output is read by the next cell's reads of node 0 (or by what follows the stage)
    # and, when node 3 is another node under a skip, by that node's readers in this cell
    out_reads = reads[out] if out != 3 else 0
    made_first = _producers(arch, plan, root, reads, input_kind)
    # a later cell's input is made by the cell before it as that cell makes its output
    made_later = (_producers(arch, plan, root, reads, made_first[0][out] if chain else "other")
                  if any(not first for first, _ in places) else made_first)
    res = {}
    for first, last in places:
        made, left = made_first if first else made_later
        total = Counter(reads)
        if not first:
            total[0] += out_reads if chain else 99
        if chain:
            total[out] += outside if last else reads[0]
        # a zero node's batch norm runs as a convolution-like kernel too, and takes its ReLU
        fused = {r for kind, r in plan
                 if kind == "relu" and made.get(r) in ("conv", "convsum", "zero") and total[r] == 1}
        head = last and after == "head" and chain and made.get(out) == "conv" and total[out] == 1
        res[first, last] = (fused, left, head)
    return res
