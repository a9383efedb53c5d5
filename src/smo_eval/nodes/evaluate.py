"""`smo-eval evaluate`: sliced metrics with intervals, curves and headline metrics per model."""

from __future__ import annotations

import pandas as pd

from smo_eval import console
from smo_eval.config.schema import Config
from smo_eval.nodes import HEADLINE_PER_MODEL, capped
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult
from smo_eval.tracking import StageRun


def run(ctx: StageContext) -> StageResult:
    from smo_eval.policies.evaluation import policy_outputs
    from smo_eval.stages.evaluate import evaluate, evaluate_relation
    from smo_eval.stages.ingest import coverage

    data = ctx.dataset()
    cfg = ctx.config.evaluate
    models = list(cfg.models or data.models)
    relation = data.relation  # None with engine.backend=pandas
    table = data.eval_table if relation is None or cfg.thresholds_file else pd.DataFrame()
    thresholds = ctx.operating_points(models, table)
    with ctx.progress("evaluating", total=len(models)) as step:
        if relation is None:
            result = evaluate(data.eval_table, data.scores, cfg, ctx.config.slicing,
                              thresholds=thresholds, hard_labels=data.hard_label_models,
                              progress=step)
            covered = coverage(data.scores[models], len(data.eval_table))
        else:
            result, covered = evaluate_relation(relation, cfg, ctx.config.slicing,
                                                thresholds=thresholds,
                                                hard_labels=data.hard_label_models,
                                                progress=step)
    # Per-policy and borderline outputs (only where the data has them).
    extra, extra_metrics = policy_outputs(ctx, data, models, thresholds, result)
    outputs = {
        "evaluate.slice_metrics": result.slice_metrics,
        "evaluate.metrics": result.headline,
        "evaluate.coverage": covered,
        **{f"evaluate.{kind}": {m: c[kind] for m, c in result.curves.items()}
           for kind in ("roc", "pr", "reliability")},
        **extra,
    }
    metrics = {f"{model}/{key}": head[key] for model, head in result.headline.items()
               for key in HEADLINE_PER_MODEL if head.get(key) is not None}
    table = outputs["evaluate.coverage"]
    metrics |= {f"{r.model}/scored_share": float(r.scored_share) for r in table.itertuples()}
    metrics |= extra_metrics
    notices = result.notices + [
        f"{m}: predictions are hard 0/1 decisions: ROC-AUC, PR-AUC, calibration and curves do "
        "not apply" for m in data.hard_label_models if m in models]
    return StageResult(outputs, capped(metrics), {"models": ",".join(result.headline)},
                       notices, result, run_label=", ".join(result.headline))


def show(result: StageResult) -> None:
    evaluation = result.value
    overall = pd.DataFrame([{"model": m, **h} for m, h in evaluation.headline.items()])
    cols = ["model", "n", "n_pos", "recall", "recall_lo", "recall_hi", "precision", "fpr",
            "roc_auc", "pr_auc", "ece"]
    kinds = {c: "ratio" for c in cols} | {"model": "text", "n": "count", "n_pos": "count",
                                          "ece": "num"}
    console.console.print(console.table("Overall (95% intervals)", overall[cols], kinds))
    covered = result.outputs["evaluate.coverage"]
    partial = covered[covered["unscored"] > 0]
    if len(partial):
        console.console.print(console.table(
            "Coverage: gold items each model scored (the rest are not in its metrics)", partial,
            {"gold_items": "count", "scored": "count", "unscored": "count",
             "scored_share": "ratio"}))
    frame = evaluation.slice_metrics
    weakest = (frame[(frame["slice"] != "overall") & ~frame["low_support"]]
               .sort_values("recall_lo").groupby("model", observed=True).head(5))
    cols = ["model", "slice", "n", "n_pos", "recall", "recall_lo", "recall_hi", "precision",
            "fpr"]
    console.console.print(console.table("Weakest slices by recall lower bound", weakest[cols],
                                        kinds | {"slice": "text"}))


def log(mlrun: StageRun, result: StageResult, config: Config) -> None:
    mlrun.log_table(result.value.slice_metrics, "evaluate/slice_metrics.json")
