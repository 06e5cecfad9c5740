"""Measuring latency: runtimes, the measurement protocol, op profiling and whole-model breakdowns."""
