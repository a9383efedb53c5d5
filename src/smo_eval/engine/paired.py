"""Paired sufficient statistics of two models on the same items, and the tests built on them.

Per joint cell one `np.bincount` counts the eight combinations (label, baseline flags,
candidate flags); slices sum cells. Both models' confusion cells, the discordant items of
McNemar's test and a paired bootstrap (the eight counts resampled jointly, so both models
see the same replicate items) all follow from these counts: cost grows with rows once.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from smo_eval.engine.bootstrap import _quantiles as quantiles
from smo_eval.engine.bootstrap import resample_counts
from smo_eval.engine.metrics import count_metrics
from smo_eval.engine.slices import SliceIndex

# Layout of the last axis: index = 4 * label + 2 * baseline_flags + candidate_flags.
N_PAIRED = 8


def paired_index(label: int, base_flag: int, cand_flag: int) -> int:
    return 4 * label + 2 * base_flag + cand_flag


def count_paired(index: SliceIndex, labels: np.ndarray, base_flag: np.ndarray,
                 cand_flag: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """(n_slices, 8) paired counts over `rows` (a boolean mask; all rows when None)."""
    cell = index.cell_of_row.astype(np.int64)
    key = cell * N_PAIRED
    key += labels.astype(np.int64) * 4
    key += base_flag.astype(np.int64) * 2
    key += cand_flag.astype(np.int64)
    if rows is not None:
        key = key[rows]
    per_cell = np.bincount(key, minlength=index.n_cells * N_PAIRED).reshape(index.n_cells,
                                                                             N_PAIRED)
    return index.aggregate(per_cell).round().astype(np.int64)


def split_cells(paired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each model's confusion cells (..., 4) (tn, fp, fn, tp) from paired counts (..., 8)."""
    cube = paired.reshape(*paired.shape[:-1], 2, 2, 2)  # label, base flag, cand flag
    # Two additions, not `sum` over an axis of length 2 (numpy's reduction there is ~5x
    # slower on a million replicates x 8 cells); the same values either way.
    base = (cube[..., 0] + cube[..., 1]).reshape(*paired.shape[:-1], 4)
    cand = (cube[..., 0, :] + cube[..., 1, :]).reshape(*paired.shape[:-1], 4)
    return base, cand


def discordant(paired: np.ndarray, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Items of one label that only the baseline flags, and only the candidate flags."""
    return (paired[..., paired_index(label, 1, 0)], paired[..., paired_index(label, 0, 1)])


def mcnemar_exact(b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Two-sided exact McNemar p-value: binomial test of min(b, c) in b + c trials at 1/2.

    The same statistic as statsmodels' `mcnemar(table, exact=True)`; NaN with no discordant
    items (nothing to test).
    """
    b = np.asarray(b, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    n = b + c
    p = np.minimum(1.0, 2.0 * special.bdtr(np.minimum(b, c), n, 0.5))
    return np.where(n > 0, p, np.nan)


def paired_bootstrap(paired: np.ndarray, metrics: list[str], n_boot: int, level: float,
                     rng: np.random.Generator, block: int = 64
                     ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per metric: (delta_lo, delta_hi, p-value) of candidate minus baseline, per slice.

    The eight counts of a slice are Poisson-resampled together, so each replicate holds the
    same items for both models. The p-value inverts the percentile interval: twice the
    smaller share of replicates on either side of zero (floored at 1 / (n_boot + 1)).
    """
    s = paired.shape[0]
    out = {m: (np.full(s, np.nan), np.full(s, np.nan), np.full(s, np.nan)) for m in metrics}
    for start in range(0, s, block):
        draws = resample_counts(paired[start:start + block], n_boot, rng)
        base, cand = split_cells(draws)
        mb, mc = count_metrics(base), count_metrics(cand)
        sl = slice(start, start + draws.shape[0])
        for metric in metrics:
            delta = mc[metric] - mb[metric]  # (block, n_boot), NaN where undefined
            lo, hi, p = out[metric]
            lo[sl], hi[sl] = quantiles(delta, level)
            finite = np.isfinite(delta)
            ok = finite.sum(axis=1)
            tail = np.minimum((finite & (delta <= 0)).sum(axis=1),
                              (finite & (delta >= 0)).sum(axis=1))
            p[sl] = np.where(ok > 0, np.minimum(1.0, 2.0 * (tail + 1) / (ok + 1)), np.nan)
    return out


def adjust_pvalues(p: np.ndarray, method: str) -> np.ndarray:
    """Benjamini-Hochberg (`fdr_bh`) or Holm (`holm`) adjusted p-values, as statsmodels'
    `multipletests(p, method=...)[1]` computes them (statsmodels alone takes longer to import
    than compare's counting)."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="mergesort")
    ranked = p[order]
    rank = np.arange(1, m + 1)
    if method == "fdr_bh":
        adjusted = np.minimum.accumulate((ranked * m / rank)[::-1])[::-1]
    elif method == "holm":
        adjusted = np.maximum.accumulate(ranked * (m - rank + 1))
    else:
        raise ValueError(f"unknown correction {method!r}")
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out
