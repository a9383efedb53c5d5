"""The gate's checks on hand-built tables: interval bounds, selectors, support, regression,
failing closed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from smo_eval.errors import ConfigError
from smo_eval.stages.gate import (
    FAIL,
    INSUFFICIENT,
    PASS,
    SKIPPED,
    GateTables,
    evaluate_gate,
    slice_matches,
)
from smo_eval.taxonomy import Taxonomy

TAXONOMY = Taxonomy.from_config({"categories": {
    "child_safety": {"parent": "exploitation", "severity": 1, "target_recall": 0.95,
                     "max_fpr": 0.01},
    "spam": {"parent": "fraud_spam", "severity": 3, "target_recall": 0.75, "max_fpr": 0.05},
}})


def metrics(*rows: tuple[str, int, int, float, float, float]) -> pd.DataFrame:
    """slice, n, n_pos, recall, recall_lo, recall_hi (fpr fixed at 0.02 [0.01, 0.03])."""
    frame = pd.DataFrame(rows, columns=["slice", "n", "n_pos", "recall", "recall_lo",
                                        "recall_hi"])
    frame["model"] = "v2"
    frame["fpr"], frame["fpr_lo"], frame["fpr_hi"] = 0.02, 0.01, 0.03
    return frame


BASE = metrics(
    ("overall", 10_000, 900, 0.80, 0.77, 0.83),
    ("region=SEA", 2_000, 200, 0.70, 0.64, 0.76),
    ("region=EU", 2_000, 150, 0.85, 0.80, 0.90),
    ("region=SEA&language=zh", 600, 60, 0.40, 0.28, 0.52),
    ("risk_category=child_safety", 3, 3, 1.0, 0.29, 1.0),
    ("risk_category=spam", 300, 300, 0.9, 0.86, 0.94),
)


def gate(checks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "t", "min_support": {"items": 100, "positives": 20}, "checks": checks,
            **extra}


def judge(checks: dict[str, Any], tables: GateTables | None = None,
          candidate: str = "v2", baseline: str | None = "v1") -> Any:
    return evaluate_gate(tables or GateTables(BASE), gate(checks), TAXONOMY, candidate, baseline)


def outcomes(result: Any, check: str) -> dict[str, str]:
    found = next(c for c in result.checks if c.name == check)
    return {o.slice: o.status for o in found.slices}


def test_floor_is_judged_on_the_lower_bound_not_the_point() -> None:
    # region=SEA: point recall 0.70 clears 0.66, its lower bound 0.64 does not.
    spec = {"kind": "floor", "metric": "recall", "min": 0.66, "slices": ["region=*"]}
    result = judge({"r": spec})
    assert outcomes(result, "r") == {"region=SEA": FAIL, "region=EU": PASS}
    assert not result.passed and result.verdict == FAIL
    point = judge({"r": {**spec, "bound": "point"}})
    assert outcomes(point, "r") == {"region=SEA": PASS, "region=EU": PASS} and point.passed


def test_ceiling_uses_the_upper_bound() -> None:
    result = judge({"f": {"kind": "ceiling", "metric": "fpr", "max": 0.025, "slices": ["overall"]}})
    check = result.checks[0]
    assert check.status == FAIL and check.slices[0].value == pytest.approx(0.03)


def test_slice_patterns_match_part_by_part() -> None:
    assert slice_matches("region=SEA", "region=*")
    assert not slice_matches("region=SEA&language=zh", "region=*")
    assert slice_matches("region=SEA&language=zh", "region=*&language=zh")
    assert slice_matches("region=SEA&language=zh", "*")
    assert not slice_matches("overall", "region=*")


def test_three_positives_are_insufficient_evidence_not_pass() -> None:
    # child_safety: 3 of 3 caught (point recall 1.0 >= 0.5), but 3 positives prove nothing.
    spec = {"kind": "floor", "metric": "recall", "min": 0.5, "slices": ["risk_category=*"],
            "severity": [1], "on_insufficient": "fail"}
    result = judge({"sev1": spec})
    assert outcomes(result, "sev1") == {"risk_category=child_safety": INSUFFICIENT}
    assert result.checks[0].status == INSUFFICIENT and not result.passed
    warned = judge({"sev1": {**spec, "on_insufficient": "warn"}})
    assert warned.passed and [c.name for c in warned.warnings] == ["sev1"]


def test_taxonomy_targets_as_thresholds() -> None:
    result = judge({"cat": {"kind": "floor", "metric": "recall", "min": "target",
                            "slices": ["risk_category=*"], "min_items": 0, "min_positives": 0}})
    found = {o.slice: (o.status, o.threshold) for o in result.checks[0].slices}
    assert found == {"risk_category=child_safety": (FAIL, 0.95),
                     "risk_category=spam": (PASS, 0.75)}


def test_a_selector_matching_nothing_fails() -> None:
    result = judge({"typo": {"kind": "floor", "metric": "recall", "min": 0.1,
                             "slices": ["regoin=*"]}})
    assert result.checks[0].status == FAIL and "no slice matches" in result.checks[0].reason


def test_support_check_fails_below_its_minimum() -> None:
    result = judge({"s": {"kind": "support", "slices": ["overall", "region=*"],
                          "min_items": 1_000, "min_positives": 160}})
    assert outcomes(result, "s") == {"overall": PASS, "region=SEA": PASS, "region=EU": FAIL}


def comparison(rows: list[tuple[str, str, float, float, float, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["slice", "metric", "delta", "delta_lo", "delta_hi",
                                        "verdict"])
    frame["baseline"], frame["candidate"] = "v1", "v2"
    frame["p_value"] = frame["p_adjusted"] = 0.001
    return frame


COMPARISON = comparison([
    ("overall", "recall", 0.03, 0.02, 0.04, "improved"),
    ("overall", "fpr", -0.01, -0.02, -0.005, "improved"),
    ("region=SEA", "recall", -0.01, -0.018, -0.002, "regressed"),
    ("region=SEA&language=zh", "recall", -0.30, -0.38, -0.22, "regressed"),
    ("region=SEA&language=zh", "fpr", 0.0, -0.01, 0.01, "no_change"),
    ("region=EU", "recall", np.nan, np.nan, np.nan, "insufficient_evidence"),
])


def test_non_regression_uses_compare_verdicts_and_tolerance() -> None:
    tables = GateTables(BASE, comparison=COMPARISON)
    spec = {"kind": "non_regression", "metrics": ["recall", "fpr"], "tolerance": 0.02,
            "slices": ["*"], "on_insufficient": "warn"}
    result = judge({"nr": spec}, tables)
    assert outcomes(result, "nr") == {
        "overall": PASS,
        "region=SEA": PASS,                  # regressed, but by 0.01 <= tolerance 0.02
        "region=SEA&language=zh": FAIL,      # regressed by 0.30
        "region=EU": INSUFFICIENT,
    }
    failed = next(o for o in result.checks[0].slices if o.status == FAIL)
    assert "recall regressed by -0.3000" in failed.reason
    assert failed.value == pytest.approx(-0.30)
    strict = judge({"nr": {**spec, "tolerance": 0.0}}, tables)
    assert outcomes(strict, "nr")["region=SEA"] == FAIL


def test_non_regression_for_the_baseline_itself_passes_without_a_table() -> None:
    spec = {"kind": "non_regression", "metrics": ["recall"], "slices": ["*"]}
    result = judge({"nr": spec}, GateTables(BASE), candidate="v1", baseline="v1")
    assert result.passed and result.checks[0].status == PASS


def test_missing_comparison_fails_closed() -> None:
    spec = {"kind": "non_regression", "metrics": ["recall"], "slices": ["*"]}
    result = judge({"nr": spec}, GateTables(BASE))
    check = result.checks[0]
    assert check.status == FAIL and check.error and "no comparison table" in check.reason
    errored = judge({"nr": spec}, GateTables(BASE, errors={"comparison": "compare broke"}))
    assert errored.checks[0].status == FAIL and "compare broke" in errored.checks[0].reason


def test_agreement_and_drift_skip_only_when_their_source_does_not_exist() -> None:
    checks = {"a": {"kind": "agreement", "metric": "krippendorff_alpha", "min": 0.6},
              "d": {"kind": "drift", "drift_kind": "score", "columns": ["score:*"], "max": 0.2}}
    skipped = judge(checks)
    assert [c.status for c in skipped.checks] == [SKIPPED, SKIPPED] and skipped.passed
    agreement = pd.DataFrame({"slice": ["overall", "region=SEA"], "n_items": [500, 40],
                              "krippendorff_alpha": [0.55, 0.8]})
    drift = pd.DataFrame({"kind": ["score", "score", "metadata"],
                          "column": ["score:v1", "score:v2", "language"],
                          "slice": ["overall"] * 3, "method": ["psi"] * 3,
                          "value": [0.31, 0.05, 0.9], "drifted": [True, False, True],
                          "n_current": [5000] * 3})
    result = judge(checks, GateTables(BASE, agreement=agreement, drift=drift))
    assert outcomes(result, "a") == {"overall": FAIL}
    assert outcomes(result, "d") == {"score:v1 @ overall": FAIL, "score:v2 @ overall": PASS}


@pytest.mark.parametrize("checks, message", [
    ({}, "gate.checks is empty"),
    ({"x": {"kind": "nope"}}, "known kinds"),
    ({"x": {"kind": "floor", "metric": "recall"}}, "needs min"),
    ({"x": {"kind": "floor", "metric": "recall", "min": 0.5, "on_insufficient": "maybe"}},
     "on_insufficient"),
    ({"x": {"kind": "floor", "metric": "brier", "min": 0.5}}, "no column 'brier_lo'"),
])
def test_config_mistakes_raise_config_error(checks: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        judge(checks)


def test_a_check_that_raises_fails_the_gate() -> None:
    broken = BASE.drop(columns=["n_pos"])
    result = judge({"r": {"kind": "floor", "metric": "recall", "min": 0.1}}, GateTables(broken))
    assert result.checks[0].status == FAIL and result.checks[0].error and not result.passed
