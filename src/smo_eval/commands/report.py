"""`smo-eval report`: read every stage's outputs that exist, build the report, write
`report.html` (self-contained) and `report.md`, export the plots as PNG and log all to MLflow.

Evaluate's outputs are computed in-process when absent (the report always has its core);
the later stages' sections are marked "not run" when their files are missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import Context
from smo_eval.commands.inputs import Inputs, load_inputs
from smo_eval.io.writers import atomic_path
from smo_eval.report.browser import export_pngs, find_browser
from smo_eval.report.model import Report
from smo_eval.report.render import to_html, to_markdown
from smo_eval.stages.evaluate import evaluate
from smo_eval.stages.report import build_report, score_distribution
from smo_eval.tracking import stage_run

# Report table name -> (stage folder, file stem) of the stages' documented outputs.
STAGE_TABLES = {
    "comparison": ("compare", "comparison"),
    "failure_slices": ("errors", "failure_slices"),
    "error_drivers": ("errors", "error_drivers"),
    "error_terms": ("errors", "error_terms"),
    "rca": ("errors", "rca"),
    "review_queue": ("errors", "review_queue"),
    "agreement": ("labels", "agreement"),
    "annotators": ("labels", "annotators"),
    "label_issues": ("labels", "label_issues"),
    "gold_diff": ("labels", "gold_diff"),
    "case_conflicts": ("labels", "case_conflicts"),
    "performance_estimate": ("drift", "performance_estimate"),
    "emerging_terms": ("drift", "emerging_terms"),
}
STAGE_JSON = {"drift": ("drift", "drift.json"), "gate": ("gate", "gate.json")}


def run(ctx: Context, inputs: Inputs | None = None) -> Path:
    cfg = ctx.section("report")
    with console.progress("report", total=4) as step:
        inputs = inputs or load_inputs(ctx)
        tables = load_tables(ctx, inputs)
        step("inputs")
        report = build_report(tables, cfg, ctx.section("taxonomy"))
        step("model")
        folder = ctx.stage_dir("report")
        html, md = folder / "report.html", folder / "report.md"
        _write_text(html, to_html(report))
        _write_text(md, to_markdown(report))
        step("render")
        pngs = _export_pngs(cfg, html, folder / "png")
        step("png")
    show(report)
    with stage_run(ctx.section("mlflow"), "report", ctx.plain, ctx.project_root,
                   {**ctx.base_tags(), "report.lang": report.lang}) as mlrun:
        if mlrun is not None:
            mlrun.log_artifact(html, "report")
            mlrun.log_artifact(md, "report")
            if pngs:
                mlrun.log_artifact(folder / "png", "report/png")
    console.console.print(f"report: [bold]{html}[/] ({html.stat().st_size / 1e6:.1f} MB), {md}")
    return html


def load_tables(ctx: Context, inputs: Inputs) -> dict[str, Any]:
    """Every stage output the report reads; a missing file leaves its entry out."""
    tables: dict[str, Any] = {}
    tables.update(_evaluate_outputs(ctx, inputs))
    labels = inputs.eval_table["label"].to_numpy()
    tables["score_hist"] = score_distribution(labels, inputs.scores,
                                              int(ctx.section("report").get("score_bins", 40)))
    for name, (stage, stem) in STAGE_TABLES.items():
        frame = _read_frame(ctx.out_dir / stage / stem)
        if frame is not None:
            tables[name] = frame
    for name, (stage, file) in STAGE_JSON.items():
        path = ctx.out_dir / stage / file
        if path.is_file():
            tables[name] = json.loads(path.read_text(encoding="utf-8"))
    return tables


def _evaluate_outputs(ctx: Context, inputs: Inputs) -> dict[str, Any]:
    folder = ctx.out_dir / "evaluate"
    if (folder / "slice_metrics.parquet").is_file() and (folder / "metrics.json").is_file():
        curves: dict[str, dict[str, pd.DataFrame]] = {}
        for path in sorted(folder.glob("curves/*/*.csv")):
            curves.setdefault(path.stem, {})[path.parent.name] = pd.read_csv(
                path, encoding="utf-8-sig")
        return {"slice_metrics": pd.read_parquet(folder / "slice_metrics.parquet"),
                "metrics": json.loads((folder / "metrics.json").read_text(encoding="utf-8")),
                "curves": curves}
    console.notices(["evaluate outputs missing: evaluating in-process for the report"])
    result = evaluate(inputs.eval_table, inputs.scores, ctx.section("evaluate"),
                      ctx.section("slicing"), ctx.seed)
    return {"slice_metrics": result.slice_metrics, "metrics": result.headline,
            "curves": result.curves}


def _read_frame(stem: Path) -> pd.DataFrame | None:
    parquet, csv = stem.with_suffix(".parquet"), stem.with_suffix(".csv")
    if parquet.is_file():
        return pd.read_parquet(parquet)
    if csv.is_file():
        return pd.read_csv(csv, encoding="utf-8-sig")
    return None


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _export_pngs(cfg: dict[str, Any], html: Path, folder: Path) -> list[Path]:
    if not cfg.get("png", True):
        return []
    browser = find_browser(cfg.get("browser"))
    if browser is None:
        console.notices(["no chromium found: plots not exported as PNG (install Debian's "
                         "`chromium` or set report.browser)"])
        return []
    for old in folder.glob("*.png"):
        old.unlink()
    return export_pngs(html, folder, browser)


def show(report: Report) -> None:
    for line in report.summary:
        console.console.print(f"• {line}")
    for i, rec in enumerate(report.recommendations, 1):
        console.console.print(f"[bold]{i}.[/] {rec.text}")
