"""What the commands read and print: sampled architectures, standard input, grouped explanations,
the resolution an ofa-mbv3 architecture carries."""

from __future__ import annotations

import io
import json

import pytest

from hwlat.cli import main
from hwlat.latency_tables import LatencyTable, TableMetadata
from hwlat.spaces import get_space


def _table(tmp_path, specs, name="t.parquet"):
    """A table of every op in ``specs`` (their latencies do not matter here)."""
    path = tmp_path / name
    rows = [(s, {"median_ms": 0.01 + 1e-4 * i}) for i, s in enumerate(specs)]
    LatencyTable.from_rows(TableMetadata(), rows).save(path)
    return str(path)


def test_space_sample_prints_what_query_reads(tmp_path, capsys, monkeypatch):
    assert main(["space", "sample", "nb201", "-n", "7", "--seed", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    nb = get_space("nb201")
    for t in lines:
        nb.decode(t)
    assert main(["space", "sample", "nb201", "-n", "7", "--seed", "3", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == lines  # the same seed, the same sample
    assert main(["space", "sample", "nb201", "-n", "2", "--seed", "4", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "arch"
    # piped into query through --archs-file -
    table = _table(tmp_path, nb.all_ops())
    monkeypatch.setattr("sys.stdin", io.StringIO("# sampled\n" + "\n".join(lines) + "\n"))
    assert main(["query", "--space", "nb201", "--table", table, "--archs-file", "-", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["arch"] for r in rows] == lines and all(r["latency_ms"] > 0 for r in rows)


def test_space_sample_of_ofa_at_chosen_resolutions(capsys):
    assert main(["space", "sample", "ofa-mbv3", "-n", "6", "--resolution", "160", "192"]) == 0
    archs = [json.loads(t) for t in capsys.readouterr().out.splitlines()]
    assert len(archs) == 6 and {a["r"] for a in archs} <= {160, 192}
    with pytest.raises(SystemExit) as exc:  # a usage error, found when the command line is parsed
        main(["space", "sample", "nb201", "-n", "0"])
    assert exc.value.code == 2


def test_explain_groups_ops_with_counts_and_shares(tmp_path, capsys):
    nb = get_space("nb201")
    table = _table(tmp_path, nb.all_ops())
    arch_text = nb.example()
    arch = nb.decode(arch_text)
    assert main(["query", "--space", "nb201", "--table", table, arch_text, "--explain", "--format", "json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    rows = rec["explain"]
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) < len(nb.ops(arch))  # grouped: each op once
    assert sum(r["count"] for r in rows if r["kind"] != "overhead") == len(nb.ops(arch))
    assert sum(r["share_pct"] for r in rows) == pytest.approx(100.0)
    assert rows[-1]["kind"] == "overhead"
    contributions = [r["contribution_ms"] for r in rows[:-1]]
    assert contributions == sorted(contributions, reverse=True)
    assert main(["query", "--space", "nb201", "--table", table, arch_text, "--explain"]) == 0
    out = capsys.readouterr().out
    assert "count" in out and "share_pct" in out and "distinct" in out


def test_query_ofa_uses_the_resolution_of_the_architecture(tmp_path, capsys):
    ofa = get_space("ofa-mbv3")
    table = _table(tmp_path, ofa.all_ops(resolution=192))  # a table of one resolution only
    arch = json.dumps({"d": [2] * 5, "e": [3] * 20, "ks": [3] * 20, "r": 192})
    assert main(["query", "--space", "ofa-mbv3", "--table", table, arch, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["latency_ms"] > 0
    other = json.dumps({"d": [2] * 5, "e": [3] * 20, "ks": [3] * 20, "r": 224})
    assert main(["query", "--space", "ofa-mbv3", "--table", table, other]) == 1
    assert "latency" in capsys.readouterr().err
