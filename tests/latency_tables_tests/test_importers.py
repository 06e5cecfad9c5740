from __future__ import annotations

import math
import re

import pytest
import yaml

from hwlat.errors import InputError
from hwlat.latency_tables import LatencyTable, import_ofa_yaml
from hwlat.latency_tables.importers import ofa_key_to_spec
from hwlat.ops import OpSpec
from hwlat.ops import spec as S

RESOLUTIONS = (160, 176, 192, 208, 224)


@pytest.mark.parametrize("res", RESOLUTIONS)
def test_import_note10_tables(ofa_dir, res):
    path = ofa_dir / f"note10_lut_{res}.yaml"
    raw = yaml.safe_load(path.read_text())
    t = import_ofa_yaml(path)
    assert len(t) == len(raw) == 96
    m = t.metadata
    assert m.source == f"imported:note10_lut_{res}.yaml"
    assert m.device["name"] == "note10 (imported)"
    assert m.statistic == "mean"
    df = t.df
    # every imported key is a canonical OpSpec key, and every value is the published mean
    for key in t.keys():
        assert OpSpec.from_key(key).key == key
    assert sorted(df["latency_ms"]) == pytest.approx(sorted(v["mean"] for v in raw.values()))
    assert (df["latency_ms"] == df["mean_ms"]).all()
    assert df["iqr_ms"].isna().all() and df["p10_ms"].isna().all() and df["median_ms"].isna().all()
    assert not df["unstable"].any()
    assert sorted(df["n"].tolist()) == sorted(v["count"] for v in raw.values())
    assert df["kind"].value_counts().to_dict() == {"mbconv": 91, "conv": 3, "gap": 1, "fc": 1}
    # the stem sees the full resolution, the head a 1x1 feature vector
    stem = S.conv((3, res, res), 24, 3, 2, act="hswish")
    assert stem in t
    assert t.lookup(S.fc((1536,), 1000)) > 0


def test_note10_224_details(ofa_dir):
    path = ofa_dir / "note10_lut_224.yaml"
    raw = yaml.safe_load(path.read_text())
    t = import_ofa_yaml(path)
    convs = [k for k in t.keys() if k.startswith("conv:3x224x224:")]
    assert len(convs) == 1 and "cout=24" in convs[0] and "act=hswish" in convs[0] and "s=2" in convs[0]
    assert t.lookup(convs[0]) == raw["Conv-input:224x224x3-output:112x112x24"]["mean"]
    assert t.row(convs[0])["std_ms"] == raw["Conv-input:224x224x3-output:112x112x24"]["std"]
    # feature mix: 1x1 conv without BN
    mix = S.conv((1152, 1, 1), 1536, 1, bn=0, act="hswish")
    assert t.lookup(mix) == raw["Conv_2-input:1x1x1152-output:1x1x1536"]["mean"]
    assert t.lookup(S.gap((1152, 7, 7))) == raw["AvgPool2D-input:7x7x1152-output:1x1x1152"]["mean"]
    # "expand" holds the middle channel count; hs picks h-swish
    key = "expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0"
    spec = S.mbconv((24, 112, 112), 32, 3, 2, mid=144, act="relu", res=0)
    assert ofa_key_to_spec(key) == spec
    assert t.lookup(spec) == raw[key]["mean"]
    se_hs = [s for s in t.specs() if s.kind == "mbconv" and s["se"] == 1 and s["act"] == "hswish"]
    assert se_hs and all(s.output_shape[0] == s["cout"] for s in se_hs)
    assert any(s.kind == "mbconv" and s["res"] == 1 for s in t.specs())


def test_imported_table_round_trips(ofa_dir, tmp_path):
    t = import_ofa_yaml(ofa_dir / "note10_lut_160.yaml")
    back = LatencyTable.load(t.save(tmp_path / "note10.parquet"))
    assert back.metadata == t.metadata and back.keys() == t.keys()


def test_key_mapping_ofa():
    assert ofa_key_to_spec("Logits-input:1x1x1280-output:1000") == S.fc((1280,), 1000)
    assert ofa_key_to_spec("Logits-input:7x7x960-output:1000") == S.fc((960, 7, 7), 1000)
    assert ofa_key_to_spec("Conv_1-input:7x7x160-output:7x7x960") == S.conv((160, 7, 7), 960, 1, act="hswish")
    k = "expanded_conv-input:28x28x40-output:28x28x40-expand:160-kernel:5-stride:1-idskip:1-se:1-hs:1"
    assert ofa_key_to_spec(k) == S.mbconv((40, 28, 28), 40, 5, 1, mid=160, se=1, act="hswish", res=1)


def test_key_mapping_proxyless():
    k = "expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0"
    assert ofa_key_to_spec(k, space="proxyless") == S.mbconv((16, 112, 112), 24, 5, 2, mid=48, act="relu6", res=0)
    k1 = "expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:3-stride:1-idskip:0"
    assert ofa_key_to_spec(k1, space="proxyless")["mid"] == 32
    assert ofa_key_to_spec("Conv-input:224x224x3-output:112x112x32", space="proxyless") == \
        S.conv((3, 224, 224), 32, 3, 2, act="relu6")
    with pytest.raises(InputError, match="space='ofa-mbv3'"):  # an OFA key in a proxyless import
        ofa_key_to_spec(k1 + "-se:0-hs:0", space="proxyless")
    with pytest.raises(InputError, match="Conv_2"):
        ofa_key_to_spec("Conv_2-input:1x1x1152-output:1x1x1536", space="proxyless")


@pytest.mark.parametrize("key, match", [
    ("Conv-input:224x224x3-output:111x111x24", "output"),  # wrong output size
    ("expanded_conv-input:56x56x24-output:56x56x24-expand:72-kernel:3-stride:1-idskip:1-se:0", "fields"),
    ("expanded_conv-input:56x56x24-output:28x28x40-expand:72-kernel:3-stride:2-idskip:1-se:0-hs:0", "residual"),
    ("Pool-input:7x7x3-output:1x1x3", "unknown block type"),
    ("Conv-input:224x3-output:112x112x24", "HxWxC"),
    ("conv 3x3", "malformed"),
])
def test_bad_keys(key, match):
    with pytest.raises(InputError, match=match):
        ofa_key_to_spec(key)


def _write(tmp_path, text: str, name: str = "lut.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_proxyless_file(tmp_path):
    p = _write(tmp_path, (
        "Conv-input:224x224x3-output:112x112x32:\n  count: 10\n  mean: 1.5\n  std: 0.1\n"
        "expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:3-stride:1-idskip:0:\n"
        "  count: 10\n  mean: 2.5\n  std: 0.2\n"
        "Logits-input:7x7x1280-output:1000:\n  count: 10\n  mean: 0.5\n  std: 0.01\n"
    ), name="pixel1_lut.yaml")
    t = import_ofa_yaml(p, space="proxyless")
    assert len(t) == 3 and t.metadata.device["name"] == "pixel1 (imported)"
    assert t.lookup(S.fc((1280, 7, 7), 1000)) == 0.5
    assert t.metadata.extra["space"] == "proxyless"


def test_bad_key_in_file_names_line(tmp_path):
    p = _write(tmp_path, (
        "Conv-input:224x224x3-output:112x112x24:\n  count: 10\n  mean: 1.5\n  std: 0.1\n"
        "Conv_1-input:7x7x160-output:7x7x961-bogus:1:\n  count: 10\n  mean: 1.5\n  std: 0.1\n"
    ))
    with pytest.raises(InputError, match=re.escape(f"{p}:5:") + ".*Conv_1-input:7x7x160"):
        import_ofa_yaml(p)


def test_malformed_yaml_names_line(tmp_path):
    p = _write(tmp_path, (
        "Conv-input:224x224x3-output:112x112x24:\n  count: 10\n  mean: 1.5\n"
        "  std: [0.1\n"
        "AvgPool2D-input:7x7x1152-output:1x1x1152:\n  count: 5\n"
    ))
    with pytest.raises(InputError) as info:
        import_ofa_yaml(p)
    msg = str(info.value)
    assert str(p) in msg and "is not valid YAML at line" in msg
    assert re.search(r"at line 5, column \d+", msg)  # the unclosed list is reported where parsing stopped


@pytest.mark.parametrize("text, match", [
    ("Conv-input:224x224x3-output:112x112x24:\n  count: 10\n  std: 0.1\n", ":1:.*'mean'"),
    ("Conv-input:224x224x3-output:112x112x24:\n  count: 10\n  mean: fast\n  std: 0.1\n", ":1:.*non-numeric"),
    ("- just\n- a list\n", "expected a YAML mapping"),
    ("", "expected a YAML mapping"),
    ("Conv-input:224x224x3-output:112x112x24:\n  mean: 1\nConv-input:224x224x3-output:112x112x24:\n  mean: 2\n",
     ":3:.*twice"),
    ("Conv-input:224x224x3-output:112x112x24:\n  count: 10\n  mean: 0\n  std: 0.1\n", ":1:.*mean latency 0.0 ms"),
    ("Conv-input:224x224x3-output:112x112x24:\n  count: 10\n  mean: 1\n  std: -0.1\n", ":1:.*invalid std -0.1"),
    ("Conv-input:224x224x3-output:112x112x24:\n  count: -2\n  mean: 1\n  std: 0.1\n", ":1:.*negative count"),
])
def test_bad_entries(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        import_ofa_yaml(_write(tmp_path, text))


def test_missing_file_and_space(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        import_ofa_yaml(tmp_path / "nope.yaml")
    p = _write(tmp_path, "Conv-input:224x224x3-output:112x112x24:\n  count: 1\n  mean: 1.0\n  std: 0.0\n")
    with pytest.raises(InputError, match="ofa-mbv3, proxyless"):
        import_ofa_yaml(p, space="mbv2")
    t = import_ofa_yaml(p, device="my phone")
    assert t.metadata.device["name"] == "my phone (imported)"
    assert math.isclose(t.lookup(S.conv((3, 224, 224), 24, 3, 2, act="hswish")), 1.0)
