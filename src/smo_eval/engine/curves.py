"""ROC, precision-recall and reliability curves from a slice's fine score histogram."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smo_eval.engine.counting import ScoreGrid


def _thin(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """Keep at most `points` rows, spread along the curve, always keeping both ends."""
    frame = frame.drop_duplicates(subset=[c for c in frame.columns if c != "threshold"])
    if len(frame) <= points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def roc_pr_curves(hist: np.ndarray, grid: ScoreGrid, points: int) -> tuple[pd.DataFrame,
                                                                           pd.DataFrame]:
    """ROC (fpr, tpr) and PR (recall, precision) points at every bin edge, high to low score."""
    neg = hist[0, ::-1].astype(np.float64)
    pos = hist[1, ::-1].astype(np.float64)
    thresholds = grid.edges[:-1][::-1]
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    n_pos, n_neg = max(pos.sum(), 1.0), max(neg.sum(), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), np.nan)
    roc = pd.DataFrame({"threshold": np.r_[1.0, thresholds], "fpr": np.r_[0.0, fp / n_neg],
                        "tpr": np.r_[0.0, tp / n_pos]})
    flagged = (tp + fp) > 0
    pr = pd.DataFrame({"threshold": thresholds[flagged], "recall": (tp / n_pos)[flagged],
                       "precision": precision[flagged]})
    return _thin(roc, points), _thin(pr, points)


def calibration_bins(hist: np.ndarray, grid: ScoreGrid, n_bins: int,
                     bins: np.ndarray | None = None) -> np.ndarray:
    """(..., 3, n_bins) count, sum of scores and positives per equal-width score bin.

    Fine bins are assigned by their centre, and their scores summed at the centre: within
    half a fine bin (< 1e-3) of the per-item computation. `bins` (..., W), ascending along
    the last axis, is the fine bin of each entry on `hist`'s last axis when it holds some
    bins only (`histograms.occupied_bins`); by default it holds all of them in order.

    The assignment is monotone, so each slice's calibration bins are runs of its fine bins:
    one `np.add.reduceat` over the runs per quantity (a product with a fine x calibration
    bins 0/1 matrix costs n_bins times more).
    """
    centres = grid.centres if bins is None else grid.centres[bins]
    which = np.minimum((centres * n_bins).astype(np.int64), n_bins - 1)
    neg, pos = hist[..., 0, :], hist[..., 1, :]
    lead = neg.shape[:-1]
    rows = int(np.prod(lead))
    key = (np.arange(rows).reshape(*lead, 1) * n_bins + which).ravel()
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else key[:0]
    total = (neg + pos).astype(np.float64)
    out = np.zeros((3, rows * n_bins))
    for row, values in zip(out, (total, total * centres, pos.astype(np.float64)), strict=True):
        row[key[starts]] = np.add.reduceat(values.ravel(), starts)
    return np.ascontiguousarray(np.moveaxis(out.reshape(3, *lead, n_bins), 0, -2))


def reliability_curve(calib: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Mean predicted score vs observed rate of violations per calibration bin (one slice)."""
    count, sum_score, positives = calib
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = pd.DataFrame({
            "bin_lower": np.arange(n_bins) / n_bins,
            "bin_upper": (np.arange(n_bins) + 1) / n_bins,
            "mean_score": sum_score / count,
            "observed_rate": positives / count,
            "count": count.astype(np.int64),
        })
    return frame[frame["count"] > 0].reset_index(drop=True)
