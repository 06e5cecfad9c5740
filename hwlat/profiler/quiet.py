"""The machine's quiet level, remembered between runs.

A slow spell of a shared machine can last longer than a short run: profiling NB201 takes a few
seconds, and if all of them fall in one spell the canary's fastest estimate *within* the run is
itself slow, and nothing in the run can tell. So the quietest canary estimate seen on this host,
device and runtime is kept in a small file (``quiet-levels.json`` in ``$HWLAT_CACHE``, else
``$XDG_CACHE_HOME/hwlat`` or ``~/.cache/hwlat``), and a run compares its canary with it.

Only levels of the last :data:`REFERENCE_DAYS` days count: a machine that became slower for good
(another host, another CPU setting) stops being compared with its old self after that.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hwlat.profiler.runtimes.base import Runtime

__all__ = ["cache_dir", "reference_key", "load_reference", "remember", "REFERENCE_DAYS"]

log = logging.getLogger(__name__)

REFERENCE_DAYS = 7
_FILE = "quiet-levels.json"
_KEEP = 50  # entries kept per key


def cache_dir() -> Path:
    """``$HWLAT_CACHE``, else ``$XDG_CACHE_HOME/hwlat``, else ``~/.cache/hwlat``."""
    if os.environ.get("HWLAT_CACHE"):
        return Path(os.environ["HWLAT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hwlat"


def reference_key(runtime: Runtime, canary_key: str) -> str:
    """What the quiet level belongs to: host, runtime and its version, provider, threads, canary."""
    info = runtime.info()
    host = getattr(runtime, "host_fingerprint", None)
    if not host:
        from hwlat.devices import detect

        host = detect(runtimes=False, gpus=False)
    parts = [str(host.get("host_id")), str(host.get("cpu_model")), info.get("runtime"), info.get("runtime_version"),
             info.get("provider"), str(info.get("threads")), json.dumps(info.get("options", {}), sort_keys=True),
             canary_key]
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:20]


def _read(path: Path) -> dict[str, list[list[Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def load_reference(key: str) -> float | None:
    """The quietest canary estimate (ms) of ``key`` in the last :data:`REFERENCE_DAYS` days."""
    since = datetime.now(timezone.utc) - timedelta(days=REFERENCE_DAYS)
    best = None
    for when, ms in _read(cache_dir() / _FILE).get(key, []):
        try:
            if datetime.fromisoformat(when) >= since and float(ms) > 0:
                best = float(ms) if best is None else min(best, float(ms))
        except (TypeError, ValueError):
            continue
    return best


def remember(key: str, quiet_ms: float) -> None:
    """Add a run's quiet level; never fails a measurement (a read-only cache is only logged)."""
    from hwlat._io import atomic_write_text

    path = cache_dir() / _FILE
    data = _read(path)
    entries = [e for e in data.get(key, []) if isinstance(e, list) and len(e) == 2]
    entries.append([datetime.now(timezone.utc).isoformat(timespec="seconds"), float(quiet_ms)])
    data[key] = entries[-_KEEP:]
    try:
        atomic_write_text(path, json.dumps(data))
    except Exception as exc:  # noqa: BLE001 - the cache is an aid, not a requirement
        log.debug("could not write the quiet-level cache %s: %s", path, exc)
