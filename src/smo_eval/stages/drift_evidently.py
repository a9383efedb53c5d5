"""Evidently's column drift tests and HTML report over the two windows.

Evidently 0.7 (`Report` + `DataDriftPreset`) tests every metadata column, each model's score
and the gold columns with the methods configured per kind and per column. Its tests run on
pandas rows and take ~10 s per million, so above `evidently.max_rows` each window is a seeded
random sample; the alarms of `stages.drift` use the full windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_more import EvidentlyConfig
from smo_eval.stages.drift_windows import Window


def score_column(model: str) -> str:
    return f"score:{model}"


def _frame(window: Window, columns: Sequence[str], models: Sequence[str], limit: int,
           rng: np.random.Generator) -> pd.DataFrame:
    rows = np.arange(len(window))
    if len(rows) > limit:
        rows = np.sort(rng.choice(len(rows), size=limit, replace=False))
    frame = window.table.iloc[rows][list(columns)].reset_index(drop=True)
    for column in columns:  # Evidently wants plain values, not pandas categoricals
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype("string").fillna("<missing>").astype(object)
    for model in models:
        frame[score_column(model)] = window.scores[model].to_numpy()[rows].astype(np.float64)
    return frame


def evidently_drift(reference: Window, current: Window, categorical: Sequence[str],
                    numeric: Sequence[str], models: Sequence[str], cfg: EvidentlyConfig,
                    seed: int) -> tuple[Any, pd.DataFrame]:
    """Run the Evidently report; returns the snapshot (for HTML) and one row per column."""
    from evidently import DataDefinition, Dataset, Report  # slow import (~3 s): only here
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(seed)
    limit = cfg.max_rows
    columns = [*categorical, *numeric]
    ref = _frame(reference, columns, models, limit, rng)
    cur = _frame(current, columns, models, limit, rng)
    scores = [score_column(m) for m in models]
    definition = DataDefinition(categorical_columns=list(categorical),
                                numerical_columns=[*numeric, *scores])
    preset = DataDriftPreset(
        columns=[*columns, *scores],
        cat_method=cfg.cat_method, cat_threshold=cfg.cat_threshold,
        num_method=cfg.num_method, num_threshold=cfg.num_threshold,
        per_column_method=dict(cfg.per_column_method) or None,
        per_column_threshold=dict(cfg.per_column_threshold) or None)
    snapshot = Report([preset], include_tests=True).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition))
    return snapshot, _column_results(snapshot, len(ref), len(cur))


def _column_results(snapshot: Any, n_ref: int, n_cur: int) -> pd.DataFrame:
    """Evidently's per-column drift values (ValueDrift metrics) and test outcomes."""
    rows = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config") or {}
        if "column" not in config or not str(metric.get("metric_name", "")).startswith(
                "ValueDrift"):
            continue
        method = str(config.get("method") or "")
        threshold = config.get("threshold")
        # Evidently sums over Python sets, whose order follows PYTHONHASHSEED: the last two
        # digits vary between processes. 12 significant digits are the same in every run.
        value = float(f"{float(metric['value']):.12g}")
        rows.append({"column": str(config["column"]), "evidently_method": method,
                     "evidently_value": value, "evidently_threshold": threshold,
                     "evidently_rows": f"{n_ref}/{n_cur}"})
    frame = pd.DataFrame(rows, columns=["column", "evidently_method", "evidently_value",
                                        "evidently_threshold", "evidently_rows"])
    tests = snapshot.dict().get("tests") or []
    failed = {str((t.get("metric_config") or {}).get("params", {}).get("column", ""))
              for t in tests if str(t.get("status")).endswith("FAIL")}
    frame["evidently_drifted"] = frame["column"].isin(failed)
    return frame
