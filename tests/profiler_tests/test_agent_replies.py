"""The host's side of the agent protocol: every reply is checked, and a deep, mistyped or impossible
one (a negative time) is one :class:`DeviceError` that names the agent, never a traceback and
never a latency. The agents here are small scripts that speak the handshake properly and then
answer one request with the reply under test."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

import hwlat
from hwlat.errors import DeviceError, InputError
from hwlat.ops import conv
from hwlat.profiler import Protocol
from hwlat.profiler import connection as connection_module
from hwlat.profiler.agent import PROTOCOL_VERSION
from hwlat.profiler.connection import check_reply
from hwlat.profiler.profile import TABLE_NAME, profile_ops
from hwlat.profiler.remote import RemoteRuntime

# A scripted agent: answers hello and the setup requests like a real one, and the requests named
# in its script with the line given there ("{id}" is the request's id; "@NEG" asks for n times of
# -1 ms, one per sample asked for).
SCRIPTED = textwrap.dedent("""
    import json, sys
    script = json.loads(open(sys.argv[1]).read())
    ok = {"runtime": {"runtime": 1, "info": {"runtime": "onnxruntime", "runtime_version": "0"}},
          "put_model": {"sha256": "0" * 64, "bytes": 1}, "prepare": {"model": 1}, "close": {}, "run": {}}
    for line in sys.stdin:
        msg = json.loads(line)
        op, rid = msg.get("op"), msg.get("id")
        if op == "bye":
            break
        if op in script:
            text = script[op]
            if text == "@NEG":
                text = json.dumps({"id": rid, "ok": True, "times_s": [-1e-3] * msg["n"]})
            sys.stdout.write(text.replace("{id}", json.dumps(rid)) + "\\n")
        elif op == "hello":
            sys.stdout.write(json.dumps({"id": rid, "ok": True, "protocol_version": script["@protocol"],
                                         "hwlat_version": script["@version"], "runtimes": {}, "fingerprint": {},
                                         "max_message_bytes": 1 << 20, "pid": 0}) + "\\n")
        elif op == "time":
            sys.stdout.write(json.dumps({"id": rid, "ok": True, "times_s": [1e-3] * msg["n"]}) + "\\n")
        else:
            sys.stdout.write(json.dumps({"id": rid, "ok": True, **ok.get(op, {})}) + "\\n")
        sys.stdout.flush()
""")


@pytest.fixture
def scripted(tmp_path):
    """``make(**replies)``: a RemoteRuntime whose agent answers each named op with that reply line."""
    agent = tmp_path / "scripted_agent.py"
    agent.write_text(SCRIPTED)
    opened: list[RemoteRuntime] = []

    def make(**replies: str) -> RemoteRuntime:
        script = tmp_path / f"script{len(opened)}.json"
        script.write_text(json.dumps({"@protocol": PROTOCOL_VERSION, "@version": hwlat.__version__, **replies}))
        rt = RemoteRuntime("onnxruntime", command=[sys.executable, str(agent), str(script)], location="board-7")
        opened.append(rt)
        return rt

    yield make
    for rt in opened:
        rt.close()


DEEP = '{"id": {id}, "ok": true, "times_s": ' + "[" * 5000 + "]" * 5000 + "}"


@pytest.mark.parametrize("reply, match", [
    ('{"id": {id}, "ok": true, "times_s": [0.001, -1.0, 0.001]}', r"negative time \(-1 s\)"),
    ('{"id": {id}, "ok": true, "times_s": "fast"}', "field 'times_s' is a string, not an array"),
    ('{"id": {id}, "ok": true}', "field 'times_s' is missing"),
    ('{"id": {id}, "ok": true, "times_s": [0.001, "2", 0.001]}', "a time of '2', not a number"),
    ('{"id": {id}, "ok": true, "times_s": [0.001, true, 0.001]}', "a time of 'True', not a number"),
    ('{"id": {id}, "ok": true, "times_s": [0.001, NaN, 0.001]}', "NaN, which is not standard JSON"),
    ('{"id": {id}, "ok": true, "times_s": [1e400, 0, 0]}', "1e400, which is beyond the range"),
    (DEEP, "nests arrays and objects more than 64 deep"),
    ('{"id": {id}, "ok": true, "times_s": [0.001, 0.001]}', "it holds 2 times for 3 samples"),
    ('{"id": {id}, "ok": "yes", "times_s": [0.1, 0.1, 0.1]}', "its 'ok' is a string, not true or false"),
    ('{"id": {id}, "ok": false, "error": "boom"}', "an error reply without an error object"),
    ('[{id}, true]', "it is an array, not an object"),
    ('{"id": 999, "ok": true, "times_s": [0.1, 0.1, 0.1]}', "with the id 999, which no request of this host had"),
    ('{"id": ' + "7" * 100 + ', "ok": true}', "integer of 100 digits"),
])
def test_a_bad_time_reply_is_one_device_error_naming_the_agent(scripted, reply, match):
    rt = scripted(time=reply)
    with rt.prepare(_graph()) as p:
        with pytest.raises(DeviceError, match=match) as ei:
            p.time_samples(3, 1)
    assert "the hwlat agent at board-7" in str(ei.value)
    assert not rt.is_available()  # the conversation is over: the next request says so, and why
    with pytest.raises(DeviceError, match="board-7"):
        rt.prepare(_graph())


def _graph():
    from hwlat.ops import build_graph

    return build_graph(conv((4, 8, 8), 4, 1))


@pytest.mark.parametrize("op, reply, match", [
    ("runtime", '{"id": {id}, "ok": true, "runtime": "one", "info": {}}', "field 'runtime' is a string"),
    ("runtime", '{"id": {id}, "ok": true, "runtime": true, "info": {}}', "field 'runtime' is true or false"),
    ("hello", '{"id": {id}, "ok": true, "protocol_version": ' + str(PROTOCOL_VERSION) + ', "hwlat_version": "'
     + hwlat.__version__ + '", "runtimes": {}, "fingerprint": [], "max_message_bytes": 10}',
     "field 'fingerprint' is an array, not an object"),
    ("hello", '{"id": {id}, "ok": true, "protocol_version": ' + str(PROTOCOL_VERSION) + ', "hwlat_version": "'
     + hwlat.__version__ + '", "runtimes": {}, "fingerprint": {}, "max_message_bytes": "big"}',
     "'max_message_bytes' is big, not a positive integer"),
    ("hello", '{"id": {id}, "ok": false, "error": [1]}', r"agent protocol \?\).*\(it refused the handshake\)"),
])
def test_a_bad_reply_while_opening_is_one_device_error(scripted, op, reply, match):
    with pytest.raises(DeviceError, match=match) as ei:
        scripted(**{op: reply})
    assert "board-7" in str(ei.value)


def test_bad_arrays_in_replies_are_device_errors(scripted, tmp_path):
    rt = scripted(outputs='{"id": {id}, "ok": true, "outputs": [{"dtype": "|O", "shape": [1], "data": ""}]}',
                  prepare='{"id": {id}, "ok": true, "model": 3, "inputs": "none"}')
    model = tmp_path / "m.onnx"
    model.write_bytes(b"onnx bytes are not read by this agent")
    with pytest.raises(DeviceError, match=r"board-7 sent a malformed reply to 'prepare'.*'inputs' is not a list"):
        rt.prepare_file(model)
    rt = scripted(outputs='{"id": {id}, "ok": true, "outputs": [{"dtype": "|O", "shape": [1], "data": ""}]}')
    with rt.prepare(_graph()) as p:
        with pytest.raises(DeviceError, match=r"board-7 sent a malformed reply to 'outputs': malformed array"):
            p.outputs()


def test_an_endless_line_from_an_agent_is_cut_off(scripted, monkeypatch):
    monkeypatch.setattr(connection_module, "MAX_REPLY_MB", 0.01)
    rt = scripted(time='{"id": {id}, "ok": true, "times_s": [' + "0.001, " * 10_000 + "0.001]}")
    with rt.prepare(_graph()) as p:
        with pytest.raises(DeviceError, match="a line of more than 0.01 MB"):
            p.time_samples(3, 1)


def test_a_profile_records_no_negative_latency(scripted, tmp_path):
    rt = scripted(time="@NEG")
    with pytest.raises(DeviceError, match="negative time"):
        profile_ops([conv((4, 8, 8), 4, 1)], "cpu-ort", runtime=rt, out_dir=tmp_path / "out", progress=False,
                    protocol=Protocol.quick(), overhead=False)
    assert not (tmp_path / "out" / TABLE_NAME).exists()


def test_values_json_cannot_hold_are_refused_before_sending(scripted):
    with scripted() as rt:
        with pytest.raises(InputError, match=r"the request 'run' cannot be sent to the agent at board-7: .*"
                                             r"check the device's options"):
            rt.connection.request("run", model=float("nan"))
        with pytest.raises(InputError, match="cannot be sent"):
            rt.connection.request("run", model=Path("x"))
        assert rt.connection.alive  # nothing was sent: the conversation goes on
        with rt.prepare(_graph()) as p:
            assert p.time_samples(2, 1).shape == (2,)


def test_check_reply_takes_what_a_real_agent_sends():
    ok = {"id": 3, "ok": True, "times_s": [0.0, 1e-6, 2]}
    assert check_reply(ok, "time", "here") is ok
    assert check_reply({"id": None, "ok": False, "error": {"type": "ProtocolError", "message": "m"}}, "x", "here")
    assert check_reply({"id": 4, "ok": True}, "run", "here")
    with pytest.raises(DeviceError, match="at here sent a malformed reply to 'put_model': its field 'bytes' is null"):
        check_reply({"id": 4, "ok": True, "sha256": "0" * 64, "bytes": None}, "put_model", "here")
