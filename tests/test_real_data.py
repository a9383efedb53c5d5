"""Real data: baselines trained on COLD train score COLD test and Mandarin HateCheck; the CLI
evaluates the files as published (BOM, unnamed id column, their own label words) and every
slice is checked against scikit-learn: counts exactly, ROC-AUC and PR-AUC within 1e-3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from tests import real_baselines
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def baselines(shared_data: Path) -> dict[str, Any]:
    """Character n-gram TF-IDF with logistic regression and with LightGBM, fit on COLD train
    (trained once per session, shared with the other real-data tests)."""
    return real_baselines.train(shared_data)


def _check_against_sklearn(slices: pd.DataFrame, gold: pd.DataFrame, preds: pd.DataFrame,
                           id_col: str, label_of: pd.Series) -> int:
    checked = 0
    for row in slices.itertuples():
        model_scores = preds[preds["system"] == row.model].set_index("comment_id")["prob"]
        mask = np.ones(len(gold), dtype=bool)
        if row.slice != "overall":
            for part in row.slice.split("&"):
                dim, value = part.split("=", 1)
                mask &= (gold[dim].astype(str) == value).to_numpy()
        y = label_of.to_numpy()[mask]
        s = model_scores.loc[gold[id_col].to_numpy()[mask]].to_numpy()
        pred = s >= 0.5
        tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
        assert (row.tp, row.fp, row.fn, row.tn) == (tp, fp, fn, tn), (row.model, row.slice)
        assert row.n == mask.sum()
        for name, func in (("precision", precision_score), ("recall", recall_score),
                           ("f1", f1_score)):
            expected = func(y, pred, zero_division=np.nan)
            assert np.isclose(getattr(row, name), expected, equal_nan=True), (name, row.slice)
        if 0 < y.sum() < len(y):
            assert row.roc_auc == pytest.approx(roc_auc_score(y, s), abs=1e-3), row.slice
            assert row.pr_auc == pytest.approx(average_precision_score(y, s), abs=1e-3)
        else:  # one class only (every HateCheck functionality): no rank metric, and why
            assert np.isnan(row.roc_auc) and np.isnan(row.pr_auc), row.slice
            assert "roc_auc, pr_auc: no" in row.undefined, row.slice
        checked += 1
    return checked


def _evaluate(gold_path: Path, project: Path, *mapping: str) -> Any:
    """`smo-eval evaluate` on a published gold file as it is, with the test's predictions file
    (its own names: comment_id, system, prob) and the gold file's own column mapping."""
    return run_cli(
        "evaluate", "data.items=null", f"data.gold={gold_path}",
        f"data.predictions={project / 'preds.csv'}", "data.annotations=null",
        "+data.table_columns.predictions.item_id=comment_id", "data.columns.model=system",
        "data.columns.score=prob", "mlflow.enabled=false", *mapping)


def test_cold_test_through_the_cli(shared_data: Path, baselines: dict[str, Any],
                                   project: Path) -> None:
    gold_path = shared_data / "cold/test.csv"  # as published: BOM, empty first header
    gold = pd.read_csv(gold_path, encoding="utf-8-sig").rename(columns={"Unnamed: 0": "cid"})
    preds = real_baselines.predictions(baselines, gold["cid"], gold["TEXT"])
    preds.to_csv(project / "preds.csv", index=False)
    result = _evaluate(gold_path, project, "data.columns.item_id='Unnamed: 0'",
                       "data.columns.text=TEXT", "slicing.dimensions=[topic,fine-grained-label]",
                       "slicing.crosses=[[topic,fine-grained-label]]")
    assert result.exit_code == 0, result.output
    slices = pd.read_csv(project / "outputs/evaluate/slice_metrics.csv")
    assert set(slices["dimension"]) == {"overall", "topic", "fine-grained-label",
                                        "topic&fine-grained-label"}
    assert "notice: slice dimension 'risk_category'" not in result.output  # only configured dims
    checked = _check_against_sklearn(slices, gold, preds, "cid", gold["label"])
    assert checked == len(slices) >= 2 * (1 + 3 + 4 + 12)


def test_mandarin_hatecheck_through_the_cli(shared_data: Path, baselines: dict[str, Any],
                                            project: Path) -> None:
    cases_path = shared_data / "mhc/cases/mandarin.csv"
    cases = pd.read_csv(cases_path)
    preds = real_baselines.predictions(baselines, cases["mhc_case_id"], cases["test_case"])
    preds.to_csv(project / "preds.csv", index=False)
    result = _evaluate(cases_path, project, "data.columns.item_id=mhc_case_id",
                       "data.columns.label=label_gold", "data.columns.text=test_case",
                       "slicing.dimensions=[functionality,target_ident]", "slicing.crosses=[]")
    assert result.exit_code == 0, result.output
    slices = pd.read_csv(project / "outputs/evaluate/slice_metrics.csv")
    label = (cases["label_gold"] == "hateful").astype(int)
    checked = _check_against_sklearn(slices, cases, preds, "mhc_case_id", label)
    functionalities = cases["functionality"].nunique()
    targets = cases["target_ident"].dropna().nunique()
    assert checked == len(slices) == 2 * (1 + functionalities + targets)
