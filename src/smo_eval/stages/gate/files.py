"""The gate's result as the three files CI reads: JSON (tools), JUnit XML (the CI system's
test view), Markdown (the pull request / step summary). Pure: result in, text out.

JUnit follows the Jenkins/Ant schema most CI systems read: one <testsuite> per check, one
<testcase> per (check, slice). A failed slice is a <failure>; insufficient evidence is a
<failure> when the check says `on_insufficient: fail` and <skipped> when it says `warn`; a
check that could not be computed is an <error>; a check whose source does not apply is
<skipped>.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import pandas as pd

from smo_eval.clock import now
from smo_eval.io import markdown
from smo_eval.slicekey import to_json
from smo_eval.stages.gate.model import (
    FAIL,
    INSUFFICIENT,
    PASS,
    SKIPPED,
    CheckResult,
    GateResult,
)

_ICON = {PASS: "✅", FAIL: "❌", INSUFFICIENT: "⚠️", SKIPPED: "⏭️"}
_MAX_ROWS = 40


def _num(value: float | None) -> Any:
    return None if value is None else round(float(value), 6)


def to_dict(result: GateResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """gate.json: the verdict and each check with its numbers per slice."""
    return {
        "gate": result.name, "verdict": result.verdict, "passed": result.passed,
        "candidate": result.candidate, "baseline": result.baseline,
        "failed_checks": [c.name for c in result.failed_checks],
        "warnings": [c.name for c in result.warnings],
        "checks": [{
            "name": c.name, "kind": c.kind, "description": c.description, "status": c.status,
            "blocking": c.blocking, "on_insufficient": c.on_insufficient, "reason": c.reason,
            "error": c.error,
            "slices": [{"slice": o.slice, "slice_key": [list(p) for p in o.key],
                        "status": o.status, "metric": o.metric, "value": _num(o.value),
                        "threshold": _num(o.threshold), "n": o.n, "n_pos": o.n_pos,
                        "reason": o.reason, **({"details": o.details} if o.details else {})}
                       for o in c.slices],
        } for c in result.checks],
        **(extra or {}),
    }


def dvc_metrics(result: GateResult) -> dict[str, int]:
    """Numbers for `dvc metrics show` / `dvc exp show` (DVC diffs numbers, not strings)."""
    return {"passed": int(result.passed), "failed_checks": len(result.failed_checks),
            "insufficient_checks": sum(c.status == INSUFFICIENT for c in result.checks),
            "checks": len(result.checks)}


def _case_outcome(check: CheckResult, status: str) -> str:
    """failure / error / skipped / pass for one JUnit test case."""
    if check.error:
        return "error"
    if status == FAIL or (status == INSUFFICIENT and check.on_insufficient == "fail"):
        return "failure"
    if status in (INSUFFICIENT, SKIPPED):
        return "skipped"
    return "pass"


def to_junit(result: GateResult, timestamp: datetime | None = None) -> str:
    stamp = (timestamp or now()).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", name=f"smo-eval gate {result.name}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite_id, check in enumerate(result.checks):
        cases: list[tuple[str, str, str, str]] = []  # name, outcome, message, text
        if check.slices:
            for o in check.slices:
                message = f"{o.status}: {o.reason}" if o.status != PASS else o.reason
                text = (f"check {check.name}: {check.description}\nslice {o.slice}: {o.status}"
                        f"\nvalue {o.value} threshold {o.threshold} n {o.n} n_pos {o.n_pos}"
                        f"\n{o.reason}")
                cases.append((o.slice, _case_outcome(check, o.status), message, text))
        else:
            label = "(not applicable)" if check.status == SKIPPED else "(check)"
            cases.append((label, _case_outcome(check, check.status),
                          f"{check.status}: {check.reason}", check.reason))
        counts = {"tests": len(cases),
                  "failures": sum(c[1] == "failure" for c in cases),
                  "errors": sum(c[1] == "error" for c in cases),
                  "skipped": sum(c[1] == "skipped" for c in cases)}
        suite = ET.SubElement(root, "testsuite", {
            "name": f"gate.{check.name}", **{k: str(v) for k, v in counts.items()},
            "time": "0", "timestamp": stamp, "hostname": "smo-eval", "id": str(suite_id),
            "package": "gate"})
        props = ET.SubElement(suite, "properties")
        for key, value in (("kind", check.kind), ("status", check.status),
                           ("on_insufficient", check.on_insufficient),
                           ("description", check.description),
                           ("candidate", result.candidate),
                           ("baseline", result.baseline or "")):
            ET.SubElement(props, "property", name=key, value=value)
        for name, outcome, message, text in cases:
            case = ET.SubElement(suite, "testcase", name=name, classname=f"gate.{check.name}",
                                 time="0")
            if outcome in ("failure", "error"):
                kind = "error" if outcome == "error" else check.status if check.slices else FAIL
                node = ET.SubElement(case, outcome, message=message, type=kind)
                node.text = text
            elif outcome == "skipped":
                ET.SubElement(case, "skipped", message=message)
        for key in totals:
            totals[key] += counts[key]
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("time", "0")
    return _xml_text(root)


def error_junit(message: str) -> str:
    """A JUnit file for a gate that could not run: one errored test case, never a pass."""
    root = ET.Element("testsuites", name="smo-eval gate", tests="1", failures="0", errors="1",
                      time="0")
    suite = ET.SubElement(root, "testsuite", name="gate", tests="1", failures="0", errors="1",
                          skipped="0", time="0")
    case = ET.SubElement(suite, "testcase", name="gate could run", classname="gate", time="0")
    node = ET.SubElement(case, "error", message=message.splitlines()[0] if message else "",
                         type="could_not_run")
    node.text = message
    return _xml_text(root)


# Characters XML 1.0 cannot hold at all (C0 controls but tab/LF/CR, surrogates, U+FFFE/FFFF);
# ElementTree writes them anyway and the CI system's parser then rejects the whole file.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(root: ET.Element) -> str:
    """The document, every text and attribute holding only characters XML allows (others are
    shown as `\\uXXXX`)."""
    def clean(value: str) -> str:
        return _NOT_XML.sub(lambda m: f"\\u{ord(m.group(0)):04x}", value)

    for element in root.iter():
        element.text = clean(element.text) if element.text else element.text
        for key, value in element.attrib.items():
            element.set(key, clean(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _cell(value: Any) -> str:
    """A Markdown table cell that shows data as text (`io.markdown.text`)."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return markdown.text(value)


def to_markdown(result: GateResult, promotion: str | None = None) -> str:
    """Verdict line, then failed and insufficient checks (per slice), then the rest."""
    icon = _ICON[result.verdict]
    against = f" vs baseline {markdown.code(result.baseline)}" if result.baseline else ""
    lines = [f"## {icon} Release gate {markdown.code(result.name)}: "
             f"**{result.verdict.upper()}** (candidate {markdown.code(result.candidate)}"
             f"{against})", ""]
    failed, warnings = result.failed_checks, result.warnings
    lines.append(f"{len(result.checks)} checks: {len(failed)} failing the gate, "
                 f"{len(warnings)} with insufficient evidence (warn), "
                 f"{sum(c.status == PASS for c in result.checks)} passed, "
                 f"{sum(c.status == SKIPPED for c in result.checks)} not applicable.")
    if promotion:
        lines += ["", promotion]
    attention = [c for c in result.checks if c.status in (FAIL, INSUFFICIENT)]
    if attention:
        lines += ["", "### Failed and insufficient", "",
                  "| check | slice | status | value | threshold | n | positives | reason |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        rows = []
        for check in sorted(attention, key=lambda c: (not c.blocking, c.name)):
            bad = [o for o in check.slices if o.status in (FAIL, INSUFFICIENT)]
            if not bad:
                rows.append(f"| {_cell(check.name)} | – | {_ICON[check.status]} {check.status} "
                            f"| – | – | – | – | {_cell(check.reason)} |")
            for o in sorted(bad, key=lambda o: o.status != FAIL):
                effect = "" if check.blocking or o.status == FAIL else " (warn)"
                rows.append(f"| {_cell(check.name)} | {_cell(o.slice)} | {_ICON[o.status]} "
                            f"{o.status}{effect} | {_cell(o.value)} | {_cell(o.threshold)} | "
                            f"{_cell(o.n)} | {_cell(o.n_pos)} | {_cell(o.reason)} |")
        lines += rows[:_MAX_ROWS]
        if len(rows) > _MAX_ROWS:
            lines.append(f"\n{len(rows) - _MAX_ROWS} more rows in gate.json / junit.xml.")
    lines += ["", "### All checks", "", "| check | status | slices | description |",
              "| --- | --- | --- | --- |"]
    order = sorted(result.checks, key=lambda c: (not c.blocking, c.status == PASS, c.name))
    for check in order:
        counts = {s: sum(o.status == s for o in check.slices) for s in (PASS, FAIL, INSUFFICIENT)}
        shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or _cell(check.reason)
        lines.append(f"| {_cell(check.name)} | {_ICON[check.status]} {check.status} | {shown} | "
                     f"{_cell(check.description)} |")
    return "\n".join(lines) + "\n"


CHECK_COLUMNS = ["check", "kind", "check_status", "blocking", "slice", "status", "metric",
                 "value", "threshold", "n", "n_pos", "reason", "slice_key"]


def checks_table(result: GateResult) -> pd.DataFrame:
    """One row per (check, slice): the table behind junit.xml, for people and the report."""
    rows = [{"check": c.name, "kind": c.kind, "check_status": c.status, "blocking": c.blocking,
             "slice": o.slice, "status": o.status, "metric": o.metric, "value": o.value,
             "threshold": o.threshold, "n": o.n, "n_pos": o.n_pos, "reason": o.reason,
             "slice_key": to_json(o.key)}
            for c in result.checks for o in c.slices]
    rows += [{"check": c.name, "kind": c.kind, "check_status": c.status, "blocking": c.blocking,
              "slice": None, "status": c.status, "reason": c.reason}
             for c in result.checks if not c.slices]
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def error_summary(message: str) -> str:
    text = message.replace("`", "'")
    return f"## ❌ Release gate: **COULD NOT RUN**\n\n```\n{text}\n```\n"
