"""Metrics as plain functions of counts, vectorised over any leading axes (slices, replicates).

Conventions follow scikit-learn: a ratio with an empty denominator is NaN (sklearn warns and
returns 0 or NaN depending on `zero_division`; NaN is the honest value for "undefined").
"""

from __future__ import annotations

import numpy as np

# Order of the four confusion cells on the last axis: index = 2 * label + prediction.
TN, FP, FN, TP = 0, 1, 2, 3


def _floats(values: np.ndarray) -> np.ndarray:
    """Counts as floats: float32 replicates stay float32 (bandwidth), integers become float64."""
    values = np.asarray(values)
    return values if np.issubdtype(values.dtype, np.floating) else values.astype(np.float64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def count_metrics(cells: np.ndarray) -> dict[str, np.ndarray]:
    """precision, recall, F1, FPR and accuracy from confusion cells (..., 4)."""
    tn, fp, fn, tp = (cells[..., i] for i in (TN, FP, FN, TP))
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "fpr": _ratio(fp, fp + tn),
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
    }


# Why a metric has no value in a slice, and which metrics that leaves undefined.
UNDEFINED_BECAUSE = (
    ("no positives", ("recall", "roc_auc", "pr_auc")),
    ("no negatives", ("fpr", "roc_auc", "pr_auc")),
    ("nothing flagged", ("precision",)),
    ("no positives and nothing flagged", ("f1",)),
)


def undefined_metrics(cells: np.ndarray) -> list[str]:
    """Per slice of cells (S, 4): which metrics are undefined and why, e.g.
    "fpr, roc_auc, pr_auc: no negatives"; reasons joined by "; ", "" when all are defined."""
    tn, fp, fn, tp = (np.asarray(cells)[:, i] for i in (TN, FP, FN, TP))
    masks = (tp + fn == 0, tn + fp == 0, tp + fp == 0, tp + fp + fn == 0)
    text = [(mask, f"{', '.join(names)}: {reason}")
            for mask, (reason, names) in zip(masks, UNDEFINED_BECAUSE, strict=True)]
    return ["; ".join(t for mask, t in text if mask[row]) for row in range(len(tn))]


def roc_auc(neg: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """ROC-AUC from per-bin counts ordered by ascending score (ties within a bin count half).

    Equals the Mann-Whitney U statistic over P*N, which is what sklearn's trapezoidal ROC-AUC is.
    """
    neg = _floats(neg)
    pos = _floats(pos)
    below = np.cumsum(neg, axis=-1) - neg
    wins = (pos * (below + 0.5 * neg)).sum(axis=-1)
    return _ratio(wins, pos.sum(axis=-1) * neg.sum(axis=-1))


def average_precision(neg: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Average precision (PR-AUC) as sklearn defines it: sum of precision x recall increments,
    thresholds at each bin from the highest score down.

    NaN without negatives as well as without positives: sklearn returns 1.0 when there are
    no negatives (every threshold has precision 1), which says nothing about ranking.
    """
    neg = _floats(neg)[..., ::-1]
    pos = _floats(pos)[..., ::-1]
    tp = np.cumsum(pos, axis=-1)
    fp = np.cumsum(neg, axis=-1)
    precision = _ratio(tp, tp + fp)
    with np.errstate(invalid="ignore"):
        terms = np.where(pos > 0, precision * pos, 0.0).sum(axis=-1)
    return np.where(fp[..., -1] > 0, _ratio(terms, tp[..., -1]), np.nan)


def brier(sum_sq: np.ndarray, sum_pos_score: np.ndarray, n_pos: np.ndarray,
          n: np.ndarray) -> np.ndarray:
    """Mean squared error of the score: (sum s^2 - 2 sum_{y=1} s + P) / n."""
    return _ratio(sum_sq - 2.0 * sum_pos_score + n_pos, n)


def expected_calibration_error(count: np.ndarray, sum_score: np.ndarray,
                               positives: np.ndarray) -> np.ndarray:
    """ECE over calibration bins on the last axis: sum_m |sum y_m - sum s_m| / n."""
    n = count.sum(axis=-1)
    return _ratio(np.abs(positives - sum_score).sum(axis=-1), n)
