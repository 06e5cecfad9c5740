"""A fingerprint of the host: CPU, cores, memory, GPUs and runtime versions.

Recorded with every measurement so that tables from different machines are never mixed up
silently. :func:`detect` never raises (whatever cannot be read is ``None``), imports no runtime
(versions come from package metadata) and takes milliseconds unless ``nvidia-smi`` is asked.
The hostname is not recorded: ``host_id`` is a short salted hash of the machine id.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["detect", "fingerprint_summary", "RUNTIME_DISTRIBUTIONS", "FINGERPRINT_KEYS"]

logger = logging.getLogger(__name__)

#: distributions whose versions are recorded (``None`` when not installed)
RUNTIME_DISTRIBUTIONS: tuple[str, ...] = ("onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "torch", "numpy", "onnx")

#: the keys of the dict :func:`detect` returns
FINGERPRINT_KEYS: tuple[str, ...] = (
    "host_id", "os", "machine", "python", "cpu_model", "cpu_cores_logical", "cpu_cores_physical",
    "cpu_cores_available", "cpu_quota_cores", "cpu_freq_mhz", "memory_gb", "runtimes", "gpus", "hwlat_version",
)

_T = TypeVar("_T")


def _safe(fn: Callable[[], _T], default: Any = None) -> _T | Any:
    try:
        return fn()
    except Exception as exc:  # a fingerprint never fails: an unreadable field is just unknown
        logger.debug("fingerprint probe %s failed: %r", getattr(fn, "__name__", fn), exc)
        return default


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _cpuinfo() -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per block (processor); [] where there is none."""
    text = _read("/proc/cpuinfo")
    if not text:
        return []
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current.setdefault(key.strip(), value.strip())
    if current:
        blocks.append(current)
    return blocks


def _sysctl(name: str) -> str | None:
    exe = shutil.which("sysctl") or ("/usr/sbin/sysctl" if os.path.exists("/usr/sbin/sysctl") else None)
    if exe is None:
        return None
    res = subprocess.run([exe, "-n", name], capture_output=True, text=True, timeout=2, check=False)
    out = res.stdout.strip()
    return out if res.returncode == 0 and out else None


def _host_id() -> str:
    raw = None
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        text = _read(p)
        if text and text.strip():
            raw = text.strip()
            break
    if raw is None:
        raw = platform.node() or "unknown"
    return hashlib.sha256(f"hwlat:{raw}".encode()).hexdigest()[:12]


def _cpu_model(cpuinfo: list[dict[str, str]]) -> str | None:
    for block in cpuinfo:  # x86: "model name"; ARM boards: "Model" / "Hardware" in a trailing block
        if block.get("model name"):
            return " ".join(block["model name"].split())
    if sys.platform == "darwin":
        brand = _safe(lambda: _sysctl("machdep.cpu.brand_string"))
        if brand:
            return brand
    for key in ("Model", "Hardware", "cpu model", "cpu"):
        for block in cpuinfo:
            if block.get(key):
                return " ".join(block[key].split())
    dt_model = _read("/proc/device-tree/model")
    if dt_model and dt_model.strip("\x00\n "):
        return dt_model.strip("\x00\n ")
    proc = platform.processor()
    return proc or None


def _physical_cores(cpuinfo: list[dict[str, str]]) -> int | None:
    pairs = {(b["physical id"], b["core id"]) for b in cpuinfo if "physical id" in b and "core id" in b}
    if pairs:
        return len(pairs)
    # ARM Linux: no ids in /proc/cpuinfo, but sysfs has the topology
    topo = set()
    for cpu in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology"):
        pkg, core = _read(str(cpu / "physical_package_id")), _read(str(cpu / "core_id"))
        if pkg is not None and core is not None:
            topo.add((pkg.strip(), core.strip()))
    if topo:
        return len(topo)
    if sys.platform == "darwin":
        n = _sysctl("hw.physicalcpu")
        return int(n) if n else None
    return None


def _available_cores() -> int | None:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return None


def _cpu_quota() -> float | None:
    """CPU limit of the container (cgroup v2 ``cpu.max`` or v1 quota/period), in cores; None if unlimited."""
    text = _read("/sys/fs/cgroup/cpu.max")
    if text:
        quota, _, period = text.strip().partition(" ")
        if quota != "max" and period:
            return round(int(quota) / int(period), 2)
        return None
    q, p = _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    if q and p and int(q) > 0:
        return round(int(q) / int(p), 2)
    return None


def _cpu_freq_mhz() -> float | None:
    text = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")  # kHz
    if text and text.strip():
        return round(int(text.strip()) / 1000.0, 1)
    if sys.platform == "darwin":
        hz = _sysctl("hw.cpufrequency_max")
        return round(int(hz) / 1e6, 1) if hz else None
    return None


def _memory_gb() -> float | None:
    text = _read("/proc/meminfo")
    if text:
        for line in text.splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) * 1024 / 2**30, 1)
    if sys.platform == "darwin":
        b = _sysctl("hw.memsize")
        if b:
            return round(int(b) / 2**30, 1)
    return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)


def _runtime_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in RUNTIME_DISTRIBUTIONS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
        except Exception as exc:  # broken metadata
            logger.debug("cannot read the version of %s: %r", dist, exc)
            out[dist] = None
    return out


def _int_or_none(s: str) -> int | None:
    try:
        return int(float(s))
    except ValueError:
        return None


def _gpus() -> list[dict[str, Any]]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        res = subprocess.run(
            [exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.debug("nvidia-smi failed: %r", exc)
        return []
    if res.returncode != 0:
        logger.debug("nvidia-smi exited %d: %s", res.returncode, res.stderr.strip())
        return []
    gpus = []
    for line in res.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not parts[0]:
            continue
        gpus.append({"name": parts[0], "driver": parts[1] or None, "memory_mb": _int_or_none(parts[2])})
    return gpus


def _hwlat_version() -> str | None:
    import hwlat

    return getattr(hwlat, "__version__", None)


def detect(runtimes: bool = True, *, gpus: bool = True) -> dict[str, Any]:
    """Fingerprint this host.

    Keys (see :data:`FINGERPRINT_KEYS`): ``host_id`` (12 hex chars, stable per machine),
    ``os``, ``machine``, ``python``, ``cpu_model``, ``cpu_cores_logical``, ``cpu_cores_physical``,
    ``cpu_cores_available`` (the affinity mask), ``cpu_quota_cores`` (container CPU limit),
    ``cpu_freq_mhz`` (max clock, MHz), ``memory_gb`` (total RAM, GiB), ``runtimes``
    ({distribution: version or None}; ``{}`` when ``runtimes`` is false), ``gpus`` (list of
    ``{name, driver, memory_mb}`` from ``nvidia-smi``; ``[]`` when none or ``gpus`` is false)
    and ``hwlat_version``. Anything unknown is ``None``; it never raises.
    """
    cpuinfo = _safe(_cpuinfo, [])
    return {
        "host_id": _safe(_host_id),
        "os": _safe(platform.platform),
        "machine": _safe(platform.machine) or None,
        "python": _safe(platform.python_version),
        "cpu_model": _safe(lambda: _cpu_model(cpuinfo)),
        "cpu_cores_logical": _safe(os.cpu_count),
        "cpu_cores_physical": _safe(lambda: _physical_cores(cpuinfo)),
        "cpu_cores_available": _safe(_available_cores),
        "cpu_quota_cores": _safe(_cpu_quota),
        "cpu_freq_mhz": _safe(_cpu_freq_mhz),
        "memory_gb": _safe(_memory_gb),
        "runtimes": _safe(_runtime_versions, {}) if runtimes else {},
        "gpus": _safe(_gpus, []) if gpus else [],
        "hwlat_version": _safe(_hwlat_version),
    }


def fingerprint_summary(fp: dict[str, Any]) -> str:
    """One line: ``"Intel Xeon ... | 2 cores | Linux-... | onnxruntime 1.32.0, torch 2.13.0"``."""
    parts: list[str] = [str(fp.get("cpu_model") or fp.get("machine") or "unknown CPU")]
    logical, avail = fp.get("cpu_cores_logical"), fp.get("cpu_cores_available")
    quota = fp.get("cpu_quota_cores")
    if avail and logical and avail < logical:
        cores = f"{avail} of {logical} cores"
    elif logical or avail:
        cores = f"{logical or avail} cores"
    else:
        cores = "? cores"
    if quota:
        cores += f" (limit {quota:g})"
    parts.append(cores)
    if fp.get("memory_gb"):
        parts.append(f"{fp['memory_gb']:g} GiB")
    gpus = fp.get("gpus") or []
    if gpus:
        names: dict[str, int] = {}
        for g in gpus:
            names[str(g.get("name"))] = names.get(str(g.get("name")), 0) + 1
        parts.append(", ".join(f"{n}x {name}" if n > 1 else name for name, n in names.items()))
    parts.append(str(fp.get("os") or "unknown OS"))
    rts = fp.get("runtimes") or {}
    shown = [f"{d} {v}" for d, v in rts.items() if v and d not in ("numpy", "onnx")]
    if shown:
        parts.append(", ".join(shown))
    return " | ".join(parts)
