"""Evaluate: sliced metrics with confidence intervals for every model, from one counting pass.

Pure: takes the evaluation table and the aligned score table from ingest and returns tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.engine.counting import SliceStats, count_model
from smo_eval.engine.curves import calibration_bins, reliability_curve, roc_pr_curves
from smo_eval.engine.intervals import (
    COUNT_METRICS_WITH_CI,
    RANK_METRICS_WITH_CI,
    count_intervals,
    rank_intervals,
)
from smo_eval.engine.metrics import (
    average_precision,
    brier,
    count_metrics,
    expected_calibration_error,
    roc_auc,
    undefined_metrics,
)
from smo_eval.engine.slices import SliceIndex, build_slice_index

METRICS = ["precision", "recall", "f1", "fpr", "accuracy", "roc_auc", "pr_auc", "brier", "ece"]
INTERVAL_METRICS = [*COUNT_METRICS_WITH_CI, *RANK_METRICS_WITH_CI]
COLUMNS = ["model", "slice", "n", "n_pos", "tp", "fp", "fn", "tn", *METRICS,
           *(f"{m}_{side}" for m in INTERVAL_METRICS for side in ("lo", "hi")),
           "dimension", "threshold", "low_support", "undefined"]
HEADLINE = ["n", "n_pos", "precision", "recall", "f1", "fpr", "roc_auc", "pr_auc", "brier",
            "ece", *(f"{m}_{side}" for m in INTERVAL_METRICS for side in ("lo", "hi"))]

Threshold = float | np.ndarray


@dataclass
class Evaluation:
    """What `evaluate` found: the slice table, curves per model, headline numbers, notices."""

    slice_metrics: pd.DataFrame
    curves: dict[str, dict[str, pd.DataFrame]]
    headline: dict[str, dict[str, float]]
    notices: list[str] = field(default_factory=list)


def model_thresholds(models: Sequence[str], cfg: Mapping[str, Any]) -> dict[str, Threshold]:
    """Each model's threshold: `evaluate.thresholds[model]`, else `evaluate.threshold`."""
    per_model = cfg.get("thresholds") or {}
    return {m: float(per_model.get(m, cfg["threshold"])) for m in models}


def evaluate(table: pd.DataFrame, scores: pd.DataFrame, evaluate_cfg: Mapping[str, Any],
             slicing_cfg: Mapping[str, Any], seed: int,
             thresholds: Mapping[str, Threshold] | None = None,
             progress: Callable[[str], None] | None = None) -> Evaluation:
    """Sliced metrics, intervals and curves for each model in `scores` (or `evaluate.models`).

    The intervals are closed form (`engine/intervals.py`), so the result does not depend on
    `seed`; the parameter stays for the callers that pass it.
    """
    models = list(evaluate_cfg.get("models") or scores.columns)
    unknown = [m for m in models if m not in scores.columns]
    if unknown:
        raise KeyError(f"evaluate.models names models without predictions: {unknown}; "
                       f"known: {list(scores.columns)}")
    thresholds = dict(thresholds or model_thresholds(models, evaluate_cfg))
    index, notices = build_slice_index(table, slicing_cfg.get("dimensions") or [],
                                       slicing_cfg.get("crosses") or [])
    labels = table["label"].to_numpy()
    frames, curves, headline = [], {}, {}
    for model in models:
        stats = count_model(index, labels, scores[model].to_numpy(), thresholds[model],
                            int(evaluate_cfg["score_bins"]))
        frame = _slice_frame(model, index, stats, thresholds[model], evaluate_cfg)
        frames.append(frame)
        curves[model] = _curves(stats, evaluate_cfg)
        overall = frame.iloc[0]
        headline[model] = {k: _plain(overall[k]) for k in HEADLINE}
        if progress is not None:
            progress(model)
    return Evaluation(pd.concat(frames, ignore_index=True)[COLUMNS], curves, headline, notices)


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else round(float(value), 6)
    return value


def _slice_frame(model: str, index: SliceIndex, stats: SliceStats, threshold: Threshold,
                 cfg: Mapping[str, Any]) -> pd.DataFrame:
    cells = stats.cells
    n, n_pos = stats.n, stats.n_pos
    neg, pos = stats.hist[:, 0], stats.hist[:, 1]
    calib = calibration_bins(stats.hist, stats.grid, int(cfg["calibration_bins"]))
    values: dict[str, Any] = {
        "model": model, "slice": index.names, "n": n, "n_pos": n_pos,
        "tp": cells[:, 3], "fp": cells[:, 1], "fn": cells[:, 2], "tn": cells[:, 0],
        **count_metrics(cells),
        "roc_auc": roc_auc(neg, pos),
        "pr_auc": average_precision(neg, pos),
        "brier": brier(stats.sum_sq, stats.sum_score[:, 1], n_pos, n),
        "ece": expected_calibration_error(calib[:, 0], calib[:, 1], calib[:, 2]),
    }
    level = float(cfg["ci"]["level"])
    intervals = count_intervals(cells, level=level) | rank_intervals(stats.hist, level=level)
    for metric, (lo, hi) in intervals.items():
        values[f"{metric}_lo"], values[f"{metric}_hi"] = lo, hi
    support = cfg["min_support"]
    values["dimension"] = index.dimensions
    values["threshold"] = float(threshold) if np.ndim(threshold) == 0 else np.nan
    values["low_support"] = (n < int(support["n"])) | (n_pos < int(support["positives"]))
    values["undefined"] = undefined_metrics(cells)
    frame = pd.DataFrame(values)
    return frame[frame["n"] > 0].reset_index(drop=True)


def _curves(stats: SliceStats, cfg: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Overall ROC, PR and reliability curves of one model (for `dvc plots` and the report)."""
    roc, pr = roc_pr_curves(stats.hist[0], stats.grid, int(cfg["curve_points"]))
    bins = int(cfg["calibration_bins"])
    reliability = reliability_curve(calibration_bins(stats.hist[0], stats.grid, bins), bins)
    return {"roc": roc, "pr": pr, "reliability": reliability}
