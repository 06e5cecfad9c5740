from __future__ import annotations

import copy
import pickle

import pytest

from hwlat.devices import DeviceSpec, SshTarget, runtime_providers
from hwlat.errors import InputError
from hwlat.registry import RUNTIMES


def make(**kw) -> DeviceSpec:
    base = {"name": "dev", "runtime": "onnxruntime"}
    base.update(kw)
    return DeviceSpec(**base)


def test_defaults_and_derived_properties():
    spec = make()
    assert spec.provider == "cpu" and spec.threads == 1 and spec.precision == "fp32"
    assert spec.is_local and not spec.is_gpu
    assert spec.ssh_target is None and spec.adb_serial is None
    assert make(runtime="litert").provider == "xnnpack"  # the first provider is the default
    assert make(provider="cuda").is_gpu
    assert make(runtime="litert", provider="none").provider == "none"


def test_runtime_kwargs_are_a_private_copy():
    spec = make(threads=4, options={"graph_optimization_level": "basic", "nested": {"a": [1, 2]}})
    kw = spec.runtime_kwargs()
    assert kw == {"threads": 4, "provider": "cpu", "precision": "fp32",
                  "options": {"graph_optimization_level": "basic", "nested": {"a": [1, 2]}}}
    kw["options"]["nested"]["a"].append(3)
    assert spec.options["nested"]["a"] == [1, 2]
    with pytest.raises(TypeError):
        spec.options["x"] = 1  # type: ignore[index]


def test_options_are_copied_from_the_callers_dict():
    opts = {"mode": "jit"}
    spec = make(runtime="torch", options=opts)
    opts["mode"] = "eager"
    assert spec.options["mode"] == "jit"


def test_equality_hash_pickle_ignore_source():
    a = make(options={"k": 1}, source="a.yaml")
    b = make(options={"k": 1}, source="b.yaml")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != make(options={"k": 2})
    for clone in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a)):
        assert clone == a and clone.source == "a.yaml"


def test_to_dict_from_dict_round_trip():
    spec = make(runtime="torch", provider="cuda", threads=0, precision="fp16",
                location="ssh://pi@board:2222", description="a board", options={"mode": "jit"}, source="x.yaml")
    d = spec.to_dict()
    assert "source" not in d
    assert DeviceSpec.from_dict(d) == spec
    full = spec.to_dict(with_source=True)
    assert DeviceSpec.from_dict(full).source == "x.yaml"
    assert DeviceSpec.from_dict(full, source="other").source == "other"


def test_from_dict_unknown_keys_list_the_valid_ones():
    with pytest.raises(InputError, match=r"unknown field\(s\) thread.*valid fields are name, runtime, provider"):
        DeviceSpec.from_dict({"name": "d", "runtime": "torch", "thread": 2})


@pytest.mark.parametrize("field, value", [
    ("threads", "4"), ("threads", 1.5), ("threads", True), ("options", ["a"]),
    ("description", 3), ("provider", 1), ("location", 22),
])
def test_from_dict_wrong_types(field, value):
    with pytest.raises(InputError, match=f"field '{field}' must be"):
        DeviceSpec.from_dict({"name": "d", "runtime": "onnxruntime", field: value})


def test_from_dict_missing_required():
    with pytest.raises(InputError, match="missing required field.*runtime"):
        DeviceSpec.from_dict({"name": "d"})
    with pytest.raises(InputError, match="expected a mapping"):
        DeviceSpec.from_dict(["name", "d"])  # type: ignore[arg-type]


def test_from_dict_none_means_default():
    spec = DeviceSpec.from_dict({"name": "d", "runtime": "litert", "provider": None, "options": None})
    assert spec.provider == "xnnpack" and dict(spec.options) == {}


def test_bad_runtime_provider_threads_precision_name():
    with pytest.raises(InputError, match="unknown runtime 'tensorflow'; choose one of onnxruntime, litert, torch"):
        make(runtime="tensorflow")
    with pytest.raises(InputError, match="runtime 'litert' has no provider 'cuda'; choose one of xnnpack, none"):
        make(runtime="litert", provider="cuda")
    with pytest.raises(InputError, match="threads must be a non-negative integer"):
        make(threads=-1)
    with pytest.raises(InputError, match="unknown precision 'int8'; choose one of fp32, fp16"):
        make(precision="int8")
    for bad in ("CPU-ORT", "-x", "a b", "", "x/y"):
        with pytest.raises(InputError, match="invalid name"):
            make(name=bad)
    with pytest.raises(InputError, match="one line"):
        make(description="two\nlines")
    with pytest.raises(InputError, match="option 'f' has a value of type"):
        make(options={"f": object()})


def test_providers_cover_every_runtime():
    assert {"onnxruntime", "litert", "torch"} <= set(RUNTIMES)
    assert all(len(runtime_providers(name)) >= 1 for name in RUNTIMES)


@pytest.mark.parametrize("location, target", [
    ("ssh://board", SshTarget(None, "board", None)),
    ("ssh://pi@raspberrypi.local", SshTarget("pi", "raspberrypi.local", None)),
    ("ssh://ubuntu@10.0.0.7:2222", SshTarget("ubuntu", "10.0.0.7", 2222)),
    ("ssh://root@[::1]:22", SshTarget("root", "::1", 22)),
])
def test_ssh_locations(location, target):
    spec = make(location=location)
    assert spec.ssh_target == target
    assert spec.adb_serial is None and not spec.is_local and spec.location_kind == "ssh"


def test_ssh_args():
    assert make(location="ssh://pi@board:2222").ssh_target.ssh_args() == ["-p", "2222", "pi@board"]
    assert make(location="ssh://board").ssh_target.ssh_args() == ["board"]


@pytest.mark.parametrize("serial", ["R58M123ABC", "emulator-5554", "192.168.1.20:5555"])
def test_adb_locations(serial):
    spec = make(runtime="litert", location=f"adb://{serial}")
    assert spec.adb_serial == serial and spec.ssh_target is None and spec.location_kind == "adb"


@pytest.mark.parametrize("location, match", [
    ("remote", "not understood; use 'local', 'ssh://"),
    ("ssh://", "not a valid SSH address.*ssh://\\[user@\\]host\\[:port\\]"),
    ("ssh://pi@board:99999", "port 99999"),
    ("ssh://pi@bo ard", "not a valid SSH address"),
    ("ssh://pi@board:abc", "not a valid SSH address"),
    ("adb://", "not a valid adb address.*adb devices"),
    ("adb://two words", "not a valid adb address"),
    ("http://board", "not understood"),
])
def test_bad_locations(location, match):
    with pytest.raises(InputError, match=match):
        make(location=location)


def test_str_is_readable():
    assert str(make(threads=4, location="adb://x1")) == "dev: onnxruntime/cpu, 4 threads, fp32 @ adb://x1"
    assert "default threads" in str(make(threads=0))
