"""ONNX, TFLite and torch emitters: same weights, same input, same output — ops and whole networks."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.ops import build_graph, conv, fc, mbconv, pool, resblock
from hwlat.ops.onnx_emit import graph_to_onnx
from hwlat.ops.tflite_emit import graph_to_tflite
from hwlat.spaces import get_space

torch = pytest.importorskip("torch", reason="the torch emitter needs: pip install 'hwlat[torch]'")


def run_all_three(graph, seed=0):
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    from hwlat.ops.torch_emit import graph_to_torch

    (x,) = graph.random_inputs(seed)
    o = ort.InferenceSession(graph_to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    y_onnx = o.run(None, {graph.inputs[0]: x})[0]

    it = Interpreter(model_content=graph_to_tflite(graph), num_threads=1)
    it.allocate_tensors()
    x_nhwc = np.transpose(x, (0, 2, 3, 1)) if x.ndim == 4 else x
    it.set_tensor(it.get_input_details()[0]["index"], np.ascontiguousarray(x_nhwc))
    it.invoke()
    y_tfl = it.get_tensor(it.get_output_details()[0]["index"])
    if y_tfl.ndim == 4:
        y_tfl = np.transpose(y_tfl, (0, 3, 1, 2))

    with torch.inference_mode():
        y_torch = graph_to_torch(graph)(torch.from_numpy(x)).numpy()
    return y_onnx, y_tfl, y_torch


@pytest.mark.parametrize("specs", [
    [conv((3, 32, 32), 16, 3, 2, act="hswish")],
    [mbconv((24, 28, 28), 40, 7, 2, expand=6, se=1, act="hswish")],
    [conv((16, 16, 16), 16, 3, pre_act="relu"), pool((16, 16, 16), 3), resblock((16, 16, 16), 32)],
    [conv((8, 9, 9), 32, 3, 2, act="relu6"), fc((32, 5, 5), 10)],
], ids=["conv-s2-hswish", "mbconv-se", "nb201-ops", "odd-size-fc"])
def test_ops_agree(specs):
    a, b, c = run_all_three(build_graph(specs, seed=7))
    assert a.shape == b.shape == c.shape
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(c, a, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("space_name,kwargs", [("nb201", {}), ("ofa-mbv3", {"resolutions": [128]}),
                                               ("proxyless", {"resolution": 128})])
def test_whole_networks_agree(space_name, kwargs):
    space = get_space(space_name, **kwargs)
    arch = space.sample(3, 1)[0]
    a, b, c = run_all_three(space.build(arch, seed=1))
    assert a.shape[-1] == b.shape[-1] == c.shape[-1]
    scale = np.abs(a).max() + 1e-6  # deep random networks: compare relative to the output's scale
    assert np.abs(b - a).max() / scale < 1e-3
    assert np.abs(c - a).max() / scale < 1e-3
