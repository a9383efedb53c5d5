"""Recommendations that follow from findings, each carrying the findings it rests on."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from smo_eval.report.base import Build, slice_label
from smo_eval.report.model import Finding, Recommendation

# Finding kind -> (message key, severity, how many of that kind become recommendations).
RULES: dict[str, tuple[str, str, int]] = {
    "regression": ("rec.regression", "high", 3),
    "careless_annotator": ("rec.careless", "high", 3),
    "below_target": ("rec.below_target", "high", 3),
    "weak_recall": ("rec.weak_recall", "high", 2),
    "language_threshold": ("rec.language_threshold", "medium", 3),
    "wide_interval": ("rec.wide_interval", "medium", 3),
    "low_agreement": ("rec.low_agreement", "medium", 2),
    "drift": ("rec.drift", "medium", 3),
    "emerging_term": ("rec.emerging_term", "medium", 2),
    "failure_slice": ("rec.failure_slice", "medium", 2),
    "case_conflicts": ("rec.case_conflicts", "medium", 1),
}


def recommend(build: Build, findings: Sequence[Finding]) -> list[Recommendation]:
    out: list[Recommendation] = []
    for kind, (key, severity, limit) in RULES.items():
        picked = _distinct([f for f in findings if f.kind == kind])[:limit]
        values: Callable[[Finding], dict[str, object]] = _VALUES.get(kind, lambda f: {})
        out.extend(Recommendation(build.t(_key(key, f), **_words(build, values(f))
                                          | _slice(build, f)), [f.text], severity)
                   for f in picked)
    return out


def _words(build: Build, values: dict[str, object]) -> dict[str, object]:
    """A metric or column named in a recommendation, in the report's language (`召回率`, not
    `recall`; `语言`, not `language`)."""
    return {k: build.msg.name(str(v)) if k in ("metric", "name") else v
            for k, v in values.items()}


def _distinct(findings: list[Finding]) -> list[Finding]:
    """Drift alarms: one per metadata column and one per model's scores (the strongest, as
    the section orders them), so a score shift in nested slices does not crowd out the rest."""
    seen: set[tuple[object, ...]] = set()
    out = []
    for f in findings:
        group = ((f.subject.get("kind"), f.subject.get("model") or f.subject.get("name"))
                 if f.kind == "drift" else (id(f),))
        if group not in seen:
            seen.add(group)
            out.append(f)
    return out


def _key(key: str, finding: Finding) -> str:
    return "rec.score_drift" if finding.kind == "drift" and finding.subject.get(
        "kind") == "score" else key


def _slice(build: Build, finding: Finding) -> dict[str, object]:
    name = finding.subject.get("slice")
    return {"slice": slice_label(build, name) if name is not None else ""}


_VALUES: dict[str, Callable[[Finding], dict[str, object]]] = {
    "regression": lambda f: {"candidate": f.subject["candidate"],
                             "baseline": f.subject["baseline"], "metric": f.subject["metric"]},
    "careless_annotator": lambda f: {"annotator": f.subject["annotator"]},
    "below_target": lambda f: {"model": f.subject["model"]},
    "weak_recall": lambda f: {"model": f.subject["model"]},
    "language_threshold": lambda f: {"model": f.subject["model"]},
    "wide_interval": lambda f: {"model": f.subject["model"]},
    "drift": lambda f: {"name": f.subject["name"], "model": f.subject.get("model") or ""},
    "emerging_term": lambda f: {"term": f.subject["term"], "language": f.subject["language"]},
    "failure_slice": lambda f: {"model": f.subject.get("model") or ""},
}
