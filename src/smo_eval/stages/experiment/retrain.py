"""Retrain: a LightGBM challenger on gold-labelled items (character n-gram TF-IDF of the text
plus one-hot metadata), early-stopped on the validation part.

It scores only rows it never saw in fitting (tune and held_out), under a new model version
name, so compare and gate judge it against the champion on honest rows. The fitted model is
one scikit-learn Pipeline (features + classifier) so MLflow can log and serve it as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from smo_eval.config.schema_report import RetrainConfig, TfidfConfig
from smo_eval.engine.counting import count_model
from smo_eval.engine.metrics import roc_auc
from smo_eval.engine.slices import build_slice_index
from smo_eval.errors import ConfigError

SCORED_PARTS = ("tune", "held_out")


@dataclass
class RetrainResult:
    """The fitted pipeline, its scores (NaN on rows used in fitting) and its numbers."""

    model_name: str
    pipeline: Pipeline
    scores: np.ndarray
    input_example: pd.DataFrame
    metrics: dict[str, float]
    notices: list[str] = field(default_factory=list)


def feature_frame(table: pd.DataFrame, text_column: str, metadata: list[str]) -> pd.DataFrame:
    """The model's input: text as str and metadata as str (what the logged model expects)."""
    frame = pd.DataFrame({"text": table[text_column].astype("string").fillna("").astype(str)})
    for column in metadata:
        frame[column] = table[column].astype("string").fillna("").astype(str)
    return frame


def _features(tfidf: TfidfConfig, metadata: list[str]) -> ColumnTransformer:
    parts: list[tuple[str, Any, Any]] = [("text", TfidfVectorizer(
        analyzer=tfidf.analyzer, ngram_range=(tfidf.ngram_min, tfidf.ngram_max),
        min_df=tfidf.min_df, max_features=tfidf.max_features,
        sublinear_tf=True, dtype=np.float32), "text")]
    if metadata:
        parts.append(("meta", OneHotEncoder(handle_unknown="ignore"), metadata))
    return ColumnTransformer(parts, sparse_threshold=1.0)


def retrain(table: pd.DataFrame, parts: np.ndarray, cfg: RetrainConfig,
            seed: int) -> RetrainResult:
    """Fit on `train` (capped at `max_train_rows`), early-stop on `valid`, score tune+held_out."""
    text_column = cfg.text_column
    if text_column not in table.columns:
        raise ConfigError(f"experiment.retrain.text_column={text_column!r} is not in the data")
    wanted = [str(c) for c in cfg.metadata]
    metadata = [c for c in wanted if c in table.columns]
    notices = [f"retrain: metadata column {c!r} not in the data: skipped"
               for c in wanted if c not in metadata]
    rng = np.random.default_rng(seed)
    train = np.flatnonzero(parts == "train")
    cap = cfg.max_train_rows
    if len(train) > cap:
        train = np.sort(rng.choice(train, cap, replace=False))
        notices.append(f"retrain: training on {cap:,} sampled rows of the train part")
    valid = np.flatnonzero(parts == "valid")
    labels = table["label"].to_numpy().astype(np.int64)
    if len(valid) == 0 or len(np.unique(labels[train])) < 2:
        raise ConfigError("experiment.split leaves no valid rows or one class only in train")
    frame = feature_frame(table, text_column, metadata)
    features = _features(cfg.tfidf, metadata).fit(frame.iloc[train])
    x_train, x_valid = features.transform(frame.iloc[train]), features.transform(frame.iloc[valid])
    classifier = lgb.LGBMClassifier(
        n_estimators=cfg.n_estimators, learning_rate=cfg.learning_rate,
        num_leaves=cfg.num_leaves, max_bin=cfg.max_bin,
        min_child_samples=cfg.min_child_samples,
        colsample_bytree=cfg.colsample_bytree, n_jobs=cfg.n_jobs,
        random_state=seed, verbose=-1)
    classifier.fit(x_train, labels[train], eval_X=(x_valid,), eval_y=(labels[valid],),
                   eval_metric="auc",
                   callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)])
    pipeline = Pipeline([("features", features), ("classifier", classifier)])
    scored = np.flatnonzero(np.isin(parts, SCORED_PARTS))
    scores = np.full(len(table), np.nan, dtype=np.float32)
    proba = np.asarray(classifier.predict_proba(features.transform(frame.iloc[scored])))
    scores[scored] = proba[:, 1]
    best = classifier.best_score_.get("valid_0", {}).get("auc", float("nan"))
    metrics = {"retrain.train_rows": float(len(train)), "retrain.valid_auc": float(best),
               "retrain.best_iteration": float(classifier.best_iteration_ or
                                                classifier.n_estimators),
               "retrain.n_features": float(x_train.shape[1])}
    metrics |= part_aucs(table, parts, scores, cfg.report_by)
    return RetrainResult(cfg.model_name, pipeline, scores, frame.iloc[scored[:3]], metrics,
                         notices)


def part_aucs(table: pd.DataFrame, parts: np.ndarray, scores: np.ndarray,
              report_by: str | None) -> dict[str, float]:
    """ROC-AUC of the new scores on tune and held_out (and per value of `report_by` there)."""
    out: dict[str, float] = {}
    labels = table["label"].to_numpy()
    for part in SCORED_PARTS:
        rows = parts == part
        dims = [report_by] if report_by and report_by in table.columns else []
        index, _ = build_slice_index(table.loc[rows], dims, [])
        stats = count_model(index, labels[rows], scores[rows], 0.5, 8192)
        auc = roc_auc(stats.hist[:, 0], stats.hist[:, 1])
        for name, value in zip(index.names, auc, strict=True):
            suffix = "" if name == "overall" else "." + name.replace("=", ":")
            out[f"retrain.{part}{suffix}.roc_auc"] = float(value)
    return out
