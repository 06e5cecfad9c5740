"""Conformance suites that hwlat's own tests and third-party plugins run (as ``optuna.testing``).

They need pytest (a test dependency, not one of hwlat's): import them from test files only.

``hwlat.testing.runtime``
    :class:`~hwlat.testing.runtime.RuntimeContract`, what every
    :class:`~hwlat.profiler.runtimes.Runtime` backend promises.

A plugin's test file subclasses a suite and says how to build its object::

    from hwlat.testing.runtime import RuntimeContract

    class TestMyRuntime(RuntimeContract):
        def make(self):
            return MyRuntime(threads=1)
"""
