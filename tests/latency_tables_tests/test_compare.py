from __future__ import annotations

import math
import warnings

import pytest

from hwlat.errors import InputError
from hwlat.latency_tables import Coverage, LatencyTable, TableDiff, check_regression, coverage, diff, merge
from hwlat.ops import spec as S

from .conftest import example_specs, make_meta, stats


def _table(medians: dict[S.OpSpec, float], **meta_kw) -> LatencyTable:
    return LatencyTable.from_rows(make_meta(**meta_kw), [(s, stats(m)) for s, m in medians.items()])


SPECS = example_specs()


# -- merge -------------------------------------------------------------------------------------------

def test_merge_prefers_b_by_default_and_records_provenance():
    a = _table({SPECS[0]: 1.0, SPECS[1]: 2.0})
    b = _table({SPECS[1]: 20.0, SPECS[2]: 30.0})
    m = merge(a, b)
    assert len(m) == 3
    assert m.lookup(SPECS[0]) == 1.0 and m.lookup(SPECS[1]) == 20.0 and m.lookup(SPECS[2]) == 30.0
    assert m.metadata.source == "merged"
    assert [p["source"] for p in m.metadata.extra["merged_from"]] == ["measured", "measured"]
    assert m.metadata.extra["merged_from"][0]["device"]["name"] == "cpu-ort-1t"
    # inputs are untouched
    assert a.lookup(SPECS[1]) == 2.0 and SPECS[2] not in a
    m2 = merge(a, b, prefer="a")
    assert m2.lookup(SPECS[1]) == 2.0 and len(m2) == 3
    assert m2.keys()[:2] == a.keys()
    with pytest.raises(InputError, match="prefer"):
        merge(a, b, prefer="c")


@pytest.mark.parametrize("meta_kw, what", [
    ({"name": "pixel4"}, "device name"),
    ({"runtime": "litert"}, "runtime"),
    ({"threads": 4}, "threads"),
])
def test_merge_refuses_different_measurements(meta_kw, what):
    a = _table({SPECS[0]: 1.0})
    b = _table({SPECS[1]: 2.0}, **meta_kw)
    with pytest.raises(InputError, match=f"refusing.*{what}.*force=True"):
        merge(a, b)
    with pytest.warns(UserWarning, match=what):
        m = merge(a, b, force=True)
    assert len(m) == 2
    sources = m.metadata.extra["merged_from"]
    assert len(sources) == 2 and sources[0] != sources[1]


def test_merge_same_device_does_not_warn():
    a = _table({SPECS[0]: 1.0})
    b = _table({SPECS[0]: 1.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert merge(a, b).lookup(SPECS[0]) == 1.5


# -- diff and regression gate -------------------------------------------------------------------

def _pair():
    # a: baseline; b: op0 +10 %, op1 -10 %, op2 +2 %, op3 +0.16 ms (on 4 ms = +4 %), op4 only in a, op5 only in b
    a = _table({SPECS[0]: 1.0, SPECS[1]: 1.0, SPECS[2]: 1.0, SPECS[3]: 4.0, SPECS[4]: 1.0})
    b = _table({SPECS[0]: 1.1, SPECS[1]: 0.9, SPECS[2]: 1.02, SPECS[3]: 4.16, SPECS[5]: 1.0})
    return a, b


def test_diff_rows_and_summary():
    a, b = _pair()
    d = diff(a, b)
    assert isinstance(d, TableDiff)
    assert list(d.rows.columns) == ["key", "kind", "a_ms", "b_ms", "delta_ms", "delta_pct"]
    assert d.only_a == [SPECS[4].key] and d.only_b == [SPECS[5].key]
    r = d.rows.set_index("key")
    assert r.loc[SPECS[0].key, "delta_pct"] == pytest.approx(10.0)
    assert r.loc[SPECS[1].key, "delta_pct"] == pytest.approx(-10.0)
    assert r.loc[SPECS[3].key, "delta_ms"] == pytest.approx(0.16)
    assert r.loc[SPECS[3].key, "kind"] == "mbconv"
    s = d.summary()
    assert s["n_shared"] == 4 and s["n_only_a"] == 1 and s["n_only_b"] == 1
    assert s["median_abs_delta_pct"] == pytest.approx(7.0)  # |Δ%| = 10, 10, 2, 4
    assert s["p90_abs_delta_pct"] == pytest.approx(10.0)
    assert s["max_abs_delta_pct"] == pytest.approx(10.0)


def _flagged(d: TableDiff, rule: str) -> set[str]:
    return set(check_regression(d, rule)["key"])


def test_check_regression_rules():
    a, b = _pair()
    d = diff(a, b)
    k = [s.key for s in SPECS]
    assert _flagged(d, "latency_ms:+5%") == {k[0]}   # +10 % only
    assert _flagged(d, "latency_ms:+1%") == {k[0], k[2], k[3]}
    assert _flagged(d, "latency_ms:-5%") == {k[1]}
    assert _flagged(d, "latency_ms:5%") == {k[0], k[1]}
    assert _flagged(d, "latency_ms:+20%") == set()
    assert _flagged(d, "latency_ms:+0.15ms") == {k[3]}
    assert _flagged(d, " latency_ms : -0.05 ms ") == {k[1]}
    assert _flagged(d, "latency_ms:+0.5ms") == set()
    # other statistics: p90 is 1.2 x median in both tables, so it moves the same way
    assert _flagged(d, "p90_ms:+5%") == {k[0]}
    out = check_regression(d, "latency_ms:+5%,latency_ms:-5%")
    assert set(out["key"]) == {k[0], k[1]} and set(out["rule"]) == {"latency_ms:+5%", "latency_ms:-5%"}
    assert list(check_regression(d, "latency_ms:+50%").columns)[:6] == list(d.rows.columns)


def test_identical_tables_flag_nothing():
    a, _ = _pair()
    d = diff(a, a)
    assert d.summary()["median_abs_delta_pct"] == 0.0
    assert check_regression(d, "latency_ms:0%").empty


def test_nan_statistics_never_flag():
    a = _table({SPECS[0]: 1.0})
    b = LatencyTable.from_rows(make_meta(), [(SPECS[0], {"latency_ms": 2.0})])  # iqr NaN
    d = diff(a, b)
    assert check_regression(d, "iqr_ms:1%").empty
    assert len(check_regression(d, "latency_ms:+1%")) == 1


@pytest.mark.parametrize("rule", ["latency_ms", "latency_ms:+5", "latency_ms:5s", "+5%", "median:+5%",
                                  "latency_ms:++5%", "", "latency_ms:+5%,"])
def test_malformed_rule(rule):
    a, b = _pair()
    with pytest.raises(InputError, match="e.g. 'latency_ms:\\+5%'"):
        check_regression(diff(a, b), rule)


def test_diff_across_machines_warns():
    a = _table({SPECS[0]: 1.0})
    b = _table({SPECS[0]: 1.0}, host={"cpu": "Other CPU", "cores": 8, "os": "Linux"})
    with pytest.warns(UserWarning, match="different machines.*host.*cpu"):
        diff(a, b)
    c = _table({SPECS[0]: 1.0}, name="pixel4")
    with pytest.warns(UserWarning, match="device"):
        diff(a, c)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diff(a, _table({SPECS[0]: 2.0}))


# -- coverage -------------------------------------------------------------------------------------

def test_coverage():
    t = _table({SPECS[0]: 1.0, SPECS[1]: 1.0})
    extra = S.conv((3, 64, 64), 8, 3)
    c = coverage(t, [SPECS[0], SPECS[1], SPECS[1].key, extra, extra])
    assert isinstance(c, Coverage)
    assert (c.n_needed, c.n_present) == (3, 2)
    assert c.missing == [extra]
    assert c.fraction == pytest.approx(2 / 3)
    text = str(c)
    assert "2/3" in text and "66.7 %" in text and extra.key in text
    full = coverage(t, [SPECS[0]])
    assert full.fraction == 1.0 and not full.missing and "nothing missing" in str(full)
    empty = coverage(t, [])
    assert empty.n_needed == 0 and empty.fraction == 1.0
    assert math.isclose(coverage(LatencyTable(make_meta()), SPECS).fraction, 0.0)


def test_diff_same_machine_after_upgrade_does_not_warn():
    host = {"cpu_model": "Test CPU", "cpu_cores_logical": 2, "runtimes": {"onnxruntime": "1.31.0"}, "python": "3.11.7"}
    a = _table({SPECS[0]: 1.0}, host=host)
    b = _table({SPECS[0]: 1.0}, host={**host, "runtimes": {"onnxruntime": "1.32.0"}, "cpu_freq_mhz": 2400.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert diff(a, b).summary()["n_shared"] == 1
