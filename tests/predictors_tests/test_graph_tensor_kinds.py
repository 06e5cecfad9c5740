"""Transformer and modern-CNN blocks read as kernels of the vocabulary, and predicted without fallback."""

from __future__ import annotations

import collections

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

from hwlat.ops.onnx_emit import torch_to_onnx  # noqa: E402
from hwlat.predictors.graph import GraphPredictor  # noqa: E402
from hwlat.predictors.onnx_kernels import LAYOUT_OPS, analyse_model, kernel_specs_of  # noqa: E402
from hwlat.profiler import Protocol  # noqa: E402
from hwlat.profiler.profile import profile_ops  # noqa: E402


class Encoder(nn.Module):
    """A ViT encoder block on (1, 17, 32) tokens, written out as torchvision writes it."""

    def __init__(self, d: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1, 2)  # (1, 1, T, D) -> (1, T, D)
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5, dim=-1)
        x = x + self.proj((a @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class SwishSE(nn.Module):
    """An EfficientNet-style block: conv, SiLU, squeeze-excite gate, a channel shuffle and split."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3, 1, 1)
        self.se1, self.se2 = nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 1)
        self.patch = nn.Conv2d(8, 16, 4, 4)  # a patch embedding: k = s, no padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.silu(self.conv(x))
        y = y * torch.sigmoid(self.se2(nn.functional.silu(self.se1(y.mean((2, 3), keepdim=True)))))
        b, c, h, w = y.shape
        y = y.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)
        a, z = y.chunk(2, dim=1)
        return torch.cat([a * 2.0, z], dim=1).mean((2, 3)) + self.patch(x).mean((2, 3))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("tensor_models")
    torch.manual_seed(0)
    return {"encoder": torch_to_onnx(Encoder().eval(), (1, 17, 32), d / "encoder.onnx"),
            "swish_se": torch_to_onnx(SwishSE().eval(), (8, 16, 16), d / "swish_se.onnx")}


@pytest.mark.parametrize("name, kinds", [
    ("encoder", {"matmul", "softmax", "layernorm", "transpose", "eltwise", "act", "split"}),
    ("swish_se", {"conv", "act", "eltwise", "transpose", "split", "concat"}),  # equal parts: concat
])
def test_every_kernel_is_a_vocabulary_kind(models, name, kinds):
    ks = analyse_model(models[name], "cpu-ort")
    unmapped = [(k.op_type, k.shapes, k.note) for k in ks
                if k.spec is None and not k.zero_reason and k.op_type not in LAYOUT_OPS]
    assert not unmapped
    found = collections.Counter(k.spec.kind for k in ks if k.spec is not None and not k.zero_reason)
    assert kinds <= set(found), found
    if name == "encoder":
        gelu = [k for k in ks if k.spec is not None and k.spec.kind == "act"]
        assert {str(k.spec["fn"]) for k in gelu} == {"gelu"}
        products = [k.spec for k in ks if k.spec is not None and k.spec.kind == "matmul" and not k.spec["w"]]
        assert sorted(s.input_shape + (int(s["n"]),) for s in products) == [(2, 17, 16, 17), (2, 17, 17, 16)]
    else:
        acts = {str(k.spec["fn"]) for k in ks if k.spec is not None and k.spec.kind == "act"}
        assert "swish" in acts
        assert any(k.spec is not None and k.spec.kind == "conv" and k.spec["pad"] == 0 for k in ks)


def test_profiled_kernels_predict_the_whole_model_from_the_table(models, tmp_path):
    specs = [s for name in models for s in kernel_specs_of(models[name], "cpu-ort")]
    table = profile_ops(specs, "cpu-ort", protocol=Protocol.quick(), out_dir=tmp_path / "t", progress=False).table
    pred = GraphPredictor(table=table).fit()  # no fallback allowed: every kernel must be a table hit
    ms = pred.predict(list(models.values()))
    assert np.all(np.isfinite(ms)) and np.all(ms > 0)
    for path in models.values():
        sources = set(pred.kernels(path)["source"])
        assert sources <= {"table", "layout", "zero-cost"}, sources
