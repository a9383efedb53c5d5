"""Trend: model KPIs and QA quality per period, against their targets, with change detection
that does not cry wolf.

Pure: the evaluation table, the aligned scores and the raw judgments in; a long table (one
row per period, subject, slice and metric), one row per monitored series and one per alarm
out. Periods: `trend_periods`; model KPIs through the counting engine: `trend_kpi`; QA:
`trend_qa`; the CUSUM and its family-wise limit: `trend_detect`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_trend import MONITORED_METRICS, TrendConfig
from smo_eval.errors import ConfigError
from smo_eval.operating_point import Threshold
from smo_eval.slicekey import from_json, select, to_json
from smo_eval.stages.trend_detect import ALARM, Detection, detect
from smo_eval.stages.trend_kpi import count_periods, kpi_frame, targets
from smo_eval.stages.trend_periods import (
    Calendar,
    GoldVersion,
    calendar,
    positions,
    units,
    version_calendar,
)
from smo_eval.stages.trend_qa import Judged, annotators, majority, qa_frame, reviewers
from smo_eval.taxonomy import Taxonomy

TABLE_COLUMNS = ["period", "period_index", "period_start", "kind", "subject", "slice",
                 "dimension", "metric", "value", "lo", "hi", "numerator", "denominator", "bad",
                 "n_items", "target", "status", "monitored", "cusum", "in_alarm", "slice_key"]
SERIES = ["kind", "subject", "slice_key", "metric"]
SERIES_COLUMNS = ["kind", "subject", "slice", "dimension", "metric", "state", "reason",
                  "baseline", "baseline_trials", "baseline_value", "last_value", "cusum",
                  "limit", "alarm_periods", "last_alarm_period", "last_alarm_index",
                  "last_period", "last_index", "slice_key"]
ALARM_COLUMNS = ["kind", "subject", "slice", "dimension", "metric", "change_period",
                 "alarm_period", "end_period", "ongoing", "baseline_value",
                 "value_since_change", "trials_since_change", "cusum_peak", "limit",
                 "change_index", "alarm_index", "end_index", "slice_key"]
QA_KINDS = ("reviewer", "annotator")


@dataclass
class TrendResult:
    table: pd.DataFrame
    series: pd.DataFrame
    alarms: pd.DataFrame
    calendar: Calendar
    headline: dict[str, Any]
    notices: list[str] = field(default_factory=list)


def trend(table: pd.DataFrame, scores: pd.DataFrame, annotations: pd.DataFrame | None,
          cfg: TrendConfig, slicing: SlicingConfig, taxonomy: Taxonomy, *,
          thresholds: Mapping[str, Threshold], level: float, seed: int,
          versions: Sequence[GoldVersion] | None = None) -> TrendResult:
    """Everything `smo-eval trend` computes (see the module docstrings for the statistics)."""
    models = list(cfg.models or scores.columns)
    _check(cfg, models, list(scores.columns))
    notices: list[str] = []
    has_notes = annotations is not None and len(annotations) > 0
    cal, (model_period, qa_period, note_period) = _periods(table, annotations, cfg, versions,
                                                           notices)
    dims = slicing.dimensions if cfg.dimensions is None else cfg.dimensions
    crosses = slicing.crosses if cfg.crosses is None else cfg.crosses
    counts = count_periods(table, scores, models, thresholds, model_period, len(cal), dims,
                           crosses)
    notices += counts.notices
    dated = model_period >= 0
    for model in models:
        unscored = int(np.isnan(scores[model].to_numpy()[dated]).sum())
        if unscored:
            notices.append(f"trend: {model} has no score for {unscored:,} dated gold items: "
                           "they are not in its KPIs (evaluate/coverage.csv)")
    frames = [kpi_frame(counts, level=level, goals=targets(taxonomy),
                        period_labels=cal.labels, period_starts=cal.starts)]
    judged: list[Judged] = []
    if "reviewer" in table.columns:
        reference = majority(annotations) if has_notes else pd.Series(dtype=np.int64)
        judged.append(reviewers(table, reference, qa_period))
    if has_notes:
        assert annotations is not None
        judged.append(annotators(annotations, note_period))
    frames.append(qa_frame(judged, level=level, period_labels=cal.labels,
                           period_starts=cal.starts))
    found = [f for f in frames if len(f)]
    if not found:
        raise ConfigError("trend: no period has a scored gold item or an audited judgment "
                          "(every model's scores are missing for the dated items)")
    return _detected(pd.concat(found, ignore_index=True), cal, cfg, seed, notices)


def _check(cfg: TrendConfig, models: list[str], known: list[str]) -> None:
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ConfigError(f"trend.models names models without predictions: {unknown}; "
                          f"known: {known}")
    wrong = [m for m in cfg.detect.metrics if m not in MONITORED_METRICS]
    if wrong:
        raise ConfigError(f"trend.detect.metrics={list(cfg.detect.metrics)}: {wrong} not "
                          f"monitored; use {', '.join(MONITORED_METRICS)}")
    try:
        select([], cfg.detect.slices)
    except ValueError as exc:
        raise ConfigError(f"trend.detect.slices: {exc}") from None


def _periods(table: pd.DataFrame, annotations: pd.DataFrame | None, cfg: TrendConfig,
             versions: Sequence[GoldVersion] | None, notices: list[str]
             ) -> tuple[Calendar, list[np.ndarray]]:
    """The calendar and the period of every gold item (model KPIs, reviewers) and judgment."""
    notes = annotations if annotations is not None else pd.DataFrame({"item_id": []})
    if cfg.period == "gold_version":
        cal, found = version_calendar(versions or [], [table["item_id"], notes["item_id"]])
        outside = int((found[0] < 0).sum())
        if outside:
            notices.append(f"trend: {outside:,} gold items are in no gold-store version: "
                           "they are not in any period")
        return cal, [found[0], found[0], found[1]]
    if cfg.time_column not in table.columns:
        raise ConfigError(f"trend.time_column={cfg.time_column!r}: the evaluation table has "
                          f"no such column (columns: {', '.join(map(str, table.columns))})")
    qa_column = cfg.qa_time_column if cfg.qa_time_column in table.columns else cfg.time_column
    if cfg.qa_time_column in notes.columns:
        note_times = notes[cfg.qa_time_column]
    else:  # judgments dated by their item
        at = positions(pd.Index(table["item_id"]), notes["item_id"]) if len(notes) else \
            np.zeros(0, dtype=np.int64)
        times = table[cfg.time_column].to_numpy()
        note_times = pd.Series(times[np.maximum(at, 0)] if len(times) else times[:0]).where(
            pd.Series(at >= 0))
    model_units = units(table[cfg.time_column], cfg.period)
    arrays = [model_units, model_units if qa_column == cfg.time_column else
              units(table[qa_column], cfg.period), units(note_times, cfg.period)]
    cal, found = calendar(arrays, cfg.period, [cfg.time_column, qa_column])
    for name, index, what in ((cfg.time_column, found[0], "gold items"),
                              (qa_column, found[1], "gold items (QA)"),
                              (cfg.qa_time_column, found[2], "judgments")):
        undated = int((index < 0).sum())
        if undated:
            notices.append(f"trend: {undated:,} {what} without {name} are not in any period")
    return cal, found


def _monitored(long: pd.DataFrame, cfg: TrendConfig) -> np.ndarray:
    """Rows of the series the change detection watches."""
    keys = list(dict.fromkeys(long["slice_key"]))
    chosen = {to_json(k) for k in select([from_json(k) for k in keys], cfg.detect.slices)}
    model = ((long["kind"] == "model") & long["metric"].isin(list(cfg.detect.metrics))
             & long["slice_key"].isin(chosen))
    qa = long["kind"].isin(QA_KINDS) & (long["metric"] == "agreement") & cfg.detect.qa
    return (model | qa).to_numpy()


def _detected(long: pd.DataFrame, cal: Calendar, cfg: TrendConfig, seed: int,
              notices: list[str]) -> TrendResult:
    """Run the change detection on the monitored series and join its results."""
    watched = _monitored(long, cfg)
    rows = long[watched]
    code = rows.groupby(SERIES, sort=False).ngroup().to_numpy()
    m, periods = (int(code.max()) + 1 if len(code) else 0), len(cal)
    trials = np.zeros((m, periods))
    bad = np.zeros((m, periods))
    index = rows["period_index"].to_numpy()
    np.add.at(trials, (code, index), rows["denominator"].to_numpy(dtype=np.float64))
    np.add.at(bad, (code, index), rows["bad"].to_numpy(dtype=np.float64))
    found = detect(trials, bad, cfg.detect, np.random.default_rng(seed))
    cusum = np.full(len(long), np.nan)
    alarm = np.zeros(len(long), dtype=bool)
    on = np.zeros(len(long), dtype=bool)
    cusum[watched] = found.cusum[code, index]
    alarm[watched] = found.in_alarm[code, index]
    on[watched] = found.baselines.monitored[code]
    long = long.assign(monitored=on, cusum=cusum, in_alarm=alarm)[TABLE_COLUMNS]
    meta = rows.assign(_s=code).drop_duplicates("_s").sort_values("_s")
    series = _series(meta, found, trials, bad, cal)
    alarms = _alarms(meta, found, trials, bad, cal)
    return TrendResult(long, series, alarms, cal, _headline(long, series, alarms, found, cal,
                                                             cfg), notices)


def value_of_rate(metric: str, bad_rate: np.ndarray | float) -> Any:
    """The KPI's value from its bad rate: FPR is the bad rate; recall, precision and
    agreement are one minus it."""
    return bad_rate if metric == "fpr" else 1.0 - np.asarray(bad_rate)


def _series(meta: pd.DataFrame, found: Detection, trials: np.ndarray, bad: np.ndarray,
            cal: Calendar) -> pd.DataFrame:
    base = found.baselines
    out = meta[["kind", "subject", "slice", "dimension", "metric", "slice_key"]].reset_index(
        drop=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        base_rate = base.x0 / base.n0
        last = [int(np.flatnonzero(t > 0)[-1]) if (t > 0).any() else -1 for t in trials]
        last_rate = np.array([bad[i, t] / trials[i, t] if t >= 0 else np.nan
                              for i, t in enumerate(last)])
    last_alarm = [int(np.flatnonzero(a)[-1]) if a.any() else -1 for a in found.in_alarm]
    out = out.assign(
        state=found.state, reason=base.reason,
        baseline=[f"{cal.labels[0]}..{cal.labels[e]}" if e >= 0 else "" for e in base.end],
        baseline_trials=base.n0.astype(np.int64),
        baseline_value=[value_of_rate(m, r) if n else np.nan
                        for m, r, n in zip(out["metric"], base_rate, base.monitored,
                                           strict=True)],
        last_value=[value_of_rate(m, r) for m, r in zip(out["metric"], last_rate, strict=True)],
        cusum=[float(p[np.isfinite(p)][-1]) if np.isfinite(p).any() else np.nan
               for p in found.cusum],
        limit=found.limit, alarm_periods=found.in_alarm.sum(axis=1),
        last_alarm_period=[cal.labels[t] if t >= 0 else "" for t in last_alarm],
        last_alarm_index=last_alarm, last_period=[cal.labels[t] if t >= 0 else ""
                                                  for t in last],
        last_index=last)
    order = out["state"].map({ALARM: 0}).fillna(1)
    return out.assign(_o=order).sort_values("_o", kind="stable").drop(columns="_o")[
        SERIES_COLUMNS].reset_index(drop=True)


def _alarms(meta: pd.DataFrame, found: Detection, trials: np.ndarray, bad: np.ndarray,
            cal: Calendar) -> pd.DataFrame:
    rows = []
    info = meta.reset_index(drop=True)
    base = found.baselines
    for e in found.episodes:
        i, change, first, end = e["series"], e["change"], e["alarm"], e["end"]
        r = info.iloc[i]
        n = trials[i, change:end + 1].sum()
        last = int(np.flatnonzero(trials[i] > 0)[-1])
        rate = bad[i, change:end + 1].sum() / n if n else np.nan
        rows.append({
            "kind": r["kind"], "subject": r["subject"], "slice": r["slice"],
            "dimension": r["dimension"], "metric": r["metric"],
            "change_period": cal.labels[change], "alarm_period": cal.labels[first],
            "end_period": cal.labels[end], "ongoing": end == last,
            "baseline_value": float(value_of_rate(r["metric"], base.x0[i] / base.n0[i])),
            "value_since_change": float(value_of_rate(r["metric"], rate)),
            "trials_since_change": int(n),
            "cusum_peak": float(np.nanmax(found.cusum[i, change:end + 1])),
            "limit": found.limit, "change_index": change, "alarm_index": first,
            "end_index": end, "slice_key": r["slice_key"]})
    return pd.DataFrame(rows, columns=ALARM_COLUMNS)


def _headline(long: pd.DataFrame, series: pd.DataFrame, alarms: pd.DataFrame,
              found: Detection, cal: Calendar, cfg: TrendConfig) -> dict[str, Any]:
    """The few numbers of the run (trend/metrics.json, MLflow)."""
    kpis = long[(long["kind"] == "model") & (long["status"] != "no_target")]
    last = kpis[kpis["period_index"] == kpis["period_index"].max()] if len(kpis) else kpis
    return {
        "periods": len(cal), "first_period": cal.labels[0], "last_period": cal.labels[-1],
        "series": len(series), "monitored": int(found.baselines.monitored.sum()),
        "not_enough_data": int((~found.baselines.monitored).sum()),
        "alarms": len(alarms), "series_in_alarm": int((series["state"] == ALARM).sum()),
        "ongoing_alarms": int(alarms["ongoing"].sum()) if len(alarms) else 0,
        "limit": None if not np.isfinite(found.limit) else round(found.limit, 4),
        "level": cfg.detect.level,
        "kpis_missed_last_period": int((last["status"] == "missed").sum()),
        "kpis_met_last_period": int((last["status"] == "met").sum()),
    }
