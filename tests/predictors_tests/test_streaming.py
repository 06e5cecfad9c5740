"""Weight streaming: the probe a profile runs, the curve it records, and what a model pays."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.ops import conv
from hwlat.ops.onnx_import import KernelInfo
from hwlat.ops.spec import OpSpec
from hwlat.predictors.streaming import streaming_curve, streaming_ms, weight_bytes
from hwlat.profiler import Protocol
from hwlat.profiler.profile import profile_ops
from hwlat.profiler.streaming import STREAM_COPIES, STREAM_SPEC, measured_points

MIB = 2**20
PRODUCT = OpSpec.from_key("matmul:1x50x768:bias=1,n=3072,w=1")
ATTENTION = OpSpec.from_key("matmul:12x50x64:bias=0,n=50,w=0")


def _kernel(spec: OpSpec) -> KernelInfo:
    return KernelInfo(f"n{id(spec)}", "MatMul", "", spec=spec)


def test_points_start_from_the_op_alone_and_never_go_negative():
    per = weight_bytes(STREAM_SPEC)
    pts = measured_points(1.0, {4: 4.0, 16: 20.0, 64: 60.0})
    assert pts[0] == [per, 0.0]
    assert pts[1] == [4 * per, 0.0]
    assert pts[2] == pytest.approx([16 * per, 0.25 / per])
    assert pts[3] == [64 * per, 0.0]  # faster than its copies alone: no extra


def test_only_weighted_products_pay_and_only_once_the_weights_are_large():
    curve = streaming_curve({"weight_streaming": {"points": [[4 * MIB, 0.0], [64 * MIB, 1e-7]]}})
    big = [_kernel(PRODUCT)] * 8 + [_kernel(ATTENTION), _kernel(conv((64, 56, 56), 64, 3))]
    extra, total = streaming_ms(big, curve)
    assert total == pytest.approx(8 * weight_bytes(PRODUCT) + weight_bytes(conv((64, 56, 56), 64, 3)))
    rate = np.interp(np.log(total), np.log([4 * MIB, 64 * MIB]), [0.0, 1e-7])
    assert extra[:8] == pytest.approx(rate * weight_bytes(PRODUCT))
    assert extra[8] == 0 and extra[9] == 0  # no weights; a convolution hides it
    small, _ = streaming_ms([_kernel(PRODUCT)], curve)  # 9 MiB of weights: barely any
    assert 0 < small[0] < extra[0] / 2
    assert not streaming_ms(big, None)[0].any()
    assert streaming_curve({}) is None and streaming_curve({"weight_streaming": {"points": "x"}}) is None


def test_a_profile_with_weighted_products_records_the_curve(tmp_path):
    small = OpSpec.from_key("matmul:1x16x64:bias=1,n=64,w=1")
    table = profile_ops([small], "cpu-ort", protocol=Protocol.quick(), out_dir=tmp_path, progress=False).table
    rec = table.metadata.extra["weight_streaming"]
    assert rec["spec"] == STREAM_SPEC.key
    assert sorted(map(int, rec["chains_ms"])) == [1, *STREAM_COPIES]
    assert len(rec["points"]) == 1 + len(STREAM_COPIES) and all(r >= 0 for _, r in rec["points"])
    assert len(table) == 1  # the probe is not a row of the table
    again = profile_ops([small], "cpu-ort", protocol=Protocol.quick(), out_dir=tmp_path, progress=False)
    assert again.n_measured == 0 and again.table.metadata.extra["weight_streaming"] == rec  # resumed
    plain = profile_ops([conv((8, 14, 14), 8, 3)], "cpu-ort", protocol=Protocol.quick(), progress=False).table
    assert "weight_streaming" not in plain.metadata.extra
