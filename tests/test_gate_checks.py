"""The gate's checks on hand-built tables: interval bounds, selectors, support, regression,
failing closed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from smo_eval.config.loader import check_values
from smo_eval.config.schema import Config
from smo_eval.config.schema_data import CategorySpec, TaxonomyConfig
from smo_eval.config.schema_more import GateConfig
from smo_eval.errors import ConfigError
from smo_eval.slicekey import Selector, SliceKey, display, to_json
from smo_eval.stages.gate import (
    FAIL,
    INSUFFICIENT,
    PASS,
    SKIPPED,
    GateTables,
    evaluate_gate,
)
from smo_eval.taxonomy import Taxonomy

TAXONOMY = Taxonomy.from_config(TaxonomyConfig(categories={
    "child_safety": CategorySpec("exploitation", 1, 0.95, 0.01),
    "spam": CategorySpec("fraud_spam", 3, 0.75, 0.05),
}))


def key(name: str) -> SliceKey:
    """This test's slice literals (`region=SEA&language=zh`) as keys."""
    if name == "overall":
        return ()
    return tuple((p.split("=", 1)[0], p.split("=", 1)[1]) for p in name.split("&"))


def keyed(frame: pd.DataFrame) -> pd.DataFrame:
    frame["slice_key"] = [to_json(key(s)) for s in frame["slice"]]
    return frame


def metrics(*rows: tuple[str, int, int, float, float, float]) -> pd.DataFrame:
    """slice, n, n_pos, recall, recall_lo, recall_hi (fpr fixed at 0.02 [0.01, 0.03])."""
    frame = pd.DataFrame(rows, columns=["slice", "n", "n_pos", "recall", "recall_lo",
                                        "recall_hi"])
    frame["model"] = "v2"
    frame["fpr"], frame["fpr_lo"], frame["fpr_hi"] = 0.02, 0.01, 0.03
    return keyed(frame)


BASE = metrics(
    ("overall", 10_000, 900, 0.80, 0.77, 0.83),
    ("region=SEA", 2_000, 200, 0.70, 0.64, 0.76),
    ("region=EU", 2_000, 150, 0.85, 0.80, 0.90),
    ("region=SEA&language=zh", 600, 60, 0.40, 0.28, 0.52),
    ("risk_category=child_safety", 3, 3, 1.0, 0.29, 1.0),
    ("risk_category=spam", 300, 300, 0.9, 0.86, 0.94),
)


def gate(checks: dict[str, Any], **extra: Any) -> GateConfig:
    """The checks as the configuration loader types and checks them."""
    tree = OmegaConf.merge(OmegaConf.structured(GateConfig), {
        "name": "t", "min_support": {"items": 100, "positives": 20}, "checks": checks, **extra})
    typed = OmegaConf.to_object(tree)
    assert isinstance(typed, GateConfig)
    check_values(Config(gate=typed))
    return typed


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
    def matches(name: str, pattern: str) -> bool:
        return Selector.parse(pattern).matches(key(name))

    assert matches("region=SEA", "region=*")
    assert not matches("region=SEA&language=zh", "region=*")
    assert matches("region=SEA&language=zh", "region=*&language=zh")
    assert matches("region=SEA&language=zh", "*")
    assert not matches("overall", "region=*")


def test_values_that_look_like_syntax_are_matched_as_values() -> None:
    """A region named `XX&language=en` is one value: its slice is a region slice, and a
    mapping selector names it exactly; it never poses as a region x language cross."""
    tricky = (("region", "XX&language=en"),)
    frame = pd.DataFrame({"slice": [display(tricky)], "slice_key": [to_json(tricky)],
                          "n": [1000], "n_pos": [100], "recall": [0.1], "recall_lo": [0.05],
                          "recall_hi": [0.15], "model": ["v2"]})
    frame["fpr"], frame["fpr_lo"], frame["fpr_hi"] = 0.02, 0.01, 0.03
    tables = GateTables(pd.concat([BASE, frame], ignore_index=True))
    floor = {"kind": "floor", "metric": "recall", "min": 0.5}
    crosses = judge({"x": {**floor, "slices": ["region=*&language=*"]}}, tables)
    assert [o.key for o in crosses.checks[0].slices] == [key("region=SEA&language=zh")]
    regions = judge({"r": {**floor, "slices": ["region=*"]}}, tables)
    assert {o.key: o.status for o in regions.checks[0].slices}[tricky] == FAIL
    exact = judge({"e": {**floor, "slices": [{"region": "XX&language=en"}]}}, tables)
    assert [o.key for o in exact.checks[0].slices] == [tricky] and not exact.passed


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
    return keyed(frame)


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
    agreement = keyed(pd.DataFrame({"slice": ["overall", "region=SEA"], "n_items": [500, 40],
                                    "krippendorff_alpha": [0.55, 0.8]}))
    drift = keyed(pd.DataFrame({"kind": ["score", "score", "metadata"],
                                "column": ["score:v1", "score:v2", "language"],
                                "slice": ["overall"] * 3, "method": ["psi"] * 3,
                                "value": [0.31, 0.05, 0.9], "drifted": [True, False, True],
                                "n_current": [5000] * 3}))
    result = judge(checks, GateTables(BASE, agreement=agreement, drift=drift))
    assert outcomes(result, "a") == {"overall": FAIL}
    assert outcomes(result, "d") == {"score:v1 @ overall": FAIL, "score:v2 @ overall": PASS}


@pytest.mark.parametrize("checks, message", [
    ({}, "gate.checks is empty"),
    ({"x": {"kind": "nope"}}, "use one of floor"),
    ({"x": {"kind": "floor", "metric": "recall"}}, "needs min"),
    ({"x": {"kind": "floor", "metric": "recall", "min": 0.5, "on_insufficient": "maybe"}},
     "on_insufficient"),
    ({"x": {"kind": "floor", "metric": "brier", "min": 0.5}}, "no column 'brier_lo'"),
])
def test_config_mistakes_raise_config_error(checks: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        judge(checks)


def test_unscored_gold_items_fail_a_judged_slice() -> None:
    """A candidate that did not score every gold item of a gated slice fails that slice (or
    leaves it insufficient), with the count; the coverage check judges the share."""
    partial = BASE.copy()
    partial["n_unscored"] = 0
    partial.loc[partial["slice"] == "overall", "n_unscored"] = 187
    floor = {"kind": "floor", "metric": "recall", "min": 0.5, "slices": ["overall"]}
    failed = judge({"r": floor}, GateTables(partial))
    outcome = failed.checks[0].slices[0]
    assert outcome.status == FAIL and "no score for 187 of 10,187" in outcome.reason
    lenient = judge({"r": {**floor, "on_unscored": "insufficient"}}, GateTables(partial))
    assert lenient.checks[0].status == INSUFFICIENT and not lenient.passed
    coverage = judge({"c": {"kind": "coverage", "min_share": 0.99}}, GateTables(partial))
    assert coverage.checks[0].slices[0].value == pytest.approx(10_000 / 10_187)
    assert coverage.checks[0].status == FAIL
    assert judge({"c": {"kind": "coverage", "min_share": 0.98}},
                 GateTables(partial)).passed


def test_a_check_that_raises_fails_the_gate() -> None:
    broken = BASE.drop(columns=["n_pos"])
    result = judge({"r": {"kind": "floor", "metric": "recall", "min": 0.1}}, GateTables(broken))
    assert result.checks[0].status == FAIL and result.checks[0].error and not result.passed
