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


def test_another_job_is_refused(tmp_path):
    path = tmp_path / "job.jsonl"
    Checkpoint(path, job_header("sweep", space="nb201", seed=0)).close()
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
