"""The conformance suite of a search space: subclass :class:`SearchSpaceContract`, define ``make_space``."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.registry import SPACES
from hwlat.spaces.base import SearchSpace

__all__ = ["SearchSpaceContract"]


class SearchSpaceContract:
    """What every :class:`~hwlat.spaces.SearchSpace` keeps: seeded sampling, round trips of the text
    form and of the genes, parts that list every op once, a table that covers every network, and
    its quirks (canonical genes, resolutions, default accuracy, torch network, config) consistent."""

    #: architectures sampled per test
    n_archs = 20

    def make_space(self) -> SearchSpace:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def space(self) -> SearchSpace:
        return self.make_space()

    @pytest.fixture
    def archs(self, space: SearchSpace) -> list[Any]:
        return space.sample(0, self.n_archs)

    def test_is_registered_under_its_name(self, space: SearchSpace) -> None:
        assert space.name and space.name in SPACES
        assert isinstance(space, SPACES.get(space.name))

    def test_sampling_is_seeded_and_valid(self, space: SearchSpace, archs: list[Any]) -> None:
        assert space.sample(0, self.n_archs) == archs
        assert space.sample(0, 0) == []
        for a in archs:
            space.validate(a)
            assert space.is_valid(a)
        with pytest.raises(InputError):
            space.sample(0, -1)
        assert not space.is_valid(object())
        assert space.size() >= 1

    def test_text_form_round_trips(self, space: SearchSpace, archs: list[Any]) -> None:
        for a in archs:
            assert space.decode(space.encode(a)) == a
        space.validate(space.decode(space.example()))
        with pytest.raises(InputError):
            space.decode("not an architecture of any space")

    def test_mutation_gives_another_valid_arch(self, space: SearchSpace, archs: list[Any]) -> None:
        for i, a in enumerate(archs[:5]):
            m = space.mutate(a, i)
            space.validate(m)
            assert space.encode(m) != space.encode(a)

    def test_ops_start_at_the_input(self, space: SearchSpace, archs: list[Any]) -> None:
        for a in archs:
            ops = space.ops(a)
            assert ops and ops[0].input_shape == space.input_shape(a)
            assert space.flops(a) > 0

    def test_all_ops_cover_every_network(self, space: SearchSpace, archs: list[Any]) -> None:
        table = {s.key for s in space.all_ops()}
        assert [s.key for s in space.all_ops()] == [s.key for s in space.all_ops()]  # deterministic
        for a in archs:
            assert {s.key for s in space.ops(a)} <= table

    def test_genes_round_trip(self, space: SearchSpace, archs: list[Any]) -> None:
        sizes = np.asarray(space.gene_sizes())
        g = space.to_genes(archs)
        assert g.shape == (len(archs), sizes.size) and (g >= 0).all() and (g < sizes).all()
        for a, row in zip(archs, g):
            assert space.encode(space.from_genes(row)) == space.encode(a)
        r = space.sample_genes(3, 50)
        assert (space.sample_genes(3, 50) == r).all()
        for row in r[:10]:
            space.validate(space.from_genes(row))
        with pytest.raises(InputError):
            space.from_genes([10**6] * sizes.size)

    def test_parts_list_every_op_exactly_once(self, space: SearchSpace) -> None:
        parts = space.parts()
        for row in space.sample_genes(1, self.n_archs):
            ops = []
            for i, p in enumerate(parts):
                ops += space.part_ops(i, [int(row[g]) for g in p.genes])
            assert Counter(s.key for s in ops) == Counter(s.key for s in space.ops(space.from_genes(row)))

    def test_canonical_genes_keep_the_network(self, space: SearchSpace) -> None:
        g = space.sample_genes(2, 100)
        c = space.canonical_genes(g)
        assert c.shape == g.shape and (space.canonical_genes(c) == c).all()
        if not space.has_redundant_genes:
            assert (c == g).all()
        for row, crow in zip(g[:20], c[:20]):
            assert [s.key for s in space.ops(space.from_genes(row))] == \
                [s.key for s in space.ops(space.from_genes(crow))]

    def test_config_rebuilds_the_space(self, space: SearchSpace, archs: list[Any]) -> None:
        again = type(space).from_config(space.config())
        assert type(again) is type(space) and again.config() == space.config()
        assert [again.encode(a) for a in again.sample(0, 5)] == [space.encode(a) for a in archs[:5]]
        with pytest.raises(InputError):
            type(space).from_config({"no_such_parameter_of_any_space": 1})

    def test_resolutions(self, space: SearchSpace) -> None:
        assert [s.key for s in space.table_ops()] == [s.key for s in space.all_ops()]
        arch = space.sample(0, 1)[0]
        c, h, w = space.input_shape(arch)
        try:
            other = space.with_resolutions([h])
        except InputError:
            with pytest.raises(InputError):
                space.table_ops([h])
            return
        assert type(other) is type(space)
        assert space.table_ops([h])

    def test_default_accuracy_is_a_source_or_says_what_to_give(self, space: SearchSpace) -> None:
        from hwlat.search.accuracy import AccuracySource, make_accuracy

        try:
            text = space.default_accuracy()
        except InputError as exc:
            assert "--accuracy" in str(exc)
            return
        assert isinstance(make_accuracy(text, space), AccuracySource)

    def test_torch_net(self, space: SearchSpace) -> None:
        arch = space.sample(0, 1)[0]
        if not space.has_torch_net:
            with pytest.raises(InputError):
                space.torch_net(arch)
            return
        torch = pytest.importorskip("torch")
        a, b = space.torch_net(arch, seed=1), space.torch_net(arch, seed=1)
        assert a.training
        assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
        nobn = space.torch_net(arch, seed=1, bn=False)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in nobn.modules())
        with torch.no_grad():
            out = a(torch.zeros((2, *space.input_shape(arch))))
        assert out.ndim == 2 and out.shape[0] == 2

    def test_supernet_or_a_clear_refusal(self, space: SearchSpace) -> None:
        if not space.has_supernet:
            with pytest.raises(InputError, match="supernet"):
                space.supernet(num_classes=10, input_size=32, width_mult=0.25)
            return
        pytest.importorskip("torch")
        net = space.supernet(num_classes=10, input_size=32, width_mult=0.25, seed=0)
        assert sum(p.numel() for p in net.parameters()) > 0
