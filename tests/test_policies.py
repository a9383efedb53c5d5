"""Per-policy predictions and borderline gold on hand fixtures whose every count is worked out
by hand: the four borderline modes, one-vs-rest counts, the policy confusion table, per-policy
thresholds, the gate's borderline check, and bad input named by file, row and column."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from tests.cli_helpers import invoke

COMMON = ["mlflow.enabled=false", "data.gold=gold.csv", "data.predictions=preds.csv",
          "slicing.dimensions=[region]", "slicing.crosses=[]",
          "data.labels.borderline=[borderline]"]

# Single-score: 10 items at threshold 0.5. Outside borderline: 1 and 9 caught, 2 missed,
# 3 a false flag, 4, 5, 10 correctly left. Borderline: 6 (EU) and 7 (US) flagged, 8 (US) not.
SINGLE = pd.DataFrame({
    "item_id": range(1, 11),
    "label": ["violating", "violating", "safe", "safe", "safe", "borderline", "borderline",
              "borderline", "violating", "safe"],
    "score": [0.9, 0.3, 0.7, 0.1, 0.2, 0.8, 0.6, 0.2, 0.55, 0.45],
    "region": ["EU", "EU", "US", "US", "EU", "EU", "US", "US", "US", "EU"]})
MODES = {  # mode -> (tp, fp, fn, tn) overall
    "exclude": (2, 1, 1, 3), "separate": (2, 1, 1, 3),
    "negative": (2, 3, 1, 4),   # 6 and 7 become false flags, 8 a true negative
    "positive": (4, 1, 2, 3)}   # 6 and 7 become catches, 8 a miss


def _write_single(folder: Path) -> None:
    SINGLE[["item_id", "label", "region"]].to_csv(folder / "gold.csv", index=False)
    SINGLE.assign(model="m1")[["item_id", "model", "score"]].to_csv(folder / "preds.csv",
                                                                    index=False)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_four_borderline_modes_count_as_worked_out_by_hand(
        mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write_single(tmp_path)
    invoke("evaluate", *COMMON, f"evaluate.borderline={mode}")
    table = pd.read_csv("outputs/evaluate/slice_metrics.csv").set_index("slice")
    assert tuple(int(table.loc["overall", c]) for c in ("tp", "fp", "fn", "tn")) == MODES[mode]
    # The flag rate of borderline items is the same in every mode: 2 of 3 (6, 7), EU 1 of 1,
    # US 1 of 2, with the exact (Clopper-Pearson) interval.
    rates = pd.read_csv("outputs/evaluate/borderline.csv").set_index("slice")
    assert rates.loc["overall", ["n", "flagged"]].tolist() == [3, 2]
    assert rates.loc["region=EU", ["n", "flagged"]].tolist() == [1, 1]
    assert rates.loc["region=US", ["n", "flagged"]].tolist() == [2, 1]
    exact = stats.binomtest(2, 3).proportion_ci(0.95, method="exact")
    assert rates.loc["overall", "flag_rate_lo"] == pytest.approx(exact.low)
    assert rates.loc["overall", "flag_rate_hi"] == pytest.approx(exact.high)
    head = json.loads(Path("outputs/evaluate/metrics.json").read_text())["m1"]
    # Only `separate` puts the borderline flag rate beside the headline numbers.
    assert ("borderline_flag_rate" in head) == (mode == "separate")
    if mode == "separate":
        assert head["n_borderline"] == 3 and head["borderline_flag_rate"] == pytest.approx(2 / 3,
                                                                                           abs=1e-6)


# Multi-policy: per item, the policies gold names and the scores of the three heads.
# a violates hate and harassment, flagged hate; b violates drugs, flagged drugs; c is safe,
# flagged hate; d is borderline under hate, flagged hate; e violates hate, flagged harassment
# (the wrong queue); f is safe, flagged nothing.
GOLD = pd.DataFrame({
    "item_id": ["a", "b", "c", "d", "e", "f"],
    "label": ["violating", "violating", "safe", "borderline", "violating", "safe"],
    "policy": ["hate|harassment", "drugs", "", "hate", "hate", ""],
    "region": ["EU", "EU", "US", "US", "EU", "US"]})
SCORES = {"a": (0.9, 0.2, 0.1), "b": (0.1, 0.1, 0.8), "c": (0.6, 0.1, 0.1),
          "d": (0.7, 0.1, 0.1), "e": (0.2, 0.9, 0.1), "f": (0.1, 0.1, 0.1)}
HEADS = ("hate", "harassment", "drugs")


def _write_multi(folder: Path, gold: pd.DataFrame = GOLD) -> None:
    gold.to_csv(folder / "gold.csv", index=False)
    rows = [(item, "m1", head, s) for item, values in SCORES.items()
            for head, s in zip(HEADS, values, strict=True)]
    pd.DataFrame(rows, columns=["item_id", "model", "policy", "score"]).to_csv(
        folder / "preds.csv", index=False)


def _cells(table: pd.DataFrame, name: str) -> tuple[int, ...]:
    return tuple(int(table.loc[name, c]) for c in ("tp", "fp", "fn", "tn"))


@pytest.mark.parametrize("mode, hate", [("separate", (1, 1, 1, 2)), ("positive", (2, 1, 1, 2)),
                                        ("negative", (1, 2, 1, 2))])
def test_per_policy_counts_and_the_confusion_table_by_hand(
        mode: str, hate: tuple[int, ...], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write_multi(tmp_path)
    invoke("evaluate", *COMMON, f"evaluate.borderline={mode}")
    table = pd.read_csv("outputs/evaluate/slice_metrics.csv").set_index("slice")
    # d's hate row is the borderline one: left out, a catch, or a false flag.
    assert _cells(table, "policy=hate") == hate
    # d is safe under harassment and drugs in every mode.
    assert _cells(table, "policy=harassment") == (0, 1, 1, 4)
    assert _cells(table, "policy=drugs") == (1, 0, 0, 5)
    assert _cells(table, "policy=hate&region=EU") == (1, 0, 1, 1)
    assert int(table.loc["overall", "n"]) == (17 if mode == "separate" else 18)
    conf = pd.read_parquet("outputs/evaluate/policy_confusion.parquet")
    cell = conf.set_index(["gold_policy", "flagged_policy", "kind"])["items"]
    assert conf.iloc[0][["gold_policy", "flagged_policy", "kind", "rank", "items"]].tolist() \
        == ["hate", "harassment", "wrong_policy", 1, 1]          # e, routed to harassment
    assert cell[("harassment", "hate", "co_violation")] == 1    # a: caught under hate
    assert cell[("harassment", "hate", "wrong_policy")] == 0
    assert cell[("drugs", "drugs", "right")] == 1
    assert cell[("none", "none", "safe")] == 1                   # f
    # d: left out when borderline is not counted (neither violating nor safe).
    expected = {"separate": (1, 1, 2), "positive": (2, 1, 3), "negative": (1, 2, 2)}[mode]
    got = (cell[("hate", "hate", "right")], cell[("none", "hate", "false_flag")],
           int(conf[conf["gold_policy"] == "hate"]["gold_items"].iloc[0]))
    assert got == expected
    head = json.loads(Path("outputs/evaluate/metrics.json").read_text())["m1"]
    violating = {"separate": 3, "positive": 4, "negative": 3}[mode]
    assert (head["wrong_policy_only"], head["violating_items"]) == (1, violating)   # e
    per_policy = [table.loc[f"policy={p}", "recall"] for p in HEADS]
    assert head["n_policies"] == 3
    assert head["macro_recall"] == pytest.approx(sum(per_policy) / 3, abs=1e-6)


def test_long_and_list_gold_forms_are_one_table(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """One row per item and policy, or one row per item listing them (`|`), give the same
    expanded evaluation table and counts."""
    monkeypatch.chdir(tmp_path)
    _write_multi(tmp_path)
    invoke("ingest", *COMMON)
    listed = pd.read_parquet("outputs/ingest/eval.parquet")
    long = GOLD.assign(policy=GOLD["policy"].str.split("|")).explode("policy")
    _write_multi(tmp_path, long)
    invoke("ingest", *COMMON)
    pd.testing.assert_frame_equal(pd.read_parquet("outputs/ingest/eval.parquet"), listed)
    assert len(listed) == 18 and listed["policy"].astype(str).tolist()[:3] == sorted(HEADS)
    summary = json.loads(Path("outputs/ingest/summary.json").read_text())
    assert summary["policies"] == sorted(HEADS) and summary["items"] == 6
    assert summary["borderline"] == 1


def test_per_policy_thresholds_and_a_policy_thresholds_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hate at 0.65 leaves c (0.6) unflagged and keeps d (0.7, borderline) flagged; a file with
    dimension `policy` does the same for the model it lists."""
    monkeypatch.chdir(tmp_path)
    _write_multi(tmp_path)
    invoke("evaluate", *COMMON, "evaluate.policy_thresholds.hate=0.65")
    table = pd.read_csv("outputs/evaluate/slice_metrics.csv").set_index("slice")
    assert _cells(table, "policy=hate") == (1, 0, 1, 3)
    assert table.loc["policy=hate", "threshold"] == 0.65
    assert table.loc["policy=drugs", "threshold"] == 0.5
    rates = pd.read_csv("outputs/evaluate/borderline.csv").set_index("slice")
    assert rates.loc["policy=hate", ["n", "flagged"]].tolist() == [1, 1]
    pd.DataFrame({"model": ["m1", "m1"], "dimension": ["overall", "policy"],
                  "value": ["overall", "hate"], "threshold": [0.5, 0.65]}).to_csv(
        "thr.csv", index=False)
    invoke("evaluate", *COMMON, "evaluate.thresholds_file=thr.csv")
    again = pd.read_csv("outputs/evaluate/slice_metrics.csv").set_index("slice")
    assert _cells(again, "policy=hate") == (1, 0, 1, 3)
    out = invoke("evaluate", *COMMON, "evaluate.policy_thresholds.hat=0.6", code=2)
    assert "policy_thresholds names policies the data does not have: ['hat']" in out


def test_gate_borderline_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ceiling on the upper bound of the flag rate; too few items is insufficient evidence;
    without borderline labels the check is skipped."""
    monkeypatch.chdir(tmp_path)
    _write_single(tmp_path)
    check = "+gate.checks.bl={kind: borderline, max: %s, slices: [overall, 'region=*'], " \
            "min_items: %d}"
    base = [*COMMON, "gate.checks.overall_recall=null", "gate.checks.overall_support=null"]

    def judged() -> dict[str, dict[str, object]]:
        verdict = json.loads(Path("outputs/gate/gate.json").read_text())
        check = next(c for c in verdict["checks"] if c["name"] == "bl")
        return {str(s["slice"]): s for s in check["slices"]}

    invoke("gate", *base, check % (1.0, 1), code=0)
    exact = stats.binomtest(2, 3).proportion_ci(0.95, method="exact")
    assert judged()["overall"]["value"] == pytest.approx(exact.high)   # 0.9916
    invoke("gate", *base, check % (0.99, 1), code=1)   # region=EU: 1 of 1, upper bound 1
    assert {k: v["status"] for k, v in judged().items()} == {
        "overall": "fail", "region=EU": "fail", "region=US": "pass"}
    invoke("gate", *base, check % (0.995, 3), code=1)  # EU and US: < 3 borderline items
    assert {k: v["status"] for k, v in judged().items()} == {
        "overall": "pass", "region=EU": "insufficient_evidence",
        "region=US": "insufficient_evidence"}
    plain = [c for c in base if not c.startswith("data.labels")]
    SINGLE[SINGLE["label"] != "borderline"][["item_id", "label", "region"]].to_csv(
        "gold.csv", index=False)
    SINGLE[SINGLE["label"] != "borderline"].assign(model="m1")[
        ["item_id", "model", "score"]].to_csv("preds.csv", index=False)
    invoke("gate", *plain, check % (0.5, 1), code=0)
    verdict = json.loads(Path("outputs/gate/gate.json").read_text())
    assert next(c for c in verdict["checks"] if c["name"] == "bl")["status"] == "skipped"


def _bad(folder: Path, gold: pd.DataFrame | None = None,
         preds: pd.DataFrame | None = None) -> None:
    _write_multi(folder)
    if gold is not None:
        gold.to_csv(folder / "gold.csv", index=False)
    if preds is not None:
        preds.to_csv(folder / "preds.csv", index=False)


def _preds() -> pd.DataFrame:
    return pd.read_csv("preds.csv")


@pytest.mark.parametrize("case, expected", [
    ("safe_with_policy", "gold.csv, row 4, column 'policy': safe row names a policy"),
    ("violating_without_policy", "gold.csv, row 2, column 'policy': violating row names no "
                                 "policy"),
    ("borderline_without_policy", "gold.csv, row 5, column 'policy': borderline row names no "
                                  "policy"),
    ("unscored_policy", "gold.csv, row 3, column 'policy': policy 'spam' is scored by no model"),
    ("two_states", "column 'item_id': rows of this item make policy 'hate' both violating and "
                   "borderline"),
    ("safe_and_policies", "column 'item_id': the item has a safe row and rows naming policies"),
    ("policy_not_in_gold", "preds.csv, row 20, column 'policy': policy occurs in no gold row"),
    ("undeclared", "preds.csv, column 'policy': 6 of 18 rows: policy not in "
                   "data.policies.names (hate, drugs); rows 3, 6, 9"),
    ("duplicate", "preds.csv, row 3, column 'item_id': duplicate item_id/model/policy "
                  "'a|m1|drugs' with conflicting values"),
    ("blank_policy", "preds.csv, row 2, column 'policy': policy is missing"),
])
def test_bad_per_policy_input_is_named_by_file_row_and_column(
        case: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 2 with the file, the row (header = row 1) and the column; nothing dropped."""
    monkeypatch.chdir(tmp_path)
    _write_multi(tmp_path)
    gold, preds, extra = GOLD.copy(), _preds(), []
    if case == "safe_with_policy":
        gold.loc[2, "policy"] = "hate"
    elif case == "violating_without_policy":
        gold.loc[0, "policy"] = ""
    elif case == "borderline_without_policy":
        gold.loc[3, "policy"] = ""
    elif case == "unscored_policy":
        gold.loc[1, "policy"] = "spam"
    elif case == "two_states":
        gold = pd.concat([gold, pd.DataFrame({"item_id": ["e"], "label": ["borderline"],
                                              "policy": ["hate"], "region": ["EU"]})])
    elif case == "safe_and_policies":
        gold = pd.concat([gold, pd.DataFrame({"item_id": ["b"], "label": ["safe"],
                                              "policy": [""], "region": ["EU"]})])
    elif case == "policy_not_in_gold":
        preds = pd.concat([preds, pd.DataFrame({"item_id": ["a"], "model": ["m1"],
                                                "policy": ["spam"], "score": [0.1]})])
    elif case == "undeclared":
        extra = ["data.policies.names=[hate,drugs]"]
    elif case == "duplicate":
        preds.loc[1, "policy"] = "drugs"
    elif case == "blank_policy":
        preds.loc[0, "policy"] = ""
    _bad(tmp_path, gold, preds)
    out = invoke("ingest", *COMMON, *extra, code=2)
    assert expected in " ".join(out.split()), out


def test_other_models_join_per_policy_gold_only_with_policies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Extra predictions join on (item, policy); without a policy column they are refused."""
    monkeypatch.chdir(tmp_path)
    _write_multi(tmp_path)
    _preds().assign(model="m2", score=lambda f: 1 - f["score"]).to_csv("m2.csv", index=False)
    invoke("evaluate", *COMMON, "data.extra_predictions=[m2.csv]")
    table = pd.read_csv("outputs/evaluate/slice_metrics.csv")
    m2 = table[table["model"] == "m2"].set_index("slice")
    assert _cells(m2, "policy=drugs") == (0, 5, 1, 0)   # 1 - score flips every drugs flag
    _preds().assign(model="m3").drop(columns="policy").to_csv("m3.csv", index=False)
    out = invoke("evaluate", *COMMON, "data.extra_predictions=[m3.csv]", code=2)
    assert "m3.csv, column 'policy': missing required column 'policy'" in " ".join(out.split())


def test_labels_and_drift_on_per_policy_gold(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Annotators judge items, not policies: agreement uses the item's gold (any policy) and
    suspected label errors come from the scores per item and policy, said in a notice; drift,
    whose tests would count an item once per policy, refuses with a message."""
    monkeypatch.chdir(tmp_path)
    _write_multi(tmp_path)
    votes = {"a": "violating", "b": "violating", "c": "safe", "d": "safe", "e": "violating",
             "f": "safe"}
    pd.DataFrame([(item, who, label) for item, label in votes.items() for who in "xyz"],
                 columns=["item_id", "annotator_id", "label"]).to_csv("ann.csv", index=False)
    out = invoke("labels", *COMMON, "data.annotations=ann.csv")
    assert "annotators judge items, not policies" in " ".join(out.split())
    issues = pd.read_csv("outputs/labels/label_issues.csv")
    assert "policy" in issues.columns
    rates = pd.read_csv("outputs/labels/label_issue_rates.csv").set_index("slice")
    flagged = set(zip(issues["item_id"], issues["policy"], strict=True))
    for policy in HEADS:   # an item's issue under one policy is not one under the others
        assert rates.loc[f"policy={policy}", "suspected_errors"] == sum(
            p == policy for _, p in flagged)
    agreement = pd.read_csv("outputs/labels/agreement.csv").set_index("slice")
    assert agreement.loc["overall", "n_items"] == 6
    GOLD.assign(created_at=["2026-01-01", "2026-01-02", "2026-01-03", "2026-02-01",
                            "2026-02-02", "2026-02-03"]).to_csv("gold.csv", index=False)
    out = invoke("drift", *COMMON, "drift.time_column=created_at",
                 "drift.reference=[2026-01-01,2026-01-31]",
                 "drift.current=[2026-02-01,2026-02-28]", code=2)
    assert "drift on per-policy data" in " ".join(out.split())


def test_quarantine_sets_bad_per_policy_rows_aside_with_their_reasons(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    gold = GOLD.copy()
    gold.loc[2, "policy"] = "hate"   # c: a safe row naming a policy
    _bad(tmp_path, gold)
    invoke("ingest", *COMMON, "data.on_error=quarantine", "data.max_quarantine_share=0.5")
    set_aside = pd.read_csv("outputs/ingest/quarantine/gold.csv")
    assert set_aside["row"].tolist() == [4]
    assert set_aside["problem"].iloc[0].startswith("safe row names a policy")
    preds = pd.read_csv("outputs/ingest/quarantine/predictions.csv")
    assert sorted(preds["item_id"]) == ["c", "c", "c"]   # its three heads, as follow-on
    table = pd.read_parquet("outputs/ingest/eval.parquet")
    assert sorted(set(table["item_id"])) == ["a", "b", "d", "e", "f"] and len(table) == 15
