"""``hwlat measure``: the end-to-end latency of model files."""

from __future__ import annotations

import argparse
from typing import Any

from hwlat.cli.common import device_of, emit, protocol_of
from hwlat.cli.options import Parents, add_progress, command, dimension, format_parser
from hwlat.errors import InputError


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(
        sub, "measure", parents.of(format_parser(), protocol=True),
        "the end-to-end latency of model files, with hwlat's measurement protocol",
        description="Time whole models (.onnx on an onnxruntime device, .tflite on a litert device) with the same "
                    "protocol and statistic as a latency table's ops: single calls over interleaved rounds, the "
                    "minimum by default, the spread beside it, and the interference figure of the run.",
        epilog="""
            hwlat measure resnet18.onnx --device cpu-ort
            hwlat measure a.onnx b.onnx --device cpu-ort --format csv > latency.csv
            hwlat measure model.tflite --device cpu-litert --statistic median --format json
            hwlat measure bert.onnx --device cpu-ort --dim batch=1 --dim seq=128
        """)
    p.add_argument("models", nargs="+", help="model files (measured together, interleaved)")
    p.add_argument("--device", default="cpu-ort", help="device name or YAML file")
    p.add_argument("--dim", type=dimension, action="append", metavar="NAME=N",
                   help="the size of a symbolic input dimension of the ONNX models, e.g. batch=1 (repeatable); "
                        "one left unset is 1, with a warning")
    add_progress(p)
    p.set_defaults(func=cmd_measure)


def cmd_measure(args: argparse.Namespace) -> int:
    from hwlat.profiler.networks import measure_files
    from hwlat.profiler.runtimes import get_runtime_class

    device = device_of(args)
    backend = get_runtime_class(device.runtime)
    want = f".{backend.model_format}" if backend.model_files else None
    for m in args.models:
        if want is None:
            raise InputError(f"hwlat measure runs model files on onnxruntime (.onnx) or litert (.tflite) devices; "
                             f"{device.name} uses {device.runtime}")
        if not str(m).endswith(want):
            raise InputError(f"device {device.name} runs {want} files ({device.runtime}); {m} is not one")
    dims = dict(args.dim or [])
    if want == ".onnx":
        from pathlib import Path

        from hwlat.profiler.runtimes.ort import check_dims

        for m in args.models:  # a warning for each symbolic dimension left at 1
            if not Path(m).is_file():  # a pipe would block ONNX's reader: the runtime's checks say what it is
                continue
            try:
                check_dims(Path(m), dims)
            except InputError:
                raise
            except Exception:  # noqa: BLE001, S112 - a file ONNX cannot read: the runtime says what is wrong with it
                continue
    elif dims:
        raise InputError(f"--dim sets symbolic dimensions of ONNX models; {device.name} runs {want} files")
    from hwlat.profiler.transports import runtime_for_device

    rt = runtime_for_device(device)
    try:
        if dims:
            if not hasattr(rt, "free_dims"):
                raise InputError(f"the {device.runtime} runtime of {device.name} takes no --dim; export the model "
                                 "with static input shapes")
            rt.free_dims = {**rt.free_dims, **dims}
        got = measure_files(args.models, device, protocol=protocol_of(args), passes=1, progress=not args.no_progress,
                            runtime=rt)
    finally:
        rt.close()
    rows = []
    for path, (rec,) in zip(args.models, got.records):
        rows.append({"model": str(path), "device": device.name, "latency_ms": rec["latency_ms"],
                     "statistic": got.statistic, "median_ms": rec["median_ms"], "p10_ms": rec["p10_ms"],
                     "p90_ms": rec["p90_ms"], "iqr_ms": rec["iqr_ms"], "stability_pct": rec["stability_pct"],
                     "n": rec["n"], "rounds": rec["rounds"]})
    if args.format == "json":
        emit({"models": rows, "interference": got.interference.to_dict() if got.interference else None}, "json")
    elif args.format == "csv":
        emit(rows, "csv")
    else:
        for r in rows:
            print(f"{r['model']} on {r['device']}: {r['latency_ms']:.4f} ms ({r['statistic']} of {r['n']} single calls "
                  f"over {r['rounds']} rounds; median {r['median_ms']:.4f}, "
                  f"p10-p90 {r['p10_ms']:.4f}-{r['p90_ms']:.4f} ms, stable within {r['stability_pct']:.1f} %)")
        if got.interference is not None:
            print(got.interference.summary())
    return 0
