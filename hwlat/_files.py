"""Reading the files hwlat is given: what a path names is checked first (a folder, a device or a
pipe gets its own message), reads are bounded in size and, for pipes, in idle time, and text that
is not UTF-8 is refused with the line it breaks on. Every problem is an :class:`InputError` that
names the kind of file (``what``) and the path.
"""

from __future__ import annotations

import math
import os
import select
import stat
import sys
import time
from pathlib import Path

from hwlat.errors import InputError

__all__ = ["MAX_READ_BYTES", "PIPE_IDLE_S", "shown", "check_input_file", "read_input_bytes", "read_input_text",
           "decode_text", "tolerant_streams", "machine_memory_bytes", "memory_bound_bytes", "check_memory"]

#: the most bytes hwlat reads from one text input (architecture lists, op lists, CSV, YAML): 256 MiB
MAX_READ_BYTES = 256 * 2**20
#: how long a named pipe (FIFO) may stay silent before hwlat gives up reading it (s);
#: ``$HWLAT_PIPE_IDLE_S`` sets it (a program that takes long to start writing needs more)
PIPE_IDLE_S = 30.0


def _pipe_idle_s() -> float:
    raw = os.environ.get("HWLAT_PIPE_IDLE_S")
    if raw is None:
        return PIPE_IDLE_S
    try:
        v = float(raw)
    except ValueError:
        v = math.nan
    if not 0 < v <= 86_400:
        raise InputError(f"$HWLAT_PIPE_IDLE_S must be a number of seconds over 0, at most 86400, got {raw!r}")
    return v


def shown(path: str | os.PathLike[str]) -> str:
    """``path`` as printable text: bytes that are not UTF-8 appear as ``\\xNN``."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        return text.decode("utf-8", "backslashreplace")
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


def check_input_file(path: str | os.PathLike[str], what: str, *, fix: str = "check the path",
                     pipe: bool = False) -> Path:
    """``path`` as a :class:`Path` if it names a file hwlat can read, else an :class:`InputError`
    that says what it names instead (nothing, a folder, a device, a socket; a pipe unless
    ``pipe``: a reader that seeks in its file needs a regular one)."""
    p = Path(path)
    name = shown(p)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{what} {name} does not exist; {fix}") from None
    except NotADirectoryError:
        raise InputError(f"{what} {name} does not exist: a part of the path before its name is a file, "
                         f"not a folder; {fix}") from None
    except PermissionError:
        raise InputError(f"cannot read {what} {name}: permission denied; fix its permissions or {fix}") from None
    except (OSError, ValueError) as exc:  # a name too long, a loop of links, a NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot read {what} {name}: {reason}; {fix}") from None
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return p
    if stat.S_ISDIR(mode):
        raise InputError(f"{what} {name} is a folder, not a file; give the path of the file itself")
    if stat.S_ISFIFO(mode):
        if pipe:
            return p
        raise InputError(f"{what} {name} is a pipe (FIFO), not a regular file; this file is read with seeks: "
                         "save it to a file first and give that path")
    kind = ("a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise InputError(f"{what} {name} is {kind}, not a file; give the path of a regular file")


def _too_big(what: str, name: str, limit: int) -> InputError:
    return InputError(f"{what} {name} is larger than {_mib(limit)}, the most hwlat reads from such a file; "
                      "split it into smaller files")


def read_input_bytes(path: str | os.PathLike[str], what: str, *, limit: int | None = None,
                     fix: str = "check the path") -> bytes:
    """The bytes of ``path`` (``-``: standard input), at most ``limit`` of them
    (:data:`MAX_READ_BYTES` unless given).

    A regular file larger than ``limit``, a device, a folder, or a pipe that says more than
    ``limit`` bytes or stays silent for :data:`PIPE_IDLE_S` seconds is an :class:`InputError`.
    """
    limit = MAX_READ_BYTES if limit is None else limit
    if os.fspath(path) == "-":
        return _read_stdin(what, limit)
    p = check_input_file(path, what, fix=fix, pipe=True)
    name = shown(p)
    try:
        if stat.S_ISFIFO(p.stat().st_mode):
            return _read_pipe(p, what, name, limit)
        if p.stat().st_size > limit:
            raise _too_big(what, name, limit)
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)  # a file the size says nothing of (/proc) is bounded too
    except PermissionError:
        raise InputError(f"cannot read {what} {name}: permission denied; fix its permissions or {fix}") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {name}: {exc.strerror or exc}; {fix}") from None
    if len(data) > limit:
        raise _too_big(what, name, limit)
    return data


def _read_pipe(p: Path, what: str, name: str, limit: int) -> bytes:
    """A FIFO read without blocking: opened at once (even with no writer yet), then read while data
    arrives, each wait at most :data:`PIPE_IDLE_S` seconds."""
    idle_s = _pipe_idle_s()
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        chunks: list[bytes] = []
        size, seen_writer = 0, False
        while True:
            events = poller.poll(idle_s * 1000)
            if not events:
                state = "nothing was written to it" if not seen_writer else "its writer stopped writing"
                raise InputError(f"{what} {name} is a pipe and {state} for {idle_s:g} s; start the program "
                                 "that writes it, or give a regular file ($HWLAT_PIPE_IDLE_S sets the wait)")
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                if events[0][1] & select.POLLHUP or seen_writer:
                    break  # the writer closed its end
                time.sleep(0.01)
                continue
            seen_writer = True
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise _too_big(what, name, limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_stdin(what: str, limit: int) -> bytes:
    if sys.stdin is None or sys.stdin.closed:
        raise InputError(f"{what} '-' means standard input, and this process has none; give a file")
    stream = getattr(sys.stdin, "buffer", None)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(1 << 20) if stream is not None else sys.stdin.read(1 << 20).encode("utf-8")
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise _too_big(what, "from standard input", limit)


def decode_text(data: bytes, what: str, name: str) -> str:
    """``data`` decoded as UTF-8 (a leading byte-order mark dropped); else an :class:`InputError`
    naming the line and the byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{what} {name} is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line}; "
                         "is it a binary file? give a text file") from None


def read_input_text(path: str | os.PathLike[str], what: str, *, limit: int | None = None,
                    fix: str = "check the path") -> str:
    """The UTF-8 text of ``path`` (``-``: standard input), read as :func:`read_input_bytes` does."""
    data = read_input_bytes(path, what, limit=limit, fix=fix)
    name = "from standard input" if os.fspath(path) == "-" else shown(path)
    return decode_text(data, what, name)


def tolerant_streams() -> None:
    """Let standard output and error print any path: a name that is not UTF-8 goes to stdout as its
    own bytes and to stderr with ``\\xNN`` escapes, instead of raising UnicodeEncodeError."""
    for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure) and getattr(stream, "errors", None) == "strict":
            try:
                reconfigure(errors=errors)
            except (ValueError, OSError):  # a stream that cannot change now keeps its handler
                pass


# -- memory ------------------------------------------------------------------------------------------

def machine_memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def memory_bound_bytes() -> int | None:
    """The most memory one op or model input may need: half of the machine's physical memory."""
    total = machine_memory_bytes()
    return None if total is None or total <= 0 else total // 2


def check_memory(need_bytes: int, what: str, fix: str) -> None:
    """Refuse ``what`` (an op, a model input) when it needs more than :func:`memory_bound_bytes`."""
    bound = memory_bound_bytes()
    if bound is not None and need_bytes > bound:
        total = machine_memory_bytes() or 0
        raise InputError(f"{what} needs about {_mib(need_bytes)} of memory, more than hwlat lets one op or "
                         f"model input take on this machine ({_mib(bound)}, half of its {_mib(total)}); {fix}")
