"""What loading a latency table refuses: impossible latencies and statistics, keys that are not op
keys, paths that are not files; and paths that are not UTF-8, which are fine."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hwlat.cli import main
from hwlat.errors import InputError
from hwlat.latency_tables import LatencyTable
from hwlat.ops import spec as S
from hwlat.spaces import get_space

from .conftest import make_meta


def _nb201_csv(tmp_path, name="t.csv"):
    """A CSV table of every NB201 op (line 3 is the first row), and its lines."""
    nb = get_space("nb201")
    rows = [(s, {"latency_ms": 0.01 + 1e-4 * i}) for i, s in enumerate(nb.all_ops())]
    path = tmp_path / name
    LatencyTable.from_rows(make_meta(), rows).save(path)
    return path, path.read_text().splitlines()


def _with_row(path, lines, line_no, column, value):
    """``lines`` with ``column`` of the row on ``line_no`` (1-based) set to ``value``, written to ``path``."""
    df = pd.read_csv(path, skiprows=1, dtype=str, keep_default_na=False)
    df.loc[line_no - 3, column] = value
    path.write_text(lines[0] + "\n" + df.to_csv(index=False, lineterminator="\n"))
    return path


@pytest.mark.parametrize("value", ["-0.59", "0", "nan", "inf", ""])
def test_a_csv_row_without_a_positive_finite_latency_is_refused(tmp_path, capsys, value):
    path, lines = _nb201_csv(tmp_path)
    _with_row(path, lines, 4, "latency_ms", value)
    with pytest.raises(InputError) as info:
        LatencyTable.load(path)
    msg = str(info.value)
    assert str(path) in msg and "line 4" in msg and "latency_ms" in msg and "hwlat profile" in msg
    nb = get_space("nb201")
    assert main(["query", "--space", "nb201", "--table", str(path), nb.example()]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hwlat: error: latency table") and "line 4" in err and "Traceback" not in err


def test_a_negative_statistic_is_refused_with_its_row(tmp_path):
    path, lines = _nb201_csv(tmp_path)
    _with_row(path, lines, 5, "median_ms", "-0.5")
    with pytest.raises(InputError, match=r"median_ms is negative.*line 5 \(.*median_ms -0.5\)"):
        LatencyTable.load(path)


def test_a_key_that_is_not_an_op_key_is_refused(tmp_path, capsys):
    path, lines = _nb201_csv(tmp_path)
    _with_row(path, lines, 3, "key", "conv:garbage")
    with pytest.raises(InputError, match=r"line 3: key 'conv:garbage' is not an op key \(malformed input shape"):
        LatencyTable.load(path)
    assert main(["table", "show", str(path)]) == 1
    assert "conv:garbage" in capsys.readouterr().err


def test_a_parquet_table_with_impossible_rows_names_the_rows(tmp_path):
    good = tmp_path / "good.parquet"
    t = LatencyTable.from_rows(make_meta(), [(S.gap((8, 4, 4)), {"latency_ms": 0.1}),
                                             (S.add((8, 4, 4)), {"latency_ms": 0.2})])
    t.save(good)
    arrow = pq.read_table(good)
    df = arrow.to_pandas()
    df.loc[1, "latency_ms"] = -1.0
    bad = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(arrow.schema.metadata)
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"bad.parquet: latency_ms .* 1 row\(s\): row 2 \(add:8x4x4:n=2, "
                                         r"latency_ms -1\)"):
        LatencyTable.load(tmp_path / "bad.parquet")


@pytest.mark.parametrize("stats, match", [
    ({"latency_ms": 0.0}, "above 0 ms"),
    ({"latency_ms": -0.59}, "above 0 ms"),
    ({"median_ms": -1.0}, "above 0 ms"),  # a row given as a median only: that is its latency
    ({"latency_ms": 1.0, "p90_ms": float("inf")}, "p90_ms .* finite number >= 0"),
    ({"latency_ms": 1.0, "std_ms": -0.1}, "std_ms .* finite number >= 0"),
])
def test_add_refuses_impossible_statistics(stats, match):
    t = LatencyTable(make_meta())
    with pytest.raises(InputError, match=match):
        t.add(S.gap((8, 4, 4)), stats)


def test_a_folder_or_a_pipe_is_not_called_missing(tmp_path, capsys):
    folder = tmp_path / "tables"
    folder.mkdir()
    with pytest.raises(InputError, match="is a folder, not a file"):
        LatencyTable.load(folder)
    fifo = tmp_path / "t.parquet"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"is a pipe \(FIFO\), not a regular file"):
        LatencyTable.load(fifo)  # refused at once: opening it would wait for a writer
    with pytest.raises(InputError, match="does not exist"):
        LatencyTable.load(tmp_path / "nothing.parquet")
    assert main(["table", "show", str(folder)]) == 1
    assert "is a folder, not a file" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_paths_that_are_not_utf8_save_and_load(tmp_path, capsys, suffix):
    folder = tmp_path / os.fsdecode(b"\xffdir")
    t = LatencyTable.from_rows(make_meta(), [(S.gap((8, 4, 4)), {"latency_ms": 0.1})])
    t.save(folder / f"t{suffix}")
    assert LatencyTable.load(folder / f"t{suffix}").lookup(S.gap((8, 4, 4))) == 0.1
    out = folder / f"copy{suffix}"
    assert main(["table", "export", str(folder / f"t{suffix}"), "-o", str(out)]) == 0
    assert LatencyTable.load(out).keys() == t.keys()
    capsys.readouterr()
    with pytest.raises(InputError, match=r"\\xffdir.* does not exist"):  # shown with the byte escaped
        LatencyTable.load(folder / "missing.csv")


@pytest.mark.parametrize("column, value, kind", [
    ("latency_ms", "fast", "a number"),
    ("cout", "x16", "a whole number"),
    ("cout", "16.5", "a whole number"),
    ("unstable", "maybe", "true or false"),
])
def test_a_cell_of_the_wrong_type_names_its_line_and_column(tmp_path, column, value, kind):
    path, lines = _nb201_csv(tmp_path)
    _with_row(path, lines, 6, column, value)
    with pytest.raises(InputError, match=rf"line 6, column {column}: '{value}' is not {kind}"):
        LatencyTable.load(path)
