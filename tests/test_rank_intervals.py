"""ROC-AUC and PR-AUC intervals (closed form from the fine histograms) have their coverage on
simulated binormal scores, and rank metrics are NaN, with a reason, where a class is absent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import EvaluateConfig
from smo_eval.engine.counting import count_model
from smo_eval.engine.intervals import ap_components, bin_counts, delong_components
from smo_eval.engine.metrics import average_precision
from smo_eval.engine.slices import build_slice_index
from smo_eval.stages.evaluate import evaluate

EVAL_CFG = EvaluateConfig()
REPETITIONS = 1000
# (true ROC-AUC, positives, negatives): middling to near-perfect models, few positives among
# many negatives; the last two are where a logit-DeLong interval alone covers 88% and 90%.
SETTINGS = [(0.75, 30, 300), (0.9, 100, 100), (0.95, 20, 2000), (0.99, 50, 500)]


def _histogram(label: np.ndarray, score: np.ndarray, n_bins: int = 8192) -> np.ndarray:
    """The engine's overall (1, 2, B) histogram of one set of items."""
    table = pd.DataFrame({"label": label.astype("int8")})
    index, _ = build_slice_index(table, [], [])
    return count_model(index, label, score, 0.5, n_bins).hist


def test_delong_components_equal_the_item_level_definition() -> None:
    """Per-bin structural components equal DeLong's per-item ones (scores on a 0.01 grid, so
    every distinct score has its own bin and ties mean the same thing in both)."""
    rng = np.random.default_rng(5)
    label = (rng.random(400) < 0.3).astype(np.int64)
    score = np.round(np.clip(rng.normal(0.4 + 0.2 * label, 0.15), 0.01, 0.99), 2)
    auc, ss_pos, ss_neg = delong_components(bin_counts(_histogram(label, score)))
    pos, neg = score[label == 1], score[label == 0]
    beats = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v_pos, v_neg = beats.mean(axis=1), beats.mean(axis=0)
    assert auc[0] == pytest.approx(v_pos.mean(), abs=1e-12)
    assert ss_pos[0] / (len(pos) - 1) == pytest.approx(v_pos.var(ddof=1), rel=1e-9)
    assert ss_neg[0] / (len(neg) - 1) == pytest.approx(v_neg.var(ddof=1), rel=1e-9)


def test_average_precision_delta_variance_matches_a_poisson_bootstrap() -> None:
    """The delta-method SD of PR-AUC is within 10% of the SD of 4,000 Poisson-bootstrap
    replicates of the same histogram (Monte Carlo error of that SD: about 1.1%)."""
    rng = np.random.default_rng(8)
    label = (rng.random(3000) < 0.1).astype(np.int64)
    score = 1 / (1 + np.exp(-(rng.standard_normal(3000) + 1.8 * label - 2)))
    hist = _histogram(label, score, 1024)
    ap, ss_pos, var_neg = ap_components(bin_counts(hist))
    delta_sd = np.sqrt(ss_pos / label.sum() ** 2 + var_neg)[0]
    replicates = rng.poisson(hist[0], size=(4000, *hist.shape[1:]))
    boot_sd = average_precision(replicates[:, 0], replicates[:, 1]).std()
    assert ap[0] == pytest.approx(average_precision(hist[:, 0], hist[:, 1])[0])
    assert delta_sd == pytest.approx(boot_sd, rel=0.10), (delta_sd, boot_sd)


def _true_average_precision(shift: float, prevalence: float) -> float:
    """Population AP of negatives N(0, 1) and positives N(shift, 1) at this prevalence: the
    precision at each positive's score, averaged over positives."""
    def integrand(t: float) -> float:
        found = prevalence * stats.norm.sf(t, shift)
        return float(stats.norm.pdf(t, shift) * found / (found + (1 - prevalence)
                                                         * stats.norm.sf(t)))
    return float(integrate.quad(integrand, -12, 12 + shift, limit=200)[0])


@pytest.mark.parametrize(("auc", "n_pos", "n_neg"), SETTINGS)
def test_rank_intervals_cover_binormal_truth(auc: float, n_pos: int, n_neg: int) -> None:
    """1,000 simulated sets as 1,000 slices of one table through evaluate: coverage >= 93%
    for ROC-AUC and PR-AUC (standard error 0.69 points near 95%; expected coverage here is
    95.5-98%), and the mean width at most 1.5 times that of an ideal normal interval
    (2 x 1.96 x the empirical SD of the point estimate), so coverage is not bought by width.

    Scores are the logistic of binormal latent values, so the engine's logit-uniform bins
    (1,024 here) resolve them finely."""
    rng = np.random.default_rng(int(auc * 1000) + n_pos)
    shift = np.sqrt(2) * stats.norm.ppf(auc)
    size = n_pos + n_neg
    label = np.tile(np.r_[np.ones(n_pos), np.zeros(n_neg)], REPETITIONS)
    latent = rng.standard_normal(len(label)) + shift * label
    table = pd.DataFrame({"label": label.astype("int8"),
                          "rep": np.repeat(np.arange(REPETITIONS), size)})
    scores = pd.DataFrame({"m": (1 / (1 + np.exp(-latent))).astype(np.float32)})
    cfg = EvaluateConfig(score_bins=1024)
    frame = evaluate(table, scores, cfg, SlicingConfig(["rep"], [])).slice_metrics
    reps = frame[frame["dimension"] == "rep"]
    assert len(reps) == REPETITIONS
    truth = {"roc_auc": auc, "pr_auc": _true_average_precision(shift, n_pos / size)}
    for metric, value in truth.items():
        lo, hi, point = reps[f"{metric}_lo"], reps[f"{metric}_hi"], reps[metric]
        assert ((lo <= point) & (point <= hi)).all()
        coverage = ((lo <= value) & (value <= hi)).mean()
        assert coverage >= 0.93, (metric, coverage)
        width = (hi - lo).mean() / (2 * 1.96 * point.std())
        assert width <= 1.5, (metric, width)


def test_one_class_slices_have_no_rank_metrics_and_say_why() -> None:
    """A slice without negatives: ROC-AUC and PR-AUC NaN (sklearn's PR-AUC would be 1.0),
    intervals NaN, and the `undefined` column names them; perfect separation keeps an exact,
    non-degenerate lower bound."""
    label = np.r_[np.ones(40), np.zeros(60), np.ones(25)].astype("int8")
    site = np.r_[np.repeat("mixed", 100), np.repeat("positives", 25)]
    score = np.r_[np.linspace(0.6, 0.99, 40), np.linspace(0.01, 0.4, 60), np.full(25, 0.7)]
    table = pd.DataFrame({"label": label, "site": site})
    frame = evaluate(table, pd.DataFrame({"m": score}), EVAL_CFG,
                     SlicingConfig(["site"], [])).slice_metrics
    rows = frame.set_index("slice")
    only = rows.loc["site=positives"]
    for column in ("roc_auc", "pr_auc", "roc_auc_lo", "roc_auc_hi", "pr_auc_lo", "pr_auc_hi",
                   "fpr", "fpr_lo", "fpr_hi"):
        assert np.isnan(only[column]), column
    assert only["undefined"] == "fpr, roc_auc, pr_auc: no negatives"
    assert only["recall"] == 1.0 and 0 < only["recall_lo"] < 1
    mixed = rows.loc["site=mixed"]
    assert mixed["undefined"] == ""
    assert mixed["roc_auc"] == 1.0 and mixed["pr_auc"] == 1.0
    # 40 positives above 60 negatives: AUC >= 0.025^(1/40) whatever the score distributions.
    assert mixed["roc_auc_lo"] == pytest.approx(0.025 ** (1 / 40))
    assert mixed["pr_auc_lo"] == pytest.approx(0.025 ** (1 / 40))
    assert mixed["roc_auc_hi"] == mixed["pr_auc_hi"] == 1.0
