"""How much memory building and running one op takes, checked before anything is allocated.

The estimate counts what lowering and running an op holds at once: its input(s) (drawn as
float64, then kept as float32), its weights (drawn the same way), the tensors inside a block
(an MBConv's expanded channels, a residual block's middle) and its output (the runtime's and the
copy it returns), all float32 at batch 1.
"""

from __future__ import annotations

import math

from hwlat._files import check_memory
from hwlat.ops.spec import OpSpec, make_divisible

__all__ = ["op_memory_bytes", "check_op_memory"]

#: bytes per element of a tensor drawn in float64 and kept in float32 (inputs, weights)
_DRAWN = 12
#: bytes per element of a float32 tensor the runtime writes and hwlat reads back (inside and out)
_WRITTEN = 8


def _weights_and_inner(spec: OpSpec) -> tuple[int, int]:
    """(weight elements, elements of the tensors inside the op) of ``spec``."""
    p = spec.param_dict
    c = spec.input_shape[0]
    hw = math.prod(spec.input_shape[1:]) if len(spec.input_shape) == 3 else 1
    out = spec.output_shape
    ohw = math.prod(out[1:]) if len(out) == 3 else 1
    if spec.kind == "conv":
        return int(p["cout"]) * (c // int(p["groups"])) * int(p["k"]) ** 2 + int(p["cout"]), 0
    if spec.kind == "mbconv":
        mid, k, cout = int(p["mid"]), int(p["k"]), int(p["cout"])
        r = make_divisible(mid // 4, 8) if p["se"] else 0
        weights = c * mid + mid * k * k + mid * cout + 2 * mid * r + 3 * mid + cout
        return weights, mid * hw + mid * ohw
    if spec.kind == "fc":
        return c * int(p["cout"]) + int(p["cout"]), c
    if spec.kind == "resblock":
        cout, k = int(p["cout"]), int(p["k"])
        return cout * c * k * k + cout * cout * k * k + cout * c + 3 * cout, 3 * cout * ohw + c * hw
    if spec.kind == "bn":
        return 2 * c, 0
    if spec.kind == "matmul" and int(p["w"]):
        return spec.input_shape[2] * int(p["n"]) + int(p["n"]), 0
    if spec.kind == "layernorm":
        return 2 * spec.input_shape[-1], 0
    if spec.kind == "eltwise" and int(p["const"]):
        return _rhs_elements(spec), 0
    return 0, 0


def _rhs_elements(spec: OpSpec) -> int:
    from hwlat.ops.canonical import parse_shape

    return math.prod(parse_shape(str(spec["rhs"])))


def op_memory_bytes(spec: OpSpec) -> int:
    """About how many bytes building and running ``spec`` at batch 1 holds at once."""
    weights, inner = _weights_and_inner(spec)
    inputs = sum(math.prod(s) for s in spec.input_shapes)
    return _DRAWN * (inputs + weights) + _WRITTEN * (inner + math.prod(spec.output_shape))


def check_op_memory(spec: OpSpec) -> None:
    """An :class:`~hwlat.errors.InputError` naming ``spec`` and its input shape when it needs more
    memory than this machine can give one op (:func:`hwlat._files.memory_bound_bytes`)."""
    shape = "x".join(map(str, spec.input_shape))
    check_memory(op_memory_bytes(spec), f"op {spec.key} (input {shape})",
                 "use smaller shapes (channels, resolution) or measure it on a machine with more memory")
