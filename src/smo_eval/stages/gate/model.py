"""What the gate decides, as data: per slice, per check, one verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from smo_eval.slicekey import SliceKey, display

PASS, FAIL, INSUFFICIENT, SKIPPED = "pass", "fail", "insufficient_evidence", "skipped"


@dataclass(frozen=True)
class SliceOutcome:
    """One check judged on one slice: what was compared with what, and why it ended so.

    `value` is the number the check compared with `threshold` (the same one its reason
    names); `label` replaces the slice's display name where the row is not a slice (a drift
    column)."""

    key: SliceKey
    status: str
    value: float | None = None
    threshold: float | None = None
    n: int | None = None
    n_pos: int | None = None
    reason: str = ""
    details: list[dict[str, Any]] = field(default_factory=list)
    metric: str | None = None
    label: str | None = None

    @property
    def slice(self) -> str:
        return self.label or display(self.key)


@dataclass
class CheckResult:
    name: str
    kind: str
    on_insufficient: str
    description: str
    slices: list[SliceOutcome]
    status: str
    reason: str = ""
    error: bool = False

    @property
    def blocking(self) -> bool:
        """Does this check make the gate fail?"""
        return self.status == FAIL or (self.status == INSUFFICIENT
                                       and self.on_insufficient == "fail")


@dataclass
class GateResult:
    name: str
    candidate: str
    baseline: str | None
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return not any(c.blocking for c in self.checks)

    @property
    def verdict(self) -> str:
        return PASS if self.passed else FAIL

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.blocking]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == INSUFFICIENT and not c.blocking]


@dataclass
class GateTables:
    """The evidence the checks read; None where that source does not exist.

    `metrics` is the candidate's rows of evaluate's slice table (with `n_unscored`, the gold
    items of the slice the candidate did not score); `coverage` is per model the gold items
    and those scored."""

    metrics: pd.DataFrame
    comparison: pd.DataFrame | None = None
    agreement: pd.DataFrame | None = None
    drift: pd.DataFrame | None = None
    # evaluate's flag rates of borderline gold items (None without borderline labels).
    borderline: pd.DataFrame | None = None
    # trend's series table and its alarms (trend/series.csv, trend/alarms.csv)
    trend: tuple[pd.DataFrame, pd.DataFrame] | None = None
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)
    # Source -> why it could not be read or computed: the checks reading it fail.
    errors: dict[str, str] = field(default_factory=dict)
