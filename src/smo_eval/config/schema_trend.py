"""Settings of `trend`: KPIs per period against their targets, and change detection on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smo_eval.config.fields import section, setting

TREND_PERIODS = ("day", "week", "month", "gold_version")
MONITORED_METRICS = ("recall", "precision", "fpr")


@dataclass
class TrendDetectConfig:
    level: float = setting(
        0.05, "Family-wise false-alarm rate: the chance that any monitored series (every "
        "model x slice x metric and every QA reviewer) raises an alarm in a run when nothing "
        "changed. The CUSUM limit, common to all series, is the (1 - level) quantile of the "
        "largest CUSUM among all series over simulated histories without a change.",
        bounds=(0.001, 0.5))
    baseline_periods: int = setting(
        4, "The first periods with data of each series set its in-control rate; alarms are "
        "looked for after them.", bounds=(1, None))
    odds_ratio: float = setting(
        2.0, "The worsening the CUSUM is tuned to: the odds of the bad rate (missed violations "
        "for recall, false flags for precision, false positives for FPR, disagreements for QA) "
        "multiplied by this. Larger: quicker on large shifts, slower on small ones.",
        bounds=(1.05, 20.0))
    margin: float = setting(
        2.0, "The CUSUM's in-control rate is the baseline's Wilson upper bound at this many "
        "standard errors, so a baseline that happened to run low does not make every later "
        "period look worse (with a short baseline and growing volume that error, not a change, "
        "would drive the largest CUSUM and with it the limit). 0: the baseline rate itself.",
        bounds=(0.0, 5.0))
    min_baseline: int = setting(
        50, "Trials a series' baseline needs (positives for recall, negatives for FPR, flagged "
        "items for precision, audited judgments for QA); fewer: not enough data, no alarm.",
        bounds=(1, None))
    min_periods: int = setting(
        2, "Periods with data after the baseline a series needs; fewer: not enough data.",
        bounds=(1, None))
    simulations: int = setting(
        2000, "Simulated in-control histories of all series that set the limit (seeded).",
        bounds=(200, 100000))
    metrics: list[str] = setting(
        help="Model KPIs monitored: recall, precision, fpr (all three are in the trend table).",
        factory=lambda: ["recall", "fpr"])
    slices: list[Any] = setting(
        help="Slices monitored, as gate selectors (`overall`, `region=*`, `region=*&language=*` "
        "or a mapping); every slice stays in the trend table.",
        factory=lambda: ["overall", "risk_category=*", "region=*", "language=*"])
    qa: bool = setting(True, "Monitor QA agreement per gold reviewer and per annotator too.")


@dataclass
class TrendConfig:
    period: str = setting(
        "week", "Period of the series: day, week (ISO weeks, labelled 2026-W38), month, or "
        "gold_version (an item's period is the first gold-store version holding it).",
        choices=TREND_PERIODS)
    time_column: str = setting(
        "created_at", "Column of the evaluation table dating model KPIs (when the item was "
        "created, i.e. scored in production).")
    qa_time_column: str = setting(
        "labeled_at", "Column dating QA judgments (gold's and the annotations'); the time "
        "column where a table lacks it.")
    models: list[str] = setting(help="Models tracked (empty: every model).", factory=list)
    dimensions: list[str] | None = setting(
        None, "Slice dimensions counted per period (null: slicing.dimensions).")
    crosses: list[list[str]] | None = setting(
        None, "Crosses counted per period (null: slicing.crosses).")
    detect: TrendDetectConfig = section(TrendDetectConfig, "Change detection (CUSUM).")
