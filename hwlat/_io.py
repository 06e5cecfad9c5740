"""Small I/O helpers: atomic writes so that nothing half-written is ever left behind, and the
lock that keeps two hwlat runs out of one output folder."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hwlat.errors import InputError

log = logging.getLogger(__name__)

#: the lock file :func:`folder_lock` keeps in an output folder
LOCK_NAME = ".hwlat.lock"


def ensure_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` if needed and check that files can be written there."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {p}: {exc.strerror}; choose another -o") from exc
    if not os.access(p, os.W_OK):
        raise InputError(f"output folder {p} is not writable; choose another -o or fix its permissions")
    return p


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an exclusive lock on the output folder ``path`` (created if needed) while the block runs.

    The lock is ``flock`` on ``path/.hwlat.lock``, taken without waiting: a second run on the same
    folder fails at once with an :class:`~hwlat.errors.InputError` naming the folder (and the
    process id of the run holding it). It is released when the block ends, on an error or Ctrl-C
    too, and by the operating system when the process dies (``kill -9``). The lock file is removed
    when the block ends, and so is a folder created here that holds nothing else by then.
    """
    p = Path(path)
    created = not p.exists()
    p = ensure_writable_dir(p)
    lock = p / LOCK_NAME
    fd = _locked_fd(p, lock)
    try:
        with contextlib.suppress(OSError):  # who holds it, for the message of the next run
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield p
    finally:
        # the lock file goes while the lock is still held (a run that opened it meanwhile finds,
        # once it gets the lock, that the name no longer points at it, and locks a new file); a
        # folder created here that holds nothing else goes too: a failed run leaves no trace
        with contextlib.suppress(OSError):
            lock.unlink()
            if created and not any(os.scandir(p)):
                p.rmdir()
        os.close(fd)


def _locked_fd(folder: Path, lock: Path) -> int:
    for _attempt in range(10):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise InputError(f"cannot create the lock file {lock}: {exc.strerror}; choose another -o") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise InputError(f"output folder {folder} is in use by another hwlat run{holder}; wait for it to finish, "
                             "or choose another output folder (-o)") from None
        except OSError as exc:  # a file system without locks: run unprotected rather than not at all
            log.warning("cannot lock output folder %s (%s): nothing stops another hwlat run from using it too",
                        folder, exc.strerror)
            return fd
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except OSError:
            same = False
        if same:
            return fd
        os.close(fd)  # the lock file was removed by the run that just ended: lock the new one
    raise InputError(f"cannot lock output folder {folder}: its lock file keeps changing; "
                     "choose another output folder (-o)")


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode("ascii").strip())
        return f" (process {pid})"
    return ""


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Sync the folder ``path`` to the disk: a new file's entry, or a rename, is durable only once
    its folder is synced (where a file system cannot sync a folder, nothing is done)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    On error the temporary file is removed and ``path`` is left untouched. The file gets the
    permissions a plain ``open(path, "w")`` would give it (an existing file's mode is kept). The
    temporary file is synced to the disk before the rename and the folder after it, so that a
    power cut leaves either the old file or the whole new one.
    """
    dest = Path(path)
    if dest.is_dir():
        raise InputError(f"cannot write {dest}: it is a folder; give the path of a file")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise InputError(f"cannot write {dest}: {exc.strerror}; choose a writable location") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with contextlib.suppress(OSError):  # mkstemp makes 0600 files
            os.chmod(tmp_path, dest.stat().st_mode & 0o7777 if dest.exists() else 0o666 & ~_umask())
        _fsync_file(tmp_path)
        os.replace(tmp_path, dest)
        fsync_dir(dest.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if str(tmp_path) in (str(exc.filename), str(exc.filename2)) or str(tmp_path) in str(exc):
            # the temporary file is hwlat's business: the message names the file the user asked for
            why = exc.strerror or str(exc).replace(str(tmp_path), str(dest))
            raise InputError(f"cannot write {dest}: {why}; check that location, its permissions and its free "
                             "space") from exc
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _unique_key_loader():
    """A ``yaml.SafeLoader`` subclass for which a key given twice in one mapping is an error
    (plain PyYAML keeps the last value without a word). Keys that a ``<<`` merge brings in may
    still be overridden, as YAML intends."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                first = {}  # key -> the line it is first given on
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    line = key_node.start_mark.line + 1
                    try:
                        seen = key in first
                    except TypeError:  # an unhashable key: SafeLoader reports it itself
                        continue
                    if seen:
                        where = f"line {line}" if first[key] == line else f"lines {first[key]} and {line}"
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {key!r} is given twice ({where})", key_node.start_mark)
                    first[key] = line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def load_yaml(path: str | os.PathLike[str], what: str = "file", fix: str = "fix the file", *,
              unique_keys: bool = False, max_bytes: int | None = None):
    """Parse a YAML file; return ``(data, root_node)`` (the node carries line marks).

    Any problem (missing, unreadable, not a regular file, malformed, nested past Python's
    recursion limit) raises :class:`InputError` naming ``what``, the file and, for malformed YAML,
    the line. With ``unique_keys``, a key given twice in one mapping is such a problem too (it
    names the line of the second one); with ``max_bytes``, a larger file.
    """
    import yaml

    p = Path(path)
    if p.exists() and not p.is_file():  # a folder, /dev/zero or a pipe would never end or fail late
        raise InputError(f"{what} {p} is not a regular file; give the path of a YAML file")
    try:
        with p.open("rb") as fh:
            raw = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        if max_bytes is not None and len(raw) > max_bytes:
            raise InputError(f"{what} {p} is larger than {max_bytes // 1024} KiB; {fix}")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} {p} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} {p}: {exc}") from None
    try:  # the reader checks the characters as it is made
        loader = _unique_key_loader()(text) if unique_keys else yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{what} {p} is not valid YAML: {exc}; {fix}") from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        if exc.context and exc.context_mark is not None and exc.problem:
            problem += f", {exc.context} on line {exc.context_mark.line + 1}"
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InputError(f"{what} {p} is not valid YAML{line}: {problem}; {fix}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{what} {p} is not valid YAML: {exc}; {fix}") from None
    except RecursionError:
        raise InputError(f"{what} {p} nests too deeply to be read; {fix}") from None
    finally:
        loader.dispose()
    return data, node
