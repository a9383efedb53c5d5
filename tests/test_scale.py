"""The engine's scale pieces against plain references: exact bins, per-slice histograms in
passes (whatever the budget), p-value adjustment, and statistics that do not grow with joint
cells x bins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from smo_eval.engine.counting import ScoreGrid, count_model
from smo_eval.engine.histograms import plan, slice_histograms
from smo_eval.engine.paired import adjust_pvalues
from smo_eval.engine.slices import build_slice_index

DIMS = {"region": 9, "language": 7, "category": 5, "surface": 3}
CROSSES = [["region", "language"], ["language", "category"]]


def _table(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({d: pd.Categorical(rng.integers(0, k, n).astype(str))
                          for d, k in DIMS.items()})
    table.loc[rng.random(n) < 0.05, "language"] = None
    label = (rng.random(n) < 0.2).astype(np.int8)
    score = 1 / (1 + np.exp(-(rng.normal(-1, 2, n) + 2 * label)))
    score[rng.random(n) < 0.1] = 0.5  # ties at the threshold
    return table, label, score.astype(np.float32)


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.97, 1e-8, 0.0, 1.0])
def test_bins_are_the_edges_below_each_score(threshold: float) -> None:
    rng = np.random.default_rng(1)
    scores = np.r_[rng.random(20_000), rng.random(2000) ** 12, 1 - rng.random(2000) ** 12,
                   0.0, 1.0, threshold]
    for values in (scores, scores.astype(np.float32)):
        grid = ScoreGrid(threshold, 4096)
        expected = np.searchsorted(grid.inner_edges, values.astype(np.float64), side="right")
        np.testing.assert_array_equal(grid.bin_of(values), expected)
        assert np.all(np.diff(grid.inner_edges) > 0)


@pytest.mark.parametrize("budget", [1 << 14, 1 << 20, 1 << 30])
def test_slice_histograms_equal_a_count_per_slice(budget: int) -> None:
    """Any memory budget (ranges of combinations, merged passes) gives each slice's rows."""
    table, label, score = _table(30_000)
    index, _ = build_slice_index(table, list(DIMS), CROSSES)
    grid = ScoreGrid(0.5, 64)
    bins = grid.bin_of(score)
    hist = slice_histograms(index, index.cell_of_row, label * 64 + bins, 2, 64, budget)
    for s, key in enumerate(index.keys):
        rows = np.ones(len(table), dtype=bool)
        for dim, value in key:
            rows &= (table[dim].astype(object) == value).to_numpy()
        expected = np.zeros((2, 64), dtype=np.int64)
        np.add.at(expected, (label[rows], bins[rows]), 1)
        np.testing.assert_array_equal(hist[s], expected, str(key))


def test_passes_stay_within_budget_not_joint_cells() -> None:
    """Singles join a pass only while its combinations fit; crosses get their own."""
    table = _table(30_000)[0]
    index, _ = build_slice_index(table, list(DIMS), CROSSES)
    steps = plan(index, 2, 8192, budget=8 * 2 * 8192 * 100)
    served = sorted(tuple(s.dims) for step in steps for s in step.slicings)
    assert served == sorted(tuple(s.dims) for s in index.slicings)
    assert len(steps) < len(index.slicings)
    assert all(set(step.dims) != set(DIMS) for step in steps)  # never the joint cells


def test_statistics_size_is_slices_times_bins() -> None:
    """The result is slices x 2 x bins (int32); the joint cells are far more than slices."""
    table, label, score = _table(60_000)
    index, _ = build_slice_index(table, list(DIMS), CROSSES)
    stats = count_model(index, label, score, 0.5, 1024)
    assert index.n_cells > 2 * len(index.keys)
    assert stats.hist.shape == (len(index.keys), 2, 1024) and stats.hist.dtype == np.int32
    overall = stats.hist[0]
    assert overall.sum() == len(table) and overall[1].sum() == label.sum()
    assert stats.cells[0].tolist() == [
        int(((label == 0) & (score < 0.5)).sum()), int(((label == 0) & (score >= 0.5)).sum()),
        int(((label == 1) & (score < 0.5)).sum()), int(((label == 1) & (score >= 0.5)).sum())]


@pytest.mark.parametrize("method", ["fdr_bh", "holm"])
def test_adjusted_pvalues_match_statsmodels(method: str) -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        p = rng.random(int(rng.integers(1, 80))) ** 3
        p[rng.random(len(p)) < 0.2] = p[0]  # ties
        np.testing.assert_allclose(adjust_pvalues(p, method),
                                   multipletests(p, method=method)[1], rtol=0, atol=1e-15)
