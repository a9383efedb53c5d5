"""The multi-head sample world (preset sample_policies) end to end: the planted confusion is
the top of the confusion table, the planted borderline market is above the rest and named in
the report (en and zh), `policy=*` selects slices in the gate, compare and errors slice by
policy, and the macro summary is the mean of the policy slices."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from smo_eval.config import load_config
from tests.cli_helpers import invoke
from tests.conftest import ROOT

SMALL = ["preset=sample_policies", "sample.n_items=12000", "mlflow.enabled=false",
         "report.png=false"]


def planted() -> dict[str, dict[str, object]]:
    cfg = load_config(["preset=sample_policies"]).config
    return dict(cfg.sample.policies["planted"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    root = tmp_path_factory.mktemp("policies-world")
    shutil.copytree(ROOT / "conf", root / "conf")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        invoke("sample", *SMALL)
        invoke("run", *SMALL, code=1)   # the gate fails on the planted borderline market
        shutil.copy("outputs/report/report.md", "report_en.md")
        invoke("report", *SMALL, "report.lang=zh")
    finally:
        os.chdir(cwd)
    return root


def test_written_to_its_own_folder(world: Path) -> None:
    assert sorted(p.name for p in (world / "data/sample_policies").glob("*.parquet")) == [
        "annotations.parquet", "gold.parquet", "items.parquet", "predictions.parquet"]
    assert not (world / "data/sample").exists()


def test_planted_confusion_is_the_top_of_the_confusion_table(world: Path) -> None:
    confusion = planted()["confusion"]
    table = pd.read_parquet(world / "outputs/evaluate/policy_confusion.parquet")
    for model in confusion["models"]:   # type: ignore[union-attr]
        part = table[table["model"] == model]
        top = part.iloc[0]
        assert (top["gold_policy"], top["flagged_policy"], top["kind"], top["rank"]) == (
            confusion["gold"], confusion["flagged"], "wrong_policy", 1)
        runner_up = part[part["rank"] == 2].iloc[0]
        assert top["items"] >= 3 * runner_up["items"], (top.to_dict(), runner_up.to_dict())


def test_planted_borderline_market_is_above_the_rest_and_named_in_the_report(
        world: Path) -> None:
    region = str(planted()["borderline_market"]["region"])
    rates = pd.read_parquet(world / "outputs/evaluate/borderline.parquet")
    by_region = rates[rates["dimension"] == "region"].set_index(["model", "slice"])
    for model in rates["model"].unique():
        market = by_region.loc[(model, f"region={region}")]
        others = by_region.loc[model].drop(index=f"region={region}")
        assert bool(market["above_rest"]) and not others["above_rest"].any()
        assert market["flag_rate_lo"] > 3 * others["flag_rate_hi"].max()
    english = (world / "report_en.md").read_text(encoding="utf-8")
    chinese = (world / "outputs/report/report.md").read_text(encoding="utf-8")
    for model in rates["model"].unique():
        assert f"{model} flags borderline items in region={region}" in english
        assert f"{model} 在 region={region}" in chinese
    gold = planted()["confusion"]["gold"]
    flagged = planted()["confusion"]["flagged"]
    assert f"violating {gold} under {flagged} instead" in english
    assert f"违反 {gold} 的条目归为 {flagged}" in chinese


def test_policy_slices_reach_compare_errors_and_the_gate(world: Path) -> None:
    verdict = json.loads((world / "outputs/gate/gate.json").read_text())
    checks = {c["name"]: c for c in verdict["checks"]}
    judged = {s["slice"] for s in checks["policy_recall"]["slices"]}
    policies = load_config(["preset=sample_policies"]).config.sample.policies["prevalence"]
    assert judged == {f"policy={p}" for p in policies}
    region = planted()["borderline_market"]["region"]
    failed = {s["slice"] for s in checks["borderline_flag_rate"]["slices"]
              if s["status"] == "fail"}
    assert f"region={region}" in failed and verdict["verdict"] == "fail"
    comparison = pd.read_parquet(world / "outputs/compare/comparison.parquet")
    assert {"policy", "policy&region"} <= set(comparison["dimension"])
    rca = pd.read_parquet(world / "outputs/errors/rca.parquet")
    assert "policy" in set(rca["dimension"])


def test_macro_is_the_mean_of_the_policy_slices(world: Path) -> None:
    table = pd.read_parquet(world / "outputs/evaluate/slice_metrics.parquet")
    head = json.loads((world / "outputs/evaluate/metrics.json").read_text())
    for model, numbers in head.items():
        rows = table[(table["model"] == model) & (table["dimension"] == "policy")]
        assert numbers["n_policies"] == len(rows) == 6
        for metric in ("recall", "fpr", "precision"):
            assert numbers[f"macro_{metric}"] == pytest.approx(rows[metric].mean(), abs=1e-6)
        # Per-policy operating points of the preset: minor_safety at 0.3.
        minor = rows[rows["slice"] == "policy=minor_safety"].iloc[0]
        assert minor["threshold"] == 0.3
