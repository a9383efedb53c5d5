"""Compare: paired counts vs the per-model engine, McNemar vs statsmodels, the planted
regression found through the CLI, no regression on a re-drawn baseline, and FDR control."""

from __future__ import annotations

import copy
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import mcnemar

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import CompareConfig
from smo_eval.engine.counting import count_model
from smo_eval.engine.paired import count_paired, mcnemar_exact, split_cells
from smo_eval.engine.slices import build_slice_index
from smo_eval.sample import generate_world
from smo_eval.sample.trend import history_size
from smo_eval.stages.compare import COLUMNS, compare
from smo_eval.taxonomy import Taxonomy
from tests.settings import config, plain, world_config

ROOT = Path(__file__).parents[1]
CLI = [sys.executable, "-m", "smo_eval.cli"]


def _conf(group: str) -> Any:
    """A section of the sample-world configuration: typed, or plain for the world's own."""
    section = getattr(config(), group)
    return plain(section) if group == "sample" else section


def _compare_cfg(**changes: Any) -> CompareConfig:
    return replace(config().compare, **changes)


def _world_table(sample_cfg: dict[str, Any], n: int, seed: int) -> tuple[pd.DataFrame,
                                                                         pd.DataFrame]:
    """Items joined with gold (plus parent_category) and the wide score table."""
    taxonomy = _conf("taxonomy")
    world = generate_world(sample_cfg, plain(taxonomy), n_items=n, seed=seed)
    table = world.items.merge(world.gold, on="item_id").sort_values("item_id")
    table["parent_category"] = Taxonomy.from_config(taxonomy).parent_column(
        table["risk_category"])
    scores = world.predictions.pivot(index="item_id", columns="model", values="score")
    scores = scores.loc[table["item_id"]].reset_index(drop=True)
    scores.columns = [str(c) for c in scores.columns]
    return table.reset_index(drop=True), scores


def test_paired_counts_give_each_models_cells_and_mcnemar_matches_statsmodels() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    table = pd.DataFrame({"region": rng.choice(["a", "b", "c"], n),
                          "lang": rng.choice(["x", "y"], n)})
    labels = (rng.random(n) < 0.3).astype(np.int8)
    sa, sb = rng.random(n), rng.random(n)
    index, _ = build_slice_index(table, ["region", "lang"], [["region", "lang"]])
    paired = count_paired(index, labels, sa >= 0.5, sb >= 0.6)
    base, cand = split_cells(paired)
    np.testing.assert_array_equal(base, count_model(index, labels, sa, 0.5, 64).cells)
    np.testing.assert_array_equal(cand, count_model(index, labels, sb, 0.6, 64).cells)
    for b, c in [(0, 0), (3, 9), (12, 4), (40, 61), (250, 199), (7, 7)]:
        expected = mcnemar(np.array([[10, b], [c, 10]]), exact=True).pvalue if b + c else np.nan
        got = float(mcnemar_exact(np.array(b), np.array(c)))
        np.testing.assert_allclose(got, expected, rtol=1e-10, equal_nan=True)


def _find(frame: pd.DataFrame, where: dict[str, str]) -> pd.DataFrame:
    """Rows of the slice defined by `where`, whatever order the cross names its parts."""
    wanted = {f"{k}={v}" for k, v in where.items()}
    return frame[frame["slice"].map(lambda s: set(s.split("&")) == wanted)]


def test_cli_finds_planted_regression_and_writes_flips(project: Path) -> None:
    planted = _conf("sample")["planted"]["regression"]
    sample = subprocess.run([*CLI, "sample", "sample.n_items=20000"], capture_output=True,
                            text=True)
    assert sample.returncode == 0, sample.stderr
    done = subprocess.run([*CLI, "compare", f"mlflow.tracking_uri=sqlite:///{project}/m.db"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Regressions" in done.stdout
    out = project / "outputs/compare"
    frame = pd.read_csv(out / "comparison.csv")
    assert list(frame.columns[:len(COLUMNS)]) == COLUMNS
    row = _find(frame[(frame["candidate"] == planted["model"])
                      & (frame["metric"] == "recall")], planted["where"])
    assert len(row) == 1 and row["verdict"].iloc[0] == "regressed"
    assert row["p_adjusted"].iloc[0] < 0.001 and row["delta_hi"].iloc[0] < 0

    # Flips checked against a direct computation from the inputs.
    items = pd.read_parquet(project / "data/sample/items.parquet")
    gold = pd.read_parquet(project / "data/sample/gold.parquet")
    preds = pd.read_parquet(project / "data/sample/predictions.parquet").pivot(
        index="item_id", columns="model", values="score")
    joined = gold.merge(preds, left_on="item_id", right_index=True)
    misses = joined[(joined["label"] == 1) & (joined["v1"] >= 0.5) & (joined["v2"] < 0.5)]
    flags = joined[(joined["label"] == 0) & (joined["v1"] < 0.5) & (joined["v2"] >= 0.5)]
    flips = pd.read_csv(out / "flips.csv")
    assert set(flips.loc[flips["flip"] == "new_miss", "item_id"]) == set(misses["item_id"])
    assert set(flips.loc[flips["flip"] == "new_false_flag", "item_id"]) == set(flags["item_id"])
    assert "text" in flips.columns and len(items) == 20000 + history_size(world_config()[0],
                                                                          20000)
    sev = flips["severity"].to_numpy()
    finite = sev[~np.isnan(sev)]
    assert (np.diff(finite) >= 0).all()  # most severe first
    xlsx = pd.read_excel(out / "flips.xlsx")
    assert list(xlsx["item_id"]) == list(flips["item_id"].head(len(xlsx)))

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project}/m.db")
    runs = mlflow.search_runs(search_all_experiments=True)
    assert "metrics.v2_vs_v1/n_regressed" in runs.columns
    assert runs["metrics.v2_vs_v1/n_regressed"].iloc[0] == (frame["verdict"] == "regressed").sum()


def test_redrawn_baseline_is_never_called_regressed() -> None:
    cfg = copy.deepcopy(_conf("sample"))
    cfg["models"]["v2"] = dict(cfg["models"]["v1"])
    cfg["planted"]["regression"]["model"] = "none"
    cfg["planted"]["drift"]["score_shift"]["model"] = "none"
    cfg["planted"]["expression_type"]["models"] = []
    table, scores = _world_table(cfg, 20000, seed=5)
    result = compare(table, scores, _compare_cfg(), _conf("slicing"), seed=1)
    assert (result.table["verdict"] != "regressed").all()
    assert (result.table["verdict"] != "improved").all()
    # The same world with the planted regression does flag it: the test has power.
    table2, scores2 = _world_table(_conf("sample"), 20000, seed=5)
    planted = _conf("sample")["planted"]["regression"]
    found = compare(table2, scores2, _compare_cfg(), _conf("slicing"), seed=1).table
    row = _find(found[found["metric"] == "recall"], planted["where"])
    assert row["verdict"].iloc[0] == "regressed"


def test_bh_is_applied_across_decidable_tests_and_coverage_counts_one_sided_items() -> None:
    table, scores = _world_table(_conf("sample"), 8000, seed=9)
    scores.loc[:99, "v2"] = np.nan
    scores.loc[100:129, "v1"] = np.nan
    result = compare(table, scores, _compare_cfg(), _conf("slicing"), seed=2)
    cov = result.coverage.iloc[0]
    both = len(table) - 130  # the period's 8,000 items and the weeks of history before them
    assert (cov["n_baseline_only"], cov["n_candidate_only"], cov["n_both"]) == (100, 30, both)
    assert result.table.loc[result.table["slice"] == "overall", "n"].iloc[0] == both
    decided = result.table[result.table["verdict"] != "insufficient_evidence"]
    p = decided["p_value"].to_numpy()
    order = np.argsort(p)
    m = len(p)
    bh = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    expected = np.empty(m)
    expected[order] = np.minimum(bh, 1)
    np.testing.assert_allclose(decided["p_adjusted"], expected, rtol=1e-12)
    assert result.table.loc[result.table["verdict"] == "insufficient_evidence",
                            "p_adjusted"].isna().all()
    holm = compare(table, scores, _compare_cfg(correction="holm"), _conf("slicing"), seed=2)
    assert (holm.table["p_adjusted"].fillna(0) >= result.table["p_adjusted"].fillna(0)
            - 1e-12).all()


def test_false_regressions_stay_within_the_fdr_level_over_200_null_comparisons() -> None:
    """No true difference: both models' scores are drawn from one distribution per item."""
    rng = np.random.default_rng(2026)
    n, runs, alpha = 6000, 200, 0.05
    cfg = _compare_cfg(n_boot=200, alpha=alpha)
    slicing = SlicingConfig(["region", "language"], [["region", "language"]])
    any_regressed = 0
    any_call = 0
    for _ in range(runs):
        region = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
        language = rng.choice(["x", "y", "z"], n)
        label = (rng.random(n) < 0.25).astype(np.int8)
        shared = rng.normal(np.where(label == 1, 1.5, -1.5), 1.0)
        a = 1 / (1 + np.exp(-(shared + rng.normal(0, 1.0, n))))
        b = 1 / (1 + np.exp(-(shared + rng.normal(0, 1.0, n))))
        table = pd.DataFrame({"region": region, "language": language, "label": label})
        scores = pd.DataFrame({"v1": a.astype(np.float32), "v2": b.astype(np.float32)})
        verdicts = compare(table, scores, cfg, slicing, seed=int(rng.integers(1 << 30))
                           ).table["verdict"]
        any_regressed += bool((verdicts == "regressed").any())
        any_call += bool(verdicts.isin(["regressed", "improved"]).any())
    slack = 3 * np.sqrt(alpha * (1 - alpha) / runs)
    assert any_regressed / runs <= alpha + slack
    assert any_call / runs <= alpha + slack
