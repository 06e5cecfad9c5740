"""Per-call overhead of each CPU runtime: an empty (identity) model, measured side by side.

    python benchmarks/bench_overhead.py [--repeats 5]

Each repeat measures the three runtimes' empty models together (rounds interleaved across them,
default protocol); the report gives the median over repeats and the spread (min-max) of the repeats.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone

import numpy as np

from hwlat.devices import detect, fingerprint_summary, load_device
from hwlat.ops import build_graph
from hwlat.profiler import Protocol
from hwlat.profiler.profile import OVERHEAD_SPEC, measure_graphs
from hwlat.profiler.runtimes import make_runtime

DEVICES = ("cpu-ort", "cpu-litert", "cpu-litert-ref", "cpu-torch")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"{fingerprint_summary(detect())}; {datetime.now(timezone.utc).isoformat(timespec='seconds')}; "
          f"load average {os.getloadavg()[0]:.2f}")
    res: dict[str, list[float]] = {d: [] for d in DEVICES}
    protocol = Protocol()
    graph = build_graph(OVERHEAD_SPEC)
    for r in range(args.repeats):
        for d in DEVICES:  # one runtime per measure_graphs call; devices alternate within each repeat
            dev = load_device(d)
            rt = make_runtime(dev.runtime, **dev.runtime_kwargs())
            (m,) = measure_graphs(rt, [(d, graph)], protocol.replace(seed=r))
            res[d].append(m.median_ms * 1e3)
    print("\n| device | per-call overhead (median of repeats) | min-max over repeats |")
    print("|---|---|---|")
    for d, v in res.items():
        print(f"| {d} | {np.median(v):.2f} µs | {min(v):.2f}-{max(v):.2f} µs |")
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
