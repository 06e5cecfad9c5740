"""LiteRT (TensorFlow Lite) backend: the XNNPACK delegate or the builtin CPU kernels alone.

Graphs are written as TFLite flatbuffers by :mod:`hwlat.ops.tflite_emit` (NHWC, float32, batch 1).
The prepared model takes and returns channels-first arrays like every other runtime: inputs are
converted to NHWC once, when bound, and outputs back to NCHW, so the timed call is only
``interpreter.invoke()``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwlat._optional import has_module, import_optional
from hwlat.errors import InputError, UnsupportedOpError
from hwlat.ops.ir import Graph
from hwlat.profiler.runtimes.base import Prepared, Runtime, check_inputs_fit

__all__ = ["LiteRTRuntime"]

logger = logging.getLogger(__name__)

_NODE_RE = re.compile(r"Node number (\d+) \(([A-Z0-9_]+)\)")


class _LiteRTPrepared(Prepared):
    """An allocated interpreter with its inputs set once.

    ``channels_first`` is True for models emitted from a graph (inputs and outputs are converted
    between NCHW and NHWC); for model files the arrays are in the file's own layout.
    """

    def __init__(self, interpreter: Any, inputs: list[np.ndarray], *, channels_first: bool) -> None:
        from hwlat.ops.tflite_emit import to_nchw, to_nhwc

        self.interpreter = interpreter
        self.inputs = inputs
        self._channels_first = channels_first
        self._to_nchw = to_nchw
        self._out_index = [d["index"] for d in interpreter.get_output_details()]
        for d, x in zip(interpreter.get_input_details(), inputs):
            interpreter.set_tensor(d["index"], to_nhwc(x) if channels_first else x)
        self._invoke = interpreter.invoke

    def run(self) -> None:
        self._invoke()

    def outputs(self) -> list[np.ndarray]:
        self._invoke()
        outs = [self.interpreter.get_tensor(i) for i in self._out_index]
        if self._channels_first:
            return [self._to_nchw(o) for o in outs]
        return [np.array(o, copy=True) for o in outs]

    def op_names(self) -> list[str]:
        """Builtin op names of the model's nodes, in execution order; ``"DELEGATE"`` marks nodes a
        delegate (XNNPACK) took over."""
        try:
            return [str(d["op_name"]) for d in self.interpreter._get_ops_details()]
        except AttributeError:  # pragma: no cover - private API of older/newer LiteRT releases
            return []

    def close(self) -> None:
        self._invoke = _closed
        self.interpreter = None


def _closed() -> None:
    raise InputError("this LiteRT model was closed; prepare it again before running it")


class LiteRTRuntime(Runtime):
    """LiteRT's Python interpreter (``ai-edge-litert``) on the CPU.

    Providers: ``"xnnpack"`` (the default XNNPACK delegate, what a mobile app gets out of the box)
    and ``"none"`` (LiteRT's own builtin kernels without any delegate). ``threads=0`` leaves the
    thread count to LiteRT (its Python interpreter then uses one thread).
    """

    name = "litert"
    model_format = "tflite"
    providers = ("xnnpack", "none")
    model_files = True
    distribution = "ai-edge-litert"

    def __init__(self, *, threads: int = 1, provider: str = "xnnpack", precision: str = "fp32",
                 options: dict[str, Any] | None = None) -> None:
        super().__init__(threads=threads, provider=provider, precision=precision, options=options)

    @classmethod
    def is_available(cls) -> bool:
        return has_module("ai_edge_litert")

    @classmethod
    def version(cls) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("ai-edge-litert")
        except PackageNotFoundError:
            return "not installed"

    # -- loading ------------------------------------------------------------------------------
    def _interpreter(self, *, content: bytes | None = None, path: str | None = None, what: str = "") -> Any:
        """An interpreter with tensors allocated; loading errors become hwlat errors."""
        mod = import_optional("ai_edge_litert.interpreter", "the LiteRT runtime")
        resolver = (mod.OpResolverType.AUTO if self.provider == "xnnpack"
                    else mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        what = path if path is not None else (what or "the emitted model")
        logger.debug("loading %s in LiteRT (%s, %s thread(s))", what, self.provider, self.threads or "default")
        try:
            interp = mod.Interpreter(model_content=content, model_path=path, num_threads=self.threads or None,
                                     experimental_op_resolver_type=resolver)
        except (ValueError, RuntimeError) as exc:
            if path is not None:
                raise InputError(
                    f"{path} is not a TFLite model LiteRT can read ({_first_line(exc)}); "
                    "pass a .tflite flatbuffer written by a TFLite converter or by hwlat.ops.to_tflite"
                ) from exc
            raise UnsupportedOpError(f"LiteRT cannot load {what}: {_describe(exc)}") from exc
        try:
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise UnsupportedOpError(
                f"LiteRT ({self.provider}) cannot prepare {what}: {_describe(exc)}; "
                "run it with another runtime (onnxruntime) or change the op's parameters"
            ) from exc
        return interp

    @classmethod
    def emit(cls, graph: Graph) -> bytes:
        from hwlat.ops.tflite_emit import graph_to_tflite

        return graph_to_tflite(graph)

    def prepare(self, graph: Graph, *, seed: int = 0) -> Prepared:
        interp = self._interpreter(content=self.emit(graph), what=f"the model of graph {graph.name!r}")
        names = [d["name"] for d in interp.get_input_details()]
        if names != list(graph.inputs):  # pragma: no cover - the emitter keeps the graph's order
            raise UnsupportedOpError(f"LiteRT reordered the model inputs {graph.inputs} to {names}")
        return _LiteRTPrepared(interp, graph.random_inputs(seed), channels_first=True)

    def prepare_file(self, path: str | Path, *, seed: int = 0,
                     inputs: Sequence[np.ndarray] | None = None) -> Prepared:
        """Load a ``.tflite`` file; inputs are random (normal for floats, zeros otherwise) in the
        file's own layout, dynamic dimensions set to 1. Given ``inputs`` (channels-first, for a
        file :meth:`emit` wrote) are converted to NHWC when bound, as :meth:`prepare` does."""
        p = Path(path)
        from hwlat._files import check_input_file

        check_input_file(p, "model file", fix="give the path of a .tflite file")
        if inputs is not None:
            interp = self._interpreter(path=str(p), what=f"model {p.stem[:12]}...")
            # 4-d inputs: NHWC in the file, NCHW as given (to_nhwc converts them when bound)
            shapes = [[int(x) for x in d["shape"]] for d in interp.get_input_details()]
            check_inputs_fit(inputs, [(s[0], s[3], s[1], s[2]) if len(s) == 4 else s for s in shapes])
            return _LiteRTPrepared(interp, list(inputs), channels_first=True)
        interp = self._interpreter(path=str(p))
        resized = False
        for d in interp.get_input_details():
            sig = d.get("shape_signature")
            if sig is not None and len(sig) and np.any(np.asarray(sig) < 0):
                interp.resize_tensor_input(d["index"], [int(x) if x > 0 else 1 for x in sig])
                resized = True
        if resized:
            try:
                interp.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise UnsupportedOpError(f"LiteRT cannot prepare {p} with dynamic dimensions set to 1: "
                                         f"{_describe(exc)}") from exc
        rng = np.random.default_rng(seed)
        inputs = []
        for d in interp.get_input_details():
            dt = np.dtype(d["dtype"])
            shape = tuple(int(x) for x in d["shape"])
            if np.issubdtype(dt, np.floating):
                inputs.append(rng.standard_normal(shape).astype(dt))
            else:
                inputs.append(np.zeros(shape, dtype=dt))
        return _LiteRTPrepared(interp, inputs, channels_first=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _describe(exc: BaseException) -> str:
    """The interpreter's message, led by the failing op's name when LiteRT names it."""
    text = " ".join(str(exc).split())
    m = _NODE_RE.search(text)
    if m:
        return f"op {m.group(2)} (node {m.group(1)}) failed: {text}"
    return text or type(exc).__name__
