"""Per-policy counts on real multi-label data: Multilingual HateCheck with target groups
(and threats) as policies, checked against scikit-learn's multilabel confusion matrix.

Each hateful case violates the policy of the group it targets ("hate against women"); a
threat against a group (functionalities `threat_*_h`) also violates `threat`, so items carry
one or two policies, and non-hateful cases none. A one-vs-rest logistic regression on
character n-grams, fit on half the templates, scores every case under every policy. The files
go through the CLI as a team would hand them in (gold with a `|`-separated policy list, one
prediction row per case, model and policy); every `policy=p` and `policy=p&language=L` slice
must hold exactly `sklearn.metrics.multilabel_confusion_matrix`'s counts for label p.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import multilabel_confusion_matrix
from sklearn.multiclass import OneVsRestClassifier

from tests.cli_helpers import invoke

LANGUAGES = ("spanish", "german", "mandarin", "hindi")
THRESHOLD = 0.3


def _cases(shared_data: Path) -> pd.DataFrame:
    frames = [pd.read_csv(shared_data / f"mhc/cases/{lang}.csv").assign(language=lang)
              for lang in LANGUAGES]
    cases = pd.concat(frames, ignore_index=True)
    hateful = cases["label_gold"].eq("hateful")
    group = cases["target_ident"].fillna("").str.strip().str.lower()
    threat = hateful & cases["functionality"].str.startswith("threat_")
    policies = np.where(hateful & group.ne(""), "hate:" + group, "")
    policies = np.where(threat, pd.Series(policies).str.cat(["threat"] * len(cases), sep="|")
                        .str.strip("|"), policies)
    return cases.assign(policy=policies, label=np.where(hateful & (pd.Series(policies) != ""),
                                                        "hateful", "non-hateful"))


@pytest.mark.shared_data
def test_per_policy_counts_equal_sklearn_multilabel_confusion_matrix(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = _cases(shared_data)
    names = sorted({p for cell in cases["policy"] for p in cell.split("|") if p})
    truth = np.array([[p in cell.split("|") for p in names] for cell in cases["policy"]])
    assert truth.sum(axis=1).max() == 2 and len(names) >= 10   # really multi-label
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), min_df=3,
                                 max_features=20_000, sublinear_tf=True, dtype=np.float32)
    features = vectorizer.fit_transform(cases["test_case"])
    train = (cases["templ_id"] % 2 == 0).to_numpy()
    model = OneVsRestClassifier(LogisticRegression(max_iter=300, C=4.0))
    model.fit(features[train], truth[train])
    scores = model.predict_proba(features).astype(np.float32)
    predicted = scores >= THRESHOLD

    monkeypatch.chdir(tmp_path)
    cases[["mhc_case_id", "label", "policy", "language"]].to_csv("gold.csv", index=False)
    pd.DataFrame({"mhc_case_id": np.repeat(cases["mhc_case_id"].to_numpy(), len(names)),
                  "model": "ovr", "policy": np.tile(names, len(cases)),
                  "score": scores.ravel()}).to_csv("preds.csv", index=False)
    invoke("evaluate", "mlflow.enabled=false", "data.gold=gold.csv", "data.predictions=preds.csv",
           "data.columns.item_id=mhc_case_id", "slicing.dimensions=[language]",
           "slicing.crosses=[]", f"evaluate.threshold={THRESHOLD}")
    table = pd.read_parquet("outputs/evaluate/slice_metrics.parquet").set_index("slice")
    checked = 0
    for language in (None, *LANGUAGES):
        rows = np.ones(len(cases), dtype=bool) if language is None else \
            (cases["language"] == language).to_numpy()
        matrices = multilabel_confusion_matrix(truth[rows], predicted[rows])
        for name, ((tn, fp), (fn, tp)) in zip(names, matrices, strict=True):
            slice_name = f"policy={name}" + (f"&language={language}" if language else "")
            if slice_name not in table.index:   # a group the language does not test
                assert tp + fn + fp == 0
                continue
            row = table.loc[slice_name]
            assert [int(row[c]) for c in ("tp", "fp", "fn", "tn")] == [tp, fp, fn, tn], \
                slice_name
            checked += 1
        overall = table.loc["overall" if language is None else f"language={language}"]
        assert int(overall["tp"]) == int((truth[rows] & predicted[rows]).sum())   # micro
        assert int(overall["n"]) == int(rows.sum()) * len(names)
    assert checked >= 40
    confusion = pd.read_parquet("outputs/evaluate/policy_confusion.parquet")
    right = confusion[confusion["kind"] == "right"].set_index("gold_policy")["items"]
    for i, name in enumerate(names):
        assert right[name] == int((truth[:, i] & predicted[:, i]).sum())
