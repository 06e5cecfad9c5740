"""Runtimes and transports from outside hwlat: registered, accepted by a DeviceSpec, opened once."""

from __future__ import annotations

import pytest

from hwlat.devices import DeviceSpec, as_device, load_device
from hwlat.errors import InputError
from hwlat.ops import conv
from hwlat.profiler import Protocol
from hwlat.profiler.agent import served_runtimes
from hwlat.profiler.profile import profile_ops
from hwlat.profiler.runtimes.ort import OnnxRuntime
from hwlat.profiler.transports import device_of, open_runtime, runtime_for_device
from hwlat.registry import RUNTIMES, TRANSPORTS
from hwlat.testing.runtime import RuntimeContract


class ToyRuntime(OnnxRuntime):
    """A runtime a plugin would ship: one class, one registration."""

    name = "toy-ort"
    providers = ("cpu",)
    closed = 0

    def close(self) -> None:
        type(self).closed += 1


@pytest.fixture
def toy():
    RUNTIMES.register("toy-ort", ToyRuntime)  # no meta: the providers are read from the class
    ToyRuntime.closed = 0
    yield ToyRuntime
    RUNTIMES.unregister("toy-ort")


@pytest.fixture
def toybox():
    opened = []

    def open_toybox(dev):
        opened.append(dev.location)
        return ToyRuntime(threads=dev.threads)

    TRANSPORTS.register("toybox", open_toybox)
    yield opened
    TRANSPORTS.unregister("toybox")


def test_a_device_spec_accepts_a_plugin_runtime(toy):
    spec = DeviceSpec(name="toy", runtime="toy-ort")
    assert spec.provider == "cpu"
    with pytest.raises(InputError, match="has no provider 'cuda'"):
        DeviceSpec(name="toy", runtime="toy-ort", provider="cuda")
    rt = runtime_for_device(spec)
    assert isinstance(rt, ToyRuntime) and rt.spec == spec and device_of(rt) is spec
    assert "toy-ort" in served_runtimes()  # it loads .onnx files: an agent could serve it


def test_unknown_runtimes_and_locations_are_still_refused():
    with pytest.raises(InputError, match="unknown runtime 'toy-ort'; choose one of onnxruntime"):
        DeviceSpec(name="toy", runtime="toy-ort")
    with pytest.raises(InputError, match="location 'toybox://b1' is not understood"):
        DeviceSpec(name="x", runtime="onnxruntime", location="toybox://b1")


def test_a_plugin_transport_opens_the_runtime(toy, toybox):
    spec = DeviceSpec(name="board", runtime="toy-ort", location="toybox://b1", threads=2)
    assert spec.location_kind == "toybox" and not spec.is_local
    rt = runtime_for_device(spec)
    assert isinstance(rt, ToyRuntime) and rt.threads == 2 and toybox == ["toybox://b1"]
    res = profile_ops([conv((4, 8, 8), 4, 1)], spec, protocol=Protocol.quick(), progress=False, overhead=False)
    assert len(res.table) == 1 and toybox == ["toybox://b1"] * 2
    assert ToyRuntime.closed == 1  # profile_ops opened the runtime, so it closed it


def test_open_runtime_closes_only_what_it_opened(toy):
    spec = DeviceSpec(name="toy", runtime="toy-ort")
    with open_runtime(spec) as (dev, rt):
        assert dev is spec and isinstance(rt, ToyRuntime)
    assert ToyRuntime.closed == 1
    mine = runtime_for_device(spec)
    with open_runtime(mine) as (dev, rt):
        assert rt is mine and dev == spec
    with open_runtime(spec, mine) as (dev, rt):
        assert rt is mine
    assert ToyRuntime.closed == 1
    by_hand = ToyRuntime()
    with open_runtime(by_hand) as (dev, rt):  # a runtime built by hand: a local spec of its settings
        assert dev.runtime == "toy-ort" and dev.is_local


def test_as_device():
    spec = load_device("cpu-ort")
    assert as_device(spec) is spec and as_device("cpu-ort") == spec


class TestToyRuntime(RuntimeContract):
    def make(self):
        return ToyRuntime(threads=1)
