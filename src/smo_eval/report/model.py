"""The report as data: what the stage builds and every renderer reads.

Text is already in the report's language (the stage formats it through the message
catalogue); tables hold formatted cells, figures hold plotly JSON built from aggregates only,
so a report's size does not grow with the number of evaluated rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    # Per row: "" or a CSS class the HTML uses to mark it (e.g. low support, below target).
    marks: list[str] = field(default_factory=list)
    note: str | None = None


@dataclass
class Figure:
    key: str
    title: str
    spec: dict[str, Any]


@dataclass
class Finding:
    """One thing the reader should know; `kind` and `subject` let recommendations follow it."""

    kind: str
    text: str
    severity: str = "info"  # high | medium | info
    subject: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recommendation:
    text: str
    evidence: list[str]
    severity: str = "medium"


@dataclass
class Section:
    key: str
    title: str
    ran: bool
    findings: list[Finding] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    note: str | None = None
    # Finding kind -> how many there are, where the section names only the first few (the
    # summary counts these, never the shown findings).
    totals: dict[str, int] = field(default_factory=dict)


@dataclass
class Report:
    lang: str
    title: str
    generated: str
    summary: list[str]
    sections: list[Section]
    recommendations: list[Recommendation]
    labels: dict[str, str]

    @property
    def figures(self) -> list[Figure]:
        return [f for s in self.sections for f in s.figures]

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.sections for f in s.findings]
