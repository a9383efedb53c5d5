"""trend's statistics: ISO-week periods, counts equal to evaluate's, exact intervals and KPI
status, QA against a leave-one-out reference, the CUSUM against a direct loop, sparse series,
the family-wise false-alarm rate over 200 simulated stable histories, and the gate check."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.proportion import proportion_confint

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_more import CheckSpec, GateConfig
from smo_eval.config.schema_trend import TrendConfig, TrendDetectConfig
from smo_eval.errors import ConfigError
from smo_eval.slicekey import to_json
from smo_eval.stages.evaluate import evaluate
from smo_eval.stages.gate import FAIL, INSUFFICIENT, PASS, GateTables, evaluate_gate
from smo_eval.stages.trend import trend
from smo_eval.stages.trend_detect import baselines, cusum, design, detect
from smo_eval.stages.trend_kpi import status
from smo_eval.stages.trend_periods import GoldVersion, calendar, units, version_calendar
from smo_eval.stages.trend_qa import annotators, leave_one_out, qa_frame
from smo_eval.taxonomy import Taxonomy
from tests.settings import config

TAXONOMY = Taxonomy.from_config(config().taxonomy)
REGIONS = ["A", "B", "C", "D", "E"]
CATEGORIES = ["gambling", "spam", "drugs", "harassment", "hate_speech"]


def test_periods_are_iso_weeks_days_and_months_in_one_calendar() -> None:
    days = [date(2026, 12, 24) + timedelta(days=i) for i in range(0, 20, 3)]
    times = pd.Series(pd.to_datetime(days) + pd.Timedelta(hours=23, minutes=59))
    times[2] = pd.NaT
    weeks, found = calendar([units(times, "week")], "week", ["created_at"])
    iso = [f"{d.isocalendar().year}-W{d.isocalendar().week:02d}" for d in days]
    got = [weeks.labels[i] if i >= 0 else None for i in found[0]]
    assert got == [None if i == 2 else w for i, w in enumerate(iso)]
    assert "2026-W53" in weeks.labels and weeks.labels[-1] == "2027-W02"
    assert all(s.weekday() == 0 for s in weeks.starts)          # Mondays
    assert len(weeks) == len(set(weeks.labels)) == 4             # contiguous, gaps included
    months, found = calendar([units(times, "month")], "month", ["created_at"])
    assert months.labels == ["2026-12", "2027-01"] and found[0][2] == -1
    daily, found = calendar([units(times, "day")], "day", ["created_at"])
    assert daily.labels[found[0][-1]] == days[-1].isoformat() and len(daily) == 19
    stray = pd.Series(pd.to_datetime(["1900-01-01", "2026-10-01"]))
    with pytest.raises(ConfigError, match=r"1900-01.*stray dates"):
        calendar([units(stray, "day")], "day", ["created_at"])


def test_gold_versions_are_periods_by_first_appearance() -> None:
    versions = [GoldVersion("v", pd.Timestamp("2026-01-01"), pd.Series([1, 2, 3])),
                GoldVersion("v", pd.Timestamp("2026-02-01"), pd.Series([1, 2, 3, 4, 5])),
                GoldVersion("w", pd.Timestamp("2026-03-01"), pd.Series(["5", "6"]))]
    cal, (found,) = version_calendar(versions, [pd.Series([6, 5, 4, 1, 9])])
    assert cal.labels == ["v#1", "v#2", "w"]
    assert found.tolist() == [2, 1, 1, 0, -1]
    with pytest.raises(ConfigError, match="no versions"):
        version_calendar([], [pd.Series([1])])


def _history(rng: np.random.Generator, periods: int, per_period: int,
             shift: dict[int, float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stable world of `periods` weeks: two models, five regions, five categories; `shift`
    moves model m1's violating logits by period (a planted change)."""
    n = periods * per_period
    week = np.repeat(np.arange(periods), per_period)
    created = pd.Timestamp("2026-01-05") + pd.to_timedelta(week * 7 + rng.random(n) * 7, "D")
    region = rng.choice(REGIONS, n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    label = rng.random(n) < np.where(region == "A", 0.2, 0.12)
    category = np.where(label, rng.choice(CATEGORIES, n, p=[0.3, 0.25, 0.2, 0.15, 0.1]),
                        "none")
    shared = rng.standard_normal(n)
    scores = {}
    for model, (mean, noise) in {"m1": (2.0, 1.2), "m2": (2.6, 1.0)}.items():
        logit = np.where(label, mean, -3.0) + 0.8 * shared + noise * rng.standard_normal(n)
        if shift and model == "m1":
            logit += label * np.vectorize(lambda w: shift.get(w, 0.0))(week)
        scores[model] = (1 / (1 + np.exp(-logit))).astype(np.float32)
    table = pd.DataFrame({"item_id": np.arange(n), "label": label.astype(np.int8),
                          "region": pd.Categorical(region),
                          "risk_category": pd.Categorical(category), "created_at": created})
    return table, pd.DataFrame(scores)


CFG = TrendConfig(dimensions=["region", "risk_category"], crosses=[["region", "risk_category"]],
                  detect=TrendDetectConfig(metrics=["recall", "precision", "fpr"],
                                           slices=["overall", "region=*", "risk_category=*"]))


def _run(table: pd.DataFrame, scores: pd.DataFrame, cfg: TrendConfig = CFG,
         seed: int = 1) -> object:
    return trend(table, scores, None, cfg, SlicingConfig(), TAXONOMY,
                 thresholds={"m1": 0.5, "m2": np.where(table["region"] == "A", 0.4, 0.5)},
                 level=0.95, seed=seed)


def test_counts_per_period_add_up_to_evaluate_and_intervals_are_exact() -> None:
    table, scores = _history(np.random.default_rng(1), 8, 1500)
    found = _run(table, scores)
    per = found.table[found.table["kind"] == "model"]
    evaluation = evaluate(table, scores, config().evaluate, SlicingConfig(
        dimensions=["region", "risk_category"], crosses=[["region", "risk_category"]]),
        thresholds={"m1": 0.5, "m2": np.where(table["region"] == "A", 0.4, 0.5)})
    ev = evaluation.slice_metrics.set_index(["model", "slice_key"])
    for metric, (num, den) in {"recall": ("tp", ["tp", "fn"]), "fpr": ("fp", ["fp", "tn"]),
                               "precision": ("tp", ["tp", "fp"])}.items():
        rows = per[per["metric"] == metric]
        summed = rows.groupby(["subject", "slice_key"])[["numerator", "denominator"]].sum()
        expected = ev.loc[summed.index]
        assert (summed["numerator"] == expected[num]).all()
        assert (summed["denominator"] == expected[den].sum(axis=1)).all()
    row = per[(per["metric"] == "recall") & (per["slice"] == "region=B")].iloc[3]
    exact = stats.binomtest(int(row["numerator"]), int(row["denominator"])).proportion_ci(
        0.95, method="exact")
    assert (row["lo"], row["hi"]) == pytest.approx((exact.low, exact.high), abs=1e-12)
    # the targets are the taxonomy's: gambling recall against 0.80, its status by the interval
    gambling = per[(per["slice_key"] == to_json((("risk_category", "gambling"),)))
                   & (per["metric"] == "recall")]
    assert (gambling["target"] == 0.80).all()
    expected_status = np.where(gambling["lo"] >= 0.8, "met",
                               np.where(gambling["hi"] < 0.8, "missed", "unclear"))
    assert gambling["status"].tolist() == expected_status.tolist()


def test_status_is_met_missed_or_unclear_by_the_whole_interval() -> None:
    lo, hi = np.array([0.81, 0.70, 0.75, 0.01]), np.array([0.90, 0.79, 0.85, 0.03])
    target = np.array([0.80, 0.80, 0.80, np.nan])
    assert status("recall", lo, hi, target).tolist() == ["met", "missed", "unclear",
                                                         "no_target"]
    assert status("fpr", np.array([0.01, 0.03, 0.015]), np.array([0.019, 0.05, 0.025]),
                  np.full(3, 0.02)).tolist() == ["met", "missed", "unclear"]


def test_annotators_meet_a_leave_one_out_reference_and_kappa_is_cohens() -> None:
    notes = pd.DataFrame({"item_id": [1, 1, 1, 2, 2, 2, 3, 3, 4],
                          "annotator_id": ["a", "b", "c", "a", "b", "c", "a", "b", "a"],
                          "label": [1, 1, 0, 0, 0, 1, 1, 0, 1]})
    # a's reference on item 1 is b + c = (1, 0): a tie, so none; c's is a + b = (1, 1): 1;
    # on item 3 each of the two is the other's reference; item 4 has one judgment: none
    assert leave_one_out(notes).tolist() == [-1, -1, 1, -1, -1, 0, 0, 1, -1]
    rng = np.random.default_rng(4)
    many = pd.DataFrame({"item_id": np.repeat(np.arange(400), 3),
                         "annotator_id": np.tile(["a", "b", "c"], 400),
                         "label": rng.integers(0, 2, 1200)})
    frame = qa_frame([annotators(many, np.zeros(1200, dtype=np.int64))], level=0.95,
                     period_labels=["2026-W01"], period_starts=[pd.Timestamp("2026-01-01")])
    ref = leave_one_out(many)
    for who in ("a", "b"):
        mine = (many["annotator_id"] == who).to_numpy() & (ref >= 0)
        kappa = frame[(frame["subject"] == who) & (frame["metric"] == "kappa")]["value"].item()
        assert kappa == pytest.approx(cohen_kappa_score(ref[mine], many["label"][mine]))
        agree = frame[(frame["subject"] == who) & (frame["metric"] == "agreement")].iloc[0]
        assert agree["denominator"] == mine.sum()
        assert agree["numerator"] == (ref[mine] == many["label"].to_numpy()[mine]).sum()
        volume = frame[(frame["subject"] == who) & (frame["metric"] == "volume")]["value"]
        assert volume.item() == 400


def test_cusum_matches_a_direct_loop_and_names_the_change() -> None:
    cfg = TrendDetectConfig(baseline_periods=3, min_periods=2, min_baseline=10)
    trials = np.array([[100, 120, 90, 110, 100, 130, 100, 95]], dtype=float)
    bad = np.array([[10, 13, 8, 9, 11, 35, 40, 30]], dtype=float)
    base = baselines(trials, cfg, bad)
    assert base.end.tolist() == [2] and base.n0.tolist() == [310] and base.x0.tolist() == [31]
    up, down = design(base.x0, base.n0, cfg)
    p0 = proportion_confint(31, 310, alpha=2 * stats.norm.sf(2.0), method="wilson")[1]
    p1 = 2 * p0 / (1 - p0) / (1 + 2 * p0 / (1 - p0))
    s, expected = 0.0, []
    for t in range(3, 8):
        s = max(0.0, s + bad[0, t] * np.log(p1 / p0)
                + (trials[0, t] - bad[0, t]) * np.log((1 - p1) / (1 - p0)))
        expected.append(s)
    assert up[0] == pytest.approx(np.log(p1 / p0)) and down[0] == pytest.approx(
        np.log((1 - p1) / (1 - p0)))
    path = cusum(trials, bad, base.end, up, down)
    assert np.isnan(path[0, :3]).all()
    assert path[0, 3:] == pytest.approx(expected)
    found = detect(trials, bad, cfg, np.random.default_rng(0))
    assert found.state == ["alarm"]
    assert found.episodes == [{"series": 0, "change": 5, "alarm": 5, "end": 7}]


def test_sparse_series_are_not_enough_data_and_never_alarm() -> None:
    cfg = TrendDetectConfig()
    trials = np.array([[40, 0, 30, 0, 20, 500, 500],        # 5 periods with data < 4 + 2
                       [10, 10, 10, 10, 10, 10, 10],       # baseline of 40 trials < 50
                       [100] * 7], dtype=float)
    bad = np.array([[1, 0, 1, 0, 1, 500, 500], [1, 1, 1, 1, 1, 10, 10],
                    [10, 9, 11, 10, 10, 12, 9]], dtype=float)
    found = detect(trials, bad, cfg, np.random.default_rng(0))
    assert found.state == ["not_enough_data", "not_enough_data", "in_control"]
    assert found.baselines.reason[:2] == ["5 periods with data; needs 4 baseline + 2",
                                          "baseline of 40 trials < 50"]
    assert not found.in_alarm[:2].any() and np.isnan(found.cusum[:2]).all()


@pytest.mark.slow
def test_stable_histories_keep_the_family_wise_false_alarm_rate() -> None:
    """200 item-level histories with no change, ~56 monitored series each (2 models x
    overall, 5 regions, 5 categories x recall/precision, FPR where defined): the share with
    any alarm stays within 3 standard errors of the configured level."""
    cfg = replace(CFG, crosses=[])
    shares, monitored = [], []
    for i in range(200):
        table, scores = _history(np.random.default_rng([20261124, i]), 10, 1500)
        found = _run(table, scores, cfg, seed=i)
        shares.append(len(found.alarms) > 0)
        monitored.append(found.headline["monitored"])
    level = cfg.detect.level
    share = float(np.mean(shares))
    assert min(monitored) >= 50
    assert share <= level + 3 * np.sqrt(level * (1 - level) / len(shares)), share


def test_a_planted_shift_alarms_in_its_period() -> None:
    table, scores = _history(np.random.default_rng(7), 10, 1500, shift={7: -2.0, 8: -2.0,
                                                                         9: -2.0})
    found = _run(table, scores)
    overall = found.alarms[(found.alarms["subject"] == "m1") & (found.alarms["slice"] ==
                                                                 "overall")]
    assert overall[["metric", "change_period", "alarm_period"]].values.tolist() == [
        ["recall", "2026-W09", "2026-W09"]]
    assert set(found.alarms["subject"]) == {"m1"}
    assert set(found.alarms["change_period"]) == {"2026-W09"}


def _gate(spec: CheckSpec, series: pd.DataFrame, alarms: pd.DataFrame) -> object:
    gate = GateConfig(checks={"trend": spec})
    tables = GateTables(metrics=pd.DataFrame(), trend=(series, alarms))
    return evaluate_gate(tables, gate, TAXONOMY, "m1", "m2").checks[0]


def test_gate_trend_check_fails_on_a_recent_alarm_only() -> None:
    table, scores = _history(np.random.default_rng(7), 10, 1500, shift={4: -2.0, 5: -2.0})
    found = _run(table, scores)
    alarm = found.alarms[(found.alarms["subject"] == "m1") & (found.alarms["slice"] ==
                                                               "overall")]
    assert alarm[["change_period", "end_period"]].values.tolist() == [["2026-W06", "2026-W07"]]
    spec = CheckSpec(kind="trend", metrics=["recall"], slices=["overall"], periods=1)
    recent = _gate(spec, found.series, found.alarms)
    assert recent.status == PASS           # the episode ended four periods before the last
    wide = _gate(replace(spec, periods=5), found.series, found.alarms)
    assert wide.status == FAIL and "changed from 2026-W06" in wide.slices[0].reason
    other = _gate(replace(spec, subjects=["m2"], periods=5), found.series, found.alarms)
    assert other.status == PASS
    sparse = found.series.assign(state="not_enough_data", reason="baseline of 3 trials < 50")
    assert _gate(spec, sparse, found.alarms).status == INSUFFICIENT
    nothing = _gate(replace(spec, slices=["region=Z"]), found.series, found.alarms)
    assert nothing.status == FAIL and "no slice matches" in nothing.reason
    skipped = evaluate_gate(GateTables(metrics=pd.DataFrame()), GateConfig(
        checks={"t": spec}), TAXONOMY, "m1", "m2").checks[0]
    assert skipped.status == "skipped"
    with pytest.raises(ConfigError, match="trend alarms exist for"):
        _gate(replace(spec, metrics=["f1"]), found.series, found.alarms)


def test_bad_trend_settings_are_config_errors() -> None:
    table, scores = _history(np.random.default_rng(1), 6, 300)
    with pytest.raises(ConfigError, match=r"trend\.detect\.metrics"):
        _run(table, scores, replace(CFG, detect=replace(CFG.detect, metrics=["auc"])))
    with pytest.raises(ConfigError, match=r"trend\.models"):
        _run(table, scores, replace(CFG, models=["m9"]))
    with pytest.raises(ConfigError, match=r"trend\.time_column='day'"):
        _run(table, scores, replace(CFG, time_column="day"))


def test_reviewers_are_audited_against_the_annotators_majority() -> None:
    """Gold reviewers against the majority of raw judgments on the items both labelled;
    judgments without a time column are dated by their item (text item ids in the
    annotations still match integer ids in gold)."""
    rng = np.random.default_rng(5)
    table, scores = _history(rng, 6, 500)
    table["reviewer"] = rng.choice(["r1", "r2"], len(table))
    audited = rng.choice(len(table), 600, replace=False)
    truth = table["label"].to_numpy()[audited]
    votes = np.where(rng.random((600, 3)) < 0.85, truth[:, None], 1 - truth[:, None])
    notes = pd.DataFrame({"item_id": np.repeat(table["item_id"].to_numpy()[audited], 3)
                          .astype(str), "annotator_id": np.tile(["a", "b", "c"], 600),
                          "label": votes.ravel().astype(np.int8)})
    found = trend(table, scores, notes, CFG, SlicingConfig(), TAXONOMY,
                  thresholds={"m1": 0.5, "m2": 0.5}, level=0.95, seed=1)
    qa = found.table[found.table["kind"] == "reviewer"]
    majority = (votes.sum(axis=1) >= 2).astype(int)
    week = ((table["created_at"] - pd.Timestamp("2026-01-05")).dt.days // 7).to_numpy()
    for who in ("r1", "r2"):
        mine = (table["reviewer"].to_numpy()[audited] == who) & (week[audited] == 2)
        row = qa[(qa["subject"] == who) & (qa["period_index"] == 2)].set_index("metric")
        gold = table["label"].to_numpy()[audited][mine]
        assert row.loc["agreement", "denominator"] == mine.sum()
        assert row.loc["agreement", "numerator"] == (gold == majority[mine]).sum()
        assert row.loc["kappa", "value"] == pytest.approx(cohen_kappa_score(majority[mine],
                                                                            gold))
        volume = ((table["reviewer"] == who).to_numpy() & (week == 2)).sum()
        assert row.loc["volume", "value"] == volume
    judged = found.table[(found.table["kind"] == "annotator") & (found.table["metric"]
                                                                  == "volume")]
    assert judged.groupby("period_index")["value"].sum().to_dict() == {
        w: 3 * int((week[audited] == w).sum()) for w in range(6)}
