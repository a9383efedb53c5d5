"""Confidence intervals by resampling counts (Poisson bootstrap), never rows.

Resampling each count as Poisson(count) is the Poisson bootstrap of the items behind it, so
intervals have the distribution of item-level resampling at a cost of slices x replicates.
Rank metrics resample a coarsened histogram (equal-count score groups per slice) and shift
the replicate distribution onto the fine-grid point estimate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smo_eval.engine.metrics import average_precision, count_metrics, roc_auc

COUNT_METRICS_WITH_CI = ("precision", "recall", "f1", "fpr")
# From this count up a Poisson draw is taken from its normal approximation (skewness <= 0.1):
# five times cheaper, and indistinguishable in a percentile interval.
_NORMAL_FROM = 100.0
# Slices per block when drawing replicates, to bound memory at (block, 2, groups, replicates).
_BLOCK = 32


def _quantiles(replicates: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per slice from (S, R) replicates; NaN where no replicate is defined."""
    alpha = (1.0 - level) / 2.0
    lo = np.full(replicates.shape[0], np.nan)
    hi = np.full(replicates.shape[0], np.nan)
    finite = np.isfinite(replicates)
    complete = finite.all(axis=1)
    if complete.any():
        q = np.quantile(replicates[complete], [alpha, 1 - alpha], axis=1)
        lo[complete], hi[complete] = q
    partial = ~complete & finite.any(axis=1)
    if partial.any():
        q = np.nanquantile(replicates[partial], [alpha, 1 - alpha], axis=1)
        lo[partial], hi[partial] = q
    return lo, hi


def resample_counts(counts: np.ndarray, n_boot: int, rng: np.random.Generator,
                    dtype: type[np.floating] = np.float64) -> np.ndarray:
    """Poisson(count) replicates of every count: (..., K) -> (..., n_boot, K).

    float32 halves the memory traffic of rank-metric replicates (exact for counts < 2**24)."""
    lam: np.ndarray = np.asarray(counts, dtype=dtype)
    shape = (*lam.shape[:-1], n_boot, lam.shape[-1])
    draws: np.ndarray = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)
    draws *= np.sqrt(lam)[..., None, :]
    draws += lam[..., None, :]
    # Small counts get exact Poisson draws (all replicates of one count at once).
    small = np.nonzero(lam < _NORMAL_FROM)
    if small[0].size:
        where: tuple[Any, ...] = (*small[:-1], slice(None), small[-1])
        draws[where] = rng.poisson(lam[small][:, None], size=(small[0].size, n_boot))
    return draws


def count_intervals(cells: np.ndarray, n_boot: int, level: float,
                    rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Intervals of the count metrics from Poisson-resampled confusion cells (S, 4)."""
    reps = count_metrics(resample_counts(cells, n_boot, rng))
    return {m: _quantiles(reps[m], level) for m in COUNT_METRICS_WITH_CI}


def coarsen(hist: np.ndarray, n_groups: int) -> np.ndarray:
    """Merge fine bins (S, 2, B) into at most `n_groups` equal-count groups per slice."""
    s = hist.shape[0]
    total = hist.sum(axis=1).astype(np.float64)
    before = np.cumsum(total, axis=1) - total
    size = np.maximum(total.sum(axis=1, keepdims=True), 1.0)
    group = np.minimum((before * n_groups / size).astype(np.int64), n_groups - 1)
    key = (np.arange(s)[:, None] * n_groups + group).ravel()
    out = np.empty((s, 2, n_groups), dtype=np.float64)
    for label in (0, 1):
        out[:, label] = np.bincount(key, weights=hist[:, label].ravel().astype(np.float64),
                                    minlength=s * n_groups).reshape(s, n_groups)
    return out


def rank_intervals(hist: np.ndarray, point_roc: np.ndarray, point_ap: np.ndarray, n_groups: int,
                   n_boot: int, level: float, rng: np.random.Generator
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Intervals of ROC-AUC and PR-AUC from a Poisson bootstrap of coarsened histograms."""
    coarse = coarsen(hist, n_groups)
    roc_c = roc_auc(coarse[:, 0], coarse[:, 1])
    ap_c = average_precision(coarse[:, 0], coarse[:, 1])
    roc_reps = np.empty((hist.shape[0], n_boot))
    ap_reps = np.empty((hist.shape[0], n_boot))
    for start in range(0, hist.shape[0], _BLOCK):
        block = coarse[start:start + _BLOCK]
        draws = resample_counts(block, n_boot, rng, np.float32)
        roc_reps[start:start + _BLOCK] = roc_auc(draws[:, 0], draws[:, 1])
        ap_reps[start:start + _BLOCK] = average_precision(draws[:, 0], draws[:, 1])
    roc_lo, roc_hi = _quantiles(roc_reps - roc_c[:, None] + point_roc[:, None], level)
    ap_lo, ap_hi = _quantiles(ap_reps - ap_c[:, None] + point_ap[:, None], level)
    return {
        "roc_auc": (np.clip(roc_lo, 0, 1), np.clip(roc_hi, 0, 1)),
        "pr_auc": (np.clip(ap_lo, 0, 1), np.clip(ap_hi, 0, 1)),
    }
