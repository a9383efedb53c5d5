"""`smo-eval experiment`: the configured improvement experiments (per-slice thresholds,
calibration, a retrained LightGBM challenger), their files and the challenger in the MLflow
registry.

`metrics.json` is for `dvc metrics`; `results/thresholds.csv` is what
`evaluate.thresholds_file` reads; `results/predictions.parquet` (item_id, model, score) is the
challenger every later stage of the pipeline joins; `reliability/` holds the curves for
`dvc plots`.
"""

from __future__ import annotations

import importlib.metadata
import math
from typing import Any

import pandas as pd

from smo_eval import console
from smo_eval.config.schema import Config
from smo_eval.nodes import capped
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult
from smo_eval.tracking import StageRun

# Types inside the challenger pipeline that skops (MLflow's safe sklearn format) must be told
# to trust: the LightGBM estimator and its booster.
SKOPS_TRUSTED = ["collections.OrderedDict", "lightgbm.basic.Booster",
                 "lightgbm.sklearn.LGBMClassifier"]


def run(ctx: StageContext) -> StageResult:
    from smo_eval.stages.experiment.runner import KINDS, run_experiment

    cfg = ctx.config.experiment
    if not cfg.enabled:
        return StageResult({"experiment.metrics": {"skipped": True},
                            "experiment.skipped": "experiment.enabled=false\n"},
                           status="skipped", notices=["experiment: skipped "
                                                      "(experiment.enabled=false)"])
    # The challenger of an earlier run is never an input: it is about to be replaced.
    data = ctx.dataset(with_challenger=False)
    kinds = [k for k in KINDS if k in cfg.kinds]
    hard = frozenset(data.hard_label_models)
    if hard:  # decisions, not scores: no threshold to tune, nothing to calibrate
        ctx.notice(f"threshold tuning and calibration leave out hard 0/1 predictions: "
                   f"{', '.join(sorted(hard))}")
    with ctx.progress("experiment", total=len(kinds)) as step:
        result = run_experiment(data.eval_table, data.scores, cfg,
                                ci_level=ctx.config.evaluate.ci.level, seed=ctx.seed,
                                exclude=hard, progress=step)
    outputs: dict[str, Any] = {"experiment.metrics": result.metrics}
    if result.retrain is not None:
        scores = result.retrain.scores
        keep = ~pd.isna(scores)
        outputs["experiment.predictions"] = pd.DataFrame({
            "item_id": data.eval_table["item_id"].to_numpy()[keep],
            "model": result.retrain.model_name, "score": scores[keep].astype("float64")})
        outputs["experiment.retrain"] = {k: v for k, v in result.metrics.items()
                                         if k.startswith("retrain.")}
    if result.thresholds is not None:
        outputs["experiment.thresholds"] = result.thresholds.thresholds
        outputs["experiment.threshold_judgement"] = result.thresholds.judgement
    if result.calibration is not None:
        outputs["experiment.calibration"] = result.calibration.summary
        outputs["experiment.calibrators"] = result.calibration.calibrators
        outputs["experiment.reliability"] = result.calibration.reliability
    metrics = {k.replace(".", "/"): v for k, v in result.metrics.items()}
    objective, why = objective_value(cfg.objective.metric, result.metrics, result.kinds)
    if objective is not None:
        metrics["objective"] = objective
    notices = [*result.notices, *([why] if why else [])]
    return StageResult(outputs, capped(metrics), {"kinds": ",".join(kinds),
                                                  "objective.metric": cfg.objective.metric},
                       notices, result, run_label=", ".join(kinds))


def objective_value(metric: str, metrics: dict[str, float],
                    ran: list[str]) -> tuple[float | None, str | None]:
    """The sweep objective, judged only on the kinds that ran: (value, None), or (None, why
    there is none). A metric of a kind this run did not include (the default objective is a
    retrain metric; `experiment.kinds=[thresholds]` has none) is no error: the run's own
    results stand, and the notice says why no objective was recorded."""
    from smo_eval.stages.experiment.runner import KINDS

    kind = metric.split(".", 1)[0]
    where = f"experiment.objective.metric={metric}"
    if kind in KINDS and kind not in ran:
        return None, (f"{where}: {kind} did not run (experiment.kinds={ran}): no objective "
                      "recorded")
    value = metrics.get(metric)
    if value is None:
        return None, f"{where} is not a metric of this run: no objective recorded"
    if math.isnan(value):
        return None, f"{where} is undefined in this run: no objective recorded"
    return float(value), None


def show(result: StageResult) -> None:
    if result.status == "skipped":
        return
    found = result.value
    if found.retrain is not None:
        frame = pd.DataFrame([{"metric": k.removeprefix("retrain."), "value": v}
                              for k, v in found.retrain.metrics.items()])
        console.console.print(console.table(
            f"Retrained challenger {found.retrain.model_name}", frame, {"value": "num"}))
    if found.thresholds is not None:
        judged = found.thresholds.judgement
        wide = judged.pivot_table(index=["model", "slice"], columns="operating_point",
                                  values=["precision", "recall"], observed=True)
        wide.columns = [f"{pair[0]}_{pair[1]}" for pair in wide.columns]
        # The stage's warning on a tuned threshold whose held-out recall collapsed.
        warnings = judged[judged["operating_point"] == "per_slice"].set_index(
            ["model", "slice"])["warning"]
        wide = wide.join(warnings).reset_index()
        kinds = {c: "ratio" for c in wide.columns} | {"model": "text", "slice": "text",
                                                      "warning": "text"}
        console.console.print(console.table("Held-out: per-slice vs global threshold", wide,
                                            kinds, max_rows=40))
    if found.calibration is not None:
        summary = found.calibration.summary
        overall = summary[summary["slice"] == "overall"][["model", "method", "scope", "n",
                                                          "ece", "brier"]]
        console.console.print(console.table(
            "Held-out calibration (overall)", overall,
            {"n": "count", "ece": "num", "brier": "num"}))


def log(mlrun: StageRun, result: StageResult, config: Config) -> None:
    """Register the challenger as a new version of the configured registered model."""
    found = result.value
    registry = config.experiment.registry
    if found is None or found.retrain is None or not registry.log_model:
        return
    version = log_model(mlrun, found, registry.model_name)
    mlrun.set_tags({"registered_model": registry.model_name,
                    "registered_model_version": version,
                    "challenger": found.retrain.model_name})


def log_model(mlrun: StageRun, found: Any, registered_name: str) -> str:
    """Log the challenger pipeline with explicit pip requirements (skips the slow inference of
    requirements) and register it as a new version of `registered_name`."""
    requirements = [f"{dist}=={importlib.metadata.version(dist)}"
                    for dist in ("scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "skops")]
    info = mlrun.log_sklearn_model(found.retrain.pipeline, name="model",
                                   pip_requirements=requirements,
                                   skops_trusted_types=SKOPS_TRUSTED,
                                   input_example=found.retrain.input_example,
                                   registered_model_name=registered_name)
    return str(info.registered_model_version)
