"""What a device is: runtime + provider + threads + precision + where it runs.

Built-in specs live in ``hwlat/devices/builtin/*.yaml``; user specs are YAML files in a folder
given as ``search_path`` or in ``HWLAT_DEVICES``, or a single file. :func:`detect` fingerprints
the host (CPU, cores, memory, GPUs, runtime versions) without importing any runtime.

>>> from hwlat.devices import load_device
>>> spec = load_device("cpu-ort")
>>> spec.runtime, spec.provider, spec.threads
('onnxruntime', 'cpu', 1)
"""

from __future__ import annotations

from hwlat.devices.fingerprint import FINGERPRINT_KEYS, detect, fingerprint_summary
from hwlat.devices.registry import as_device, dump_device, list_devices, load_device, read_device_file
from hwlat.devices.spec import PRECISIONS, DeviceSpec, SshTarget, runtime_providers

__all__ = [
    "DeviceSpec",
    "SshTarget",
    "load_device",
    "as_device",
    "list_devices",
    "dump_device",
    "read_device_file",
    "detect",
    "fingerprint_summary",
    "FINGERPRINT_KEYS",
    "runtime_providers",
    "PRECISIONS",
]
