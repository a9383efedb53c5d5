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
    write_outputs(result, folder, int(cfg["flips_xlsx_max_rows"]))
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
    """Key metrics per candidate (verdict counts, the overall values, deltas and verdicts, and
    the delta of every regressed slice); the per-slice table itself goes in as an artifact
    (comparison.csv): thousands of slice metrics would make the run slow to log and to read."""
    frame = result.table
    pair = frame["candidate"].astype(str) + "_vs_" + frame["baseline"].astype(str)
    overall = frame["slice"] == "overall"
    regressed = (frame["verdict"] == "regressed") & ~overall
    metrics: dict[str, float] = {}
    for key, values in (("baseline", frame["baseline_value"]),
                        ("candidate", frame["candidate_value"]), ("delta", frame["delta"]),
                        ("p_adjusted", frame["p_adjusted"]),
                        ("verdict", frame["verdict"].astype(str).map(VERDICT_CODE))):
        names = [metric_name(p, str(m), key) for p, m in
                 zip(pair[overall], frame.loc[overall, "metric"], strict=True)]
        metrics |= dict(zip(names, values[overall], strict=True))
    names = [metric_name(p, str(m), "delta", str(s)) for p, m, s in
             zip(pair[regressed], frame.loc[regressed, "metric"], frame.loc[regressed, "slice"],
                 strict=True)]
    metrics |= dict(zip(names, frame.loc[regressed, "delta"], strict=True))
    for name, summary in result.summary.items():
        metrics |= {metric_name(name, k): v for k, v in summary.items() if k.startswith("n_")}
    mlrun.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
    for file in ("comparison.csv", "flips.csv", "coverage.csv", "summary.json"):
        mlrun.log_artifact(folder / file, "compare")
