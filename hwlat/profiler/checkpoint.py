"""``Checkpoint``: measurements appended to a JSON-lines file as they finish, so long jobs resume.

The first line is a header (device, runtime, protocol); every later line is one record with a
``key``. Each record is flushed and synced when written, so a run killed at any moment (Ctrl-C,
``kill -9``, a lost SSH connection) loses at most the work in flight; a torn last line is
ignored. A record written again for the same key replaces the earlier one. Profiling,
validation, calibration and the gallery's measurements all use it, and so does any long job
whose results are records (the gradient search's sweep over budgets: one record per budget):
its header is :func:`job_header`, and a file is resumed only by the same job.
"""

from __future__ import annotations

import json
import logging
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwlat.errors import InputError
from hwlat.profiler.measurement import Measurement
from hwlat.profiler.protocol import Protocol

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec
    from hwlat.profiler.runtimes.base import Runtime

__all__ = ["Checkpoint", "checkpoint_header", "job_header", "CHECKPOINT_VERSION", "utc_now"]

log = logging.getLogger(__name__)

#: 2: the interference-robust protocol (statistic, canary); files of version 1 cannot be resumed
CHECKPOINT_VERSION = 2


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def checkpoint_header(device: DeviceSpec, runtime: Runtime, protocol: Protocol) -> dict[str, Any]:
    """The header of a checkpoint: what the records were measured on and how."""
    return {"hwlat_checkpoint": CHECKPOINT_VERSION, "device": device.to_dict(), "runtime": runtime.info(),
            "protocol": protocol.to_dict(), "created_utc": utc_now()}


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


def _read(path: Path) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The header and the rows (key -> record) of a checkpoint; a torn last line is ignored."""
    if not path.exists():
        return None, {}
    header: dict[str, Any] | None = None
    rows: dict[str, dict[str, Any]] = {}
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    lines = text.split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if lineno >= len(lines) - 1:  # the last line, torn by a kill: drop it
                log.warning("ignoring a torn last line in %s (an interrupted run)", path)
                continue
            raise InputError(f"{path}:{lineno} is not valid JSON; the checkpoint is corrupt: "
                             "move it away and run again") from None
        if header is None:
            if not isinstance(rec, dict) or "hwlat_checkpoint" not in rec:
                raise InputError(f"{path} is not an hwlat checkpoint (no header line); move it away or "
                                 "choose another output folder (-o)")
            header = rec
        elif isinstance(rec, dict) and "key" in rec:
            rows[rec["key"]] = rec
        else:
            raise InputError(f"{path}:{lineno} is not a checkpoint record; the checkpoint is corrupt: "
                             "move it away and run again")
    if header is None and text.strip() and not text.lstrip().startswith('{"hwlat_checkpoint"'):
        # not a header torn by a kill: something else, which must not be overwritten
        raise InputError(f"{path} is not an hwlat checkpoint (no header line); move it away or "
                         "choose another output path")
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

    ``rows`` maps each key to its latest record. Opening an existing file checks that it was
    measured on the same device with the same protocol (:func:`checkpoint_header`), or written
    by the same job (:func:`job_header`).
    """

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any], *, fresh: bool = False) -> None:
        self.path = Path(path)
        if fresh and self.path.exists():
            self.path.unlink()
        existing, self.rows = _read(self.path)
        if existing is None:
            self.header = header
            self._fh = self.path.open("w", encoding="utf-8")
            self._write(header)
        else:
            _check_compatible(self.path, existing, header)
            self.header = existing
            self._repair_tail()
            self._fh = self.path.open("a", encoding="utf-8")

    def _repair_tail(self) -> None:
        # a last line torn by a kill is cut off, so that what is appended now starts a line of its
        # own (a complete record that only lacks its newline gets the newline)
        with self.path.open("rb+") as fh:
            data = fh.read()
            if not data or data.endswith(b"\n"):
                return
            cut = data.rfind(b"\n") + 1
            try:
                json.loads(data[cut:])
            except ValueError:
                fh.truncate(cut)
            else:
                fh.write(b"\n")

    def _write(self, rec: dict[str, Any]) -> None:
        self._fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
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
        return rec

    def close(self) -> None:
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
