"""The tensor kinds: canonical forms, keys, and ONNX graphs read back as them."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.ops import OpSpec, conv
from hwlat.ops.canonical import canon_axis, canon_broadcast, canon_transpose
from hwlat.ops.spec import TENSOR_KINDS
from hwlat.predictors.sampling import perturb, sample_kernels

# -- canonical forms -------------------------------------------------------------------------------


def test_transpose_drops_size_one_axes_and_merges_axes_that_move_together():
    # a window partition of a (1, 56, 56, 96) map: (1, 8, 7, 8, 7, 96) -> (1, 8, 8, 7, 7, 96)
    assert canon_transpose((1, 8, 7, 8, 7, 96), (0, 1, 3, 2, 4, 5)) == ((8, 7, 8, 672), (0, 2, 1, 3))
    # the same data movement written another way has the same form
    assert canon_transpose((8, 7, 8, 672), (0, 2, 1, 3)) == ((8, 7, 8, 672), (0, 2, 1, 3))
    # NCHW -> NHWC is a 2-D transpose of (C, H*W)
    assert canon_transpose((1, 64, 28, 28), (0, 2, 3, 1)) == ((64, 784), (1, 0))
    # moving only size-1 axes moves nothing
    assert canon_transpose((1, 197, 1, 768), (2, 1, 0, 3)) is None
    with pytest.raises(InputError, match="not a permutation"):
        canon_transpose((2, 3), (0, 0))


def test_broadcast_merges_axes_with_the_same_pattern():
    assert canon_broadcast((1, 64, 28, 28), (1, 64, 1, 1)) == ((64, 784), (64, 1))  # a channel gate
    assert canon_broadcast((1, 197, 768), (768,)) == ((197, 768), (1, 768))  # a bias row
    assert canon_broadcast((1, 197, 768), (1, 197, 768)) == ((151296,), (151296,))  # same shape
    assert canon_broadcast((1, 12, 197, 197), ()) == ((465708,), (1,))  # a scalar
    with pytest.raises(InputError, match="does not broadcast"):
        canon_broadcast((4, 5), (3, 1))


def test_axis_form():
    assert canon_axis((1, 116, 28, 28), 1) == (1, 116, 784)
    assert canon_axis((197, 2304), -1) == (197, 2304, 1)


# -- specs -----------------------------------------------------------------------------------------

def test_conv_padding_default_stays_out_of_the_key():
    # keys of tables measured before the parameter existed still match
    assert conv((3, 32, 32), 16, 3).key == "conv:3x32x32:act=none,bn=1,cout=16,dil=1,groups=1,k=3,pre_act=none,s=1"
    patch = OpSpec.make("conv", (3, 224, 224), cout=768, k=16, s=16, pad=0)
    assert "pad=0" in patch.key and patch.output_shape == (768, 14, 14)
    assert OpSpec.from_key(patch.key) == patch


@pytest.mark.parametrize("spec, shape, inputs", [
    (OpSpec.make("matmul", (1, 197, 768), n=3072, bias=1), (1, 197, 3072), 1),
    (OpSpec.make("matmul", (12, 197, 64), n=197, w=0), (12, 197, 197), 2),
    (OpSpec.make("softmax", (2364, 197)), (2364, 197), 1),
    (OpSpec.make("layernorm", (197, 768), skip=1), (197, 768), 2),
    (OpSpec.make("eltwise", (64, 784), op="mul", rhs="64x1"), (64, 784), 2),
    (OpSpec.make("eltwise", (197, 768), op="add", rhs="1x768", const=1), (197, 768), 1),
    (OpSpec.make("transpose", (8, 7, 8, 672), perm="0,2,1,3"), (8, 8, 7, 672), 1),
    (OpSpec.make("split", (1, 232, 784), n=2), (1, 116, 784), 1),
    (OpSpec.make("slice", (1, 197, 768), len=1), (1, 1, 768), 1),
    (OpSpec.make("cat", (1, 64, 3136), sizes="64,32,32"), (1, 128, 3136), 3),
    (OpSpec.make("act", (151296,), fn="gelu"), (151296,), 1),
])
def test_tensor_specs_round_trip_and_know_their_shapes(spec, shape, inputs):
    assert spec.output_shape == shape and spec.n_inputs == inputs == len(spec.input_shapes)
    assert OpSpec.from_key(spec.key) == spec
    if spec.key_params:  # lists inside a parameter do not use ','
        assert len(spec.key.split(":")[2].split(",")) == len(spec.key_params)



@pytest.mark.parametrize("kind, params, match", [
    ("matmul", {"n": 8, "w": 1}, "w=1"),                       # a weight is shared: batch 1
    ("eltwise", {"op": "mul", "rhs": "3x1"}, "rhs=3x1"),         # does not broadcast
    ("transpose", {"perm": "0,0,1"}, "not a permutation"),
    ("split", {"n": 3}, "divide"),
    ("slice", {"start": 4, "len": 8}, "inside"),
])
def test_tensor_specs_refuse_clashing_parameters(kind, params, match):
    shape = (2, 10, 4) if kind != "eltwise" else (4, 5)
    with pytest.raises(InputError, match=match):
        OpSpec.make(kind, shape, **params)


@pytest.mark.parametrize("kind", TENSOR_KINDS)
def test_samples_are_canonical_and_have_neighbours(kind):
    specs = sample_kernels(kind, 40, seed=1)
    for s in specs:
        if kind == "transpose":
            perm = tuple(int(a) for a in str(s["perm"]).split("_"))
            assert canon_transpose(s.input_shape, perm) == (s.input_shape, perm)
        if kind == "eltwise":
            rhs = tuple(int(d) for d in str(s["rhs"]).split("x"))
            assert canon_broadcast(s.input_shape, rhs) == (s.input_shape, rhs)
    rng = np.random.default_rng(0)
    moved = [perturb(s, rng) for s in specs for _ in range(3)]
    ok = [m for m in moved if m is not None]
    assert len(ok) > len(moved) // 3 and all(m.kind == kind for m in ok)


def test_samples_follow_transformer_geometry():
    mm = sample_kernels("matmul", 200, seed=0)
    linear = [s for s in mm if s["w"]]
    attention = [s for s in mm if not s["w"]]
    assert 0.35 < len(linear) / len(mm) < 0.75
    assert all(s.input_shape[2] in (32, 64) or s["n"] in (32, 64) for s in attention)  # head widths
    assert all(s.input_shape[2] % 32 == 0 for s in linear if s.input_shape[1] > 1)  # widths: multiples of 32
