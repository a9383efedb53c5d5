"""Recall and FPR intervals have their nominal coverage: 2,000 simulated evaluation sets with a
known true recall, evaluated in one pass as 2,000 slices of one table through the real engine.

2,000 repetitions put the standard error of the observed coverage at 0.5 points, so the
93%-97% band is a real test of a method whose exact coverage here is 95.7% (recall, 300
positives) and 96.3% (FPR, 700 negatives) for Clopper-Pearson."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import EvaluateConfig
from smo_eval.stages.evaluate import evaluate

TRUE_RECALL, TRUE_FPR = 0.85, 0.05
REPETITIONS, ITEMS, POSITIVES = 2000, 1000, 300


def test_recall_interval_covers_the_true_recall_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(2026)
    n = REPETITIONS * ITEMS
    label = np.tile(np.r_[np.ones(POSITIVES), np.zeros(ITEMS - POSITIVES)], REPETITIONS)
    flagged = np.where(label == 1, rng.random(n) < TRUE_RECALL, rng.random(n) < TRUE_FPR)
    # Scores above / below 0.5 by the simulated decision, spread so the AUC path is exercised.
    score = np.where(flagged, 0.5 + 0.5 * rng.random(n), 0.5 * rng.random(n))
    table = pd.DataFrame({"label": label.astype("int8"),
                          "rep": np.repeat(np.arange(REPETITIONS), ITEMS)})
    cfg = EvaluateConfig(score_bins=64)  # rank metrics are not under test here
    frame = evaluate(table, pd.DataFrame({"m": score.astype(np.float32)}), cfg,
                     SlicingConfig(["rep"], [])).slice_metrics
    reps = frame[frame["dimension"] == "rep"]
    assert len(reps) == REPETITIONS
    covered = (reps["recall_lo"] <= TRUE_RECALL) & (reps["recall_hi"] >= TRUE_RECALL)
    assert 0.93 <= covered.mean() <= 0.97, covered.mean()
    covered_fpr = (reps["fpr_lo"] <= TRUE_FPR) & (reps["fpr_hi"] >= TRUE_FPR)
    assert 0.93 <= covered_fpr.mean() <= 0.97, covered_fpr.mean()
    # Intervals are not trivially wide: about 2 x 1.96 x binomial standard error (the exact
    # interval is 3.5% wider here).
    width = (reps["recall_hi"] - reps["recall_lo"]).mean()
    expected = 2 * 1.96 * np.sqrt(TRUE_RECALL * (1 - TRUE_RECALL) / POSITIVES)
    assert abs(width - expected) < 0.15 * expected
