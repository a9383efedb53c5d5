"""The sufficient statistics of one model per slice: confusion cells, sums and score histograms.

Scores go into fine bins uniform in logit space and aligned so that the decision threshold is
a bin edge: ROC-AUC, PR-AUC, curves and calibration come from the histogram, the confusion
cells (counted per joint cell, a few numbers each) agree with it exactly. A few
`np.bincount` calls touch the rows; nothing grows with joint cells x bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smo_eval.engine.histograms import slice_histograms
from smo_eval.engine.metrics import FN, TP
from smo_eval.engine.slices import SliceIndex

# Logit half-range covered by the bins around the threshold (scores beyond go to the end bins).
LOGIT_HALF_RANGE = 12.0
_EPS = 1e-9
# The grid's middle edge stays this far from 0 and 1.
_CENTRE_MIN = 1e-6


@dataclass(frozen=True)
class ScoreGrid:
    """Fine score bins: bin k covers [edges[k], edges[k+1]); the threshold is edges[n_bins // 2].

    A score's bin is the number of inner edges at or below it (`bin_of`), compared in float64:
    every engine backend finds the same bin for the same score (the SQL backends correct an
    approximate bin against the same edges), and the confusion cells at the threshold follow
    from the histogram exactly.
    """

    threshold: float
    n_bins: int

    @property
    def width(self) -> float:
        return 2 * LOGIT_HALF_RANGE / self.n_bins

    @property
    def centre(self) -> float:
        """The middle edge: the threshold, kept off 0 and 1 so that the edges stay distinct
        (at a threshold of 0 or 1 the confusion cells are counted from the scores directly)."""
        return min(max(float(self.threshold), _CENTRE_MIN), 1.0 - _CENTRE_MIN)

    @property
    def inner_edges(self) -> np.ndarray:
        """edges[1:-1] (n_bins - 1 increasing values), the middle one exactly `centre`."""
        k = np.arange(1, self.n_bins) - self.n_bins // 2
        inner = _sigmoid(_logit(self.centre) + k * self.width)
        inner[self.n_bins // 2 - 1] = self.centre
        return inner

    def bin_of(self, scores: np.ndarray) -> np.ndarray:
        """int64 bin per score: the number of inner edges at or below it (NaN: leave out first).

        A float32 logit of the score lands within a bin of the right one; one comparison
        with each edge of that bin (float64) confirms it, and the few scores it misses (at an
        edge, or float64 scores finer than float32 near 0 and 1) are found by binary search.
        Same answer as `np.searchsorted(inner_edges, scores, "right")`, several times faster.
        """
        inner = self.inner_edges
        s = np.asarray(scores)
        x = np.clip(s.astype(np.float32), np.float32(inner[0]),
                    min(np.float32(inner[-1]), np.nextafter(np.float32(1), np.float32(0))))
        approx = np.log(x)
        approx -= np.log1p(-x)
        approx -= np.float32(_logit(self.centre))
        approx *= np.float32(1.0 / self.width)
        approx += np.float32(self.n_bins // 2)
        np.clip(approx, 0, self.n_bins - 1, out=approx)
        bins = approx.astype(np.int64)
        del approx, x
        s64 = s.astype(np.float64, copy=False)
        miss = (s64 < np.r_[-np.inf, inner][bins]) | (s64 >= np.r_[inner, np.inf][bins])
        if miss.any():
            bins[miss] = np.searchsorted(inner, s64[miss], side="right")
        return bins

    @property
    def edges(self) -> np.ndarray:
        return np.r_[_sigmoid(_logit(self.centre) - LOGIT_HALF_RANGE), self.inner_edges,
                     _sigmoid(_logit(self.centre) + LOGIT_HALF_RANGE)]

    @property
    def centres(self) -> np.ndarray:
        k = np.arange(self.n_bins) - self.n_bins // 2 + 0.5
        return _sigmoid(_logit(self.centre) + k * self.width)


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return float(np.log(p) - np.log1p(-p))


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
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

    `threshold` is one value, or one per row (per-slice operating points): then the grid is
    centred on 0.5. Confusion cells and sums are counted per joint cell and summed into
    slices; histograms per slice directly (`engine.histograms`), never per joint cell. Rows
    are taken a chunk at a time, so temporaries stay a few chunk-sized arrays.
    """
    per_row = np.ndim(threshold) > 0
    grid = ScoreGrid(0.5 if per_row else float(threshold), n_bins)
    scored = ~np.isnan(scores)
    n_scored = int(scored.sum())
    cells = index.cell_of_row if n_scored == len(scores) else index.cell_of_row[scored]
    class_bin = np.empty(n_scored, dtype=np.int32)  # label * n_bins + bin, scored rows only
    per_cell = PerCell.zeros(index.n_cells)
    done = 0
    for start in range(0, len(scores), _CHUNK):
        part = slice(start, start + _CHUNK)
        ok = scored[part]
        s64 = scores[part][ok].astype(np.float64)
        y = labels[part][ok].astype(np.int64)
        t = np.asarray(threshold, dtype=np.float64)
        flag = (s64 >= (t[part][ok] if per_row else t)).astype(np.int64)
        cell = cells[done:done + len(s64)]
        per_cell.add(cell, y, flag, s64)
        bins = grid.bin_of(s64)
        bins += y * n_bins
        class_bin[done:done + len(s64)] = bins
        done += len(s64)
    hist = slice_histograms(index, cells, class_bin, 2, n_bins)
    return per_cell.to_slices(index, hist, grid)


# Rows per chunk of the counting pass.
_CHUNK = 1 << 20


@dataclass
class PerCell:
    """Per joint cell: confusion cells (J, 4), sums of scores by label (J, 2), sum of squares.

    Small (a few numbers per joint cell), so every backend returns these and slices sum them;
    counts of row chunks (or partitions) add up.
    """

    cells: np.ndarray
    sum_score: np.ndarray
    sum_sq: np.ndarray

    @classmethod
    def zeros(cls, n_cells: int) -> PerCell:
        return cls(np.zeros((n_cells, 4), np.int64), np.zeros((n_cells, 2)), np.zeros(n_cells))

    def add(self, cell: np.ndarray, label: np.ndarray, flag: np.ndarray,
            scores: np.ndarray) -> None:
        n_cells = len(self.sum_sq)
        label_key = cell.astype(np.int64) * 2 + label
        self.cells += np.bincount(label_key * 2 + flag, minlength=4 * n_cells).reshape(n_cells, 4)
        self.sum_score += np.bincount(label_key, weights=scores,
                                      minlength=2 * n_cells).reshape(n_cells, 2)
        self.sum_sq += np.bincount(cell, weights=scores * scores, minlength=n_cells)

    def to_slices(self, index: SliceIndex, hist: np.ndarray, grid: ScoreGrid) -> SliceStats:
        cells = index.aggregate(self.cells.astype(np.float64)).round().astype(np.int64)
        return SliceStats(hist, cells, index.aggregate(self.sum_score),
                          index.aggregate(self.sum_sq), grid)
