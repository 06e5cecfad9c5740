"""``hwlat validate``: predictions against real measurements of random architectures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hwlat.cli.common import device_of, emit, protocol_of, space_of
from hwlat.cli.options import (
    CALIBRATIONS,
    SEED,
    Parents,
    add_progress,
    command,
    count,
    format_parser,
    output_parser,
    seed_help,
    show_default,
    space_parser,
)


def add_parser(sub: Any, parents: Parents) -> None:
    p = command(
        sub, "validate", parents.of(space_parser(), format_parser(),
                                    output_parser("folder", "validation.csv/.png/.json, predictor.npz and the "
                                                            "checkpoints (resumable)"), protocol=True),
        "check predictions against real measurements of random architectures",
        description="Build N random architectures of a space, measure each end to end on the device (twice, "
                    "to show the noise floor of the measurement itself), and compare with the lookup predictor "
                    "calibrated on K other measured architectures. Writes validation.csv, validation.png, "
                    "validation.json and the calibrated predictor.npz to the output folder. Resumable. "
                    "--format csv prints the per-architecture rows.",
        epilog="""
            hwlat validate --device cpu-ort --space nb201 --n 100 --table tables/cpu-ort/table.parquet -o val/
            hwlat validate --device cpu-litert --space ofa-mbv3 --resolution 224 --n 50 -o val-litert/  # profiles first
        """)
    p.add_argument("--device", required=True, help="device name or YAML file")
    p.add_argument("--table", help="latency table of the device (default: profile the space into DIR/table first)")
    p.add_argument("--n", type=count(3, 100_000, "every network is built and measured end to end, twice; the "
                                                "error figures need 3 at least"),
                   default=100, help="test architectures")
    p.add_argument("--calibrate", type=count(0, 10_000, "each is a network measured end to end"), default=10,
                   help="other architectures measured to calibrate")
    p.add_argument("--seed", type=SEED, default=0, help=seed_help("the architecture sample"))
    show_default(p.add_argument("--calibration", choices=CALIBRATIONS, default=None,
                                help="how the K networks correct the table: auto (per op type or affine, whichever "
                                     "predicts left-out calibration networks better), one multiplier per op type, "
                                     "kind or op, an affine a*S+b, or none"), "auto")
    add_progress(p)
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from hwlat.predictors.validate import validate_space
    from hwlat.search.workflow import space_table

    device = device_of(args)
    space = space_of(args)
    out = Path(args.output)
    protocol = protocol_of(args)
    if not args.table:
        print(f"no --table given: profiling the {space.name} ops on {device.name} into {out / 'table'} first",
              file=sys.stderr)
    table = space_table(space, device, args.table, out, protocol=protocol, progress=not args.no_progress)
    result = validate_space(space, table, device, n=args.n, calibrate=args.calibrate, seed=args.seed,
                            protocol=protocol, out_dir=out, progress=not args.no_progress,
                            calibration=args.calibration)
    if args.format == "json":
        emit({**result.to_dict(), "files": [str(f) for f in result.files]}, "json")
    elif args.format == "csv":
        emit(result.rows, "csv")
    else:
        print(result.summary())
    return 0
