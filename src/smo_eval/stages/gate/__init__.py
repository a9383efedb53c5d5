"""The release gate: declared checks over the stages' tables, one verdict, failing closed.

Pure: the candidate's slice metrics, compare's table, labels' agreement table and drift's
table in (each None where that source does not exist), every check's outcome per slice out.
`spec` validates the checks, `selection` picks slices by structured keys, `checks` holds the
kinds, `judge` decides, `wording` reads them to people and `files` writes JSON, JUnit and
Markdown.
"""

from smo_eval.stages.gate.judge import evaluate_gate
from smo_eval.stages.gate.model import (
    FAIL,
    INSUFFICIENT,
    PASS,
    SKIPPED,
    CheckResult,
    GateResult,
    GateTables,
    SliceOutcome,
)
from smo_eval.stages.gate.spec import sources_needed

__all__ = ["FAIL", "INSUFFICIENT", "PASS", "SKIPPED", "CheckResult", "GateResult",
           "GateTables", "SliceOutcome", "evaluate_gate", "sources_needed"]
