"""``hwlat profile`` (every op of a space, an op list, sampled kernels or a model's kernels) and
``hwlat profile-model`` (the per-node breakdown of one model)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from hwlat.cli.common import (
    TABLE_COLS,
    device_of,
    emit,
    protocol_of,
    read_ops_file,
    space_ops,
)
from hwlat.cli.options import (
    SEED,
    Parents,
    add_progress,
    add_top,
    command,
    count,
    dimension,
    format_parser,
    output_parser,
    seed_help,
    space_parser,
)
from hwlat.errors import InputError

if TYPE_CHECKING:
    from hwlat.devices import DeviceSpec


def add_parser(sub: Any, parents: Parents) -> None:
    pp = command(
        sub, "profile", parents.of(space_parser(required=False), format_parser(),
                                   output_parser("folder", "the latency table (DIR/table.parquet, DIR/table.csv) "
                                                           "and its checkpoint; a run there resumes"),
                                   protocol=True),
        "measure every op of a space (or an op list) on a device",
        description="Measure the latency of every distinct op of a search space (or of an op list) on a "
                    "device and write a latency table (DIR/table.parquet and DIR/table.csv). Progress and "
                    "ETA go to stderr. Interrupted runs resume: run the same command again.",
        epilog="""
            hwlat profile --device cpu-ort --space nb201 -o tables/cpu-ort
            hwlat profile --device cpu-litert --space ofa-mbv3 --resolution 160 192 224 -o tables/cpu-litert
            hwlat profile --device cpu-ort --ops my_ops.txt -o tables/mine     # one op key per line
            hwlat ops list --space proxyless --format keys > ops.txt           # a file to start from
            hwlat profile --device cpu-ort --kernels all --samples 60 -o tables/kernels
            hwlat profile --device cpu-ort --model resnet18.onnx -o tables/resnet18
        """)
    pp.add_argument("--device", required=True, help="device name (see 'hwlat devices list') or YAML file")
    pp.add_argument("--ops", metavar="FILE", help="profile the op keys in FILE (text: one per line; or JSON/YAML list)")
    pp.add_argument("--kernels", metavar="KINDS",
                    help="profile random configurations of these op kinds (e.g. conv,pool,fc,add; 'all': every "
                         "kernel kind, CNN and transformer) to train a kernel regressor")
    pp.add_argument("--samples", type=count(1, 100_000, "each configuration is an op measured on the device"),
                    default=200, help="configurations per kind with --kernels (conv x8, matmul x3, fc x2)")
    pp.add_argument("--adaptive", action="store_true",
                    help="with --kernels: sample more where a regressor's error is high (in rounds)")
    pp.add_argument("--model", metavar="FILE.onnx",
                    help="profile the kernels an ONNX model runs (after the runtime's graph optimisation)")
    pp.add_argument("--seed", type=SEED, default=0, help=seed_help("weights, inputs, round order and --kernels"))
    pp.add_argument("--chunk-size", type=count(1, 1024, "a chunk's ops are all loaded in memory at once"),
                    default=16, help="ops measured together, interleaved")
    pp.add_argument("--fresh", action="store_true", help="discard earlier measurements in DIR and start over")
    add_progress(pp)
    add_top(pp, 10, "slowest ops")
    pp.set_defaults(func=cmd_profile)

    pm = command(
        sub, "profile-model", parents.of(format_parser(), protocol=True),
        "per-node latency breakdown of one ONNX (or, on a phone, TFLite) model",
        description="Time an ONNX model end to end (untraced) and break its latency down per kernel from the "
                    "ONNX Runtime trace, warm-up runs dropped, sorted, with the share of the total. On an adb "
                    "device, a .tflite model is timed and broken down by LiteRT's benchmark_model "
                    "(--enable_op_profiling).",
        epilog="""
            hwlat profile-model resnet18.onnx --device cpu-ort --top 15
            hwlat profile-model model.onnx --device cpu-ort --format csv > nodes.csv
            hwlat profile-model model.tflite --device phones/pixel7.yaml
        """)
    pm.add_argument("model", help="an .onnx file (a .tflite file for an adb device)")
    pm.add_argument("--device", default="cpu-ort", help="an onnxruntime device, or an adb device")
    pm.add_argument("--runs", type=count(1, 100_000, "every traced run adds its events to the trace file read back"),
                    default=50, help="traced runs kept")
    pm.add_argument("--warmup", type=count(0, 100_000, "warm-up runs are traced too, then dropped"), default=10,
                    help="traced warm-up runs dropped")
    pm.add_argument("--dim", type=dimension, action="append", metavar="NAME=N",
                    help="the size of a symbolic input dimension of an ONNX model, e.g. batch=1 or seq=128 "
                         "(repeatable); one left unset is 1, with a warning")
    add_top(pm, 20, "nodes")
    pm.set_defaults(func=cmd_profile_model)


def cmd_profile(args: argparse.Namespace) -> int:
    from hwlat.profiler.profile import profile_ops

    sources = [x for x in (args.space, args.ops, args.kernels, args.model) if x]
    if len(sources) != 1:
        raise InputError("give exactly one of --space NAME, --ops FILE, --kernels KINDS or --model FILE.onnx")
    if args.adaptive and not args.kernels:
        raise InputError("--adaptive applies to --kernels")
    device = device_of(args)
    protocol = protocol_of(args)
    if args.space:
        specs = space_ops(args.space, args.resolution, args.none_edges)
    elif args.ops:
        specs = read_ops_file(args.ops)
    elif args.model:
        from hwlat.predictors.onnx_kernels import kernel_specs_of

        specs = kernel_specs_of(args.model, device=device)
    else:
        from hwlat.predictors.adaptive_sampling import adaptive_kernel_specs, profiling_measure
        from hwlat.predictors.sampling import kernel_specs

        kinds = [k.strip() for k in args.kernels.split(",") if k.strip()]
        if args.adaptive:
            measure = profiling_measure(device, protocol=protocol, out_dir=args.output,
                                        progress=not args.no_progress)
            specs = adaptive_kernel_specs(kinds, args.samples, seed=args.seed, measure=measure)
        else:
            specs = kernel_specs(kinds, args.samples, seed=args.seed)
    result = profile_ops(specs, device, protocol=protocol, out_dir=args.output,
                         progress=not args.no_progress, chunk_size=args.chunk_size, fresh=args.fresh)
    print(result.summary(), file=sys.stderr)
    df = result.table.df.sort_values("latency_ms", ascending=False)
    if args.format == "json":
        emit({"summary": {"ops": result.n_ops, "measured": result.n_measured, "resumed": result.n_resumed,
                          "remeasured": result.n_remeasured, "unstable": result.unstable,
                          "statistic": result.statistic,
                          "interference": result.interference.to_dict() if result.interference else None,
                          "overhead_ms": result.overhead_ms, "wall_s": result.wall_s},
              "table": str(result.files[0]) if result.files else None}, "json")
    elif args.format == "csv":
        emit(df, "csv")
    else:
        shown = df.head(args.top) if args.top > 0 else df  # --top 0: all
        print(f"{len(df)} ops on {device.name}; the {len(shown)} slowest:")
        emit(shown, "table", table_cols=TABLE_COLS)
    return 0


def cmd_profile_model(args: argparse.Namespace) -> int:
    from hwlat.profiler.model import profile_model

    device = device_of(args)
    if device.location_kind == "adb":
        return _profile_model_adb(args, device)
    prof = profile_model(args.model, device, protocol=protocol_of(args), trace_runs=args.runs,
                         warmup_runs=args.warmup, dims=dict(args.dim or ()))
    if args.format == "json":
        emit(prof.to_dict(), "json")
        return 0
    if args.format == "csv":
        emit(prof.nodes, "csv")
        return 0
    nodes = prof.nodes if args.top <= 0 else prof.nodes.head(args.top)
    print(f"{prof.path.name} on {prof.device}: {prof.latency!r}")
    print(f"sum of traced nodes: {prof.sum_nodes_ms:.4f} ms over {len(prof.nodes)} kernels "
          f"({prof.latency.statistic} over {prof.traced_runs} traced runs, {prof.dropped_runs} warm-up runs dropped)")
    print()
    emit(nodes, "table", table_cols=["node", "op_type", "provider", "latency_ms", "median_ms", "share_pct"])
    if args.top > 0 and len(prof.nodes) > args.top:
        print(f"... {len(prof.nodes) - args.top} more (use --top 0 for all)")
    print()
    emit(prof.by_op_type(), "table")
    return 0


def _profile_model_adb(args: argparse.Namespace, device: DeviceSpec) -> int:
    from hwlat.profiler.model import profile_model

    if args.dim:
        raise InputError("--dim sets symbolic dimensions of ONNX models; a .tflite model on an adb device has "
                         "static input shapes")
    prof = profile_model(args.model, device, trace_runs=args.runs, warmup_runs=args.warmup)
    if args.format in ("json", "csv"):
        emit(prof.to_dict() if args.format == "json" else prof.nodes, args.format)
        return 0
    print(f"{prof.path.name} on {prof.device}: {prof.latency!r}")
    print(f"sum of benchmark_model's per-node means: {prof.sum_nodes_ms:.4f} ms over {len(prof.nodes)} nodes")
    print()
    nodes = prof.nodes if args.top <= 0 else prof.nodes.head(args.top)
    emit(nodes, "table", table_cols=["node", "op_type", "latency_ms", "share_pct", "delegated"])
    print()
    emit(prof.by_op_type(), "table")
    return 0
