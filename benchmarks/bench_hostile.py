"""The hostile-input matrix, each case a subprocess of ``python -m hwlat``: how many cases end in a
traceback, a hang, a silent acceptance, a wrong exit code, a message that does not name the bad
thing, a written file or a loaded pickle.

    python benchmarks/bench_hostile.py [--timeout 20] [--only AREA ...] [--list-failing]

The cases are the ones ``tests/cli_tests/test_matrix.py`` runs in-process
(:data:`tests.cli_tests.hostile_cases.CASES`); run from the repository root (or with it on
``PYTHONPATH``). Every case starts a fresh interpreter, so this takes minutes, not seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cli_tests.hostile import KIND_TITLES, KINDS, problems, run_case  # noqa: E402
from tests.cli_tests.hostile_cases import CASES  # noqa: E402
from tests.cli_tests.hostile_files import build  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds a case may run before it is a hang")
    ap.add_argument("--only", nargs="+", metavar="AREA", help="only the cases of these areas (e.g. query table)")
    ap.add_argument("--list-failing", action="store_true", help="print every failing case with its problems")
    args = ap.parse_args()
    cases = [c for c in CASES if not args.only or c.area.split("/")[0] in args.only]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(":")}
    print(f"{len(cases)} cases; {datetime.now(timezone.utc).isoformat(timespec='seconds')}; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hwlat-hostile-") as tmp:
        env["HWLAT_CACHE"] = str(Path(tmp) / "cache")
        os.environ["HWLAT_CACHE"] = env["HWLAT_CACHE"]
        files = build(Path(tmp) / "files")
        counts: Counter[str] = Counter()
        by_area: dict[str, Counter[str]] = defaultdict(Counter)
        failing: list[tuple[str, dict[str, str]]] = []
        start = time.perf_counter()
        for i, case in enumerate(cases, 1):
            try:
                res = run_case(case, files, Path(tmp) / "cases", subprocess_python=sys.executable,
                               timeout=args.timeout, env=env)
                found = problems(case, res, files)
            except Exception as exc:  # noqa: BLE001 - a case the harness cannot run is reported, not fatal
                found = {"harness": f"{type(exc).__name__}: {exc}"}
            for kind in found:
                counts[kind] += 1
                by_area[case.area.split("/")[0]][kind] += 1
            if found:
                counts["failing"] += 1
                failing.append((case.id, found))
            if i % 50 == 0:
                print(f"  {i}/{len(cases)} cases, {counts['failing']} failing, "
                      f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    print(f"\ncases: {len(cases)}; failing: {counts['failing']}; wall {time.perf_counter() - start:.0f} s")
    for kind in KINDS:
        print(f"  {KIND_TITLES[kind]}: {counts[kind]}")
    if counts["harness"]:
        print(f"  cases the harness could not run: {counts['harness']}")
    print("\n| area | cases | failing | " + " | ".join(KINDS) + " |")
    print("|---|---|---|" + "---|" * len(KINDS))
    areas = Counter(c.area.split("/")[0] for c in cases)
    fail_by_area = Counter(cid.split("/")[0] for cid, _ in failing)
    for area in sorted(areas):
        print(f"| {area} | {areas[area]} | {fail_by_area[area]} | "
              + " | ".join(str(by_area[area][k]) for k in KINDS) + " |")
    if args.list_failing:
        print()
        for cid, found in failing:
            print(f"{cid}: " + "; ".join(f"{k}: {v[:160]!s}".replace("\n", " ") for k, v in found.items()))


if __name__ == "__main__":
    main()
