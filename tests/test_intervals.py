"""Intervals of the count metrics (precision, recall, F1, FPR) are honest at the edges.

The grid below draws each simulated evaluation set's confusion cells directly (binomial), as
one table of many slices through the engine's `count_intervals`, the function evaluate calls:
10,000-item slices x 2,000 repetitions would be 10^9 rows through the row counter, whose
counts are checked item by item against scikit-learn in test_engine.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import EvaluateConfig
from smo_eval.engine.intervals import clopper_pearson, count_intervals
from smo_eval.engine.metrics import FN, FP, TN, TP
from smo_eval.stages.evaluate import evaluate

RATES = (0.0, 0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0)
SIZES = (10, 30, 100, 1000, 10_000)
REPETITIONS = 2000
EVAL_CFG = EvaluateConfig()


def test_recall_and_fpr_cover_the_true_rate_at_every_rate_and_size() -> None:
    """95% intervals of recall and FPR cover the true rate in >= 93% of 2,000 repetitions at
    each of 8 rates x 5 sizes, including 0 and 1, and never have zero width.

    With 2,000 repetitions the standard error of an observed coverage near 95% is 0.49
    points, so 93% sits four standard errors below the nominal level: a method that is
    honest passes, one that collapses at the edges (a bootstrap gives [0, 0] whenever no
    event is drawn: 37% of the time at rate 0.01 and size 100) fails by far. Clopper-Pearson's
    exact coverage on this grid is at least 95.08% (at size 10,000, rate 0.1 or 0.9)."""
    rng = np.random.default_rng(7)
    rate, size = (g.ravel() for g in np.meshgrid(RATES, SIZES, indexing="ij"))
    rate, size = np.repeat(rate, REPETITIONS), np.repeat(size, REPETITIONS)
    # Each slice has `size` positives flagged at the true recall and `size` negatives flagged
    # at the true FPR (the same rate, so one slice serves both metrics at one grid point).
    cells = np.zeros((len(rate), 4), dtype=np.int64)
    cells[:, TP] = rng.binomial(size, rate)
    cells[:, FN] = size - cells[:, TP]
    cells[:, FP] = rng.binomial(size, rate)
    cells[:, TN] = size - cells[:, FP]
    intervals = count_intervals(cells, level=0.95)
    frame = pd.DataFrame({"rate": rate, "size": size})
    for metric in ("recall", "fpr"):
        lo, hi = intervals[metric]
        assert (hi > lo).all(), metric
        frame[metric] = (lo <= rate) & (rate <= hi)
    coverage = frame.groupby(["rate", "size"])[["recall", "fpr"]].mean()
    assert len(coverage) == len(RATES) * len(SIZES)
    worst = coverage.min()
    assert (worst >= 0.93).all(), coverage.loc[(coverage < 0.93).any(axis=1)]
    assert (coverage.mean() <= 0.99).all(), coverage.mean()  # not trivially wide either


def test_bounds_equal_scipys_exact_binomial_interval() -> None:
    cases = [(0, 5), (0, 123), (3, 10), (10, 10), (57, 300), (1, 1000), (999, 1000)]
    lo, hi = clopper_pearson(np.array([x for x, _ in cases]), np.array([n for _, n in cases]),
                             level=0.95)
    for (x, n), low, high in zip(cases, lo, hi, strict=True):
        ci = binomtest(x, n).proportion_ci(confidence_level=0.95, method="exact")
        assert low == pytest.approx(ci.low, abs=1e-9) and high == pytest.approx(ci.high, abs=1e-9)
    # Through the cells: precision is tp of flagged, recall tp of positives, FPR fp of negatives.
    cells = np.array([[123, 0, 4, 6], [40, 7, 0, 13]])  # tn, fp, fn, tp
    intervals = count_intervals(cells, level=0.9)
    for row, (tn, fp, fn, tp) in enumerate(cells):
        for metric, x, n in (("precision", tp, tp + fp), ("recall", tp, tp + fn),
                             ("fpr", fp, fp + tn)):
            ci = binomtest(int(x), int(n)).proportion_ci(confidence_level=0.9, method="exact")
            assert intervals[metric][0][row] == pytest.approx(ci.low, abs=1e-9), metric
            assert intervals[metric][1][row] == pytest.approx(ci.high, abs=1e-9), metric


def test_no_false_alarm_in_123_negatives_is_not_a_zero_fpr() -> None:
    """The case a gate ceiling fpr_hi <= 0.02 wrongly passed: exact upper bound 2.95%,
    through evaluate (slice table columns) as well as the engine."""
    table = pd.DataFrame({"label": np.r_[np.zeros(123), np.ones(30)].astype("int8"),
                          "site": "a"})
    scores = pd.DataFrame({"m": np.r_[np.full(123, 0.1), np.full(27, 0.9), np.full(3, 0.2)]})
    frame = evaluate(table, scores, EVAL_CFG, SlicingConfig(["site"], [])).slice_metrics
    row = frame[frame["slice"] == "site=a"].iloc[0]
    assert (row.fp, row.tn, row.fpr, row.fpr_lo) == (0, 123, 0.0, 0.0)
    assert row.fpr_hi == pytest.approx(0.0295, abs=1e-4)
    assert row.fpr_hi > 0.02
    assert row.precision == 1.0 and row.precision_hi == 1.0
    assert row.precision_lo == pytest.approx(0.025 ** (1 / 27))  # 27 of 27 flagged are right


def test_undefined_proportions_are_nan() -> None:
    cells = np.array([[5, 0, 0, 0], [0, 0, 3, 0], [0, 0, 0, 0]])  # tn, fp, fn, tp
    intervals = count_intervals(cells, level=0.95)
    # Row 0: no positives, nothing flagged; row 1: no negatives, nothing flagged; row 2: empty.
    for metric, undefined in (("recall", [1, 0, 1]), ("fpr", [0, 1, 1]),
                              ("precision", [1, 1, 1]), ("f1", [1, 0, 1])):
        for side in intervals[metric]:
            assert np.isnan(side).tolist() == [bool(u) for u in undefined], metric
    assert intervals["recall"][1][1] == pytest.approx(1 - 0.025 ** (1 / 3))  # 0 of 3 found


F1_SETTINGS = [  # (recall, fpr) with 20% positives: F1 from about 0.02 to exactly 1
    (0.01, 0.001), (0.5, 0.1), (0.9, 0.01), (0.99, 0.001), (1.0, 0.0)]


def test_f1_interval_covers_at_the_edges_and_has_width() -> None:
    """F1 at 5 operating points x 3 sizes, 2,000 multinomial repetitions each (standard
    error 0.49 points): coverage >= 93%, and no zero-width interval where F1 is defined."""
    rng = np.random.default_rng(3)
    for n in (30, 300, 3000):
        for recall, fpr in F1_SETTINGS:
            probs = np.array([0.8 * (1 - fpr), 0.8 * fpr, 0.2 * (1 - recall), 0.2 * recall])
            cells = rng.multinomial(n, probs, size=REPETITIONS)
            truth = 2 * probs[TP] / (2 * probs[TP] + probs[FP] + probs[FN])
            lo, hi = count_intervals(cells, level=0.95)["f1"]
            defined = cells[:, [FP, FN, TP]].sum(axis=1) > 0
            assert np.isnan(lo[~defined]).all()
            assert (hi[defined] > lo[defined]).all(), (n, recall, fpr)
            coverage = ((lo <= truth) & (truth <= hi))[defined].mean()
            assert coverage >= 0.93, (n, recall, fpr, coverage)
