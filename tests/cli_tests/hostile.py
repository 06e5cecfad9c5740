"""How a hostile-input case runs and what it must show: one clear message naming the bad thing,
the documented exit code, no traceback, no hang, nothing written, no pickle loaded.

The cases themselves are in :mod:`tests.cli_tests.hostile_cases` (one list, used by
``tests/cli_tests/test_matrix.py`` in-process and by ``benchmarks/bench_hostile.py`` through
subprocesses of ``python -m hwlat``).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: seconds a case may run (in-process and as a subprocess) before it counts as a hang
CASE_TIMEOUT_S = 10.0

TRACEBACK = "Traceback (most recent call last)"
#: an exception's class name leaking into a message ("KeyError: 'x'", "ValueError('...')")
BARE_EXCEPTION = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b(?=[:(])")

PLACEHOLDER = re.compile(r"\{(\w+)\}")

#: the problem kinds a result can show, in the order reports list them
KINDS = ("traceback", "hang", "silent", "exit", "message", "wrote", "unsafe")
KIND_TITLES = {
    "traceback": "tracebacks or bare exception names",
    "hang": "hangs (over the time bound)",
    "silent": "silent acceptances (exit 0 on bad input)",
    "exit": "wrong exit codes",
    "message": "messages not naming the bad thing",
    "wrote": "files written or changed",
    "unsafe": "crafted pickles or YAML tags executed",
}


@dataclass(frozen=True)
class Case:
    """One command line of bad input and what ``hwlat`` must answer.

    ``argv`` and ``names`` may hold ``{name}`` placeholders of the built files
    (:func:`tests.cli_tests.hostile_files.build`) and ``{out}``, a fresh path of this case's own.
    ``code`` is the exit code expected (or the codes, where either is right); ``names`` are the
    strings the message must contain (the option, the file), compared case-insensitively.
    ``stream`` is where the message goes: ``stderr``, or ``stdout`` for the agent's replies.
    """

    id: str
    argv: tuple[str, ...]
    code: int | tuple[int, ...]
    names: tuple[str, ...] = ()
    stdin: bytes = b""
    stream: str = "stderr"

    @property
    def area(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def codes(self) -> tuple[int, ...]:
        return self.code if isinstance(self.code, tuple) else (self.code,)

    def resolve(self, files: dict[str, str], out: str) -> tuple[list[str], list[str]]:
        """``(argv, names)`` with the placeholders filled in."""
        values = {**files, "out": out}

        def fill(text: str) -> str:  # only {name} of a known file: architecture texts hold JSON braces
            return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)

        return [fill(a) for a in self.argv], [fill(n) for n in self.names]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    wall_s: float = 0.0
    changed: list[str] = field(default_factory=list)
    unsafe: bool = False


# -- file snapshots ---------------------------------------------------------------------------------

def snapshot(root: str | Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time (FIFOs included)."""
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with contextlib.suppress(OSError):
                st = os.lstat(p)
                out[p] = (st.st_size, st.st_mtime_ns)
    return out


def changed_files(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


# -- FIFO watchdog ----------------------------------------------------------------------------------

@contextlib.contextmanager
def fifo_watchdog(fifos: Sequence[str], after_s: float) -> Iterator[None]:
    """After ``after_s``, keep opening ``fifos`` from the other end, so that a command blocked on
    one (reading or writing) gets end of input and the case can end as a hang instead of forever."""
    done = threading.Event()

    def poke() -> None:
        if done.wait(after_s):
            return
        while not done.is_set():
            for f in fifos:
                for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
                    with contextlib.suppress(OSError):
                        os.close(os.open(f, flags))
            done.wait(0.05)

    t = threading.Thread(target=poke, daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join(2)


# -- running a case -------------------------------------------------------------------------------

#: how long a command waits on a silent pipe in these cases (``$HWLAT_PIPE_IDLE_S``): well inside
#: the case's time bound, so that a FIFO given as a file ends in its message, not in a hang
PIPE_IDLE_S = 2.0


class CaseTimeout(BaseException):
    """Raised in the main thread when a case runs past its time bound (not an Exception: hwlat's
    own ``except Exception`` must not swallow it)."""


#: what the commands import on their way: imported once up front, so that a case stopped by its time
#: bound is not stopped half-way through importing one (which would leave it broken for the next)
HEAVY_MODULES = ("pandas", "pyarrow.parquet", "onnx", "onnxruntime", "ai_edge_litert.interpreter", "scipy.optimize",
                 "sklearn.ensemble", "sklearn.model_selection", "matplotlib", "matplotlib.pyplot", "torch", "yaml")


def warm_imports() -> None:
    """Import :data:`HEAVY_MODULES` (those installed) in this process."""
    import importlib

    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in HEAVY_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _stream(errors: str) -> io.TextIOWrapper:
    # what a real terminal-less process gets: UTF-8, strict on stdout, backslashreplace on stderr
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)


def _text(stream: io.TextIOWrapper) -> str:
    with contextlib.suppress(ValueError):
        stream.flush()
    buf = stream.buffer
    return buf.getvalue().decode("utf-8", "backslashreplace") if isinstance(buf, io.BytesIO) else ""


def run_in_process(argv: Sequence[str], *, stdin: bytes = b"", cwd: str | None = None,
                   timeout: float = CASE_TIMEOUT_S, fifos: Sequence[str] = ()) -> Result:
    """``hwlat.cli.main(argv)`` with its standard streams captured (at the Python and the file
    descriptor level), stopped after ``timeout`` seconds; an exception that escapes ``main`` is
    printed as the interpreter would print it (exit code 1)."""
    from hwlat.cli import main

    saved_fds = {fd: os.dup(fd) for fd in (1, 2)}
    saved = (sys.stdin, sys.stdout, sys.stderr)
    old_cwd = os.getcwd()
    out_file, err_file = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    out, err = _stream("strict"), _stream("backslashreplace")
    armed = [True]

    def alarm(signum, frame):  # noqa: ARG001 - signal handler signature
        if armed[0]:
            raise CaseTimeout

    old_handler = signal.signal(signal.SIGALRM, alarm)
    old_idle = os.environ.get("HWLAT_PIPE_IDLE_S")
    os.environ["HWLAT_PIPE_IDLE_S"] = str(PIPE_IDLE_S)
    code, timed_out = 1, False
    start = time.perf_counter()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out_file.fileno(), 1)
        os.dup2(err_file.fileno(), 2)
        sys.stdout, sys.stderr = out, err
        if cwd:
            os.chdir(cwd)
        with fifo_watchdog(fifos, timeout):
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                code = int(main(list(argv)) or 0)
            except SystemExit as exc:
                if exc.code is None or isinstance(exc.code, int):
                    code = int(exc.code or 0)
                else:
                    print(exc.code, file=sys.stderr)
                    code = 1
            except CaseTimeout:
                timed_out, code = True, 124
            except BaseException:  # noqa: BLE001 - shown as the interpreter shows an uncaught exception
                print(traceback.format_exc(), end="", file=sys.stderr)
                code = 1
            finally:
                armed[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_idle is None:
            os.environ.pop("HWLAT_PIPE_IDLE_S", None)
        else:
            os.environ["HWLAT_PIPE_IDLE_S"] = old_idle
        os.chdir(old_cwd)
        for s in (out, err, sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                s.flush()
        for fd, copy in saved_fds.items():
            os.dup2(copy, fd)
            os.close(copy)
        stdout_text, stderr_text = _text(out), _text(err)
        sys.stdin, sys.stdout, sys.stderr = saved
    fd_out, fd_err = [(_read_back(f)) for f in (out_file, err_file)]
    return Result(code, stdout_text + fd_out, stderr_text + fd_err, timed_out, time.perf_counter() - start)


def _read_back(f) -> str:
    f.seek(0)
    data = f.read()
    f.close()
    return data.decode("utf-8", "backslashreplace")


def run_subprocess(argv: Sequence[str], *, stdin: bytes = b"", cwd: str | None = None,
                   timeout: float = CASE_TIMEOUT_S, python: str = sys.executable,
                   env: dict[str, str] | None = None) -> Result:
    """``python -m hwlat argv`` as a child process (file names as bytes, so that non-UTF-8 names
    arrive as they are), killed after ``timeout`` seconds."""
    cmd = [os.fsencode(python), b"-m", b"hwlat", *(os.fsencode(a) for a in argv)]
    env = {**(env if env is not None else os.environ), "HWLAT_PIPE_IDLE_S": str(PIPE_IDLE_S)}
    start = time.perf_counter()
    try:
        p = subprocess.run(cmd, input=stdin, capture_output=True, cwd=cwd, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        return Result(124, (exc.stdout or b"").decode("utf-8", "backslashreplace"),
                      (exc.stderr or b"").decode("utf-8", "backslashreplace"), True, time.perf_counter() - start)
    return Result(p.returncode, p.stdout.decode("utf-8", "backslashreplace"),
                  p.stderr.decode("utf-8", "backslashreplace"), False, time.perf_counter() - start)


def run_case(case: Case, files: dict[str, str], workdir: str | Path, *, subprocess_python: str | None = None,
             timeout: float = CASE_TIMEOUT_S, env: dict[str, str] | None = None) -> Result:
    """Run ``case`` (in-process, or through ``subprocess_python``) and note the files it changed
    under the artefact root and whether it ran a crafted payload."""
    from tests.cli_tests.hostile_files import fifos

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", case.id)
    case_dir = Path(workdir) / slug
    case_dir.mkdir(parents=True, exist_ok=True)
    out = str(case_dir / "out")
    argv, _ = case.resolve(files, out)
    root = files["root"]
    marker = Path(files["pwned"])
    with contextlib.suppress(FileNotFoundError):
        marker.unlink()
    before = {**snapshot(root), **snapshot(case_dir)}
    if subprocess_python is None:
        res = run_in_process(argv, stdin=case.stdin, cwd=str(case_dir), timeout=timeout, fifos=fifos(files))
    else:
        with fifo_watchdog(fifos(files), timeout + 1):
            res = run_subprocess(argv, stdin=case.stdin, cwd=str(case_dir), timeout=timeout,
                                 python=subprocess_python, env=env)
    after = {**snapshot(root), **snapshot(case_dir)}
    res.unsafe = marker.exists()
    res.changed = [p for p in changed_files(before, after) if p != str(marker)]
    with contextlib.suppress(FileNotFoundError):
        marker.unlink()
    return res


def problems(case: Case, res: Result, files: dict[str, str], out: str = "") -> dict[str, str]:
    """What is wrong with ``res`` for ``case``, by kind (:data:`KINDS`); empty when all is right."""
    _, names = case.resolve(files, out)
    got: dict[str, str] = {}
    if TRACEBACK in res.stderr:
        got["traceback"] = res.stderr[res.stderr.index(TRACEBACK):][-600:]
    elif m := BARE_EXCEPTION.search(res.stderr):
        got["traceback"] = f"bare exception name {m.group(0)!r} in: {res.stderr.strip()[-300:]}"
    if res.timed_out:
        got["hang"] = f"still running after {res.wall_s:.1f} s"
    elif res.code not in case.codes:
        kind = "silent" if res.code == 0 else "exit"
        got[kind] = f"exit code {res.code}, expected {' or '.join(map(str, case.codes))}"
    message = res.stdout if case.stream == "stdout" else res.stderr
    if not res.timed_out and (names or 0 not in case.codes):
        low = message.lower()
        missing = [n for n in names if n.lower() not in low and _ascii_part(n).lower() not in low]
        if "error:" not in low and 0 not in case.codes:
            missing.insert(0, "'error:'")
        if missing:
            got["message"] = f"does not name {', '.join(missing)}: {message.strip()[-300:]!r}"
    if res.changed and 0 not in case.codes:
        got["wrote"] = ", ".join(res.changed[:5])
    if res.unsafe:
        got["unsafe"] = "a crafted pickle or YAML tag ran (the marker file was created)"
    return got


def _ascii_part(name: str) -> str:
    """The part of ``name`` before its first non-ASCII character (how a non-UTF-8 file name
    shows in a message varies: escaped, replaced, or as bytes)."""
    for i, ch in enumerate(name):
        if ord(ch) > 127:
            return name[:i] if i else name
    return name
