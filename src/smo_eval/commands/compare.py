"""`smo-eval compare`: baseline vs candidates per slice, flipped items for QA, MLflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from smo_eval import console
from smo_eval.commands.context import Context
from smo_eval.commands.inputs import Inputs, load_inputs
from smo_eval.io.writers import write_csv, write_json, write_table, write_xlsx
from smo_eval.stages.compare import Comparison, compare
from smo_eval.taxonomy import Taxonomy
from smo_eval.tracking import StageRun, metric_name, stage_run

VERDICT_CODE = {"improved": 1.0, "no_change": 0.0, "regressed": -1.0}


def run(ctx: Context, inputs: Inputs | None = None) -> Comparison:
    inputs = inputs or load_inputs(ctx)
    if not inputs.reused:
        console.notices(["ingest outputs missing or stale for this config: inputs validated "
                         "in-process"])
    cfg = ctx.section("compare")
    with console.progress("comparing", total=None):
        result = compare(inputs.eval_table, inputs.scores, cfg, ctx.section("slicing"),
                         ctx.seed,
                         severity=Taxonomy.from_config(ctx.section("taxonomy")).severity_of())
    console.notices(result.notices)
    folder = ctx.stage_dir("compare")
    write_outputs(result, folder, int(cfg.get("flips_xlsx_max_rows") or 20000))
    show(result)
    with stage_run(ctx.section("mlflow"), "compare", ctx.plain, ctx.project_root, {
        **ctx.base_tags(), **{f"input.{k}.sha256": v for k, v in inputs.hashes.items()},
        "gold_version": inputs.gold_version, "baseline": cfg["baseline"],
        "candidates": ",".join(str(c) for c in cfg["candidates"]),
    }) as mlrun:
        if mlrun is not None:
            log(mlrun, result, folder)
    return result


def write_outputs(result: Comparison, folder: Path, xlsx_rows: int) -> None:
    write_table(result.table, folder / "comparison")
    write_csv(result.flips, folder / "flips.csv")
    write_xlsx(_excel_safe(result.flips.head(xlsx_rows)), folder / "flips.xlsx", "flips")
    write_csv(result.coverage, folder / "coverage.csv")
    write_json(result.summary, folder / "summary.json")


def _excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel has no timezone-aware datetimes and no NaN in text columns."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_localize(None)
    return out


def show(result: Comparison) -> None:
    frame = result.table
    kinds = {"baseline_value": "ratio", "candidate_value": "ratio", "delta": "ratio",
             "delta_lo": "ratio", "delta_hi": "ratio", "p_adjusted": "num", "n": "count",
             "n_pos": "count"}
    cols = ["candidate", "slice", "metric", "n", "n_pos", "baseline_value", "candidate_value",
            "delta", "delta_lo", "delta_hi", "p_adjusted", "verdict"]
    regressed = frame[frame["verdict"] == "regressed"].sort_values(["p_adjusted", "delta"])
    improved = frame[frame["verdict"] == "improved"].sort_values(["p_adjusted"])
    console.console.print(console.table(
        f"Regressions ({len(regressed):,}, corrected p <= alpha)", regressed[cols], kinds))
    console.console.print(console.table(f"Improvements ({len(improved):,})", improved[cols],
                                        kinds, max_rows=10))
    counts = (frame.groupby(["candidate", "verdict"], observed=False).size()
              .unstack(fill_value=0).reset_index())
    console.console.print(console.table("Verdicts per candidate (slice x metric)", counts,
                                        {c: "count" for c in counts.columns[1:]}))
    flips = result.flips.groupby(["candidate", "flip"]).size().reset_index(name="items")
    console.console.print(console.table("Flipped items (flips.csv / flips.xlsx)", flips,
                                        {"items": "count"}))


def log(mlrun: StageRun, result: Comparison, folder: Path) -> None:
    metrics: dict[str, float] = {}
    for row in result.table.itertuples(index=False):
        pair = f"{row.candidate}_vs_{row.baseline}"
        metrics[metric_name(pair, str(row.metric), "delta", str(row.slice))] = row.delta
        code = VERDICT_CODE.get(str(row.verdict))
        if code is not None:
            metrics[metric_name(pair, str(row.metric), "verdict", str(row.slice))] = code
    for pair, summary in result.summary.items():
        for key, value in summary.items():
            if key.startswith("n_"):
                metrics[metric_name(pair, key)] = value
    mlrun.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
    for name in ("comparison.csv", "flips.csv", "coverage.csv", "summary.json"):
        mlrun.log_artifact(folder / name, "compare")
