"""`smo-eval gate`: the release verdict, its files, MLflow record and registry promotion.

Every table the checks read comes through the catalog: evaluate's and compare's outputs are
used only while they were produced from these inputs and settings (else computed here),
labels' agreement when annotations exist, drift's table when drift ran. A gate that cannot
run leaves files that say `error` — never an earlier pass.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smo_eval import console
from smo_eval.errors import ConfigError, SmoEvalError
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult
from smo_eval.slicekey import mlflow_name
from smo_eval.stages.gate import FAIL, INSUFFICIENT, PASS, GateResult, GateTables
from smo_eval.taxonomy import Taxonomy

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def resolve_models(ctx: StageContext, models: list[str]) -> tuple[str, str | None]:
    """Candidate and baseline: gate.*, else compare.*, else the first model is the baseline
    and the last other one the candidate."""
    gate, compare = ctx.config.gate, ctx.config.compare
    baseline = gate.baseline or compare.baseline or (models[0] if models else None)
    present = [c for c in compare.candidates if c in models]
    others = [m for m in models if m != baseline] or models
    candidate = gate.candidate or (present[0] if present else None) or (
        others[-1] if others else None)
    for role, model in (("candidate", candidate), ("baseline", baseline)):
        if model is None or model not in models:
            raise ConfigError(f"gate {role} {model!r} has no predictions; models: {models}")
    assert candidate is not None
    return candidate, baseline


def run(ctx: StageContext) -> StageResult:
    from smo_eval.stages.gate import evaluate_gate, sources_needed
    from smo_eval.stages.gate.files import checks_table, dvc_metrics, to_dict, to_junit, to_markdown

    gate = ctx.config.gate
    needed = sources_needed(gate)
    data = ctx.dataset()
    candidate, baseline = resolve_models(ctx, data.models)
    tables = gather(ctx, data, needed, candidate, baseline)
    result = evaluate_gate(tables, gate, Taxonomy.from_config(ctx.config.taxonomy), candidate,
                           baseline)
    promotion = None
    if result.passed and gate.promote:
        promotion = _promote(ctx, candidate)
    summary = to_markdown(result, _promotion_line(promotion))
    outputs = {"gate.verdict": to_dict(result, {"promotion": promotion}),
               "gate.junit": to_junit(result), "gate.summary": summary,
               "gate.checks": checks_table(result), "gate.metrics": dvc_metrics(result)}
    metrics = {"gate/passed": float(result.passed),
               "gate/failed_checks": float(len(result.failed_checks))}
    for check in result.checks:
        metrics[f"gate/{check.name}/passed"] = float(check.status == PASS)
        metrics[f"gate/{check.name}/failed_slices"] = float(
            sum(o.status == FAIL for o in check.slices))
        metrics[f"gate/{check.name}/insufficient_slices"] = float(
            sum(o.status == INSUFFICIENT for o in check.slices))
    for check in result.checks:
        for outcome in check.slices:  # the slices a gate judges are worth a metric each
            if outcome.value is not None and len(metrics) < 95:
                metrics[mlflow_name("gate", check.name, outcome.key)] = outcome.value
    tags = {"gate.verdict": result.verdict, "gate.candidate": candidate,
            "gate.baseline": baseline, "gate.name": result.name,
            **{f"gate.check.{c.name}": c.status for c in result.checks}}
    if promotion:
        tags["gate.promoted_version"] = promotion["version"]
    return StageResult(outputs, metrics, tags, [], result,
                       run_label=f"{gate.name} · {candidate} vs {baseline} · {result.verdict}",
                       after_write=lambda folder: _step_summary(summary))


def gather(ctx: StageContext, data: Any, needed: set[str], candidate: str,
           baseline: str | None) -> GateTables:
    """The tables the checks read, each from the catalog (computed here when not current)."""
    frame = ctx.read("evaluate.slice_metrics")
    metrics = frame[frame["model"].astype(str) == candidate].reset_index(drop=True)
    if metrics.empty:
        metrics = _evaluate_candidate(ctx, data, candidate)
    tables = GateTables(metrics=metrics, coverage=_coverage(data))
    sources = {
        "comparison": lambda: _comparison(ctx, data, candidate, baseline),
        "agreement": lambda: (ctx.read("labels.agreement")
                              if data.annotations is not None and len(data.annotations)
                              else None),
        "drift": lambda: ctx.read("drift.drift", when_missing="skip"),
        "borderline": lambda: (ctx.read("evaluate.borderline")
                               if data.borderline is not None else None),
        "trend": lambda: _trend(ctx),
    }
    for source, compute in sources.items():
        if source not in needed or (source == "comparison" and candidate == baseline):
            continue
        try:
            setattr(tables, source, compute())
        except ConfigError:
            raise
        except Exception as exc:  # the checks reading this source fail, with the reason
            tables.errors[source] = (str(exc) if isinstance(exc, SmoEvalError)
                                     else f"{type(exc).__name__}: {exc}")
    return tables


def _trend(ctx: StageContext) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """trend's series and alarms (None when trend never ran or was skipped)."""
    series = ctx.read("trend.series", when_missing="skip")
    alarms = ctx.read("trend.alarms", when_missing="skip")
    if series is None or alarms is None:
        return None
    return series, alarms


def _evaluate_candidate(ctx: StageContext, data: Any, candidate: str) -> pd.DataFrame:
    """evaluate.models left the candidate out: evaluate it alone, at its operating point."""
    from smo_eval.stages.evaluate import evaluate

    ctx.notice(f"evaluate's table has no rows for {candidate}: evaluated in-process")
    cfg = replace(ctx.config.evaluate, models=[candidate])
    result = evaluate(data.eval_table, data.scores, cfg, ctx.config.slicing,
                      thresholds=ctx.operating_points([candidate], data.eval_table))
    frame: pd.DataFrame = result.slice_metrics
    return frame


def _comparison(ctx: StageContext, data: Any, candidate: str,
                baseline: str | None) -> pd.DataFrame:
    if baseline is None:
        raise SmoEvalError("no baseline model to compare with")
    frame = ctx.read("compare.comparison")
    pair = frame[(frame["baseline"].astype(str) == baseline)
                 & (frame["candidate"].astype(str) == candidate)]
    if not pair.empty:
        return pair.reset_index(drop=True)
    from smo_eval.stages.compare import compare

    ctx.notice(f"compare's table has no {candidate} vs {baseline}: compared in-process")
    cfg = replace(ctx.config.compare, baseline=baseline, candidates=[candidate])
    result = compare(data.eval_table, data.scores, cfg, ctx.config.slicing, ctx.seed,
                     thresholds=ctx.operating_points([baseline, candidate], data.eval_table))
    table: pd.DataFrame = result.table
    return table


def _coverage(data: Any) -> dict[str, dict[str, int]]:
    n = len(data.eval_table)
    return {m: {"gold_items": n, "scored": int(np.isfinite(data.scores[m].to_numpy()).sum())}
            for m in data.models}


def _promote(ctx: StageContext, candidate: str) -> dict[str, Any]:
    from smo_eval.stages.gate.registry_promotion import promote

    tracker = ctx.tracker
    if not ctx.config.mlflow.enabled:
        raise ConfigError("gate.promote=true needs MLflow (mlflow.enabled=true)")
    tracker.check()
    if tracker.down:
        raise SmoEvalError(f"gate passed but promotion needs the registry: {tracker.down}")
    return promote(tracker.uri, ctx.config.gate.registry, candidate)


def _promotion_line(promotion: dict[str, Any] | None) -> str | None:
    if not promotion:
        return None
    before = (f"; version {promotion['previous_version']} is now "
              f"`{promotion['previous_alias']}`" if promotion.get("previous_alias") else "")
    return (f"Promoted: `{promotion['model_name']}` alias `{promotion['alias']}` -> version "
            f"{promotion['version']}{before}.")


def _step_summary(summary: str) -> list[Path]:
    target = os.environ.get(STEP_SUMMARY_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")
    return []


def on_error(exc: Exception) -> dict[str, Any]:
    """The gate could not run: its files say so (verdict `error`), so no stale pass remains."""
    from smo_eval.stages.gate.files import error_junit, error_summary

    message = str(exc) if isinstance(exc, SmoEvalError) else f"{type(exc).__name__}: {exc}"
    summary = error_summary(message)
    _step_summary(summary)
    return {"gate.verdict": {"verdict": "error", "passed": False, "error": message,
                             "checks": []},
            "gate.metrics": {"passed": 0, "failed_checks": -1, "insufficient_checks": 0,
                             "checks": 0},
            "gate.junit": error_junit(message), "gate.summary": summary,
            "gate.checks": pd.DataFrame(columns=["check", "status", "reason"])}


def show(result: StageResult) -> None:
    gate: GateResult = result.value
    frame = pd.DataFrame([{
        "check": c.name, "kind": c.kind, "status": c.status,
        "failed": sum(o.status == FAIL for o in c.slices),
        "insufficient": sum(o.status == INSUFFICIENT for o in c.slices),
        "passed": sum(o.status == PASS for o in c.slices),
        "effect": "blocks" if c.blocking else "warn" if c.status == INSUFFICIENT else "",
    } for c in gate.checks])
    kinds = {"failed": "count", "insufficient": "count", "passed": "count"}
    console.console.print(console.table(f"Gate {gate.name}: {gate.candidate} vs "
                                        f"{gate.baseline}", frame, kinds))
    style = "green" if gate.passed else "red"
    console.console.print(f"[bold {style}]gate {gate.verdict.upper()}[/] (summary.md, junit.xml)")
