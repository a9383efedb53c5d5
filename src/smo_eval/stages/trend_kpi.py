"""Model KPIs per period, slice and model: the counting engine's pass with the period as an
outer factor of the joint partition, and evaluate's exact intervals.

The slices are evaluate's (`engine/slices.py`); each row's cell becomes `period x cells +
cell`, and the membership matrix is the block-diagonal `I_periods (x) membership`, so one
`count_model` pass per model gives every period's confusion cells for every slice, counted at
the model's operating point exactly as evaluate counts them (the score grid with two bins has
the threshold as its middle edge). Summed over periods they are evaluate's tp/fp/fn/tn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from smo_eval.engine.counting import count_model
from smo_eval.engine.intervals import count_intervals
from smo_eval.engine.metrics import FN, FP, TN, TP
from smo_eval.engine.slices import SliceIndex, build_slice_index
from smo_eval.operating_point import Threshold
from smo_eval.slicekey import SliceKey, dimension_of, display, to_json
from smo_eval.taxonomy import Taxonomy

# Metric -> (numerator cells, denominator cells) of the confusion matrix.
RATIOS = {"recall": ((TP,), (TP, FN)), "precision": ((TP,), (TP, FP)), "fpr": ((FP,), (FP, TN))}
# Metric -> the cells counted as bad events by the change detection (the rate that rises).
BAD = {"recall": (FN,), "precision": (FP,), "fpr": (FP,)}
STATUSES = ("met", "missed", "unclear", "no_target")


@dataclass(frozen=True)
class PeriodCounts:
    """Confusion cells per model, period and slice: cells[model] is (periods, slices, 4)."""

    keys: list[SliceKey]
    cells: dict[str, np.ndarray]
    items: np.ndarray  # (periods, slices): dated gold items per period and slice
    notices: list[str]


def _periodic(index: SliceIndex, period: np.ndarray, n_periods: int,
              rows: np.ndarray | slice) -> SliceIndex:
    """The slice index with the period as an outer factor, over the rows kept."""
    cells = period[rows].astype(np.int64) * index.n_cells + index.cell_of_row[rows]
    membership = sparse.kron(sparse.identity(n_periods, format="csr"), index.membership,
                             format="csr")
    keys = [k for _ in range(n_periods) for k in index.keys]
    return SliceIndex(cells.astype(np.int32), n_periods * index.n_cells, keys, membership)


def count_periods(table: pd.DataFrame, scores: pd.DataFrame, models: Sequence[str],
                  thresholds: Mapping[str, Threshold], period: np.ndarray, n_periods: int,
                  dimensions: Sequence[str], crosses: Sequence[Sequence[str]]) -> PeriodCounts:
    """Count every model's confusion cells per period and slice (rows with period -1 and
    unscored rows are not counted; the caller says how many)."""
    index, notices = build_slice_index(table, dimensions, crosses)
    dated = period >= 0
    rows: np.ndarray | slice = slice(None) if dated.all() else np.flatnonzero(dated)
    periodic = _periodic(index, period, n_periods, rows)
    n_slices = len(index.keys)
    items = periodic.aggregate(np.bincount(periodic.cell_of_row, minlength=periodic.n_cells)
                               .astype(np.float64)).round().astype(np.int64)
    labels = table["label"].to_numpy()[rows]
    cells = {}
    for model in models:
        threshold = thresholds[model]
        if np.ndim(threshold) > 0:
            threshold = np.asarray(threshold)[rows]
        stats = count_model(periodic, labels, scores[model].to_numpy()[rows], threshold, 2)
        cells[model] = stats.cells.reshape(n_periods, n_slices, 4)
    return PeriodCounts(list(index.keys), cells, items.reshape(n_periods, n_slices), notices)


def targets(taxonomy: Taxonomy) -> dict[str, dict[str, float]]:
    """KPI targets by slice key (JSON): a leaf category's own; a parent category is held to
    its strictest child (the highest target recall, the lowest FPR ceiling), as in the
    report's KPI table."""
    out: dict[str, dict[str, float]] = {}
    parents: dict[str, list[tuple[float | None, float | None]]] = {}
    for c in taxonomy.categories:
        own = {k: v for k, v in (("recall", c.target_recall), ("fpr", c.max_fpr))
               if v is not None}
        if own:
            out[to_json((("risk_category", c.name),))] = own
        parents.setdefault(c.parent, []).append((c.target_recall, c.max_fpr))
    for parent, children in parents.items():
        recall = [r for r, _ in children if r is not None]
        fpr = [f for _, f in children if f is not None]
        own = ({"recall": max(recall)} if recall else {}) | ({"fpr": min(fpr)} if fpr else {})
        if own:
            out[to_json((("parent_category", parent),))] = own
    return out


def status(metric: str, lo: np.ndarray, hi: np.ndarray, target: np.ndarray) -> np.ndarray:
    """met / missed / unclear (the interval straddles the target) / no_target. Recall must
    reach its target, FPR stay under its ceiling."""
    has = np.isfinite(target)
    if metric == "fpr":
        met, missed = hi <= target, lo > target
    else:
        met, missed = lo >= target, hi < target
    out = np.where(met, "met", np.where(missed, "missed", "unclear"))
    return np.where(has, out, "no_target")


def kpi_frame(counts: PeriodCounts, *, level: float, goals: Mapping[str, Mapping[str, float]],
              period_labels: Sequence[str], period_starts: Sequence[pd.Timestamp]
              ) -> pd.DataFrame:
    """Long format: one row per model, period, slice and metric with a positive denominator:
    value, exact interval, numerator, denominator, bad events, target and status."""
    n_periods, n_slices = counts.items.shape
    slice_json = np.array([to_json(k) for k in counts.keys], dtype=object)
    names = np.array([display(k) for k in counts.keys], dtype=object)
    dims = np.array([dimension_of(k) for k in counts.keys], dtype=object)
    frames = []
    for model, cells in counts.cells.items():
        flat = cells.reshape(-1, 4)
        intervals = count_intervals(flat, level=level)
        for metric, (num_cells, den_cells) in RATIOS.items():
            numerator = flat[:, list(num_cells)].sum(axis=1)
            denominator = flat[:, list(den_cells)].sum(axis=1)
            keep = denominator > 0
            lo, hi = (side[keep] for side in intervals[metric])
            period = np.repeat(np.arange(n_periods), n_slices)[keep]
            which = np.tile(np.arange(n_slices), n_periods)[keep]
            goal = np.array([goals.get(k, {}).get(metric, np.nan) for k in slice_json],
                            dtype=np.float64)[which]
            frames.append(pd.DataFrame({
                "period": np.asarray(period_labels, dtype=object)[period],
                "period_index": period,
                "period_start": np.asarray(period_starts, dtype="datetime64[ns]")[period],
                "kind": "model", "subject": model, "slice": names[which],
                "dimension": dims[which], "metric": metric,
                "value": numerator[keep] / denominator[keep], "lo": lo, "hi": hi,
                "numerator": numerator[keep], "denominator": denominator[keep],
                "bad": flat[:, list(BAD[metric])].sum(axis=1)[keep],
                "n_items": counts.items.reshape(-1)[keep],
                "target": goal, "status": status(metric, lo, hi, goal),
                "slice_key": slice_json[which]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
