"""Sections drawn from the later stages' outputs: comparison, errors, labels, drift, gate.

Each reads its stage's documented files and tolerates columns it does not know (they are shown
as they are); a stage that left no outputs gives a section marked "not run".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from smo_eval.report import figures
from smo_eval.report.base import Build, first_column, frame_table, mask_text, not_run, slice_label
from smo_eval.report.i18n import cell, count, interval, num, pct, pp
from smo_eval.report.model import Figure, Finding, Section, Table

SLICE_COLUMNS = ("slice", "conditions", "description", "name", "where")


def comparison(build: Build) -> Section:
    frame = build.get("comparison")
    if frame is None:
        return not_run(build, "comparison", "compare", "compare/comparison.parquet")
    section = Section("comparison", build.t("section.comparison"), ran=True,
                      note=build.t("comparison.note"))
    moved = frame[frame["verdict"].isin(["regressed", "improved"])].copy()
    moved["size"] = moved["delta"].abs()
    moved = moved.sort_values(["verdict", "size"], ascending=[False, False])
    counts = frame["verdict"].value_counts()
    section.findings.append(Finding("comparison_counts", build.t(
        "comparison.counts", regressed=count(counts.get("regressed", 0)),
        improved=count(counts.get("improved", 0)), tested=count(len(frame)),
        insufficient=count(counts.get("insufficient_evidence", 0))), "info"))
    for r in moved[moved["verdict"] == "regressed"].head(build.max_rows).itertuples():
        section.findings.append(Finding("regression", build.t(
            "comparison.regressed", candidate=r.candidate, baseline=r.baseline,
            metric=build.msg.name(str(r.metric)), slice=slice_label(build, str(r.slice)),
            base=pct(r.baseline_value), cand=pct(r.candidate_value), delta=pp(r.delta),
            ci=interval(r.delta_lo, r.delta_hi, pp), p=f"{r.p_adjusted:.2g}"), "high",
            {"candidate": r.candidate, "baseline": r.baseline, "slice": r.slice,
             "metric": r.metric, "delta": float(r.delta)}))
    rows = [[str(r.candidate), slice_label(build, str(r.slice)), build.msg.name(str(r.metric)),
             pct(r.baseline_value), pct(r.candidate_value), pp(r.delta),
             interval(r.delta_lo, r.delta_hi, pp), f"{r.p_adjusted:.2g}",
             build.msg.name(str(r.verdict))] for r in moved.head(build.max_rows).itertuples()]
    section.tables.append(Table(build.t("comparison.table"), [build.t(f"comparison.col.{c}") for c
                                in ("candidate", "slice", "metric", "baseline", "candidate_value",
                                    "delta", "interval", "p", "verdict")], rows,
                                [str(v) for v in moved["verdict"].head(build.max_rows)]))
    if len(moved):
        top = moved.head(30).copy()
        top["label"] = [f"{c} · {slice_label(build, str(s))} · {build.msg.name(str(m))}"
                        for c, s, m in zip(top["candidate"], top["slice"], top["metric"],
                                           strict=True)]
        title = build.t("comparison.figure")
        section.figures.append(Figure("comparison-deltas", title, figures.forest(
            top, title, build.t("comparison.col.delta"))))
    return section


def errors(build: Build) -> Section:
    names = ("failure_slices", "error_drivers", "error_terms", "rca", "review_queue")
    if not build.has(*names):
        return not_run(build, "errors", "errors", "errors/failure_slices.csv, …")
    section = Section("errors", build.t("section.errors"), ran=True)
    slices = build.get("failure_slices")
    if slices is not None and len(slices):
        col = first_column(slices, SLICE_COLUMNS)
        rate = first_column(slices, ("error_rate", "miss_rate", "rate"))
        for r in slices.head(3).to_dict("records"):
            section.findings.append(Finding("failure_slice", build.t(
                "errors.slice", slice=slice_label(build, str(r.get(col, "?"))),
                rate=pct(r.get(rate)) if rate else "–",
                n=count(r.get(first_column(slices, ("n", "size", "support")) or "", None)),
                model=r.get("model", "")), "medium",
                {"slice": r.get(col), "model": r.get("model")}))
    terms = build.get("error_terms")
    if terms is not None and len(terms) and "term" in terms.columns:
        section.findings.append(Finding("error_terms", build.t(
            "errors.terms", terms="、".join(map(str, terms["term"].head(5)))
            if build.msg.lang == "zh" else ", ".join(map(str, terms["term"].head(5)))), "info"))
    for name in names[:-1]:
        frame = build.get(name)
        if frame is not None:
            section.tables.append(frame_table(build, frame, build.t(f"errors.{name}")))
    queue = build.get("review_queue")
    if queue is not None:
        section.tables.append(_examples(build, queue, slices))
    return section


def _examples(build: Build, queue: pd.DataFrame, slices: pd.DataFrame | None) -> Table:
    """A few review-queue items per slice: text masked by config and truncated."""
    examples = build.cfg.get("examples") or {}
    per_slice = int(examples.get("per_slice", 3))
    group = first_column(queue, ("slice", "failure_slice", "bucket", "rca", "model"))
    picked = (queue.groupby(group, sort=False, observed=True).head(per_slice) if group
              else queue.head(per_slice * 4)).head(build.max_rows)
    cols = [c for c in (group, "item_id", "model", "label", "score", "risk_category",
                        "language") if c and c in picked.columns]
    text_col = first_column(picked, ("text", "content"))
    rows = [[cell(c, r[c]) for c in cols] + ([mask_text(r[text_col], examples)] if text_col
                                             else []) for r in picked.to_dict("records")]
    headers = [build.msg.name(c) for c in cols] + ([build.msg.name("text")] if text_col else [])
    return Table(build.t("errors.examples"), headers, rows, [], build.t(
        "errors.examples_note", n=count(len(queue))))


def labels(build: Build) -> Section:
    names = ("agreement", "annotators", "label_issues", "gold_diff", "case_conflicts")
    if not build.has(*names):
        return not_run(build, "labels", "labels", "labels/agreement.csv, …")
    section = Section("labels", build.t("section.labels"), ran=True)
    agreement = build.get("agreement")
    if agreement is not None:
        floor = float(build.rules.get("min_agreement", 0.6))
        value = first_column(agreement, ("krippendorff_alpha", "fleiss_kappa",
                                         "mean_pairwise_cohen_kappa"))
        if value:
            low = agreement[agreement[value] < floor].sort_values(value)
            for r in low.head(5).to_dict("records"):
                section.findings.append(Finding("low_agreement", build.t(
                    "labels.low_agreement", slice=slice_label(build, str(r["slice"])),
                    value=num(r[value], 2), metric=build.msg.name(value), floor=num(floor, 2),
                    n=count(r.get("n_items"))), "medium", {"slice": r["slice"]}))
        section.tables.append(frame_table(build, agreement, build.t("labels.agreement")))
    annotators = build.get("annotators")
    if annotators is not None:
        section.findings.extend(_careless(build, annotators))
        section.tables.append(frame_table(build, annotators, build.t("labels.annotators")))
    issues = build.get("label_issues")
    if issues is not None:
        section.findings.append(Finding("label_issues", build.t(
            "labels.issues", n=count(len(issues))), "info" if len(issues) == 0 else "medium",
            {"n": len(issues)}))
        section.tables.append(frame_table(build, issues, build.t("labels.label_issues")))
    for name in ("gold_diff", "case_conflicts"):
        frame = build.get(name)
        if frame is not None:
            section.tables.append(frame_table(build, frame, build.t(f"labels.{name}")))
            if name == "case_conflicts" and len(frame):
                section.findings.append(Finding("case_conflicts", build.t(
                    "labels.case_conflicts_found", n=count(len(frame))), "medium"))
    return section


def _careless(build: Build, annotators: pd.DataFrame) -> list[Finding]:
    """Annotators whose agreement with the adjudicated label is far below their peers'."""
    who = first_column(annotators, ("annotator_id", "annotator"))
    value = first_column(annotators, (
        "kappa_vs_adjudicated", "cohen_kappa_vs_adjudicated", "agreement_kappa",
        "accuracy_vs_adjudicated", "agreement_with_adjudicated", "agreement", "accuracy"))
    if value is None:
        value = next((c for c in annotators.columns if ("kappa" in c or "agree" in c)
                      and pd.api.types.is_numeric_dtype(annotators[c])), None)
    if who is None or value is None or len(annotators) < 2:
        return []
    median = float(annotators[value].median())
    gap = float(build.rules.get("annotator_gap", 0.15))
    low = annotators[annotators[value] < median - gap].sort_values(value)
    return [Finding("careless_annotator", build.t(
        "labels.careless", annotator=r[who], value=num(r[value], 2),
        metric=build.msg.name(value), median=num(median, 2)), "high",
        {"annotator": str(r[who]), "value": float(r[value]), "median": median})
        for r in low.to_dict("records")]


def drift(build: Build) -> Section:
    if not build.has("drift", "performance_estimate", "emerging_terms"):
        return not_run(build, "drift", "drift", "drift/drift.json, …")
    section = Section("drift", build.t("section.drift"), ran=True, note=build.t("drift.note"))
    report = build.get("drift")
    if report is not None:
        entries = pd.DataFrame(list(_drift_entries(report)))
        if len(entries):
            entries = entries.sort_values(["drifted", "value"], ascending=[False, False])
            for r in entries[entries["drifted"]].head(build.max_rows).to_dict("records"):
                section.findings.append(Finding("drift", build.t(
                    "drift.alarm", name=r["name"], method=r.get("method", ""),
                    value=num(r.get("value")), threshold=num(r.get("threshold"))), "medium",
                    {"name": r["name"]}))
            if not entries["drifted"].any():
                section.findings.append(Finding("no_drift", build.t(
                    "drift.none", n=count(len(entries))), "info"))
            section.tables.append(frame_table(build, entries, build.t("drift.table"), [
                "name", "method", "value", "threshold", "p_value", "drifted"],
                ["status-below" if d else "" for d in entries["drifted"]]))
    estimate = build.get("performance_estimate")
    if estimate is not None:
        section.tables.append(frame_table(build, estimate, build.t("drift.estimate")))
    terms = build.get("emerging_terms")
    if terms is not None and len(terms):
        top = terms.drop_duplicates("term").head(5) if "term" in terms.columns else terms.head(0)
        for r in top.head(3).to_dict("records"):
            section.findings.append(Finding("emerging_term", build.t(
                "drift.term", term=r["term"], language=r.get("language", "")), "medium",
                {"term": str(r["term"]), "language": r.get("language")}))
        section.tables.append(frame_table(build, terms, build.t("drift.terms")))
        if "term" in terms.columns:
            score = first_column(terms, ("z", "log_odds_z", "score", "cur_count"))
            if score:
                bar = terms.drop_duplicates("term").head(15)
                title = build.t("drift.terms")
                section.figures.append(Figure("emerging-terms", title, figures.bars(
                    [str(t) for t in bar["term"]], [float(v) for v in bar[score]], title,
                    build.msg.name(score))))
    return section


def _drift_entries(node: Any, path: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """Every test in drift.json (any nesting): a dict with a boolean `drifted`."""
    if isinstance(node, dict):
        if isinstance(node.get("drifted"), bool):
            name = " / ".join(str(node[k]) for k in ("model", "slice", "column", "name")
                              if node.get(k) is not None) or " / ".join(path)
            yield {"name": name, "method": node.get("method"), "value": node.get("value"),
                   "threshold": node.get("threshold"), "p_value": node.get("p_value"),
                   "drifted": bool(node["drifted"])}
            return
        for key, value in node.items():
            yield from _drift_entries(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _drift_entries(value, (*path, str(i)))


def gate(build: Build) -> Section:
    result = build.get("gate")
    if result is None:
        return not_run(build, "gate", "gate", "gate/gate.json")
    verdict = str(result.get("verdict", result.get("status", "unknown")))
    section = Section("gate", build.t("section.gate"), ran=True)
    section.findings.append(Finding("gate_verdict", build.t(
        "gate.verdict", verdict=build.msg.name(verdict)), "high" if verdict != "pass" else
        "info", {"verdict": verdict}))
    checks = result.get("checks") or []
    if isinstance(checks, dict):
        checks = [{"name": k, **v} if isinstance(v, dict) else {"name": k, "status": v}
                  for k, v in checks.items()]
    if checks:
        frame = pd.DataFrame(checks)
        status = first_column(frame, ("status", "verdict", "outcome", "result"))
        if status:
            order = frame[status].map({"fail": 0, "insufficient": 1}).fillna(2)
            frame = frame.assign(_o=order).sort_values("_o").drop(columns="_o")
        keep = [c for c in frame.columns if frame[c].map(
            lambda v: not isinstance(v, dict | list)).all()]
        section.tables.append(frame_table(build, frame[keep], build.t("gate.table"), marks=[
            "status-below" if status and str(v) == "fail" else "" for v in
            (frame[status] if status else [])]))
    return section
