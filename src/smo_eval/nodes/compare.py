"""`smo-eval compare`: baseline vs candidates per slice, flipped items for QA."""

from __future__ import annotations

import numpy as np

from smo_eval import console
from smo_eval.config.schema import Config
from smo_eval.nodes import capped
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult
from smo_eval.taxonomy import Taxonomy
from smo_eval.tracking import StageRun

VERDICT_CODE = {"improved": 1.0, "no_change": 0.0, "regressed": -1.0}


def run(ctx: StageContext) -> StageResult:
    import pandas as pd

    from smo_eval.stages.compare import compare, compare_relation, pair

    data = ctx.dataset()
    cfg = ctx.config.compare
    baseline, candidates = pair(cfg, data.models)
    relation = data.relation  # None with engine.backend=pandas
    per_row = ctx.config.evaluate.thresholds_file
    table = data.eval_table if relation is None or per_row else pd.DataFrame()
    thresholds = ctx.operating_points([baseline, *candidates], table)
    severity = Taxonomy.from_config(ctx.config.taxonomy).severity_of()
    with ctx.progress("comparing"):
        if relation is None:
            result = compare(data.eval_table, data.scores, cfg, ctx.config.slicing, ctx.seed,
                             thresholds=thresholds, severity=severity)
        else:
            result = compare_relation(relation, cfg, ctx.config.slicing, ctx.seed,
                                      thresholds=thresholds, severity=severity)
    outputs = {"compare.comparison": result.table, "compare.flips": result.flips,
               "compare.flips_xlsx": result.flips.head(cfg.flips_xlsx_max_rows),
               "compare.coverage": result.coverage, "compare.summary": result.summary}
    return StageResult(outputs, capped(_metrics(result)),
                       {"baseline": baseline, "candidates": ",".join(candidates)},
                       result.notices, result,
                       run_label=f"{', '.join(candidates)} vs {baseline}")


def _metrics(result: object) -> dict[str, float]:
    """Per candidate: verdict counts and the overall value, delta and verdict per metric (the
    per-slice table is an artifact: thousands of slice metrics make a run slow to read)."""
    frame = result.table  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    overall = frame[frame["slice"] == "overall"]
    for row in overall.itertuples(index=False):
        pair = f"{row.candidate}_vs_{row.baseline}"
        out[f"{pair}/{row.metric}/delta"] = row.delta
        out[f"{pair}/{row.metric}/candidate"] = row.candidate_value
        code = VERDICT_CODE.get(str(row.verdict))
        if code is not None:
            out[f"{pair}/{row.metric}/verdict"] = code
    for name, summary in result.summary.items():  # type: ignore[attr-defined]
        out |= {f"{name}/{k}": float(v) for k, v in summary.items() if k.startswith("n_")}
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}


def show(result: StageResult) -> None:
    comparison = result.value
    frame = comparison.table
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
    flips = comparison.flips.groupby(["candidate", "flip"]).size().reset_index(name="items")
    console.console.print(console.table("Flipped items (flips.csv / flips.xlsx)", flips,
                                        {"items": "count"}))


def log(mlrun: StageRun, result: StageResult, config: Config) -> None:
    mlrun.log_table(result.value.table, "compare/comparison.json")
