"""`smo-eval experiment`: run the configured improvement experiments, write their files, log
them to MLflow (the challenger as a registered model version); `-m` sweeps configurations as
nested runs under one parent that names the best child by `experiment.objective`.

Files under `outputs/experiment/`: `metrics.json` (for `dvc metrics`), `results/`
(thresholds.csv for `evaluate.thresholds_file`, threshold_judgement.csv, calibration.csv,
calibrators.json, predictions.parquet for `data.extra_predictions`, retrain.json) and
`reliability/<model>__<method>__<scope>.csv` (for `dvc plots`). A sweep writes each child's
files under `sweep/<i>/` and `sweep.csv`.
"""

from __future__ import annotations

import importlib.metadata
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import Context
from smo_eval.commands.inputs import Inputs, load_inputs
from smo_eval.commands.sweep import expand_sweep
from smo_eval.errors import ConfigError
from smo_eval.io.writers import write_csv, write_json, write_parquet
from smo_eval.stages.experiment.runner import KINDS, ExperimentResult, run_experiment
from smo_eval.tracking import StageRun, stage_run

RESULTS, RELIABILITY, METRICS_FILE = "results", "reliability", "metrics.json"
# Types inside the challenger pipeline that skops (MLflow's safe sklearn format) must be told
# to trust: the LightGBM estimator and its booster.
SKOPS_TRUSTED = ["collections.OrderedDict", "lightgbm.basic.Booster",
                 "lightgbm.sklearn.LGBMClassifier"]


@dataclass
class Outcome:
    """One experiment run: its result (None when disabled), objective and MLflow run id."""

    result: ExperimentResult | None
    objective: float | None
    run_id: str | None
    folder: Path


def run(ctx: Context, inputs: Inputs | None = None, folder: Path | None = None) -> Outcome:
    cfg = ctx.section("experiment")
    folder = folder or ctx.stage_dir("experiment")
    if not cfg.get("enabled", True):
        return _skip(folder)
    # Its own earlier challenger file is never an input: it is about to be rewritten and
    # may belong to another gold set.
    own = [] if "retrain" not in (cfg.get("kinds") or []) else [
        str(ctx.stage_dir("experiment") / RESULTS / "predictions.parquet")]
    inputs = inputs or load_inputs(ctx, exclude=own)
    kinds = [k for k in KINDS if k in (cfg.get("kinds") or [])]
    with console.progress("experiment", total=len(kinds)) as step:
        result = run_experiment(inputs.eval_table, inputs.scores, cfg,
                                ctx.section("evaluate")["ci"], ctx.seed, progress=step)
    console.notices(result.notices)
    objective = _objective(cfg, result.metrics)
    write_outputs(ctx, result, folder, inputs.eval_table["item_id"])
    show(result, cfg)
    with stage_run(ctx.section("mlflow"), "experiment", ctx.plain, ctx.project_root, {
        **ctx.base_tags(), **{f"input.{k}.sha256": v for k, v in inputs.hashes.items()},
        "gold_version": inputs.gold_version, "kinds": ",".join(kinds),
    }) as mlrun:
        run_id = None
        if mlrun is not None:
            run_id = mlrun.run_id
            log(mlrun, result, folder, cfg, objective)
    return Outcome(result, objective, run_id, folder)


def _skip(folder: Path) -> Outcome:
    """Experiments switched off: leave the stage's outputs as an explicit 'skipped' marker."""
    for sub in (RESULTS, RELIABILITY):
        shutil.rmtree(folder / sub, ignore_errors=True)
        (folder / sub).mkdir(parents=True)
    (folder / RESULTS / "SKIPPED").write_text("experiment.enabled=false\n", encoding="utf-8")
    write_json({"skipped": True}, folder / METRICS_FILE)
    console.console.print("experiment: skipped (experiment.enabled=false)")
    return Outcome(None, None, None, folder)


def _objective(cfg: dict[str, Any], metrics: dict[str, float]) -> float | None:
    name = str(cfg["objective"]["metric"])
    if name not in metrics:
        raise ConfigError(f"experiment.objective.metric={name!r} is not among this run's "
                          f"metrics: {sorted(metrics)}")
    value = metrics[name]
    return None if math.isnan(value) else value


def write_outputs(ctx: Context, result: ExperimentResult, folder: Path,
                  item_ids: pd.Series) -> None:
    results = folder / RESULTS
    (results / "SKIPPED").unlink(missing_ok=True)
    write_json(result.metrics, folder / METRICS_FILE)
    if result.retrain is not None:
        write_parquet(prediction_file(ctx, result, item_ids), results / "predictions.parquet")
        write_json({k: v for k, v in result.metrics.items() if k.startswith("retrain.")},
                   results / "retrain.json")
    if result.thresholds is not None:
        write_csv(result.thresholds.thresholds, results / "thresholds.csv")
        write_csv(result.thresholds.judgement, results / "threshold_judgement.csv")
    if result.calibration is not None:
        write_csv(result.calibration.summary, results / "calibration.csv")
        write_json(result.calibration.calibrators, results / "calibrators.json")
        for name, curve in result.calibration.reliability.items():
            write_csv(curve, folder / RELIABILITY / f"{name}.csv")


def prediction_file(ctx: Context, result: ExperimentResult, item_ids: pd.Series) -> pd.DataFrame:
    """The challenger's scores as a predictions table, in the team's own column names so it
    reads like any other predictions file (`data.extra_predictions`)."""
    assert result.retrain is not None
    scores = result.retrain.scores
    keep = ~pd.isna(scores)
    data = ctx.section("data")
    names = {**(data.get("columns") or {}),
             **((data.get("table_columns") or {}).get("predictions") or {})}
    return pd.DataFrame({
        names.get("item_id", "item_id"): item_ids.to_numpy()[keep],
        names.get("model", "model"): result.retrain.model_name,
        names.get("score", "score"): scores[keep].astype("float64")})


def show(result: ExperimentResult, cfg: dict[str, Any]) -> None:
    if result.retrain is not None:
        frame = pd.DataFrame([{"metric": k.removeprefix("retrain."), "value": v}
                              for k, v in result.retrain.metrics.items()])
        console.console.print(console.table(
            f"Retrained challenger {result.retrain.model_name}", frame, {"value": "num"}))
    if result.thresholds is not None:
        judged = result.thresholds.judgement
        wide = judged.pivot_table(index=["model", "slice"], columns="operating_point",
                                  values=["precision", "recall"], observed=True)
        wide.columns = [f"{pair[0]}_{pair[1]}" for pair in wide.columns]
        wide = wide.reset_index()
        kinds = {c: "ratio" for c in wide.columns} | {"model": "text", "slice": "text"}
        target = cfg["thresholds"]["target"]
        console.console.print(console.table(
            f"Held-out: per-{cfg['thresholds']['dimension']} vs global threshold "
            f"({target['metric']} target {target['value']})", wide, kinds, max_rows=40))
    if result.calibration is not None:
        summary = result.calibration.summary
        overall = summary[summary["slice"] == "overall"][["model", "method", "scope", "n",
                                                          "ece", "brier"]]
        console.console.print(console.table(
            "Held-out calibration (overall)", overall,
            {"n": "count", "ece": "num", "brier": "num"}))


def log(mlrun: StageRun, result: ExperimentResult, folder: Path, cfg: dict[str, Any],
        objective: float | None) -> None:
    metrics = {k.replace(".", "/"): v for k, v in result.metrics.items()}
    if objective is not None:
        metrics["objective"] = objective
    mlrun.log_metrics(metrics)
    mlrun.set_tags({"objective.metric": cfg["objective"]["metric"]})
    mlrun.log_artifact(folder / METRICS_FILE, "experiment")
    mlrun.log_artifact(folder / RESULTS, "experiment/results")
    mlrun.log_artifact(folder / RELIABILITY, "experiment/reliability")
    registry = cfg["registry"]
    if result.retrain is not None and registry.get("log_model", True):
        version = log_model(result, str(registry["model_name"]))
        mlrun.set_tags({"registered_model": registry["model_name"],
                        "registered_model_version": version,
                        "challenger": result.retrain.model_name})


def log_model(result: ExperimentResult, registered_name: str) -> str:
    """Log the challenger pipeline with explicit pip requirements (skips the slow inference of
    requirements) and register it as a new version of `registered_name`."""
    import mlflow.sklearn

    assert result.retrain is not None
    requirements = [f"{dist}=={importlib.metadata.version(dist)}"
                    for dist in ("scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "skops")]
    info = mlflow.sklearn.log_model(result.retrain.pipeline, name="model",
                                    pip_requirements=requirements,
                                    skops_trusted_types=SKOPS_TRUSTED,
                                    input_example=result.retrain.input_example,
                                    registered_model_name=registered_name)
    return str(info.registered_model_version)


def sweep(overrides: Sequence[str], params: Path | None) -> list[Outcome]:
    """Hydra multirun: each combination of the sweep overrides is one child run (nested under
    one parent MLflow run); the parent records the best child by `experiment.objective`."""
    combos = expand_sweep(overrides)
    first = Context.load(combos[0], params)
    cfg = first.section("experiment")
    mode = str(cfg["objective"]["mode"])
    if mode not in ("max", "min"):
        raise ConfigError(f"experiment.objective.mode must be max or min, got {mode!r}")
    folder = first.stage_dir("experiment") / "sweep"
    inputs = load_inputs(first, exclude=[str(first.stage_dir("experiment") / RESULTS /
                                             "predictions.parquet")])
    outcomes, rows = [], []
    with stage_run(first.section("mlflow"), "experiment-sweep", first.plain,
                   first.project_root, {**first.base_tags(), "sweep.runs": len(combos),
                                        "sweep.overrides": " ".join(overrides)}) as parent:
        for i, combo in enumerate(combos):
            ctx = Context.load(combo, params)
            console.console.rule(f"[bold]sweep run {i + 1}/{len(combos)}: {' '.join(combo)}")
            same_data = (ctx.section("data") == first.section("data")
                         and ctx.section("taxonomy") == first.section("taxonomy"))
            outcome = run(ctx, inputs if same_data else None, folder / str(i))
            outcomes.append(outcome)
            rows.append({"child": i, "overrides": " ".join(combo),
                         "objective": outcome.objective, "run_id": outcome.run_id,
                         "folder": str(outcome.folder)})
        table = pd.DataFrame(rows)
        scored = table.dropna(subset=["objective"])
        if scored.empty:
            raise ConfigError("no sweep run produced the objective "
                              f"{cfg['objective']['metric']!r}")
        order = scored.sort_values("objective", ascending=mode == "min", kind="stable")
        best = order.iloc[0]
        table["best"] = table["child"] == best["child"]
        write_csv(table, folder / "sweep.csv")
        if parent is not None:
            parent.log_metrics({"best_objective": float(best["objective"])})
            parent.set_tags({"best_child": int(best["child"]), "best_run_id": best["run_id"],
                             "best_overrides": best["overrides"],
                             "objective.metric": cfg["objective"]["metric"],
                             "objective.mode": mode})
            parent.log_artifact(folder / "sweep.csv", "sweep")
    console.console.print(console.table(
        f"Sweep: {cfg['objective']['metric']} ({mode}); best = child {int(best['child'])}",
        table[["child", "overrides", "objective", "best", "run_id"]], {"objective": "num"}))
    return outcomes
