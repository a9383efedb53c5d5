"""Calibration: isotonic and Platt (sigmoid) maps, global and per group, fitted on the tuning
part; expected calibration error and Brier score before and after on the held-out part.

A score that means "70 % likely violating" in English but 40 % in Thai breaks any shared
threshold; a per-language calibrator is the cheap fix. Judgement reuses the counting engine:
ECE and Brier per slice come from the same histogram sums evaluate uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from smo_eval.config.schema_report import CalibrationConfig
from smo_eval.engine.counting import count_model
from smo_eval.engine.curves import calibration_bins, reliability_curve
from smo_eval.engine.metrics import brier, expected_calibration_error
from smo_eval.engine.slices import build_slice_index
from smo_eval.errors import ConfigError

METHODS = ("platt", "isotonic")
_EPS = 1e-6


@dataclass
class CalibrationResult:
    """ECE / Brier per (model, method, scope, slice), reliability curves, fitted maps."""

    summary: pd.DataFrame
    reliability: dict[str, pd.DataFrame]
    calibrators: dict[str, Any]
    metrics: dict[str, float]
    notices: list[str] = field(default_factory=list)


def _logit(scores: np.ndarray) -> np.ndarray:
    s = np.clip(scores.astype(np.float64), _EPS, 1 - _EPS)
    return np.log(s) - np.log1p(-s)


def fit_map(method: str, scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Fit one calibration map; returned as plain data (JSON-able and re-applicable)."""
    if method == "platt":
        model = LogisticRegression(C=1e6).fit(_logit(scores)[:, None], labels)
        return {"method": "platt", "a": float(model.coef_[0, 0]),
                "b": float(model.intercept_[0])}
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
        return {"method": "isotonic", "x": iso.X_thresholds_.tolist(),
                "y": iso.y_thresholds_.tolist()}
    raise ConfigError(f"experiment.calibration.methods: unknown method {method!r}; "
                      f"known: {list(METHODS)}")


def apply_map(fitted: Mapping[str, Any], scores: np.ndarray) -> np.ndarray:
    """Calibrated scores of a fitted map (NaN stays NaN)."""
    if fitted["method"] == "platt":
        return 1.0 / (1.0 + np.exp(-(fitted["a"] * _logit(scores) + fitted["b"])))
    return np.interp(scores, np.asarray(fitted["x"]), np.asarray(fitted["y"]))


def calibrate(table: pd.DataFrame, scores: pd.DataFrame, parts: np.ndarray,
              cfg: CalibrationConfig, models: list[str]) -> CalibrationResult:
    """Fit every configured method x scope per model on `tune`; judge on `held_out`.

    With `cfg.by` null only the global maps are fitted (and judged overall)."""
    by = cfg.by
    if by is not None and by not in table.columns:
        raise ConfigError(f"experiment.calibration.by={by!r} is not in the data")
    tune, held = parts == "tune", parts == "held_out"
    labels = table["label"].to_numpy()
    groups = (table[by].astype("string").fillna("").to_numpy(dtype=object) if by is not None
              else np.full(len(table), "", dtype=object))
    held_index, _ = build_slice_index(table.loc[held], [by] if by is not None else [], [])
    bins, n_bins = cfg.bins, cfg.score_bins
    support = cfg.min_support
    rows, curves, maps, metrics, notices = [], {}, {}, {}, []
    for model in models:
        raw = scores[model].to_numpy().astype(np.float64)
        fit_rows = tune & ~np.isnan(raw)
        variants: dict[tuple[str, str], np.ndarray] = {("none", "-"): raw[held]}
        for method in cfg.methods:
            glob = fit_map(method, raw[fit_rows], labels[fit_rows])
            maps[f"{model}/{method}/global"] = glob
            variants[(method, "global")] = apply_map(glob, raw[held])
            per_group = apply_map(glob, raw)
            for value in (np.unique(groups[fit_rows]) if by is not None else []):
                rows_g = fit_rows & (groups == value)
                if rows_g.sum() < support.n or labels[rows_g].sum() < support.positives:
                    notices.append(f"{model}/{method}: {by}={value} too small to fit on its "
                                   "own; uses the global map")
                    continue
                fitted = fit_map(method, raw[rows_g], labels[rows_g])
                maps[f"{model}/{method}/{by}={value}"] = fitted
                mask = groups == value
                per_group[mask] = apply_map(fitted, raw[mask])
            if by is not None:
                variants[(method, f"per_{by}")] = per_group[held]
        for (method, scope), calibrated in variants.items():
            stats = count_model(held_index, labels[held], calibrated, 0.5, n_bins)
            calib = calibration_bins(stats.hist, stats.grid, bins)
            ece = expected_calibration_error(calib[:, 0], calib[:, 1], calib[:, 2])
            score_brier = brier(stats.sum_sq, stats.sum_score[:, 1], stats.n_pos, stats.n)
            rows.append(pd.DataFrame({"model": model, "method": method, "scope": scope,
                                      "slice": held_index.names, "n": stats.n,
                                      "n_pos": stats.n_pos, "ece": ece, "brier": score_brier}))
            curves[f"{model}__{method}__{scope}"] = reliability_curve(calib[0], bins)
            key = f"calibration.{model}.{method}" + ("" if method == "none" else f".{scope}")
            metrics[f"{key}.ece"], metrics[f"{key}.brier"] = float(ece[0]), float(score_brier[0])
    summary = pd.concat(rows, ignore_index=True)
    return CalibrationResult(summary[summary["n"] > 0].reset_index(drop=True), curves, maps,
                             metrics, list(dict.fromkeys(notices)))
