"""Run the configured experiment kinds in order: retrain first, so the new challenger's
scores join the score table and get their own operating points and calibration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.errors import ConfigError
from smo_eval.stages.experiment.calibration import CalibrationResult, calibrate
from smo_eval.stages.experiment.retrain import RetrainResult, retrain
from smo_eval.stages.experiment.splits import PARTS, assign_parts
from smo_eval.stages.experiment.thresholds import ThresholdResult, tune_thresholds

KINDS = ("retrain", "thresholds", "calibration")


@dataclass
class ExperimentResult:
    """What one experiment configuration produced; `metrics` is flat for DVC and MLflow.

    `kinds` lists the kinds that ran, in order: a caller judging the run (an objective
    metric, a sweep) judges only what these produced."""

    parts: np.ndarray
    scores: pd.DataFrame
    retrain: RetrainResult | None = None
    thresholds: ThresholdResult | None = None
    calibration: CalibrationResult | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


def run_experiment(table: pd.DataFrame, scores: pd.DataFrame, cfg: Mapping[str, Any],
                   ci_cfg: Mapping[str, Any], seed: int,
                   progress: Callable[[str], None] | None = None) -> ExperimentResult:
    """Every kind in `cfg['kinds']` on one split of the rows."""
    kinds = [str(k) for k in cfg.get("kinds") or []]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"experiment.kinds names unknown kinds {unknown}; known: {list(KINDS)}")
    parts = assign_parts(table, cfg["split"], seed)
    result = ExperimentResult(parts, scores)
    result.metrics = {f"split.{p}": float((parts == p).sum()) for p in PARTS}
    if "retrain" in kinds:
        name = str(cfg["retrain"]["model_name"])
        result.retrain = retrain(table, parts, cfg["retrain"], seed)
        result.scores = scores.drop(columns=[name], errors="ignore").assign(
            **{name: result.retrain.scores})
        result.metrics |= result.retrain.metrics
        result.notices += result.retrain.notices
        result.kinds.append("retrain")
        if progress is not None:
            progress("retrain")
    if "thresholds" in kinds:
        result.thresholds = tune_thresholds(table, result.scores, parts, cfg["thresholds"],
                                            ci_cfg)
        result.metrics |= result.thresholds.metrics
        result.notices += result.thresholds.notices
        result.kinds.append("thresholds")
        if progress is not None:
            progress("thresholds")
    if "calibration" in kinds:
        result.calibration = calibrate(table, result.scores, parts, cfg["calibration"])
        result.metrics |= result.calibration.metrics
        result.notices += result.calibration.notices
        result.kinds.append("calibration")
        if progress is not None:
            progress("calibration")
    return result
