"""`smo-eval report`: every stage's outputs that exist -> one self-contained HTML page, a
Markdown summary and the plots as PNG.

Evaluate's outputs are always there (computed when not current); a later stage's section is
marked "not run" when that stage never ran, and its outputs are recomputed when they belong
to other inputs or settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from smo_eval import console
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult

# Report table name -> catalog key of the stage output it shows.
TABLES = {
    "slice_metrics": "evaluate.slice_metrics", "metrics": "evaluate.metrics",
    "comparison": "compare.comparison", "failure_slices": "errors.failure_slices",
    "error_drivers": "errors.error_drivers", "error_terms": "errors.error_terms",
    "rca": "errors.rca", "review_queue": "errors.review_queue",
    "errors_summary": "errors.summary", "agreement": "labels.agreement",
    "annotators": "labels.annotators", "annotator_pairs": "labels.annotator_pairs",
    "label_issues": "labels.label_issues", "label_issue_rates": "labels.label_issue_rates",
    "labels_metrics": "labels.metrics", "drift_tests": "drift.drift",
    "performance_estimate": "drift.performance_estimate",
    "emerging_terms": "drift.emerging_terms", "drift": "drift.summary",
    "trend": "trend.trend", "trend_alarms": "trend.alarms", "trend_metrics": "trend.metrics",
    "gate": "gate.verdict", "gold_impact": "gold.impact", "gold_diff": "gold.diff",
    "case_conflicts": "cases.conflicts",
    "policy_confusion": "evaluate.policy_confusion", "borderline": "evaluate.borderline",
}
ALWAYS = ("slice_metrics", "metrics")


def load_tables(ctx: StageContext) -> dict[str, Any]:
    """Every stage output the report reads; a stage that never ran leaves its entries out."""
    from smo_eval.stages.report import score_distribution

    data = ctx.dataset()
    tables: dict[str, Any] = {}
    for name, key in TABLES.items():
        value = ctx.read(key, when_missing="compute" if name in ALWAYS else "skip")
        if value is not None:
            tables[name] = value
    if isinstance(tables.get("drift"), dict) and tables["drift"].get("skipped"):
        for name in ("drift", "drift_tests", "performance_estimate", "emerging_terms"):
            tables.pop(name, None)
    curves: dict[str, dict[str, pd.DataFrame]] = {}
    for kind in ("roc", "pr", "reliability"):
        for model, frame in (ctx.read(f"evaluate.{kind}") or {}).items():
            curves.setdefault(model, {})[kind] = frame
    tables["curves"] = curves
    tables["score_hist"] = score_distribution(data.eval_table["label"].to_numpy(), data.scores,
                                              ctx.config.report.score_bins)
    tables["drift_shares"] = _drift_shares(ctx, data.eval_table, tables.get("drift_tests"))
    return tables


def _drift_shares(ctx: StageContext, table: pd.DataFrame,
                  tests: pd.DataFrame | None) -> pd.DataFrame:
    """Per-value shares of the drifted metadata columns in drift's time windows (what moved,
    e.g. which language grew); empty when drift ran on window files or raised no alarm."""
    from smo_eval.stages.report import category_shares

    cfg = ctx.config.drift
    if tests is None or cfg.reference_data or cfg.current_data or not cfg.reference \
            or not cfg.current:
        return category_shares(table, [], "", [], [])
    drifted = tests[(tests["kind"] == "metadata") & tests["drifted"].astype(bool)]
    columns = [c for c in drifted["column"].astype(str) if c in table.columns]
    return category_shares(table, columns, cfg.time_column, list(cfg.reference),
                           list(cfg.current))


def run(ctx: StageContext) -> StageResult:
    from smo_eval.report.render import to_html, to_markdown
    from smo_eval.stages.report import build_report

    with ctx.progress("report", total=2) as step:
        tables = load_tables(ctx)
        step("inputs")
        report = build_report(tables, ctx.config)
        step("model")
    outputs = {"report.html": to_html(report), "report.markdown": to_markdown(report)}
    return StageResult(outputs, {}, {"report.lang": report.lang}, [], report,
                       run_label=report.lang,
                       after_write=lambda folder: _export_pngs(ctx, folder))


def _export_pngs(ctx: StageContext, folder: Path) -> list[Path]:
    cfg = ctx.config.report
    target = folder / "png"
    for old in target.glob("*.png"):
        old.unlink()
    if not cfg.png:
        return []
    try:
        from smo_eval.report.browser import export_pngs, find_browser
    except ImportError:
        console.notices(["plots not exported as PNG: install the extra (pip install "
                         "'smo-eval[png]') or set report.png=false"])
        return []
    browser = find_browser(cfg.browser)
    if browser is None:
        console.notices(["no chromium found: plots not exported as PNG (install Debian's "
                         "`chromium` or set report.browser)"])
        return []
    return list(export_pngs(folder / "report.html", target, browser))


def show(result: StageResult) -> None:
    report = result.value
    for line in report.summary:
        console.console.print(f"• {line}", markup=False)
    for i, rec in enumerate(report.recommendations, 1):
        console.console.print(f"{i}. {rec.text}", markup=False)
