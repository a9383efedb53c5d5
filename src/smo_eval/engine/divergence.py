"""Effect sizes and p-values between two distributions, vectorised over many slices at once.

Every function takes count matrices of shape (S, K): S slices (or columns), K categories or
fine histogram bins, one matrix per window. Effect sizes (PSI, Jensen-Shannon distance,
normalised Wasserstein) measure how far a distribution moved and do not grow with the sample;
p-values (chi-square, Kolmogorov-Smirnov) say whether the move is more than sampling noise and
shrink with the sample. Drift alarms use the first and show the second beside it.

Definitions follow Evidently 0.7 so its report and these numbers agree: JS distance with the
natural log (scipy's `jensenshannon`), PSI over reference-quantile bins with empty bins set to
a small share, Wasserstein distance divided by the reference standard deviation.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

EFFECT_METHODS = ("psi", "jensenshannon", "wasserstein")
# Share given to an empty bin in PSI, as Evidently does, so one empty bin does not give inf.
_EMPTY_SHARE = 1e-4


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.maximum(total, 1), np.nan)


def psi(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Population stability index per row: sum (c - r) ln(c / r) over bins."""
    r = np.where(ref > 0, _shares(ref), _EMPTY_SHARE)
    c = np.where(cur > 0, _shares(cur), _EMPTY_SHARE)
    value = ((c - r) * np.log(c / r)).sum(axis=-1)
    return np.where((ref.sum(axis=-1) > 0) & (cur.sum(axis=-1) > 0), value, np.nan)


def js_distance(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance per row (square root of the divergence, natural log)."""
    r, c = _shares(ref), _shares(cur)
    m = (r + c) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        kl_r = np.where(r > 0, r * np.log(r / m), 0.0).sum(axis=-1)
        kl_c = np.where(c > 0, c * np.log(c / m), 0.0).sum(axis=-1)
    return np.sqrt(np.maximum((kl_r + kl_c) / 2, 0.0))


def wasserstein_normed(ref: np.ndarray, cur: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Earth mover's distance between two fine histograms over `centres`, divided by the
    reference standard deviation (Evidently's `wasserstein`), per row."""
    r, c = _shares(ref), _shares(cur)
    gaps = np.diff(centres)
    distance = (np.abs(np.cumsum(r - c, axis=-1)[..., :-1]) * gaps).sum(axis=-1)
    mean = (r * centres).sum(axis=-1, keepdims=True)
    std = np.sqrt((r * (centres - mean) ** 2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std > 0, distance / std, np.where(distance > 0, np.inf, 0.0))


def chi2_pvalue(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """p-value of the chi-square test that both windows share one distribution, per row."""
    table = np.stack([ref, cur], axis=-2).astype(np.float64)  # (S, 2, K)
    col = table.sum(axis=-2, keepdims=True)
    row = table.sum(axis=-1, keepdims=True)
    total = np.maximum(row.sum(axis=-2, keepdims=True), 1.0)
    expected = row * col / total
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)
    stat = terms.sum(axis=(-2, -1))
    df = (col[..., 0, :] > 0).sum(axis=-1) - 1
    p = stats.chi2.sf(stat, np.maximum(df, 1))
    valid = (df > 0) & (row[..., 0, 0] > 0) & (row[..., 1, 0] > 0)
    return np.where(valid, p, np.where(df == 0, 1.0, np.nan))


def ks_pvalue(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kolmogorov-Smirnov statistic and asymptotic p-value from fine histograms, per row.

    Ties inside a fine bin are counted as equal values, so D is the KS statistic of the
    binned scores (identical to the raw one when no bin holds values of both windows that
    straddle another window's value).
    """
    n_r, n_c = ref.sum(axis=-1), cur.sum(axis=-1)
    d = np.abs(np.cumsum(_shares(ref) - _shares(cur), axis=-1)).max(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        en = n_r * n_c / (n_r + n_c)
        p = stats.kstwo.sf(d, np.maximum(np.round(en), 1))  # as scipy's ks_2samp (asymp)
    valid = (n_r > 0) & (n_c > 0)
    return np.where(valid, d, np.nan), np.where(valid, p, np.nan)


def quantile_bins(ref: np.ndarray, cur: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge fine histograms (S, B) into at most `n_bins` bins of equal reference share per
    row (reference deciles for n_bins=10), the usual PSI binning; returns (ref, cur) (S, n_bins).
    """
    s = ref.shape[0]
    before = np.cumsum(ref, axis=1) - ref
    total = np.maximum(ref.sum(axis=1, keepdims=True), 1)
    group = np.minimum((before * n_bins // total).astype(np.int64), n_bins - 1)
    key = (np.arange(s)[:, None] * n_bins + group).ravel()
    size = s * n_bins
    merged_ref = np.bincount(key, weights=ref.ravel().astype(np.float64), minlength=size)
    merged_cur = np.bincount(key, weights=cur.ravel().astype(np.float64), minlength=size)
    return merged_ref.reshape(s, n_bins), merged_cur.reshape(s, n_bins)


def effect(method: str, ref: np.ndarray, cur: np.ndarray, centres: np.ndarray | None = None,
           psi_bins: int = 10) -> np.ndarray:
    """Effect size `method` per row. For fine histograms pass their bin `centres`: PSI then
    uses reference-quantile bins; without centres the K columns are categories."""
    if method == "jensenshannon":
        return js_distance(ref, cur)
    if method == "psi":
        if centres is not None:
            ref, cur = quantile_bins(ref, cur, psi_bins)
        return psi(ref, cur)
    if method == "wasserstein":
        if centres is None:
            raise ValueError("wasserstein needs a numeric column")
        return wasserstein_normed(ref, cur, centres)
    raise ValueError(f"unknown effect-size method {method!r}; known: {list(EFFECT_METHODS)}")


def p_value(ref: np.ndarray, cur: np.ndarray, numeric: bool) -> np.ndarray:
    """The significance test shown beside an effect: KS for numbers, chi-square for categories."""
    return ks_pvalue(ref, cur)[1] if numeric else chi2_pvalue(ref, cur)
