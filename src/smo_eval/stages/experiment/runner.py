"""Run the configured experiment kinds in order: retrain first, so the new challenger's
scores join the score table and get their own operating points and calibration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from smo_eval.config.schema_report import ExperimentConfig
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


def run_experiment(table: pd.DataFrame, scores: pd.DataFrame, cfg: ExperimentConfig, *,
                   ci_level: float, seed: int, exclude: frozenset[str] = frozenset(),
                   progress: Callable[[str], None] | None = None) -> ExperimentResult:
    """Every kind in `cfg.kinds` on one split of the rows.

    Thresholds and calibration take their own `models`, else `cfg.models`, else every model
    scored (the retrained challenger included); `exclude` names models they must leave out
    (hard 0/1 decisions have no threshold to tune and nothing to calibrate)."""
    kinds = [str(k) for k in cfg.kinds]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"experiment.kinds names unknown kinds {unknown}; known: {list(KINDS)}")
    parts = assign_parts(table, cfg.split, seed)
    result = ExperimentResult(parts, scores)
    result.metrics = {f"split.{p}": float((parts == p).sum()) for p in PARTS}
    if "retrain" in kinds:
        name = cfg.retrain.model_name
        result.retrain = retrain(table, parts, cfg.retrain, seed)
        result.scores = scores.drop(columns=[name], errors="ignore").assign(
            **{name: result.retrain.scores})
        result.metrics |= result.retrain.metrics
        result.notices += result.retrain.notices
        result.kinds.append("retrain")
        if progress is not None:
            progress("retrain")
    if "thresholds" in kinds:
        models = _models(cfg.thresholds.models or cfg.models, result.scores, exclude)
        result.thresholds = tune_thresholds(table, result.scores, parts, cfg.thresholds,
                                            models=models, ci_level=ci_level)
        result.metrics |= result.thresholds.metrics
        result.notices += result.thresholds.notices
        result.kinds.append("thresholds")
        if progress is not None:
            progress("thresholds")
    if "calibration" in kinds:
        models = _models(cfg.calibration.models or cfg.models, result.scores, exclude)
        result.calibration = calibrate(table, result.scores, parts, cfg.calibration, models)
        result.metrics |= result.calibration.metrics
        result.notices += result.calibration.notices
        result.kinds.append("calibration")
        if progress is not None:
            progress("calibration")
    return result


def _models(named: list[str], scores: pd.DataFrame, exclude: frozenset[str]) -> list[str]:
    """The models a kind works on: those named (each must be scored) or every scored one."""
    missing = [m for m in named if m not in scores.columns]
    if missing:
        raise ConfigError(f"experiment: model(s) {missing} have no scores; scored: "
                          f"{sorted(map(str, scores.columns))}")
    return [m for m in (named or list(scores.columns)) if m not in exclude]
