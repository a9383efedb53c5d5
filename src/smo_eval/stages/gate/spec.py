"""The configured checks, checked before anything is judged: every mistake is a ConfigError
naming the check and the setting, never a check that silently passes."""

from __future__ import annotations

from dataclasses import replace

from smo_eval.config.schema_more import CheckSpec, GateConfig
from smo_eval.errors import ConfigError
from smo_eval.slicekey import Selector
from smo_eval.taxonomy import Taxonomy

# Which table each kind reads.
SOURCES = {"floor": "metrics", "ceiling": "metrics", "support": "metrics",
           "non_regression": "comparison", "agreement": "agreement", "drift": "drift",
           "coverage": "metrics", "borderline": "borderline", "trend": "trend"}
TREND_METRICS = ("recall", "precision", "fpr", "agreement")
_REQUIRED = {"floor": ("metric", "min"), "ceiling": ("metric", "max"),
             "agreement": ("metric", "min"), "borderline": ("max",)}


def checks(gate: GateConfig) -> dict[str, CheckSpec]:
    """The checks with the gate's support preconditions filled in where a check sets none."""
    if not gate.checks:
        raise ConfigError("gate.checks is empty: a gate with no checks cannot pass anything")
    out: dict[str, CheckSpec] = {}
    for name, spec in gate.checks.items():
        if spec is None:  # `gate.checks.x=null` disables a check
            continue
        where = f"gate.checks.{name}"
        missing = [k for k in _REQUIRED.get(spec.kind, ()) if getattr(spec, k) is None]
        if missing:
            raise ConfigError(f"{where} ({spec.kind}) needs {', '.join(missing)}")
        if spec.kind == "non_regression" and not spec.metrics:
            raise ConfigError(f"{where} (non_regression) needs metrics")
        if spec.kind == "drift" and spec.max is None and not spec.alarms:
            raise ConfigError(f"{where} (drift) needs `max` or `alarms: true`")
        wrong = [m for m in spec.metrics if m not in TREND_METRICS]
        if spec.kind == "trend" and (wrong or not spec.metrics):
            raise ConfigError(f"{where}.metrics={list(spec.metrics)}: trend alarms exist for "
                              f"{', '.join(TREND_METRICS)}")
        for key in ("min", "max"):
            value = getattr(spec, key)
            if value is not None and value != "target" and not _is_number(value):
                raise ConfigError(f"{where}.{key}={value!r}: a number or `target`")
        for selector in spec.slices:
            try:
                Selector.parse(selector)
            except ValueError as exc:
                raise ConfigError(f"{where}.slices: {exc}") from None
        support = gate.min_support
        out[str(name)] = replace(
            spec,
            min_items=support.items if spec.min_items is None else spec.min_items,
            min_positives=support.positives if spec.min_positives is None else spec.min_positives,
            min_negatives=support.negatives if spec.min_negatives is None else spec.min_negatives)
    return out


def sources_needed(gate: GateConfig) -> set[str]:
    """Which tables the configured checks read (so only those are computed)."""
    return {SOURCES[spec.kind] for spec in checks(gate).values()}


def limit(spec: CheckSpec, side: str, category: str | None, taxonomy: Taxonomy) -> float:
    """A floor's or ceiling's number: the configured one, or `target` = the taxonomy's KPI
    target of the slice's risk category (target_recall for a floor, max_fpr for a ceiling)."""
    value = spec.min if side == "min" else spec.max
    if value != "target":
        return float(value)
    found = {c.name: c for c in taxonomy.categories}.get(category or "")
    target = None if found is None else (found.target_recall if side == "min" else found.max_fpr)
    if target is None:
        raise ValueError(f"risk category {category!r} has no taxonomy target for "
                         f"`{side}: target`")
    return float(target)


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True
