"""What a relabel changed: item-level diff of two gold versions and its effect on every model.

The headline metric change of each model is split exactly into the part due to relabeled
items and the part due to added or removed items, through an intermediate gold set: the old
items with the new labels where the new version has the item. Then
  new - old = (intermediate - old) [relabels] + (new - intermediate) [additions/removals].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from smo_eval.engine.counting import count_model
from smo_eval.engine.metrics import average_precision, count_metrics, roc_auc
from smo_eval.engine.slices import build_slice_index

CHANGES = ("added", "removed", "relabeled", "recategorised")
SPLIT_METRICS = ("precision", "recall", "f1", "fpr", "roc_auc", "pr_auc")


def _keyed(gold: pd.DataFrame) -> pd.DataFrame:
    frame = gold.copy()
    frame["item_id"] = frame["item_id"].astype("string")
    if "risk_category" not in frame.columns:
        frame["risk_category"] = pd.NA
    frame["risk_category"] = frame["risk_category"].astype("string")
    return frame.drop_duplicates("item_id").set_index("item_id")


def diff_gold(old: pd.DataFrame, new: pd.DataFrame, dims: Sequence[str]) -> pd.DataFrame:
    """One row per changed item: change, old/new label and category, and its metadata."""
    a, b = _keyed(old), _keyed(new)
    ids = a.index.union(b.index)
    in_a, in_b = ids.isin(a.index), ids.isin(b.index)
    a, b = a.reindex(ids), b.reindex(ids)
    both = in_a & in_b
    old_label = a["label"].astype("Int8")
    new_label = b["label"].astype("Int8")
    relabel = both & (old_label != new_label).fillna(False).to_numpy()
    recat = both & ~relabel & (a["risk_category"] != b["risk_category"]).fillna(False).to_numpy()
    change = np.select([in_b & ~in_a, in_a & ~in_b, relabel, recat], list(CHANGES), "")
    frame = pd.DataFrame({"item_id": ids, "change": change,
                          "old_label": old_label.to_numpy(), "new_label": new_label.to_numpy(),
                          "old_category": a["risk_category"].to_numpy(),
                          "new_category": b["risk_category"].to_numpy()})
    for column in dims:
        values = None
        if column in b.columns:
            values = b[column].astype("string")
            if column in a.columns:
                values = values.fillna(a[column].astype("string"))
        elif column in a.columns:
            values = a[column].astype("string")
        if values is not None:
            frame[column] = values.to_numpy()
    changed = frame[frame["change"] != ""]
    return changed.sort_values(["change", "item_id"]).reset_index(drop=True)


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

    `scores` is indexed by item_id (string), one column per model.
    """
    a, b = _keyed(old), _keyed(new)
    mid = a["label"].copy()
    common = a.index.intersection(b.index)
    mid.loc[common] = b.loc[common, "label"]
    sets = {"old": a["label"], "intermediate": mid, "new": b["label"]}
    rows = []
    for model in scores.columns:
        values = {}
        for name, labels in sets.items():
            s = scores[model].reindex(labels.index).to_numpy(dtype=np.float64)
            values[name] = headline_metrics(labels.to_numpy().astype(np.int64), s,
                                            float(thresholds[model]), n_bins)
        for metric in SPLIT_METRICS:
            o, m, n = (values[k][metric] for k in ("old", "intermediate", "new"))
            rows.append({"model": model, "metric": metric, "old": o, "new": n,
                         "change": n - o, "due_to_relabels": m - o,
                         "due_to_added_removed": n - m, "intermediate": m})
    return pd.DataFrame(rows)
