from __future__ import annotations

import os

import pytest
import yaml

from hwlat.devices import DeviceSpec, dump_device, list_devices, load_device, read_device_file
from hwlat.devices.registry import BUILTIN_DIR, ENV_VAR
from hwlat.errors import InputError
from tests.devices_tests.files import write

BUILTINS = {"cpu-ort", "cpu-litert", "cpu-litert-ref", "cpu-torch", "gpu-ort-cuda", "gpu-torch-cuda"}




def test_builtins_are_all_there():
    names = [s.name for s in list_devices()]
    assert names == sorted(names)
    assert set(names) == BUILTINS
    assert {p.stem for p in BUILTIN_DIR.glob("*.yaml")} == BUILTINS  # one file per spec, named after it


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_loads_and_round_trips(name, tmp_path):
    spec = load_device(name)
    assert spec.name == name and spec.source == "builtin" and spec.is_local
    assert spec.description and "\n" not in spec.description
    assert DeviceSpec.from_dict(spec.to_dict()) == spec
    text = dump_device(spec)
    assert yaml.safe_load(text) == spec.to_dict()
    back = load_device(write(tmp_path / "x.yaml", text))
    assert back == spec and back.source == str(tmp_path / "x.yaml")


def test_builtin_contents():
    assert load_device("cpu-ort").runtime_kwargs()["provider"] == "cpu"
    assert load_device("cpu-litert").provider == "xnnpack"
    assert load_device("cpu-litert-ref").provider == "none"
    assert load_device("cpu-torch").runtime == "torch"
    for name in ("gpu-ort-cuda", "gpu-torch-cuda"):
        assert load_device(name).is_gpu
    assert all(s.threads == 1 for s in list_devices())


@pytest.mark.parametrize("name", sorted(n for n in BUILTINS if n.startswith("cpu-")))
def test_cpu_builtin_builds_a_real_runtime(name):
    from hwlat.errors import HwlatError
    from hwlat.profiler.runtimes import make_runtime

    spec = load_device(name)
    try:
        make_runtime(spec.runtime, **spec.runtime_kwargs())
    except HwlatError as exc:
        pytest.skip(f"{spec.runtime} backend not importable here: {exc}")
    info = make_runtime(spec.runtime, **spec.runtime_kwargs()).info()
    assert (info["runtime"], info["provider"], info["threads"], info["precision"]) == (
        spec.runtime, spec.provider, spec.threads, spec.precision)
    for key, value in spec.options.items():
        assert info["options"][key] == value


def test_providers_match_the_runtime_classes():
    """The providers registered with each runtime (read without importing it) agree with its class."""
    from hwlat.devices import runtime_providers
    from hwlat.errors import HwlatError
    from hwlat.profiler.runtimes import get_runtime_class
    from hwlat.registry import RUNTIMES

    checked = 0
    for name in RUNTIMES:
        try:
            rt_cls = get_runtime_class(name)
        except HwlatError:
            continue  # that backend is not in this checkout/installation
        assert tuple(rt_cls.providers) == runtime_providers(name), name
        assert rt_cls.model_format == RUNTIMES.meta(name).get("model_format", rt_cls.model_format), name
        checked += 1
    assert checked >= 1


def test_single_file_without_name_uses_the_stem(tmp_path):
    p = write(tmp_path / "pi4-ort.yaml", """\
        runtime: onnxruntime
        threads: 4
        location: ssh://pi@raspberrypi.local
        """)
    spec = load_device(str(p))
    assert spec.name == "pi4-ort" and spec.threads == 4 and spec.ssh_target.host == "raspberrypi.local"


def test_file_with_several_devices(tmp_path):
    p = write(tmp_path / "fleet.yaml", """\
        devices:
          - name: pi4
            runtime: litert
            location: ssh://pi@pi4
          - name: phone
            runtime: litert
            location: adb://R58M123
        """)
    assert [s.name for s in read_device_file(p)] == ["pi4", "phone"]
    assert load_device(f"{p}#phone").adb_serial == "R58M123"
    with pytest.raises(InputError, match=r"holds 2 devices \(pi4, phone\); pick one with"):
        load_device(p)
    with pytest.raises(InputError, match="has no device 'tablet'; it holds pi4, phone"):
        load_device(f"{p}#tablet")
    # names from such a file are found through a folder, too
    assert load_device("phone", search_path=[tmp_path]).location == "adb://R58M123"


def test_user_folder_overrides_builtin(tmp_path):
    write(tmp_path / "mine.yaml", """\
        name: cpu-ort
        runtime: onnxruntime
        threads: 2
        description: my own
        """)
    write(tmp_path / "extra.yml", "name: my-board\nruntime: torch\n")
    spec = load_device("cpu-ort", search_path=[tmp_path])
    assert spec.threads == 2 and spec.source == str(tmp_path / "mine.yaml")
    assert load_device("cpu-ort").threads == 1  # built-in untouched without the folder
    names = [s.name for s in list_devices(search_path=[tmp_path])]
    assert names.count("cpu-ort") == 1 and "my-board" in names and BUILTINS <= set(names)


def test_env_var_overrides_builtin_and_search_path_overrides_env(tmp_path, monkeypatch):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    env_dir.mkdir()
    arg_dir.mkdir()
    write(env_dir / "a.yaml", "name: cpu-torch\nruntime: torch\nthreads: 3\n")
    write(env_dir / "b.yaml", "name: env-only\nruntime: torch\n")
    write(arg_dir / "a.yaml", "name: cpu-torch\nruntime: torch\nthreads: 5\n")
    monkeypatch.setenv(ENV_VAR, f"{env_dir}{os.pathsep}")  # an empty entry is ignored
    assert load_device("cpu-torch").threads == 3
    assert load_device("env-only").runtime == "torch"
    assert load_device("cpu-torch", search_path=[arg_dir]).threads == 5


def test_missing_folder_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="does not exist.*search path"):
        load_device("cpu-ort", search_path=[tmp_path / "nope"])
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone"))
    with pytest.raises(InputError, match=f"from {ENV_VAR}.*fix the {ENV_VAR} variable"):
        list_devices()


def test_duplicate_name_in_one_folder_is_an_error(tmp_path):
    write(tmp_path / "a.yaml", "name: twin\nruntime: torch\n")
    write(tmp_path / "b.yaml", "name: twin\nruntime: litert\n")
    with pytest.raises(InputError, match="'twin' is defined in both .*a.yaml and .*b.yaml"):
        list_devices(search_path=[tmp_path])


def test_unknown_name_lists_valid_names_and_close_match():
    with pytest.raises(InputError) as err:
        load_device("cpu-orT")
    msg = str(err.value)
    assert "unknown device 'cpu-orT'" in msg
    assert "did you mean 'cpu-ort'" in msg
    for name in BUILTINS:
        assert name in msg
    assert ENV_VAR in msg


def test_malformed_yaml_names_file_and_line(tmp_path):
    p = write(tmp_path / "bad.yaml", """\
        name: bad
        runtime: onnxruntime
        options:
          graph_optimization_level: [all
        threads: 1
        """)
    with pytest.raises(InputError, match=r"bad\.yaml is not valid YAML at line 5"):
        load_device(str(p))
    with pytest.raises(InputError, match=r"bad\.yaml is not valid YAML at line \d+"):
        load_device("whatever", search_path=[tmp_path])


def test_bad_field_in_a_list_names_the_entry_line(tmp_path):
    p = write(tmp_path / "fleet.yaml", """\
        devices:
          - name: ok
            runtime: torch
          - name: bad
            runtime: litert
            provider: cuda
        """)
    with pytest.raises(InputError, match=r"fleet\.yaml:4: .*runtime 'litert' has no provider 'cuda'"):
        read_device_file(p)


@pytest.mark.parametrize("text, match", [
    ("", "holds nothing"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("just a string\n", "holds str"),
    ("devices: {a: 1}\n", "must be a list"),
    ("devices: []\nextra: 1\n", "holds nothing else, found extra"),
    ("devices:\n  - {name: a, runtime: torch}\n  - {name: a, runtime: torch}\n", "'a' is already defined at"),
    ("name: x\nruntime: torch\nthreads: many\n", "field 'threads' must be an integer"),
])
def test_malformed_files(tmp_path, text, match):
    p = write(tmp_path / "f.yaml", text)
    with pytest.raises(InputError, match=match):
        read_device_file(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist; check the path"):
        load_device(str(tmp_path / "nope.yaml"))
