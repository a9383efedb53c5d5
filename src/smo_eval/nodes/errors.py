"""`smo-eval errors`: failure slices, error drivers, terms, root causes and a review queue."""

from __future__ import annotations

from smo_eval import console
from smo_eval.nodes import capped
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult
from smo_eval.taxonomy import Taxonomy

TABLES = ("failure_slices", "error_drivers", "error_terms", "rca", "review_queue")


def run(ctx: StageContext) -> StageResult:
    from smo_eval.stages.errors import errors

    data = ctx.dataset()
    thresholds = ctx.operating_points(data.models, data.eval_table)
    with ctx.progress("analysing errors"):
        result = errors(data.eval_table, data.scores, ctx.config.errors, ctx.config.slicing,
                        ctx.seed, thresholds=thresholds, annotations=data.annotations,
                        severity=Taxonomy.from_config(ctx.config.taxonomy).severity_of())
    outputs = {f"errors.{name}": getattr(result, name) for name in TABLES}
    outputs |= {"errors.review_xlsx": result.review_queue, "errors.summary": result.summary}
    metrics: dict[str, float] = {}
    for model, summary in result.summary.items():
        metrics |= {f"{model}/{k}": float(v) for k, v in summary.items() if k.startswith("n_")}
        metrics |= {f"{model}/rca/{k}": float(v) for k, v in summary["buckets"].items()}
    return StageResult(outputs, capped(metrics), {}, result.notices, result,
                       run_label=", ".join(result.summary))


def show(result: StageResult) -> None:
    analysis = result.value
    slices = analysis.failure_slices.groupby(["model", "error"]).head(3)
    cols = ["model", "error", "rank", "slice", "n", "errors", "error_rate", "lift", "p_adjusted"]
    console.console.print(console.table("Top failure slices", slices[cols], {
        "n": "count", "errors": "count", "error_rate": "ratio", "lift": "num",
        "p_adjusted": "num"}))
    cols = ["model", "error", "language", "term", "n_error_docs", "n_correct_docs", "z"]
    if set(cols) <= set(analysis.error_terms.columns):  # no text column: no terms table
        terms = analysis.error_terms.groupby(["model", "error"]).head(5)
        console.console.print(console.table("Terms over-represented in errors", terms[cols], {
            "n_error_docs": "count", "n_correct_docs": "count", "z": "num"}))
    overall = analysis.rca[analysis.rca["slice"] == "overall"].drop(
        columns=["slice", "dimension", "slice_key"])
    console.console.print(console.table("Root causes (errors per bucket)", overall,
                                        {c: "count" for c in overall.columns[2:]}))
