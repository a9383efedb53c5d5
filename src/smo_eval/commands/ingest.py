"""`smo-eval ingest`: validate the inputs, write the validated tables and what happened to rows."""

from __future__ import annotations

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import Context
from smo_eval.commands.inputs import (
    ANNOTATIONS_FILE,
    EVAL_FILE,
    MANIFEST_FILE,
    SCORES_FILE,
    manifest,
    run_ingest,
)
from smo_eval.io.writers import write_csv, write_json, write_parquet
from smo_eval.tracking import stage_run


def run(ctx: Context) -> None:
    result, hashes = run_ingest(ctx)
    folder = ctx.stage_dir("ingest")
    write_parquet(result.eval_table, folder / EVAL_FILE)
    write_parquet(result.scores, folder / SCORES_FILE)
    if result.annotations is not None:
        write_parquet(result.annotations, folder / ANNOTATIONS_FILE)
    quarantine = folder / "quarantine"
    for old in quarantine.glob("*.csv"):
        old.unlink()
    for table, rows in result.rejected.items():
        write_csv(rows, quarantine / f"{table}.csv")
    info = manifest(ctx, hashes, result)
    write_json(info, folder / MANIFEST_FILE)
    write_json(result.summary, folder / "summary.json")

    rows = pd.DataFrame([{"table": name, **counts}
                         for name, counts in result.summary["tables"].items()])
    console.console.print(console.table(
        "Ingest: rows read and where they went", rows,
        {c: "count" for c in ("rows_read", "accepted", "quarantined", "duplicates_merged")}))
    console.notices(result.notices)
    if result.rejected:
        console.notices([f"{len(r):,} {t} row(s) quarantined to {quarantine / (t + '.csv')}"
                         for t, r in result.rejected.items()])
    with stage_run(ctx.section("mlflow"), "ingest", ctx.plain, ctx.project_root, {
        **ctx.base_tags(), **{f"input.{k}.sha256": v for k, v in hashes.items()},
        "gold_version": result.summary["gold_version"], "models": ",".join(result.models),
    }) as mlrun:
        if mlrun is not None:
            mlrun.log_metrics({f"{table}/{key}": value
                               for table, counts in result.summary["tables"].items()
                               for key, value in counts.items()})
            mlrun.log_artifact(folder / "summary.json")
            mlrun.log_artifact(quarantine, "quarantine")
