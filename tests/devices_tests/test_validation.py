"""Device spec files are read strictly: a key given twice, an unknown field or option, a value of the
wrong type or out of bounds is an error that names the file, the line and the field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hwlat._io import load_yaml
from hwlat.cli import main
from hwlat.devices import load_device, read_device_file
from hwlat.devices.options import RUNTIME_OPTIONS, TRANSPORT_OPTIONS, accepted_options, executed
from hwlat.devices.registry import BUILTIN_DIR
from hwlat.errors import InputError
from hwlat.registry import RUNTIMES
from tests.devices_tests.files import write


def cli_error(capsys, *argv: str) -> str:
    """Run the CLI in this process; it must exit 1 with one ``hwlat: error:`` line and no traceback."""
    assert main(list(argv)) == 1
    err = capsys.readouterr().err
    assert err.startswith("hwlat: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# -- duplicate keys ------------------------------------------------------------------------------------

def test_a_key_given_twice_names_the_file_and_both_lines(tmp_path, capsys):
    p = write(tmp_path / "dup.yaml", """\
        name: dup
        runtime: onnxruntime
        threads: 2
        runtime: torch
        """)
    with pytest.raises(InputError, match=r"dup\.yaml is not valid YAML at line 4.*key 'runtime' is given "
                                         r"twice \(lines 2 and 4\)"):
        read_device_file(p)
    err = cli_error(capsys, "devices", "show", str(p))
    assert str(p) in err and "line 4" in err and "'runtime'" in err


@pytest.mark.parametrize("text, line", [
    ("name: d\nruntime: onnxruntime\noptions:\n  graph_optimization_level: all\n  graph_optimization_level: basic\n",
     5),
    ("devices:\n  - name: a\n    runtime: torch\n    name: b\n", 4),
    ("name: d\nruntime: torch\noptions: {mode: eager, mode: jit}\n", 3),
])
def test_duplicate_keys_anywhere_in_the_file(tmp_path, text, line):
    p = write(tmp_path / "d.yaml", text)
    with pytest.raises(InputError, match=f"at line {line}, .*given twice"):
        read_device_file(p)


def test_a_merge_key_may_be_overridden(tmp_path):
    p = write(tmp_path / "fleet.yaml", """\
        devices:
          - &base {name: a, runtime: onnxruntime, threads: 1}
          - <<: *base
            name: b
            threads: 4
        """)
    assert [(s.name, s.threads) for s in read_device_file(p)] == [("a", 1), ("b", 4)]


def test_load_yaml_checks_keys_only_when_asked(tmp_path):
    p = write(tmp_path / "x.yaml", "a: 1\na: 2\n")
    assert load_yaml(p)[0] == {"a": 2}  # the other loaders keep PyYAML's behaviour
    with pytest.raises(InputError, match="key 'a' is given twice"):
        load_yaml(p, unique_keys=True)


# -- unknown fields and options ---------------------------------------------------------------------------

def test_unknown_field_names_it_its_line_and_a_close_name(tmp_path, capsys):
    p = write(tmp_path / "f.yaml", "name: f\nruntime: onnxruntime\nthread: 4\n")
    with pytest.raises(InputError, match=r"f\.yaml:3: .*unknown field\(s\) thread; did you mean 'threads'\? "
                                         r"valid fields are name, runtime"):
        read_device_file(p)
    cli_error(capsys, "devices", "show", str(p))


def test_unknown_runtime_has_a_close_name(tmp_path):
    p = write(tmp_path / "f.yaml", "name: f\nruntime: onnxruntim\n")
    with pytest.raises(InputError, match=r"f\.yaml:2: .*unknown runtime 'onnxruntim'; did you mean 'onnxruntime'"):
        read_device_file(p)


@pytest.mark.parametrize("runtime, location, options, match", [
    ("onnxruntime", "local", "{graph_optimisation_level: all}",
     "unknown option 'graph_optimisation_level' for runtime onnxruntime; did you mean 'graph_optimization_level'"
     r"\? accepted options: graph_optimization_level, inter_op_threads, execution_mode"),
    ("torch", "local", "{graph_optimization_level: all}",
     "unknown option 'graph_optimization_level' for runtime torch; accepted options: mode"),
    ("litert", "local", "{num_threads: 4}", r"unknown option 'num_threads' for runtime litert; accepted options: "
                                            r"none \(leave options empty\)"),
    ("onnxruntime", "local", "{agent_command: hwlat}", "unknown option 'agent_command' for runtime onnxruntime"),
    ("onnxruntime", "subprocess", "{ssh_options: [Port=22]}",
     "unknown option 'ssh_options' for runtime onnxruntime with location kind 'subprocess'"),
    ("litert", "adb://R58", "{benchmark_model: /bm, mode: jit}",
     "unknown option 'mode' for runtime litert with location kind 'adb'; accepted options: benchmark_model, adb"),
    ("onnxruntime", "ssh://pi@board", "{ssh_option: [Port=22]}",
     "unknown option 'ssh_option' for runtime onnxruntime with location kind 'ssh'; did you mean 'ssh_options'"),
])
def test_unknown_options_name_the_option_the_file_and_the_accepted_ones(tmp_path, runtime, location, options,
                                                                          match):
    p = write(tmp_path / "o.yaml", f"name: o\nruntime: {runtime}\nlocation: {location}\noptions: {options}\n")
    with pytest.raises(InputError, match=rf"o\.yaml:4: device 'o': {match}"):
        read_device_file(p)


def test_option_error_in_a_list_gives_the_specs_line_and_the_options(tmp_path):
    p = write(tmp_path / "fleet.yaml", """\
        devices:
          - name: ok
            runtime: torch
          - name: bad
            runtime: onnxruntime
            options:
              inter_op_threads: 0
        """)
    with pytest.raises(InputError, match=r"fleet\.yaml:4: device 'bad': option 'inter_op_threads' .* \(line 7\)"):
        read_device_file(p)


# -- numbers and types ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, match", [
    ("1e20", "must be an integer from 0 to 1024.*got str '1e20' \\(YAML reads a number such as 1e3"),
    ("100000000000000000000", "must be a non-negative integer up to 1024.*got 100000000000000000000"),
    ("1025", "up to 1024"),
    ("-1", "non-negative integer"),
    ("true", "must be an integer"),
    (".nan", "must be an integer.*got float nan"),
    (".inf", "must be an integer"),
    ("2.0", "must be an integer"),
    ("[1]", "must be an integer"),
])
def test_impossible_threads(tmp_path, capsys, value, match):
    p = write(tmp_path / "t.yaml", f"name: t\nruntime: onnxruntime\nthreads: {value}\n")
    with pytest.raises(InputError, match=r"t\.yaml:3: .*threads.*" + match):
        read_device_file(p)
    assert "threads" in cli_error(capsys, "devices", "show", str(p))


def test_threads_at_the_bounds_are_accepted(tmp_path):
    for n in (0, 1, 1024):
        assert read_device_file(write(tmp_path / "t.yaml", f"name: t\nruntime: onnxruntime\nthreads: {n}\n"))[0] \
            .threads == n


@pytest.mark.parametrize("location, option, value, match", [
    ("local", "inter_op_threads", "0", "must be an integer from 1 to 1024, got an integer 0"),
    ("local", "inter_op_threads", "5000", "from 1 to 1024"),
    ("local", "inter_op_threads", "true", "got a boolean True"),
    ("local", "inter_op_threads", "'2'", "got a string '2'"),
    ("local", "graph_optimization_level", "max", "must be one of disable, basic, extended, all, got a string 'max'"),
    ("local", "execution_mode", "1", "must be one of sequential, parallel"),
    ("subprocess", "agent_timeout_s", "0", "must be a number of seconds above 0 up to 86400"),
    ("subprocess", "agent_timeout_s", "-5", "above 0"),
    ("subprocess", "agent_timeout_s", ".nan", "got a number nan"),
    ("subprocess", "agent_timeout_s", ".inf", "got a number inf"),
    ("subprocess", "agent_timeout_s", "1.0e9", "up to 86400"),
    ("subprocess", "agent_timeout_s", "1e3", "YAML reads a number such as 1e3 without a '.' as text"),
    ("subprocess", "agent_timeout_s", "false", "got a boolean"),
    ("subprocess", "agent_command", "''", "must be a non-empty one-line string"),
    ("subprocess", "agent_command", "[python, -m, hwlat]", "must be a non-empty one-line string, got a list"),
    ("subprocess", "agent_command", '"hwlat\\nrm -rf ~"', "one-line"),
    ("ssh://pi@board", "ssh_options", "[22]", "a list of 'Key=Value' ssh options"),
    ("ssh://pi@board", "ssh_options", "[Port 22]", "got a string 'Port 22'"),
    ("ssh://pi@board", "ssh_options", "{Port: 22}", "got a mapping"),
    ("ssh://pi@board", "ssh_identity", "3", "non-empty one-line string"),
])
def test_impossible_option_values(tmp_path, capsys, location, option, value, match):
    p = write(tmp_path / "v.yaml", f"name: v\nruntime: onnxruntime\nlocation: {location}\n"
                                   f"options:\n  {option}: {value}\n")
    with pytest.raises(InputError, match=rf"v\.yaml:5: device 'v': option '{option}' \(.*\) .*{match}"):
        read_device_file(p)
    assert option in cli_error(capsys, "devices", "check", str(p))


@pytest.mark.parametrize("option, value, match", [
    ("warmup_runs", "-1", "from 0 to 100000"),
    ("warmup_runs", "1.5", "must be an integer"),
    ("warmup_min_secs", "-0.5", "from 0 up to 3600"),
    ("warmup_min_secs", ".nan", "seconds"),
    ("timeout_s", "0", "above 0"),
    ("timeout_s", "1.0e12", "up to 86400"),
    ("remote_dir", "data/tmp", "absolute path on the device"),
    ("taskset", "fz", "hexadecimal CPU mask"),
    ("extra_flags", "--use_gpu=true", "list of '--name=value' strings, got a string"),
    ("extra_flags", "[use_gpu]", "got a string 'use_gpu'"),
    ("benchmark_model", "null", "non-empty one-line string, got null"),
])
def test_impossible_adb_options(tmp_path, option, value, match):
    p = write(tmp_path / "phone.yaml", "name: phone\nruntime: litert\nlocation: adb://R58\n"
                                       f"options:\n  benchmark_model: /bm\n  {option}: {value}\n")
    if option == "benchmark_model":
        p = write(tmp_path / "phone.yaml", f"name: phone\nruntime: litert\nlocation: adb://R58\n"
                                           f"options:\n  benchmark_model: {value}\n")
    with pytest.raises(InputError, match=rf"option '{option}' .*{match}"):
        read_device_file(p)


def test_valid_remote_specs_load(tmp_path):
    p = write(tmp_path / "fleet.yaml", """\
        devices:
          - name: pi5
            runtime: litert
            location: ssh://pi@raspberrypi.local:2222
            options:
              ssh_identity: ~/.ssh/id_ed25519
              ssh_options: [ProxyJump=gateway, "ServerAliveInterval=5"]
              agent_command: /home/pi/venv/bin/python -m hwlat
              agent_timeout_s: 1200
          - name: child
            runtime: onnxruntime
            location: subprocess
            options: {agent_timeout_s: 2.5, graph_optimization_level: basic, inter_op_threads: 2}
          - name: phone
            runtime: litert
            threads: 4
            location: adb://emulator-5554
            options: {benchmark_model: ~/bm, adb: /opt/adb, remote_dir: /data/local/tmp/x, warmup_runs: 0,
                      warmup_min_secs: 0, taskset: f0, extra_flags: ["--use_gpu=false"], timeout_s: 60}
        """)
    assert [s.name for s in read_device_file(p)] == ["pi5", "child", "phone"]


def test_a_single_ssh_option_string_is_accepted_as_the_runtime_takes_it(tmp_path):
    p = write(tmp_path / "s.yaml", "name: s\nruntime: litert\nlocation: ssh://b\noptions: {ssh_options: Port=22}\n")
    assert read_device_file(p)[0].options["ssh_options"] == "Port=22"


# -- the option tables agree with the code that reads the options ----------------------------------------

def test_the_tables_match_the_transports_and_runtimes():
    from hwlat.profiler.adb.runtime import ADB_OPTIONS
    from hwlat.profiler.remote import TRANSPORT_OPTIONS as AGENT_OPTIONS
    from hwlat.profiler.runtimes.ort import _OPT_LEVELS
    from hwlat.profiler.runtimes.torch_rt import MODES

    assert {o.name for o in TRANSPORT_OPTIONS["adb"]} == set(ADB_OPTIONS)
    assert {o.name for o in TRANSPORT_OPTIONS["ssh"]} == set(AGENT_OPTIONS)
    assert {o.name for o in TRANSPORT_OPTIONS["subprocess"]} == set(AGENT_OPTIONS) - {"ssh_identity", "ssh_options"}
    assert set(RUNTIME_OPTIONS) == {"onnxruntime", "litert", "torch"} <= set(RUNTIMES)
    ort = {o.name: o for o in RUNTIME_OPTIONS["onnxruntime"]}
    assert set(ort["graph_optimization_level"].choices) == set(_OPT_LEVELS)
    assert RUNTIME_OPTIONS["torch"][0].choices == MODES


def test_every_builtin_passes_the_checks():
    for f in sorted(BUILTIN_DIR.glob("*.yaml")):
        assert [s.name for s in read_device_file(f)] == [f.stem]


def test_a_plugin_runtime_declares_its_options_or_takes_any(tmp_path):
    RUNTIMES.register("toy-declared", "hwlat.profiler.runtimes.ort:OnnxRuntime", providers=("cpu",),
                      options=("fast",))
    RUNTIMES.register("toy-open", "hwlat.profiler.runtimes.ort:OnnxRuntime", providers=("cpu",))
    try:
        assert accepted_options("toy-declared", "local") == {"fast": None}
        assert accepted_options("toy-open", "local") is None
        ok = write(tmp_path / "a.yaml", "name: a\nruntime: toy-declared\noptions: {fast: [1, 2]}\n")
        assert read_device_file(ok)[0].options["fast"] == [1, 2]
        bad = write(tmp_path / "b.yaml", "name: b\nruntime: toy-declared\noptions: {fats: 1}\n")
        with pytest.raises(InputError, match="unknown option 'fats' .*did you mean 'fast'"):
            read_device_file(bad)
        anything = write(tmp_path / "c.yaml", "name: c\nruntime: toy-open\noptions: {whatever: 1}\n")
        assert read_device_file(anything)[0].options["whatever"] == 1
    finally:
        RUNTIMES.unregister("toy-declared")
        RUNTIMES.unregister("toy-open")


def test_executed_lists_what_runs_where():
    opts = {"agent_command": "py -m hwlat", "ssh_options": ["ProxyCommand=nc %h %p", "Port=22"],
            "ssh_identity": "~/.ssh/k"}
    assert executed(opts, "litert", "ssh") == [
        ("agent_command", "the device", "py -m hwlat"),
        ("ssh_options", "this machine (a command ssh runs)", "ProxyCommand=nc %h %p"),
        ("ssh_options", "this machine", "Port=22"),
    ]
    assert executed({"graph_optimization_level": "all"}, "onnxruntime", "local") == []


def test_a_spec_by_name_is_checked_too(tmp_path):
    write(tmp_path / "board.yaml", "name: board\nruntime: onnxruntime\noptions: {inter_op_threads: -3}\n")
    with pytest.raises(InputError, match=r"board\.yaml:3: device 'board': option 'inter_op_threads'"):
        load_device("board", search_path=[tmp_path])


def test_an_alias_bomb_in_the_options_is_refused_quickly(tmp_path):
    """Ten aliases of ten aliases...: a 10-line file holding 10**8 values is an error, not a hang."""
    lines = ["name: bomb", "runtime: onnxruntime", "options:", "  l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    p = write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"bomb\.yaml:3: device 'bomb': options hold more than 10000 values"):
        read_device_file(p)


def test_options_nested_too_deep_are_refused():
    from hwlat.devices import DeviceSpec

    deep: object = 1
    for _ in range(20):
        deep = [deep]
    with pytest.raises(InputError, match="nest deeper than 16 levels"):
        DeviceSpec(name="d", runtime="onnxruntime", options={"x": deep})


def test_a_device_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    with pytest.raises(InputError, match=r"pipe\.yaml is not a regular file"):
        read_device_file(fifo)
    if Path("/dev/zero").exists():  # reading it would never end
        assert "/dev/zero is not a regular file" in cli_error(capsys, "devices", "show", "/dev/zero")


def test_a_huge_or_deeply_nested_device_file_is_an_error(tmp_path, capsys):
    big = write(tmp_path / "big.yaml", "name: big\nruntime: torch\n" + "#" * (2 << 20) + "\n")
    with pytest.raises(InputError, match=r"big\.yaml is larger than 1024 KiB"):
        read_device_file(big)
    deep = write(tmp_path / "deep.yaml", "name: d\nruntime: torch\noptions: {x: " + "[" * 50000 + "]" * 50000 + "}\n")
    assert "deep.yaml nests too deeply to be read" in cli_error(capsys, "devices", "check", str(deep))
