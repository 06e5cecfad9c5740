"""``Checkpoint``: measurements appended to a JSON-lines file as they finish, so long jobs resume.

The first line is a header (device, runtime, protocol, and the kind of run); every later line is
one record with a ``key``. Each record is flushed and synced when written, so a run killed at any
moment (Ctrl-C, ``kill -9``, a lost SSH connection) loses at most the work in flight; a torn last
line is ignored. A record written again for the same key replaces the earlier one. Profiling,
validation, calibration and the gallery's measurements all use it, each kind of run in a file of
its own (:func:`checkpoint_name`), and so does any long job whose results are records (the
gradient search's sweep over budgets: one record per budget): its header is :func:`job_header`,
and a file is resumed only by the same job.

A checkpoint heals: a record that cannot be used (not UTF-8, not JSON, not an object, no key, a
measurement that is impossible: see :func:`measurement_problem`) is skipped with one warning
naming its ``file:line``, so that its key has no record and is measured again; the good records
around it are kept. A header that cannot be read is an :class:`~hwlat.errors.InputError` naming
the file, and a file that is not a checkpoint at all is never overwritten. While a
:class:`Checkpoint` is open its file is locked, so two runs never append to one file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwlat.errors import InputError
from hwlat.profiler.measurement import Measurement
from hwlat.profiler.protocol import Protocol

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec
    from hwlat.profiler.runtimes.base import Runtime

__all__ = ["Checkpoint", "checkpoint_header", "checkpoint_name", "adopt_legacy", "job_header", "measurement_problem",
           "CHECKPOINT_VERSION", "LEGACY_NAME", "utc_now"]

log = logging.getLogger(__name__)

#: 2: the interference-robust protocol (statistic, canary); files of version 1 cannot be resumed
CHECKPOINT_VERSION = 2


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def checkpoint_header(device: DeviceSpec, runtime: Runtime, protocol: Protocol,
                      kind: str | None = None) -> dict[str, Any]:
    """The header of a checkpoint: what the records were measured on and how, and by which kind
    of run (``profile``, ``validate``, ``calibration``, ``gallery``...; a file is resumed only by
    a run of its kind)."""
    head = {"hwlat_checkpoint": CHECKPOINT_VERSION, "device": device.to_dict(), "runtime": runtime.info(),
            "protocol": protocol.to_dict(), "created_utc": utc_now()}
    if kind is not None:
        head["kind"] = kind
    return head


#: the checkpoint file name of profiling, which every older hwlat used for every kind of run
LEGACY_NAME = "measurements.jsonl"
_KIND = re.compile(r"[a-z][a-z0-9-]*")


def checkpoint_name(kind: str) -> str:
    """The file name of the checkpoint of a run of ``kind`` in its output folder: one name per
    kind, so that runs of two kinds sharing a folder never write into each other's file
    (profiling keeps its older name, ``measurements.jsonl``)."""
    if not _KIND.fullmatch(kind):
        raise ValueError(f"a run kind is a lower-case name (letters, digits, '-'), not {kind!r}")
    return LEGACY_NAME if kind == "profile" else f"{kind}.jsonl"


def adopt_legacy(folder: str | os.PathLike[str], kind: str, key_prefix: str) -> Path:
    """The path of ``kind``'s checkpoint in ``folder``, renaming an older hwlat's
    ``measurements.jsonl`` to it when that file holds only this kind's records (every key but
    the canary's, overhead's and reference's starts with ``key_prefix``), so that a folder
    started by an older hwlat resumes. A file of another kind of run is left where it is."""
    path = Path(folder) / checkpoint_name(kind)
    legacy = Path(folder) / LEGACY_NAME
    if path.exists() or path == legacy or not legacy.is_file():
        return path
    try:
        lines = legacy.read_bytes().split(b"\n")
    except OSError:
        return path
    keys = []
    for i, raw in enumerate(lines):
        rec, problem = _problem(raw) if raw.strip() else (None, "empty")
        if i == 0:
            if problem is not None or not isinstance(rec, dict) or "hwlat_checkpoint" not in rec or "kind" in rec \
                    or "job" in rec:
                return path
        elif problem is None and isinstance(rec, dict) and isinstance(rec.get("key"), str):
            keys.append(rec["key"])
    if keys and all(k.startswith(("__", key_prefix)) for k in keys) and any(k.startswith(key_prefix) for k in keys):
        with contextlib.suppress(OSError):
            os.replace(legacy, path)
            log.info("resuming %s (the checkpoint an older hwlat wrote) as %s", legacy, path)
    return path


def _plain(v: Any) -> Any:
    """numpy scalars and arrays as JSON values (json.dumps' ``default``)."""
    if hasattr(v, "tolist"):
        return v.tolist()
    raise TypeError(f"{type(v).__name__} is not a JSON value")


def job_header(kind: str, **identity: Any) -> dict[str, Any]:
    """The header of a checkpoint of a job other than measuring: ``kind`` and what identifies
    the job (JSON values). A file is resumed only when both are the same."""
    job = {"kind": kind, **json.loads(json.dumps(identity, default=_plain))}
    return {"hwlat_checkpoint": CHECKPOINT_VERSION, "job": job, "created_utc": utc_now()}


#: a measurement record's statistics that are latencies (ms, finite and above 0), and spreads
#: (finite and not below 0); the counts are whole numbers of at least 1
_LATENCIES = ("latency_ms", "min_ms", "p10_ms", "median_ms", "p90_ms", "mean_ms")
_SPREADS = ("iqr_ms", "std_ms", "stability_pct")
_COUNTS = ("n", "rounds", "calls_per_sample")
_OPTIONAL_LATENCIES = ("canary_ms", "reference_ms")
#: the statistic whose column a record's ``latency_ms`` equals
_STATISTIC_COLUMN = {"min": "min_ms", "p10": "p10_ms", "median": "median_ms", "mean": "mean_ms"}
#: bad records named one by one before the rest are only counted
_WARN_LINES = 5


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def measurement_problem(rec: dict[str, Any], statistic: str | None = None) -> str | None:
    """What makes ``rec`` impossible as a measurement record (None when nothing does).

    Every latency is a finite number above 0, every spread a finite number not below 0 and every
    count a whole number of at least 1; the quantiles are in order (min <= p10 <= median <= p90),
    no statistic lies below the minimum or above the largest time the mean and standard deviation
    allow (Samuelson's bound), and ``latency_ms`` is the column of the protocol's ``statistic``.
    """
    if "latency_ms" not in rec:
        return "it has no latency_ms"
    for k in _LATENCIES + _OPTIONAL_LATENCIES:
        v: Any = rec.get(k)
        if v is None and k != "latency_ms":
            continue
        if not _is_number(v):
            return f"{k} is {json.dumps(v)}, not a number"
        if not (math.isfinite(v) and v > 0):
            return f"{k} is {v!r}; a latency is a finite number of ms above 0"
    for k in _SPREADS:
        v = rec.get(k)
        if v is not None and not (_is_number(v) and math.isfinite(v) and v >= 0):
            return f"{k} is {json.dumps(v)}; it is a finite number not below 0"
    for k in _COUNTS:
        v = rec.get(k)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            return f"{k} is {json.dumps(v)}; it is a whole number of at least 1"
    if "remeasured" in rec and not (isinstance(rec["remeasured"], int) and rec["remeasured"] >= 0):
        return f"remeasured is {json.dumps(rec['remeasured'])}; it is a count"
    if "unstable" in rec and not isinstance(rec["unstable"], bool):
        return f"unstable is {json.dumps(rec['unstable'])}, not true or false"
    if "measured_utc" in rec and not isinstance(rec["measured_utc"], str):
        return f"measured_utc is {json.dumps(rec['measured_utc'])}, not a time"
    minima = rec.get("round_minima_ms")
    if minima is not None and not (isinstance(minima, list) and all(
            _is_number(v) and math.isfinite(v) and v > 0 for v in minima)):
        return "round_minima_ms is not a list of latencies"
    lat = rec["latency_ms"]
    order = [(k, rec[k]) for k in ("min_ms", "p10_ms", "median_ms", "p90_ms") if rec.get(k) is not None]
    for (ka, a), (kb, b) in zip(order, order[1:]):
        if a > b and not _close(a, b):
            return f"{ka} ({a!r}) is above {kb} ({b!r})"
    lowest = rec.get("min_ms")
    if lowest is not None:
        for k in ("latency_ms", "mean_ms"):
            v = rec.get(k)
            if v is not None and v < lowest and not _close(v, lowest):
                return f"{k} ({v!r}) is below min_ms ({lowest!r})"
    mean, std, n = rec.get("mean_ms"), rec.get("std_ms"), rec.get("n")
    if mean is not None and std is not None and n is not None:
        top = mean + std * (n - 1) / math.sqrt(n)  # no time of n with this mean and deviation is longer
        for k in ("latency_ms", "median_ms", "p90_ms"):
            v = rec.get(k)
            if v is not None and v > top and not _close(v, top):
                return (f"{k} ({v:.6g}) is above the slowest call that {n} samples with mean {mean:.4g} ms and "
                        f"standard deviation {std:.4g} ms allow ({top:.4g} ms)")
    column = _STATISTIC_COLUMN.get(statistic or "")
    if column is not None and rec.get(column) is not None and not _close(lat, rec[column]):
        return f"latency_ms ({lat!r}) is not the {statistic} ({column} {rec[column]!r}) the protocol reports"
    return None


def _json_kind(v: Any) -> str:
    return {list: "a JSON array", str: "a JSON string", bool: "a JSON boolean", type(None): "null"}.get(
        type(v), "a JSON number")


def _problem(raw: bytes) -> tuple[Any, str | None]:
    """The JSON value of one line, or why it has none."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, "not valid JSON (nested too deeply)"


#: the key prefix of a profile's layout records (what an op pays alone for the runtime's layout
#: conversions: optional ``reorder_in_ms``, ``reorder_out_ms``, and its own nodes' traced time
#: ``traced_ms``), which are not measurements
LAYOUT_PREFIX = "__layout__|"


def _layout_problem(rec: dict[str, Any]) -> str | None:
    for k in ("reorder_in_ms", "reorder_out_ms", "traced_ms"):
        v = rec.get(k, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            return f"a layout record whose {k!r} is not a time >= 0 ({v!r})"
    return None


_FIX = "delete it to start over (its records are lost) or choose another output folder (-o)"


def _header_problem(header: dict[str, Any]) -> str | None:
    if "job" in header:
        job = header["job"]
        if not isinstance(job, dict) or not isinstance(job.get("kind"), str):
            return "its 'job' is not an object with a 'kind'"
        return None
    missing = [k for k in ("device", "runtime", "protocol") if k not in header]
    if missing:
        return f"its header has no {' and no '.join(repr(k) for k in missing)}"
    for k in ("device", "runtime", "protocol"):
        if not isinstance(header[k], dict):
            return f"the {k!r} of its header is {_json_kind(header[k])}, not an object"
    if "kind" in header and not isinstance(header["kind"], str):
        return "the 'kind' of its header is not a name"
    return None


def _read(path: Path, data: bytes, *, required: Sequence[str] = ()) -> tuple[dict[str, Any] | None,
                                                                            dict[str, dict[str, Any]]]:
    """The header and the rows (key -> record) of the checkpoint ``data`` (the bytes of ``path``).

    A torn last line is ignored; a record that is corrupt or impossible is skipped with a warning
    naming its line (its key has no record, so it is measured again); a header that is not one
    raises :class:`~hwlat.errors.InputError`. ``required`` are fields every record must have.
    """
    header: dict[str, Any] | None = None
    rows: dict[str, dict[str, Any]] = {}
    lines = data.split(b"\n")
    bad: list[str] = []
    statistic: str | None = None
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        tail = lineno == len(lines)  # no newline after it: written by a run killed mid-line
        rec, problem = _problem(raw)
        if header is None:
            if problem is not None:
                if not raw.lstrip().startswith(b'{"hwlat_checkpoint"'):
                    break  # not a checkpoint: refused below, never overwritten
                if tail:
                    log.warning("ignoring a torn header in %s (a run killed as it started); starting it again", path)
                    return None, {}
                raise InputError(f"{path} is an hwlat checkpoint whose header line is {problem}; {_FIX}")
            if not isinstance(rec, dict) or "hwlat_checkpoint" not in rec:
                break
            header = rec
            hp = _header_problem(rec)
            if hp is not None and rec.get("hwlat_checkpoint") == CHECKPOINT_VERSION:
                raise InputError(f"{path} is an hwlat checkpoint, but {hp}; {_FIX}")
            if "job" not in rec and isinstance(rec.get("protocol"), dict):
                statistic = rec["protocol"].get("statistic")
            continue
        if problem is None:
            if not isinstance(rec, dict):
                problem = f"{_json_kind(rec)}, not a record (an object)"
            elif not isinstance(rec.get("key"), str):
                problem = "a record without a 'key'" if "key" not in rec else "a record whose 'key' is not text"
            else:
                missing = [k for k in required if k not in rec]
                if missing:
                    problem = f"a record without {', '.join(repr(k) for k in missing)}"
                elif "job" not in header and rec["key"].startswith(LAYOUT_PREFIX):
                    problem = _layout_problem(rec)
                elif "job" not in header:
                    why = measurement_problem(rec, statistic)
                    problem = f"an impossible measurement: {why}" if why else None
        if problem is None:
            rows[rec["key"]] = rec
        elif tail and problem.startswith(("not valid JSON", "not UTF-8")):
            log.warning("ignoring a torn last line in %s (an interrupted run)", path)
        else:
            bad.append(f"{path}:{lineno}: {problem}")
    if header is None and data.strip():
        raise InputError(f"{path} is not an hwlat checkpoint (no header line); move it away or "
                         "choose another output path")
    redo = "that item is measured again" if header is None or "job" not in header else "that work is done again"
    for line in bad[:_WARN_LINES]:
        log.warning("skipping %s; %s", line, redo)
    if len(bad) > _WARN_LINES:
        log.warning("skipping %d more bad records of %s", len(bad) - _WARN_LINES, path)
    return header, rows


def _check_compatible(path: Path, header: dict[str, Any], new: dict[str, Any]) -> None:
    version = header.get("hwlat_checkpoint")
    if version != CHECKPOINT_VERSION:
        raise InputError(f"{path} was written by another hwlat measurement protocol (checkpoint version {version}, "
                         f"this hwlat writes {CHECKPOINT_VERSION}); its numbers are not comparable: move it away "
                         "(or pass --fresh) and measure again")
    if "job" in header or "job" in new:
        old_job, new_job = header.get("job", {"kind": "measurements"}), new.get("job", {"kind": "measurements"})
        if old_job != new_job:
            changed = sorted(k for k in set(old_job) | set(new_job) if old_job.get(k) != new_job.get(k))
            detail = "; ".join(f"{k}: {old_job.get(k)!r} in the file, {new_job.get(k)!r} now" for k in changed)
            raise InputError(f"{path} holds the results of another {old_job.get('kind')} job (it differs in "
                             f"{detail}); run the same job to resume it, or use another output path")
        return
    # a file written before runs had kinds resumes in any of them
    if "kind" in header and "kind" in new and header["kind"] != new["kind"]:
        raise InputError(f"{path} holds the measurements of a {header['kind']} run, not of a {new['kind']} run; "
                         "use another output folder (-o) for this one")
    old_dev, new_dev = header["device"], new["device"]
    for k in ("name", "runtime", "provider", "threads", "precision", "location"):
        if old_dev.get(k) != new_dev.get(k):
            raise InputError(
                f"{path} holds measurements for device {old_dev.get('name')!r} with {k}={old_dev.get(k)!r}, "
                f"not {new_dev.get(k)!r}; use another output folder (-o) for this device"
            )
    if header["protocol"] != new["protocol"]:
        changed = sorted(k for k in new["protocol"] if header["protocol"].get(k) != new["protocol"][k])
        raise InputError(
            f"{path} was measured with another protocol (differs in {', '.join(changed)}); "
            "use the same protocol options to resume, or another output folder (-o)"
        )
    if header["runtime"].get("runtime_version") != new["runtime"].get("runtime_version"):
        log.warning("%s was started with %s %s, now %s: mixing versions in one table", path,
                    new["runtime"]["runtime"], header["runtime"].get("runtime_version"),
                    new["runtime"].get("runtime_version"))


class Checkpoint:
    """A resumable JSON-lines file of records (see the module docstring).

    ``rows`` maps each key to its latest valid record. Opening an existing file checks that it
    was measured on the same device with the same protocol (:func:`checkpoint_header`), or
    written by the same job (:func:`job_header`); a record that is corrupt or impossible is
    skipped with a warning, so that its key is measured again. The file is locked (``flock``)
    while it is open: a second writer, in this process or another, is refused at once.
    ``required`` are fields each record of a job must have to be used.
    """

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any], *, fresh: bool = False,
                 required: Sequence[str] = ()) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(f"{self.path} is a folder, not a checkpoint file; move it away or choose another "
                             "output folder (-o)")
        try:
            self._fh = self.path.open("ab+")
        except OSError as exc:
            raise InputError(f"cannot open the checkpoint {self.path}: {exc.strerror}; "
                             "choose a writable output folder (-o)") from None
        try:
            self._open(header, fresh, required)
        except BaseException:
            self._fh.close()
            raise

    def _open(self, header: dict[str, Any], fresh: bool, required: Sequence[str]) -> None:
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{self.path} is being written by another hwlat run; wait for it to finish, "
                             "or choose another output folder (-o)") from None
        except OSError:  # a file system without locks
            pass
        if fresh:
            self._fh.truncate(0)
        self._fh.seek(0)
        data = self._fh.read()
        existing, self.rows = _read(self.path, data, required=required)
        self._new = existing is None  # a file this run starts: removed at close if nothing is recorded
        self._recorded = False
        if existing is None:
            from hwlat._io import fsync_dir

            self.header = header
            self._fh.truncate(0)  # empty, or a header torn by a kill
            self._write(header)
            fsync_dir(self.path.parent)  # the new file's name reaches the disk too
        else:
            _check_compatible(self.path, existing, header)
            self.header = existing
            self._repair_tail(data)

    def _repair_tail(self, data: bytes) -> None:
        # a last line torn by a kill is cut off, so that what is appended now starts a line of its
        # own (a complete record that only lacks its newline gets the newline)
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        _, problem = _problem(data[cut:])
        if problem is None:
            self._fh.write(b"\n")
            self._fh.flush()
        else:
            self._fh.truncate(cut)

    def _write(self, rec: dict[str, Any]) -> None:
        self._fh.write((json.dumps(rec, separators=(",", ":")) + "\n").encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def add(self, key: str, m: Measurement, **fields: Any) -> dict[str, Any]:
        """Record ``m`` under ``key`` (replacing an earlier record of the key); returns the record."""
        return self.put(key, measurement_record(key, m, **fields))

    def put(self, key: str, record: dict[str, Any]) -> dict[str, Any]:
        """Record any JSON ``record`` under ``key`` (replacing an earlier one); returns it with its key."""
        rec = {**json.loads(json.dumps(record, default=_plain)), "key": key}
        self.rows[key] = rec
        self._write(rec)
        self._recorded = True
        return rec

    def close(self) -> None:
        """Close the file; one this run started and recorded nothing in (a run stopped by bad input
        before its first result) is removed, so that a failed run leaves nothing behind."""
        if self._fh.closed:
            return
        if getattr(self, "_new", False) and not self._recorded:
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._fh.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def measurement_record(key: str, m: Measurement, **fields: Any) -> dict[str, Any]:
    """The record of one measurement: its statistics, the canary of its chunk and when it was taken."""
    canary = m.extra.get("canary_ms")
    rec = {"key": key, **m.to_stats(), "calls_per_sample": m.number,
           "canary_ms": canary if canary is not None and math.isfinite(canary) else None,
           "measured_utc": utc_now(), **fields}
    return rec
