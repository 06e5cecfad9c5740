"""Weight streaming: what a network's matrix products pay because their weights are not in cache.

An op timed alone runs on weights the previous run left in cache. Inside a network every matrix
product has weights of its own, and once the network's weights outgrow the caches each product
streams its weights from memory again on every inference. Convolutions hide this (ONNX Runtime
reorders their weights into its block layout, read in order and prefetched), matrix products of
a few tokens do not: on a 2-core Xeon a ViT-B/32 runs about a third slower than the sum of its
ops timed alone.

The profile measures it (:mod:`hwlat.profiler.streaming`, where the ops include weighted
matrix products): chains of 4, 16 and 64 copies of one weighted product, each copy with its own
weights, against the product alone. The extra time
per weight byte at each chain's total weight bytes is the table's
``metadata.extra["weight_streaming"]``; a model whose weights total ``W`` bytes pays, on each
weighted ``matmul`` or ``fc`` kernel, its weight bytes times that rate interpolated at ``W`` (on
a log scale from the op alone, which pays nothing; the largest total's rate above it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hwlat.ops.onnx_import import KernelInfo
from hwlat.ops.spec import OpSpec
from hwlat.predictors.features import params_count

__all__ = ["StreamingCurve", "streaming_curve", "streaming_ms", "streams", "weight_bytes"]

_BYTES = 4  # float32 weights

StreamingCurve = tuple[np.ndarray, np.ndarray]  # (total weight bytes, ms per weight byte), increasing bytes


def streams(spec: OpSpec | None) -> bool:
    """True for the kernels that pay for streaming their weights: weighted products and fc."""
    return spec is not None and (spec.kind == "fc" or (spec.kind == "matmul" and bool(int(spec["w"]))))


def weight_bytes(spec: OpSpec) -> int:
    return _BYTES * params_count(spec)


def streaming_curve(extra: Mapping[str, Any]) -> StreamingCurve | None:
    """The curve recorded in a table's ``metadata.extra`` (None: none recorded or unreadable)."""
    rec = extra.get("weight_streaming")
    try:
        pts = sorted((float(b), float(r)) for b, r in rec["points"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    if not pts:
        return None
    return np.array([p[0] for p in pts]), np.maximum(np.array([p[1] for p in pts]), 0.0)


def streaming_ms(kernels: Sequence[KernelInfo], curve: StreamingCurve | None) -> tuple[np.ndarray, float]:
    """(extra ms of each kernel, the model's total weight bytes) under ``curve``."""
    extra = np.zeros(len(kernels))
    total = float(sum(weight_bytes(k.spec) for k in kernels if k.spec is not None and not k.zero_reason))
    if curve is None or total <= 0:
        return extra, total
    sizes, rates = curve
    rate = float(np.interp(np.log(total), np.log(sizes), rates, left=0.0))
    for i, k in enumerate(kernels):
        if streams(k.spec) and not k.zero_reason:
            extra[i] = rate * weight_bytes(k.spec)  # type: ignore[arg-type]
    return extra, total
