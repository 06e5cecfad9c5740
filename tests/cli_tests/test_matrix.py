"""The hostile-input matrix: every ``hwlat`` command given bad input (missing, empty, truncated,
garbage and crafted files, folders and FIFOs where files belong, impossible numbers, unknown
names, non-UTF-8 paths and bytes) must answer with one message naming the bad thing and the
documented exit code (2 usage error, 1 bad input), without a traceback, within a few seconds,
without writing anything and without loading a pickle or running a YAML tag.

The cases are :data:`tests.cli_tests.hostile_cases.CASES`; each runs ``hwlat.cli.main`` in this
process (:func:`tests.cli_tests.hostile.run_in_process`). ``benchmarks/bench_hostile.py`` runs the
same cases as subprocesses and counts what fails.
"""

from __future__ import annotations

import pytest

from tests.cli_tests.hostile import CASE_TIMEOUT_S, problems, run_case, warm_imports
from tests.cli_tests.hostile_cases import CASES, CONTROLS
from tests.cli_tests.hostile_files import build


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    warm_imports()
    return build(tmp_path_factory.mktemp("hostile-files"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile-cases")


def test_the_matrix_covers_every_command():
    from hwlat.cli import COMMANDS

    areas = {c.argv[0] for c in CASES if c.argv}
    names = {"devices", "ops", "space", "profile", "profile-model", "validate", "query", "search", "measure",
             "kernels", "adapt", "table", "agent"}
    assert names <= areas, names - areas
    assert {m.__name__.rsplit(".", 1)[1].replace("_", "-") for m in COMMANDS} <= names
    verbs = {tuple(c.argv[:2]) for c in CASES if c.argv and c.argv[0] in ("devices", "space", "table")}
    for verb in ("list", "show", "detect"):
        assert ("devices", verb) in verbs
    for verb in ("list", "sample"):
        assert ("space", verb) in verbs
    for verb in ("show", "diff", "merge", "coverage", "import-ofa", "export"):
        assert ("table", verb) in verbs
    assert len(CASES) >= 300


@pytest.mark.parametrize("case", CONTROLS, ids=lambda c: c.id)
def test_good_input_passes(case, files, workdir):
    res = run_case(case, files, workdir)
    assert res.code == 0, res.stderr[-2000:]
    assert not problems(case, res, files), res.stderr[-2000:]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_clearly(case, files, workdir):
    res = run_case(case, files, workdir, timeout=CASE_TIMEOUT_S)
    found = problems(case, res, files)
    assert not found, f"{case.id}: hwlat {' '.join(case.argv)}\n" + "\n".join(
        f"  {kind}: {detail}" for kind, detail in found.items())
