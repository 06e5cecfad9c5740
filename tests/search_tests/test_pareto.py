"""Pareto fronts: non-dominated sets, NSGA-II sorting, exact 2-D hypervolume, budgets, knee."""

from __future__ import annotations

import numpy as np
import pytest

from hwlat.errors import InputError
from hwlat.search.pareto import (
    ParetoFront,
    crowding_distance,
    hypervolume_2d,
    non_dominated_mask,
    non_dominated_sort,
)


def brute_mask(F: np.ndarray) -> np.ndarray:
    n = len(F)
    out = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i != j and np.all(F[j] <= F[i]) and np.any(F[j] < F[i]):
                out[i] = False
                break
    return out


def brute_hv_2d(F: np.ndarray, ref: tuple[float, float], grid: int = 400) -> float:
    """Monte-Carlo-free check: area on a fine grid of the box [min, ref] (cell centres)."""
    lo = F.min(axis=0)
    xs = np.linspace(lo[0], ref[0], grid + 1)
    ys = np.linspace(lo[1], ref[1], grid + 1)
    cx, cy = (xs[1:] + xs[:-1]) / 2, (ys[1:] + ys[:-1]) / 2
    X, Y = np.meshgrid(cx, cy, indexing="ij")
    dom = np.zeros_like(X, dtype=bool)
    for f in F:
        dom |= (X >= f[0]) & (Y >= f[1])
    return float(dom.sum() * (xs[1] - xs[0]) * (ys[1] - ys[0]))


@pytest.mark.parametrize("k", [2, 3])
def test_non_dominated_mask_matches_brute_force(k):
    rng = np.random.default_rng(k)
    for _ in range(20):
        F = rng.integers(0, 6, size=(40, k)).astype(float)  # many ties and duplicates
        assert (non_dominated_mask(F) == brute_mask(F)).all()


def test_non_dominated_sort_peels_fronts():
    rng = np.random.default_rng(0)
    for k in (2, 3):
        F = rng.random((60, k))
        rank = non_dominated_sort(F)
        left = np.arange(len(F))
        r = 0
        while left.size:
            m = brute_mask(F[left])
            assert (rank[left[m]] == r).all()
            left = left[~m]
            r += 1


def test_pymoo_agrees_on_sorting_and_hypervolume():
    pytest.importorskip("pymoo")
    from pymoo.indicators.hv import HV
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    rng = np.random.default_rng(3)
    F = rng.random((200, 2))
    fronts = NonDominatedSorting().do(F)
    want = np.empty(len(F), dtype=int)
    for r, idx in enumerate(fronts):
        want[idx] = r
    assert (non_dominated_sort(F) == want).all()
    F3 = rng.random((120, 3))
    fronts3 = NonDominatedSorting().do(F3)
    want3 = np.empty(len(F3), dtype=int)
    for r, idx in enumerate(fronts3):
        want3[idx] = r
    assert (non_dominated_sort(F3) == want3).all()
    ref = (1.1, 1.2)
    assert hypervolume_2d(F, ref) == pytest.approx(float(HV(ref_point=np.array(ref))(F)), rel=1e-12)


def test_hypervolume_2d_exact_on_known_cases():
    assert hypervolume_2d([[1.0, 1.0]], (2.0, 3.0)) == pytest.approx(2.0)
    # staircase: (3-1)*(3-2) + (3-2)*(2-1) = 3
    assert hypervolume_2d([[1.0, 2.0], [2.0, 1.0]], (3.0, 3.0)) == pytest.approx(3.0)
    # points beyond the reference and dominated points add nothing
    assert hypervolume_2d([[1.0, 2.0], [2.0, 1.0], [2.5, 2.5], [4.0, 0.0]], (3.0, 3.0)) == pytest.approx(3.0)
    assert hypervolume_2d(np.zeros((0, 2)), (1.0, 1.0)) == 0.0
    rng = np.random.default_rng(1)
    F = rng.random((15, 2))
    assert hypervolume_2d(F, (1.0, 1.0)) == pytest.approx(brute_hv_2d(F, (1.0, 1.0)), abs=5e-3)


def test_front_from_points_best_under_and_knee():
    lat = [1.0, 2.0, 1.5, 3.0, 2.5, 4.0]
    acc = [70.0, 80.0, 69.0, 85.0, 79.0, 85.5]
    arch = ["a", "b", "c", "d", "e", "f"]
    front = ParetoFront.from_points(lat, acc, archs=arch, accuracy_name="test acc")
    df = front.to_frame()
    assert df["arch"].tolist() == ["a", "b", "d", "f"]  # c and e are dominated
    assert (np.diff(df["latency_ms"]) > 0).all()
    assert front.best_under(2.2)["arch"] == "b"
    assert front.best_under(0.5) is None
    table = front.best_under([0.5, 1.0, 3.5, 10.0])
    assert table["budget_ms"].tolist() == [0.5, 1.0, 3.5, 10.0]
    assert np.isnan(table["accuracy"].iloc[0]) and table["arch"].iloc[1:].tolist() == ["a", "d", "f"]
    # knee: scaled points a(0,0) b(1/3,10/15.5) d(2/3,15/15.5) f(1,1): the largest (y - x) is b
    assert front.knee()["arch"] == "b"
    assert front.hypervolume(ref=(5.0, 60.0)) == pytest.approx(
        hypervolume_2d(np.column_stack([[1, 2, 3, 4], -np.array([70, 80, 85, 85.5])]), (5.0, -60.0)))
    assert "test acc" in repr(front)


def test_front_rejects_bad_input():
    with pytest.raises(InputError, match="equal length"):
        ParetoFront.from_points([1.0, 2.0], [1.0])
    with pytest.raises(InputError, match="column 'genes'"):
        ParetoFront.from_points([1.0, 2.0], [1.0, 2.0], genes=[1])
    with pytest.raises(InputError, match="reference point"):
        hypervolume_2d([[1.0, 1.0]], (np.nan, 1.0))


def test_front_drops_nan_points_and_keeps_genes():
    genes = np.array([[0, 1], [1, 0], [2, 2]])
    f = ParetoFront.from_points([1.0, np.nan, 0.5], [50.0, 99.0, 40.0], genes=genes)
    assert len(f) == 2 and [list(g) for g in f.to_frame()["genes"]] == [[2, 2], [0, 1]]


def test_crowding_distance_boundaries_infinite():
    F = np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    d = crowding_distance(F)
    assert np.isinf(d[[0, 3]]).all() and np.isfinite(d[[1, 2]]).all()
    assert d[1] == pytest.approx(d[2])
