"""Evaluate: sliced metrics with confidence intervals for every model, from one counting pass.

Pure: takes the evaluation table and the aligned score table from ingest and returns tables.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import EvaluateConfig
from smo_eval.engine.counting import SliceStats, count_model
from smo_eval.engine.curves import calibration_bins, reliability_curve, roc_pr_curves
from smo_eval.engine.histograms import occupied_bins, occupied_mask
from smo_eval.engine.intervals import (
    COUNT_METRICS_WITH_CI,
    RANK_METRICS_WITH_CI,
    count_intervals,
    rank_metrics,
)
from smo_eval.engine.metrics import (
    brier,
    count_metrics,
    expected_calibration_error,
    undefined_metrics,
)
from smo_eval.engine.slices import SliceIndex, build_slice_index
from smo_eval.errors import ConfigError
from smo_eval.operating_point import Threshold, given_or_configured
from smo_eval.pipeline.dataset import HARD_LABEL_REASON
from smo_eval.slicekey import to_json

if TYPE_CHECKING:
    from smo_eval.engine.backends import Relation

METRICS = ["precision", "recall", "f1", "fpr", "accuracy", "roc_auc", "pr_auc", "brier", "ece"]
INTERVAL_METRICS = [*COUNT_METRICS_WITH_CI, *RANK_METRICS_WITH_CI]
COLUMNS = ["model", "slice", "n", "n_pos", "tp", "fp", "fn", "tn", *METRICS,
           *(f"{m}_{side}" for m in INTERVAL_METRICS for side in ("lo", "hi")),
           "dimension", "threshold", "low_support", "undefined", "n_unscored", "slice_key"]
HEADLINE = ["n", "n_unscored", "n_pos", "precision", "recall", "f1", "fpr", "roc_auc",
            "pr_auc", "brier",
            "ece", *(f"{m}_{side}" for m in INTERVAL_METRICS for side in ("lo", "hi"))]
# Values per block of rank-metric work, slices x packed bins (and slices x bins copied out of
# the histogram): bounds its temporaries.
_BLOCK_VALUES = 1 << 20
# A block's widest slice occupies at most SPREAD x its narrowest + SLACK bins: padding stays
# a small part of the work, and blocks are few (each has a fixed cost in numpy calls).
_BLOCK_SPREAD = 1.25
_BLOCK_SLACK = 64


@dataclass
class Evaluation:
    """What `evaluate` found: the slice table, curves per model, headline numbers, notices."""

    slice_metrics: pd.DataFrame
    curves: dict[str, dict[str, pd.DataFrame]]
    headline: dict[str, dict[str, float]]
    notices: list[str] = field(default_factory=list)


def evaluate(table: pd.DataFrame, scores: pd.DataFrame, cfg: EvaluateConfig,
             slicing: SlicingConfig, *,
             thresholds: Mapping[str, Threshold] | None = None,
             hard_labels: Collection[str] = (),
             progress: Callable[[str], None] | None = None) -> Evaluation:
    """Sliced metrics, intervals and curves for each model in `scores` (or `cfg.models`), each
    at its operating point: `thresholds` (from `smo_eval.operating_point.resolve`), else the
    configured ones. Intervals are closed form (`engine/intervals.py`): nothing is random.

    Models in `hard_labels` predict 0/1 decisions: their rank metrics and calibration are left
    out (NaN, with the reason in `undefined`) and they get no curves."""
    models = _models(cfg, [str(c) for c in scores.columns])
    thresholds = given_or_configured(cfg, table, models, thresholds)
    index, notices = build_slice_index(table, slicing.dimensions, slicing.crosses)
    labels = table["label"].to_numpy()

    def counted() -> Iterator[tuple[str, SliceStats, np.ndarray]]:
        for model in models:
            column = scores[model].to_numpy()
            yield model, count_model(index, labels, column, thresholds[model],
                                     cfg.score_bins), _unscored(index, column)

    return _evaluation(index, counted(), thresholds, cfg, notices, progress, hard_labels)


def evaluate_relation(relation: Relation, cfg: EvaluateConfig, slicing: SlicingConfig, *,
                      thresholds: Mapping[str, Threshold],
                      hard_labels: Collection[str] = (),
                      progress: Callable[[str], None] | None = None
                      ) -> tuple[Evaluation, pd.DataFrame]:
    """`evaluate` with the counting done by a SQL backend (`engine.backend`) on a relation;
    also returns the coverage table (gold items each model scored)."""
    from smo_eval.engine.backends.sql import model_counts

    models = _models(cfg, list(relation.models))
    index, stats, unscored, coverage, notices = model_counts(
        relation, slicing.dimensions, slicing.crosses, models, dict(thresholds),
        cfg.score_bins)
    counted = ((m, stats[m], unscored[m]) for m in models)
    return (_evaluation(index, counted, thresholds, cfg, notices, progress, hard_labels),
            coverage)


def _models(cfg: EvaluateConfig, known: list[str]) -> list[str]:
    models = list(cfg.models or known)
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ConfigError(f"evaluate.models names models without predictions: {unknown}; "
                          f"known: {known}")
    return models


def _evaluation(index: SliceIndex, counted: Iterable[tuple[str, SliceStats, np.ndarray]],
                thresholds: Mapping[str, Threshold], cfg: EvaluateConfig,
                notices: list[str], progress: Callable[[str], None] | None,
                hard_labels: Collection[str]) -> Evaluation:
    frames, curves, headline = [], {}, {}
    for model, stats, unscored in counted:
        frame = _slice_frame(model, index, stats, thresholds[model], cfg, unscored)
        if model in hard_labels:
            frame = without_rank_metrics(frame)
        else:
            curves[model] = _curves(stats, cfg)
        frames.append(frame)
        overall = frame.iloc[0]
        headline[model] = {k: _plain(overall[k]) for k in HEADLINE}
        if progress is not None:
            progress(model)
    return Evaluation(pd.concat(frames, ignore_index=True)[COLUMNS], curves, headline, notices)


RANK_COLUMNS = ["roc_auc", "pr_auc", "brier", "ece", "roc_auc_lo", "roc_auc_hi", "pr_auc_lo",
                "pr_auc_hi"]


def without_rank_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """A hard-label model's slice table: rank metrics and calibration are not measured."""
    out = frame.copy()
    out[RANK_COLUMNS] = np.nan
    out["undefined"] = [HARD_LABEL_REASON if not u else f"{u}; {HARD_LABEL_REASON}"
                        for u in out["undefined"]]
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else round(float(value), 6)
    return value


def _unscored(index: SliceIndex, scores: np.ndarray) -> np.ndarray:
    """Per slice, the gold items the model did not score (they are not in its counts)."""
    missing = np.isnan(scores)
    per_cell = np.bincount(index.cell_of_row[missing], minlength=index.n_cells).astype(float)
    return index.aggregate(per_cell).round().astype(np.int64)


def _slice_frame(model: str, index: SliceIndex, stats: SliceStats, threshold: Threshold,
                 cfg: EvaluateConfig, unscored: np.ndarray) -> pd.DataFrame:
    cells = stats.cells
    n, n_pos = stats.n, stats.n_pos
    values: dict[str, Any] = {
        "model": model, "slice": index.names, "n": n, "n_pos": n_pos,
        "tp": cells[:, 3], "fp": cells[:, 1], "fn": cells[:, 2], "tn": cells[:, 0],
        **count_metrics(cells),
        **_histogram_columns(stats, cfg),
        "brier": brier(stats.sum_sq, stats.sum_score[:, 1], n_pos, n),
    }
    for metric, (lo, hi) in count_intervals(cells, level=cfg.ci.level).items():
        values[f"{metric}_lo"], values[f"{metric}_hi"] = lo, hi
    values["dimension"] = index.dimensions
    values["threshold"] = slice_thresholds(index, threshold)
    values["low_support"] = (n < cfg.min_support.n) | (n_pos < cfg.min_support.positives)
    values["undefined"] = undefined_metrics(cells)
    values["n_unscored"] = unscored
    values["slice_key"] = [to_json(k) for k in index.keys]
    frame = pd.DataFrame(values)
    return frame[(frame["n"] + frame["n_unscored"]) > 0].reset_index(drop=True)


def _histogram_columns(stats: SliceStats, cfg: EvaluateConfig) -> dict[str, np.ndarray]:
    """ROC-AUC, PR-AUC, ECE and the rank intervals on each slice's occupied bins
    (`occupied_bins`), a block of slices at a time: their temporaries are block x occupied
    bins, not slices x bins (thousands of slices x 8,192 bins). Slices go into blocks by the
    number of bins they occupy, so that few padding bins are worked on; a slice without
    items has none of these (NaN)."""
    n_slices = stats.hist.shape[0]
    names = ["roc_auc", "pr_auc", "ece", *(f"{m}_{s}" for m in RANK_METRICS_WITH_CI
                                           for s in ("lo", "hi"))]
    out = {name: np.full(n_slices, np.nan) for name in names}
    for rows in _blocks(_occupancy(stats.hist), stats.hist.shape[-1]):
        packed, bins = occupied_bins(stats.hist[rows])
        calib = calibration_bins(packed, stats.grid, cfg.calibration_bins, bins)
        out["ece"][rows] = expected_calibration_error(calib[:, 0], calib[:, 1], calib[:, 2])
        for metric, (est, (lo, hi)) in rank_metrics(packed, level=cfg.ci.level).items():
            out[metric][rows] = est
            out[f"{metric}_lo"][rows], out[f"{metric}_hi"][rows] = lo, hi
    return out


def _occupancy(hist: np.ndarray) -> np.ndarray:
    """Per slice, the number of bins holding items of either class (a block at a time)."""
    block = max(1, _BLOCK_VALUES // max(hist.shape[-1], 1))
    parts = [np.count_nonzero(occupied_mask(hist[start:start + block]), axis=1)
             for start in range(0, len(hist), block)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _blocks(occupancy: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """The slices with items in blocks, by occupancy: a block's slices occupy between
    (w - `_BLOCK_SLACK`) / `_BLOCK_SPREAD` and w bins, w its width, so padding is a small
    part of it and blocks are few. A block holds at most `_BLOCK_VALUES` packed bins, and no
    more slices than the histogram values bound (the block is copied out of it)."""
    order = np.argsort(occupancy, kind="stable")
    order = order[occupancy[order] > 0]
    most = max(1, _BLOCK_VALUES // max(n_bins, 1))
    blocks, start = [], 0
    while start < len(order):
        least, stop = occupancy[order[start]], start + 1
        while (stop < len(order) and stop - start < most
               and occupancy[order[stop]] <= _BLOCK_SPREAD * least + _BLOCK_SLACK
               and (stop - start + 1) * occupancy[order[stop]] <= _BLOCK_VALUES):
            stop += 1
        blocks.append(order[start:stop])
        start = stop
    return blocks


def slice_thresholds(index: SliceIndex, threshold: Threshold) -> np.ndarray:
    """The threshold each slice is counted at: the model's one threshold, or with per-row
    thresholds (a per-slice thresholds file) the slice's own when all its rows share one,
    NaN when its rows are counted at several (the tp/fp/fn/tn are still exact)."""
    n_slices = len(index.keys)
    if np.ndim(threshold) == 0:
        return np.full(n_slices, float(threshold))
    per_row = np.asarray(threshold, dtype=np.float64)
    cells = index.cell_of_row
    low = np.full(index.n_cells, np.inf)
    high = np.full(index.n_cells, -np.inf)
    np.minimum.at(low, cells, per_row)
    np.maximum.at(high, cells, per_row)
    membership = index.membership.tocsr()
    out = np.full(n_slices, np.nan)
    for s in range(n_slices):
        member = membership.indices[membership.indptr[s]:membership.indptr[s + 1]]
        lo, hi = low[member].min(initial=np.inf), high[member].max(initial=-np.inf)
        if np.isfinite(lo) and lo == hi:
            out[s] = lo
    return out


def _curves(stats: SliceStats, cfg: EvaluateConfig) -> dict[str, pd.DataFrame]:
    """Overall ROC, PR and reliability curves of one model (for `dvc plots` and the report)."""
    roc, pr = roc_pr_curves(stats.hist[0], stats.grid, cfg.curve_points)
    bins = cfg.calibration_bins
    reliability = reliability_curve(calibration_bins(stats.hist[0], stats.grid, bins), bins)
    return {"roc": roc, "pr": pr, "reliability": reliability}
