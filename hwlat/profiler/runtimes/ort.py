"""ONNX Runtime backend: CPU and CUDA execution providers, and the per-node breakdown of a model
from ONNX Runtime's trace."""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwlat._files import check_memory
from hwlat._optional import has_module, import_optional
from hwlat.errors import DeviceError, InputError, UnsupportedOpError
from hwlat.ops.ir import Graph
from hwlat.profiler.runtimes.base import Prepared, Runtime, check_inputs_fit

if TYPE_CHECKING:  # pragma: no cover
    from hwlat.profiler.model import ModelProfile
    from hwlat.profiler.protocol import Protocol

__all__ = ["OnnxRuntime"]

_EP = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
               "all": "ORT_ENABLE_ALL"}


_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


class _OrtPrepared(Prepared):
    """A session with its inputs and outputs bound once (IO binding).

    A timed call is then the inference alone: no numpy-to-tensor conversion of the inputs and no
    allocation and copy of the outputs into new numpy arrays, costs that an op timed alone would
    pay once per op while a whole network pays them once. On CUDA the inputs live on the GPU and
    the outputs stay there, so a call times the kernels, not the host<->device copies;
    ``synchronize_outputs()`` waits for the device.
    """

    def __init__(self, session: Any, inputs: list[np.ndarray], cuda: bool) -> None:
        ort = import_optional("onnxruntime")
        self.session = session
        self.inputs = inputs
        self._names = [i.name for i in session.get_inputs()]
        self._feed = dict(zip(self._names, inputs))
        self._cuda = cuda
        device = ("cuda", 0) if cuda else ("cpu", 0)
        self._binding = session.io_binding()
        self._ortvalues = [ort.OrtValue.ortvalue_from_numpy(x, *device) for x in inputs]
        for name, v in zip(self._names, self._ortvalues):
            self._binding.bind_ortvalue_input(name, v)
        self._out_values = []
        for o in session.get_outputs():
            dtype = _NP_TYPES.get(o.type)
            static = all(isinstance(d, int) and d > 0 for d in (o.shape or []))
            if dtype is not None and static:
                v = ort.OrtValue.ortvalue_from_shape_and_type(list(o.shape), dtype, *device)
                self._out_values.append(v)
                self._binding.bind_ortvalue_output(o.name, v)
            else:  # a dynamic shape: ONNX Runtime allocates the output itself
                self._binding.bind_output(o.name, device[0], device[1])

    def run(self) -> None:
        self.session.run_with_iobinding(self._binding)
        if self._cuda:
            self._binding.synchronize_outputs()

    def outputs(self) -> list[np.ndarray]:
        outs = self.session.run(None, self._feed)
        return [np.asarray(o) for o in outs]


class OnnxRuntime(Runtime):
    """ONNX Runtime with one execution provider.

    Options: ``graph_optimization_level`` (disable|basic|extended|all, default all),
    ``inter_op_threads`` (default 1), ``execution_mode`` (sequential|parallel).
    """

    name = "onnxruntime"
    model_format = "onnx"
    providers = ("cpu", "cuda")
    model_files = True
    distribution = "onnxruntime"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: sizes of named symbolic input dimensions, set in every session (see profile_model's dims)
        self.free_dims: dict[str, int] = {}
        level = self.options.get("graph_optimization_level", "all")
        if level not in _OPT_LEVELS:
            raise InputError(f"graph_optimization_level must be one of {', '.join(_OPT_LEVELS)}, got {level!r}")

    @classmethod
    def is_available(cls) -> bool:
        return has_module("onnxruntime")

    @classmethod
    def cuda_available(cls) -> bool:
        """True if this ONNX Runtime has the CUDA execution provider (onnxruntime-gpu)."""
        if not cls.is_available():
            return False
        ort = import_optional("onnxruntime", "the onnxruntime runtime")
        return _EP["cuda"] in ort.get_available_providers()

    @classmethod
    def version(cls) -> str:
        from importlib.metadata import PackageNotFoundError, version

        for dist in ("onnxruntime", "onnxruntime-gpu"):
            try:
                return version(dist)
            except PackageNotFoundError:
                continue
        return "not installed"

    def session_options(self, *, profile_prefix: str | None = None) -> Any:
        ort = import_optional("onnxruntime", "the onnxruntime runtime")
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = int(self.options.get("inter_op_threads", 1))
        so.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if self.options.get("execution_mode") == "parallel"
                             else ort.ExecutionMode.ORT_SEQUENTIAL)
        level = self.options.get("graph_optimization_level", "all")
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _OPT_LEVELS[level])
        so.log_severity_level = 3
        if self.threads:
            # no spinning worker threads between calls: each op is timed alone
            so.add_session_config_entry("session.intra_op.allow_spinning", "0" if self.threads == 1 else "1")
        for name, size in self.free_dims.items():
            so.add_free_dimension_override_by_name(name, size)
        if profile_prefix is not None:
            so.enable_profiling = True
            so.profile_file_prefix = profile_prefix
        return so

    def _session(self, model: bytes | str, so: Any | None = None) -> Any:
        ort = import_optional("onnxruntime", "the onnxruntime runtime")
        ep = _EP[self.provider]
        if ep not in ort.get_available_providers():
            raise DeviceError(
                f"ONNX Runtime here has no {ep} (available: {', '.join(ort.get_available_providers())}); "
                "for CUDA install onnxruntime-gpu on a machine with an NVIDIA GPU"
            )
        try:
            return ort.InferenceSession(model, sess_options=so or self.session_options(), providers=[ep])
        except Exception as exc:  # ORT raises its own exception types
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UnsupportedOpError(f"ONNX Runtime ({ep}) cannot load the model: {msg}") from exc

    @classmethod
    def emit(cls, graph: Graph) -> bytes:
        from hwlat.ops.onnx_emit import graph_to_onnx

        return graph_to_onnx(graph).SerializeToString()

    def prepare(self, graph: Graph, *, seed: int = 0) -> Prepared:
        return _OrtPrepared(self._session(self.emit(graph)), graph.random_inputs(seed), self.provider == "cuda")

    def prepare_file(self, path: str | Path, *, seed: int = 0, inputs: Sequence[np.ndarray] | None = None,
                     so: Any | None = None) -> _OrtPrepared:
        """Load an ``.onnx`` file (``so``: the session options, e.g. with profiling enabled)."""
        from hwlat._files import shown

        name = os.fspath(path)
        try:
            name.encode("utf-8")
            model: bytes | str = name
        except UnicodeEncodeError:  # ONNX Runtime takes only UTF-8 paths: hand it the bytes
            model = Path(path).read_bytes()
        try:
            session = self._session(model, so)
        except UnsupportedOpError as exc:
            raise UnsupportedOpError(f"{shown(path)}: {exc}") from exc.__cause__
        if inputs is None:
            bound = random_inputs_for_session(session, seed)
        else:
            check_inputs_fit(inputs, [[d if isinstance(d, int) else -1 for d in i.shape]
                                      for i in session.get_inputs()])
            bound = list(inputs)
        return _OrtPrepared(session, bound, self.provider == "cuda")

    def layout_ms(self, graph: Graph, *, runs: int = 20, seed: int = 0) -> tuple[float, float, float | None] | None:
        """``(reorder_in, reorder_out, traced)`` (ms, each the fastest of ``runs`` traced runs after 3
        warm-up runs) of ``graph`` alone: at level ``all`` on the CPU, ONNX Runtime runs
        convolutions and pooling in its NCHWc block layout and converts a lone op's input and
        output (``ReorderInput``/``ReorderOutput``); inside a network only the network's own
        boundaries are converted. ``traced`` is the time of the op's own nodes as the runtime's
        profiler times a node inside a network (None where no trace is taken)."""
        if self.provider != "cpu" or self.options.get("graph_optimization_level", "all") != "all":
            return 0.0, 0.0, None
        with tempfile.TemporaryDirectory(prefix="hwlat-layout-") as tmp:
            prepared = _OrtPrepared(self._session(self.emit(graph), self.session_options(
                profile_prefix=str(Path(tmp) / "trace"))), graph.random_inputs(seed), False)
            for _ in range(3 + runs):
                prepared.run()
            events = json.loads(Path(prepared.session.end_profiling()).read_text())
        return node_times_ms(events, 3)

    def profile_model(self, path: str | os.PathLike[str], *, protocol: Protocol | None = None, trace_runs: int = 50,
                      warmup_runs: int = 10, device: str = "", dims: Mapping[str, int] | None = None) -> ModelProfile:
        """The end-to-end latency from an untraced session (tracing adds per-node overhead), the
        breakdown from a traced session of ``warmup_runs + trace_runs`` runs, the warm-up runs dropped.

        ``dims`` sets named symbolic input dimensions (``{"batch": 1, "seq": 128}``); any other
        symbolic dimension is 1, with a warning naming the input and the dimension."""
        # the trace parser and the result type need pandas: imported here, not when a runtime loads
        from hwlat.profiler.model import ModelProfile, measure_model, parse_ort_trace
        from hwlat.profiler.protocol import Protocol

        p = Path(path)
        for label, v, lo in (("trace_runs", trace_runs, 1), ("warmup_runs", warmup_runs, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise InputError(f"{label} must be an integer >= {lo}, got {v!r}")
        _check_onnx(p)
        free = check_dims(p, dict(dims or {}))
        protocol = protocol or Protocol()
        before, self.free_dims = self.free_dims, {**self.free_dims, **free}
        try:
            latency = measure_model(self, p, protocol)
            with tempfile.TemporaryDirectory(prefix="hwlat-trace-") as tmp:
                so = self.session_options(profile_prefix=str(Path(tmp) / "trace"))
                prepared = self.prepare_file(p, so=so)
                for _ in range(warmup_runs + trace_runs):
                    prepared.run()
                trace_file = prepared.session.end_profiling()
                events = json.loads(Path(trace_file).read_text())
        finally:
            self.free_dims = before
        nodes, kept = parse_ort_trace(events, warmup_runs, protocol.statistic)
        return ModelProfile(p, device or self.name, latency, nodes, kept, warmup_runs)


def node_times_ms(events: list[dict[str, Any]], drop_runs: int) -> tuple[float, float, float]:
    """The fastest run's ``ReorderInput`` time, ``ReorderOutput`` time and the time of all other
    nodes (ms) in an ONNX Runtime trace, after ``drop_runs`` runs (zeros where none is left)."""
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")[drop_runs:]
    if not runs:
        return 0.0, 0.0, 0.0
    starts = np.array([r[0] for r in runs])
    per_run = np.zeros((len(runs), 3))
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        op = e.get("args", {}).get("op_name", "")
        i = int(np.searchsorted(starts, e["ts"], side="right")) - 1
        if i >= 0 and e["ts"] <= runs[i][1]:
            per_run[i, {"ReorderInput": 0, "ReorderOutput": 1}.get(op, 2)] += e["dur"] / 1e3
    return float(per_run[:, 0].min()), float(per_run[:, 1].min()), float(per_run[:, 2].min())


def symbolic_dims(path: str | os.PathLike[str]) -> list[tuple[str, int, str]]:
    """``(input, axis, name)`` of every symbolic dimension of an ONNX model's inputs (``name`` is
    ``""`` for an unnamed one); initializers listed as inputs are not inputs."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    consts = {t.name for t in graph.initializer}
    out = []
    for vi in graph.input:
        if vi.name in consts or not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
            continue
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            if not d.HasField("dim_value"):
                out.append((vi.name, axis, d.dim_param))
    return out


def check_dims(path: Path, dims: dict[str, int]) -> dict[str, int]:
    """``dims`` checked against the model's symbolic input dimensions; a warning for each one
    left unset (it is timed with 1)."""
    found = symbolic_dims(path)
    names = {n for _, _, n in found if n}
    for name, size in dims.items():
        if name not in names:
            have = ", ".join(f"{n} (input {i!r}, axis {a})" for i, a, n in found if n) or "none"
            raise InputError(f"{path}: dimension {name!r} is not a symbolic input dimension of the model "
                             f"(its named symbolic dimensions: {have}); set only those")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise InputError(f"{path}: dimension {name} must be a positive whole number, got {size!r}")
    for inp, axis, name in found:
        if name not in dims:
            what = f"dimension {name!r}" if name else "an unnamed dimension"
            how = f"set it with --dim {name}=N" if name else "an unnamed dimension cannot be set by name"
            warnings.warn(f"{path.name}: input {inp!r} has a symbolic {what} at axis {axis}; it is timed with 1 "
                          f"({how})", stacklevel=3)
    return {k: int(v) for k, v in dims.items()}


def _check_onnx(path: Path) -> None:
    import onnx

    from hwlat._files import check_input_file

    check_input_file(path, "model file", fix="give the path of an .onnx model file")
    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises several types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path} is not a valid ONNX model: {first}") from exc


def random_inputs_for_session(session: Any, seed: int = 0) -> list[np.ndarray]:
    """Random inputs for every input of an ONNX Runtime session; symbolic dimensions become 1."""
    rng = np.random.default_rng(seed)
    dtypes = _NP_TYPES
    out: list[np.ndarray] = []
    for i in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        dt = dtypes.get(i.type)
        if dt is None:
            raise UnsupportedOpError(f"model input {i.name!r} has type {i.type}, which hwlat cannot feed yet")
        # drawn as float64 before the cast: 8 bytes an element beside the input itself
        check_memory(math.prod(shape) * (np.dtype(dt).itemsize + 8), f"model input {i.name!r} of shape "
                     f"{'x'.join(map(str, shape))}", "give a model with smaller inputs")
        if np.issubdtype(dt, np.floating):
            out.append(rng.standard_normal(shape).astype(dt))
        else:
            out.append(np.zeros(shape, dtype=dt))
    return out
