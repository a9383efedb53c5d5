"""trend on COLD (real Mandarin comments): the test set split into ten weekly periods by a
seeded permutation (so the periods are exchangeable: nothing changed), scored by the two
baselines trained on COLD train. No alarm fires; with one period's predictions degraded on
purpose, that period alarms and is named as the start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_trend import TrendConfig, TrendDetectConfig
from smo_eval.stages.trend import trend
from smo_eval.taxonomy import Taxonomy
from tests import real_baselines
from tests.settings import config

pytestmark = pytest.mark.shared_data
PERIODS, DEGRADED = 10, 7
CFG = TrendConfig(dimensions=["topic"], crosses=[],
                  detect=TrendDetectConfig(metrics=["recall", "precision", "fpr"],
                                           slices=["overall", "topic=*"]))


@pytest.fixture(scope="module")
def cold(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """COLD test: items dated into ten weeks by a seeded permutation, and both baselines'
    scores."""
    test = pd.read_csv(shared_data / "cold/test.csv", encoding="utf-8-sig")
    baselines = real_baselines.train(shared_data)
    features = baselines["vectorizer"].transform(test["TEXT"])
    scores = pd.DataFrame({m: baselines[m].predict_proba(features)[:, 1].astype(np.float32)
                           for m in real_baselines.MODELS})
    period = np.random.default_rng(20261124).permutation(len(test)) % PERIODS
    hours = np.random.default_rng(7).uniform(0, 7 * 24, len(test))
    table = pd.DataFrame({
        "item_id": np.arange(len(test)), "label": test["label"].astype(np.int8),
        "topic": test["topic"].astype("category"),
        "created_at": pd.Timestamp("2026-03-02") + pd.to_timedelta(period * 168 + hours, "h")})
    return table, scores


def _trend(table: pd.DataFrame, scores: pd.DataFrame) -> Any:
    return trend(table, scores, None, CFG, SlicingConfig(), Taxonomy.from_config(
        config().taxonomy), thresholds={m: 0.5 for m in scores.columns}, level=0.95, seed=3)


def test_no_alarm_on_exchangeable_periods_of_cold(cold: tuple[pd.DataFrame, pd.DataFrame]
                                                  ) -> None:
    table, scores = cold
    found = _trend(table, scores)
    assert found.headline["periods"] == PERIODS
    # 2 models x (overall + 3 topics) x recall, precision, FPR: all monitored, none alarms
    assert found.headline["monitored"] == found.headline["series"] == 24
    assert found.alarms.empty, found.alarms
    recall = found.table[(found.table["subject"] == "lr") & (found.table["slice"] == "overall")
                         & (found.table["metric"] == "recall")]
    assert recall["denominator"].sum() == int(table["label"].sum())


def test_one_degraded_period_alarms_and_is_named(cold: tuple[pd.DataFrame, pd.DataFrame]
                                                 ) -> None:
    table, scores = cold
    week = ((table["created_at"] - table["created_at"].min()).dt.days // 7).to_numpy()
    degraded = scores.copy()
    hit = week == DEGRADED
    degraded.loc[hit, "lr"] = degraded.loc[hit, "lr"] * 0.6   # fewer flags: recall falls
    found = _trend(table, degraded)
    label = found.calendar.labels[DEGRADED]
    overall = found.alarms[(found.alarms["subject"] == "lr")
                           & (found.alarms["slice"] == "overall")]
    assert overall[["metric", "change_period", "alarm_period", "end_period"]].values.tolist() \
        == [["recall", label, label, label]]
    assert set(found.alarms["subject"]) == {"lr"}
    assert set(found.alarms["change_period"]) == {label}
    assert set(found.alarms["metric"]) <= {"recall"}
