"""Flags under the wrong policy: which policy the model flags an item under, against the
policies gold says it violates, and the macro summary over policies.

An item violating `hate` that the model flags only under `harassment` counts as caught in no
per-policy number (a miss for hate, a false flag for harassment) but is routed to the wrong
review queue: the confusion table shows it. Per model, every (gold policy, flagged policy)
pair of each item is counted, `none` standing for an item violating nothing or flagged
under nothing. `wrong_policy` cells count flags under a policy the item does not violate
(ranked by count: rank 1 is the largest confusion); `missed` items flagged under nothing;
`co_violation` a violation flagged only under another policy the item also violates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.engine.intervals import clopper_pearson
from smo_eval.policies import POLICY

NONE = "none"
COLUMNS = ["model", "gold_policy", "flagged_policy", "kind", "rank", "items", "share",
           "gold_items"]
KIND_ORDER = {"wrong_policy": 0, "missed": 1, "false_flag": 2, "right": 3,
              "co_violation": 4, "safe": 5}
MACRO_METRICS = ("recall", "precision", "f1", "fpr", "roc_auc", "pr_auc")


def _matrices(table: pd.DataFrame, scores: pd.DataFrame, model: str,
              threshold: float | np.ndarray, items: pd.Index,
              policies: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item x policy: gold violation, flag, scored (rows of `table` only)."""
    shape = (len(items), len(policies))
    row = items.get_indexer(table["item_id"])
    col = pd.Index(list(policies)).get_indexer(table[POLICY].astype("string"))
    score = scores[model].to_numpy(np.float64)
    scored = ~np.isnan(score)
    flag = scored & (np.nan_to_num(score, nan=-1.0) >= np.asarray(threshold))
    gold, flagged, seen = (np.zeros(shape, dtype=bool) for _ in range(3))
    gold[row, col] = table["label"].to_numpy() == 1
    flagged[row, col] = flag
    seen[row, col] = scored
    return gold, flagged, seen


def policy_confusion(table: pd.DataFrame, scores: pd.DataFrame, models: Sequence[str],
                     thresholds: Mapping[str, float | np.ndarray], *,
                     aside: pd.DataFrame | None = None,
                     aside_scores: pd.DataFrame | None = None,
                     aside_thresholds: Mapping[str, float | np.ndarray] | None = None,
                     level: float = 0.95) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """The confusion table and, per model, the share of violating items flagged only under
    policies they do not violate (with its Clopper-Pearson interval).

    `aside` holds borderline rows left out of `table` (evaluate.borderline exclude or
    separate): their flags still count on the flagged side, and an item that is only
    borderline (violating nothing) is left out, being neither violating nor safe.
    Items a model scored under no policy are left out of its counts."""
    policies = [str(p) for p in table[POLICY].cat.categories]
    ids = table["item_id"] if aside is None else pd.concat([table["item_id"], aside["item_id"]])
    items = pd.Index(pd.unique(ids))
    frames: list[pd.DataFrame] = []
    summary: dict[str, dict[str, Any]] = {}
    for model in models:
        gold, flagged, seen = _matrices(table, scores, model, thresholds[model], items, policies)
        keep = seen.any(axis=1)
        if aside is not None and aside_scores is not None and aside_thresholds is not None:
            _, extra, extra_seen = _matrices(aside.assign(label=0), aside_scores, model,
                                             aside_thresholds[model], items, policies)
            flagged |= extra
            keep = (keep | extra_seen.any(axis=1))
            only_border = np.zeros(len(items), dtype=bool)
            only_border[items.get_indexer(aside["item_id"])] = True
            keep &= ~(only_border & ~gold.any(axis=1))
        gold, flagged = gold[keep], flagged[keep]
        frames.append(_table(model, gold, flagged, policies))
        violating = gold.any(axis=1)
        wrong_only = violating & flagged.any(axis=1) & ~(gold & flagged).any(axis=1)
        lo, hi = clopper_pearson(np.array([wrong_only.sum()]), np.array([violating.sum()]),
                                 level=level)
        n_violating = int(violating.sum())
        summary[model] = {
            "violating_items": n_violating, "wrong_policy_only": int(wrong_only.sum()),
            "wrong_policy_only_share": (round(float(wrong_only.sum() / n_violating), 6)
                                        if n_violating else None),
            "wrong_policy_only_share_lo": round(float(lo[0]), 6) if n_violating else None,
            "wrong_policy_only_share_hi": round(float(hi[0]), 6) if n_violating else None}
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return out[COLUMNS], summary


def _table(model: str, gold: np.ndarray, flagged: np.ndarray,
           policies: Sequence[str]) -> pd.DataFrame:
    """Counts of (gold policy, flagged policy) pairs; a flag under another policy the item
    also violates is `co_violation` (that policy's own catch), not a confusion."""
    g = np.column_stack([gold, ~gold.any(axis=1)]).astype(np.int64)
    wrong = np.column_stack([flagged & ~gold, ~flagged.any(axis=1)]).astype(np.int64)
    also = np.column_stack([flagged & gold, np.zeros(len(gold), dtype=bool)]).astype(np.int64)
    counts, co = g.T @ wrong, g.T @ also
    names = [*policies, NONE]
    last = len(names) - 1
    gold_items = g.sum(axis=0)
    rows = []
    for i, gname in enumerate(names):
        for j, fname in enumerate(names):
            if i == j and i < last:
                rows.append((gname, fname, "right", int(co[i, j]), int(gold_items[i])))
                continue
            kind = ("safe" if i == j else "false_flag" if i == last
                    else "missed" if j == last else "wrong_policy")
            rows.append((gname, fname, kind, int(counts[i, j]), int(gold_items[i])))
            if kind == "wrong_policy" and co[i, j]:
                rows.append((gname, fname, "co_violation", int(co[i, j]), int(gold_items[i])))
    frame = pd.DataFrame(rows, columns=["gold_policy", "flagged_policy", "kind", "items",
                                        "gold_items"])
    frame["share"] = frame["items"] / frame["gold_items"].where(frame["gold_items"] > 0)
    frame["order"] = frame["kind"].map(KIND_ORDER)
    frame = frame.sort_values(["order", "items", "gold_policy", "flagged_policy"],
                              ascending=[True, False, True, True], kind="stable")
    ranked = frame["kind"].eq("wrong_policy") & frame["items"].gt(0)
    frame["rank"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    frame.loc[ranked, "rank"] = np.arange(1, int(ranked.sum()) + 1)
    return frame.assign(model=model).drop(columns="order")


def macro(slice_metrics: pd.DataFrame, model: str) -> dict[str, Any]:
    """Mean over policies of each metric of the `policy=<p>` slices (a policy where the
    metric is undefined, e.g. recall without violations, is left out of that mean: the
    count beside it says how many entered)."""
    rows = slice_metrics[(slice_metrics["model"] == model)
                         & (slice_metrics["dimension"] == POLICY)]
    out: dict[str, Any] = {"n_policies": len(rows)}
    for metric in MACRO_METRICS:
        values = rows[metric].astype(float).dropna()
        out[f"macro_{metric}"] = round(float(values.mean()), 6) if len(values) else None
        out[f"macro_{metric}_policies"] = len(values)
    return out
