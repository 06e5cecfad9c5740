"""Conformance suites a plugin runs on its own runtime, space, strategy or accuracy source.

Each module holds one class-based pytest suite (as ``optuna.testing`` does): subclass it in a
test module, under a name pytest collects, and say how to build the object under test::

    from hwlat.testing.space import SearchSpaceContract

    class TestMySpace(SearchSpaceContract):
        def make_space(self):
            return MySpace()

hwlat runs the same suites over its built-in spaces, strategies and accuracy sources. The suites
import pytest, which hwlat itself does not need: import them from tests only.
"""
