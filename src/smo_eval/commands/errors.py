"""`smo-eval errors`: failure slices, error drivers, terms, root causes and a review queue."""

from __future__ import annotations

from pathlib import Path

from smo_eval import console
from smo_eval.commands.compare import _excel_safe
from smo_eval.commands.context import Context
from smo_eval.commands.inputs import Inputs, load_inputs
from smo_eval.io.writers import write_csv, write_json, write_xlsx
from smo_eval.stages.errors import ErrorAnalysis, errors
from smo_eval.taxonomy import Taxonomy
from smo_eval.tracking import metric_name, stage_run

FILES = ("failure_slices", "error_drivers", "error_terms", "rca", "review_queue")


def run(ctx: Context, inputs: Inputs | None = None) -> ErrorAnalysis:
    inputs = inputs or load_inputs(ctx)
    if not inputs.reused:
        console.notices(["ingest outputs missing or stale for this config: inputs validated "
                         "in-process"])
    with console.progress("analysing errors", total=None):
        result = errors(inputs.eval_table, inputs.scores, ctx.section("errors"),
                        ctx.section("slicing"), ctx.seed, annotations=inputs.annotations,
                        severity=Taxonomy.from_config(ctx.section("taxonomy")).severity_of())
    console.notices(result.notices)
    folder = ctx.stage_dir("errors")
    write_outputs(result, folder)
    show(result)
    with stage_run(ctx.section("mlflow"), "errors", ctx.plain, ctx.project_root, {
        **ctx.base_tags(), **{f"input.{k}.sha256": v for k, v in inputs.hashes.items()},
        "gold_version": inputs.gold_version,
    }) as mlrun:
        if mlrun is not None:
            metrics: dict[str, float] = {}
            for model, summary in result.summary.items():
                metrics |= {metric_name(model, k): v for k, v in summary.items()
                            if k.startswith("n_")}
                metrics |= {metric_name(model, "rca", k): v
                            for k, v in summary["buckets"].items()}
            mlrun.log_metrics(metrics)
            mlrun.log_artifact(folder, "errors")
    return result


def write_outputs(result: ErrorAnalysis, folder: Path) -> None:
    for name in FILES:
        write_csv(getattr(result, name), folder / f"{name}.csv")
    write_xlsx(_excel_safe(result.review_queue), folder / "review_queue.xlsx", "review_queue")
    write_json(result.summary, folder / "summary.json")


def show(result: ErrorAnalysis) -> None:
    slices = result.failure_slices.groupby(["model", "error"]).head(3)
    cols = ["model", "error", "rank", "slice", "n", "errors", "error_rate", "lift", "p_adjusted"]
    console.console.print(console.table("Top failure slices", slices[cols], {
        "n": "count", "errors": "count", "error_rate": "ratio", "lift": "num",
        "p_adjusted": "num"}))
    terms = result.error_terms.groupby(["model", "error"]).head(5)
    cols = ["model", "error", "language", "term", "n_error_docs", "n_correct_docs", "z"]
    console.console.print(console.table("Terms over-represented in errors", terms[cols], {
        "n_error_docs": "count", "n_correct_docs": "count", "z": "num"}))
    overall = result.rca[result.rca["slice"] == "overall"].drop(columns=["slice", "dimension"])
    console.console.print(console.table("Root causes (errors per bucket)", overall,
                                        {c: "count" for c in overall.columns[2:]}))
