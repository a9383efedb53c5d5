"""What a relabel changed: item-level diff of two gold versions and its effect on every model.

The headline metric change of each model is split exactly into the part due to relabeled
items and the part due to added or removed items, through an intermediate gold set: the old
items with the new labels where the new version has the item. Then
  new - old = (intermediate - old) [relabels] + (new - intermediate) [additions/removals].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.engine.counting import count_model
from smo_eval.engine.metrics import average_precision, count_metrics, roc_auc
from smo_eval.engine.slices import build_slice_index

CHANGES = ("added", "removed", "relabeled", "recategorised")
SPLIT_METRICS = ("precision", "recall", "f1", "fpr", "roc_auc", "pr_auc")


@dataclass(frozen=True)
class Alignment:
    """Item ids of several tables as shared integer codes (compared as text, factorised once):
    `rows[t][code]` is the row of table t holding that item, -1 where it lacks it."""

    ids: np.ndarray
    rows: list[np.ndarray]

    @classmethod
    def of(cls, *id_columns: pd.Series | pd.Index) -> Alignment:
        texts = [np.asarray(c) for c in id_columns]
        if not all(t.dtype.kind in "iu" for t in texts):  # mixed: compare as text
            texts = [t.astype(str).astype(object) if t.dtype.kind in "iuf" else t.astype(object)
                     for t in texts]
        codes, uniques = pd.factorize(np.concatenate(texts))
        rows, start = [], 0
        for text in texts:
            row = np.full(len(uniques), -1, dtype=np.int64)
            row[codes[start:start + len(text)]] = np.arange(len(text))
            rows.append(row)
            start += len(text)
        return cls(np.asarray(uniques), rows)

    def take(self, table: int, values: np.ndarray, fill: Any = None) -> np.ndarray:
        """`values` (one per row of the table) per item code, `fill` where the table lacks it."""
        row = self.rows[table]
        out = np.asarray(values)[np.maximum(row, 0)]
        if fill is None:
            out = out.astype(object)
        out = np.where(row >= 0, out, fill)
        return out


def _categories(gold: pd.DataFrame) -> np.ndarray:
    if "risk_category" not in gold.columns:
        return np.full(len(gold), None, dtype=object)
    return gold["risk_category"].astype("string").to_numpy(dtype=object, na_value=None)


def diff_gold(old: pd.DataFrame, new: pd.DataFrame, dims: Sequence[str]) -> pd.DataFrame:
    """One row per changed item: change, old/new label and category, and its metadata."""
    align = Alignment.of(old["item_id"], new["item_id"])
    in_a, in_b = align.rows[0] >= 0, align.rows[1] >= 0
    old_label = align.take(0, old["label"].to_numpy(np.int64), -1)
    new_label = align.take(1, new["label"].to_numpy(np.int64), -1)
    old_cat, new_cat = align.take(0, _categories(old)), align.take(1, _categories(new))
    both = in_a & in_b
    relabel = both & (old_label != new_label)
    recat = both & ~relabel & (old_cat != new_cat)
    change = np.select([in_b & ~in_a, in_a & ~in_b, relabel, recat], list(CHANGES), "")
    keep = change != ""
    frame = pd.DataFrame({"item_id": align.ids[keep], "change": change[keep],
                          "old_label": pd.array(np.where(in_a, old_label, -1)[keep],
                                                dtype="Int8"),
                          "new_label": pd.array(np.where(in_b, new_label, -1)[keep],
                                                dtype="Int8"),
                          "old_category": old_cat[keep], "new_category": new_cat[keep]})
    frame.loc[frame["old_label"] == -1, "old_label"] = pd.NA
    frame.loc[frame["new_label"] == -1, "new_label"] = pd.NA
    for column in dims:
        values = None
        for table, gold in ((1, new), (0, old)):
            if column in gold.columns:
                taken = align.take(table, gold[column].astype("string").to_numpy(
                    dtype=object, na_value=None))[keep]
                values = taken if values is None else np.where(values == None, taken,  # noqa: E711
                                                               values)
        if values is not None:
            frame[column] = values
    return frame.sort_values(["change", "item_id"]).reset_index(drop=True)


def diff_summary(diff: pd.DataFrame, dims: Sequence[str]) -> pd.DataFrame:
    """Counts of each change overall, per label transition and per value of each dimension."""
    rows = [{"dimension": "overall", "value": "all",
             **{c: int((diff["change"] == c).sum()) for c in CHANGES}}]
    transitions = diff[diff["change"] == "relabeled"]
    for (old, new), group in transitions.groupby(["old_label", "new_label"], observed=True):
        rows.append({"dimension": "label", "value": f"{old}->{new}", "relabeled": len(group)})
    moved = diff[diff["change"].isin(["relabeled", "recategorised"])]
    for (old, new), group in moved.groupby(["old_category", "new_category"], observed=True,
                                           dropna=False):
        rows.append({"dimension": "category", "value": f"{old}->{new}",
                     "relabeled": int((group["change"] == "relabeled").sum()),
                     "recategorised": int((group["change"] == "recategorised").sum())})
    for dim in dims:
        if dim not in diff.columns:
            continue
        counts = pd.crosstab(diff[dim].fillna("(missing)"), diff["change"])
        for value, row in counts.iterrows():
            rows.append({"dimension": dim, "value": str(value),
                         **{c: int(row.get(c, 0)) for c in CHANGES}})
    out = pd.DataFrame(rows)
    for column in CHANGES:
        out[column] = out.get(column, pd.Series(dtype=float)).fillna(0).astype(np.int64)
    return out[["dimension", "value", *CHANGES]]


def headline_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float,
                     n_bins: int) -> dict[str, float]:
    """The overall metrics of one model on one gold set, through the counting engine."""
    frame = pd.DataFrame(index=np.arange(len(labels)))
    index, _ = build_slice_index(frame, [], [])
    stats = count_model(index, labels, scores.astype(np.float32), threshold, n_bins)
    counted = count_metrics(stats.cells)
    values = {k: float(counted[k][0]) for k in ("precision", "recall", "f1", "fpr")}
    values["roc_auc"] = float(roc_auc(stats.hist[:, 0], stats.hist[:, 1])[0])
    values["pr_auc"] = float(average_precision(stats.hist[:, 0], stats.hist[:, 1])[0])
    return values


def metric_split(old: pd.DataFrame, new: pd.DataFrame, scores: pd.DataFrame,
                 thresholds: Mapping[str, float], n_bins: int) -> pd.DataFrame:
    """Per model and metric: old, intermediate and new values and the two parts of the change.

    `scores` is indexed by item_id, one column per model.
    """
    align = Alignment.of(old["item_id"], new["item_id"], scores.index)
    in_a, in_b = align.rows[0] >= 0, align.rows[1] >= 0
    old_label = align.take(0, old["label"].to_numpy(np.int64), -1)
    new_label = align.take(1, new["label"].to_numpy(np.int64), -1)
    sets = {"old": (in_a, old_label), "intermediate": (in_a, np.where(in_b, new_label, old_label)),
            "new": (in_b, new_label)}
    rows = []
    for model in scores.columns:
        score = align.take(2, scores[model].to_numpy(np.float64), np.nan)
        values = {name: headline_metrics(labels[member], score[member],
                                         float(thresholds[model]), n_bins)
                  for name, (member, labels) in sets.items()}
        for metric in SPLIT_METRICS:
            o, m, n = (values[k][metric] for k in ("old", "intermediate", "new"))
            rows.append({"model": model, "metric": metric, "old": o, "new": n,
                         "change": n - o, "due_to_relabels": m - o,
                         "due_to_added_removed": n - m, "intermediate": m})
    return pd.DataFrame(rows)
