"""Hostile input to the agent protocol: the bounded JSON reader, the agent's replies to anything it
is sent (property tests, in-process), its limits on the work of one request, and a real
``hwlat agent --stdio`` that outlives the messages that used to kill it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import sys
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwlat
from hwlat.errors import InputError
from hwlat.ops import conv, to_onnx
from hwlat.profiler.agent import MAX_CALLS, MAX_NUMBER, MAX_SAMPLES, PROTOCOL_VERSION, Agent, encode_reply, serve
from hwlat.profiler.wire import MAX_DEPTH, MAX_INT_DIGITS, MessageError, decode_array, loads_message, too_deep

from .test_agent import REPO, agent_env

HELLO = {"id": 1, "op": "hello", "protocol_version": PROTOCOL_VERSION, "hwlat_version": hwlat.__version__}
#: the messages that ended an agent before its reader was bounded
KILLERS = [
    b"[" * 1000 + b"]" * 1000,                                    # 2,000 bytes: RecursionError
    b'{"a":' * 5000 + b"1" + b"}" * 5000,                         # an object 5,000 deep
    b'{"id": ' + b"9" * 5000 + b', "op": "hello"}',               # a 5,000-digit integer
]
NON_FINITE = [b'{"id": 1e400, "op": "hello"}', b'{"id": NaN, "op": "hello"}', b'{"id": -Infinity, "op": "bye"}']


def _strict(line: bytes) -> Any:
    """``line`` parsed as standard JSON only (NaN / Infinity refused)."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name} in {line[:200]!r}")
    return json.loads(line, parse_constant=refuse)


def _depth(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + max(map(_depth, v.values()), default=0)
    if isinstance(v, list):
        return 1 + max(map(_depth, v), default=0)
    return 0


# strings full of the characters a bracket scan could trip on
_tricky_text = st.text(alphabet=st.sampled_from(list('[]{}"\\,:ab\n\u00e9')), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | _tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_tricky_text, inner, max_size=4),
    max_leaves=30)


# -- the reader -------------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(json_values, st.integers(0, 6))
def test_the_depth_scan_agrees_with_the_parsed_depth(value, limit):
    line = json.dumps(value).encode()
    assert too_deep(line, limit) == (_depth(value) > limit)
    if _depth(value) <= MAX_DEPTH:
        assert loads_message(line) == json.loads(line)


def test_the_depth_scan_carries_strings_and_escapes_across_its_chunks():
    # a string that starts in one chunk of the scan and ends in another, full of brackets and escapes
    text = '\\"[{' * 400_000
    assert not too_deep(json.dumps([text, [[1]]]).encode(), 3)
    assert too_deep(json.dumps([text, [[[1]]]]).encode(), 3)
    assert too_deep(json.dumps({"a": "\\" * 2_000_001, "b": [[[[0]]]]}).encode(), 3)


@pytest.mark.parametrize("line, match", [
    (KILLERS[0], f"more than {MAX_DEPTH} deep"),
    (KILLERS[1], f"more than {MAX_DEPTH} deep"),
    (KILLERS[2], f"integer of 5000 digits (at most {MAX_INT_DIGITS}"),
    (b'{"id": -' + b"1" * 41 + b"}", "integer of 41 digits"),
    (NON_FINITE[0], "1e400, which is beyond the range of a float"),
    (NON_FINITE[1], "NaN, which is not standard JSON"),
    (NON_FINITE[2], "-Infinity, which is not standard JSON"),
    (b'{"a": 1', "not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_the_reader_refuses_what_no_message_holds(line, match):
    with pytest.raises(MessageError, match=match.replace("(", r"\(")):
        loads_message(line)


def test_the_reader_takes_what_messages_hold():
    assert loads_message(b'{"id": 18446744073709551615, "t": [1.5e-300, -0.0]}') == \
        {"id": 2**64 - 1, "t": [1.5e-300, -0.0]}
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert _depth(loads_message(nested)) == MAX_DEPTH


def test_arrays_with_a_mistyped_shape_or_data_are_refused():
    for bad in ({"dtype": "<f4", "shape": "12", "data": "AAAAAAAAAAA="},
                {"dtype": "<f4", "shape": [1.0], "data": "AAAA"}, {"dtype": "<f4", "shape": [1], "data": 7},
                {"dtype": "<f4", "shape": [True], "data": "AAAA"}, [1, 2]):
        with pytest.raises(InputError, match="malformed array"):
            decode_array(bad)


# -- anything sent to the agent, in-process ---------------------------------------------------------

@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    a = Agent(tmp_path_factory.mktemp("agent-cache"))
    yield a
    a.close()


def _assert_serving(agent: Agent) -> None:
    agent.done = False
    reply = _strict(encode_reply(agent.handle_line(json.dumps(HELLO).encode())))
    assert reply["ok"] and reply["id"] == 1 and reply["protocol_version"] == PROTOCOL_VERSION


def _check_reply(reply: dict[str, Any], sent: Any) -> None:
    out = _strict(encode_reply(reply))
    assert isinstance(out["ok"], bool)
    if not out["ok"]:
        assert isinstance(out["error"]["type"], str) and out["error"]["message"]
    sid = sent.get("id") if isinstance(sent, dict) else None
    if isinstance(sid, (int, str)) and not isinstance(sid, bool) and len(str(sid)) <= 200:
        assert out["id"] == sid
    else:
        assert out["id"] is None


ops = st.sampled_from(["hello", "runtime", "put_model", "prepare", "time", "run", "outputs", "close", "bye", "x"])
requests = st.fixed_dictionaries({"op": ops}, optional={
    "id": json_values, "name": json_values, "threads": json_values, "provider": json_values, "model": json_values,
    "runtime": json_values, "n": json_values, "number": json_values, "sha256": json_values, "format": json_values,
    "data": json_values, "inputs": json_values, "seed": json_values, "options": json_values,
    "protocol_version": json_values})


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(json_values, requests))
def test_any_json_value_gets_one_standard_reply_and_a_hello_works_after(agent, msg):
    _check_reply(agent.handle(msg), msg)
    _assert_serving(agent)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.builds(lambda v, cut: json.dumps(v).encode()[:cut], json_values,
                                           st.integers(0, 300)))
def test_any_line_gets_one_standard_reply_and_a_hello_works_after(agent, line):
    reply = agent.handle_line(line)
    _strict(encode_reply(reply))
    _assert_serving(agent)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=80).filter(lambda b: b"\n" not in b), max_size=8))
def test_the_stdio_loop_answers_every_line_in_step(tmp_path, lines):
    stream = b"".join(ln + b"\n" for ln in [*lines, json.dumps(HELLO).encode()])
    out = io.BytesIO()
    assert serve(Agent(tmp_path / "c"), io.BytesIO(stream), out) == 0
    replies = [_strict(r) for r in out.getvalue().splitlines()]
    assert len(replies) == sum(1 for ln in lines if ln.strip()) + 1
    assert replies[-1]["ok"] and replies[-1]["id"] == 1


def test_ids_are_echoed_only_when_they_are_ids(agent):
    assert agent.handle({"id": "req-7", "op": "bye"}) == {"id": "req-7", "ok": True}
    for bad in ([1], {"a": 1}, True, 1.5, "x" * 201):
        r = agent.handle({"id": bad, "op": "hello"})
        assert r["id"] is None and r["error"]["type"] == "ProtocolError"
        assert "a request's id is" in r["error"]["message"]
    r = agent.handle({"id": 3, "op": "x" * 10_000})
    assert r["id"] == 3 and len(r["error"]["message"]) < 300  # a huge op name is not echoed whole


@pytest.mark.parametrize("fields, match", [
    ({"inputs": 5}, "'inputs' must be a list of arrays or null"),
    ({"inputs": {"dtype": "<f4"}}, "'inputs' must be a list of arrays or null"),
    ({"return_inputs": "yes"}, "'return_inputs' true or false"),
    ({"seed": -1}, "'seed' must be a non-negative integer"),
])
def test_mistyped_prepare_fields_are_named(agent, fields, match):
    _prepared_model(agent)
    sha = next(p.stem for p in agent.cache_dir.glob("*.onnx"))
    r = agent.handle({"id": 8, "op": "prepare", "runtime": 1, "sha256": sha, **fields})
    assert r["error"]["type"] == "ProtocolError" and match in r["error"]["message"], r


def test_a_reply_json_cannot_hold_becomes_an_error_reply():
    line = encode_reply({"id": 4, "ok": True, "times_s": [float("nan")]})
    r = _strict(line)
    assert r == {"id": 4, "ok": False, "error": {"type": "AgentError", "message": r["error"]["message"]}}
    assert "standard JSON" in r["error"]["message"]


# -- bounded work per request -----------------------------------------------------------------------

def _prepared_model(agent: Agent) -> int:
    rt = agent.handle({"id": 1, "op": "runtime", "name": "onnxruntime", "threads": 1, "provider": "cpu"})
    model = to_onnx(conv((4, 8, 8), 4, 1)).SerializeToString()
    sha = hashlib.sha256(model).hexdigest()
    assert agent.handle({"id": 2, "op": "put_model", "sha256": sha, "format": "onnx",
                         "data": base64.b64encode(model).decode()})["ok"]
    r = agent.handle({"id": 3, "op": "prepare", "runtime": rt["runtime"], "sha256": sha, "seed": 0})
    assert r["ok"], r
    return int(r["model"])


@pytest.mark.parametrize("n, number, match", [
    (10**8, 1, f"at most {MAX_SAMPLES} samples (n), not 100000000"),
    (1, MAX_NUMBER + 1, f"at most {MAX_NUMBER} calls per sample (number)"),
    (MAX_SAMPLES, 101, f"at most {MAX_CALLS} calls (n * number)"),
])
def test_a_time_request_over_a_limit_is_refused_at_once(agent, n, number, match):
    mid = _prepared_model(agent)
    t0 = time.monotonic()
    r = agent.handle({"id": 9, "op": "time", "model": mid, "n": n, "number": number})
    assert time.monotonic() - t0 < 5.0  # unbounded, 10**8 samples took minutes
    assert r["id"] == 9 and r["error"]["type"] == "InputError" and match in r["error"]["message"]


def test_a_time_request_is_stopped_at_the_time_limit(tmp_path):
    a = Agent(tmp_path / "c", max_request_s=0.3)
    mid = _prepared_model(a)
    ok = a.handle({"id": 4, "op": "time", "model": mid, "n": 777, "number": 1})
    assert ok["ok"] and len(ok["times_s"]) == 777 and all(math.isfinite(t) and t > 0 for t in ok["times_s"])
    t0 = time.monotonic()
    r = a.handle({"id": 5, "op": "time", "model": mid, "n": MAX_SAMPLES, "number": 100})
    took = time.monotonic() - t0
    assert r["error"]["type"] == "InputError" and "more than 0.3 s" in r["error"]["message"], r
    assert took < 5.0  # 10**7 calls take far longer
    assert a.handle({"id": 6, "op": "time", "model": mid, "n": 3})["ok"]  # and the model still serves
    a.close()


class _SlowPrepared:
    """A fake prepared model: each sample takes ``first_s`` (the first) or ``each_s`` seconds."""

    def __init__(self, first_s: float, each_s: float) -> None:
        self.first_s, self.each_s, self.samples = first_s, each_s, 0

    def time_samples(self, n: int, number: int = 1) -> np.ndarray:
        out = []
        for _ in range(n):
            t = self.first_s if self.samples == 0 else self.each_s
            if t:
                time.sleep(t)
            self.samples += 1
            out.append(t)
        return np.array(out)

    def close(self) -> None:
        pass


def test_a_cold_first_sample_does_not_get_a_request_refused(tmp_path):
    a = Agent(tmp_path / "c", max_request_s=0.3)
    a._models[1] = _SlowPrepared(first_s=0.15, each_s=0.0)  # 0.15 s cold, then free: 0.15 s in all
    r = a.handle({"id": 1, "op": "time", "model": 1, "n": 500})
    assert r["ok"] and len(r["times_s"]) == 500 and r["times_s"][0] == 0.15


def test_a_request_of_slow_samples_is_refused_within_its_time(tmp_path):
    a = Agent(tmp_path / "c", max_request_s=0.3)
    a._models[1] = slow = _SlowPrepared(first_s=0.04, each_s=0.04)  # 100 samples: 4 s
    t0 = time.monotonic()
    r = a.handle({"id": 1, "op": "time", "model": 1, "n": 100})
    assert r["error"]["type"] == "InputError" and "would take more than 0.3 s" in r["error"]["message"]
    assert time.monotonic() - t0 < 2.5 and slow.samples < 30  # not the 4 s of all 100


# -- a real agent process ---------------------------------------------------------------------------

def test_a_real_agent_outlives_the_messages_that_killed_it(tmp_path):
    import subprocess

    proc = subprocess.Popen([sys.executable, "-m", "hwlat", "agent", "--stdio"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=agent_env(tmp_path / "c"), cwd=REPO)
    try:
        batch = [*KILLERS, *NON_FINITE, json.dumps(HELLO).encode()]
        out, err = proc.communicate(b"".join(ln + b"\n" for ln in batch), timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()
    replies = [_strict(ln) for ln in out.splitlines()]
    assert len(replies) == len(batch)
    for r, why in zip(replies, ["deep", "deep", "5000 digits", "1e400", "NaN", "-Infinity"]):
        assert r["id"] is None and r["error"]["type"] == "ProtocolError" and why in r["error"]["message"], r
    assert replies[-1]["ok"] and replies[-1]["id"] == 1 and replies[-1]["protocol_version"] == PROTOCOL_VERSION


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e30"])
def test_an_impossible_message_limit_is_a_usage_error(value, capsys):
    from hwlat.profiler.agent import main

    with pytest.raises(SystemExit) as exc:
        main(["--stdio", "--max-message-mb", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--max-message-mb: must be a number of MB over 0, at most 4096" in err
    assert f"got {'NaN' if value == 'nan' else float(value)}" in err
