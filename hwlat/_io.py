"""Small I/O helpers: atomic writes so that nothing half-written is ever left behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hwlat.errors import InputError


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
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    On error the temporary file is removed and ``path`` is left untouched. The file gets the
    permissions a plain ``open(path, "w")`` would give it (an existing file's mode is kept).
    """
    dest = Path(path)
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
        os.replace(tmp_path, dest)
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


def load_yaml(path: str | os.PathLike[str], what: str = "file", fix: str = "fix the file"):
    """Parse a YAML file; return ``(data, root_node)`` (the node carries line marks).

    Any problem (missing, unreadable, malformed) raises :class:`InputError` naming ``what``,
    the file and, for malformed YAML, the line.
    """
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} {p} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} {p}: {exc}") from None
    loader = yaml.SafeLoader(text)
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
    finally:
        loader.dispose()
    return data, node
