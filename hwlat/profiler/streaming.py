"""The weight-streaming probe a profile runs where its ops include weighted matrix products.

An op timed alone runs on weights its previous run left in cache; inside a network each matrix
product has weights of its own. The probe times chains of :data:`STREAM_COPIES` copies of
:data:`STREAM_SPEC`, each copy with its own weights, against the product alone, and records the
extra time per weight byte at each chain's total weight bytes
(``metadata.extra["weight_streaming"]``; :mod:`hwlat.predictors.streaming` turns it into what a
model pays).
"""

from __future__ import annotations

from collections.abc import Mapping

from hwlat.ops.spec import OpSpec

__all__ = ["STREAM_COPIES", "STREAM_SPEC", "measured_points", "probe_weight_bytes"]

#: the probe: one weighted product of 64 tokens, 1024 -> 1024 (4 MiB of weights a copy)
STREAM_SPEC = OpSpec.from_key("matmul:1x64x1024:bias=1,n=1024,w=1")
#: the chain lengths timed
STREAM_COPIES: tuple[int, ...] = (4, 16, 64)


def probe_weight_bytes() -> int:
    """float32 bytes of one copy's weights and bias."""
    k, n = STREAM_SPEC.input_shape[2], int(STREAM_SPEC["n"])
    return 4 * (k * n + n)


def measured_points(alone_ms: float, chains: Mapping[int, float]) -> list[list[float]]:
    """``[[total weight bytes, ms per byte], ...]`` from the probe's time alone and each chain's
    (copies -> ms), starting from the op alone (one copy: no extra); a chain faster than its
    copies alone gives 0."""
    per = probe_weight_bytes()
    return [[float(per), 0.0]] + [[float(n * per), max(ms / n - alone_ms, 0.0) / per]
                                  for n, ms in sorted(chains.items()) if n > 1]
