"""One hwlat run per output folder (a real second process is refused at once), and atomic writes
that reach the disk (the temporary file synced before its rename, the folder after it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from hwlat._io import LOCK_NAME, atomic_path, atomic_write_text, folder_lock
from hwlat.errors import InputError
from hwlat.profiler.profile import CHECKPOINT_NAME


def test_a_locked_folder_refuses_a_second_lock_until_it_is_released(tmp_path):
    out = tmp_path / "out"
    with folder_lock(out) as p:
        assert p == out and (out / LOCK_NAME).read_text().strip() == str(os.getpid())
        (out / "table.csv").write_text("x\n")
        with pytest.raises(InputError, match=rf"output folder {out} is in use by another hwlat run "
                                             rf"\(process {os.getpid()}\); wait for it to finish"):
            with folder_lock(out):
                pass
    with folder_lock(out):  # released
        pass
    with pytest.raises(KeyboardInterrupt):
        with folder_lock(out):
            raise KeyboardInterrupt
    with folder_lock(out):  # released on Ctrl-C too
        pass


def test_a_folder_created_for_a_run_that_wrote_nothing_is_removed(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(InputError, match="bad option"):
        with folder_lock(out):
            raise InputError("bad option")
    assert not out.exists()
    existing = tmp_path / "kept"
    existing.mkdir()
    with folder_lock(existing):
        pass
    assert existing.is_dir()


def test_the_lock_is_freed_when_its_process_is_killed(tmp_path):
    out = tmp_path / "out"
    code = (f"from hwlat._io import folder_lock\nimport time\nwith folder_lock({str(out)!r}):\n"
            "    print('locked', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(InputError, match=f"in use by another hwlat run \\(process {proc.pid}\\)"):
            with folder_lock(out):
                pass
    finally:
        proc.kill()
        proc.wait(timeout=30)
    with folder_lock(out):  # kill -9: the operating system released it
        pass


def test_two_real_profile_runs_on_one_folder(tmp_path):
    """A second `hwlat profile -o DIR` while one runs there stops at once with exit 1 and one
    message; the first finishes with an intact checkpoint, and a later run resumes it."""
    from hwlat.ops import conv

    specs = [conv((16, 32, 32), c, k) for c in (8, 16, 24, 32, 40, 48) for k in (1, 3, 5)]
    ops = tmp_path / "ops.txt"
    ops.write_text("\n".join(s.key for s in specs) + "\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "hwlat", "profile", "--device", "cpu-ort", "--ops", str(ops), "-o", str(out),
           "--no-progress", "--chunk-size", "2", "--rounds", "3", "--round-time", "0.05", "--no-canary"]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (out / CHECKPOINT_NAME).exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the second started"
        t0 = time.perf_counter()
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert first.poll() is None, "the first run ended before the second was refused"
        assert second.returncode == 1
        assert time.perf_counter() - t0 < 30  # at once, not after waiting for the first
        assert second.stderr.strip().splitlines() == [
            f"hwlat: error: output folder {out} is in use by another hwlat run (process {first.pid}); "
            "wait for it to finish, or choose another output folder (-o)"]
        assert first.wait(timeout=300) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    lines = (out / CHECKPOINT_NAME).read_text().splitlines()
    recs = [json.loads(ln) for ln in lines]
    op_keys = [r["key"] for r in recs[1:] if not r["key"].startswith("__")]
    assert sorted(op_keys) == sorted(s.key for s in specs)  # each op once, nothing overwritten
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "0 measured now" in again.stderr


def test_atomic_write_syncs_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to name a file descriptor")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    dest = tmp_path / "table.csv"
    atomic_write_text(dest, "a,b\n")
    assert dest.read_text() == "a,b\n"
    (kind0, tmp), (kind1, dst), (kind2, folder) = events
    assert kind0 == "fsync" and os.path.basename(tmp).startswith(".table.csv.") and tmp.endswith(".tmp")
    assert (kind1, dst) == ("replace", str(dest))
    assert (kind2, folder) == ("fsync", str(tmp_path))
    events.clear()
    with pytest.raises(RuntimeError), atomic_path(dest) as t:
        t.write_text("half")
        raise RuntimeError
    assert events == [] and dest.read_text() == "a,b\n"
