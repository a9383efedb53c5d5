"""Suspected gold label errors: annotators and models weighed by their reliability, or
confident learning where no annotation exists.

Annotated items (raw judgments exist) get a posterior probability that the gold label is wrong,
in the spirit of CROWDLAB (Goh, Tkachenko & Mueller 2022: every source's vote weighted by its
estimated accuracy), written as a naive-Bayes posterior over the true class:

- annotators: each judgment's likelihood P(vote | true class) from Dawid-Skene confusion
  matrices, per annotator shrunk toward the pooled matrix by `annotator_prior_judgments`
  judgments, or one pooled matrix when annotator ids identify single judgments (Multilingual
  HateCheck);
- models: P(true class | mean score) from a logistic calibration of logit(score) against the
  annotators' own posterior, cross-fitted in 5 folds: its slope is the models' weight (near
  zero where the models do not track the annotators, zero when it would be negative), and a
  calibrated score is never certain;
- logit P(violating | votes, score) = sum of the votes' log-likelihood ratios + logit of the
  calibrated score; P(gold wrong) = P(true class != gold).

An item is flagged when P(gold wrong) >= `min_posterior` (0.5: the other label is more likely).
Three agreeing judgments of annotators 90% accurate are a likelihood ratio of 729 that the
models' evidence has to beat, so a unanimous item agreeing with gold needs overwhelming model
evidence; a majority against gold needs the models firmly on gold's side to stay unflagged.

Items without annotations: confident learning (Northcutt et al., 2021) over the models' mean
score, out-of-sample for the gold set (no model was trained on it): each class gets a threshold
= the mean predicted probability of that class among items given that label, an item
confidently belongs to every class whose probability reaches its threshold (the most probable
one when several do), and the off-diagonal of this confident joint are the suspected errors.

All items are ranked together by `label_quality`, the estimated probability that the gold label
is right (posterior, or the models' self-confidence; with `rank_by: normalized_margin` that
probability minus the other label's), lowest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from smo_eval.config.schema_stages import LabelIssuesConfig
from smo_eval.engine.slices import SliceIndex
from smo_eval.errors import ConfigError
from smo_eval.stages.adjudication import dawid_skene
from smo_eval.stages.agreement import Ratings

RANKINGS = ("self_confidence", "normalized_margin")
CONFIDENT = "confident_learning"
POSTERIOR = "annotators_and_models"
_EPS = 1e-6


def model_probability(scores: pd.DataFrame, models: list[str] | None = None) -> np.ndarray:
    """P(violating) per item: mean of the chosen models' scores where they scored the item."""
    chosen = scores[models] if models else scores
    values = chosen.to_numpy(dtype=np.float64)
    counted = np.isfinite(values).sum(axis=1)
    total = np.nansum(values, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted > 0, total / counted, np.nan)


def confident_learning(labels: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Per item: confident class, self-confidence, normalised margin, whether it is an issue."""
    probs = np.column_stack([1 - p, p])
    scored = np.isfinite(p)
    thresholds = np.array([np.nanmean(probs[scored & (labels == j), j]) if
                           (scored & (labels == j)).any() else np.inf for j in (0, 1)])
    above = probs >= thresholds[None, :]
    masked = np.where(above, probs, -np.inf)
    confident = np.where(above.any(axis=1), masked.argmax(axis=1), -1)
    confident = np.where(scored, confident, -1)
    idx = np.arange(len(labels))
    self_conf = probs[idx, labels]
    margin = self_conf - probs[idx, 1 - labels]
    issue = (confident >= 0) & (confident != labels)
    return pd.DataFrame({"confident_class": confident, "self_confidence": self_conf,
                         "normalized_margin": margin, "confident_issue": issue})


def annotator_log_likelihood(r: Ratings, *, prior_judgments: float
                             ) -> tuple[np.ndarray, np.ndarray, float]:
    """Per rated item, sum over its judgments of log P(vote | true class), (n_items, 2); the
    pooled confusion matrix P(vote | true class), (2, 2); and the share of violating items.

    Dawid-Skene's EM gives the posterior of the true class; one more M-step counts each
    annotator's (true class, vote) pairs, shrunk toward the pooled counts by `prior_judgments`
    judgments so an annotator with three judgments is not judged on those three. Without
    annotator identity (every id judged one item) all judgments share the pooled matrix.
    """
    if not r.identified:
        r = Ratings(r.item, np.zeros_like(r.rater), r.value, r.items, pd.Index(["all"]),
                    r.n_values)
    post = dawid_skene(r)[:, :2]
    n_raters = len(r.raters)
    counts = np.stack([np.bincount(r.rater * 2 + r.value, weights=post[r.item, k],
                                   minlength=2 * n_raters).reshape(n_raters, 2)
                       for k in (0, 1)], axis=1)                       # (rater, true, vote)
    pooled = counts.sum(axis=0) + 0.5
    pooled /= pooled.sum(axis=1, keepdims=True)
    shrunk = counts + prior_judgments * pooled[None, :, :]
    confusion = shrunk / shrunk.sum(axis=2, keepdims=True)
    loglik = np.stack([np.bincount(r.item, weights=np.log(confusion[r.rater, k, r.value]),
                                   minlength=r.n_items) for k in (0, 1)], axis=1)
    return loglik, pooled, float(post[:, 1].mean())


def calibrated_model(p: np.ndarray, target: np.ndarray, *, seed: int) -> tuple[np.ndarray,
                                                                             float]:
    """Out-of-fold P(violating | score) by logistic calibration of logit(p) against a soft
    target (the annotators' posterior), and the slope of the fit on all items. A fit whose
    slope is not positive (scores that do not rise with the annotators' verdict) carries no
    evidence: its items get the base rate rather than the scores read backwards."""
    if len(p) < 10:  # too few to estimate the models' weight: the annotators' base rate
        return np.full(len(p), float(np.mean(target)) if len(p) else np.nan), 0.0
    x = _logit(p)[:, None]

    def fit(rows: np.ndarray) -> LogisticRegression | None:
        both = np.r_[rows, rows]
        y = np.r_[np.ones(len(rows)), np.zeros(len(rows))]
        weight = np.r_[target[rows], 1 - target[rows]]
        model = LogisticRegression(C=1.0).fit(x[both], y, sample_weight=weight)
        return model if model.coef_[0, 0] > 0 else None

    out = np.empty(len(p))
    for train, test in KFold(5, shuffle=True, random_state=seed).split(x):
        model = fit(train)
        out[test] = (model.predict_proba(x[test])[:, 1] if model is not None
                     else float(np.mean(target[train])))
    full = fit(np.arange(len(p)))
    return out, float(full.coef_[0, 0]) if full is not None else 0.0


@dataclass(frozen=True)
class GoldPosterior:
    """Annotated rows of the evaluation table and what the evidence says about their gold."""

    rows: np.ndarray           # row numbers in the evaluation table
    p_gold_wrong: np.ndarray
    votes_for_gold: np.ndarray
    votes_against_gold: np.ndarray
    headline: dict[str, float]


def gold_posterior(table: pd.DataFrame, p: np.ndarray, r: Ratings, cfg: LabelIssuesConfig, *,
                   seed: int) -> GoldPosterior:
    """P(gold label wrong) for every annotated, scored row (see module docstring)."""
    loglik, pooled, prior = annotator_log_likelihood(
        r, prior_judgments=cfg.annotator_prior_judgments)
    keys = pd.Index(r.items.astype("string"))
    at = keys.get_indexer(pd.Index(table["item_id"]).astype("string"))
    rows = np.flatnonzero(at >= 0)
    item = at[rows]
    votes_llr = loglik[item, 1] - loglik[item, 0]
    # Unscored rows: the annotators and the prior alone.
    q = np.full(len(rows), prior)
    scored = np.isfinite(p[rows])
    q[scored], slope = calibrated_model(p[rows][scored], _sigmoid(votes_llr[scored]
                                                                   + _logit(prior)), seed=seed)
    p_violating = _sigmoid(votes_llr + _logit(q))
    gold = table["label"].to_numpy().astype(np.int64)[rows]
    counts = r.counts()[item]
    return GoldPosterior(rows, np.where(gold == 1, 1 - p_violating, p_violating),
                         counts[np.arange(len(rows)), gold], counts[np.arange(len(rows)), 1 - gold],
                         {"annotated_violating_share": round(prior, 6),
                          "annotator_sensitivity": round(float(pooled[1, 1]), 6),
                          "annotator_specificity": round(float(pooled[0, 0]), 6),
                          "model_calibration_slope": round(slope, 6)})


def _logit(q: Any) -> Any:
    q = np.clip(q, _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-np.clip(x, -50, 50))))


def find_issues(table: pd.DataFrame, p: np.ndarray, ratings: Ratings | None,
                cfg: LabelIssuesConfig, columns: list[str], *, seed: int = 0
                ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Ranked suspected label errors (most suspicious first) with their evidence, and the
    estimated reliabilities behind them (empty without annotations)."""
    rank_by = cfg.rank_by
    if rank_by not in RANKINGS:
        raise ConfigError(f"labels.issues.rank_by={rank_by!r}; choose one of {RANKINGS}")
    labels = table["label"].to_numpy().astype(np.int64)
    cl = confident_learning(labels, p)
    quality = cl[rank_by].to_numpy().copy()
    flagged = cl["confident_issue"].to_numpy().copy()
    reason = np.full(len(table), CONFIDENT, dtype=object)
    wrong = np.full(len(table), np.nan)
    votes = np.full((2, len(table)), np.nan)
    headline: dict[str, float] = {}
    if ratings is not None and ratings.n_items:
        post = gold_posterior(table, p, ratings, cfg, seed=seed)
        rows = post.rows
        wrong[rows] = post.p_gold_wrong
        votes[:, rows] = post.votes_for_gold, post.votes_against_gold
        right = 1 - post.p_gold_wrong
        quality[rows] = right if rank_by == "self_confidence" else 2 * right - 1
        flagged[rows] = post.p_gold_wrong >= cfg.min_posterior
        reason[rows] = POSTERIOR
        headline = post.headline
    rows = np.flatnonzero(flagged)
    given = labels[rows]
    out = pd.DataFrame({
        "item_id": table["item_id"].to_numpy()[rows],
        "given_label": given,
        "suggested_label": 1 - given,
        "model_score": p[rows],
        "p_gold_wrong": wrong[rows],
        "votes_for_gold": pd.array(votes[0, rows], dtype="Int64"),
        "votes_against_gold": pd.array(votes[1, rows], dtype="Int64"),
        "label_quality": quality[rows],
        "self_confidence": cl["self_confidence"].to_numpy()[rows],
        "normalized_margin": cl["normalized_margin"].to_numpy()[rows],
        "reason": reason[rows],
    })
    for column in columns:
        if column in table.columns and column not in out.columns:
            out[column] = table[column].to_numpy()[rows]
    out = out.sort_values("label_quality", kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out, headline


def issue_rates(index: SliceIndex, flagged: np.ndarray) -> pd.DataFrame:
    """Per slice: items, suspected errors and their rate (the same slices as evaluate)."""
    cells = index.n_cells
    n = index.aggregate(np.bincount(index.cell_of_row, minlength=cells).astype(float))
    k = index.aggregate(np.bincount(index.cell_of_row, weights=flagged.astype(float),
                                    minlength=cells))
    frame = pd.DataFrame({"slice": index.names, "dimension": index.dimensions,
                          "n_items": n.round().astype(np.int64),
                          "suspected_errors": k.round().astype(np.int64)})
    frame["rate"] = frame["suspected_errors"] / frame["n_items"].clip(lower=1)
    return frame[frame["n_items"] > 0].reset_index(drop=True)
