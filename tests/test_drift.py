"""Drift on the sample world: the planted drift is found, unshifted slices stay quiet, same-
distribution windows raise no alarm at 1e5 and 1e6 rows, the label-free estimate covers the
true values, and effect sizes and p-values match scipy and Evidently."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from smo_eval.engine import divergence
from smo_eval.stages.drift import drift
from tests.conftest import run_cli
from tests.drift_helpers import NO_DRIFT, drift_settings, world_windows

THRESHOLDS = {"v1": 0.5, "v2": 0.5}


def test_effect_sizes_and_p_values_match_scipy() -> None:
    rng = np.random.default_rng(3)
    ref = np.bincount(rng.integers(0, 7, 5000), minlength=7)[None, :]
    cur = np.bincount(rng.choice(7, 3000, p=[.3, .2, .1, .1, .1, .1, .1]), minlength=7)[None, :]
    assert divergence.js_distance(ref, cur)[0] == pytest.approx(
        jensenshannon(ref[0] / ref.sum(), cur[0] / cur.sum()), rel=1e-9)
    r, c = ref[0] / ref.sum(), cur[0] / cur.sum()
    assert divergence.psi(ref, cur)[0] == pytest.approx(((c - r) * np.log(c / r)).sum())
    chi = stats.chi2_contingency(np.vstack([ref[0], cur[0]]), correction=False)
    assert divergence.chi2_pvalue(ref, cur)[0] == pytest.approx(chi.pvalue, rel=1e-6)
    # Integer data binned one value per bin: KS and Wasserstein equal the raw-data versions.
    a, b = rng.integers(0, 100, 4000), rng.integers(5, 100, 3000)
    ha, hb = np.bincount(a, minlength=100)[None, :], np.bincount(b, minlength=100)[None, :]
    d, p = divergence.ks_pvalue(ha, hb)
    ks = stats.ks_2samp(a, b, method="asymp")
    assert d[0] == pytest.approx(ks.statistic) and p[0] == pytest.approx(ks.pvalue, rel=1e-3)
    w = divergence.wasserstein_normed(ha, hb, np.arange(100.0))[0]
    assert w == pytest.approx(stats.wasserstein_distance(a, b) / np.std(a), rel=1e-9)


@pytest.fixture(scope="module")
def planted() -> tuple:
    ref, cur, cfg = world_windows(60_000)
    return drift(ref, cur, ["v1", "v2"], THRESHOLDS, drift_settings(cfg), seed=1), cfg


def test_planted_language_mix_and_score_shift_are_found_and_nothing_else(planted: tuple) -> None:
    result, cfg = planted
    spec = cfg["sample"]["planted"]["drift"]
    d = result.drift.set_index(["column", "slice"])
    assert d.loc[(spec["language_mix"]["language"] and "language", "overall"), "drifted"]
    for column in ("content_type", "surface", "creator_tier", "label", "risk_category"):
        assert not d.loc[(column, "overall"), "drifted"], column
    shift = spec["score_shift"]
    scores = result.drift[result.drift["kind"] == "score"]
    shifted = scores[(scores["model"] == shift["model"])
                     & (scores["slice"] == f"language={shift['language']}")]
    assert shifted["drifted"].all() and shifted["value"].iloc[0] > 0.5
    flagged = scores[scores["drifted"]]
    # Every flagged slice is the shifted model on items of the shifted language (or a region
    # where that language dominates: MENA is 85% Arabic); no unshifted slice is flagged.
    assert set(flagged["model"]) == {shift["model"]}
    lang_of = {"region=MENA": "ar"}
    for name in flagged["slice"]:
        assert f"language={shift['language']}" in name or lang_of.get(name) == "ar", name
    quiet = scores[(scores["model"] != shift["model"])
                   | scores["slice"].str.contains("language=") & ~scores["slice"].str.contains(
                       f"language={shift['language']}")]
    assert len(quiet) > 40 and not quiet["drifted"].any()


def test_new_mandarin_term_ranks_first_and_once(planted: tuple) -> None:
    result, cfg = planted
    new = cfg["sample"]["planted"]["drift"]["new_term"]
    terms = result.terms[result.terms["language"] == new["language"]]
    lists = [terms[terms["subset"] == "all"]]
    lists += [terms[(terms["subset"] == "missed") & (terms["model"] == m)]  # the models miss
              for m in new["models"]]                                       # it: it rises there
    for listed in lists:
        assert listed["term"].iloc[0] == new["term"]
        # Once: no line holds it in a longer context (要邮票, 邮票有货).
        assert listed["term"].str.contains(new["term"], regex=False).sum() == 1
    row = terms[(terms["subset"] == "all") & (terms["term"] == new["term"])].iloc[0]
    assert row["ref_count"] == 0 and row["cur_count"] >= 20
    # No other language has a rising term: the language-mix shift moves whole languages.
    assert set(result.terms["language"]) == {new["language"]}


def test_label_free_estimate_lands_in_its_interval_in_most_slices(planted: tuple) -> None:
    result, _ = planted
    est = result.estimate
    big = est[est["actual_positives"] >= 30]
    assert len(big) > 40
    for metric in ("precision", "recall"):
        assert big[f"{metric}_in_interval"].mean() >= 0.75, metric
    # Where the model's scores moved without the labels (the planted score shift), the
    # estimate overstates precision: the comparison with gold exposes concept drift.
    ar = est[(est["model"] == "v1") & (est["slice"] == "language=ar")].iloc[0]
    assert ar["est_precision_lo"] > ar["actual_precision"]


def test_estimate_covers_truth_without_drift() -> None:
    ref, cur, cfg = world_windows(100_000, NO_DRIFT, seed=11)
    est = drift(ref, cur, ["v1", "v2"], THRESHOLDS, drift_settings(cfg), seed=1).estimate
    big = est[est["actual_positives"] >= 30]
    for metric in ("precision", "recall"):
        assert big[f"{metric}_in_interval"].mean() >= 0.9, metric
        # Not trivially wide: about 2 x 1.96 binomial standard errors in the overall slice.
        overall = big[big["slice"] == "overall"]
        assert ((overall[f"est_{metric}_hi"] - overall[f"est_{metric}_lo"]) < 0.05).all()


@pytest.mark.parametrize("n_items", [100_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_same_distribution_raises_no_alarm(n_items: int) -> None:
    cfg_terms_off = ["drift.terms.subsets=[]"]
    ref, cur, cfg = world_windows(n_items, NO_DRIFT + cfg_terms_off, seed=5)
    result = drift(ref, cur, ["v1", "v2"], THRESHOLDS, drift_settings(cfg), seed=1)
    assert len(result.drift) > 60 and result.terms.empty
    assert not result.drift["drifted"].any(), result.alarms
    # Large slices are measured with small effects: the rule, not a lack of data, is quiet.
    big = result.drift[result.drift["n_current"] >= 10_000]
    assert len(big) > 10 and (big["value"] < big["threshold"] / 2).all()


@pytest.mark.slow
def test_large_sample_alone_does_not_alarm() -> None:
    """A 10% rise of one language at 1e6 rows is highly significant but small: no alarm."""
    slight = [o for o in NO_DRIFT if "language_mix" not in o]
    slight += ["sample.planted.drift.language_mix.factor=1.1", "drift.terms.subsets=[]"]
    ref, cur, cfg = world_windows(1_000_000, slight, seed=5)
    result = drift(ref, cur, ["v1"], {"v1": 0.5}, drift_settings(cfg), seed=1)
    row = result.drift.set_index(["column", "slice"]).loc[("language", "overall")]
    assert row["p_value"] < 1e-6 and row["value"] < row["threshold"] and not row["drifted"]


def test_drift_command_writes_outputs_logs_mlflow_and_matches_evidently(project: Path) -> None:
    db = f"sqlite:///{project}/mlflow.db"
    assert run_cli("sample", "mlflow.enabled=false").exit_code == 0  # 60,000 items
    result = run_cli("drift", f"mlflow.tracking_uri={db}")
    assert result.exit_code == 0, result.output
    folder = project / "outputs/drift"
    report = json.loads((folder / "drift.json").read_text(encoding="utf-8"))
    assert report["columns"]["language"]["drifted"] is True
    assert report["scores"]["v1"]["language=ar"]["drifted"] is True
    assert "score:v1 [language=ar]" in report["alarm_list"]
    # Evidently ran on the full windows (below max_rows): its JS distance is ours.
    for column in ("region", "language", "surface"):
        entry = report["columns"][column]
        assert entry["evidently"]["method"] == "jensenshannon"
        assert entry["evidently"]["value"] == pytest.approx(entry["value"], abs=1e-9)
    assert (folder / "evidently_report.html").stat().st_size > 1_000_000
    est = pd.read_csv(folder / "performance_estimate.csv", encoding="utf-8-sig")
    assert {"est_precision_lo", "est_recall_hi", "actual_recall"} <= set(est.columns)
    terms = pd.read_csv(folder / "emerging_terms.csv", encoding="utf-8-sig")
    assert "邮票" in terms["term"].tolist()
    mlflow.set_tracking_uri(db)
    runs = mlflow.search_runs(search_all_experiments=True,
                              filter_string="tags.`smo_eval.stage` = 'drift'")
    assert len(runs) == 1 and runs["metrics.drift/alarms"].iloc[0] == report["alarms"]


def test_unlabelled_current_window_from_files(project: Path) -> None:
    """Windows from separate files; the current one has no gold: estimate only."""
    assert run_cli("sample", "sample.n_items=20000", "mlflow.enabled=false").exit_code == 0
    data = project / "data/sample"
    items = pd.read_parquet(data / "items.parquet")
    preds = pd.read_parquet(data / "predictions.parquet")
    gold = pd.read_parquet(data / "gold.parquet")
    cut = items["created_at"] >= pd.Timestamp("2026-10-26")
    for name, rows in (("ref", ~cut), ("cur", cut)):
        ids = items.loc[rows, "item_id"]
        items[rows].to_csv(project / f"{name}_items.csv", index=False)
        preds[preds["item_id"].isin(ids)].to_csv(project / f"{name}_preds.csv", index=False)
    gold[gold["item_id"].isin(items.loc[~cut, "item_id"])].to_csv(project / "ref_gold.csv",
                                                                   index=False)
    result = run_cli("drift", "mlflow.enabled=false", "drift.evidently.enabled=false",
                     "drift.reference_data={items:ref_items.csv,gold:ref_gold.csv,"
                     "predictions:ref_preds.csv}",
                     "drift.current_data={items:cur_items.csv,gold:null,predictions:cur_preds.csv}")
    assert result.exit_code == 0, result.output
    report = json.loads((project / "outputs/drift/drift.json").read_text(encoding="utf-8"))
    assert report["windows"]["current"]["labelled"] is False
    assert "risk_category" not in report["columns"] and report["columns"]["language"]["drifted"]
    est = pd.read_csv(project / "outputs/drift/performance_estimate.csv", encoding="utf-8-sig")
    assert "actual_precision" not in est.columns and est["est_recall"].notna().all()
    # A prediction for an item the current window lacks is a contract error (exit 2).
    bad = pd.read_csv(project / "cur_preds.csv")
    bad.loc[0, "item_id"] = 10**9
    bad.to_csv(project / "cur_preds.csv", index=False)
    result = run_cli("drift", "mlflow.enabled=false", "drift.evidently.enabled=false",
                     "drift.reference_data={items:ref_items.csv,gold:ref_gold.csv,"
                     "predictions:ref_preds.csv}",
                     "drift.current_data={items:cur_items.csv,gold:null,predictions:cur_preds.csv}")
    assert result.exit_code == 2 and "cur_preds.csv" in result.output
