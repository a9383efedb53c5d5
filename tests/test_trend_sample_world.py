"""`smo-eval trend` on the sample world (its six weeks of history and six of period): both
planted changes alarm within two periods of their start and name it, nothing else alarms but
the drift window's own planted changes, the series are stepped MLflow metrics, the gate's
trend check reads the alarms, and the report's trend section draws in Chromium (en, zh)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from smo_eval.report.browser import Page
from smo_eval.slicekey import to_json
from tests.cli_helpers import invoke
from tests.conftest import browser
from tests.settings import config, planted

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "smo_eval.cli"]
PLANTED = planted()
TREND = PLANTED["trend"]


def _smo(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([*CLI, *args], cwd=folder, text=True, capture_output=True,
                         env={**os.environ, "SMO_EVAL_DEBUG": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sample world (60,000 period items + history) and its trend, recorded in a
    SQLite MLflow store."""
    folder = tmp_path_factory.mktemp("trend-world")
    shutil.copytree(ROOT / "conf", folder / "conf")
    _smo(folder, "sample", "mlflow.enabled=false")
    _smo(folder, "trend", f"mlflow.tracking_uri=sqlite:///{folder / 'mlflow.db'}")
    return folder


def _index(label: str, periods: list[str]) -> int:
    return periods.index(label)


def test_planted_changes_alarm_within_two_periods_and_name_their_start(world: Path) -> None:
    alarms = pd.read_csv(world / "outputs/trend/alarms.csv", encoding="utf-8-sig")
    table = pd.read_parquet(world / "outputs/trend/trend.parquet")
    periods = list(table.sort_values("period_index")["period"].drop_duplicates())
    fall, decay = TREND["recall_fall"], TREND["annotator_decay"]
    category = to_json((("risk_category", fall["category"]),))
    for model in fall["models"]:
        mine = alarms[(alarms["subject"] == model) & (alarms["slice_key"] == category)
                      & (alarms["metric"] == "recall")]
        first = mine.sort_values("alarm_index").iloc[0]
        assert first["change_period"] == fall["week"]
        assert 0 <= first["alarm_index"] - _index(fall["week"], periods) <= 2
        assert first["value_since_change"] < first["baseline_value"] - 0.1
    qa = alarms[alarms["kind"] == "annotator"]
    assert set(qa["subject"]) == {decay["annotator_id"]}
    first = qa.sort_values("alarm_index").iloc[0]
    assert (first["metric"], first["change_period"]) == ("agreement", decay["week"])
    assert 0 <= first["alarm_index"] - _index(decay["week"], periods) <= 2
    # The stable remainder: every alarmed series first alarms at one of the world's planted
    # changes - the recall fall, the annotator, or the drift window (its score shift raises
    # v1's FPR in Arabic, its new term hides Mandarin drug violations). (The chart restarts
    # after each alarm, so a KPI that stays down alarms again, with a later start.)
    drift = PLANTED["drift"]
    window = f"{pd.Timestamp(drift['current'][0]).isocalendar().year}-W" \
             f"{pd.Timestamp(drift['current'][0]).isocalendar().week:02d}"
    starts = {fall["week"]: {"recall"}, decay["week"]: {"agreement"},
              window: {"recall", "fpr"}}
    firsts = alarms.sort_values("alarm_index").drop_duplicates(
        ["kind", "subject", "slice_key", "metric"])
    for r in firsts.itertuples():
        assert r.metric in starts.get(r.change_period, set()), r
    assert not (alarms["kind"] == "reviewer").any()
    fpr = alarms[alarms["metric"] == "fpr"]
    assert set(fpr["subject"]) == {drift["score_shift"]["model"]}
    assert to_json((("language", drift["score_shift"]["language"]),)) in set(fpr["slice_key"])
    series = pd.read_csv(world / "outputs/trend/series.csv", encoding="utf-8-sig")
    quiet = series[series["state"] == "in_control"]
    assert len(quiet) > 5 * len(alarms)
    metrics = json.loads((world / "outputs/trend/metrics.json").read_text(encoding="utf-8"))
    assert metrics["alarms"] == len(alarms) and metrics["level"] == config().trend.detect.level


def test_series_are_stepped_mlflow_metrics(world: Path) -> None:
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{world / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string="tags.`smo_eval.stage` = 'trend'")
    assert len(runs) == 1
    run = runs[0]
    assert 10 < len(run.data.metrics) < 100
    table = pd.read_parquet(world / "outputs/trend/trend.parquet")
    overall = table[(table["subject"] == "v1") & (table["slice"] == "overall")
                    & (table["metric"] == "recall")].sort_values("period_index")
    history = client.get_metric_history(run.info.run_id, "v1/recall/overall")
    assert [m.step for m in history] == overall["period_index"].tolist()
    assert [m.value for m in history] == pytest.approx(overall["value"].tolist())
    decay = TREND["annotator_decay"]
    steps = client.get_metric_history(run.info.run_id,
                                      f"qa/annotator/{decay['annotator_id']}/agreement")
    assert len({m.step for m in steps}) >= 10
    gambling = client.get_metric_history(run.info.run_id,
                                         "v1/recall/risk_category:gambling")
    assert len(gambling) >= 10
    assert run.data.metrics["trend/alarms"] == json.loads(
        (world / "outputs/trend/metrics.json").read_text())["alarms"]


def test_gate_trend_check_reads_the_alarms(world: Path) -> None:
    off = [f"~gate.checks.{name}" for name in config().gate.checks]
    fall = TREND["recall_fall"]
    check = ("gate.checks.trend={kind: trend, metrics: [recall], periods: 2, "
             "slices: ['risk_category=*']}")
    out = subprocess.run([*CLI, "gate", *off, check, "mlflow.enabled=false"], cwd=world,
                         text=True, capture_output=True)
    assert out.returncode == 1, out.stderr[-2000:]
    verdict = json.loads((world / "outputs/gate/gate.json").read_text(encoding="utf-8"))
    slices = verdict["checks"][0]["slices"]
    failed = {s["slice"] for s in slices if s["status"] == "fail"}
    assert f"{verdict['candidate']} recall @ risk_category={fall['category']}" in failed
    assert any(s["status"] == "pass" for s in slices)



@pytest.mark.parametrize("lang", ["en", "zh"])
def test_trend_section_draws_its_charts_in_chromium(world: Path, lang: str) -> None:
    _smo(world, "report", f"report.lang={lang}", "report.png=false", "mlflow.enabled=false")
    html = world / "outputs/report/report.html"
    with Page(browser()) as page:
        assert page.open(html) == "1"
        title = page.evaluate("document.querySelector('#trend h2').firstChild.textContent")
        charts = page.evaluate("Array.from(document.querySelectorAll('#trend div.plot'))"
                               ".map(d => [d.id, d.data ? d.data.length : 0, "
                               "d.querySelector('.main-svg') ? d.querySelector('.main-svg')"
                               ".getBoundingClientRect().height : 0])")
        findings = page.evaluate("Array.from(document.querySelectorAll('#trend li'))"
                                 ".map(li => li.textContent)")
        assert page.errors == []
    assert title.strip() == {"en": "KPI trends and change alarms", "zh": "KPI 趋势与变化告警"}[lang]
    assert len(charts) >= 8 and all(n >= 2 and h > 100 for _, n, h in charts), charts
    fall = TREND["recall_fall"]
    assert any(fall["category"] in f and fall["week"] in f for f in findings), findings
    md = (world / "outputs/report/report.md").read_text(encoding="utf-8")
    assert {"en": "## KPI trends and change alarms (ran)",
            "zh": "## KPI 趋势与变化告警 (已运行)"}[lang] in md


def test_gold_versions_as_periods(project: Path) -> None:
    """trend.period=gold_version: each gold item's period is the first store version that
    holds it; a new version is a new period (the store's manifest is a lineage input)."""
    invoke("sample", "sample.n_items=3000", "mlflow.enabled=false")
    gold = pd.read_parquet(project / "data/sample/gold.parquet").sort_values("labeled_at")
    cuts = [len(gold) // 3, 2 * len(gold) // 3, len(gold)]
    inputs = ["data.items=data/sample/items.parquet", "data.predictions=preds.parquet",
              "data.gold=gold:latest", "trend.period=gold_version", "mlflow.enabled=false"]
    predictions = pd.read_parquet(project / "data/sample/predictions.parquet")

    def deliver(number: int, cut: int) -> None:
        """A cumulative gold version, and the scores of the items it holds."""
        gold.iloc[:cut].to_parquet(project / f"d{number}.parquet", index=False)
        invoke("gold", "ingest", f"d{number}.parquet", "--name", f"delivery-{number}",
               "mlflow.enabled=false")
        predictions[predictions["item_id"].isin(gold["item_id"].iloc[:cut])].to_parquet(
            project / "preds.parquet", index=False)

    deliver(1, cuts[0])
    deliver(2, cuts[1])
    invoke("trend", *inputs)
    table = pd.read_parquet(project / "outputs/trend/trend.parquet")
    overall = table[(table["subject"] == "v1") & (table["slice"] == "overall")
                    & (table["metric"] == "recall")]
    assert overall["period"].tolist() == ["delivery-1", "delivery-2"]
    positives = gold["label"].to_numpy() == 1
    assert overall["denominator"].tolist() == [int(positives[:cuts[0]].sum()),
                                               int(positives[cuts[0]:cuts[1]].sum())]
    deliver(3, cuts[2])
    invoke("trend", *inputs)
    table = pd.read_parquet(project / "outputs/trend/trend.parquet")
    assert list(table.sort_values("period_index")["period"].drop_duplicates()) == [
        "delivery-1", "delivery-2", "delivery-3"]


def test_trend_without_its_time_column_is_skipped_and_says_why(project: Path) -> None:
    invoke("sample", "sample.n_items=2000", "mlflow.enabled=false")
    out = invoke("trend", "trend.time_column=posted_at", "mlflow.enabled=false")
    assert "trend skipped: the evaluation table has no 'posted_at' column" in out
    metrics = json.loads((project / "outputs/trend/metrics.json").read_text(encoding="utf-8"))
    assert metrics["alarms"] == 0 and "posted_at" in metrics["skipped"]
    assert not (project / "outputs/trend/trend.csv").exists()
    invoke("trend", "trend.detect.metrics=[auc]", "mlflow.enabled=false", code=2)
