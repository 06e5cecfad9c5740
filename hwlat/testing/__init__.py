"""Conformance suites a plugin runs on its own runtime, space, strategy, accuracy source or predictor.

Each module holds one class-based pytest suite (as ``optuna.testing`` does): subclass it in a
test module, under a name pytest collects, and say how to build the object under test::

    from hwlat.testing.space import SearchSpaceContract

    class TestMySpace(SearchSpaceContract):
        def make_space(self):
            return MySpace()

Suites: :mod:`hwlat.testing.space`, :mod:`hwlat.testing.strategy`, :mod:`hwlat.testing.accuracy`,
:mod:`hwlat.testing.predictor` (and :mod:`hwlat.testing.runtime`). hwlat runs the same suites over
its built-in parts. The suites import pytest, which hwlat itself does not need: import them from
tests only.
"""
