"""`smo-eval ingest`: validate the inputs; the validated tables and what happened to rows."""

from __future__ import annotations

import pandas as pd

from smo_eval import console
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult
from smo_eval.taxonomy import Taxonomy

COUNTS = ("rows_read", "accepted", "quarantined", "duplicates_merged")


def run(ctx: StageContext) -> StageResult:
    from smo_eval.stages.ingest import ingest

    paths = ctx.input_paths()
    if ctx.config.engine.backend == "duckdb":
        return _run_duckdb(ctx, paths)
    with ctx.progress("ingest", total=len(paths) + 1) as step:
        raw = {}
        for table, path in paths.items():
            raw[table] = ctx.raw_table(path) if path else None
            step(f"read {table}")
        result = ingest(raw, ctx.config.data, Taxonomy.from_config(ctx.config.taxonomy))
        step("validated")
    outputs = {"ingest.eval": result.eval_table, "ingest.scores": result.scores,
               "ingest.annotations": result.annotations, "ingest.summary": result.summary,
               "ingest.quarantine": result.rejected or None}
    notices = list(result.notices) + [
        f"{len(rows):,} {table} row(s) quarantined (outputs/ingest/quarantine/"
        f"{table}.csv)" for table, rows in result.rejected.items()]
    metrics = {f"{table}/{key}": float(value) for table, counts in
               result.summary["tables"].items() for key, value in counts.items()}
    return StageResult(outputs, metrics, {"models": ",".join(result.models)}, notices, result,
                       run_label=", ".join(t for t, p in paths.items() if p))


def _run_duckdb(ctx: StageContext, paths: dict[str, str | None]) -> StageResult:
    """Parquet inputs validated and joined by DuckDB, out of core (`stages/ingest_sql.py`);
    annotations (small) by the pandas path."""
    from smo_eval.contract.schema import ANNOTATIONS, source_to_canonical
    from smo_eval.contract.summary import contract_error
    from smo_eval.contract.validate import LabelMap, validate_table
    from smo_eval.errors import ContractError
    from smo_eval.stages.ingest_sql import ingest_duckdb

    data = ctx.config.data
    with ctx.progress("ingest (duckdb)"):
        result = ingest_duckdb(ctx.backend(), paths, data,
                               Taxonomy.from_config(ctx.config.taxonomy))
    annotations = None
    if (annotations_path := paths.get("annotations")) is not None:
        checked = validate_table(
            ctx.raw_table(annotations_path), ANNOTATIONS,
            source_to_canonical("annotations", data.columns, data.table_columns),
            labels=LabelMap.from_lists(data.labels.positive, data.labels.negative))
        problems = contract_error([checked]).problems
        if problems:
            raise ContractError(problems)
        annotations = checked.frame
    outputs = {"ingest.eval": result.eval_table, "ingest.scores": result.scores,
               "ingest.annotations": annotations, "ingest.summary": result.summary,
               "ingest.quarantine": None}
    metrics = {f"{table}/{key}": float(value) for table, counts in
               result.summary["tables"].items() for key, value in counts.items()}
    return StageResult(outputs, metrics, {"models": ",".join(result.models)}, [], result,
                       run_label=", ".join(t for t, p in paths.items() if p))


def show(result: StageResult) -> None:
    summary = result.value.summary
    rows = pd.DataFrame([{"table": name, **counts} for name, counts in summary["tables"].items()])
    console.console.print(console.table("Ingest: rows read and where they went", rows,
                                        {c: "count" for c in COUNTS}))
