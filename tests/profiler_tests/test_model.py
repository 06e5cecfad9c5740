"""profile_model: end-to-end timing and the per-node breakdown from the ONNX Runtime trace."""

from __future__ import annotations

import pytest

from hwlat.errors import InputError, UnsupportedOpError
from hwlat.ops import conv, fc, mbconv, to_onnx
from hwlat.profiler import Protocol
from hwlat.profiler.model import parse_ort_trace, profile_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "net.onnx"
    chain = [conv((3, 64, 64), 16, 3, 2, act="relu"), mbconv((16, 32, 32), 24, 5, 2, expand=6, se=1, act="hswish"),
             mbconv((24, 16, 16), 24, 3, 1, expand=3), conv((24, 16, 16), 64, 1, act="relu"), fc((64, 16, 16), 10)]
    path.write_bytes(to_onnx(chain).SerializeToString())
    return path


def test_breakdown_of_a_real_model(model_file):
    prof = profile_model(model_file, "cpu-ort", protocol=Protocol.quick(), trace_runs=20, warmup_runs=5)
    df = prof.nodes
    assert len(df) >= 5
    assert list(df["latency_ms"]) == sorted(df["latency_ms"], reverse=True)
    assert (df["latency_ms"] <= df["median_ms"] + 1e-9).all()  # the minimum of the runs, by default
    assert df["share_pct"].sum() == pytest.approx(100.0)
    assert (df["runs"] == 20).all() and prof.traced_runs == 20
    assert "Conv" in set(df["op_type"]) or "FusedConv" in set(df["op_type"])
    # the traced per-node sum is of the order of the untraced end-to-end latency
    assert 0.2 * prof.latency.latency_ms < prof.sum_nodes_ms < 5 * prof.latency.latency_ms
    by_type = prof.by_op_type()
    assert by_type["share_pct"].sum() == pytest.approx(100.0)


def test_warmup_runs_are_dropped():
    events = [{"cat": "Session", "name": "model_run", "ts": 100 * i, "dur": 50} for i in range(4)]
    events += [{"cat": "Node", "name": "conv_kernel_time", "ts": 100 * i + 10, "dur": d,
                "args": {"op_name": "Conv", "provider": "CPUExecutionProvider"}}
               for i, d in enumerate([900, 10, 12, 11])]
    df, kept = parse_ort_trace(events, drop_runs=1)
    assert kept == 3
    assert df.loc[0, "median_ms"] == pytest.approx(0.011)  # the 900 µs first run is gone
    assert df.loc[0, "latency_ms"] == pytest.approx(0.010)  # the minimum of the runs kept
    with pytest.raises(InputError, match="warm-up"):
        parse_ort_trace(events, drop_runs=4)


def test_malformed_onnx_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(InputError, match="not a valid ONNX model"):
        profile_model(bad, "cpu-ort")
    with pytest.raises(InputError, match="does not exist"):
        profile_model(tmp_path / "missing.onnx", "cpu-ort")


def test_breakdown_needs_an_onnxruntime_device(model_file):
    with pytest.raises(UnsupportedOpError, match="cpu-ort"):
        profile_model(model_file, "cpu-litert")
