"""Suspected gold label errors: confident learning over the models' scores, plus disputes.

Confident learning (Northcutt et al., 2021), implemented here for binary labels: the models'
scores are out-of-sample for the gold set (no model was trained on it), each class gets a
threshold = the mean predicted probability of that class among items given that label, an
item confidently belongs to every class whose probability reaches its threshold (the most
probable one when several do), and the off-diagonal of this confident joint (given label !=
confident class) are the suspected errors, ranked by self-confidence or normalised margin.
Second source: annotated items whose annotators disagreed and whose models side with the
minority vote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.engine.slices import SliceIndex
from smo_eval.errors import ConfigError

RANKINGS = ("self_confidence", "normalized_margin")
CONFIDENT = "confident_learning"
MINORITY = "annotator_minority_agrees_with_models"


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


def minority_agreement(adjudicated: pd.DataFrame, item_ids: pd.Series, labels: np.ndarray,
                       p: np.ndarray, threshold: float) -> np.ndarray:
    """Per eval row: annotators split, the models side with the minority vote, and the gold
    label is the majority's (so the gold label is what the evidence questions)."""
    out = np.zeros(len(item_ids), dtype=bool)
    if adjudicated is None or adjudicated.empty or "votes_1" not in adjudicated.columns:
        return out
    disputed = adjudicated[adjudicated["disputed"]
                           & (adjudicated["votes_1"] != adjudicated["votes_0"])]
    minority = np.where(disputed["votes_1"] < disputed["votes_0"], 1, 0)
    keys = pd.Index(disputed["item_id"])
    rows = pd.Index(item_ids).get_indexer(keys) if keys.dtype == item_ids.dtype else \
        pd.Index(item_ids.astype("string")).get_indexer(keys.astype("string"))
    found = rows >= 0
    rows, minority = rows[found], minority[found]
    predicted = (p[rows] >= threshold).astype(np.int64)
    out[rows] = np.isfinite(p[rows]) & (predicted == minority) & (labels[rows] != minority)
    return out


def find_issues(table: pd.DataFrame, p: np.ndarray, adjudicated: pd.DataFrame | None,
                cfg: Mapping[str, Any], threshold: float,
                columns: list[str]) -> pd.DataFrame:
    """Ranked suspected label errors (most suspicious first) with their evidence."""
    rank_by = str(cfg.get("rank_by", "self_confidence"))
    if rank_by not in RANKINGS:
        raise ConfigError(f"labels.issues.rank_by={rank_by!r}; choose one of {RANKINGS}")
    labels = table["label"].to_numpy().astype(np.int64)
    cl = confident_learning(labels, p)
    minority = (minority_agreement(adjudicated, table["item_id"], labels, p, threshold)
                if adjudicated is not None else np.zeros(len(table), dtype=bool))
    confident = cl["confident_issue"].to_numpy()
    rows = np.flatnonzero(confident | minority)
    confident, minority = confident[rows], minority[rows]
    reasons = np.where(confident & minority, f"{CONFIDENT}+{MINORITY}",
                       np.where(minority, MINORITY, CONFIDENT))
    given = labels[rows]
    suggested = cl["confident_class"].to_numpy()[rows]
    out = pd.DataFrame({
        "item_id": table["item_id"].to_numpy()[rows],
        "given_label": given,
        "suggested_label": np.where(confident, suggested, 1 - given),
        "model_score": p[rows],
        "self_confidence": cl["self_confidence"].to_numpy()[rows],
        "normalized_margin": cl["normalized_margin"].to_numpy()[rows],
        "reason": reasons,
    })
    for column in columns:
        if column in table.columns and column not in out.columns:
            out[column] = table[column].to_numpy()[rows]
    out = out.sort_values(rank_by, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


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
