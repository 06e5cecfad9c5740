from __future__ import annotations

import json
import re

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.ops.spec import OpSpec, conv, fc, gap, mbconv
from hwlat.spaces import OFAMobileNetV3Space

from ._helpers import DATA_DIR, expected_counts, primitive_counts, run_onnx

LUT_DIR = DATA_DIR / "ofa"
LUT_RESOLUTIONS = (160, 176, 192, 208, 224)

_SHAPE = r"(\d+)x(\d+)x(\d+)"
_MB = re.compile(rf"^expanded_conv-input:{_SHAPE}-output:{_SHAPE}-expand:(\d+)-kernel:(\d+)-stride:(\d+)"
                 r"-idskip:(\d)-se:(\d)-hs:(\d)$")


def lut_key_to_spec(key: str) -> OpSpec:
    """Parse one key of OFA's Note10 lookup table (TF-style HxWxC shapes) into an OpSpec."""
    m = _MB.match(key)
    if m:
        h, w, c, _, _, co, mid, k, s, idskip, se, hs = (int(x) for x in m.groups())
        return mbconv((c, h, w), co, k, s, mid=mid, se=se, act="hswish" if hs else "relu", res=idskip)
    name, rest = key.split("-input:")
    inp, out = rest.split("-output:")
    h, w, c = (int(x) for x in inp.split("x"))
    if name == "Conv":  # first conv: 3x3 stride 2, BN, h-swish
        co = int(out.split("x")[2])
        return conv((c, h, w), co, 3, 2, act="hswish")
    if name == "Conv_1":  # final expand: 1x1, BN, h-swish
        return conv((c, h, w), int(out.split("x")[2]), 1, act="hswish")
    if name == "AvgPool2D":
        return gap((c, h, w))
    if name == "Conv_2":  # feature mix: 1x1, no BN, h-swish
        return conv((c, h, w), int(out.split("x")[2]), 1, bn=0, act="hswish")
    if name == "Logits":
        return fc((c, h, w), int(out))
    raise AssertionError(f"unknown LUT key {key}")


def lut_specs(r: int) -> set[OpSpec]:
    yaml = pytest.importorskip("yaml")
    path = LUT_DIR / f"note10_lut_{r}.yaml"
    if not path.is_file():
        pytest.skip(f"Once-for-All Note10 LUT not found at {path} (shared benchmark data folder absent)")
    with path.open() as fh:
        keys = list(yaml.safe_load(fh))
    specs = {lut_key_to_spec(k) for k in keys}
    assert len(specs) == len(keys)
    return specs


@pytest.fixture(scope="module")
def space() -> OFAMobileNetV3Space:
    return OFAMobileNetV3Space()


def test_widths(space):
    assert space.first_width == 24 and space.first_block_width == 24
    assert space.stage_widths == (32, 48, 96, 136, 192)
    assert (space.final_expand_width, space.last_channel) == (1152, 1536)
    w1 = OFAMobileNetV3Space(width_mult=1.0)
    assert w1.first_width == 16 and w1.stage_widths == (24, 40, 80, 112, 160)


@pytest.mark.parametrize("r", LUT_RESOLUTIONS)
def test_all_ops_equal_note10_lut(space, r):
    ops = space.all_ops(resolution=r)
    assert len(ops) == len(set(ops)) == 96
    lut = lut_specs(r)
    mine = set(ops)
    assert mine == lut, (f"only in hwlat: {sorted(s.key for s in mine - lut)}; "
                         f"only in LUT: {sorted(s.key for s in lut - mine)}")


def test_all_ops_union_and_subset(space):
    union = space.all_ops()
    assert len(union) == len(set(union))
    assert union == space.all_ops()
    table = set(union)
    assert set(space.all_ops(224)) <= table and set(space.all_ops(128)) <= table
    for a in space.sample(3, 200):
        ops = space.ops(a)
        assert set(ops) <= table
        assert set(ops) <= set(space.all_ops(a["r"]))


def test_ops_structure(space):
    a = {"ks": [3, 5, 7, 3] * 5, "e": [3, 4, 6, 6] * 5, "d": [2, 3, 4, 2, 3], "r": 224}
    ops = space.ops(a)
    assert len(ops) == 2 + 14 + 4
    assert ops[0] == conv((3, 224, 224), 24, 3, 2, act="hswish")
    assert ops[1] == mbconv((24, 112, 112), 24, 3, 1, mid=24, se=0, act="relu", res=1)
    assert ops[2] == mbconv((24, 112, 112), 32, 3, 2, mid=72, se=0, act="relu", res=0)
    assert ops[3] == mbconv((32, 56, 56), 32, 5, 1, mid=128, se=0, act="relu", res=1)
    assert ops[4] == mbconv((32, 56, 56), 48, 3, 2, mid=96, se=1, act="relu", res=0)
    assert [o.kind for o in ops[-4:]] == ["conv", "gap", "conv", "fc"]
    assert ops[-4].input_shape == (192, 7, 7) and ops[-1].input_shape == (1536,)
    # ks/e of layers beyond a stage's depth do not change the network
    b = json.loads(json.dumps(a))
    b["ks"][19] = 3 if a["ks"][19] != 3 else 5
    assert space.ops(b) == ops


def test_encode_decode(space):
    for a in space.sample(0, 50):
        s = space.encode(a)
        assert space.decode(s) == a
        assert s == json.dumps(a, sort_keys=True, separators=(",", ":"))
        assert space.from_ofa_dict(space.to_ofa_dict(a)) == a
        assert space.to_ofa_dict(a)["r"] == [a["r"]]


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"),
    ('{"ks": [3], "e": [3], "d": [2], "r": 224}', "list of 20"),
    ('{"ks": [3], "e": [3]}', "exactly the keys"),
    (json.dumps({"ks": [4] * 20, "e": [3] * 20, "d": [2] * 5, "r": 224}), "one of (3, 5, 7)"),
    (json.dumps({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 225}), "not in this space"),
])
def test_invalid_strings(space, text, fragment):
    with pytest.raises(InputError) as info:
        space.decode(text)
    msg = str(info.value)
    assert fragment in msg
    assert '{"d":[4,4,4,4,4]' in msg  # shows a valid example
    space.decode(msg[msg.index('{"d":'):])


def test_sample_deterministic_and_valid(space):
    assert space.sample(5, 10) == space.sample(5, 10)
    assert space.sample(5, 10) != space.sample(6, 10)
    rs = {a["r"] for a in space.sample(1, 200)}
    assert rs <= set(range(128, 225, 4)) and len(rs) > 10
    assert space.size() == (9 ** 2 + 9 ** 3 + 9 ** 4) ** 5 * 25


def test_mutate(space):
    for i, a in enumerate(space.sample(9, 30)):
        m = space.mutate(a, i)
        space.validate(m)
        assert m != a and space.ops(m) != space.ops(a)


@pytest.mark.parametrize("seed", [0, 1])
def test_build_runs_at_low_resolution(seed):
    space = OFAMobileNetV3Space(resolutions=[128])
    a = space.sample(seed, 1)[0]
    g = space.build(a, seed=seed)
    assert primitive_counts(g) == expected_counts(space.ops(a))
    out = run_onnx(g)
    assert out.shape == (1, 1000) and np.all(np.isfinite(out))


@pytest.mark.parametrize("r", [160, 224])
def test_all_ops_equal_imported_lut(space, r):
    """The table importer of hwlat.latency_tables maps the same LUT onto the same op set."""
    importers = pytest.importorskip("hwlat.latency_tables.importers")
    yaml = pytest.importorskip("yaml")
    path = LUT_DIR / f"note10_lut_{r}.yaml"
    if not path.is_file():
        pytest.skip(f"Once-for-All Note10 LUT not found at {path} (shared benchmark data folder absent)")
    with path.open() as fh:
        keys = list(yaml.safe_load(fh))
    imported = {importers.ofa_key_to_spec(k) for k in keys}
    mine = set(space.all_ops(resolution=r))
    only_imported = {s.key for s in imported - mine}
    only_mine = {s.key for s in mine - imported}
    assert imported == mine, f"only imported: {sorted(only_imported)}; only in space: {sorted(only_mine)}"


def test_op_counts_count_the_layers_that_run(space):
    """Count features for few-shot fits: layers that run by kernel size and by expand ratio; a
    stage's skipped layers count for nothing, whatever their genes say."""
    a = {"r": 224, "d": [2, 2, 2, 2, 2], "ks": [7] * 20, "e": [6] * 20}
    b = dict(a, ks=[7, 7, 3, 3] * 5, e=[6, 6, 4, 4] * 5)  # the third and fourth layers are skipped
    c = dict(a, d=[4, 2, 2, 2, 3], ks=[3, 5, 7, 7] + [7] * 16, e=[3, 4, 6, 6] + [6] * 16)
    counts = space.op_counts(space.to_genes([a, b, c]))
    # columns: k3, k5, k7, e4, e6
    assert counts.tolist() == [[0, 0, 10, 0, 10], [0, 0, 10, 0, 10], [1, 1, 11, 1, 11]]
    assert np.array_equal(counts, space.op_counts(space.canonical_genes(space.to_genes([a, b, c]))))
