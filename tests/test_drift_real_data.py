"""Drift on real data through `smo-eval drift` with window files: COLD topic-mix windows drift
in topic and in the model's scores, two random halves of one COLD split raise no alarm, and
Hindi and Arabic HateCheck cases added to a Mandarin reference show language drift."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from smo_eval.config.schema_more import EstimateConfig
from smo_eval.engine.slices import build_slice_index
from smo_eval.stages.drift_estimate import estimate_performance
from smo_eval.stages.drift_windows import Window
from tests.conftest import run_cli

OFF = ["mlflow.enabled=false", "drift.evidently.max_rows=5000"]


@pytest.fixture(scope="module")
def cold_model(shared_data: Path) -> tuple[TfidfVectorizer, LogisticRegression]:
    """Character n-gram TF-IDF + logistic regression fit on COLD train."""
    train = pd.read_csv(shared_data / "cold/train.csv", encoding="utf-8-sig")
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), min_df=3, max_features=20_000,
                          sublinear_tf=True, dtype=np.float32)
    model = LogisticRegression(max_iter=1000, C=2.0).fit(vec.fit_transform(train["TEXT"]),
                                                          train["label"])
    return vec, model


def _write_window(folder: Path, name: str, frame: pd.DataFrame, model: tuple) -> list[str]:
    """items / gold / predictions CSVs of one window; returns the Hydra override."""
    vec, clf = model
    frame = frame.reset_index(drop=True)
    ids = frame["item_id"]
    frame.drop(columns=["label"]).to_csv(folder / f"{name}_items.csv", index=False)
    pd.DataFrame({"item_id": ids, "label": frame["label"]}).to_csv(
        folder / f"{name}_gold.csv", index=False)
    pd.DataFrame({"item_id": ids, "model": "char_lr",
                  "score": clf.predict_proba(vec.transform(frame["text"]))[:, 1]}).to_csv(
        folder / f"{name}_preds.csv", index=False)
    return [f"drift.{name}_data={{items:{name}_items.csv,gold:{name}_gold.csv,"
            f"predictions:{name}_preds.csv}}"]


def _cold(shared_data: Path) -> pd.DataFrame:
    frames = [pd.read_csv(shared_data / f"cold/{s}.csv", encoding="utf-8-sig")
              for s in ("dev", "test")]
    cold = pd.concat(frames, ignore_index=True)
    return pd.DataFrame({"item_id": np.arange(len(cold)), "topic": cold["topic"],
                         "language": "zh", "text": cold["TEXT"], "label": cold["label"]})


def _drift(project: Path, overrides: list[str]) -> dict:
    result = run_cli("drift", *OFF, *overrides)
    assert result.exit_code == 0, result.output
    return json.loads((project / "outputs/drift/drift.json").read_text(encoding="utf-8"))


@pytest.mark.shared_data
def test_cold_topic_mix_shift_drifts_topic_and_scores(project: Path, shared_data: Path,
                                                      cold_model: tuple) -> None:
    cold = _cold(shared_data)
    by_topic = {t: g.sample(frac=1.0, random_state=1) for t, g in cold.groupby("topic")}
    # Reference: race and gender with a little region; current: mostly region.
    ref = pd.concat([by_topic["race"].iloc[:1800], by_topic["gender"].iloc[:1800],
                     by_topic["region"].iloc[:300]])
    cur = pd.concat([by_topic["region"].iloc[300:2700], by_topic["race"].iloc[1800:2100],
                     by_topic["gender"].iloc[1800:2100]])
    assert len(set(ref["item_id"]) & set(cur["item_id"])) == 0
    report = _drift(project, _write_window(project, "reference", ref, cold_model)
                    + _write_window(project, "current", cur, cold_model))
    assert report["columns"]["topic"]["drifted"] is True
    score = report["columns"]["score:char_lr"]
    assert score["drifted"] is True, score
    assert score["p_value"] < 1e-6 and score["evidently"]["method"] == "wasserstein"


@pytest.mark.shared_data
def test_cold_random_halves_raise_no_alarm(project: Path, shared_data: Path,
                                           cold_model: tuple) -> None:
    cold = _cold(shared_data)
    half = np.random.default_rng(42).random(len(cold)) < 0.5
    report = _drift(project, _write_window(project, "reference", cold[half], cold_model)
                    + _write_window(project, "current", cold[~half], cold_model))
    assert report["alarms"] == 0, report["alarm_list"]
    assert {"topic", "label", "score:char_lr"} <= set(report["columns"])


@pytest.mark.shared_data
def test_cold_label_free_estimate_covers_true_performance(shared_data: Path,
                                                          cold_model: tuple) -> None:
    """Over 20 random halves, the estimate's 95% interval holds the true value mostly."""
    cold = _cold(shared_data)
    vec, clf = cold_model
    scores = pd.DataFrame({"char_lr": clf.predict_proba(vec.transform(cold["text"]))[:, 1]})
    whole = Window("all", cold, scores)
    covered = {"precision": [], "recall": []}
    for seed in range(20):
        half = np.random.default_rng(seed).random(len(cold)) < 0.5
        ref, cur = whole.take(np.flatnonzero(half)), whole.take(np.flatnonzero(~half))
        index, _ = build_slice_index(cur.table, ["topic"], [])
        est = estimate_performance(ref, cur, ["char_lr"], {"char_lr": 0.5}, index,
                                   EstimateConfig(calibrate_by=["topic"]))
        for metric, hits in covered.items():
            hits += est[f"{metric}_in_interval"].astype(bool).tolist()
    for metric, hits in covered.items():
        assert np.mean(hits) >= 0.85, (metric, np.mean(hits))


@pytest.mark.shared_data
def test_hatecheck_hindi_and_arabic_added_to_mandarin_is_language_drift(
        project: Path, shared_data: Path, cold_model: tuple) -> None:
    frames = []
    for language, code in (("mandarin", "zh"), ("hindi", "hi"), ("arabic", "ar")):
        cases = pd.read_csv(shared_data / f"mhc/cases/{language}.csv")
        frames.append(pd.DataFrame({
            "item_id": code + "-" + cases["mhc_case_id"].astype(str), "language": code,
            "functionality": cases["functionality"], "text": cases["test_case"],
            "label": (cases["label_gold"] == "hateful").astype(int)}))
    zh = frames[0].sample(frac=1.0, random_state=3)
    ref = zh.iloc[: len(zh) // 2]
    cur = pd.concat([zh.iloc[len(zh) // 2:], frames[1], frames[2]])
    report = _drift(project, _write_window(project, "reference", ref, cold_model)
                    + _write_window(project, "current", cur, cold_model))
    language = report["columns"]["language"]
    assert language["drifted"] is True and language["value"] > 0.5
    assert language["evidently"]["drifted"] is True
    # Mandarin alone did not move: its score slice stays quiet.
    assert report["scores"]["char_lr"]["language=zh"]["drifted"] is False
