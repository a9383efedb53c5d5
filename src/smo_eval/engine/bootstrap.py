"""Poisson bootstrap of counts, never rows (paired comparisons resample their 8 cells).

Resampling each count as Poisson(count) is the Poisson bootstrap of the items behind it, so
replicates have the distribution of item-level resampling at a cost of slices x replicates.
The intervals of single-model metrics are closed form (`engine/intervals.py`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# From this count up a Poisson draw is taken from its normal approximation (skewness <= 0.1):
# five times cheaper, and indistinguishable in a percentile interval.
_NORMAL_FROM = 100.0


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


def resample_counts(counts: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Poisson(count) replicates of every count: (..., K) -> (..., n_boot, K)."""
    lam: np.ndarray = np.asarray(counts, dtype=np.float64)
    shape = (*lam.shape[:-1], n_boot, lam.shape[-1])
    draws: np.ndarray = rng.standard_normal(shape, dtype=np.float32).astype(np.float64)
    draws *= np.sqrt(lam)[..., None, :]
    draws += lam[..., None, :]
    # Small counts get exact Poisson draws (all replicates of one count at once).
    small = np.nonzero(lam < _NORMAL_FROM)
    if small[0].size:
        where: tuple[Any, ...] = (*small[:-1], slice(None), small[-1])
        draws[where] = rng.poisson(lam[small][:, None], size=(small[0].size, n_boot))
    return draws
