"""The release gate: declared checks over the stages' tables, one verdict, failing closed.

Pure: takes the candidate's slice metrics, compare's table, labels' agreement table and
drift's table (each None when that source does not exist) and the `gate` config, and returns
every check's outcome per slice. Nothing passes on missing evidence:
- a slice below the support preconditions, or whose metric is undefined, is
  `insufficient_evidence`, which fails the gate unless the check says `on_insufficient: warn`;
- a selector that matches no slice fails its check (a typo must not pass silently);
- a check whose computation raises fails (the reason is kept), and config mistakes raise
  `ConfigError` (exit 2).
Only a check whose data source does not apply (no annotations, drift not run) is `skipped`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import pandas as pd

from smo_eval.errors import ConfigError
from smo_eval.taxonomy import Taxonomy

PASS, FAIL, INSUFFICIENT, SKIPPED = "pass", "fail", "insufficient_evidence", "skipped"
KINDS = ("floor", "ceiling", "non_regression", "support", "agreement", "drift")
# Which table each kind reads.
SOURCES = {"floor": "metrics", "ceiling": "metrics", "support": "metrics",
           "non_regression": "comparison", "agreement": "agreement", "drift": "drift"}
_REQUIRED = {"floor": ("metric", "min"), "ceiling": ("metric", "max"),
             "non_regression": ("metrics",), "support": (), "agreement": ("metric", "min"),
             "drift": ()}


@dataclass(frozen=True)
class SliceOutcome:
    """One check judged on one slice: what was compared with what, and why it ended so."""

    slice: str
    status: str
    value: float | None = None
    threshold: float | None = None
    n: int | None = None
    n_pos: int | None = None
    reason: str = ""
    details: list[dict[str, Any]] = field(default_factory=list)


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
    """The evidence the checks read; None where that source does not exist."""

    metrics: pd.DataFrame                 # candidate's rows of evaluate's slice table
    comparison: pd.DataFrame | None = None
    agreement: pd.DataFrame | None = None
    drift: pd.DataFrame | None = None
    # Source -> why it could not be read or computed: the checks reading it fail.
    errors: dict[str, str] = field(default_factory=dict)


def check_specs(gate_cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The configured checks, validated: ConfigError names the check and the problem."""
    checks = gate_cfg.get("checks") or {}
    if not isinstance(checks, Mapping) or not checks:
        raise ConfigError("gate.checks is empty: a gate with no checks cannot pass anything")
    specs: dict[str, dict[str, Any]] = {}
    for name, spec in checks.items():
        if spec is None:  # `gate.checks.x=null` disables a check
            continue
        where = f"gate.checks.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a mapping with a `kind`")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ConfigError(f"{where}.kind={kind!r}; known kinds: {', '.join(KINDS)}")
        missing = [k for k in _REQUIRED[kind] if spec.get(k) is None]
        if missing:
            raise ConfigError(f"{where} ({kind}) needs {', '.join(missing)}")
        if spec.get("on_insufficient", "fail") not in ("fail", "warn"):
            raise ConfigError(f"{where}.on_insufficient must be fail or warn")
        if spec.get("bound", "interval") not in ("interval", "point"):
            raise ConfigError(f"{where}.bound must be interval or point")
        if kind == "drift" and spec.get("max") is None and not spec.get("alarms"):
            raise ConfigError(f"{where} (drift) needs `max` or `alarms: true`")
        specs[str(name)] = dict(spec)
    return specs


def sources_needed(gate_cfg: Mapping[str, Any]) -> set[str]:
    """Which tables the configured checks read (so the command computes only those)."""
    return {SOURCES[spec["kind"]] for spec in check_specs(gate_cfg).values()}


def evaluate_gate(tables: GateTables, gate_cfg: Mapping[str, Any], taxonomy: Taxonomy,
                  candidate: str, baseline: str | None) -> GateResult:
    """Judge every configured check; see the module docstring for the rules."""
    specs = check_specs(gate_cfg)
    support = gate_cfg.get("min_support") or {}
    results = []
    for name, spec in specs.items():
        spec = {"min_items": support.get("items", 0), "min_positives": support.get("positives", 0),
                "min_negatives": support.get("negatives", 0), **spec}
        results.append(_run_check(name, spec, tables, taxonomy, candidate, baseline))
    return GateResult(str(gate_cfg.get("name", "gate")), candidate, baseline, results)


def _run_check(name: str, spec: dict[str, Any], tables: GateTables, taxonomy: Taxonomy,
               candidate: str, baseline: str | None) -> CheckResult:
    kind = str(spec["kind"])
    on_insufficient = str(spec.get("on_insufficient", "fail"))
    description = str(spec.get("description") or describe(spec))
    source_error = tables.errors.get(SOURCES[kind])
    if source_error:
        return CheckResult(name, kind, on_insufficient, description, [], FAIL,
                           f"could not compute {SOURCES[kind]}: {source_error}", error=True)
    try:
        outcome = _CHECKS[kind](spec, tables, taxonomy, candidate, baseline)
    except ConfigError:
        raise
    except Exception as exc:  # fail closed: a check that cannot be computed does not pass
        return CheckResult(name, kind, on_insufficient, description, [], FAIL,
                           f"could not compute: {type(exc).__name__}: {exc}", error=True)
    if isinstance(outcome, str):  # the check's source does not apply
        return CheckResult(name, kind, on_insufficient, description, [], SKIPPED, outcome)
    if not outcome:
        return CheckResult(name, kind, on_insufficient, description, [], FAIL,
                           f"no slice matches {_selector_text(spec)}")
    statuses = {o.status for o in outcome}
    status = FAIL if FAIL in statuses else INSUFFICIENT if INSUFFICIENT in statuses else PASS
    return CheckResult(name, kind, on_insufficient, description, outcome, status)


def describe(spec: Mapping[str, Any]) -> str:
    """A one-line reading of a check, for people (summary, JUnit)."""
    kind, where = spec["kind"], _selector_text(spec)
    if kind in ("floor", "ceiling"):
        side = ">=" if kind == "floor" else "<="
        limit = spec["min"] if kind == "floor" else spec["max"]
        bound = ("" if spec.get("bound") == "point"
                 else " lower bound" if kind == "floor" else " upper bound")
        return f"{spec['metric']}{bound} {side} {limit} on {where}"
    if kind == "non_regression":
        return (f"no {', '.join(spec['metrics'])} regression beyond "
                f"{spec.get('tolerance', 0)} vs baseline on {where}")
    if kind == "support":
        return (f">= {spec.get('min_items', 0)} gold items and "
                f">= {spec.get('min_positives', 0)} positives on {where}")
    if kind == "agreement":
        return f"annotator {spec['metric']} >= {spec['min']} on {where}"
    test = "no drift alarm" if spec.get("alarms") else f"drift <= {spec.get('max')}"
    return f"{test} for {spec.get('drift_kind', 'any')} columns {spec.get('columns', ['*'])}"


def _selector_text(spec: Mapping[str, Any]) -> str:
    text = ", ".join(str(p) for p in spec.get("slices") or ["overall"])
    if spec.get("severity"):
        text += f" (severity {', '.join(str(s) for s in spec['severity'])})"
    return text


# --- slice selection ---------------------------------------------------------------------

def slice_matches(name: str, pattern: str) -> bool:
    """`*` alone matches every slice; otherwise parts separated by `&` match one by one, so
    `region=*` selects the region slices but not the region x language crosses."""
    if pattern == "*":
        return True
    parts, wanted = name.split("&"), pattern.split("&")
    return len(parts) == len(wanted) and all(
        fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def _slice_parts(name: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in name.split("&") if "=" in part)


def select(names: Sequence[str], spec: Mapping[str, Any], taxonomy: Taxonomy) -> list[str]:
    """Slice names matching the check's patterns (and severity tiers), in table order."""
    patterns = [str(p) for p in spec.get("slices") or ["overall"]]
    chosen = [n for n in dict.fromkeys(names) if any(slice_matches(n, p) for p in patterns)]
    tiers = spec.get("severity")
    if tiers:
        severity = taxonomy.severity_of()
        allowed = {int(t) for t in tiers}
        chosen = [n for n in chosen
                  if severity.get(_slice_parts(n).get("risk_category", ""), -1) in allowed]
    return chosen


# --- the checks --------------------------------------------------------------------------

Outcome = list[SliceOutcome] | str


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _support_gap(row: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    """Why a slice has too little data to judge ('' when it has enough)."""
    n, n_pos = int(row["n"]), int(row["n_pos"])
    gaps = []
    if n < int(spec.get("min_items", 0)):
        gaps.append(f"{n} gold items < {spec['min_items']}")
    if n_pos < int(spec.get("min_positives", 0)):
        gaps.append(f"{n_pos} positives < {spec['min_positives']}")
    if n - n_pos < int(spec.get("min_negatives", 0)):
        gaps.append(f"{n - n_pos} negatives < {spec['min_negatives']}")
    return "; ".join(gaps)


def _limit(spec: Mapping[str, Any], key: str, slice_name: str, taxonomy: Taxonomy) -> float:
    """The threshold of a slice: a number, or `target` = the taxonomy's KPI target for the
    slice's risk category (target_recall for a floor, max_fpr for a ceiling)."""
    value = spec[key]
    if value != "target":
        return float(value)
    category = _slice_parts(slice_name).get("risk_category")
    found = {c.name: c for c in taxonomy.categories}.get(category or "")
    target = None if found is None else (found.target_recall if key == "min" else found.max_fpr)
    if target is None:
        raise ValueError(f"slice {slice_name} has no taxonomy target for `{key}: target`")
    return float(target)


def _metric_bound(kind: str, spec: Mapping[str, Any], tables: GateTables, taxonomy: Taxonomy,
                  candidate: str, baseline: str | None) -> Outcome:
    frame = tables.metrics
    metric = str(spec["metric"])
    column = metric if spec.get("bound") == "point" else (
        f"{metric}_lo" if kind == "floor" else f"{metric}_hi")
    if column not in frame.columns:
        raise ConfigError(f"gate check metric {metric!r}: the slice table has no column "
                          f"{column!r} (interval metrics: recall, precision, f1, fpr, roc_auc, "
                          "pr_auc; others need `bound: point`)")
    rows = frame.drop_duplicates("slice").set_index("slice")
    out = []
    for name in select(list(rows.index), spec, taxonomy):
        row = rows.loc[name]
        n, n_pos = int(row["n"]), int(row["n_pos"])
        limit = _limit(spec, "min" if kind == "floor" else "max", name, taxonomy)
        gap = _support_gap(row, spec)
        value = _number(row[column])
        if gap:
            out.append(SliceOutcome(name, INSUFFICIENT, value, limit, n, n_pos, gap))
        elif value is None:
            out.append(SliceOutcome(name, INSUFFICIENT, None, limit, n, n_pos,
                                    f"{column} undefined"))
        else:
            ok = value >= limit if kind == "floor" else value <= limit
            side = ">=" if kind == "floor" else "<="
            reason = f"{column} {value:.4f} {side} {limit}" if ok else (
                f"{column} {value:.4f} {'<' if kind == 'floor' else '>'} {limit}")
            out.append(SliceOutcome(name, PASS if ok else FAIL, value, limit, n, n_pos, reason))
    return out


def _floor(spec: Mapping[str, Any], tables: GateTables, taxonomy: Taxonomy, candidate: str,
           baseline: str | None) -> Outcome:
    return _metric_bound("floor", spec, tables, taxonomy, candidate, baseline)


def _ceiling(spec: Mapping[str, Any], tables: GateTables, taxonomy: Taxonomy, candidate: str,
             baseline: str | None) -> Outcome:
    return _metric_bound("ceiling", spec, tables, taxonomy, candidate, baseline)


def _support(spec: Mapping[str, Any], tables: GateTables, taxonomy: Taxonomy, candidate: str,
             baseline: str | None) -> Outcome:
    rows = tables.metrics.drop_duplicates("slice").set_index("slice")
    out = []
    for name in select(list(rows.index), spec, taxonomy):
        row = rows.loc[name]
        gap = _support_gap(row, spec)
        out.append(SliceOutcome(name, FAIL if gap else PASS, float(row["n"]),
                                float(spec.get("min_items", 0)), int(row["n"]),
                                int(row["n_pos"]), gap or "enough gold items and positives"))
    return out


def _non_regression(spec: Mapping[str, Any], tables: GateTables, taxonomy: Taxonomy,
                    candidate: str, baseline: str | None) -> Outcome:
    if candidate == baseline:
        return [SliceOutcome("overall", PASS, 0.0, float(spec.get("tolerance", 0.0)),
                             reason=f"the candidate is the baseline ({baseline}): "
                                    "nothing can regress")]
    table = tables.comparison
    if table is None or baseline is None:
        raise ValueError("no comparison table (compare did not run and could not be computed)")
    pair = table[(table["baseline"].astype(str) == baseline)
                 & (table["candidate"].astype(str) == candidate)]
    if pair.empty:
        raise ValueError(f"the comparison table has no rows for {candidate} vs {baseline}")
    metrics = [str(m) for m in spec["metrics"]]
    unknown = sorted(set(metrics) - set(pair["metric"].astype(str)))
    if unknown:
        raise ConfigError(f"gate non_regression metrics {unknown} are not in compare's table "
                          f"(it has {sorted(set(pair['metric'].astype(str)))})")
    pair = pair[pair["metric"].astype(str).isin(metrics)]
    support = tables.metrics.drop_duplicates("slice").set_index("slice")[["n", "n_pos"]]
    tolerance = float(spec.get("tolerance", 0.0))
    out = []
    by_slice = {str(k): g for k, g in pair.groupby(pair["slice"].astype(str), sort=False)}
    for name in select(list(by_slice), spec, taxonomy):
        group = by_slice[name]
        counts = support.loc[name] if name in support.index else group.iloc[0]
        gap = _support_gap(counts, spec)
        details, worst, statuses = [], None, []
        n, n_pos = int(counts["n"]), int(counts["n_pos"])
        for row in group.itertuples(index=False):
            if not _applicable(str(row.metric), n, n_pos):
                continue
            delta = _number(row.delta)
            verdict = str(row.verdict)
            if verdict == "regressed" and delta is not None and abs(delta) > tolerance:
                status = FAIL
            elif verdict == "insufficient_evidence" or delta is None:
                status = INSUFFICIENT
            else:
                status = PASS
            statuses.append(status)
            details.append({"metric": str(row.metric), "verdict": verdict, "delta": delta,
                            "delta_lo": _number(row.delta_lo), "delta_hi": _number(row.delta_hi),
                            "p_adjusted": _number(row.p_adjusted), "status": status})
            if delta is not None and (worst is None or abs(delta) > abs(worst)):
                worst = delta
        failed = [d for d in details if d["status"] == FAIL]
        if failed:
            reason = "; ".join(_regression_text(d, tolerance) for d in failed)
            out.append(SliceOutcome(name, FAIL, worst, tolerance, n, n_pos, reason, details))
        elif gap or INSUFFICIENT in statuses:
            why = gap or "compare: insufficient evidence for " + ", ".join(
                str(d["metric"]) for d in details if d["status"] == INSUFFICIENT)
            out.append(SliceOutcome(name, INSUFFICIENT, worst, tolerance, n, n_pos, why, details))
        else:
            verdicts = ", ".join(f"{d['metric']} {d['verdict']}" for d in details)
            out.append(SliceOutcome(name, PASS, worst, tolerance, n, n_pos, verdicts, details))
    return out


def _applicable(metric: str, n: int, n_pos: int) -> bool:
    """A metric that cannot exist in a slice (recall without positives, FPR without
    negatives) is left out there, rather than called insufficient evidence."""
    if metric in ("recall", "f1", "precision"):
        return n_pos > 0
    if metric == "fpr":
        return n - n_pos > 0
    return True


def _regression_text(detail: Mapping[str, Any], tolerance: float) -> str:
    def signed(value: float | None) -> str:
        return "?" if value is None else f"{value:+.4f}"

    p = detail["p_adjusted"]
    return (f"{detail['metric']} regressed by {signed(detail['delta'])} (CI "
            f"{signed(detail['delta_lo'])}..{signed(detail['delta_hi'])}, adjusted p "
            f"{'?' if p is None else f'{p:.2g}'}) beyond tolerance {tolerance}")


def _agreement(spec: Mapping[str, Any], tables: GateTables, taxonomy: Taxonomy,
               candidate: str, baseline: str | None) -> Outcome:
    table = tables.agreement
    if table is None:
        return "no annotations: agreement does not apply"
    metric = str(spec["metric"])
    if metric not in table.columns:
        raise ConfigError(f"gate agreement metric {metric!r} is not a column of the agreement "
                          f"table ({', '.join(map(str, table.columns))})")
    rows = table.drop_duplicates("slice").set_index("slice")
    limit = float(spec["min"])
    min_items = int(spec.get("min_annotated_items", 0))
    out = []
    for name in select([str(s) for s in rows.index], spec, taxonomy):
        row = rows.loc[name]
        value = _number(row[metric])
        n_items = int(row["n_items"]) if "n_items" in row else None
        if n_items is not None and n_items < min_items:
            out.append(SliceOutcome(name, INSUFFICIENT, value, limit, n_items, None,
                                    f"{n_items} annotated items < {min_items}"))
        elif value is None:
            out.append(SliceOutcome(name, INSUFFICIENT, None, limit, n_items, None,
                                    f"{metric} undefined"))
        else:
            ok = value >= limit
            out.append(SliceOutcome(name, PASS if ok else FAIL, value, limit, n_items, None,
                                    f"{metric} {value:.4f} {'>=' if ok else '<'} {limit}"))
    return out


def _drift(spec: Mapping[str, Any], tables: GateTables, taxonomy: Taxonomy, candidate: str,
           baseline: str | None) -> Outcome:
    table = tables.drift
    if table is None:
        return "drift did not run: no drift table"
    rows = table
    if spec.get("drift_kind"):
        rows = rows[rows["kind"].astype(str) == str(spec["drift_kind"])]
    patterns = [str(p) for p in spec.get("columns") or ["*"]]
    rows = rows[[any(fnmatchcase(str(c), p) for p in patterns) for c in rows["column"]]]
    chosen = set(select([str(s) for s in rows["slice"]], spec, taxonomy))
    rows = rows[rows["slice"].astype(str).isin(chosen)]
    limit = _number(spec.get("max"))
    out = []
    for row in rows.itertuples(index=False):
        label = f"{row.column} @ {row.slice}"
        value = _number(row.value)
        if spec.get("alarms"):
            failed = bool(row.drifted)
            reason = f"drift alarm ({row.method} {value})" if failed else "no drift alarm"
        elif value is None:
            out.append(SliceOutcome(label, INSUFFICIENT, None, limit, None, None,
                                    f"{row.method} undefined"))
            continue
        else:
            assert limit is not None
            failed = value > limit
            reason = f"{row.method} {value:.4f} {'>' if failed else '<='} {limit}"
        out.append(SliceOutcome(label, FAIL if failed else PASS, value, limit,
                                int(row.n_current) if hasattr(row, "n_current") else None,
                                None, reason))
    return out


_CHECKS: dict[str, Callable[..., Outcome]] = {
    "floor": _floor, "ceiling": _ceiling, "support": _support,
    "non_regression": _non_regression, "agreement": _agreement, "drift": _drift,
}
