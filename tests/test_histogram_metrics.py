"""ROC-AUC, PR-AUC, their intervals and calibration from score histograms equal the dense
formulas over all bins, for empty, one-class, single-bin and fully occupied slices."""

from __future__ import annotations

import numpy as np
import pytest

from smo_eval.engine.counting import ScoreGrid
from smo_eval.engine.curves import calibration_bins

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


@pytest.mark.parametrize(("threshold", "n_calib"), [(0.5, 10), (1e-6, 10), (1 - 1e-6, 10),
                                                  (0.5, 1000)])
def test_calibration_bins_equal_the_matrix_product(threshold: float, n_calib: int) -> None:
    """All slices at once or one at a time: the counts exactly, the sums of scores to
    rounding. At an extreme threshold the fine bins cover a few calibration bins
    only, with 1,000 calibration bins most lie between two fine bins' centres."""
    hist = _histograms()
    grid = ScoreGrid(threshold, N_BINS)
    expected = _dense_calibration(hist, grid, n_calib)
    if threshold != 0.5 or n_calib > N_BINS:
        assert (expected[:, 0].sum(axis=0) == 0).sum() >= n_calib // 2
    for calib in (calibration_bins(hist, grid, n_calib),
                  np.stack([calibration_bins(h, grid, n_calib) for h in hist])):
        assert calib.shape == (len(hist), 3, n_calib)
        np.testing.assert_array_equal(calib[:, [0, 2]], expected[:, [0, 2]])
        np.testing.assert_allclose(calib[:, 1], expected[:, 1], rtol=1e-13, atol=0)
