"""`smo-eval gate`: the release verdict, its files, MLflow record and registry promotion.

Reads the earlier stages' outputs when they cover what the checks need (the candidate at its
configured threshold in evaluate's table; the candidate/baseline pair in compare's table;
labels' agreement table; drift's table) and computes evaluate, compare and agreement
in-process when they do not, so `smo-eval gate data.predictions=...` runs on its own. The
inputs are always validated first (via ingest's manifest or in-process): a missing or broken
input file ends the gate with exit 2, and the gate files then say `error`, never a stale pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import Context
from smo_eval.commands.gate_registry import promote
from smo_eval.commands.inputs import Inputs, load_inputs
from smo_eval.errors import ConfigError, GateFailed, SmoEvalError
from smo_eval.io.writers import atomic_path, write_json, write_table
from smo_eval.stages.evaluate import evaluate, model_thresholds
from smo_eval.stages.gate import (
    FAIL,
    INSUFFICIENT,
    PASS,
    GateResult,
    GateTables,
    evaluate_gate,
    sources_needed,
)
from smo_eval.stages.gate_report import (
    dvc_metrics,
    error_junit,
    to_dict,
    to_junit,
    to_markdown,
)
from smo_eval.taxonomy import Taxonomy
from smo_eval.tracking import metric_name, stage_run

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def run(ctx: Context, fail_on_verdict: bool = True) -> GateResult:
    """Judge the gate; raise GateFailed (exit 1) on a failing verdict unless told not to."""
    gate_cfg = ctx.section("gate")
    folder = ctx.stage_dir("gate")
    try:
        needed = sources_needed(gate_cfg)
        inputs = load_inputs(ctx)
        candidate, baseline = resolve_models(ctx, inputs.models)
        tables = gather(ctx, inputs, needed, candidate, baseline)
        result = evaluate_gate(tables, gate_cfg, Taxonomy.from_config(ctx.section("taxonomy")),
                               candidate, baseline)
    except Exception as exc:
        write_error(folder, exc)
        raise
    promotion = None
    if result.passed and gate_cfg.get("promote"):
        if not ctx.section("mlflow").get("enabled", True):
            raise ConfigError("gate.promote=true needs MLflow (mlflow.enabled=true)")
        promotion = promote(ctx.section("mlflow"), gate_cfg.get("registry") or {},
                            result.candidate, ctx.project_root)
    write_outputs(result, folder, promotion)
    show(result, folder)
    log(ctx, result, folder, inputs, promotion)
    if not result.passed and fail_on_verdict:
        raise GateFailed(f"gate {result.name} failed: "
                         f"{', '.join(c.name for c in result.failed_checks)} "
                         f"(see {folder / 'summary.md'})")
    return result


def resolve_models(ctx: Context, models: list[str]) -> tuple[str, str | None]:
    """Candidate and baseline: gate.*, else compare.*, else the last and first model."""
    gate_cfg, compare_cfg = ctx.section("gate"), ctx.section("compare")
    candidates = list(compare_cfg.get("candidates") or [])
    candidate = gate_cfg.get("candidate") or (candidates[0] if candidates else None) or (
        models[-1] if models else None)
    baseline = gate_cfg.get("baseline") or compare_cfg.get("baseline") or (
        models[0] if models else None)
    for role, model in (("candidate", candidate), ("baseline", baseline)):
        if model is None or str(model) not in models:
            raise ConfigError(f"gate {role} {model!r} has no predictions; models: {models}")
    assert candidate is not None
    return str(candidate), str(baseline) if baseline is not None else None


def gather(ctx: Context, inputs: Inputs, needed: set[str], candidate: str,
           baseline: str | None) -> GateTables:
    """The tables the checks read: earlier outputs when they cover the need, else computed."""
    notices: list[str] = []
    tables = GateTables(metrics=candidate_metrics(ctx, inputs, candidate, notices))
    sources = {
        "comparison": lambda: comparison(ctx, inputs, candidate, baseline, notices),
        "agreement": lambda: agreement(ctx, inputs, notices),
        "drift": lambda: drift_table(ctx.out_dir / "drift"),
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
    console.notices(notices)
    return tables


def candidate_metrics(ctx: Context, inputs: Inputs, candidate: str,
                      notices: list[str]) -> pd.DataFrame:
    evaluate_cfg = ctx.section("evaluate")
    threshold = model_thresholds([candidate], evaluate_cfg)[candidate]
    saved = ctx.out_dir / "evaluate" / "slice_metrics.parquet"
    if saved.is_file() and inputs.reused:
        frame = pd.read_parquet(saved)
        rows = frame[frame["model"].astype(str) == candidate]
        if not rows.empty and bool((rows["threshold"] == threshold).all()):
            return rows.reset_index(drop=True)
    notices.append(f"evaluate outputs missing or not for {candidate} at threshold {threshold}: "
                   "evaluated in-process")
    result = evaluate(inputs.eval_table, inputs.scores, {**evaluate_cfg, "models": [candidate]},
                      ctx.section("slicing"), ctx.seed)
    return result.slice_metrics


def comparison(ctx: Context, inputs: Inputs, candidate: str, baseline: str | None,
               notices: list[str]) -> pd.DataFrame:
    if baseline is None:
        raise SmoEvalError("no baseline model to compare with")
    saved = ctx.out_dir / "compare" / "comparison.parquet"
    if saved.is_file() and inputs.reused:
        frame = pd.read_parquet(saved)
        pair = frame[(frame["baseline"].astype(str) == baseline)
                     & (frame["candidate"].astype(str) == candidate)]
        if not pair.empty:
            return pair.reset_index(drop=True)
    notices.append(f"compare outputs missing or without {candidate} vs {baseline}: "
                   "compared in-process")
    from smo_eval.stages.compare import compare

    compare_cfg = {**ctx.section("compare"), "baseline": baseline, "candidates": [candidate]}
    result = compare(inputs.eval_table, inputs.scores, compare_cfg, ctx.section("slicing"),
                     ctx.seed)
    table: pd.DataFrame = result.table
    return table


def agreement(ctx: Context, inputs: Inputs, notices: list[str]) -> pd.DataFrame | None:
    if inputs.annotations is None or inputs.annotations.empty:
        return None
    folder = ctx.out_dir / "labels"
    for path in (folder / "agreement.parquet", folder / "agreement.csv"):
        if path.is_file() and inputs.reused:
            return (pd.read_parquet(path) if path.suffix == ".parquet"
                    else pd.read_csv(path, encoding="utf-8-sig"))
    notices.append("labels outputs missing: annotator agreement computed in-process")
    from smo_eval.stages.labels import agreement as slice_agreement

    slices: pd.DataFrame = slice_agreement(inputs.annotations, inputs.eval_table,
                                           ctx.section("labels"))[0]
    return slices


def drift_table(folder: Path) -> pd.DataFrame | None:
    """Drift's per-column/slice table, if drift ran (None: the drift checks are skipped)."""
    if (folder / "drift.parquet").is_file():
        return pd.read_parquet(folder / "drift.parquet")
    if (folder / "drift.csv").is_file():
        return pd.read_csv(folder / "drift.csv", encoding="utf-8-sig")
    if (folder / "drift.json").is_file():
        payload = json.loads((folder / "drift.json").read_text(encoding="utf-8"))
        rows = payload.get("drift") if isinstance(payload, dict) else payload
        if not isinstance(rows, list):
            raise SmoEvalError(f"{folder / 'drift.json'}: no list of drift rows under 'drift'")
        return pd.DataFrame(rows)
    return None


def write_outputs(result: GateResult, folder: Path, promotion: dict[str, Any] | None) -> None:
    write_json(to_dict(result, {"promotion": promotion}), folder / "gate.json")
    write_json(dvc_metrics(result), folder / "metrics.json")
    _write_text(to_junit(result), folder / "junit.xml")
    summary = to_markdown(result, _promotion_line(promotion))
    _write_text(summary, folder / "summary.md")
    write_table(slice_table(result), folder / "checks")
    step_summary = os.environ.get(STEP_SUMMARY_ENV)
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")


def write_error(folder: Path, exc: Exception) -> None:
    """The gate could not run: its files say so (verdict `error`), so no stale pass remains."""
    message = str(exc) if isinstance(exc, SmoEvalError) else f"{type(exc).__name__}: {exc}"
    write_json({"verdict": "error", "passed": False, "error": message, "checks": []},
               folder / "gate.json")
    write_json({"passed": 0, "failed_checks": -1, "insufficient_checks": 0, "checks": 0},
               folder / "metrics.json")
    _write_text(error_junit(message), folder / "junit.xml")
    summary = f"## ❌ Release gate: **COULD NOT RUN**\n\n```\n{message}\n```\n"
    _write_text(summary, folder / "summary.md")
    step_summary = os.environ.get(STEP_SUMMARY_ENV)
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")


def _write_text(text: str, target: Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _promotion_line(promotion: dict[str, Any] | None) -> str | None:
    if not promotion:
        return None
    before = (f"; version {promotion['previous_version']} is now "
              f"`{promotion['previous_alias']}`" if promotion.get("previous_alias") else "")
    return (f"Promoted: `{promotion['model_name']}` alias `{promotion['alias']}` -> version "
            f"{promotion['version']}{before}.")


def slice_table(result: GateResult) -> pd.DataFrame:
    """One row per (check, slice): the table behind junit.xml, for people and the report."""
    rows = [{"check": c.name, "kind": c.kind, "check_status": c.status, "blocking": c.blocking,
             "slice": o.slice, "status": o.status, "value": o.value, "threshold": o.threshold,
             "n": o.n, "n_pos": o.n_pos, "reason": o.reason}
            for c in result.checks for o in c.slices]
    rows += [{"check": c.name, "kind": c.kind, "check_status": c.status, "blocking": c.blocking,
              "slice": None, "status": c.status, "reason": c.reason}
             for c in result.checks if not c.slices]
    return pd.DataFrame(rows, columns=["check", "kind", "check_status", "blocking", "slice",
                                       "status", "value", "threshold", "n", "n_pos", "reason"])


def show(result: GateResult, folder: Path) -> None:
    frame = pd.DataFrame([{
        "check": c.name, "kind": c.kind, "status": c.status,
        "failed": sum(o.status == FAIL for o in c.slices),
        "insufficient": sum(o.status == INSUFFICIENT for o in c.slices),
        "passed": sum(o.status == PASS for o in c.slices),
        "effect": "blocks" if c.blocking else "warn" if c.status == INSUFFICIENT else "",
    } for c in result.checks])
    kinds = {"failed": "count", "insufficient": "count", "passed": "count"}
    console.console.print(console.table(f"Gate {result.name}: {result.candidate} vs "
                                        f"{result.baseline}", frame, kinds))
    style = "green" if result.passed else "red"
    console.console.print(f"[bold {style}]gate {result.verdict.upper()}[/] "
                          f"({folder / 'summary.md'}, {folder / 'junit.xml'})")


def log(ctx: Context, result: GateResult, folder: Path, inputs: Inputs,
        promotion: dict[str, Any] | None) -> None:
    tags = {**ctx.base_tags(), **{f"input.{k}.sha256": v for k, v in inputs.hashes.items()},
            "gold_version": inputs.gold_version, "gate.name": result.name,
            "gate.verdict": result.verdict, "gate.candidate": result.candidate,
            "gate.baseline": result.baseline,
            **{f"gate.check.{c.name}": c.status for c in result.checks}}
    if promotion:
        tags["gate.promoted_version"] = promotion["version"]
    with stage_run(ctx.section("mlflow"), "gate", ctx.plain, ctx.project_root, tags) as mlrun:
        if mlrun is None:
            return
        metrics = {"gate/passed": float(result.passed),
                   "gate/failed_checks": float(len(result.failed_checks))}
        for check in result.checks:
            metrics[metric_name("gate", check.name, "passed")] = float(check.status == PASS)
            metrics[metric_name("gate", check.name, "failed_slices")] = float(
                sum(o.status == FAIL for o in check.slices))
            metrics[metric_name("gate", check.name, "insufficient_slices")] = float(
                sum(o.status == INSUFFICIENT for o in check.slices))
        mlrun.log_metrics(metrics)
        for name in ("gate.json", "junit.xml", "summary.md", "checks.csv"):
            mlrun.log_artifact(folder / name, "gate")


def exit_with_verdict(path: Path) -> None:
    """Turn a recorded verdict into the exit code (after `dvc repro`, which records it)."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SmoEvalError(f"{path}: no readable gate verdict ({exc})") from None
    verdict = payload.get("verdict") if isinstance(payload, dict) else None
    if verdict == PASS:
        console.console.print(f"[bold green]gate {payload.get('gate')} PASS[/]")
        return
    if verdict == FAIL:
        raise GateFailed(f"gate {payload.get('gate')} failed: "
                         f"{', '.join(payload.get('failed_checks') or [])}")
    raise SmoEvalError(f"{path}: gate could not run: {payload.get('error', verdict)}")
