"""How checks and outcomes read to people (summary, JUnit, console)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smo_eval.config.schema_more import CheckSpec
from smo_eval.slicekey import Selector


def describe(spec: CheckSpec) -> str:
    """A one-line reading of a check."""
    kind, where = spec.kind, selector_text(spec)
    if kind in ("floor", "ceiling"):
        side = ">=" if kind == "floor" else "<="
        limit = spec.min if kind == "floor" else spec.max
        bound = ("" if spec.bound == "point"
                 else " lower bound" if kind == "floor" else " upper bound")
        return f"{spec.metric}{bound} {side} {limit} on {where}"
    if kind == "non_regression":
        return (f"no {', '.join(spec.metrics)} regression beyond {spec.tolerance} vs baseline "
                f"on {where}")
    if kind == "support":
        return f">= {spec.min_items} gold items and >= {spec.min_positives} positives on {where}"
    if kind == "coverage":
        return f"candidate scores >= {spec.min_share:.0%} of the gold items on {where}"
    if kind == "agreement":
        return f"annotator {spec.metric} >= {spec.min} on {where}"
    if kind == "borderline":
        bound = "" if spec.bound == "point" else " upper bound"
        return f"borderline {spec.metric or 'flag_rate'}{bound} <= {spec.max} on {where}"
    if kind == "trend":
        who = ", ".join(spec.subjects) or "the candidate"
        return (f"no {', '.join(spec.metrics)} trend alarm of {who} in the last "
                f"{spec.periods} periods on {where}")
    test = "no drift alarm" if spec.alarms else f"drift <= {spec.max}"
    return f"{test} for {spec.drift_kind or 'any'} columns {list(spec.columns)}"


def selector_text(spec: CheckSpec) -> str:
    text = ", ".join(str(Selector.parse(s)) for s in spec.slices or ["overall"])
    if spec.severity:
        text += f" (severity {', '.join(str(s) for s in spec.severity)})"
    return text


def regression_text(detail: Mapping[str, Any], tolerance: float) -> str:
    def signed(value: float | None) -> str:
        return "?" if value is None else f"{value:+.4f}"

    p = detail["p_adjusted"]
    return (f"{detail['metric']} regressed by {signed(detail['delta'])} (CI "
            f"{signed(detail['delta_lo'])}..{signed(detail['delta_hi'])}, adjusted p "
            f"{'?' if p is None else f'{p:.2g}'}) beyond tolerance {tolerance}")
