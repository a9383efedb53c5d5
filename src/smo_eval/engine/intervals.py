"""Confidence intervals in closed form from counts, vectorised over slices.

Why not the bootstrap: a percentile bootstrap of counts collapses to [0, 0] or [1, 1] when a
slice has no events (0 false alarms in 123 negatives is not proof of a 0% FPR), under-covers
at small counts, and for the rank metrics cost slices x groups x replicates. Here:

- precision, recall, FPR: Clopper-Pearson (exact binomial), which never under-covers;
- F1: Clopper-Pearson on the Jaccard index J = tp / (tp + fp + fn), mapped through the
  monotone F1 = 2J / (1 + J) (exact, see `count_intervals`);
- ROC-AUC, PR-AUC: the union of a logit interval and a score interval, both from the
  variance the fine histogram gives in one pass (DeLong for ROC-AUC, the delta method for
  PR-AUC), and an exact bound at perfect separation (see `rank_metrics`).

Every interval is NaN where its metric is undefined and has positive width otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from smo_eval.engine.metrics import FN, FP, TN, TP

COUNT_METRICS_WITH_CI = ("precision", "recall", "f1", "fpr")
RANK_METRICS_WITH_CI = ("roc_auc", "pr_auc")
# Pseudo-items per class in the score interval, at the largest dispersion theta(1 - theta) a
# [0, 1] component with mean theta can have (Agresti-Coull's "add two of each", in spirit).
_PSEUDO = 2.0

Interval = tuple[np.ndarray, np.ndarray]


def _tail(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"interval level must be in (0, 1), got {level}")
    return (1.0 - level) / 2.0


def clopper_pearson(successes: np.ndarray, trials: np.ndarray, *, level: float) -> Interval:
    """Exact binomial interval of successes / trials; NaN where trials is 0.

    Beta quantiles (`scipy.special.betaincinv`, what `scipy.stats.beta.ppf` calls; scipy.stats
    alone takes longer to import than a command's counting), the same bounds as scipy's
    `binomtest(...).proportion_ci(method="exact")`. The lower bound is 0 only at 0 successes
    and the upper bound 1 only at `trials` successes, so no interval has zero width.
    """
    tail = _tail(level)
    x, n = np.broadcast_arrays(np.asarray(successes, dtype=np.float64),
                               np.asarray(trials, dtype=np.float64))
    if np.any(x < 0) or np.any(x > n):
        raise ValueError("successes must lie in [0, trials]")
    some, short = x > 0, x < n
    lo = np.where(some, special.betaincinv(np.where(some, x, 1.0), n - x + 1.0, tail), 0.0)
    hi = np.where(short, special.betaincinv(x + 1.0, np.where(short, n - x, 1.0), 1.0 - tail), 1.0)
    defined = n > 0
    return np.where(defined, lo, np.nan), np.where(defined, hi, np.nan)


def count_intervals(cells: np.ndarray, *, level: float) -> dict[str, Interval]:
    """Intervals of precision, recall, F1 and FPR from confusion cells (S, 4).

    F1 is not a proportion, but it is a monotone function of one: F1 = 2J / (1 + J) with
    J = tp / (tp + fp + fn). Given the m = tp + fp + fn items that are positive or flagged,
    tp is Binomial(m, J) when items are sampled independently (true negatives carry no
    information on F1), so the Clopper-Pearson interval of J, mapped through that function,
    covers F1 at least at `level` - at 0 and 1 as well, where a bootstrap reports [0, 0] or
    [1, 1]. With fixed numbers of positives and negatives it is conservative. Width matches a
    bootstrap's away from the edges (same binomial variance, by the delta method).
    """
    cells = np.asarray(cells)
    tn, fp, fn, tp = (cells[..., i] for i in (TN, FP, FN, TP))
    jaccard_lo, jaccard_hi = clopper_pearson(tp, tp + fp + fn, level=level)
    return {
        "precision": clopper_pearson(tp, tp + fp, level=level),
        "recall": clopper_pearson(tp, tp + fn, level=level),
        "f1": (2 * jaccard_lo / (1 + jaccard_lo), 2 * jaccard_hi / (1 + jaccard_hi)),
        "fpr": clopper_pearson(fp, fp + tn, level=level),
    }


@dataclass(frozen=True)
class BinCounts:
    """A histogram's per-bin counts of negatives and positives as float64 (S, B), their
    totals (S,), and cumulative counts: what both rank metrics and their variances are sums
    of, computed once for both."""

    neg: np.ndarray
    pos: np.ndarray
    n_neg: np.ndarray
    n_pos: np.ndarray
    neg_upto: np.ndarray  # negatives in the bin and below
    neg_from: np.ndarray  # negatives in the bin and above: FP at the bin's lower edge
    pos_from: np.ndarray  # positives in the bin and above: TP there


def bin_counts(hist: np.ndarray) -> BinCounts:
    """`BinCounts` of a histogram (S, 2, B), bins in ascending score order.

    Integer counts are summed up in int64, several times faster than in float64 (where the
    latency of each addition bounds a cumulative sum), for the same exact numbers.
    """
    counts = np.asarray(hist)
    if np.issubdtype(counts.dtype, np.integer):
        counts = counts.astype(np.int64)
    upto = np.cumsum(counts, axis=-1)
    totals = counts.sum(axis=-1)
    each = counts.astype(np.float64)
    from_bin = (totals[..., None] - upto).astype(np.float64)
    from_bin += each
    total = totals.astype(np.float64)
    return BinCounts(each[:, 0], each[:, 1], total[:, 0], total[:, 1],
                     upto[:, 0].astype(np.float64), from_bin[:, 0], from_bin[:, 1])


def _safe(den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, den, 1.0)


def delong_components(counts: BinCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC-AUC and DeLong's sums of squared structural components per class.

    A positive in bin k scores P(negative below) + 1/2 P(negative in bin k); a negative
    scores the share of positives above it, ties half. ROC-AUC is the mean of either; DeLong's
    variance is ss_pos / ((P - 1) P) + ss_neg / ((N - 1) N). NaN without both classes.
    """
    neg, pos, n_neg, n_pos = counts.neg, counts.pos, counts.n_neg, counts.n_pos
    v_pos = (counts.neg_upto - 0.5 * neg) / _safe(n_neg)[:, None]
    v_neg = (counts.pos_from - 0.5 * pos) / _safe(n_pos)[:, None]
    auc = (pos * v_pos).sum(axis=1) / _safe(n_pos)
    ss_pos = (pos * (v_pos - auc[:, None]) ** 2).sum(axis=1)
    ss_neg = (neg * (v_neg - auc[:, None]) ** 2).sum(axis=1)
    auc = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
    return auc, ss_pos, ss_neg


def ap_components(counts: BinCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average precision and its delta-method variance, split by class.

    AP = (1/P) sum_k pos_k TP_k / (TP_k + FP_k) with TP_k, FP_k counted from the top bin down
    to bin k (sklearn's definition, ties within a bin). Its derivative with respect to each
    bin's count is a cumulative sum, so the Poisson delta-method variance
    sum_cells count x derivative^2 costs one pass. Returns AP, P^2 times the positives' part
    (a sum of squares of per-positive components, like DeLong's) and the negatives' part.
    NaN without both classes.
    """
    neg, pos, n_neg, n_pos = counts.neg, counts.pos, counts.n_neg, counts.n_pos
    tp, fp = counts.pos_from, counts.neg_from
    flagged = tp + fp
    precision = np.where(flagged > 0, tp / _safe(flagged), 0.0)
    ap = (pos * precision).sum(axis=1) / _safe(n_pos)
    weight = pos / _safe(flagged) ** 2  # zero wherever nothing is flagged (no positives there)
    # P x derivative of AP by one more negative / positive in bin j (bins k <= j see it).
    d_neg = -np.cumsum(weight * tp, axis=1)
    d_pos = precision - ap[:, None] + np.cumsum(weight * fp, axis=1)
    ss_pos = (pos * d_pos**2).sum(axis=1)
    var_neg = (neg * d_neg**2).sum(axis=1) / _safe(n_pos) ** 2
    ap = np.where((n_pos > 0) & (n_neg > 0), ap, np.nan)
    return ap, ss_pos, var_neg


def _logit_interval(est: np.ndarray, var: np.ndarray, z: float) -> Interval:
    """Wald interval on the logit scale (follows the skew of an estimate near 0 or 1); NaN at
    exactly 0 or 1, where the logit is infinite."""
    inside = (est > 0) & (est < 1)
    e = np.where(inside, est, 0.5)
    half = z * np.sqrt(np.maximum(var, 0.0)) / (e * (1 - e))
    centre = special.logit(e)
    lo, hi = special.expit(centre - half), special.expit(centre + half)
    return np.where(inside, lo, np.nan), np.where(inside, hi, np.nan)


def _pseudo_variance(ss: np.ndarray, n: np.ndarray, est: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients (c0, c1, c2) in theta of one class's variance term
    [ss + n (est - theta)^2 + PSEUDO theta (1 - theta)] / ((n - 1 + PSEUDO) n):
    the components' dispersion about a hypothesised theta, plus pseudo-items at the largest
    dispersion a [0, 1] component with mean theta can have. The pseudo-items keep a class
    that happened to draw no discordant item from claiming a variance near 0."""
    den = (n - 1 + _PSEUDO) * _safe(n)
    return (ss + n * est**2) / den, (_PSEUDO - 2 * n * est) / den, (n - _PSEUDO) / den


def _score_interval(est: np.ndarray, c0: np.ndarray, c1: np.ndarray, c2: np.ndarray,
                    z: float) -> Interval:
    """{theta in [0, 1] : (est - theta)^2 <= z^2 (c0 + c1 theta + c2 theta^2)}, a quadratic.

    It holds at theta = est, so the roots bracket est; when the quadratic opens downwards
    (a class of one or two items) every theta qualifies and the interval is [0, 1].
    """
    a = 1 - z * z * c2
    b = -2 * est - z * z * c1
    c = est**2 - z * z * c0
    root = np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))
    opens_up = a > 0
    a = np.where(opens_up, a, 1.0)
    lo = np.where(opens_up, np.clip((-b - root) / (2 * a), 0.0, 1.0), 0.0)
    hi = np.where(opens_up, np.clip((-b + root) / (2 * a), 0.0, 1.0), 1.0)
    return lo, hi


def _separation_bound(est: np.ndarray, n_pos: np.ndarray, n_neg: np.ndarray,
                      tail: float) -> Interval:
    """Exact bound at perfect separation (est 1) or its mirror (est 0); NaN elsewhere.

    Perfect separation needs, in particular, k = min(P, N) disjoint positive-negative pairs
    all ordered correctly, which has probability AUC^k: so AUC >= tail^(1/k) whatever the
    score distributions. The same k serves PR-AUC, which is 1 exactly at perfect separation.
    """
    k = np.maximum(np.minimum(n_pos, n_neg), 1.0)
    bound = tail ** (1.0 / k)
    lo = np.where(est >= 1, bound, np.where(est <= 0, 0.0, np.nan))
    hi = np.where(est >= 1, 1.0, np.where(est <= 0, 1 - bound, np.nan))
    return lo, hi


def _union(*intervals: Interval) -> Interval:
    lo = np.fmin.reduce([i[0] for i in intervals])
    hi = np.fmax.reduce([i[1] for i in intervals])
    return lo, hi


def rank_metrics(hist: np.ndarray, *, level: float) -> dict[str, tuple[np.ndarray, Interval]]:
    """ROC-AUC and PR-AUC per slice with their intervals, from fine score histograms (S, 2, B):
    {"roc_auc": (estimate, (lo, hi)), "pr_auc": ...}.

    The estimates are the ones the intervals are built around (`delong_components`,
    `ap_components`), computed once: they equal `metrics.roc_auc` and
    `metrics.average_precision` (same formulas, NaN without both classes) to rounding.
    Bins empty in both classes contribute nothing, so `hist` may hold only each slice's
    occupied bins, in score order (`histograms.occupied_bins`): cost slices x occupied bins.

    One pass over the bins (no replicates). Each interval is the union of two from the same
    variance:

    - logit: Wald on the logit scale with DeLong's variance (ROC-AUC) or the delta-method
      variance (PR-AUC); it follows the left skew of a high AUC in large samples;
    - score: the values theta not rejected by (est - theta)^2 <= z^2 V(theta), where V
      measures the positives' (and for ROC-AUC the negatives') components about theta and
      adds two pseudo-items per class (`_pseudo_variance`); it stays honest with few items
      and near 0 or 1, where the logit interval is too narrow.

    At perfect separation the sample shows no spread at all, and the exact bound of
    `_separation_bound`, which holds whatever the score distributions, joins the union.
    Coverage of the union on simulated binormal scores is
    tested (tests/test_rank_intervals.py). No interval can see items a sample did not draw:
    when a few percent of the positives score like negatives and a slice has drawn none of
    them, it is too narrow, like any interval built from the sample's own spread.
    """
    tail = _tail(level)
    z = float(special.ndtri(1 - tail))
    counts = bin_counts(hist)
    n_neg, n_pos = counts.n_neg, counts.n_pos
    defined = (n_pos > 0) & (n_neg > 0)

    auc, ss_pos, ss_neg = delong_components(counts)
    var = (ss_pos / (np.maximum(n_pos - 1, 1) * _safe(n_pos))
           + ss_neg / (np.maximum(n_neg - 1, 1) * _safe(n_neg)))
    p0, p1, p2 = _pseudo_variance(ss_pos, n_pos, auc)
    q0, q1, q2 = _pseudo_variance(ss_neg, n_neg, auc)
    roc = _union(_logit_interval(auc, var, z), _score_interval(auc, p0 + q0, p1 + q1, p2 + q2, z),
                 _separation_bound(auc, n_pos, n_neg, tail))

    ap, ss_ap, var_neg = ap_components(counts)
    var_ap = ss_ap / _safe(n_pos) ** 2 + var_neg
    a0, a1, a2 = _pseudo_variance(ss_ap, n_pos, ap)
    pr = _union(_logit_interval(ap, var_ap, z), _score_interval(ap, a0 + var_neg, a1, a2, z),
                _separation_bound(ap, n_pos, n_neg, tail))

    def masked(interval: Interval) -> Interval:
        return np.where(defined, interval[0], np.nan), np.where(defined, interval[1], np.nan)

    return {"roc_auc": (auc, masked(roc)), "pr_auc": (ap, masked(pr))}
