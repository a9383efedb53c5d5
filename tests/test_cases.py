"""`smo-eval cases add|check|find`: the SQLite case database on a small gold set with planted
contradictions, Mandarin look-ups, and Multilingual HateCheck scenarios against the
annotators' majority."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from smo_eval.commands.cases import find
from smo_eval.config import load_config
from smo_eval.pipeline.runner import Runner
from tests.cli_helpers import invoke

PRECEDENTS = pd.DataFrame({
    "item_id": [f"p{i}" for i in range(6)],
    "scenario_id": ["gamble_ad", "gamble_ad", "gamble_ad", "greeting", "greeting", "drug_slang"],
    "text": ["菠菜平台注册就送彩金", "加我玩菠菜稳赚不赔", "菠菜网站首充翻倍", "大家早上好",
             "今天天气不错", "有叶子要的私聊"],
    "label": ["violating", "violating", "safe", "safe", "safe", "violating"],
    "risk_category": ["gambling", "gambling", "none", "none", "none", "drugs"],
    "rationale": ["推广赌博", "推广赌博", "误判", "问候", "闲聊", "毒品黑话"],
    "policy_ref": ["P-4.2", "P-4.2", "P-4.2", "", "", "P-7.1"],
})
NEW_GOLD = pd.DataFrame({
    "item_id": ["n1", "n2", "n3", "n4", "n5"],
    "scenario_id": ["gamble_ad", "gamble_ad", "greeting", "unseen", "unseen"],
    "text": ["菠菜注册送钱", "玩菠菜吗", "早上好", "新场景一", "新场景二"],
    "label": ["safe", "violating", "violating", "safe", "violating"],
})


def test_grow_check_and_find(project: Path) -> None:
    PRECEDENTS.to_csv(project / "precedents.csv", index=False, encoding="gb18030")
    NEW_GOLD.to_excel(project / "new.xlsx", index=False)
    args = ["mlflow.enabled=false", "data.predictions=null"]
    out = invoke("cases", "add", "--file", "precedents.csv", *args)
    assert "6 new case(s)" in out
    out = invoke("cases", "add", "--file", "precedents.csv", *args)
    assert "0 new case(s)" in out
    with sqlite3.connect(project / "data/cases/cases.sqlite") as conn:
        stored = pd.read_sql_query("SELECT * FROM cases", conn)
    assert len(stored) == 6
    assert set(stored.columns) >= {"scenario_id", "text", "decision", "risk_category",
                                   "rationale", "policy_ref", "decided_at"}
    assert stored.loc[stored["text"] == "有叶子要的私聊", "policy_ref"].item() == "P-7.1"

    invoke("cases", "check", "--file", "new.xlsx", *args)
    conflicts = pd.read_csv(project / "outputs/labels/case_conflicts.csv")
    # gamble_ad precedent is violating (2 of 3), greeting is safe: n1 and n3 contradict.
    assert sorted(conflicts["item_id"]) == ["n1", "n3"]
    assert conflicts.set_index("item_id").loc["n1", "precedent_decision"] == 1
    scenarios = pd.read_csv(project / "outputs/labels/scenario_conflicts.csv")
    assert sorted(scenarios["scenario_id"]) == ["gamble_ad", "unseen"]

    out = invoke("cases", "find", "菠菜注册就送彩金", "-k", "2", *args)
    assert "菠菜平台注册就送彩金" in out
    hits = find(Runner(load_config(["mlflow.enabled=false"])), "有叶子吗私聊", 3)
    assert hits["text"].iloc[0] == "有叶子要的私聊"
    assert hits["similarity"].is_monotonic_decreasing
    assert hits["precedent"].iloc[0] == 1


def test_find_on_empty_database_is_a_clear_error(project: Path) -> None:
    out = invoke("cases", "find", "anything", "mlflow.enabled=false", code=2)
    assert "case database is empty" in out


@pytest.mark.shared_data
def test_mhc_check_flags_majority_against_scenario_gold(shared_data: Path, project: Path) -> None:
    cases = shared_data / "mhc/cases/mandarin.csv"
    common = ["data.columns.item_id=mhc_case_id", "data.columns.text=test_case",
              "labels.cases.scenario=[functionality]", "data.predictions=null",
              "mlflow.enabled=false"]
    invoke("cases", "add", "--file", str(cases), "data.columns.label=label_gold", *common)
    invoke("cases", "check", "--file", str(cases), "data.columns.label=label_annotated_maj",
           *common)
    raw = pd.read_csv(cases)
    expected = set(raw.loc[raw["label_gold"] != raw["label_annotated_maj"], "mhc_case_id"])
    conflicts = pd.read_csv(project / "outputs/labels/case_conflicts.csv")
    assert set(conflicts["item_id"]) == expected
    assert len(conflicts) == len(expected)
    # Scenarios whose majority labels disagree among themselves, counted independently.
    mixed = raw.groupby("functionality")["label_annotated_maj"].nunique()
    scenarios = pd.read_csv(project / "outputs/labels/scenario_conflicts.csv")
    assert set(scenarios["scenario_id"]) == set(mixed[mixed > 1].index)
