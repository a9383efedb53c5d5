"""Judge every configured check over the evidence: one verdict, failing closed.

- a slice below the support preconditions, or whose metric is undefined, is
  `insufficient_evidence`, which fails the gate unless the check says `on_insufficient: warn`;
- a slice with gold items the candidate did not score fails (or is insufficient evidence);
- a selector that matches no slice fails its check (a typo must not pass silently);
- a check whose computation raises fails (the reason is kept), and config mistakes raise
  `ConfigError` (exit 2).
Only a check whose data source does not apply (no annotations, drift not run) is `skipped`.
"""

from __future__ import annotations

from smo_eval.config.schema_more import CheckSpec, GateConfig
from smo_eval.errors import ConfigError
from smo_eval.stages.gate.checks import CHECKS
from smo_eval.stages.gate.model import (
    FAIL,
    INSUFFICIENT,
    PASS,
    SKIPPED,
    CheckResult,
    GateResult,
    GateTables,
)
from smo_eval.stages.gate.spec import SOURCES, checks
from smo_eval.stages.gate.wording import describe, selector_text
from smo_eval.taxonomy import Taxonomy


def evaluate_gate(tables: GateTables, gate: GateConfig, taxonomy: Taxonomy, candidate: str,
                  baseline: str | None) -> GateResult:
    """Judge every configured check; see the module docstring for the rules."""
    results = [run_check(name, spec, tables, taxonomy, candidate, baseline)
               for name, spec in checks(gate).items()]
    return GateResult(gate.name, candidate, baseline, results)


def run_check(name: str, spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy,
              candidate: str, baseline: str | None) -> CheckResult:
    kind = spec.kind
    description = describe(spec)
    source_error = tables.errors.get(SOURCES[kind])
    if source_error:
        return CheckResult(name, kind, spec.on_insufficient, description, [], FAIL,
                           f"could not compute {SOURCES[kind]}: {source_error}", error=True)
    try:
        outcome = CHECKS[kind](spec, tables, taxonomy, candidate, baseline)
    except ConfigError:
        raise
    except Exception as exc:  # fail closed: a check that cannot be computed does not pass
        return CheckResult(name, kind, spec.on_insufficient, description, [], FAIL,
                           f"could not compute: {type(exc).__name__}: {exc}", error=True)
    if isinstance(outcome, str):  # the check's source does not apply
        return CheckResult(name, kind, spec.on_insufficient, description, [], SKIPPED, outcome)
    if not outcome:
        return CheckResult(name, kind, spec.on_insufficient, description, [], FAIL,
                           f"no slice matches {selector_text(spec)}")
    statuses = {o.status for o in outcome}
    status = FAIL if FAIL in statuses else INSUFFICIENT if INSUFFICIENT in statuses else PASS
    return CheckResult(name, kind, spec.on_insufficient, description, outcome, status)
