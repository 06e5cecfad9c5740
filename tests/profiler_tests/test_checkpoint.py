"""The public Checkpoint: measurement records and the records of other long jobs, resumed only
by the same job, a torn last line ignored."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.profiler.checkpoint import Checkpoint, job_header


def test_job_records_resume_and_replace(tmp_path):
    path = tmp_path / "job.jsonl"
    head = job_header("sweep", space="nb201", seed=0, options={"epochs": np.int64(2)})
    with Checkpoint(path, head) as ck:
        ck.put("1.5", {"arch": ("a", "b"), "ms": np.float64(1.25), "curve": np.arange(3)})
        ck.put("2", {"ms": 2.0})
        ck.put("2", {"ms": 2.5})  # written again: the later record wins
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"key": "3", "ms"')  # a run killed while writing
    with Checkpoint(path, job_header("sweep", space="nb201", seed=0, options={"epochs": 2})) as ck:
        assert set(ck.rows) == {"1.5", "2"}
        assert ck.rows["1.5"] == {"arch": ["a", "b"], "ms": 1.25, "curve": [0, 1, 2], "key": "1.5"}
        assert ck.rows["2"]["ms"] == 2.5
        ck.put("3", {"ms": 3.0})
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1])["key"] == "3"  # appended after the torn line, which is skipped
    assert set(Checkpoint(path, job_header("sweep", space="nb201", seed=0, options={"epochs": 2})).rows) == \
        {"1.5", "2", "3"}


def test_a_run_that_records_nothing_leaves_no_file(tmp_path):
    """A run stopped by bad input before its first result leaves no checkpoint behind; one that
    recorded something keeps it, and a file that existed stays even when nothing is added."""
    path = tmp_path / "job.jsonl"
    Checkpoint(path, job_header("sweep", seed=0)).close()
    assert not path.exists()
    with Checkpoint(path, job_header("sweep", seed=0)) as ck:
        ck.put("a", {"x": 1})
    Checkpoint(path, job_header("sweep", seed=0)).close()
    assert path.exists() and len(path.read_text().splitlines()) == 2


def test_another_job_is_refused(tmp_path):
    path = tmp_path / "job.jsonl"
    with Checkpoint(path, job_header("sweep", space="nb201", seed=0)) as ck:
        ck.put("budget=1", {"ms": 1.0})
    with pytest.raises(InputError, match=r"another sweep job \(it differs in seed: 0 in the file, 1 now\)"):
        Checkpoint(path, job_header("sweep", space="nb201", seed=1))
    with pytest.raises(InputError, match="differs in kind"):
        Checkpoint(path, job_header("gallery", space="nb201", seed=0))
    with pytest.raises(TypeError, match="not a JSON value"):
        job_header("sweep", space=object())


def test_a_file_that_is_not_a_checkpoint_is_never_overwritten(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text("my own notes\n")
    with pytest.raises(InputError, match="is not an hwlat checkpoint"):
        Checkpoint(path, job_header("sweep"))
    assert path.read_text() == "my own notes\n"
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"hwlat_checkpoint": 2, "jo')  # killed while writing its header: started again
    with Checkpoint(torn, job_header("sweep")) as ck:
        assert ck.rows == {}


# -- measurement checkpoints: healing ------------------------------------------------------------

PROTOCOL = {"rounds": 6, "statistic": "min"}
HEADER = {"hwlat_checkpoint": 2, "device": {"name": "cpu-ort", "runtime": "onnxruntime", "provider": "cpu",
                                            "threads": 1, "precision": "fp32", "location": "local"},
          "runtime": {"runtime": "onnxruntime", "runtime_version": "1"}, "protocol": PROTOCOL, "kind": "profile"}


def _record(key, base_ms=1.0, statistic="min"):
    from hwlat.profiler.checkpoint import measurement_record
    from hwlat.profiler.measurement import Measurement

    rng = np.random.default_rng(len(key))
    m = Measurement(key, [base_ms * 1e-3 * (1 + rng.random(8)) for _ in range(3)], statistic=statistic)
    return measurement_record(key, m)


def _line(rec) -> bytes:
    return (json.dumps(rec) + "\n").encode()


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def _bad_lines():
    good = _record("op-b")
    dup = {**_record("op-a"), "latency_ms": 999.0}  # the same op written again, an impossible value
    return {
        "not UTF-8": (b'{"key": "op-x", "latency_ms": 1.0, "note": "\xff"}\n', "not UTF-8 text"),
        "a list": (b'[1, 2, 3]\n', "a JSON array, not a record"),
        "a number": (b'7\n', "a JSON number, not a record"),
        "not JSON": (b'{"key": "op-x", latency}\n', "not valid JSON"),
        "no key": (_line({"latency_ms": 1.0}), "without a 'key'"),
        "key not text": (_line({**good, "key": ["op-x"]}), "'key' is not text"),
        "no latency": (_line({"key": "op-x", "median_ms": 1.0}), "it has no latency_ms"),
        "latency as text": (_line({**good, "key": "op-x", "latency_ms": "0.5"}), 'latency_ms is "0.5", not a number'),
        "NaN median": (_line({**good, "key": "op-x", "median_ms": float("nan")}), "median_ms is nan"),
        "negative median": (_line({**good, "key": "op-x", "median_ms": -3.0}), "median_ms is -3.0"),
        "infinite latency": (_line({**good, "key": "op-x", "latency_ms": float("inf")}), "latency_ms is inf"),
        "zero samples": (_line({**good, "key": "op-x", "n": 0}), "n is 0"),
        "unstable not a flag": (_line({**good, "key": "op-x", "unstable": "no"}), "unstable is"),
        "quantiles out of order": (_line({**good, "key": "op-x", "p10_ms": good["p90_ms"] * 2}), "is above"),
        "duplicate at 999 ms": (_line(dup), "latency_ms (999) is above the slowest call that 24 samples"),
        "not the statistic": (_line({**good, "key": "op-x", "latency_ms": good["median_ms"]}), "is not the min"),
    }


@pytest.mark.parametrize("case", list(_bad_lines()))
def test_a_bad_record_is_skipped_with_one_warning_naming_its_line(tmp_path, caplog, case):
    bad, reason = _bad_lines()[case]
    path = tmp_path / "measurements.jsonl"
    path.write_bytes(_line(HEADER) + _line(_record("op-a")) + bad + _line(_record("op-b")))
    with caplog.at_level("WARNING"), Checkpoint(path, HEADER) as ck:
        assert set(ck.rows) == {"op-a", "op-b"}  # the good rows before and after it are kept
        assert ck.rows["op-a"]["latency_ms"] < 999  # a later impossible record never replaces a good one
    (msg,) = _warnings(caplog)
    assert f"{path}:3:" in msg and reason in msg and "measured again" in msg


def test_many_bad_records_are_counted_after_the_first_few(tmp_path, caplog):
    path = tmp_path / "m.jsonl"
    path.write_bytes(_line(HEADER) + b"[]\n" * 9 + _line(_record("op-a")))
    with caplog.at_level("WARNING"), Checkpoint(path, HEADER) as ck:
        assert set(ck.rows) == {"op-a"}
    msgs = _warnings(caplog)
    assert len(msgs) == 6 and "4 more bad records" in msgs[-1]


@pytest.mark.parametrize("statistic", ["min", "p5", "p10", "quiet", "median", "mean"])
def test_every_real_measurement_record_is_accepted(statistic):
    """No false alarms: records of real measurements pass, whatever the statistic and the times."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from hwlat.profiler.checkpoint import measurement_problem, measurement_record
    from hwlat.profiler.measurement import Measurement

    times = st.lists(st.floats(1e-7, 1.0, allow_nan=False), min_size=1, max_size=12)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(times, min_size=1, max_size=5))
    def check(rounds):
        m = Measurement("x", [np.array(r) for r in rounds], statistic=statistic)
        rec = json.loads(json.dumps(measurement_record("x", m, reference_ms=1.0)))
        assert measurement_problem(rec, statistic) is None

    check()


def test_a_bad_header_is_one_clear_error_and_the_file_is_kept(tmp_path):
    cases = {
        "no device": (_line({k: v for k, v in HEADER.items() if k != "device"}), "its header has no 'device'"),
        "device not an object": (_line({**HEADER, "device": "cpu-ort"}), "'device' of its header is a JSON string"),
        "job not an object": (_line({"hwlat_checkpoint": 2, "job": [1]}), "'job' is not an object"),
        "undecodable": (b'{"hwlat_checkpoint": 2, "device": "\xff"}\n' + _line(_record("op-a")),
                        "header line is not UTF-8 text"),
        "corrupt": (b'{"hwlat_checkpoint": 2, "dev\n' + _line(_record("op-a")), "header line is not valid JSON"),
    }
    for name, (data, reason) in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(data)
        with pytest.raises(InputError) as err:
            Checkpoint(path, HEADER)
        msg = str(err.value)
        assert str(path) in msg and reason in msg and "delete it" in msg and "(-o)" in msg, (name, msg)
        assert path.read_bytes() == data, name
    for data in (b"[1, 2]\n", b"7\n", b'"text"\n', b"\xff\xfe\n"):  # not a checkpoint at all: never overwritten
        path = tmp_path / "other.jsonl"
        path.write_bytes(data)
        with pytest.raises(InputError, match="is not an hwlat checkpoint"):
            Checkpoint(path, HEADER)
        assert path.read_bytes() == data


def test_a_checkpoint_is_resumed_only_by_a_run_of_its_kind(tmp_path):
    path = tmp_path / "m.jsonl"
    with Checkpoint(path, HEADER) as ck:
        ck.put("note", {"text": "a record that is not a measurement"})
    with pytest.raises(InputError, match=r"measurements of a profile run, not of a validate run; use another output"):
        Checkpoint(path, {**HEADER, "kind": "validate"})
    legacy = tmp_path / "old.jsonl"  # written before runs had kinds: resumed by any
    Checkpoint(legacy, {k: v for k, v in HEADER.items() if k != "kind"}).close()
    Checkpoint(legacy, HEADER).close()


def test_each_kind_of_run_has_its_own_file_name():
    from hwlat.profiler.checkpoint import checkpoint_name

    kinds = ["profile", "validate", "calibration", "gallery", "measure", "networks"]
    names = [checkpoint_name(k) for k in kinds]
    assert len(set(names)) == len(kinds)
    assert checkpoint_name("profile") == "measurements.jsonl"  # profile folders of older hwlat resume
    with pytest.raises(ValueError, match="lower-case name"):
        checkpoint_name("../x")


def test_an_older_folder_of_one_kind_is_adopted_and_a_profile_file_is_not(tmp_path):
    from hwlat.profiler.checkpoint import adopt_legacy

    old = {k: v for k, v in HEADER.items() if k != "kind"}
    val = tmp_path / "val"
    val.mkdir()
    (val / "measurements.jsonl").write_bytes(_line(old) + _line(_record("pass0|a")) + _line(_record("__canary__#0")))
    assert adopt_legacy(val, "validate", "pass") == val / "validate.jsonl"
    assert (val / "validate.jsonl").exists() and not (val / "measurements.jsonl").exists()
    prof = tmp_path / "prof"
    prof.mkdir()
    data = _line(old) + _line(_record("conv:3x32x32")) + _line(_record("pass0|a"))
    (prof / "measurements.jsonl").write_bytes(data)
    assert adopt_legacy(prof, "validate", "pass") == prof / "validate.jsonl"
    assert (prof / "measurements.jsonl").read_bytes() == data and not (prof / "validate.jsonl").exists()


def test_a_second_writer_of_one_checkpoint_is_refused(tmp_path):
    path = tmp_path / "m.jsonl"
    with Checkpoint(path, HEADER) as ck:
        ck.put("op-a", _record("op-a"))
        with pytest.raises(InputError, match=f"{path} is being written by another hwlat run"):
            Checkpoint(path, HEADER)
    with Checkpoint(path, HEADER) as ck:  # closed: free again
        assert set(ck.rows) == {"op-a"}
    assert len(path.read_text().splitlines()) == 2


# -- real runs resuming from a damaged folder -------------------------------------------------------

def _specs():
    from hwlat.ops import conv, pool

    return [conv((3, 16, 16), 8, 3), conv((8, 16, 16), 8, 1), conv((8, 16, 16), 8, 3), pool((8, 16, 16), 3)]


def test_a_corrupt_middle_line_is_measured_again_and_the_good_rows_are_kept(tmp_path, caplog):
    from hwlat.profiler import Protocol
    from hwlat.profiler.profile import CHECKPOINT_NAME, profile_ops

    specs, proto = _specs(), Protocol.quick()
    profile_ops(specs, "cpu-ort", protocol=proto, out_dir=tmp_path, progress=False)
    path = tmp_path / CHECKPOINT_NAME
    lines = path.read_bytes().split(b"\n")
    # every line of one op (a slow spell may have measured it twice), in the middle of the file
    victims = [i for i, ln in enumerate(lines) if b'"key":"' + specs[1].key.encode() + b'"' in ln]
    assert victims and 0 < victims[0] and victims[-1] < len(lines) - 2
    for i in victims:
        lines[i] = lines[i][:40] + b"\xff\x00 garbage"
    path.write_bytes(b"\n".join(lines))
    good = {json.loads(ln)["key"]: json.loads(ln) for ln in lines[1:] if ln.strip() and b"garbage" not in ln}
    with caplog.at_level("WARNING"):
        res = profile_ops(specs, "cpu-ort", protocol=proto, out_dir=tmp_path, progress=False)
    assert (res.n_measured, res.n_resumed) == (1, len(specs) - 1)  # only the damaged op
    msgs = [m for m in _warnings(caplog) if "skipping" in m]
    assert len(msgs) == len(victims)  # one line each
    for i, msg in zip(victims, msgs):
        assert f"{path}:{i + 1}: not UTF-8 text" in msg and "measured again" in msg
    for s in (specs[0], specs[2], specs[3]):  # kept as they were, not measured again
        assert res.table.df.set_index("key").at[s.key, "latency_ms"] == good[s.key]["latency_ms"]
    assert res.table.lookup(specs[1]) > 0 and len(res.table) == len(specs)
    with Checkpoint(path, json.loads(lines[0])) as ck:  # the new record is appended after the bad line
        assert specs[1].key in ck.rows


def test_network_measurements_in_a_profile_folder_keep_their_own_file(tmp_path):
    """validate -o on a profile folder: the networks go to validate.jsonl, the profile resumes."""
    from hwlat.profiler import Protocol
    from hwlat.profiler.networks import measure_archs
    from hwlat.profiler.profile import CHECKPOINT_NAME, profile_ops
    from hwlat.spaces import get_space

    specs, proto = _specs(), Protocol.quick()
    profile_ops(specs, "cpu-ort", protocol=proto, out_dir=tmp_path, progress=False)
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()
    space = get_space("nb201")
    measure_archs(space, space.sample(3, 2), "cpu-ort", protocol=proto, out_dir=tmp_path, passes=2,
                  progress=False, kind="validate", reference=False)
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before
    assert json.loads((tmp_path / "validate.jsonl").read_text().splitlines()[0])["kind"] == "validate"
    again = profile_ops(specs, "cpu-ort", protocol=proto, out_dir=tmp_path, progress=False)
    assert again.n_measured == 0 and len(again.table) == len(specs)


def test_a_profile_file_holding_network_rows_of_an_older_hwlat_resumes(tmp_path, caplog):
    from hwlat.profiler import Protocol
    from hwlat.profiler.profile import CHECKPOINT_NAME, profile_ops

    specs, proto = _specs(), Protocol.quick()
    profile_ops(specs, "cpu-ort", protocol=proto, out_dir=tmp_path, progress=False)
    with (tmp_path / CHECKPOINT_NAME).open("ab") as fh:  # what `validate -o` on this folder used to append
        fh.write(_line(_record("pass0|nb201 network")) + _line(_record("pass1|nb201 network")))
    with caplog.at_level("WARNING"):
        again = profile_ops(specs, "cpu-ort", protocol=proto, out_dir=tmp_path, progress=False)
    assert again.n_measured == 0 and len(again.table) == len(specs)
    (msg,) = _warnings(caplog)
    assert str(tmp_path / CHECKPOINT_NAME) in msg and "2 record(s) that are not ops" in msg


def test_a_job_record_without_a_required_field_is_done_again(tmp_path, caplog):
    path = tmp_path / "gradient.jsonl"
    head = job_header("sweep", seed=0)
    with Checkpoint(path, head) as ck:
        ck.put("1.5", {"arch": "a", "ms": 1.0})
        ck.put("2", {"arch": "b"})
    with caplog.at_level("WARNING"), Checkpoint(path, head, required=("arch", "ms")) as ck:
        assert set(ck.rows) == {"1.5"}
    (msg,) = _warnings(caplog)
    assert f"{path}:3: a record without 'ms'" in msg and "that work is done again" in msg


def test_a_checkpoint_path_that_cannot_be_a_file_is_one_message(tmp_path):
    (tmp_path / "m.jsonl").mkdir()
    with pytest.raises(InputError, match=r"m.jsonl is a folder, not a checkpoint file"):
        Checkpoint(tmp_path / "m.jsonl", HEADER)
    with pytest.raises(InputError, match=r"cannot open the checkpoint .*missing/m.jsonl: No such file"):
        Checkpoint(tmp_path / "missing" / "m.jsonl", HEADER)


def test_a_new_checkpoint_reaches_the_disk_with_its_folder_entry(tmp_path, monkeypatch):
    import os

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to name a file descriptor")
    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    path = tmp_path / "m.jsonl"
    with Checkpoint(path, HEADER) as ck:
        assert synced == [str(path), str(tmp_path)]  # the header, then the folder holding the new name
        ck.put("op-a", _record("op-a"))
        assert synced[-1] == str(path)  # each record as it is written
