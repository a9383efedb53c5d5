"""`smo-eval evaluate`: sliced metrics with intervals, curves and headline metrics per model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import Context
from smo_eval.commands.inputs import Inputs, load_inputs
from smo_eval.io.writers import write_csv, write_json, write_table
from smo_eval.stages.evaluate import Evaluation, Threshold, evaluate, model_thresholds
from smo_eval.stages.experiment.thresholds import read_thresholds, thresholds_for_rows
from smo_eval.tracking import StageRun, metric_name, stage_run


def run(ctx: Context, inputs: Inputs | None = None) -> Evaluation:
    inputs = inputs or load_inputs(ctx)
    if not inputs.reused:
        console.notices(["ingest outputs missing or stale for this config: inputs validated "
                         "in-process"])
    console.notices(inputs.notices)
    cfg = ctx.section("evaluate")
    models = list(cfg.get("models") or inputs.models)
    thresholds = operating_points(models, cfg, inputs.eval_table)
    with console.progress("evaluating", total=len(models)) as step:
        result = evaluate(inputs.eval_table, inputs.scores, cfg, ctx.section("slicing"),
                          ctx.seed, thresholds=thresholds, progress=step)
    console.notices(result.notices)
    folder = ctx.stage_dir("evaluate")
    write_outputs(result, folder)
    show(result)
    with stage_run(ctx.section("mlflow"), "evaluate", ctx.plain, ctx.project_root, {
        **ctx.base_tags(), **{f"input.{k}.sha256": v for k, v in inputs.hashes.items()},
        "gold_version": inputs.gold_version, "models": ",".join(result.headline),
    }) as mlrun:
        if mlrun is not None:
            log(mlrun, result, folder, ctx.section("mlflow").get("slice_metrics") or [])
    return result


def operating_points(models: list[str], cfg: dict[str, Any],
                     table: pd.DataFrame) -> dict[str, Threshold]:
    """Each model's threshold: per row from `evaluate.thresholds_file` (written by `smo-eval
    experiment`) for the models it lists, else `evaluate.thresholds` / `evaluate.threshold`."""
    chosen = model_thresholds(models, cfg)
    path = cfg.get("thresholds_file")
    if path:
        chosen |= thresholds_for_rows(read_thresholds(Path(str(path))), table, models)
    return chosen


def write_outputs(result: Evaluation, folder: Path) -> None:
    write_table(result.slice_metrics, folder / "slice_metrics")
    write_json(result.headline, folder / "metrics.json")
    for model, curves in result.curves.items():
        for kind, frame in curves.items():
            write_csv(frame, folder / "curves" / kind / f"{model}.csv", bom=False)


def show(result: Evaluation) -> None:
    overall = pd.DataFrame([{"model": m, **h} for m, h in result.headline.items()])
    cols = ["model", "n", "n_pos", "recall", "recall_lo", "recall_hi", "precision", "fpr",
            "roc_auc", "pr_auc", "ece"]
    kinds = {c: "ratio" for c in cols} | {"model": "text", "n": "count", "n_pos": "count",
                                          "ece": "num"}
    console.console.print(console.table("Overall (95% intervals)", overall[cols], kinds))
    frame = result.slice_metrics
    weakest = (frame[(frame["slice"] != "overall") & ~frame["low_support"]]
               .sort_values("recall_lo").groupby("model", observed=True).head(5))
    cols = ["model", "slice", "n", "n_pos", "recall", "recall_lo", "recall_hi", "precision",
            "fpr"]
    console.console.print(console.table("Weakest slices by recall lower bound", weakest[cols],
                                        kinds | {"slice": "text"}))


def log(mlrun: StageRun, result: Evaluation, folder: Path, slice_metrics: list[str]) -> None:
    metrics = {metric_name(model, key): value for model, head in result.headline.items()
               for key, value in head.items() if value is not None}
    for row in result.slice_metrics.itertuples(index=False):
        for key in slice_metrics:
            metrics[metric_name(str(row.model), key, str(row.slice))] = getattr(row, key)
    mlrun.log_metrics(metrics)
    mlrun.log_artifact(folder / "slice_metrics.csv", "evaluate")
    mlrun.log_artifact(folder / "metrics.json", "evaluate")
    mlrun.log_artifact(folder / "curves", "evaluate/curves")
