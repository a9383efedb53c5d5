"""Real data: the two COLD baselines (logistic regression = champion, LightGBM = challenger)
compared through the CLI on COLD test and Mandarin HateCheck, every slice's deltas and exact
McNemar p-values checked against scikit-learn and statsmodels on the same items; and on
HateCheck the errors stage's failure slices checked against per-functionality error rates
computed here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score
from statsmodels.stats.contingency_tables import Table2x2, mcnemar

from tests import real_baselines
from tests.conftest import run_cli

MAPPING = ["data.items=null", "data.annotations=null", "data.columns.model=system",
           "data.columns.score=prob", "+data.table_columns.predictions.item_id=comment_id",
           "mlflow.enabled=false"]
DATASETS = {
    "cold": {"path": "cold/test.csv", "id": "Unnamed: 0", "text": "TEXT", "label": "label",
             "dims": ["topic", "fine-grained-label"],
             "args": ["data.columns.item_id='Unnamed: 0'", "data.columns.text=TEXT",
                      "slicing.dimensions=[topic,fine-grained-label]",
                      "slicing.crosses=[[topic,fine-grained-label]]"]},
    "mhc": {"path": "mhc/cases/mandarin.csv", "id": "mhc_case_id", "text": "test_case",
            "label": "label_gold", "dims": ["functionality", "target_ident"],
            "args": ["data.columns.item_id=mhc_case_id", "data.columns.label=label_gold",
                     "data.columns.text=test_case",
                     "slicing.dimensions=[functionality,target_ident]", "slicing.crosses=[]"]},
}
BASE, CAND = "lr", "lgbm"


@pytest.fixture(scope="module")
def baselines(shared_data: Path) -> dict[str, Any]:
    return real_baselines.train(shared_data)


def _scored(shared_data: Path, baselines: dict[str, Any], name: str,
            project: Path) -> tuple[pd.DataFrame, list[str]]:
    """The gold file as published, both models' scores (written as a predictions file), the
    label as 0/1 and the CLI arguments that read them."""
    spec = DATASETS[name]
    path = shared_data / spec["path"]
    gold = pd.read_csv(path, encoding="utf-8-sig")
    preds = real_baselines.predictions(baselines, gold[spec["id"]], gold[spec["text"]])
    preds.to_csv(project / "preds.csv", index=False)
    wide = preds.pivot(index="comment_id", columns="system", values="prob")
    gold = gold.assign(y=(gold[spec["label"]].isin([1, "hateful"])).astype(int),
                       base=wide.loc[gold[spec["id"]], BASE].to_numpy(),
                       cand=wide.loc[gold[spec["id"]], CAND].to_numpy())
    args = [f"data.gold={path}", f"data.predictions={project / 'preds.csv'}", *MAPPING,
            *spec["args"]]
    return gold, args


def _mask(gold: pd.DataFrame, slice_name: str) -> np.ndarray:
    mask = np.ones(len(gold), dtype=bool)
    if slice_name != "overall":
        for part in slice_name.split("&"):
            dim, value = part.split("=", 1)
            mask &= (gold[dim].astype(str) == value).to_numpy()
    return mask


def _metric(name: str, y: np.ndarray, pred: np.ndarray) -> float:
    if name == "fpr":
        tn, fp, _, _ = confusion_matrix(y, pred, labels=[0, 1]).ravel()
        return fp / (fp + tn) if fp + tn else np.nan
    func = {"recall": recall_score, "precision": precision_score, "f1": f1_score}[name]
    return float(func(y, pred, zero_division=np.nan))


@pytest.mark.parametrize("name", ["cold", "mhc"])
def test_compare_deltas_and_mcnemar_match_statsmodels(shared_data: Path,
                                                      baselines: dict[str, Any], name: str,
                                                      project: Path) -> None:
    gold, args = _scored(shared_data, baselines, name, project)
    result = run_cli("compare", *args, f"compare.baseline={BASE}",
                     f"compare.candidates=[{CAND}]")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(project / "outputs/compare/comparison.csv")
    dims = DATASETS[name]["dims"]
    assert {d for s in frame["slice"] for d in [p.split("=")[0] for p in s.split("&")]} == {
        "overall", *dims}
    y = gold["y"].to_numpy()
    base, cand = gold["base"].to_numpy() >= 0.5, gold["cand"].to_numpy() >= 0.5
    tested = 0
    for row in frame.itertuples():
        mask = _mask(gold, row.slice)
        assert row.n == mask.sum(), row.slice
        ys, bs, cs = y[mask], base[mask], cand[mask]
        expected = _metric(row.metric, ys, cs) - _metric(row.metric, ys, bs)
        np.testing.assert_allclose(row.delta, expected, atol=1e-9, equal_nan=True,
                                   err_msg=f"{row.slice} {row.metric}")
        if row.metric in ("recall", "fpr"):
            label = 1 if row.metric == "recall" else 0
            on = ys == label
            b = int((on & bs & ~cs).sum())  # only the baseline flags
            c = int((on & ~bs & cs).sum())  # only the candidate flags
            assert row.n_discordant == b + c, row.slice
            if b + c:
                table = [[int((on & bs & cs).sum()), b], [c, int((on & ~bs & ~cs).sum())]]
                p = mcnemar(table, exact=True).pvalue
                assert row.p_value == pytest.approx(p, rel=1e-9, abs=1e-15), row.slice
                tested += 1
            else:
                assert np.isnan(row.p_value)
        if row.verdict in ("regressed", "improved"):
            assert row.p_adjusted <= 0.05 and row.p_adjusted >= row.p_value - 1e-12
            worse = row.delta > 0 if row.metric == "fpr" else row.delta < 0
            assert worse == (row.verdict == "regressed"), (row.slice, row.metric)
    assert tested >= 2 * (1 + len(dims))
    assert (frame["verdict"] == "regressed").any()  # the two versions really differ here

    # Every item is scored by both: nothing left out, and the flips are exactly the
    # violations only the candidate misses and the safe items only the candidate flags.
    coverage = pd.read_csv(project / "outputs/compare/coverage.csv").iloc[0]
    assert coverage["n_both"] == len(gold) and coverage["n_baseline_only"] == 0
    flips = pd.read_csv(project / "outputs/compare/flips.csv")
    id_col = DATASETS[name]["id"]
    for kind, expected_rows in (("new_miss", (y == 1) & base & ~cand),
                                ("new_false_flag", (y == 0) & ~base & cand)):
        got = set(flips.loc[flips["flip"] == kind, "item_id"].astype(str))
        assert got == set(gold.loc[expected_rows, id_col].astype(str)), kind


def test_errors_on_hatecheck_surfaces_functionalities_the_models_fail(
        shared_data: Path, baselines: dict[str, Any], project: Path) -> None:
    gold, args = _scored(shared_data, baselines, "mhc", project)
    # Both baselines miss most of the hate in these cases (60-75%): an error-rate lift of 1.5
    # is out of reach for misses, the default error odds ratio is not.
    result = run_cli("errors", *args, "errors.columns=[functionality,target_ident]")
    assert result.exit_code == 0, result.output
    slices = pd.read_csv(project / "outputs/errors/failure_slices.csv")
    y = gold["y"].to_numpy()
    for model, column in ((BASE, "base"), (CAND, "cand")):
        err = (gold[column].to_numpy() >= 0.5) != y.astype(bool)
        for kind, label in (("fn", 1), ("fp", 0)):
            pop = gold[y == label].assign(err=err[y == label])
            rate = pop["err"].mean()
            per_func = pop.groupby("functionality")["err"].agg(["mean", "sum", "size"])
            found = slices[(slices["model"] == model) & (slices["error"] == kind)]
            assert len(found), (model, kind)
            # Every functionality reported on its own really fails: the counts are its own,
            # its error odds against the rest of the population (+0.5 per cell, statsmodels)
            # clear the default 1.5, and Fisher's exact test against the rest (scipy) agrees
            # with the stage's p-value.
            single = found[found["slice"].str.fullmatch(r"functionality=[^&]+")]
            for row in single.itertuples():
                func = row.slice.split("=", 1)[1]
                stats = per_func.loc[func]
                assert (row.n, row.errors) == (stats["size"], stats["sum"]), row.slice
                rest_n, rest_e = len(pop) - stats["size"], pop["err"].sum() - stats["sum"]
                table = np.array([[stats["sum"], stats["size"] - stats["sum"]],
                                  [rest_e, rest_n - rest_e]])
                odds_ratio = Table2x2(table + 0.5).oddsratio
                assert row.odds_ratio == pytest.approx(odds_ratio, rel=1e-9), row.slice
                assert odds_ratio >= 1.5, row.slice
                p = fisher_exact(table, alternative="greater").pvalue
                assert row.p_value == pytest.approx(p, rel=1e-6), row.slice
            # The worst functionalities (independent per-functionality error rates) are named
            # by the stage's top failure slices.
            worst = per_func[per_func["size"] >= 30].sort_values("mean", ascending=False)
            top = found.head(5)["slice"].str.split("&").explode()
            named = set(top[top.str.startswith("functionality=")].str.split("=").str[1])
            assert set(worst.index[:2]) & named, (model, kind, worst.head(3), found.head(5))
            # The metadata part of each top slice (text-feature conditions dropped) already
            # fails more often than the population.
            for row in found.head(5).itertuples():
                parts = [p.split("=", 1) for p in row.slice.split("&")]
                meta = [(c, v) for c, v in parts if c in ("functionality", "target_ident")]
                if meta:
                    mask = np.logical_and.reduce([(pop[c].astype(str) == v).to_numpy()
                                                  for c, v in meta])
                    assert pop["err"].to_numpy()[mask].mean() > rate, row.slice
