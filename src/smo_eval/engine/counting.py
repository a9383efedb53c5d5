"""One pass over the rows of one model: per joint cell, a score histogram per label and sums.

Scores go into fine bins uniform in logit space and aligned so that the decision threshold is
a bin edge: the confusion cells then follow from the histogram exactly, and ROC-AUC, PR-AUC,
curves and calibration from the same counts. Only three `np.bincount` calls touch the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smo_eval.engine.metrics import FN, FP, TN, TP
from smo_eval.engine.slices import SliceIndex

# Logit half-range covered by the bins around the threshold (scores beyond go to the end bins).
LOGIT_HALF_RANGE = 12.0
_EPS = 1e-9


@dataclass(frozen=True)
class ScoreGrid:
    """Fine score bins: bin k covers [edges[k], edges[k+1]); the threshold is edges[n_bins // 2]."""

    threshold: float
    n_bins: int

    @property
    def width(self) -> float:
        return 2 * LOGIT_HALF_RANGE / self.n_bins

    def bin_of(self, scores: np.ndarray) -> np.ndarray:
        s = np.clip(scores.astype(np.float64), _EPS, 1 - _EPS)
        logit = np.log(s) - np.log1p(-s)
        logit -= _logit(self.threshold)
        logit /= self.width
        bins = np.floor(logit, out=logit)
        bins += self.n_bins // 2
        np.clip(bins, 0, self.n_bins - 1, out=bins)
        return bins.astype(np.int64)

    @property
    def edges(self) -> np.ndarray:
        k = np.arange(self.n_bins + 1) - self.n_bins // 2
        return _sigmoid(_logit(self.threshold) + k * self.width)

    @property
    def centres(self) -> np.ndarray:
        k = np.arange(self.n_bins) - self.n_bins // 2 + 0.5
        return _sigmoid(_logit(self.threshold) + k * self.width)


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return float(np.log(p) - np.log1p(-p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class SliceStats:
    """Sufficient statistics of one model per slice; every metric derives from these."""

    hist: np.ndarray      # (S, 2, B) counts of negatives [:, 0] and positives [:, 1] per bin
    cells: np.ndarray     # (S, 4) tn, fp, fn, tp at the model's threshold(s)
    sum_score: np.ndarray  # (S, 2) sum of scores of negatives, positives
    sum_sq: np.ndarray    # (S,) sum of squared scores
    grid: ScoreGrid

    @property
    def n(self) -> np.ndarray:
        return self.cells.sum(axis=1)

    @property
    def n_pos(self) -> np.ndarray:
        return self.cells[:, FN] + self.cells[:, TP]


def count_model(index: SliceIndex, labels: np.ndarray, scores: np.ndarray,
                threshold: float | np.ndarray, n_bins: int) -> SliceStats:
    """Count one model's statistics; rows with a missing score (NaN) are not counted.

    `threshold` is one value, or one per row (per-slice operating points): then the cells are
    counted from the predictions directly and the grid is centred on 0.5.
    """
    scored = ~np.isnan(scores)
    cell = index.cell_of_row
    y = labels.astype(np.int64)
    per_row = np.ndim(threshold) > 0
    if not scored.all():
        cell, y, scores = cell[scored], y[scored], scores[scored]
        if per_row:
            threshold = np.asarray(threshold)[scored]
    grid = ScoreGrid(0.5 if per_row else float(threshold), n_bins)
    j = index.n_cells
    label_key = cell.astype(np.int64) * 2 + y
    key = label_key * n_bins + grid.bin_of(scores)
    hist = np.bincount(key, minlength=j * 2 * n_bins).reshape(j, 2, n_bins)
    s64 = scores.astype(np.float64)
    sum_score = np.bincount(label_key, weights=s64, minlength=2 * j).reshape(j, 2)
    sum_sq = np.bincount(cell, weights=s64 * s64, minlength=j)

    hist_s = index.aggregate(hist).round().astype(np.int64)
    if per_row:
        pred = (s64 >= np.asarray(threshold, dtype=np.float64)).astype(np.int64)
        cells = np.bincount(label_key * 2 + pred, minlength=4 * j).reshape(j, 4)
        cells_s = index.aggregate(cells).round().astype(np.int64)
    else:
        cells_s = _cells_from_hist(hist_s)
    return SliceStats(hist_s, cells_s, index.aggregate(sum_score), index.aggregate(sum_sq),
                      grid)


def _cells_from_hist(hist: np.ndarray) -> np.ndarray:
    """Confusion cells when the threshold is the grid's middle edge."""
    half = hist.shape[-1] // 2
    cells = np.empty((hist.shape[0], 4), dtype=np.int64)
    cells[:, TN] = hist[:, 0, :half].sum(axis=1)
    cells[:, FP] = hist[:, 0, half:].sum(axis=1)
    cells[:, FN] = hist[:, 1, :half].sum(axis=1)
    cells[:, TP] = hist[:, 1, half:].sum(axis=1)
    return cells
