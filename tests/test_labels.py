"""`smo-eval labels`: agreement against statsmodels / krippendorff / scikit-learn, the planted
careless annotator and planted gold label errors of the sample world, and Multilingual
HateCheck's raw annotations (no annotator identity) through the CLI."""

from __future__ import annotations

from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa

from smo_eval.config.schema_stages import LabelIssuesConfig
from smo_eval.sample import generate_world
from smo_eval.stages.adjudication import dawid_skene, majority
from smo_eval.stages.agreement import Ratings
from smo_eval.stages.label_issues import find_issues
from tests.cli_helpers import invoke
from tests.settings import world_config

ROOT = Path(__file__).parents[1]
N_ITEMS = 20_000
MHC_LANGUAGES = ["arabic", "dutch", "french", "german", "hindi", "italian", "mandarin",
                 "polish", "portuguese", "spanish"]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a 20,000-item sample world and `smo-eval labels` run on it."""
    import os
    import shutil

    root = tmp_path_factory.mktemp("labels")
    shutil.copytree(ROOT / "conf", root / "conf")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        invoke("sample", f"sample.n_items={N_ITEMS}", "mlflow.enabled=false")
        invoke("labels", f"mlflow.tracking_uri=sqlite:///{root}/mlflow.db")
    finally:
        os.chdir(cwd)
    return root


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    sample, taxonomy = world_config()
    cfg = OmegaConf.create(sample)
    return cfg, generate_world(sample, taxonomy, n_items=N_ITEMS)


def _counts(frame: pd.DataFrame) -> np.ndarray:
    """Item x value counts, computed independently with pandas."""
    return pd.crosstab(frame["item_id"], frame["label"]).to_numpy()


def test_agreement_columns_and_values_match_references(labelled: Path, world) -> None:  # type: ignore[no-untyped-def]
    _, w = world
    agreement = pd.read_csv(labelled / "outputs/labels/agreement.csv")
    assert list(agreement.columns[:6]) == ["slice", "n_items", "n_annotators", "fleiss_kappa",
                                           "krippendorff_alpha", "mean_pairwise_cohen_kappa"]
    ann = w.annotations.assign(annotator_id=w.annotations["annotator_id"].astype(str))
    lang = w.items.set_index("item_id")["language"].astype(str)
    for name, frame in [("overall", ann),
                        ("language=zh", ann[ann["item_id"].map(lang) == "zh"])]:
        row = agreement.set_index("slice").loc[name]
        assert row["fleiss_kappa"] == pytest.approx(fleiss_kappa(_counts(frame)), abs=1e-9)
        assert row["n_items"] == frame["item_id"].nunique()
        reliability = frame.pivot(index="annotator_id", columns="item_id",
                                  values="label").to_numpy(dtype=float)
        assert row["krippendorff_alpha"] == pytest.approx(
            krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal"),
            abs=1e-9)
        assert row["n_annotators"] == frame["annotator_id"].nunique()
    pairs = pd.read_csv(labelled / "outputs/labels/annotator_pairs.csv")
    wide = ann.pivot(index="item_id", columns="annotator_id", values="label")
    kappas = []
    for row in pairs.itertuples():
        both = wide[[row.annotator_a, row.annotator_b]].dropna()
        assert row.shared_items == len(both)
        expected = cohen_kappa_score(both.iloc[:, 0], both.iloc[:, 1])
        assert row.cohen_kappa == pytest.approx(expected, abs=1e-9)
        kappas.append(expected)
    overall = agreement.set_index("slice").loc["overall"]
    assert overall["mean_pairwise_cohen_kappa"] == pytest.approx(np.mean(kappas), abs=1e-9)


def test_labels_run_is_logged_to_mlflow(labelled: Path) -> None:
    client = MlflowClient(f"sqlite:///{labelled}/mlflow.db")
    experiment = client.get_experiment_by_name("smo-eval")
    runs = client.search_runs([experiment.experiment_id],
                              filter_string="tags.`smo_eval.stage` = 'labels'")
    assert len(runs) == 1
    data = runs[0].data
    agreement = pd.read_csv(labelled / "outputs/labels/agreement.csv").set_index("slice")
    assert data.metrics["labels/fleiss_kappa"] == pytest.approx(
        agreement.loc["overall", "fleiss_kappa"], abs=1e-6)
    # Per-slice agreement is a table artifact the MLflow UI shows, not hundreds of metrics.
    assert len(data.metrics) < 100
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id, "labels")}
    assert {"labels/agreement.csv", "labels/agreement.json"} <= artifacts
    assert data.tags["gold_version"] == "sample-v1"
    assert data.tags["least_reliable_annotator"] == "ann_06"


def test_careless_annotator_is_ranked_last(labelled: Path, world) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = world
    annotators = pd.read_csv(labelled / "outputs/labels/annotators.csv")
    careless = cfg.planted.careless_annotator.annotator_id
    assert annotators["annotator_id"].iloc[-1] == careless
    assert annotators["rank"].iloc[-1] == len(annotators)
    gap = annotators["kappa_with_adjudicated"].iloc[-2] - annotators[
        "kappa_with_adjudicated"].iloc[-1]
    assert gap > 0.2


def test_planted_label_errors_recovered_in_top_k(labelled: Path, world) -> None:  # type: ignore[no-untyped-def]
    _, w = world
    planted = set(w.truth.loc[w.truth["gold_is_error"], "item_id"])
    issues = pd.read_csv(labelled / "outputs/labels/label_issues.csv")
    assert issues["rank"].tolist() == list(range(1, len(issues) + 1))
    top = set(issues.nsmallest(2 * len(planted), "rank")["item_id"])
    recovered = len(top & planted) / len(planted)
    assert recovered >= 0.6, recovered
    # Suggested label is the other label, and the per-slice rates count the flagged items.
    assert (issues["suggested_label"] != issues["given_label"]).all()
    rates = pd.read_csv(labelled / "outputs/labels/label_issue_rates.csv").set_index("slice")
    assert rates.loc["overall", "suspected_errors"] == len(issues)
    lang = w.items.set_index("item_id")["language"].astype(str)
    zh = int((issues["item_id"].map(lang) == "zh").sum())
    assert rates.loc["language=zh", "suspected_errors"] == zh
    assert rates.loc["language=zh", "rate"] == pytest.approx(
        zh / int((w.items["language"] == "zh").sum()))


def test_disputed_items_and_tie_policy(labelled: Path, world) -> None:  # type: ignore[no-untyped-def]
    _, w = world
    adjudicated = pd.read_csv(labelled / "outputs/labels/adjudicated.csv")
    votes = pd.crosstab(w.annotations["item_id"], w.annotations["label"])
    disputed = (votes > 0).sum(axis=1) > 1
    assert adjudicated.set_index("item_id")["disputed"].reindex(votes.index).tolist() == \
        disputed.tolist()
    counts = np.array([[1, 1], [2, 0], [0, 3], [1, 1]])
    gold = np.array([0, 1, 1, 1])
    assert majority(counts, "violating", gold)[0].tolist() == [1, 0, 1, 1]
    assert majority(counts, "safe", gold)[0].tolist() == [0, 0, 1, 0]
    assert majority(counts, "gold", gold)[0].tolist() == [0, 0, 1, 1]
    assert majority(counts, "unresolved", gold)[0].tolist() == [-1, 0, 1, -1]


def test_dawid_skene_downweights_the_careless_annotator(world) -> None:  # type: ignore[no-untyped-def]
    _, w = world
    ratings = Ratings.from_frame(w.annotations)
    post = dawid_skene(ratings)
    truth = w.truth.set_index("item_id")["true_label"].reindex(ratings.items).to_numpy()
    ds_acc = float((post.argmax(axis=1) == truth).mean())
    maj_acc = float((majority(ratings.counts(), "violating", None)[0] == truth).mean())
    assert ds_acc >= maj_acc


def test_labels_cli_rejects_unknown_tie_policy(labelled: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    monkeypatch.chdir(labelled)
    out = invoke("labels", "labels.adjudication.tie=coin", "mlflow.enabled=false", code=2)
    assert "labels.adjudication.tie" in out


@pytest.mark.shared_data
def test_mhc_agreement_per_language_through_cli(shared_data: Path, project: Path) -> None:
    """Fleiss' kappa and Krippendorff's alpha per language from the raw files, to 1e-9."""
    for language in MHC_LANGUAGES:
        path = shared_data / "mhc/annotations" / f"{language}.csv"
        out = invoke("labels", f"data.annotations={path}", "data.gold=null",
                     "data.predictions=null", "data.items=null",
                     "data.columns.item_id=mhc_case_id",
                     "data.columns.label=does_the_text_contain_hate_speech",
                     "data.columns.annotator_id=_id", "mlflow.enabled=false")
        assert "not computable" in out
        agreement = pd.read_csv(project / "outputs/labels/agreement.csv")
        assert agreement["slice"].tolist() == ["overall"]
        raw = pd.read_csv(path)
        counts = pd.crosstab(raw["mhc_case_id"], raw["does_the_text_contain_hate_speech"])
        row = agreement.iloc[0]
        assert row["n_items"] == len(counts)
        assert row["fleiss_kappa"] == pytest.approx(fleiss_kappa(counts.to_numpy()), abs=1e-9)
        alpha = krippendorff.alpha(value_counts=counts.to_numpy(), level_of_measurement="nominal")
        assert row["krippendorff_alpha"] == pytest.approx(alpha, abs=1e-9)
        assert np.isnan(row["mean_pairwise_cohen_kappa"])
        annotators = (project / "outputs/labels/annotators.csv").read_text(encoding="utf-8-sig")
        assert annotators.strip() == ""


def _crowd(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Items with a true label, gold flipped on 5%, three of six annotators (85% accurate)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    gold = np.where(rng.random(n) < 0.05, 1 - truth, truth)
    rows = [(i, f"a{a}", int(truth[i]) if rng.random() < 0.85 else 1 - int(truth[i]))
            for i in range(n) for a in rng.choice(6, 3, replace=False)]
    table = pd.DataFrame({"item_id": np.arange(n), "label": gold})
    return table, pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"]), truth


def test_label_issues_weigh_annotators_against_hard_model_scores() -> None:
    """Hard 0/1 scores that contradict three agreeing annotators do not flag the gold they
    agree with; three annotators against gold flag it even when the model sides with gold."""
    table, ann, truth = _crowd(2000, seed=3)
    gold = table["label"].to_numpy()
    p = truth.astype(float)  # a perfect hard-scoring model ...
    votes = ann.groupby("item_id")["label"].sum().to_numpy()
    unanimous_gold = np.flatnonzero(np.where(gold == 1, votes == 3, votes == 0))[:40]
    p[unanimous_gold] = 1.0 - gold[unanimous_gold]  # ... wrong on 40 unanimous items
    against = np.flatnonzero(np.where(gold == 1, votes == 0, votes == 3))
    p[against] = gold[against]  # ... and on gold's side where all annotators are against it
    issues, headline = find_issues(table, p, Ratings.from_frame(ann), LabelIssuesConfig(), [])
    flagged = set(issues["item_id"])
    assert not flagged & set(unanimous_gold.tolist())
    assert len(against) >= 5 and set(against.tolist()) <= flagged
    assert headline["model_calibration_slope"] > 0
    assert headline["annotator_sensitivity"] == pytest.approx(0.85, abs=0.03)
    assert issues["p_gold_wrong"].between(0.5, 1).all()


def test_label_issues_at_the_edges() -> None:
    """One class only among the votes, no scores, and fewer than ten annotated items."""
    table, ann, _ = _crowd(200, seed=4)
    ones = ann.assign(label=0)
    issues, _ = find_issues(table, np.full(len(table), np.nan), Ratings.from_frame(ones),
                            LabelIssuesConfig(), [])
    # Every gold violation contradicted by three 'safe' votes, no model evidence either way.
    votes = ones.groupby("item_id").size()
    expected = set(table.loc[(table["label"] == 1) & table["item_id"].isin(votes.index),
                             "item_id"])
    assert set(issues["item_id"]) == expected and issues["p_gold_wrong"].notna().all()
    few = ann[ann["item_id"] < 6]
    issues, headline = find_issues(table, np.random.default_rng(0).random(len(table)),
                                   Ratings.from_frame(few), LabelIssuesConfig(), [])
    assert headline["model_calibration_slope"] == 0.0
    assert set(issues["reason"]) <= {"annotators_and_models", "confident_learning"}
