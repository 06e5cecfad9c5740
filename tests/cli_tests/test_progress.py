"""Progress on stderr: whole lines when stderr is not a terminal, the final state once."""

from __future__ import annotations

import io
import subprocess
import sys

from hwlat._progress import LineProgress, progress_bar


def test_progress_off_a_terminal_is_whole_lines():
    buf = io.StringIO()
    bar = progress_bar(total=5, desc="profiling x", unit="op", file=buf)
    assert isinstance(bar, LineProgress)
    with bar:
        for _ in range(5):
            bar.update(1)
        bar.set_postfix(slow="3%", refresh=False)
    text = buf.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0].startswith("profiling x: 0/5 op") and lines[-1].startswith("profiling x: 5/5 op")
    assert len(lines) == len(set(lines)) == 2  # started, done: the last line once


def test_line_progress_writes_now_and_then():
    buf = io.StringIO()
    bar = LineProgress(total=100, unit="arch", file=buf, interval_s=0.0)
    for _ in range(100):
        bar.update(1)
    bar.close()
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 101 and lines[-1].startswith("100/100 arch (100 %)")
    assert "ETA" in lines[50]
    quiet = io.StringIO()
    with LineProgress(total=3, file=quiet, disable=True) as bar:
        bar.update(3)
    assert quiet.getvalue() == ""


def test_profile_into_a_log_has_no_carriage_returns(tmp_path):
    ops = tmp_path / "ops.txt"
    ops.write_text("conv:3x16x16:cout=8,k=3\npool:8x16x16:k=3,pad=1\n")
    res = subprocess.run([sys.executable, "-m", "hwlat", "profile", "--device", "cpu-ort", "--ops", str(ops),
                          "-o", str(tmp_path / "t"), "--quick"],
                         capture_output=True, text=True, check=False, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stderr
    progress = [ln for ln in res.stderr.splitlines() if ln.startswith("profiling cpu-ort:")]
    assert progress and progress[-1].startswith("profiling cpu-ort: 2/2 op")
    assert len(progress) == len(set(progress))
