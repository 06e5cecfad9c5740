"""Where a device's runtime runs: a small table of transports, :data:`hwlat.registry.TRANSPORTS`.

A device's ``location`` names its kind (:attr:`DeviceSpec.location_kind`); the transport of that
kind opens the runtime:

========== ==========================================================================
local      the runtime in this process (:func:`local_runtime`)
subprocess an hwlat agent as a child process (:class:`~hwlat.profiler.remote.RemoteRuntime`)
ssh        an hwlat agent on another machine, over ssh (the same class)
adb        LiteRT's ``benchmark_model`` on an Android phone (:mod:`hwlat.profiler.adb`)
========== ==========================================================================

A plugin adds one with ``TRANSPORTS.register("myboard", "mypkg.board:open_runtime")``; a device at
``myboard://...`` then goes to it. A workflow opens its runtime once, with :func:`open_runtime`,
and every step it runs takes that runtime.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hwlat.devices import DeviceSpec, as_device
from hwlat.errors import InputError
from hwlat.profiler.runtimes import Runtime, make_runtime
from hwlat.registry import TRANSPORTS

__all__ = ["runtime_for_device", "local_runtime", "device_of", "open_runtime"]


def local_runtime(device: DeviceSpec) -> Runtime:
    """The device's runtime in this process."""
    return make_runtime(device.runtime, **device.runtime_kwargs())


def runtime_for_device(device: DeviceSpec | str) -> Runtime:
    """The runtime that measures on ``device`` (a spec or its name), opened by the transport of its
    location kind. The caller closes it (or uses :func:`open_runtime`)."""
    dev = as_device(device)
    rt = TRANSPORTS.get(dev.location_kind)(dev)
    if not isinstance(rt, Runtime):
        raise InputError(f"the transport {dev.location_kind!r} returned {type(rt).__name__} for device "
                         f"{dev.name!r}, not a Runtime")
    rt.spec = dev
    return rt


def device_of(runtime: Runtime) -> DeviceSpec:
    """The device spec a runtime was opened for; for one built by hand, a spec of its settings (at
    its ``location`` when it has one, as a :class:`~hwlat.profiler.remote.RemoteRuntime` does)."""
    if runtime.spec is not None:
        return runtime.spec
    return DeviceSpec(name=runtime.name, runtime=runtime.name, provider=runtime.provider, threads=runtime.threads,
                      location=str(getattr(runtime, "location", "local")), options=dict(runtime.options))


@contextmanager
def open_runtime(device: DeviceSpec | Runtime | str, runtime: Runtime | None = None
                 ) -> Iterator[tuple[DeviceSpec, Runtime]]:
    """``(device spec, runtime)`` for the time of a ``with`` block.

    An opened runtime (``runtime``, or ``device`` itself when it is a :class:`Runtime`) is used as
    it is and left open: its owner closes it. Otherwise the device's runtime is opened here and
    closed when the block ends (for an ssh device: one agent for the whole block).
    """
    if isinstance(device, Runtime):
        yield device_of(device), device
        return
    dev = as_device(device)
    if runtime is not None:
        yield dev, runtime
        return
    rt = runtime_for_device(dev)
    try:
        yield dev, rt
    finally:
        rt.close()
