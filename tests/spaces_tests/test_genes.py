"""The integer encoding of every space: round trips, and parts that list every op exactly once."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from hwlat.spaces import get_space

SPACES = [("nb201", {}), ("ofa-mbv3", {}), ("proxyless", {})]


@pytest.fixture(params=SPACES, ids=[s for s, _ in SPACES])
def space(request):
    name, kw = request.param
    return get_space(name, **kw)


def test_genes_round_trip(space):
    archs = space.sample(0, 50)
    g = space.to_genes(archs)
    sizes = np.asarray(space.gene_sizes())
    assert g.shape == (50, sizes.size) and (g >= 0).all() and (g < sizes).all()
    for a, row in zip(archs, g):
        assert space.encode(space.from_genes(row)) == space.encode(a)


def test_parts_list_every_op_exactly_once(space):
    parts = space.parts()
    for row in space.to_genes(space.sample(1, 40)):
        ops = []
        for i, p in enumerate(parts):
            ops += space.part_ops(i, [int(row[g]) for g in p.genes])
        want = Counter(s.key for s in space.ops(space.from_genes(row)))
        assert Counter(s.key for s in ops) == want


def test_sample_genes_are_valid_and_seeded(space):
    g = space.sample_genes(3, 200)
    assert (space.sample_genes(3, 200) == g).all()
    for row in g[:20]:
        space.validate(space.from_genes(row))


def test_bad_gene_vector_is_rejected(space):
    from hwlat.errors import InputError

    with pytest.raises(InputError, match="gene vector"):
        space.from_genes([99] * len(space.gene_sizes()))
