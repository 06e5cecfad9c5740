"""``GraphPredictor``: the latency (ms) of any ONNX model from the kernels the runtime really runs.

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

Each kernel is then mapped to an :class:`~hwlat.ops.spec.OpSpec` where the vocabulary covers it:

===========================================  ==============================================
kernel                                        spec
===========================================  ==============================================
Conv / FusedConv (square, pads = dil*(k-1)//2)  ``conv`` (bn=1 when it has a bias; act from
                                              the fused activation: Relu, Clip(0,6),
                                              HardSigmoid(1/6,1/2), Sigmoid, HardSwish)
MaxPool / AveragePool (square, symmetric pad)  ``pool``
GlobalAveragePool, ReduceMean over H,W         ``gap``
Gemm / MatMul on a (1, K) vector, constant W   ``fc``
Add / Sum of same-shape (C,H,W) tensors        ``add``
Concat on channels of same-shape tensors       ``concat``
Relu / Clip(0,6) / HardSwish / HardSigmoid /   ``act``
Sigmoid on (C,H,W) (HardSwish is inlined by
the runtime as HardSigmoid+Mul: read back as
one HardSwish)
BatchNormalization (not folded)                ``bn``
Reshape / Flatten / Squeeze / Unsqueeze /      zero cost: ONNX Runtime's kernels of these ops
Identity / Dropout                             alias their input buffer (no copy is made)
===========================================  ==============================================

Everything else (a Transpose, a Slice, a channel gate ``(C,H,W) * (C,1,1)``, a Conv with
asymmetric padding...) cannot be predicted from the table: :meth:`GraphPredictor.predict`
raises :class:`~hwlat.errors.UnsupportedOpError` listing every such node, unless
``allow_fallback=True``; then each one is estimated by an explicit, reported rule (see
:meth:`GraphPredictor.kernels`, source ``fallback``): FLOPs times a rate fitted on the table's
``conv`` (or ``fc``) rows for convolutions and matrix products, elements moved (inputs + output)
times a rate fitted on its elementwise rows (``add``, ``act``, ``bn``, ``concat``) otherwise.

A kernel spec found in the table costs its latency less the runtime's per-call overhead (every
row was timed with it); the overhead is added once per model. A kernel regressor
(any object with ``predict(specs) -> ms`` that raises ``UnsupportedOpError`` for kinds it does
not know, e.g. :class:`hwlat.predictors.kernels.KernelRegressor`) answers specs missing from
the table. :func:`kernel_specs_of` lists the distinct specs of a model, so that profiling exactly
those gives exact table hits.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import pandas as pd

from hwlat.errors import InputError, UnsupportedOpError
from hwlat.ops.spec import OpSpec

__all__ = ["ZERO_COST_OPS", "GraphPredictor", "KernelInfo", "analyse_model", "clear_cache", "kernel_specs_of",
           "load_graph_predictor", "torch_to_onnx"]

log = logging.getLogger(__name__)

ModelLike = Union[str, os.PathLike, bytes, Any]  # noqa: UP007  # a path, serialized bytes or an onnx.ModelProto

#: ops whose ONNX Runtime kernels alias their input buffer (output shares the input's memory)
ZERO_COST_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})
#: elementwise ops the NCHWc level may fuse into a convolution
_FUSABLE = frozenset({"Add", "Sum", "Relu", "Clip", "HardSigmoid", "Sigmoid", "HardSwish"})
_COMPUTE = frozenset({"Conv", "FusedConv", "ConvTranspose", "Gemm", "FusedGemm", "MatMul", "FusedMatMul",
                      "Einsum", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul"})
_ELEMWISE_KINDS = ("add", "act", "bn", "concat")
#: contrib ops whose output has their first input's shape (QuickGelu(alpha=1) is x*sigmoid(x))
_SHAPE_PRESERVING = frozenset({"QuickGelu", "Gelu", "FastGelu", "BiasGelu", "BiasSoftmax"})
_HS_ALPHA, _HS_BETA = 1.0 / 6.0, 0.5
_CACHE_SIZE = 64
_UNNAMED = "hwlat_node_"


# -- the analysis of one model ---------------------------------------------------------------------

@dataclass
class KernelInfo:
    """One kernel of the optimised graph and what hwlat makes of it.

    ``spec`` is the mapped op (None when the vocabulary cannot express it); ``zero_reason`` is
    set for kernels that cost nothing (aliasing ops, nodes fused into a convolution);
    ``flops``/``elements`` (inputs + outputs) feed the fallback estimate; ``note`` says why a
    kernel is unmapped or how it was read.
    """

    node: str
    op_type: str
    shapes: str
    spec: OpSpec | None = None
    zero_reason: str = ""
    note: str = ""
    flops: float | None = None
    elements: float | None = None
    compute: bool = False


@dataclass
class _Analysis:
    kernels: list[KernelInfo] = field(default_factory=list)
    level: str = "extended"


_cache: OrderedDict[tuple[str, str], _Analysis] = OrderedDict()
_cache_lock = threading.Lock()


def _model_source(model: ModelLike) -> tuple[str, bytes | str, str]:
    """(cache key, what ORT loads, a label for messages) of a path, bytes or a ModelProto."""
    if isinstance(model, (str, os.PathLike)):
        p = Path(model)
        if not p.exists():
            raise InputError(f"model file {p} does not exist; check the path")
        if not p.is_file():
            raise InputError(f"{p} is not a file; give an .onnx model file")
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


def _device(device: Any) -> Any:
    from hwlat.devices import as_device

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


def analyse_model(model: ModelLike, device: Any = "cpu-ort") -> list[KernelInfo]:
    """The kernels of ``model`` after the device runtime's optimiser, each mapped to a spec where
    the vocabulary covers it (cached by the model's content and the device)."""
    return list(_analyse(model, device).kernels)


def _analyse(model: ModelLike, device: Any) -> _Analysis:
    key, source, label = _model_source(model)
    dev = _device(device)
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
    import onnx

    from hwlat._optional import import_optional

    ort = import_optional("onnxruntime", "GraphPredictor")
    struct_level = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC"}.get(level, "ORT_ENABLE_EXTENDED")
    with tempfile.TemporaryDirectory(prefix="hwlat-graph-") as tmp:
        ext = Path(tmp) / "extended.onnx"
        _optimise(ort, source, ext, struct_level, provider, label)
        m = onnx.load(str(ext), load_external_data=False)
        for i, n in enumerate(m.graph.node):
            if not n.name:
                n.name = f"{_UNNAMED}{i}"  # inlined function bodies come unnamed
        fused_away: set[str] | None = None
        if level == "all" and provider == "cpu":
            named = Path(tmp) / "named.onnx"
            onnx.save(m, str(named))
            full = Path(tmp) / "all.onnx"
            _optimise(ort, str(named), full, "ORT_ENABLE_ALL", provider, label)
            survivors = {n.name for n in onnx.load(str(full), load_external_data=False).graph.node}
            fused_away = {n.name for n in m.graph.node if n.op_type in _FUSABLE and n.name not in survivors}
        kernels = _map_graph(m, fused_away, label)
    return _Analysis(kernels, struct_level)


# -- shapes ----------------------------------------------------------------------------------------

def _infer_shapes(m: Any, label: str) -> dict[str, tuple[int, ...] | None]:
    """Static shapes of every tensor of the optimised graph (symbolic batch -> 1)."""
    import onnx

    g = onnx.ModelProto()
    g.CopyFrom(m)
    for vi in list(g.graph.input):
        dims = vi.type.tensor_type.shape.dim
        for j, d in enumerate(dims):
            if not d.HasField("dim_value"):
                if j == 0:
                    d.dim_value = 1
                else:
                    raise InputError(
                        f"{label}: input {vi.name!r} has a symbolic dimension {d.dim_param or '?'} at axis {j}; "
                        "export the model with a fixed input size")
        if dims and dims[0].dim_value not in (0, 1) and len(dims) >= 2:
            raise InputError(f"{label}: input {vi.name!r} has batch {dims[0].dim_value}; hwlat predicts batch-1 "
                             "latency: export the model with batch 1")
    del g.graph.value_info[:]
    for n in g.graph.node:  # contrib ops -> their standard counterparts, for shape inference only
        if n.domain == "com.microsoft" and n.op_type in _SHAPE_PRESERVING:
            n.op_type, n.domain = "Identity", ""
            del n.input[1:]
            del n.attribute[:]
        elif n.domain == "com.microsoft" and n.op_type in ("FusedConv", "FusedGemm"):
            n.op_type = n.op_type[len("Fused"):]
            n.domain = ""
            keep = [a for a in n.attribute if not a.name.startswith("activation")]
            del n.attribute[:]
            n.attribute.extend(keep)
            if n.op_type == "Conv" and len(n.input) > 3:
                del n.input[3:]
    try:
        g = onnx.shape_inference.infer_shapes(g, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - shape inference raises several types
        log.debug("shape inference of %s failed: %s", label, exc)
    shapes: dict[str, tuple[int, ...] | None] = {}
    for vi in [*g.graph.input, *g.graph.value_info, *g.graph.output]:
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = tt.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = tuple(int(d.dim_value) for d in dims)
    for init in g.graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    return shapes


# -- mapping ---------------------------------------------------------------------------------------

def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _const_values(m: Any) -> dict[str, np.ndarray]:
    """Values of the small constants (Clip bounds, shapes) that stayed inside the model."""
    from onnx import numpy_helper

    vals: dict[str, np.ndarray] = {}
    for init in m.graph.initializer:
        if init.data_location == 1 or init.external_data:  # external: a weight, not needed
            continue
        try:
            vals[init.name] = numpy_helper.to_array(init)
        except Exception:  # noqa: BLE001  # pragma: no cover - exotic tensor types
            log.debug("cannot read constant %s", init.name)
            continue
    for n in m.graph.node:
        if n.op_type == "Constant" and n.output:
            for a in n.attribute:
                if a.name == "value":
                    vals[n.output[0]] = numpy_helper.to_array(a.t)
    return vals


def _act_of(fn: str, params: Sequence[float] | None) -> str | None:
    """hwlat activation name of an ONNX activation (with its parameters), None if none fits."""
    p = [float(x) for x in (params or [])]
    if fn == "Relu":
        return "relu"
    if fn == "Clip":
        return "relu6" if len(p) == 2 and abs(p[0]) < 1e-6 and abs(p[1] - 6) < 1e-6 else None
    if fn == "HardSigmoid":
        a, b = (p + [0.2, 0.5][len(p):])[:2]
        return "hsigmoid" if abs(a - _HS_ALPHA) < 1e-4 and abs(b - _HS_BETA) < 1e-4 else None
    if fn == "HardSwish":
        return "hswish"
    if fn == "Sigmoid":
        return "sigmoid"
    return None


def _chw(shape: tuple[int, ...] | None) -> tuple[int, int, int] | None:
    if shape is None or len(shape) != 4 or shape[0] != 1:
        return None
    return (int(shape[1]), int(shape[2]), int(shape[3]))


def _fmt_shape(s: tuple[int, ...] | None) -> str:
    return "?" if s is None else "x".join(str(d) for d in s)


def _resolve_pads(a: dict[str, Any], in_hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
                  d: tuple[int, int]) -> list[int] | None:
    ap = a.get("auto_pad", "NOTSET")
    if ap in ("NOTSET", ""):
        return list(a.get("pads", [0, 0, 0, 0]))
    if ap == "VALID":
        return [0, 0, 0, 0]
    if ap in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, kk, ss, dd in zip(in_hw, k, s, d):
            out = -(-size // ss)
            total = max(0, (out - 1) * ss + dd * (kk - 1) + 1 - size)
            lo = total // 2 if ap == "SAME_UPPER" else total - total // 2
            begins.append(lo)
            ends.append(total - lo)
        return begins + ends
    return None


def _conv_spec(node: Any, a: dict[str, Any], shapes: dict, act: str) -> tuple[OpSpec | None, str]:
    x = _chw(shapes.get(node.input[0]))
    w = shapes.get(node.input[1])
    y = _chw(shapes.get(node.output[0]))
    if x is None or y is None or w is None or len(w) != 4:
        return None, "not a batch-1 2-D convolution with known shapes"
    k = list(a.get("kernel_shape", w[2:]))
    s = list(a.get("strides", [1, 1]))
    d = list(a.get("dilations", [1, 1]))
    g = int(a.get("group", 1))
    if len(set(k)) != 1 or len(set(s)) != 1 or len(set(d)) != 1:
        return None, f"non-square kernel/stride/dilation k={k} s={s} dil={d}"
    pads = _resolve_pads(a, x[1:], (k[0], k[1]), (s[0], s[1]), (d[0], d[1]))
    want = d[0] * (k[0] - 1) // 2
    if pads is None or any(p != want for p in pads):
        return None, f"padding {pads} is not the symmetric dil*(k-1)//2 = {want} the vocabulary expresses"
    bias = int(len(node.input) > 2 and node.input[2] != "")
    try:
        spec = OpSpec.make("conv", x, cout=int(w[0]), k=k[0], s=s[0], groups=g, dil=d[0], bn=bias, act=act)
    except InputError as exc:
        return None, str(exc)
    if spec.output_shape != y:
        return None, f"output {y} differs from the vocabulary's {spec.output_shape}"
    return spec, ""


def _pool_spec(node: Any, a: dict[str, Any], shapes: dict) -> tuple[OpSpec | None, str]:
    x = _chw(shapes.get(node.input[0]))
    y = _chw(shapes.get(node.output[0]))
    if x is None or y is None:
        return None, "not a batch-1 2-D pooling with known shapes"
    if len(node.output) > 1 and node.output[1]:
        return None, "MaxPool with indices output"
    k = list(a.get("kernel_shape", []))
    s = list(a.get("strides", [1] * len(k)))
    if len(k) != 2 or len(set(k)) != 1 or len(set(s)) != 1 or any(dd != 1 for dd in a.get("dilations", [1, 1])):
        return None, f"non-square or dilated pooling k={k} s={s}"
    pads = _resolve_pads(a, x[1:], (k[0], k[1]), (s[0], s[1]), (1, 1))
    if pads is None or len(set(pads)) != 1:
        return None, f"asymmetric padding {pads}"
    note = ""
    mode = "max" if node.op_type == "MaxPool" else "avg"
    if mode == "avg" and int(a.get("count_include_pad", 0)) and pads[0]:
        note = "count_include_pad=1 timed as the exclude-pad kernel (the same work)"
    try:
        spec = OpSpec.make("pool", x, mode=mode, k=k[0], s=s[0], pad=pads[0])
    except InputError as exc:
        return None, str(exc)
    if spec.output_shape != y:
        return None, f"output {y} differs from the vocabulary's {spec.output_shape} (ceil_mode?)"
    return spec, note


def _numel(shape: tuple[int, ...] | None) -> int | None:
    return None if shape is None else int(math.prod(shape))


def _map_graph(m: Any, fused_away: set[str] | None, label: str) -> list[KernelInfo]:
    shapes = _infer_shapes(m, label)
    consts = _const_values(m)
    for name, v in consts.items():
        shapes.setdefault(name, tuple(int(d) for d in v.shape))
    inits = {i.name for i in m.graph.initializer} | {n.output[0] for n in m.graph.node if n.op_type == "Constant"}
    nodes = [n for n in m.graph.node if n.op_type != "Constant"]
    producer: dict[str, Any] = {o: n for n in nodes for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    graph_outputs = {o.name for o in m.graph.output}

    # the runtime inlines HardSwish as y = x * HardSigmoid(x; 1/6, 1/2): read it back as one kernel
    hswish_of: dict[str, Any] = {}  # Mul node name -> its HardSigmoid node
    absorbed: set[str] = set()
    for n in nodes:
        if n.op_type == "HardSigmoid" and n.domain in ("", "ai.onnx"):
            a = _attrs(n)
            if _act_of("HardSigmoid", [a.get("alpha", 0.2), a.get("beta", 0.5)]) != "hsigmoid":
                continue
            users = consumers.get(n.output[0], [])
            if len(users) == 1 and users[0].op_type == "Mul" and n.output[0] not in graph_outputs:
                mul = users[0]
                if set(mul.input) == {n.input[0], n.output[0]}:
                    hswish_of[mul.name] = n
                    absorbed.add(n.name)

    kernels: list[KernelInfo] = []
    by_name: dict[str, KernelInfo] = {}
    conv_act: dict[str, str] = {}  # conv node name -> activation fused into it at level all

    def effective_op(n: Any) -> str:
        return "HardSwish" if n.name in hswish_of else n.op_type

    def conv_source(t: str, seen: int = 0) -> Any | None:
        """The convolution a fused elementwise node's input comes from (through fused Adds)."""
        p = producer.get(t)
        if p is None or seen > 4:
            return None
        if p.op_type in ("Conv", "FusedConv"):
            return p
        if fused_away and p.name in fused_away and p.op_type in ("Add", "Sum"):
            cands = [conv_source(i, seen + 1) for i in p.input]
            cands = [c for c in cands if c is not None]
            return cands[-1] if cands else None
        return None

    # activations fused into a convolution at level all: fold them into its spec
    if fused_away:
        for n in nodes:
            if n.name in absorbed or n.name not in fused_away and not (
                    n.name in hswish_of and hswish_of[n.name].name in fused_away):
                continue
            op = effective_op(n)
            if op in ("Add", "Sum"):
                continue
            a = _attrs(n)
            params = None
            if op == "Clip":
                lo, hi = (consts.get(i) if i else None for i in (list(n.input) + ["", ""])[1:3])
                params = [float(lo) if lo is not None else -np.inf, float(hi) if hi is not None else np.inf]
            elif op == "HardSigmoid":
                params = [a.get("alpha", 0.2), a.get("beta", 0.5)]
            act = _act_of(op, params)
            c = conv_source(n.input[0])
            if act is not None and c is not None and c.name not in conv_act:
                conv_act[c.name] = act

    for n in nodes:
        if n.name in absorbed:
            continue
        op = effective_op(n)
        in_names = [hswish_of[n.name].input[0]] if n.name in hswish_of else [i for i in n.input if i]
        ins = [shapes.get(i) for i in in_names]
        outs = [shapes.get(o) for o in n.output if o]
        shape_s = ",".join(_fmt_shape(s) for s, i in zip(ins, in_names) if i not in inits)
        shape_s = f"{shape_s or '-'} -> {','.join(_fmt_shape(s) for s in outs)}"
        k = KernelInfo(node=n.name if not n.name.startswith(_UNNAMED) else f"({op} {n.output[0]})",
                       op_type=op if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}", shapes=shape_s)
        moved = [_numel(s) for i, s in zip(in_names, ins) if i not in inits] + \
                [_numel(s) for s in outs]
        k.elements = float(sum(moved)) if moved and all(v is not None for v in moved) else None
        kernels.append(k)
        by_name[n.name] = k
        a = _attrs(n)
        fused_name = hswish_of[n.name].name if n.name in hswish_of else n.name
        if fused_away is not None and (n.name in fused_away or fused_name in fused_away):
            c = conv_source(n.input[0]) if op not in ("Add", "Sum") else \
                next((cs for cs in (conv_source(i) for i in reversed(list(n.input))) if cs is not None), None)
            where = f" into {c.name}" if c is not None else ""
            k.zero_reason = f"fused{where} by the runtime's NCHWc level (runs in the convolution's epilogue)"
            continue
        try:
            _map_node(n, op, a, k, shapes, consts, inits, conv_act)
        except InputError as exc:  # a shape the vocabulary rejects
            k.spec, k.note = None, str(exc)
        if k.spec is None and not k.zero_reason:
            k.compute = n.op_type in _COMPUTE
            if k.compute:
                k.flops = _node_flops(n, a, shapes)
    return kernels


def _map_node(n: Any, op: str, a: dict[str, Any], k: KernelInfo, shapes: dict, consts: dict, inits: set[str],
              conv_act: dict[str, str]) -> None:
    x_shape = shapes.get(n.input[0]) if n.input else None
    if op in ZERO_COST_OPS:
        k.zero_reason = "aliases its input buffer in ONNX Runtime (no copy)"
        return
    if op in ("Conv", "FusedConv"):
        act = "none"
        if op == "FusedConv":
            act = _act_of(str(a.get("activation", "")), a.get("activation_params"))
            if act is None:
                k.note = f"fused activation {a.get('activation')}{a.get('activation_params', '')} is not in the vocabulary"
                return
            if len(n.input) > 3 and n.input[3]:
                k.note = "residual Add fused into the kernel"
        act = conv_act.get(n.name, act) if act == "none" else act
        k.spec, note = _conv_spec(n, a, shapes, act)
        k.note = "; ".join(x for x in (k.note, note) if x)
        return
    if op in ("MaxPool", "AveragePool"):
        k.spec, k.note = _pool_spec(n, a, shapes)
        return
    if op == "GlobalAveragePool":
        x = _chw(x_shape)
        if x is None:
            k.note = "not a batch-1 2-D tensor"
            return
        k.spec = OpSpec.make("gap", x)
        return
    if op == "ReduceMean":
        x = _chw(x_shape)
        axes = a.get("axes")
        if axes is None and len(n.input) > 1:
            v = consts.get(n.input[1])
            axes = None if v is None else [int(t) for t in np.ravel(v)]
        if x is not None and axes is not None and sorted(int(t) % 4 for t in axes) == [2, 3]:
            k.spec = OpSpec.make("gap", x)
            k.note = "ReduceMean over H,W read as global average pooling"
            return
        k.note = "ReduceMean other than over H,W"
        return
    if op in ("Gemm", "MatMul"):
        xs, ws = x_shape, shapes.get(n.input[1])
        if (xs is None or ws is None or len(xs) != 2 or xs[0] != 1 or len(ws) != 2 or n.input[1] not in inits
                or int(a.get("transA", 0))):
            k.note = "not a batch-1 vector times a constant matrix"
            return
        cout = ws[0] if int(a.get("transB", 0)) else ws[1]
        bias = int(op == "Gemm" and len(n.input) > 2 and bool(n.input[2]))
        k.spec = OpSpec.make("fc", (int(xs[1]),), cout=int(cout), bias=bias)
        return
    if op in ("Add", "Sum"):
        data = [shapes.get(i) for i in n.input]
        x = _chw(data[0]) if data else None
        if x is None or any(s != data[0] for s in data) or any(i in inits for i in n.input) or len(data) < 2:
            k.note = f"{op} of {', '.join(_fmt_shape(s) for s in data)}: not same-shape (C,H,W) tensors"
            return
        k.spec = OpSpec.make("add", x, n=len(data))
        return
    if op == "Concat":
        data = [shapes.get(i) for i in n.input]
        x = _chw(data[0]) if data else None
        if x is None or int(a.get("axis", 1)) % 4 != 1 or any(s != data[0] for s in data) or len(data) < 2:
            k.note = f"Concat of {', '.join(_fmt_shape(s) for s in data)}: not channels of same-shape tensors"
            return
        k.spec = OpSpec.make("concat", x, n=len(data))
        return
    if op in ("Relu", "Clip", "HardSigmoid", "Sigmoid", "HardSwish"):
        params = None
        if op == "Clip":
            lo, hi = (consts.get(i) if i else None for i in (list(n.input) + ["", ""])[1:3])
            params = [float(lo) if lo is not None else -np.inf, float(hi) if hi is not None else np.inf]
        elif op == "HardSigmoid":
            params = [a.get("alpha", 0.2), a.get("beta", 0.5)]
        fn = _act_of(op, params)
        x = _chw(x_shape)
        if fn is None or x is None:
            k.note = f"{op}{params or ''} on {_fmt_shape(x_shape)}: not a vocabulary activation on (C,H,W)"
            return
        k.spec = OpSpec.make("act", x, fn=fn)
        return
    if op == "BatchNormalization":
        x = _chw(x_shape)
        if x is None:
            k.note = "not a batch-1 2-D tensor"
            return
        k.spec = OpSpec.make("bn", x)
        return
    if op == "Mul":
        data = [shapes.get(i) for i in n.input]
        if len(data) == 2 and all(s is not None and len(s) == 4 for s in data) and \
                data[1][2:] == (1, 1) and data[0][1] == data[1][1] and data[0][2:] != (1, 1):
            k.note = ("channel gate (C,H,W)*(C,1,1) (squeeze-excite): the vocabulary has no kind for it "
                      "(proposed: 'scale')")
            return
        k.note = "elementwise Mul: not in the vocabulary"
        return
    if op == "QuickGelu":
        alpha = float(a.get("alpha", 1.702))
        what = "swish x*sigmoid(x)" if abs(alpha - 1.0) < 1e-6 else f"x*sigmoid({alpha:g}x)"
        k.note = f"QuickGelu(alpha={alpha:g}) = {what}: no vocabulary activation (proposed: act fn='swish')"
        return
    k.note = f"{op} has no kind in the vocabulary"


def _node_flops(n: Any, a: dict[str, Any], shapes: dict) -> float | None:
    out = shapes.get(n.output[0]) if n.output else None
    if out is None:
        return None
    op = n.op_type
    if op in ("Conv", "FusedConv", "ConvTranspose", "QLinearConv", "ConvInteger"):
        w = shapes.get(n.input[1 if op != "QLinearConv" else 3])
        if w is None or len(w) < 3:
            return None
        if op == "ConvTranspose":
            x = shapes.get(n.input[0])
            return None if x is None else 2.0 * math.prod(x) * math.prod(w[1:])
        return 2.0 * math.prod(out) * math.prod(w[1:])
    if op in ("Gemm", "FusedGemm", "MatMul", "FusedMatMul", "MatMulInteger", "QLinearMatMul"):
        x = shapes.get(n.input[0])
        if x is None or not x:
            return None
        kdim = x[0] if int(a.get("transA", 0)) and len(x) == 2 else x[-1]
        return 2.0 * math.prod(out) * kdim
    return None


# -- the predictor ---------------------------------------------------------------------------------

class GraphPredictor:
    """Latency (ms) of ONNX models from a latency table of their kernels.

    Parameters
    ----------
    table:
        A :class:`~hwlat.latency_tables.LatencyTable` measured on ``device`` (ideally holding the
        specs of :func:`kernel_specs_of` for the models to predict).
    regressor:
        Optional: an object with ``predict(specs) -> ms`` that raises
        :class:`~hwlat.errors.UnsupportedOpError` for kinds it cannot predict (e.g. a fitted
        :class:`hwlat.predictors.kernels.KernelRegressor`); answers kernels missing from the table.
    device:
        The ONNX Runtime device (name or :class:`~hwlat.devices.DeviceSpec`) whose optimiser
        finds the kernels.
    allow_fallback:
        ``False``: a kernel neither the table nor the regressor predicts is an error
        (:class:`~hwlat.errors.UnsupportedOpError` listing all of them). ``True``: estimate it
        from FLOPs or elements moved times a rate fitted on the table (see the module doc) and
        report it with source ``fallback``.
    """

    def __init__(self, table: Any, *, regressor: Any = None, device: Any = "cpu-ort",
                 allow_fallback: bool = False) -> None:
        self.table = table
        self.regressor = regressor
        self.device = device
        self.allow_fallback = allow_fallback

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X: Sequence[ModelLike] | None = None, y: Sequence[float] | np.ndarray | None = None
            ) -> GraphPredictor:
        """Read the table's overhead and fallback rates; calibrate ``y ≈ a·S + b`` on measured
        whole-model latencies (ms) of models ``X`` when given."""
        _device(self.device)
        self.overhead_ms_ = float(self.table.metadata.overhead_ms or 0.0)
        self.coef_ = np.array([1.0, self.overhead_ms_])
        self.n_calibration_ = 0
        self.fallback_rates_ = self._fit_rates()
        if X is not None or y is not None:
            if X is None or y is None:
                raise InputError("calibration needs both models and their measured latencies (ms)")
            self.calibrate(X, y)
        return self

    def _fit_rates(self) -> dict[str, tuple[float, int, str]]:
        """rate name -> (ms per unit, rows used, description), fitted on the table's own rows."""
        df = self.table.df
        rates: dict[str, tuple[float, int, str]] = {}
        if df.empty:
            return rates
        ms = df["latency_ms"].to_numpy(dtype=np.float64) - self.overhead_ms_
        for name, kinds in (("conv", ("conv",)), ("fc", ("fc",))):
            sel = df["kind"].isin(kinds).to_numpy() & (ms > 0)
            flops = df["flops"].to_numpy(dtype=np.float64)[sel] if "flops" in df else np.array([])
            ok = flops > 0
            if ok.sum():
                rates[name] = (float(np.median(ms[sel][ok] / flops[ok])), int(ok.sum()), f"ms per FLOP of {name} rows")
        sel = df["kind"].isin(_ELEMWISE_KINDS).to_numpy() & (ms > 0)
        if sel.any():
            elems = []
            for key in df["key"][sel]:
                spec = OpSpec.from_key(key)
                elems.append(math.prod(spec.input_shape) * spec.n_inputs + math.prod(spec.output_shape))
            rates["elem"] = (float(np.median(ms[sel] / np.asarray(elems, dtype=np.float64))), int(sel.sum()),
                             f"ms per element moved of {'/'.join(_ELEMWISE_KINDS)} rows")
        return rates

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise InputError("this GraphPredictor is not fitted yet; call fit() first")

    def calibrate(self, X: Sequence[ModelLike], y: Sequence[float] | np.ndarray) -> GraphPredictor:
        """Fit ``a, b ≥ 0`` of ``y ≈ a·S + b`` (relative error), ``S`` the overhead-free kernel sum."""
        from hwlat.predictors.lookup import fit_affine

        self._check_fitted()
        models = list(X) if isinstance(X, (list, tuple)) else [X]
        s = np.array([self._raw(m)[0] for m in models], dtype=np.float64)
        coef = fit_affine(s, y, self.overhead_ms_)
        if coef is not None:
            self.coef_ = coef
            self.n_calibration_ = int(np.size(y))
        return self

    # -- predicting -----------------------------------------------------------------------------
    def _costs(self, kernels: list[KernelInfo]) -> tuple[np.ndarray, list[str], list[str]]:
        """Overhead-free cost (ms) of each kernel, its source and how it was obtained."""
        n = len(kernels)
        cost = np.full(n, np.nan)
        source = ["none"] * n
        how = [""] * n
        todo: list[int] = []
        keys: list[str] = []
        for i, k in enumerate(kernels):
            if k.zero_reason:
                cost[i], source[i], how[i] = 0.0, "zero-cost", k.zero_reason
            elif k.spec is not None:
                todo.append(i)
                keys.append(k.spec.key)
        if todo:
            index, median = self.table._ensure_index()
            pos = np.fromiter((index.get(key, -1) for key in keys), dtype=np.int64, count=len(keys))
            hit = pos >= 0
            idx = np.asarray(todo)
            cost[idx[hit]] = median[pos[hit]] - self.overhead_ms_
            for i in idx[hit]:
                source[i] = "table"
            missing = [int(i) for i in idx[~hit]]
            if missing and self.regressor is not None:
                by_kind: dict[str, list[int]] = {}
                for i in missing:
                    by_kind.setdefault(kernels[i].spec.kind, []).append(i)  # type: ignore[union-attr]
                for items in by_kind.values():
                    try:
                        ms = np.asarray(self.regressor.predict([kernels[i].spec for i in items]), dtype=np.float64)
                    except UnsupportedOpError as exc:
                        for i in items:
                            how[i] = f"regressor: {exc}"
                        continue
                    for i, v in zip(items, ms):
                        cost[i], source[i] = float(v) - self.overhead_ms_, "regressor"
        for i, k in enumerate(kernels):
            if source[i] != "none":
                continue
            if k.spec is not None and not how[i]:
                how[i] = "not in the table" + ("" if self.regressor is None else "; the regressor cannot predict it")
            elif k.spec is None:
                how[i] = k.note or "no vocabulary kind"
            if self.allow_fallback:
                est = self._fallback(k)
                if est is not None:
                    cost[i], source[i] = est[0], "fallback"
                    how[i] = f"{how[i]}; fallback: {est[1]}"
        return cost, source, how

    def _fallback(self, k: KernelInfo) -> tuple[float, str] | None:
        rates = self.fallback_rates_
        if k.spec is not None:  # a vocabulary op missing from the table: its own FLOPs/elements
            if k.spec.kind == "conv" and "conv" in rates:
                r = rates["conv"]
                return k.spec.flops * r[0], f"{k.spec.flops:.3g} FLOPs x {r[0]:.3g} {r[2]} ({r[1]})"
            if k.spec.kind == "fc" and ("fc" in rates or "conv" in rates):
                r = rates.get("fc", rates.get("conv"))
                return k.spec.flops * r[0], f"{k.spec.flops:.3g} FLOPs x {r[0]:.3g} {r[2]} ({r[1]})"
        if k.compute and k.flops is not None:
            r = rates.get("fc" if "Gemm" in k.op_type or "MatMul" in k.op_type else "conv") or rates.get("conv") \
                or rates.get("fc")
            if r is not None:
                return k.flops * r[0], f"{k.flops:.3g} FLOPs x {r[0]:.3g} {r[2]} ({r[1]})"
        if k.elements is not None and "elem" in rates:
            r = rates["elem"]
            return k.elements * r[0], f"{k.elements:.3g} elements x {r[0]:.3g} {r[2]} ({r[1]})"
        return None

    def _raw(self, model: ModelLike, *, strict: bool = True) -> tuple[float, list[KernelInfo], np.ndarray,
                                                                       list[str], list[str]]:
        kernels = _analyse(model, self.device).kernels
        cost, source, how = self._costs(kernels)
        bad = [i for i, s in enumerate(source) if s == "none"]
        if bad and strict:
            _, _, label = _model_source(model) if not isinstance(model, (str, os.PathLike)) else (0, 0, str(model))
            lines = [f"  {kernels[i].node} ({kernels[i].op_type}, {kernels[i].shapes}): {how[i]}" for i in bad]
            fix = ("profile the missing kernels (hwlat profile --device DEVICE --model MODEL.onnx, or "
                   "profile_ops(kernel_specs_of(model), device)), give a kernel regressor, or allow an explicit "
                   "fallback estimate (allow_fallback=True, --allow-fallback)")
            if self.allow_fallback:
                fix = ("the fallback needs the table to hold conv/fc rows (compute) and add/act/bn/concat rows "
                       "(elementwise), and known shapes; profile some of those")
            raise UnsupportedOpError(f"{label}: {len(bad)} kernel(s) cannot be predicted:\n" + "\n".join(lines)
                                     + f"\n{fix}")
        return float(np.nansum(cost)), kernels, cost, source, how

    def predict(self, models: ModelLike | Sequence[ModelLike]) -> np.ndarray:
        """Latency (ms) of each model (paths, bytes or ``onnx.ModelProto``)."""
        self._check_fitted()
        items = [models] if isinstance(models, (str, os.PathLike, bytes, bytearray)) or hasattr(models, "graph") \
            else list(models)
        a, b = self.coef_
        out = np.empty(len(items))
        for j, m in enumerate(items):
            s, kernels, _, source, _ = self._raw(m)
            nfb = source.count("fallback")
            if nfb:
                log.warning("%d of %d kernel(s) estimated by the fallback rule; see GraphPredictor.kernels()",
                            nfb, len(kernels))
            out[j] = a * s + b
        return out

    def kernels(self, model: ModelLike) -> pd.DataFrame:
        """One row per kernel of the optimised graph: ``node, op_type, shapes, key`` (the mapped
        spec's key or None), ``source`` (table | regressor | fallback | zero-cost | none),
        ``predicted_ms`` (its calibrated contribution; NaN where nothing predicts it) and ``note``."""
        self._check_fitted()
        _, kernels, cost, source, how = self._raw(model, strict=False)
        a = self.coef_[0]
        notes = [h if h else k.note for k, h in zip(kernels, how)]
        return pd.DataFrame({
            "node": [k.node for k in kernels],
            "op_type": [k.op_type for k in kernels],
            "shapes": [k.shapes for k in kernels],
            "key": [k.spec.key if k.spec is not None else None for k in kernels],
            "source": source,
            "predicted_ms": a * cost,
            "note": notes,
        })

    def explain(self, model: ModelLike) -> pd.DataFrame:
        """:meth:`kernels` plus a last row for the per-model overhead (and calibration offset),
        with each row's share of the total in ``share_pct``."""
        df = self.kernels(model)
        extra = pd.DataFrame([{"node": "(per-model overhead and calibration offset)", "op_type": "overhead",
                               "shapes": "", "key": None, "source": "overhead", "predicted_ms": self.coef_[1],
                               "note": ""}])
        df = pd.concat([df, extra], ignore_index=True)
        total = df["predicted_ms"].sum(skipna=True)
        df["share_pct"] = 100 * df["predicted_ms"] / total if total > 0 else np.nan
        return df

    def __repr__(self) -> str:
        state = "unfitted"
        if hasattr(self, "coef_"):
            state = f"a={self.coef_[0]:.4f}, b={self.coef_[1]:.4f} ms, calibrated on {self.n_calibration_} model(s)"
        dev = getattr(self.device, "name", self.device)
        return f"GraphPredictor(device={dev!r}, allow_fallback={self.allow_fallback}, {state})"

    # -- saving ---------------------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(header, arrays) for :func:`hwlat.predictors.save_predictor`.

        The file is self-contained: it holds the table's keys and latency statistics (plain
        arrays), its metadata, the calibration, the fallback rates and, when there is one, the
        kernel regressor's own saved state; loading it needs no table file.
        """
        from hwlat.latency_tables._table import FLOAT_STATS
        from hwlat.predictors.io import table_hash

        self._check_fitted()
        dev = self.device
        header: dict[str, Any] = {
            "kind": "graph",
            "device": dev.to_dict() if hasattr(dev, "to_dict") else {"name": str(dev)},
            "allow_fallback": bool(self.allow_fallback),
            "coef": [float(c) for c in self.coef_],
            "overhead_ms": self.overhead_ms_,
            "n_calibration": self.n_calibration_,
            "fallback_rates": {k: [float(v[0]), int(v[1]), str(v[2])] for k, v in self.fallback_rates_.items()},
            "table_hash": table_hash(self.table),
            "table_metadata": self.table.metadata.to_dict(),
            "table_stats": [c for c in FLOAT_STATS if c in self.table.df],
        }
        df = self.table.df
        arrays: dict[str, np.ndarray] = {"table_keys": np.asarray(df["key"].tolist(), dtype=str)}
        for c in header["table_stats"]:
            arrays[f"table_{c}"] = df[c].to_numpy(dtype=np.float64)
        if self.regressor is not None:
            if not hasattr(self.regressor, "_state"):
                raise InputError(f"cannot save a GraphPredictor whose regressor ({type(self.regressor).__name__}) "
                                 "has no saved form; use a KernelRegressor or save without the regressor")
            reg_header, reg_arrays = self.regressor._state()
            header["regressor"] = reg_header
            arrays.update({f"regressor.{k}": v for k, v in reg_arrays.items()})
        return header, arrays

    # -- command line ---------------------------------------------------------------------------
    @classmethod
    def cli_query(cls, args: Any, files: Sequence[str]) -> int:
        """``hwlat query model.onnx ... --device D --table T [--explain] [--allow-fallback]
        [--format table|json|csv]``: latency (ms) per model, and the per-kernel breakdown."""
        import json
        import sys

        from hwlat.devices import load_device
        from hwlat.latency_tables import LatencyTable
        from hwlat.predictors.io import load_predictor, save_predictor

        saved = getattr(args, "predictor", None)
        if not getattr(args, "table", None) and not saved:
            raise InputError("an ONNX model needs a latency table of its kernels (--table T.parquet) or a saved graph "
                             "predictor (--predictor P.npz); make a table with: "
                             "hwlat profile --device cpu-ort --model MODEL.onnx -o tables/kernels")
        table = LatencyTable.load(args.table) if getattr(args, "table", None) else None
        if saved:
            pred = load_predictor(saved, table=table)
            if not isinstance(pred, cls):
                raise InputError(f"{saved} is not a graph predictor (it predicts architectures of a search space); "
                                 "for ONNX models give --table, or a file written by --save-predictor")
            if getattr(args, "allow_fallback", False):
                pred.allow_fallback = True
            device = pred.device
        else:
            device = load_device(args.device, search_path=getattr(args, "devices_dir", None))
            tdev = table.metadata.device_name
            if tdev and tdev != device.name:
                log.warning("table %s was measured on %r, predicting for %r", args.table, tdev, device.name)
            regressor = None
            if getattr(args, "regressor", None):
                regressor = load_predictor(args.regressor, table=None)
            pred = cls(table, regressor=regressor, device=device,
                       allow_fallback=bool(getattr(args, "allow_fallback", False))).fit()
        if getattr(args, "save_predictor", None):
            save_predictor(pred, args.save_predictor)
            print(f"wrote {args.save_predictor} (table, calibration and regressor in one file)", file=sys.stderr)
        fmt = getattr(args, "format", "table") or "table"
        rows = []
        for f in files:
            p = Path(f)
            if not p.exists():
                raise InputError(f"model file {p} does not exist; check the path")
            ms = float(pred.predict([p])[0])
            df = pred.explain(p) if args.explain or pred.allow_fallback else None
            src = df["source"].value_counts().to_dict() if df is not None else {}
            row: dict[str, Any] = {"model": f, "latency_ms": ms}
            if df is not None:
                fb = df[df["source"] == "fallback"]
                row.update({"kernels": int((df["source"] != "overhead").sum()), "from_table": int(src.get("table", 0)),
                             "from_regressor": int(src.get("regressor", 0)), "fallback": len(fb)})
                for _, r in fb.iterrows():
                    print(f"{f}: fallback estimate for {r['node']} ({r['op_type']}, {r['shapes']}): "
                          f"{r['predicted_ms']:.4f} ms; {r['note']}", file=sys.stderr)
            if args.explain:
                row["explain"] = df
            rows.append(row)
        if fmt == "json":
            out = [{**{k: v for k, v in r.items() if k != "explain"},
                    **({"explain": r["explain"].replace({np.nan: None}).to_dict(orient="records")}
                       if "explain" in r else {})} for r in rows]
            print(json.dumps(out, indent=2, default=str))
            return 0
        summary = pd.DataFrame([{k: v for k, v in r.items() if k != "explain"} for r in rows])
        if fmt == "csv" and not args.explain:
            summary.to_csv(sys.stdout, index=False)
            return 0
        with pd.option_context("display.max_rows", 2000, "display.max_columns", 50, "display.width", 220,
                               "display.max_colwidth", 70, "display.float_format", "{:.4f}".format):
            if args.explain:
                for r in rows:
                    print(f"{r['model']}: {r['latency_ms']:.4f} ms")
                    cols = ["node", "op_type", "key", "source", "predicted_ms", "share_pct"]
                    if fmt == "csv":
                        r["explain"].to_csv(sys.stdout, index=False)
                    else:
                        print(r["explain"][cols].to_string(index=False))
                    print()
            else:
                print(summary.to_string(index=False))
        return 0


def load_graph_predictor(header: dict[str, Any], arrays: dict[str, np.ndarray], table: Any = None
                         ) -> GraphPredictor:
    """Rebuild a saved :class:`GraphPredictor` (registered as ``_LOADERS["graph"]``).

    The table comes from the file itself; ``table`` (optional) is only compared by hash, in
    :func:`hwlat.predictors.load_predictor`.
    """
    from hwlat.devices import DeviceSpec, load_device
    from hwlat.latency_tables import LatencyTable, TableMetadata

    try:
        d = header["device"]
        device: Any = DeviceSpec.from_dict(d) if "runtime" in d else load_device(d["name"])
        stats = list(header["table_stats"])
        keys = [str(k) for k in arrays["table_keys"]]
        cols = {c: arrays[f"table_{c}"] for c in stats}
        rows = ((OpSpec.from_key(k), {c: float(cols[c][i]) for c in stats}) for i, k in enumerate(keys))
        tab = LatencyTable.from_rows(TableMetadata.from_dict(header["table_metadata"]), rows)
        regressor = None
        if "regressor" in header:
            from hwlat.predictors import _LOADERS

            reg_arrays = {k[len("regressor."):]: v for k, v in arrays.items() if k.startswith("regressor.")}
            regressor = _LOADERS[header["regressor"]["kind"]](header["regressor"], reg_arrays, None)
        pred = GraphPredictor(tab, regressor=regressor, device=device, allow_fallback=bool(header["allow_fallback"]))
        pred.overhead_ms_ = float(header["overhead_ms"])
        pred.coef_ = np.asarray(header["coef"], dtype=np.float64)
        pred.n_calibration_ = int(header["n_calibration"])
        pred.fallback_rates_ = {k: (float(v[0]), int(v[1]), str(v[2])) for k, v in header["fallback_rates"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed graph predictor file: {exc!r}; save it again with save_predictor") from None
    pred.table_hash_ = header.get("table_hash")
    return pred


def kernel_specs_of(model: ModelLike, device: Any = "cpu-ort") -> list[OpSpec]:
    """The distinct op specs the kernels of ``model`` map to on ``device`` (first-seen order);
    profile exactly these to predict the model from exact table hits."""
    seen: dict[str, OpSpec] = {}
    for k in _analyse(model, device).kernels:
        if k.spec is not None and not k.zero_reason:
            seen.setdefault(k.spec.key, k.spec)
    return list(seen.values())


def torch_to_onnx(module: Any, input_shape: Sequence[int], path: str | os.PathLike[str], *,
                  opset: int = 17) -> Path:
    """Export a ``torch.nn.Module`` (in eval mode, batch 1) to an ONNX file, atomically.

    ``input_shape`` is ``(C, H, W)`` (or ``(1, C, H, W)``). The module's training flag is
    restored afterwards. Returns the path.
    """
    from hwlat._io import atomic_path
    from hwlat._optional import import_optional

    torch = import_optional("torch", "exporting a torch module to ONNX")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or shape[0] != 1 or min(shape) < 1:
        raise InputError(f"input_shape must be (C, H, W) or (1, C, H, W) with positive sizes, got {tuple(input_shape)}")
    was_training = bool(getattr(module, "training", False))
    module.eval()
    try:
        with atomic_path(path) as tmp, torch.no_grad():
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (torch.zeros(shape),), str(tmp), dynamo=False, opset_version=opset,
                                  input_names=["input"], output_names=["output"])
    finally:
        module.train(was_training)
    return Path(path)
