"""Root causes and the review queue: each error's first applicable cause (annotators
disputed it, it is near the threshold, it carries an over-represented term, it is in a failure
slice), counted per evaluate slice, and the errors QA should look at first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import ErrorsConfig
from smo_eval.engine.slices import build_slice_index
from smo_eval.slicekey import to_json
from smo_eval.stages.errors.terms import KINDS

BUCKETS = ("label_disputed", "near_threshold", "over_represented_term", "failure_slice")


def disputed(frame: pd.DataFrame, annotations: pd.DataFrame | None) -> np.ndarray:
    """Items whose annotators disagree, or whose annotator majority contradicts gold."""
    if annotations is None or annotations.empty or "item_id" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    share = annotations.groupby("item_id", observed=True)["label"].mean()
    at = share.reindex(frame["item_id"]).to_numpy()
    gold = frame["label"].to_numpy()
    with np.errstate(invalid="ignore"):
        split = (at > 0) & (at < 1)
        contradicts = np.where(gold == 1, at < 0.5, at > 0.5)
    return np.nan_to_num(split | contradicts, nan=0).astype(bool)


def rca(model: str, frame: pd.DataFrame, slicing: SlicingConfig, labels: np.ndarray,
         any_error: np.ndarray, bucket: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Errors per root-cause bucket per slice (the same slices as evaluate), FN and FP apart."""
    index, _ = build_slice_index(frame, slicing.dimensions, slicing.crosses)
    b = len(names)
    frames = []
    for kind, label in KINDS.items():
        rows = any_error & (labels == label)
        key = index.cell_of_row[rows].astype(np.int64) * b + bucket[rows]
        per_cell = np.bincount(key, minlength=index.n_cells * b).reshape(index.n_cells, b)
        counts = index.aggregate(per_cell).round().astype(np.int64)
        part = pd.DataFrame(counts, columns=names)
        part.insert(0, "n_errors", counts.sum(axis=1))
        part.insert(0, "dimension", index.dimensions)
        part.insert(0, "slice", index.names)
        part["slice_key"] = [to_json(k) for k in index.keys]
        part.insert(0, "error", kind)
        part.insert(0, "model", model)
        frames.append(part[part["n_errors"] > 0])
    return pd.concat(frames, ignore_index=True)


def queue(model: str, frame: pd.DataFrame, score: np.ndarray, thr: Any, labels: np.ndarray,
           any_error: np.ndarray, bucket: np.ndarray, names: list[str],
           flags: dict[str, np.ndarray], first_slice: np.ndarray,
           severity: Mapping[str, int] | None, cfg: ErrorsConfig) -> pd.DataFrame:
    """Errors by expected impact: harm weight (severity tier for misses) x how wrong the
    score is (distance from the threshold)."""
    rows = np.flatnonzero(any_error)
    sub = frame.iloc[rows].reset_index(drop=True)
    weight = np.full(len(rows), cfg.review_queue.fp_weight)
    if severity and "risk_category" in sub.columns:
        worst = max(severity.values())
        sev = sub["risk_category"].astype("string").map(dict(severity)).astype("Float64")
        harm = (worst + 1 - sev).to_numpy(dtype=np.float64, na_value=1.0)
        weight = np.where(labels[rows] == 1, harm, weight)
    thr_rows = np.asarray(thr)[rows] if np.ndim(thr) else thr
    margin = np.abs(score[rows] - thr_rows)
    front = pd.DataFrame({
        "model": model, "error": np.where(labels[rows] == 1, "fn", "fp"),
        "root_cause": np.asarray(names, dtype=object)[bucket[rows]],
        "impact": weight * margin, "score": score[rows], "threshold": thr_rows,
        **{name: flags[name][rows] for name in BUCKETS},
        "failure_slice_name": first_slice[rows],
    })
    ids = sub[["item_id"]] if "item_id" in sub.columns else sub.iloc[:, :0]
    top = np.argsort(-front["impact"].to_numpy(), kind="stable")[
        :cfg.review_queue.max_rows]
    return pd.concat([ids.iloc[top].reset_index(drop=True),
                      front.iloc[top].reset_index(drop=True),
                      sub.drop(columns=["item_id"], errors="ignore").iloc[top]
                      .reset_index(drop=True)], axis=1)
