"""ROC-AUC, PR-AUC, their intervals and calibration from score histograms equal the dense
formulas over all bins, for empty, one-class, single-bin and fully occupied slices."""

from __future__ import annotations

import numpy as np
import pytest

from smo_eval.config.schema_stages import EvaluateConfig
from smo_eval.engine.counting import ScoreGrid, SliceStats
from smo_eval.engine.curves import calibration_bins
from smo_eval.engine.histograms import occupied_bins
from smo_eval.engine.intervals import rank_metrics
from smo_eval.engine.metrics import average_precision, expected_calibration_error, roc_auc
from smo_eval.stages import evaluate as evaluate_module

N_BINS = 64


def _histograms() -> np.ndarray:
    """(S, 2, 64) int32 counts: random slices of every density, and the edge cases."""
    rng = np.random.default_rng(11)
    slices = []
    for density in (0.02, 0.05, 0.1, 0.3, 0.6, 0.9):
        for _ in range(6):
            counts = rng.poisson(rng.uniform(0.5, 20), size=(2, N_BINS))
            counts[:, rng.random(N_BINS) > density] = 0
            slices.append(counts)
    empty = np.zeros((2, N_BINS), dtype=np.int64)
    only_negatives, only_positives = empty.copy(), empty.copy()
    only_negatives[0, [3, 40]] = [5, 2]
    only_positives[1, [10, 11, 63]] = [1, 7, 3]
    single_bin, single_bin_one_class = empty.copy(), empty.copy()
    single_bin[:, 30] = [4, 9]
    single_bin_one_class[1, 0] = 6
    separated = empty.copy()
    separated[0, [2, 5, 9]] = [3, 1, 4]
    separated[1, [50, 61]] = [2, 5]
    everywhere = rng.poisson(8, size=(2, N_BINS))
    everywhere[0, everywhere.sum(axis=0) == 0] = 1  # every bin holds items
    order = rng.permutation(len(slices) + 8)
    edge = [empty, only_negatives, only_positives, single_bin, single_bin_one_class,
            separated, everywhere, empty]
    return np.stack([*slices, *edge])[order].astype(np.int32)


def _dense_calibration(hist: np.ndarray, grid: ScoreGrid, n_bins: int) -> np.ndarray:
    """The former computation: a product with the fine x calibration bins 0/1 matrix."""
    centres = grid.centres
    which = np.minimum((centres * n_bins).astype(np.int64), n_bins - 1)
    assign = np.zeros((len(centres), n_bins))
    assign[np.arange(len(centres)), which] = 1.0
    neg = hist[..., 0, :].astype(np.float64)
    pos = hist[..., 1, :].astype(np.float64)
    return np.stack([(neg + pos) @ assign, ((neg + pos) * centres) @ assign, pos @ assign],
                    axis=-2)


def test_occupied_bins_pack_each_slice_in_bin_order() -> None:
    hist = _histograms()
    packed, bins = occupied_bins(hist)
    occupied = hist.any(axis=1)
    assert packed.dtype == hist.dtype
    assert packed.shape == (len(hist), 2, occupied.sum(axis=1).max()) == (len(hist), 2, N_BINS)
    for s in range(len(hist)):
        k = occupied[s].sum()
        np.testing.assert_array_equal(bins[s, :k], np.flatnonzero(occupied[s]))
        np.testing.assert_array_equal(packed[s][:, :k], hist[s][:, occupied[s]])
        assert (packed[s][:, k:] == 0).all() and (bins[s, k:] == N_BINS - 1).all()
    assert (np.diff(bins, axis=1) >= 0).all()


@pytest.mark.parametrize(("threshold", "n_calib"), [(0.5, 10), (1e-6, 10), (1 - 1e-6, 10),
                                                  (0.5, 1000)])
def test_calibration_bins_equal_the_matrix_product(threshold: float, n_calib: int) -> None:
    """Dense, one slice at a time, or occupied bins only: the counts exactly, the sums of
    scores to rounding. At an extreme threshold the fine bins cover a few calibration bins
    only, with 1,000 calibration bins most lie between two fine bins' centres."""
    hist = _histograms()
    grid = ScoreGrid(threshold, N_BINS)
    expected = _dense_calibration(hist, grid, n_calib)
    if threshold != 0.5 or n_calib > N_BINS:
        assert (expected[:, 0].sum(axis=0) == 0).sum() >= n_calib // 2
    packed, bins = occupied_bins(hist)
    for calib in (calibration_bins(hist, grid, n_calib),
                  calibration_bins(packed, grid, n_calib, bins),
                  np.stack([calibration_bins(h, grid, n_calib) for h in hist])):
        assert calib.shape == (len(hist), 3, n_calib)
        np.testing.assert_array_equal(calib[:, [0, 2]], expected[:, [0, 2]])
        np.testing.assert_allclose(calib[:, 1], expected[:, 1], rtol=1e-13, atol=0)


@pytest.mark.parametrize("block_values", [32, 512, 1 << 20])
def test_histogram_columns_on_occupied_bins_equal_the_dense_formulas(
        monkeypatch: pytest.MonkeyPatch, block_values: int) -> None:
    """In blocks of one slice (each slice wider than the bound), of a few, and of all."""
    monkeypatch.setattr(evaluate_module, "_BLOCK_VALUES", block_values)
    hist = _histograms()
    grid = ScoreGrid(0.5, N_BINS)
    n = len(hist)
    stats = SliceStats(hist, np.zeros((n, 4), np.int64), np.zeros((n, 2)), np.zeros(n), grid)
    cfg = EvaluateConfig()
    got = evaluate_module._histogram_columns(stats, cfg)

    neg, pos = hist[:, 0], hist[:, 1]
    calib = _dense_calibration(hist, grid, cfg.calibration_bins)
    expected = {"roc_auc": roc_auc(neg, pos), "pr_auc": average_precision(neg, pos),
                "ece": expected_calibration_error(calib[:, 0], calib[:, 1], calib[:, 2])}
    for metric, (est, (lo, hi)) in rank_metrics(hist, level=cfg.ci.level).items():
        np.testing.assert_allclose(est, expected[metric], rtol=1e-12, atol=1e-15)
        expected[f"{metric}_lo"], expected[f"{metric}_hi"] = lo, hi
    assert set(got) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(got[name], values, rtol=1e-12, atol=1e-15, err_msg=name)

    both = (neg.sum(axis=1) > 0) & (pos.sum(axis=1) > 0)
    assert 0 < both.sum() < n - 5  # empty and one-class slices are there
    for name in ("roc_auc", "pr_auc", "roc_auc_lo", "roc_auc_hi", "pr_auc_lo", "pr_auc_hi"):
        assert np.array_equal(np.isnan(got[name]), ~both), name
    assert np.array_equal(np.isnan(got["ece"]), hist.sum(axis=(1, 2)) == 0)
    assert (got["roc_auc"][both] == 1.0).any() and (got["pr_auc"][both] == 1.0).any()


@pytest.mark.parametrize(("block_values", "n_blocks"), [(32, 41), (512, 6), (4096, 1)])
def test_blocks_hold_every_slice_with_items_once_within_bounds(
        monkeypatch: pytest.MonkeyPatch, block_values: int, n_blocks: int) -> None:
    """One slice per block when a slice's bins exceed the bound, all in one when they fit."""
    monkeypatch.setattr(evaluate_module, "_BLOCK_VALUES", block_values)
    hist = _histograms()
    occupancy = evaluate_module._occupancy(hist)
    np.testing.assert_array_equal(occupancy, hist.any(axis=1).sum(axis=1))
    blocks = evaluate_module._blocks(occupancy, N_BINS)
    assert len(blocks) == n_blocks
    assert sorted(np.concatenate(blocks)) == list(np.flatnonzero(occupancy))
    for rows in blocks:
        width, least = occupancy[rows].max(), occupancy[rows].min()
        assert len(rows) == 1 or (len(rows) * width <= block_values
                                  and len(rows) <= block_values // N_BINS
                                  and width <= 1.25 * least + 64)
