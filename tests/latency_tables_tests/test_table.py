from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from hwlat.errors import InputError, MissingEntryError
from hwlat.latency_tables import LatencyTable, TableMetadata
from hwlat.latency_tables.schema import COLUMN_DTYPES, SCHEMA_VERSION
from hwlat.ops import spec as S

from .conftest import example_specs, make_meta, stats

# -- metadata ------------------------------------------------------------------------------------

def test_metadata_round_trips_through_json():
    m = make_meta(extra={"note": "x", "values": (1, 2)})
    d = m.to_dict()
    text = json.dumps(d)  # JSON-safe
    back = TableMetadata.from_dict(json.loads(text))
    assert back.to_dict() == d
    assert back.device["name"] == "cpu-ort-1t" and back.threads == 1 and back.overhead_ms == 0.012
    assert back.schema_version == SCHEMA_VERSION == 2
    assert back.source == "measured"
    assert back.created_utc.endswith("+00:00")
    from hwlat import __version__

    assert back.hwlat_version == __version__


def test_metadata_from_newer_schema_says_to_upgrade():
    d = make_meta().to_dict()
    d["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(InputError, match="upgrade hwlat"):
        TableMetadata.from_dict(d)


def test_metadata_rejects_non_json_values():
    with pytest.raises(InputError, match="JSON"):
        make_meta(extra={"bad": object()}).to_dict()


# -- building and reading --------------------------------------------------------------------------

def test_columns_and_dtypes(table):
    df = table.df
    assert list(df.columns) == list(COLUMN_DTYPES)
    assert {c: str(t) for c, t in df.dtypes.items()} == {c: str(pd.Series([], dtype=t).dtype)
                                                          for c, t in COLUMN_DTYPES.items()}
    assert df["key"].is_unique
    fc = df[df["kind"] == "fc"].iloc[0]
    assert fc["c_in"] == 32 and pd.isna(fc["h_in"]) and pd.isna(fc["w_in"]) and fc["cout"] == 10
    conv = df[df["kind"] == "conv"].iloc[0]
    assert conv["act"] == "relu" and conv["s"] == 2 and pd.isna(conv["mid"]) and pd.isna(conv["mode"])
    add = df[df["kind"] == "add"].iloc[0]
    assert add["n_inputs"] == 2 and add["n"] == 200
    for spec in example_specs():
        row = table.row(spec)
        assert row["flops"] == spec.flops and row["key"] == spec.key


def test_lookup_contains_keys_specs(table):
    specs = example_specs()
    assert len(table) == len(specs)
    assert table.keys() == [s.key for s in specs]
    assert table.specs() == specs
    for i, s in enumerate(specs):
        assert s in table and s.key in table
        assert table.lookup(s) == pytest.approx(0.1 * (i + 1))
        assert table.lookup(s.key) == table.lookup(s)
    # a non-canonical key (defaults omitted, other order) finds the same row
    assert table.lookup("conv:3x32x32:k=3,cout=16,s=2,act=relu") == pytest.approx(0.1)
    assert S.conv((3, 32, 32), 16, 3, 1) not in table
    assert 42 not in table


def test_add_replaces_row(table):
    spec = example_specs()[0]
    n = len(table)
    table.add(spec, stats(7.0, unstable=True, remeasured=2))
    assert len(table) == n
    assert table.lookup(spec) == 7.0
    row = table.row(spec)
    assert row["unstable"] is True and row["remeasured"] == 2 and row["n"] == 200
    new = S.conv((8, 8, 8), 8, 1)
    table.add(new, {"latency_ms": 0.5})
    assert len(table) == n + 1
    row = table.row(new)
    assert math.isnan(row["iqr_ms"]) and row["n"] is None and row["unstable"] is False and row["remeasured"] == 0
    assert math.isnan(row["median_ms"])


def test_df_is_a_copy(table):
    df = table.df
    df.loc[0, "latency_ms"] = 999.0
    assert table.lookup(table.keys()[0]) != 999.0


@pytest.mark.parametrize("bad, match", [
    ({"iqr_ms": 0.1}, "latency_ms"),
    ({"latency_ms": float("nan")}, "finite"),
    ({"latency_ms": 1.0, "median": 1.0}, "unknown statistic"),
    ({"latency_ms": "fast"}, "number"),
    ({"latency_ms": 1.0, "n": -3}, "non-negative"),
])
def test_add_rejects_bad_stats(table, bad, match):
    with pytest.raises(InputError, match=match):
        table.add(S.gap((8, 4, 4)), bad)


def test_missing_entry_names_nearest_keys(table):
    missing = S.conv((3, 32, 32), 16, 3, 1, act="relu")  # stride 1 instead of 2
    with pytest.raises(MissingEntryError) as info:
        table.lookup(missing)
    msg = str(info.value)
    assert missing.key in msg
    # the nearest key is the conv of the same shape; conv rows come first (same kind)
    near = msg.split("nearest keys: ")[1].split("; ")[0].split(", ")
    assert len(near) == 3
    assert near[0] == S.conv((3, 32, 32), 16, 3, 2, act="relu").key
    assert [k.split(":")[0] for k in near] == ["conv", "conv", "conv"]
    assert "hwlat profile" in msg and "--ops FILE" in msg
    with pytest.raises(KeyError):  # MissingEntryError is also a KeyError
        table.lookup("gap:999x1x1")


def test_lookup_on_empty_table_raises():
    t = LatencyTable(make_meta())
    with pytest.raises(MissingEntryError, match="empty"):
        t.lookup(S.gap((8, 4, 4)))


def test_lookup_many(table):
    specs = example_specs()
    got = table.lookup_many([s.key for s in specs] + [specs[0]])
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_allclose(got, [0.1 * (i + 1) for i in range(len(specs))] + [0.1])
    assert table.lookup_many([]).shape == (0,)


def test_get_many_marks_what_is_missing(table):
    specs = example_specs()
    absent = S.gap((100, 4, 4))
    ms, found = table.get_many([specs[1], absent.key, specs[0].key])
    assert ms.dtype == np.float64 and found.dtype == bool
    np.testing.assert_array_equal(found, [True, False, True])
    np.testing.assert_allclose(ms[found], [0.2, 0.1])
    assert np.isnan(ms[1])
    assert table.get_many([])[0].shape == (0,)
    with pytest.raises(InputError, match="unknown column"):
        table.get_many([specs[0]], "nope_ms")


def test_lookup_many_lists_all_missing(table):
    missing = [S.gap((c, 4, 4)).key for c in range(100, 113)]
    with pytest.raises(MissingEntryError) as info:
        table.lookup_many([example_specs()[0].key, *missing, missing[0]])
    msg = str(info.value)
    assert msg.startswith("13 keys have no latency")
    for k in missing[:10]:
        assert k in msg
    assert missing[11] not in msg and "and 3 more" in msg


def test_summary_and_repr(table):
    s = table.summary()
    assert s["rows"] == len(table) and s["device"] == "cpu-ort-1t" and s["kinds"]["conv"] == 3
    json.dumps(s)
    r = repr(table)
    assert "cpu-ort-1t" in r and "onnxruntime 1.32.0" in r and f"rows={len(table)}" in r and "created=" in r


def test_constructor_checks_dataframe(table):
    df = table.df
    again = LatencyTable(table.metadata, df)
    pdt.assert_frame_equal(again.df, df)
    with pytest.raises(InputError, match="duplicate key"):
        LatencyTable(table.metadata, pd.concat([df, df.iloc[:1]]))
    with pytest.raises(InputError, match="missing column"):
        LatencyTable(table.metadata, df.drop(columns=["latency_ms", "median_ms"]))


# -- files ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip(table, tmp_path, suffix):
    table.add(S.conv((4, 8, 8), 4, 3), {"latency_ms": 0.25})  # NaN stats, NA n and time
    path = table.save(tmp_path / f"t{suffix}")
    back = LatencyTable.load(path)
    pdt.assert_frame_equal(back.df, table.df, check_exact=True)
    assert back.metadata == table.metadata
    assert back.lookup(example_specs()[3]) == table.lookup(example_specs()[3])
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip_empty(tmp_path, suffix):
    t = LatencyTable(make_meta())
    back = LatencyTable.load(t.save(tmp_path / f"e{suffix}"))
    assert len(back) == 0
    pdt.assert_frame_equal(back.df, t.df)


def test_csv_first_line_holds_metadata(table, tmp_path):
    p = table.save(tmp_path / "t.csv")
    first, second = p.read_text().splitlines()[:2]
    assert first.startswith("# hwlat-table {")
    assert json.loads(first[len("# hwlat-table "):])["device"]["name"] == "cpu-ort-1t"
    assert second.startswith("key,kind,c_in,h_in,w_in,")


def test_parquet_metadata_in_schema(table, tmp_path):
    import pyarrow.parquet as pq

    p = table.save(tmp_path / "t.parquet")
    meta = pq.read_schema(p).metadata
    assert json.loads(meta[b"hwlat"])["runtime"] == "onnxruntime"


def test_load_errors(table, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pytest.raises(InputError, match="does not exist"):
        LatencyTable.load(tmp_path / "nope.parquet")
    # a Parquet file that is not an hwlat table
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), plain)
    with pytest.raises(InputError, match="plain.parquet.*not an hwlat latency table"):
        LatencyTable.load(plain)
    # a truncated Parquet file
    good = table.save(tmp_path / "good.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(InputError, match="bad.parquet"):
        LatencyTable.load(bad)
    # a CSV without the hwlat line
    csv = tmp_path / "other.csv"
    pd.DataFrame({"key": ["a"], "median_ms": [1.0]}).to_csv(csv, index=False)
    with pytest.raises(InputError, match="other.csv is not an hwlat latency table"):
        LatencyTable.load(csv)
    # corrupt metadata line
    text = table.save(tmp_path / "t.csv").read_text()
    (tmp_path / "c.csv").write_text(text.replace("# hwlat-table {", "# hwlat-table {{", 1))
    with pytest.raises(InputError, match="c.csv.*not valid JSON"):
        LatencyTable.load(tmp_path / "c.csv")
    # a CSV row with a non-numeric latency
    lines = text.splitlines()
    lines[1 + 1] = lines[2].replace(",0.1,", ",fast,", 1)
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="d.csv"):
        LatencyTable.load(tmp_path / "d.csv")
    # newer schema
    d = json.loads(lines[0][len("# hwlat-table "):])
    d["schema_version"] = 99
    (tmp_path / "n.csv").write_text("\n".join(["# hwlat-table " + json.dumps(d), *lines[1:]]) + "\n")
    with pytest.raises(InputError, match="upgrade hwlat"):
        LatencyTable.load(tmp_path / "n.csv")
    with pytest.raises(InputError, match=".parquet"):
        table.save(tmp_path / "t.xlsx")
