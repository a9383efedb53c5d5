"""Adjudication of raw judgments into one label per item, and each annotator against it.

Two rules: the majority vote with a configurable tie policy, and Dawid-Skene (EM over each
annotator's confusion matrix), which weighs a careful annotator above a careless one. Items
whose judgments are not unanimous are recorded as disputed either way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smo_eval.config.schema_stages import AdjudicationConfig
from smo_eval.errors import ConfigError
from smo_eval.stages.agreement import Ratings, cohen_kappa

TIE_POLICIES = ("violating", "safe", "gold", "unresolved")
UNRESOLVED = -1


def majority(counts: np.ndarray, tie: str,
             gold: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Majority label per item (-1 when unresolved) and whether the top vote was tied."""
    if tie not in TIE_POLICIES:
        raise ConfigError(f"labels.adjudication.tie={tie!r}; choose one of {TIE_POLICIES}")
    top = counts.max(axis=1, keepdims=True)
    winners = (counts == top) & (top > 0)
    tied = winners.sum(axis=1) > 1
    label = np.where(winners.any(axis=1), counts.argmax(axis=1), UNRESOLVED)
    if tie == "violating":
        label = np.where(tied, np.where(winners[:, 1], 1, label), label)
    elif tie == "safe":
        label = np.where(tied, np.where(winners[:, 0], 0, label), label)
    elif tie == "gold" and gold is not None:
        known = gold >= 0
        gold_wins = winners[np.arange(len(gold)), np.maximum(gold, 0)] & known
        label = np.where(tied, np.where(gold_wins, gold, UNRESOLVED), label)
    else:
        label = np.where(tied, UNRESOLVED, label)
    return label.astype(np.int64), tied


def dawid_skene(r: Ratings, max_iter: int = 100, tol: float = 1e-6) -> np.ndarray:
    """Posterior class probabilities per item, (n_items, K), by Dawid & Skene's EM."""
    k, n_raters = r.n_values, len(r.raters)
    counts = r.counts().astype(np.float64)
    post = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    for _ in range(max_iter):
        prior = np.clip(post.mean(axis=0), 1e-9, None)
        # confusion[rater, true, given]: share of the rater's judgments of true class j given as l.
        confusion = np.empty((n_raters, k, k))
        for j in range(k):
            confusion[:, j, :] = np.bincount(r.rater * k + r.value, weights=post[r.item, j],
                                             minlength=n_raters * k).reshape(n_raters, k)
        confusion += 0.01
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_post = np.empty_like(post)
        for j in range(k):
            log_post[:, j] = np.log(prior[j]) + np.bincount(
                r.item, weights=np.log(confusion[r.rater, j, r.value]), minlength=r.n_items)
        log_post -= log_post.max(axis=1, keepdims=True)
        new = np.exp(log_post)
        new /= new.sum(axis=1, keepdims=True)
        delta = float(np.abs(new - post).max())
        post = new
        if delta < tol:
            break
    return post


def adjudicate(r: Ratings, cfg: AdjudicationConfig, gold: np.ndarray | None) -> pd.DataFrame:
    """One row per rated item: votes, adjudicated label, tie and dispute flags."""
    counts = r.counts()
    method = cfg.method
    label, tied = majority(counts, cfg.tie, gold)
    frame = pd.DataFrame({"item_id": r.items, "n_ratings": counts.sum(axis=1)})
    for value in range(r.n_values):
        frame[f"votes_{value}"] = counts[:, value]
    frame["majority_label"] = label
    frame["tied"] = tied
    if method == "dawid_skene":
        post = dawid_skene(r, cfg.dawid_skene.max_iter, cfg.dawid_skene.tol)
        frame["ds_confidence"] = post.max(axis=1)
        label = post.argmax(axis=1)
    elif method != "majority":
        raise ConfigError(f"labels.adjudication.method={method!r}; choose majority or dawid_skene")
    frame["adjudicated"] = label
    frame["disputed"] = counts.max(axis=1) < counts.sum(axis=1)
    if gold is not None:
        frame["gold_label"] = gold
        frame["differs_from_gold"] = (gold >= 0) & (label >= 0) & (label != gold)
    return frame


def annotator_scores(r: Ratings, adjudicated: np.ndarray, gold: np.ndarray | None) -> pd.DataFrame:
    """Each annotator against the adjudicated label (and gold): agreement and Cohen's kappa.

    Sorted best first, so the least reliable annotator is the last row.
    """
    k, n_raters = r.n_values, len(r.raters)
    ref = adjudicated[r.item]
    known = ref >= 0
    key = (r.rater[known] * k + ref[known]) * k + r.value[known]
    tables = np.bincount(key, minlength=n_raters * k * k).reshape(n_raters, k, k)
    n = tables.sum(axis=(1, 2))
    frame = pd.DataFrame({
        "annotator_id": r.raters.astype(str),
        "n_ratings": np.bincount(r.rater, minlength=n_raters),
        "agreement_with_adjudicated": np.trace(tables, axis1=1, axis2=2) / np.maximum(n, 1),
        "kappa_with_adjudicated": cohen_kappa(tables),
        "positive_rate": np.bincount(r.rater, weights=(r.value == 1).astype(float),
                                     minlength=n_raters) / np.maximum(
                                         np.bincount(r.rater, minlength=n_raters), 1),
    })
    if gold is not None:
        g = gold[r.item]
        has = g >= 0
        gkey = (r.rater[has] * k + g[has]) * k + r.value[has]
        gtables = np.bincount(gkey, minlength=n_raters * k * k).reshape(n_raters, k, k)
        gn = gtables.sum(axis=(1, 2))
        frame["agreement_with_gold"] = np.trace(gtables, axis1=1, axis2=2) / np.maximum(gn, 1)
        frame["kappa_with_gold"] = cohen_kappa(gtables)
    frame = frame.sort_values(["kappa_with_adjudicated", "agreement_with_adjudicated"],
                              ascending=False, na_position="last").reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame
