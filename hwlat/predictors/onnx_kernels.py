"""The kernels ONNX Runtime runs for a model: its optimised graph, read back as hwlat ops.

No hand-written fusion rules decide what a kernel is: ONNX Runtime's own graph optimiser does.
The model is optimised at level ``ORT_ENABLE_EXTENDED`` (BatchNorm folded into Conv,
Conv+Relu/Clip/HardSigmoid/Sigmoid fused into ``com.microsoft.FusedConv``, MatMul+Add into Gemm,
constant folding...) and the optimised graph is read back; each of its nodes is one kernel. The
level ``all`` (``ORT_ENABLE_ALL``) is *not* used for the structure: it rewrites convolutions into
the NCHWc block layout with ``ReorderInput``/``ReorderOutput`` nodes whose placement depends on
the CPU, which the op vocabulary cannot describe. Where the device runs at level ``all`` on the
CPU (``cpu-ort``), that level fuses a few more elementwise nodes into the preceding convolution
(HardSwish, a residual Add and the activation after it); hwlat asks the runtime which ones by
optimising the extended graph once more at level ``all`` and checking which elementwise nodes
are gone. Those are reported with source ``fused`` (they run inside a convolution's epilogue)
and their activation is folded into that convolution's spec.

Cost: the first query of a model runs the optimiser (twice on ``cpu-ort``) and maps the graph,
about 50-300 ms for ImageNet CNNs at 224x224; the analysis is cached (64 models) under the file's
path, size and modification time, or the SHA-1 of the serialized model for bytes and
``ModelProto`` inputs (hashing a 100 MB model costs ~0.1 s per call: prefer paths), after which a
prediction is a table gather (~0.1-0.2 ms).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import onnx

from hwlat._optional import import_optional
from hwlat.devices import DeviceSpec, as_device
from hwlat.errors import InputError, UnsupportedOpError
from hwlat.ops.onnx_import import FUSABLE_OPS, KernelInfo, map_graph, name_unnamed_nodes
from hwlat.ops.spec import OpSpec

__all__ = ["LAYOUT_OPS", "ModelLike", "analyse_model", "clear_cache", "kernel_specs_of", "model_label", "ort_device"]

log = logging.getLogger(__name__)

ModelLike = Union[str, os.PathLike, bytes, Any]  # noqa: UP007  # a path, serialized bytes or an onnx.ModelProto

_CACHE_SIZE = 64

#: ONNX Runtime's NCHWc ops, and those of them that only convert the data layout
NCHWC_DOMAIN = "com.microsoft.nchwc"
LAYOUT_OPS = ("ReorderInput", "ReorderOutput")


# -- the analysis of one model ---------------------------------------------------------------------

@dataclass
class _Analysis:
    kernels: list[KernelInfo] = field(default_factory=list)
    level: str = "extended"


_cache: OrderedDict[tuple[str, str], _Analysis] = OrderedDict()
_cache_lock = threading.Lock()


def _model_source(model: ModelLike) -> tuple[str, bytes | str, str]:
    """(cache key, what ORT loads, a label for messages) of a path, bytes or a ModelProto."""
    if isinstance(model, (str, os.PathLike)):
        from hwlat._files import check_input_file

        p = check_input_file(model, "model file", fix="give the path of an .onnx model file")
        st = p.stat()
        return f"path:{p.resolve()}:{st.st_size}:{st.st_mtime_ns}", str(p), str(p)
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        return "bytes:" + hashlib.sha1(data).hexdigest(), data, "<onnx bytes>"
    if hasattr(model, "SerializeToString") and hasattr(model, "graph"):
        data = model.SerializeToString()
        name = getattr(model.graph, "name", "") or "model"
        return "bytes:" + hashlib.sha1(data).hexdigest(), data, f"<onnx.ModelProto {name}>"
    raise InputError(f"a model is a path to an .onnx file, its bytes or an onnx.ModelProto; got {type(model).__name__}")


def ort_device(device: DeviceSpec | str) -> DeviceSpec:
    """The device (name or DeviceSpec) as a DeviceSpec; raises unless it runs ONNX Runtime."""
    dev = as_device(device)
    if dev.runtime != "onnxruntime":
        raise UnsupportedOpError(
            f"GraphPredictor reads the kernels from ONNX Runtime's optimiser; device {dev.name!r} uses "
            f"{dev.runtime}. Use an onnxruntime device (e.g. cpu-ort)")
    return dev


def _optimise(ort: Any, source: bytes | str, out: Path, level: str, provider: str, label: str) -> None:
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    so.optimized_model_filepath = str(out)
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    # weights go to a side file: reading the structure back does not load them
    so.add_session_config_entry("session.optimized_model_external_initializers_file_name", out.stem + ".bin")
    so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ep = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}.get(provider, "CPUExecutionProvider")
    if ep not in ort.get_available_providers():
        ep = "CPUExecutionProvider"
        log.warning("%s is not available here: optimising with the CPU provider (fusions may differ)", provider)
    try:
        ort.InferenceSession(source, sess_options=so, providers=[ep])
    except Exception as exc:  # ORT raises its own exception types
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{label} is not a valid ONNX model ONNX Runtime can load: {msg}; "
                         "check the file (onnx.checker.check_model) or export it again") from exc


def clear_cache() -> None:
    """Forget every cached model analysis (the next query of a model optimises it again)."""
    with _cache_lock:
        _cache.clear()


def analyse_model(model: ModelLike, device: DeviceSpec | str = "cpu-ort") -> list[KernelInfo]:
    """The kernels of ``model`` after the device runtime's optimiser, each mapped to a spec where
    the vocabulary covers it (cached by the model's content and the device)."""
    return list(_analyse(model, device).kernels)


def _analyse(model: ModelLike, device: DeviceSpec | str) -> _Analysis:
    key, source, label = _model_source(model)
    dev = ort_device(device)
    level = str(dev.options.get("graph_optimization_level", "all"))
    ck = (key, f"{dev.provider}:{level}")
    with _cache_lock:
        hit = _cache.get(ck)
        if hit is not None:
            _cache.move_to_end(ck)
            return hit
    result = _analyse_uncached(source, label, dev.provider, level)
    with _cache_lock:
        _cache[ck] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def _analyse_uncached(source: bytes | str, label: str, provider: str, level: str) -> _Analysis:
    ort = import_optional("onnxruntime", "GraphPredictor")
    struct_level = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC"}.get(level, "ORT_ENABLE_EXTENDED")
    with tempfile.TemporaryDirectory(prefix="hwlat-graph-") as tmp:
        ext = Path(tmp) / "extended.onnx"
        _optimise(ort, source, ext, struct_level, provider, label)
        m = onnx.load(str(ext), load_external_data=False)
        name_unnamed_nodes(m)
        fused_away: set[str] | None = None
        reorders: list[Any] = []
        if level == "all" and provider == "cpu":
            named = Path(tmp) / "named.onnx"
            onnx.save(m, str(named))
            full = Path(tmp) / "all.onnx"
            _optimise(ort, str(named), full, "ORT_ENABLE_ALL", provider, label)
            nodes = onnx.load(str(full), load_external_data=False).graph.node
            survivors = {n.name for n in nodes}
            fused_away = {n.name for n in m.graph.node if n.op_type in FUSABLE_OPS and n.name not in survivors}
            reorders = [n for n in nodes if n.domain == NCHWC_DOMAIN and n.op_type in LAYOUT_OPS]
        shapes: dict[str, tuple[int, ...] | None] = {}
        kernels = map_graph(m, fused_away, label, shapes)
        kernels += [_reorder_kernel(n, shapes) for n in reorders]
    return _Analysis(kernels, struct_level)


def _reorder_kernel(node: Any, shapes: dict[str, tuple[int, ...] | None]) -> KernelInfo:
    """A layout conversion the runtime placed in the network (its tensor named as in the
    extended graph: the input of a ``ReorderInput``, the output of a ``ReorderOutput``)."""
    tensor = node.input[0] if node.op_type == "ReorderInput" else node.output[0]
    shape = shapes.get(tensor)
    text = "x".join(map(str, shape)) if shape else "?"
    return KernelInfo(node.name or f"{node.op_type}:{tensor}", node.op_type, f"{text} -> {text}",
                      note="a conversion to or from the runtime's NCHWc block layout",
                      elements=float(math.prod(shape)) if shape else None)


def kernel_specs_of(model: ModelLike, device: DeviceSpec | str = "cpu-ort") -> list[OpSpec]:
    """The distinct op specs the kernels of ``model`` map to on ``device`` (first-seen order);
    profile exactly these to predict the model from exact table hits."""
    seen: dict[str, OpSpec] = {}
    for k in _analyse(model, device).kernels:
        if k.spec is not None and not k.zero_reason:
            seen.setdefault(k.spec.key, k.spec)
    return list(seen.values())


def model_label(model: ModelLike) -> str:
    """How messages name ``model``: its path, or a short description of bytes and ModelProtos."""
    return str(model) if isinstance(model, (str, os.PathLike)) else _model_source(model)[2]
