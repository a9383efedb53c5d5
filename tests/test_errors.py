"""Errors on the sample world: the planted failure slice among the top three, a planted coded
Mandarin term among the top terms in misses, and root causes / queue consistent with inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from smo_eval.engine import lattice
from smo_eval.engine.terms import log_odds, vectorize
from tests.settings import planted as planted_effects

ROOT = Path(__file__).parents[1]
CLI = [sys.executable, "-m", "smo_eval.cli"]


def test_errors_finds_planted_failure_slice_and_coded_terms(project: Path) -> None:
    planted = planted_effects()
    store = f"sqlite:///{project}/mlflow.db"
    for argv in (["sample", "sample.n_items=60000"], ["errors", f"mlflow.tracking_uri={store}"]):
        done = subprocess.run([*CLI, *argv], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    out = project / "outputs/errors"
    slices = pd.read_csv(out / "failure_slices.csv")
    wanted = {f"{k}={v}" for k, v in planted["failure_slice"]["where"].items()}
    for model in planted["failure_slice"]["models"]:
        top = slices[(slices["model"] == model) & (slices["error"] == "fn")].head(3)
        assert any(set(s.split("&")) == wanted for s in top["slice"]), top["slice"].tolist()
    terms = pd.read_csv(out / "error_terms.csv")
    coded = {t.lower() for ts in planted["coded_term"]["terms"].values() for t in ts}
    for model in planted["coded_term"]["models"]:
        zh = terms[(terms["model"] == model) & (terms["error"] == "fn")
                   & (terms["language"] == planted["coded_term"]["language"])].head(5)
        assert coded & set(zh["term"].str.lower()), zh["term"].tolist()

    # Every error has exactly one root cause: bucket counts per slice sum to its errors,
    # and overall FN errors equal the misses computed from the inputs.
    rca = pd.read_csv(out / "rca.csv")
    buckets = ["label_disputed", "near_threshold", "over_represented_term", "failure_slice",
               "unexplained"]
    assert (rca[buckets].sum(axis=1) == rca["n_errors"]).all()
    gold = pd.read_parquet(project / "data/sample/gold.parquet")
    preds = pd.read_parquet(project / "data/sample/predictions.parquet")
    v1 = preds[preds["model"] == "v1"].merge(gold, on="item_id")
    misses = int(((v1["label"] == 1) & (v1["score"] < 0.5)).sum())
    overall = rca[(rca["model"] == "v1") & (rca["error"] == "fn") & (rca["slice"] == "overall")]
    assert int(overall["n_errors"].iloc[0]) == misses
    queue = pd.read_excel(out / "review_queue.xlsx")
    assert (np.diff(queue["impact"].to_numpy()) <= 1e-12).all()
    assert set(queue["error"]) <= {"fn", "fp"}

    # The run is in MLflow: error counts and root-cause buckets as metrics, the files as
    # artifacts, read back from the store.
    client = mlflow.MlflowClient(tracking_uri=store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string="tags.`smo_eval.stage` = 'errors'")
    assert len(runs) == 1
    logged = runs[0].data.metrics
    assert logged["v1/n_fn"] == misses
    both_kinds = rca[(rca["model"] == "v1") & (rca["slice"] == "overall")]  # FN + FP
    for bucket in buckets:
        assert logged[f"v1/rca/{bucket}"] == int(both_kinds[bucket].sum())
    names = {a.path for a in client.list_artifacts(runs[0].info.run_id, "errors")}
    assert {f"errors/{f}" for f in ("failure_slices.csv", "error_terms.csv", "rca.csv",
                                    "review_queue.xlsx")} <= names


def test_log_odds_matches_a_direct_count_and_char_ngrams_for_chinese() -> None:
    texts = pd.Series(["我爱菠菜", "菠菜好", "今天天气好", "天气不错", "菠菜加薇"])
    x, vocab = vectorize(texts, unsegmented=True, ngram_max=2, min_df=1)
    assert "菠菜" in set(vocab) and "天气" in set(vocab)
    in_error = np.array([True, True, False, False, True])
    found = log_odds(x, in_error, prior_strength=10.0)
    j = list(vocab).index("菠菜")
    assert found["n_error_docs"].iloc[j] == 3 and found["n_correct_docs"].iloc[j] == 0
    k = list(vocab).index("天气")
    assert found["z"].iloc[j] > 0 > found["z"].iloc[k]


def test_near_duplicate_slices_are_dropped_by_jaccard_of_their_rows() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    a = rng.choice(["x", "y"], n, p=[0.2, 0.8])
    b = np.where((a == "x") & (rng.random(n) < 0.9), "p", rng.choice(["p", "q"], n))
    c = rng.choice(["u", "v"], n)
    cols = [lattice.column_of(name, pd.Series(v)) for name, v in (("a", a), ("b", b), ("c", c))]
    ranked = [(("a", "x"),), (("a", "x"), ("b", "p")), (("c", "u"),), (("a", "x"), ("c", "u"))]
    rows = [np.logical_and.reduce([{"a": a, "b": b, "c": c}[k] == v for k, v in conds])
            for conds in ranked]
    slices = pd.DataFrame({"conditions": ranked, "n": [int(r.sum()) for r in rows]})
    kept = lattice.drop_near_duplicates(slices, cols, max_jaccard=0.8, top=10)
    expected: list[int] = []  # greedy by rank with Jaccard from the row sets themselves
    for i, r in enumerate(rows):
        if all((r & rows[j]).sum() / (r | rows[j]).sum() < 0.8 for j in expected):
            expected.append(i)
    assert list(kept["conditions"]) == [ranked[i] for i in expected]
    assert len(expected) == 3  # slice 2 (a=x & b=p) repeats slice 1's rows
    assert len(lattice.drop_near_duplicates(slices, cols, max_jaccard=0.8, top=2)) == 2
