"""The memory an op needs is checked before a weight or an input is drawn."""

from __future__ import annotations

import pytest

from hwlat import _files
from hwlat.errors import InputError
from hwlat.ops import spec as S
from hwlat.ops.ir import build_graph
from hwlat.ops.memory import op_memory_bytes


def test_an_op_too_large_is_refused_before_it_is_built():
    huge = S.conv((3, 100000, 100000), 16, 3)
    with pytest.raises(InputError, match=r"op conv:3x100000x100000:.* \(input 3x100000x100000\) needs about"):
        build_graph(huge)
    wide = S.fc((200000,), 200000)  # 4e10 weights, a small input
    with pytest.raises(InputError, match="op fc:200000:bias=1,cout=200000"):
        build_graph(wide)


def test_the_estimate_counts_inputs_weights_and_outputs(monkeypatch):
    conv = S.conv((16, 32, 32), 32, 3)
    inputs, weights, outputs = 16 * 32 * 32, 32 * 16 * 9 + 32, 32 * 32 * 32
    assert op_memory_bytes(conv) == 12 * (inputs + weights) + 8 * outputs
    monkeypatch.setattr(_files, "machine_memory_bytes", lambda: 2 * op_memory_bytes(conv) - 2)
    with pytest.raises(InputError, match="needs about"):
        build_graph(conv)
    monkeypatch.setattr(_files, "machine_memory_bytes", lambda: 2 * op_memory_bytes(conv))
    assert build_graph(conv).input_shapes() == [(16, 32, 32)]
