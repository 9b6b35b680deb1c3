"""The page benchmark's arithmetic: the 10^6 fit and the rows it prints."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_pages import extrapolate, to_results


def test_extrapolate_is_the_least_squares_line():
    assert extrapolate({200_000: 0.4, 500_000: 1.0}, 1_000_000) == pytest.approx(2.0)
    # three points off a line: the fitted line, not the last segment
    assert extrapolate({1: 1.0, 2: 3.0, 3: 2.0}, 4) == pytest.approx(3.0)


def _timing(first, new):
    return {"first": first, "new": new}


def test_rows_pair_new_and_old_path_and_extrapolate_both():
    pages = {n: {"pages": {"cohort": {"new": _timing([f * 1.0, f * 0.5], [f * 0.2, f * 0.1]),
                                      "old": _timing([f * 4.0, f * 2.0], [f * 2.0, f * 1.0])}},
                 "load": (3.0, 4.0)} for n, f in ((200_000, 1), (500_000, 2))}
    rows = to_results(pages, Path("/old"))
    assert len(rows) == 12  # 2 sizes x (first, new) x (wall, CPU), plus 4 fitted rows
    wall = next(r for r in rows if r.benchmark == "page cohort: new filter (wall)"
                and r.n == 200_000)
    assert (wall.ours_s, wall.baseline_s) == (pytest.approx(0.2), pytest.approx(2.0))
    assert wall.ratio == pytest.approx(10.0)
    fit = next(r for r in rows if r.benchmark == "page cohort: first open (wall), fit")
    assert fit.n == 1_000_000
    assert fit.ours_s == pytest.approx(1.0 + (2.0 - 1.0) / 300_000 * 800_000)
    assert fit.baseline_s == pytest.approx(4.0 + (8.0 - 4.0) / 300_000 * 800_000)
    assert "goal < 3.0 s" in fit.note and "load avg 3.0->4.0" in wall.note


def test_without_an_old_path_the_baseline_is_empty():
    measured = {100_000: {"pages": {"survival": {"new": _timing([1.0, 0.9], [0.25, 0.2])}},
                          "load": (1.0, 1.0)}}
    rows = to_results(measured, None)
    assert len(rows) == 4 and all(r.baseline_s is None for r in rows)
    assert "goal < 0.3 s" in rows[2].note


def test_a_served_first_open_is_a_row_of_its_own_and_an_old_path_without_it_has_none():
    new = dict(_timing([2.0, 1.9], [0.5, 0.4]), served=[1.2, 1.1])
    measured = {1_000_000: {"pages": {"survival": {"new": new, "old": _timing([5.0, 5.0],
                                                                             [2.0, 2.0])}},
                            "load": (1.0, 1.0)}}
    rows = to_results(measured, Path("/old"))
    assert len(rows) == 6
    served = next(r for r in rows if r.benchmark == "page survival: first open, served (wall)")
    assert served.ours_s == pytest.approx(1.2) and served.baseline_s is None
    assert "goal < 3.0 s" in served.note
