"""The check kinds. Each takes the check, the evidence and the models and returns one outcome
per judged slice (or a string when its data source does not apply: `skipped`).

Nothing passes on missing evidence: a slice below its support preconditions, whose metric
is undefined, or with gold items the candidate did not score, is not a pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

import pandas as pd

from smo_eval.config.schema_more import CheckSpec
from smo_eval.errors import ConfigError
from smo_eval.slicekey import OVERALL_KEY, display, from_json, value_of
from smo_eval.stages.gate.check_borderline import borderline
from smo_eval.stages.gate.model import FAIL, INSUFFICIENT, PASS, GateTables, SliceOutcome
from smo_eval.stages.gate.selection import chosen, keyed
from smo_eval.stages.gate.spec import limit
from smo_eval.stages.gate.wording import regression_text
from smo_eval.taxonomy import Taxonomy

Outcome = list[SliceOutcome] | str
_METRIC_COLUMNS = "recall, precision, f1, fpr, roc_auc, pr_auc"


def number(value: Any) -> float | None:
    if value is None:
        return None
    result = float(value)
    return None if math.isnan(result) else result


def support_gap(n: int, n_pos: int, spec: CheckSpec) -> str:
    """Why a slice has too little data to judge ('' when it has enough)."""
    gaps = []
    if n < (spec.min_items or 0):
        gaps.append(f"{n} gold items < {spec.min_items}")
    if n_pos < (spec.min_positives or 0):
        gaps.append(f"{n_pos} positives < {spec.min_positives}")
    if n - n_pos < (spec.min_negatives or 0):
        gaps.append(f"{n - n_pos} negatives < {spec.min_negatives}")
    return "; ".join(gaps)


def _unscored(row: pd.Series) -> int:
    return int(row["n_unscored"]) if "n_unscored" in row and pd.notna(row["n_unscored"]) else 0


def metric_bound(kind: str, spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy,
                 candidate: str, baseline: str | None) -> Outcome:
    frame = tables.metrics
    metric = str(spec.metric)
    column = metric if spec.bound == "point" else (
        f"{metric}_lo" if kind == "floor" else f"{metric}_hi")
    if column not in frame.columns:
        raise ConfigError(f"gate check metric {metric!r}: the slice table has no column "
                          f"{column!r} (interval metrics: {_METRIC_COLUMNS}; others need "
                          "`bound: point`)")
    rows = keyed(frame)
    side, op, bad = ("min", ">=", "<") if kind == "floor" else ("max", "<=", ">")
    out = []
    for key in chosen(list(rows), spec, taxonomy):
        row = rows[key]
        n, n_pos = int(row["n"]), int(row["n_pos"])
        threshold = limit(spec, side, value_of(key, "risk_category"), taxonomy)
        value = number(row[column])
        missing = _unscored(row)
        gap = support_gap(n, n_pos, spec)
        if missing:
            status = FAIL if spec.on_unscored == "fail" else INSUFFICIENT
            reason = (f"{candidate} has no score for {missing:,} of {n + missing:,} gold items "
                      "of this slice")
        elif gap:
            status, reason = INSUFFICIENT, gap
        elif value is None:
            status, reason = INSUFFICIENT, f"{column} undefined"
        else:
            ok = value >= threshold if kind == "floor" else value <= threshold
            status = PASS if ok else FAIL
            reason = f"{column} {value:.4f} {op if ok else bad} {threshold:g}"
        out.append(SliceOutcome(key, status, value, threshold, n, n_pos, reason, metric=column))
    return out


def floor(spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy, candidate: str,
          baseline: str | None) -> Outcome:
    return metric_bound("floor", spec, tables, taxonomy, candidate, baseline)


def ceiling(spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy, candidate: str,
            baseline: str | None) -> Outcome:
    return metric_bound("ceiling", spec, tables, taxonomy, candidate, baseline)


def support(spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy, candidate: str,
            baseline: str | None) -> Outcome:
    rows = keyed(tables.metrics)
    out = []
    for key in chosen(list(rows), spec, taxonomy):
        row = rows[key]
        n, n_pos = int(row["n"]) + _unscored(row), int(row["n_pos"])
        gap = support_gap(n, n_pos, spec)
        out.append(SliceOutcome(key, FAIL if gap else PASS, float(n), float(spec.min_items or 0),
                                n, n_pos, gap or "enough gold items and positives",
                                metric="gold_items"))
    return out


def coverage(spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy, candidate: str,
             baseline: str | None) -> Outcome:
    """Share of the slice's gold items the candidate scored, against `min_share`."""
    rows = keyed(tables.metrics)
    out = []
    for key in chosen(list(rows), spec, taxonomy):
        row = rows[key]
        scored, missing = int(row["n"]), _unscored(row)
        total = scored + missing
        share = scored / total if total else None
        if share is None:
            out.append(SliceOutcome(key, INSUFFICIENT, None, spec.min_share, 0, 0,
                                    "no gold items", metric="scored_share"))
            continue
        ok = share >= spec.min_share
        out.append(SliceOutcome(
            key, PASS if ok else FAIL, share, spec.min_share, total, int(row["n_pos"]),
            f"{candidate} scored {scored:,} of {total:,} gold items ({share:.1%} "
            f"{'>=' if ok else '<'} {spec.min_share:.1%})", metric="scored_share"))
    return out


def non_regression(spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy, candidate: str,
                   baseline: str | None) -> Outcome:
    tolerance = spec.tolerance
    if candidate == baseline:
        return [SliceOutcome(OVERALL_KEY, PASS, 0.0, tolerance,
                             reason=f"the candidate is the baseline ({baseline}): nothing can "
                             "regress")]
    table = tables.comparison
    if table is None or baseline is None:
        raise ValueError("no comparison table (compare did not run and could not be computed)")
    pair = table[(table["baseline"].astype(str) == baseline)
                 & (table["candidate"].astype(str) == candidate)]
    if pair.empty:
        raise ValueError(f"the comparison table has no rows for {candidate} vs {baseline}")
    metrics = list(spec.metrics)
    have = set(pair["metric"].astype(str))
    unknown = sorted(set(metrics) - have)
    if unknown:
        raise ConfigError(f"gate non_regression metrics {unknown} are not in compare's table "
                          f"(it has {sorted(have)})")
    pair = pair[pair["metric"].astype(str).isin(metrics)]
    by_key: dict[Any, pd.DataFrame] = {}
    for raw, group in pair.groupby(pair["slice_key"].astype(str), sort=False):
        by_key[from_json(str(raw))] = group
    support_rows = keyed(tables.metrics)
    out = []
    for key in chosen(list(by_key), spec, taxonomy):
        group = by_key[key]
        counts = support_rows.get(key, group.iloc[0])
        n, n_pos = int(counts["n"]), int(counts["n_pos"])
        gap = support_gap(n, n_pos, spec)
        details = []
        for row in group.itertuples(index=False):
            if not _applicable(str(row.metric), n, n_pos):
                continue
            delta, verdict = number(row.delta), str(row.verdict)
            if verdict == "regressed" and delta is not None and abs(delta) > tolerance:
                status = FAIL
            elif verdict == "insufficient_evidence" or delta is None:
                status = INSUFFICIENT
            else:
                status = PASS
            details.append({"metric": str(row.metric), "verdict": verdict, "delta": delta,
                            "delta_lo": number(row.delta_lo), "delta_hi": number(row.delta_hi),
                            "p_adjusted": number(row.p_adjusted), "status": status})
        out.append(_regression_outcome(key, details, gap, tolerance, n, n_pos))
    return out


def _regression_outcome(key: Any, details: list[dict[str, Any]], gap: str, tolerance: float,
                        n: int, n_pos: int) -> SliceOutcome:
    """The slice's status; `value` is the delta of the metric the reason names first."""
    failed = [d for d in details if d["status"] == FAIL]
    shown = failed or [d for d in details if d["status"] == INSUFFICIENT] or details
    worst = max(shown, key=lambda d: abs(d["delta"] or 0.0), default=None)
    value = None if worst is None else worst["delta"]
    metric = None if worst is None else f"{worst['metric']} delta"
    if failed:
        reason = "; ".join(regression_text(d, tolerance) for d in sorted(
            failed, key=lambda d: -abs(d["delta"] or 0.0)))
        return SliceOutcome(key, FAIL, value, tolerance, n, n_pos, reason, details, metric)
    insufficient = [d["metric"] for d in details if d["status"] == INSUFFICIENT]
    if gap or insufficient:
        why = gap or "compare: insufficient evidence for " + ", ".join(insufficient)
        return SliceOutcome(key, INSUFFICIENT, value, tolerance, n, n_pos, why, details, metric)
    verdicts = ", ".join(f"{d['metric']} {d['verdict']}" for d in details)
    return SliceOutcome(key, PASS, value, tolerance, n, n_pos, verdicts, details, metric)


def _applicable(metric: str, n: int, n_pos: int) -> bool:
    """A metric that cannot exist in a slice (recall without positives, FPR without
    negatives) is left out there, rather than called insufficient evidence."""
    if metric in ("recall", "f1", "precision"):
        return n_pos > 0
    if metric == "fpr":
        return n - n_pos > 0
    return True


def agreement(spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy, candidate: str,
              baseline: str | None) -> Outcome:
    table = tables.agreement
    if table is None:
        return "no annotations: agreement does not apply"
    metric = str(spec.metric)
    if metric not in table.columns:
        raise ConfigError(f"gate agreement metric {metric!r} is not a column of the agreement "
                          f"table ({', '.join(map(str, table.columns))})")
    rows = keyed(table)
    threshold = float(spec.min)
    out = []
    for key in chosen(list(rows), spec, taxonomy):
        row = rows[key]
        value = number(row[metric])
        n_items = int(row["n_items"])
        if n_items < spec.min_annotated_items:
            out.append(SliceOutcome(key, INSUFFICIENT, value, threshold, n_items, None,
                                    f"{n_items} annotated items < {spec.min_annotated_items}",
                                    metric=metric))
        elif value is None:
            out.append(SliceOutcome(key, INSUFFICIENT, None, threshold, n_items, None,
                                    f"{metric} undefined", metric=metric))
        else:
            ok = value >= threshold
            out.append(SliceOutcome(key, PASS if ok else FAIL, value, threshold, n_items, None,
                                    f"{metric} {value:.4f} {'>=' if ok else '<'} {threshold:g}",
                                    metric=metric))
    return out


def drift(spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy, candidate: str,
          baseline: str | None) -> Outcome:
    table = tables.drift
    if table is None or table.empty:
        return "drift did not run: no drift table"
    rows = table
    if spec.drift_kind:
        rows = rows[rows["kind"].astype(str) == str(spec.drift_kind)]
    patterns = list(spec.columns or ["*"])
    rows = rows[[any(fnmatchcase(str(c), p) for p in patterns) for c in rows["column"]]]
    keys = [from_json(str(k)) for k in rows["slice_key"]]
    picked = set(chosen(keys, spec, taxonomy))
    threshold = number(spec.max)
    out = []
    for key, row in zip(keys, rows.itertuples(index=False), strict=True):
        if key not in picked:
            continue
        label = f"{row.column} @ {row.slice}"
        value = number(row.value)
        n_current = int(row.n_current) if hasattr(row, "n_current") else None
        if spec.alarms:
            failed = bool(row.drifted)
            reason = f"drift alarm ({row.method} {value})" if failed else "no drift alarm"
        elif value is None:
            out.append(SliceOutcome(key, INSUFFICIENT, None, threshold, n_current, None,
                                    f"{row.method} undefined", metric=str(row.method),
                                    label=label))
            continue
        else:
            assert threshold is not None
            failed = value > threshold
            reason = f"{row.method} {value:.4f} {'>' if failed else '<='} {threshold:g}"
        out.append(SliceOutcome(key, FAIL if failed else PASS, value, threshold, n_current, None,
                                reason, metric=str(row.method), label=label))
    return out


def trend(spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy, candidate: str,
          baseline: str | None) -> Outcome:
    """No alarm of the judged series (subjects x metrics x slices) in their last `periods`
    periods with data; a series with too little data to monitor is insufficient evidence."""
    if tables.trend is None:
        return "trend did not run: no trend tables"
    series, alarms = tables.trend
    subjects = list(spec.subjects) or [candidate]
    rows = series[series["subject"].astype(str).isin(subjects)
                  & series["metric"].astype(str).isin(list(spec.metrics))]
    keys = [from_json(str(k)) for k in rows["slice_key"]]
    picked = set(chosen(keys, spec, taxonomy))
    out = []
    for key, row in zip(keys, rows.itertuples(index=False), strict=True):
        if key not in picked:
            continue
        label = f"{row.subject} {row.metric} @ {display(key)}"
        since = int(row.last_index) - spec.periods + 1
        mine = alarms[(alarms["kind"].astype(str) == str(row.kind))
                      & (alarms["subject"].astype(str) == str(row.subject))
                      & (alarms["metric"].astype(str) == str(row.metric))
                      & (alarms["slice_key"].astype(str) == str(row.slice_key))]
        recent = mine[mine["end_index"].astype(int) >= since]
        window = f"the last {spec.periods} period(s) up to {row.last_period}"
        if str(row.state) == "not_enough_data":
            status, reason = INSUFFICIENT, f"not monitored: {row.reason}"
        elif len(recent):
            r = recent.iloc[-1]
            status = FAIL
            reason = (f"{row.metric} alarm in {window}: changed from {r['change_period']} "
                      f"(alarm raised {r['alarm_period']}), {r['baseline_value']:.4f} -> "
                      f"{r['value_since_change']:.4f}")
        else:
            status, reason = PASS, f"no alarm in {window}"
        out.append(SliceOutcome(key, status, number(row.cusum), number(row.limit), None, None,
                                reason, metric=f"{row.metric} CUSUM", label=label))
    return out


CHECKS: dict[str, Callable[..., Outcome]] = {
    "floor": floor, "ceiling": ceiling, "support": support, "coverage": coverage,
    "non_regression": non_regression, "agreement": agreement, "drift": drift,
    "borderline": borderline, "trend": trend,
}
