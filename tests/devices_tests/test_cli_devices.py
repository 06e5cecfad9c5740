"""What a device spec executes is visible: ``hwlat devices show`` and ``hwlat devices check`` list
the commands, ssh options and programs a spec makes hwlat run, and a user spec that replaces a
built-in device warns, naming its file. The real CLI, in this process."""

from __future__ import annotations

import json
import textwrap
import warnings

import pytest
import yaml

from hwlat.cli import main
from hwlat.devices import load_device, read_device_file
from hwlat.devices.registry import BUILTIN_DIR, ENV_VAR
from tests.devices_tests.files import write

SSH_SPEC = """\
    name: pi5-litert
    runtime: litert
    threads: 1
    location: ssh://pi@raspberrypi.local:2222
    options:
      agent_command: /home/pi/venv/bin/python -m hwlat
      ssh_options: ["ProxyCommand=nc -X connect -x proxy:3128 %h %p", "ServerAliveInterval=5"]
    """
ADB_SPEC = """\
    name: pixel7
    runtime: litert
    threads: 4
    location: adb://R58M123ABC
    options: {benchmark_model: /opt/android/benchmark_model, adb: /opt/adb, remote_dir: /data/local/tmp/bm,
              extra_flags: ["--use_gpu=false"]}
    """
SUBPROCESS_SPEC = """\
    name: child
    runtime: onnxruntime
    location: subprocess
    options: {agent_command: "/opt/venv/bin/python -m hwlat"}
    """




def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- overriding a built-in ---------------------------------------------------------------------------------

def test_overriding_a_builtin_warns_once_naming_the_file(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "devs"
    folder.mkdir()
    mine = write(folder / "cpu-ort.yaml", "name: cpu-ort\nruntime: onnxruntime\nthreads: 2\n")
    monkeypatch.setenv(ENV_VAR, str(folder))
    code, out, err = run(capsys, "devices", "list", "--format", "json")
    assert code == 0
    assert [r["threads"] for r in json.loads(out) if r["name"] == "cpu-ort"] == [2]
    lines = err.splitlines()
    assert lines == [f"hwlat: warning: device 'cpu-ort' from {mine} overrides the built-in device 'cpu-ort'; "
                     "rename it to keep both"]
    # once: the same override read again in this process says nothing more
    code, out, err = run(capsys, "devices", "show", "cpu-ort")
    assert code == 0 and "threads: 2" in out and "warning" not in err


def test_overriding_a_builtin_is_a_python_warning(tmp_path):
    write(tmp_path / "torch.yaml", "name: cpu-torch\nruntime: torch\nthreads: 3\n")
    with pytest.warns(UserWarning, match=r"device 'cpu-torch' from .*torch\.yaml overrides the built-in"):
        assert load_device("cpu-torch", search_path=[tmp_path]).threads == 3


def test_a_new_name_does_not_warn(tmp_path):
    write(tmp_path / "board.yaml", "name: my-board\nruntime: torch\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_device("my-board", search_path=[tmp_path]).runtime == "torch"
        assert load_device("cpu-ort", search_path=[tmp_path]).source == "builtin"


# -- devices show -----------------------------------------------------------------------------------------

def test_show_lists_what_an_ssh_spec_executes(tmp_path, capsys):
    p = write(tmp_path / "pi.yaml", SSH_SPEC)
    code, out, err = run(capsys, "devices", "show", str(p))
    assert code == 0, err
    comments = [ln for ln in out.splitlines() if ln.startswith("#")]
    assert comments[0] == "# what this spec executes:"
    text = "\n".join(comments)
    assert "runs on this machine (location): ssh -T -o 'ProxyCommand=nc -X connect -x proxy:3128 %h %p'" in text
    assert "-p 2222 pi@raspberrypi.local '/home/pi/venv/bin/python -m hwlat agent --stdio'" in text
    assert "command ssh runs on this machine (ssh_options): ProxyCommand=nc -X connect -x proxy:3128 %h %p" in text
    assert "runs on the device (agent_command): /home/pi/venv/bin/python -m hwlat agent --stdio" in text
    # the output is still the spec: it loads back to an equal one
    again = write(tmp_path / "again.yaml", out)
    assert read_device_file(again) == read_device_file(p)


def test_show_lists_what_an_adb_and_a_subprocess_spec_execute(tmp_path, capsys):
    code, out, _ = run(capsys, "devices", "show", str(write(tmp_path / "phone.yaml", ADB_SPEC)))
    assert code == 0
    assert "#   program on this machine (adb): /opt/adb" in out
    assert ("#   program on the device (benchmark_model): /opt/android/benchmark_model (pushed to "
            "/data/local/tmp/bm and run there)") in out
    assert "#   folder on the device (remote_dir): /data/local/tmp/bm" in out
    assert "#   benchmark_model flags on the device (extra_flags): --use_gpu=false" in out
    code, out, _ = run(capsys, "devices", "show", str(write(tmp_path / "child.yaml", SUBPROCESS_SPEC)))
    assert code == 0
    assert "#   runs on this machine (agent_command): /opt/venv/bin/python -m hwlat agent --stdio" in out


def test_show_of_a_local_spec_has_nothing_to_list(capsys):
    code, out, _ = run(capsys, "devices", "show", "cpu-ort")
    assert code == 0 and "#" not in out and yaml.safe_load(out)["name"] == "cpu-ort"


# -- devices check ----------------------------------------------------------------------------------------

def test_check_a_valid_file_lists_what_each_spec_executes(tmp_path, capsys):
    p = write(tmp_path / "fleet.yaml", "devices:\n" + textwrap.indent(
        "\n".join("- " + textwrap.indent(textwrap.dedent(s), "  ").lstrip() for s in (SSH_SPEC, ADB_SPEC)), "  "))
    code, out, err = run(capsys, "devices", "check", str(p))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{p}: valid, 2 device specs"
    assert lines[1] == "pi5-litert: litert/xnnpack, 1 thread, fp32 @ ssh://pi@raspberrypi.local:2222"
    assert lines[2].startswith("  runs on this machine (location): ssh -T -o 'ProxyCommand=")
    assert "  command ssh runs on this machine (ssh_options): ProxyCommand=nc -X connect -x proxy:3128 %h %p" in lines
    assert "  runs on the device (agent_command): /home/pi/venv/bin/python -m hwlat agent --stdio" in lines
    assert "pixel7: litert/xnnpack, 4 threads, fp32 @ adb://R58M123ABC" in lines
    assert "  folder on the device (remote_dir): /data/local/tmp/bm" in lines


def test_check_json(tmp_path, capsys):
    p = write(tmp_path / "pi.yaml", SSH_SPEC)
    code, out, _ = run(capsys, "devices", "check", str(p), "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["valid"] and report["file"] == str(p)
    (dev,) = report["devices"]
    assert dev["name"] == "pi5-litert" and not dev["overrides_builtin"]
    assert [(r["where"], r["option"]) for r in dev["executes"]] == [
        ("this machine", "location"), ("this machine", "ssh_options"), ("the device", "agent_command")]


def test_check_csv(tmp_path, capsys):
    code, out, _ = run(capsys, "devices", "check", str(write(tmp_path / "child.yaml", SUBPROCESS_SPEC)),
                       "--format", "csv")
    assert code == 0
    assert out.splitlines() == ["device,where,what,value,option",
                                "child,this machine,command,/opt/venv/bin/python -m hwlat agent --stdio,agent_command"]
    code, out, _ = run(capsys, "devices", "check", str(BUILTIN_DIR / "cpu-ort.yaml"), "--format", "csv")
    assert code == 0 and out == "device,where,what,value,option\n"


def test_check_a_local_spec_and_an_override(tmp_path, capsys):
    p = write(tmp_path / "cpu-ort.yaml", "name: cpu-ort\nruntime: onnxruntime\nthreads: 2\n")
    code, out, _ = run(capsys, "devices", "check", str(p))
    assert code == 0
    assert "executes nothing outside hwlat" in out
    assert "replaces the built-in device 'cpu-ort' when its folder is a device folder" in out
    code, out, _ = run(capsys, "devices", "check", str(BUILTIN_DIR / "cpu-ort.yaml"))
    assert code == 0 and "replaces" not in out


@pytest.mark.parametrize("text, match", [
    ("name: x\nruntime: onnxruntime\nruntime: torch\n", "key 'runtime' is given twice (lines 2 and 3)"),
    ("name: x\nruntime: onnxruntime\nthreads: 100000\n", "x.yaml:3: device 'x': threads must be"),
    ("name: x\nruntime: torch\noptions: {mdoe: jit}\n", "unknown option 'mdoe' for runtime torch; did you mean 'mode'"),
    ("name: x\nruntime: litert\nlocation: ssh://b\noptions: {agent_timeout_s: .inf}\n",
     "option 'agent_timeout_s'"),
])
def test_check_an_invalid_file_exits_1_with_the_message(tmp_path, capsys, text, match):
    p = write(tmp_path / "x.yaml", text)
    code, out, err = run(capsys, "devices", "check", str(p))
    assert code == 1 and out == ""
    assert err.startswith("hwlat: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert match in err and str(p) in err


def test_check_a_runtime_the_agent_cannot_serve(tmp_path, capsys):
    p = write(tmp_path / "x.yaml", "name: x\nruntime: torch\nlocation: ssh://pi@board\n")
    code, _, err = run(capsys, "devices", "check", str(p))
    assert code == 1 and f"{p}: device 'x': the hwlat agent runs onnxruntime" in err
    assert "runtime 'torch' can only be profiled locally" in err


def test_check_a_folder_or_a_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, "devices", "check", str(tmp_path))
    assert code == 1 and "is a folder; give one device spec file" in err
    code, _, err = run(capsys, "devices", "check", str(tmp_path / "nope.yaml"))
    assert code == 1 and "does not exist" in err


def test_check_help_has_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["devices", "check", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "hwlat devices check my-devices/pi5.yaml" in out
    assert "runs commands like a script" in " ".join(out.split())


def test_a_plugin_transport_says_hwlat_cannot_tell(tmp_path, capsys):
    from hwlat.registry import TRANSPORTS

    TRANSPORTS.register("toynet", "hwlat.profiler.transports:local_runtime")
    try:
        p = write(tmp_path / "t.yaml", "name: t\nruntime: onnxruntime\nlocation: toynet://board\n")
        code, out, _ = run(capsys, "devices", "check", str(p))
        assert code == 0
        assert "transport on this machine (location): the 'toynet' transport a plugin registered; hwlat cannot " \
               "tell what it runs" in out
    finally:
        TRANSPORTS.unregister("toynet")
