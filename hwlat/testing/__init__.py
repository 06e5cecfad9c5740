"""Conformance suites a third-party plugin can run on its own implementation (as ``optuna.testing``).

Each suite is a pytest test class to subclass, in its own module (they import pytest):
:mod:`hwlat.testing.predictor` for latency predictors.
"""
