"""The release gate's section: the verdict and each check, described and detailed in the
report's language from the configured check and gate.json's numbers (status, metric, value,
threshold, counts, the per-metric details of a non-regression slice), never from the gate's
English sentences. Failed slices are shown first, and what is left out is counted by status.
"""

from __future__ import annotations

from typing import Any

from smo_eval.config.schema_more import CheckSpec
from smo_eval.report.base import Build, join, not_run, slice_label
from smo_eval.report.i18n import cell, count, interval, missing, pp
from smo_eval.report.model import Finding, Section, Table
from smo_eval.slicekey import Selector, display

ORDER = {"fail": 0, "insufficient_evidence": 1, "warn": 2}
SHOWN = 2  # slices named per check; the rest are counted
# Kinds whose limit is a floor (a failing value is below it); the others are ceilings.
FLOORS = ("floor", "support", "coverage", "agreement")


def gate(build: Build) -> Section:
    """gate/gate.json: verdict, candidate/baseline, failed checks, warnings, and the checks
    with their per-slice results."""
    result = build.get("gate")
    if result is None:
        return not_run(build, "gate", "gate", "gate/gate.json")
    verdict = str(result.get("verdict", "unknown"))
    failed = [str(c) for c in result.get("failed_checks") or []]
    warnings = [str(c) for c in result.get("warnings") or []]
    section = Section("gate", build.t("section.gate"), ran=True)
    section.findings.append(Finding("gate_verdict", build.t(
        "gate.verdict", verdict=build.msg.name(verdict), gate=result.get("gate", ""),
        candidate=result.get("candidate") or "–", baseline=result.get("baseline") or "–",
        failed=join(build, failed) or "–", warnings=join(build, warnings) or "–"),
        "high" if verdict != "pass" else "info",
        {"verdict": verdict, "failed": failed, "warnings": warnings}))
    checks = sorted(result.get("checks") or [],
                    key=lambda c: ORDER.get(str(c.get("status")), 3))
    if checks:
        rows = [[str(c.get("name")), describe(build, c),
                 build.msg.name(str(c.get("status"))), cell("blocking", bool(c.get("blocking"))),
                 _detail(build, c)] for c in checks]
        marks = ["status-below" if c.get("status") == "fail" else "" for c in checks]
        section.tables.append(Table(build.t("gate.table"), [build.t(f"gate.col.{k}") for k in (
            "check", "description", "status", "blocking", "detail")], rows, marks))
    return section


def describe(build: Build, check: dict[str, Any]) -> str:
    """What a check asks, from its configuration (gate.json's own description, in English,
    only for a check the configuration no longer has)."""
    spec = build.config.gate.checks.get(str(check.get("name")))
    if spec is None:
        return str(check.get("description", ""))
    where = _where(build, spec)
    kind = spec.kind
    if kind in ("floor", "ceiling"):
        metric = str(spec.metric)
        if spec.bound != "point":
            metric += "_lo" if kind == "floor" else "_hi"
        limit = spec.min if kind == "floor" else spec.max
        shown = build.t("gate.target") if limit == "target" else cell(str(spec.metric), limit)
        return build.t(f"gate.describe.{kind}", metric=build.msg.name(metric), limit=shown,
                       where=where)
    if kind == "non_regression":
        return build.t("gate.describe.non_regression", where=where,
                       metrics=join(build, [build.msg.name(m) for m in spec.metrics]),
                       tolerance=f"{100 * spec.tolerance:.1f} pp")
    if kind == "support":
        return build.t("gate.describe.support", items=count(spec.min_items), where=where,
                       positives=count(spec.min_positives))
    if kind == "coverage":
        return build.t("gate.describe.coverage", share=cell("share", spec.min_share),
                       where=where)
    if kind == "agreement":
        return build.t("gate.describe.agreement", metric=build.msg.name(str(spec.metric)),
                       limit=cell(str(spec.metric), spec.min), where=where)
    if kind == "borderline":
        metric = str(spec.metric or "flag_rate") + ("" if spec.bound == "point" else "_hi")
        return build.t("gate.describe.borderline", metric=build.msg.name(metric),
                       limit=cell("rate", spec.max), where=where)
    if kind == "trend":
        who = join(build, list(spec.subjects)) if spec.subjects else build.t("gate.candidate")
        return build.t("gate.describe.trend", metrics=join(build, [build.msg.name(m)
                                                                  for m in spec.metrics]),
                       who=who, periods=spec.periods, where=where)
    columns = join(build, list(spec.columns))
    scope = build.msg.name(str(spec.drift_kind or "any"))
    if spec.alarms:
        return build.t("gate.describe.drift_alarm", kind=scope, columns=columns)
    return build.t("gate.describe.drift", kind=scope, columns=columns,
                   limit=cell("value", spec.max))


def _where(build: Build, spec: CheckSpec) -> str:
    """The check's slice selectors in the report's language (`*`: every slice)."""
    parts = []
    for raw in spec.slices or ["overall"]:
        pairs = Selector.parse(raw).pairs
        parts.append(build.t("gate.all_slices") if pairs is None else
                     display(pairs) if pairs else build.msg.name("overall"))
    text = join(build, parts)
    if spec.severity:
        text += build.t("gate.severity", levels=", ".join(str(s) for s in spec.severity))
    return text


def _detail(build: Build, check: dict[str, Any]) -> str:
    """The slices that did not pass, failures first: the first `SHOWN` with their numbers,
    the rest counted by status."""
    slices = check.get("slices") or []
    if not slices:
        status = str(check.get("status"))
        key = f"gate.skipped.{check.get('kind')}"
        if status == "skipped" and build.msg.has(key):
            return build.t(key)
        return str(check.get("reason") or "")  # a check that could not run: its error
    bad = sorted((s for s in slices if s.get("status") != "pass"),
                 key=lambda s: ORDER.get(str(s.get("status")), 3))
    text = build.t("gate.sep").join(build.t("gate.item", slice=_label(build, check, s),
                                            text=_outcome(build, check, s))
                                    for s in bad[:SHOWN])
    rest = bad[SHOWN:]
    if rest:
        failed = sum(s.get("status") == "fail" for s in rest)
        parts = ([build.t("gate.more_failed", n=count(failed))] if failed else []) + (
            [build.t("gate.more_other", n=count(len(rest) - failed))]
            if len(rest) > failed else [])
        text += build.t("gate.more", n=count(len(rest)), breakdown=join(build, parts))
    return text


def _label(build: Build, check: dict[str, Any], outcome: dict[str, Any]) -> str:
    """The slice, or what a drift row tests (`column @ slice`, its slice in the report's
    form: the label is checked against the row's key, never parsed)."""
    shown = slice_label(build, outcome.get("slice_key"))
    if check.get("kind") != "drift":
        return shown
    label, key = str(outcome.get("slice")), outcome.get("slice_key") or []
    tail = " @ " + display(tuple((str(d), str(v)) for d, v in key))
    return label[:-len(tail)] + " @ " + shown if label.endswith(tail) else label


def _outcome(build: Build, check: dict[str, Any], outcome: dict[str, Any]) -> str:
    """Why one slice did not pass, from its numbers."""
    kind, status = str(check.get("kind")), str(outcome.get("status"))
    n, n_pos = outcome.get("n"), outcome.get("n_pos")
    if kind == "non_regression":
        details = outcome.get("details") or []
        regressed = [d for d in details if d.get("status") == "fail"]
        if regressed:
            return build.t("gate.sep").join(build.t(
                "gate.regressed", metric=build.msg.name(str(d["metric"])), delta=pp(d["delta"]),
                ci=interval(d.get("delta_lo"), d.get("delta_hi"), pp),
                p=cell("p_adjusted", d.get("p_adjusted"))) for d in regressed)
        unsure = [build.msg.name(str(d["metric"])) for d in details
                  if d.get("status") == "insufficient_evidence"]
        if unsure:
            return build.t("gate.insufficient_metrics", metrics=join(build, unsure))
    if kind == "support":
        return build.t("gate.support", n=count(n), n_pos=count(n_pos))
    if status != "fail":
        if n_pos is None or missing(n_pos):
            return build.t("gate.insufficient_n", n=count(n))
        return build.t("gate.insufficient", n=count(n), n_pos=count(n_pos))
    metric = str(outcome.get("metric") or "value")
    return build.t("gate.compared", metric=build.msg.name(metric),
                   value=cell(metric, outcome.get("value")), op="<" if kind in FLOORS else ">",
                   threshold=cell(metric, outcome.get("threshold")))
