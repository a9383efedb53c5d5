"""Drift on the DuckDB backend: the pandas backend's drift table, estimate, emerging terms and
Evidently columns from SQL aggregations, a sample notice above `drift.sample_rows`, and a
dataset that stays on disk. (Spark: tests/test_backends.py runs drift too.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smo_eval.config import load_config
from smo_eval.config.schema_engine import DuckdbConfig
from smo_eval.config.schema_more import DriftConfig
from smo_eval.engine.backends.duck import DuckBackend
from smo_eval.pipeline.runner import Runner
from smo_eval.stages.drift import drift
from smo_eval.stages.drift_sql import cut, drift_sql
from smo_eval.stages.drift_windows import split_by_time
from tests.conftest import project_with_stages, run_cli
from tests.drift_helpers import assert_same_drift

# 20,000 items: windows of ~13,000 and ~7,000 rows; terms with a lower bar so some emerge.
WORLD = ["sample.n_items=20000", "mlflow.enabled=false"]
TERMS = ["drift.terms.min_count=5", "drift.terms.min_z=2"]
DUCKDB = ["engine.backend=duckdb", "engine.duckdb.memory_limit=500MB"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = project_with_stages(tmp_path_factory.mktemp("drift_backends"),
                                 ("sample", "ingest"), *WORLD)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        result = run_cli("drift", *WORLD, *TERMS)  # pandas, into outputs/
        assert result.exit_code == 0, result.output
    return folder


def _drift(world: Path, out: str, *overrides: str) -> Path:
    shutil.copytree(world / "outputs/ingest", world / out / "ingest", dirs_exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(world)
        result = run_cli("drift", *WORLD, *TERMS, *DUCKDB, f"out_dir={out}", *overrides)
        assert result.exit_code == 0, result.output
    return world / out


def test_duckdb_drift_equals_pandas_drift(world: Path) -> None:
    out = _drift(world, "out_duckdb")
    assert_same_drift(world / "outputs", out)
    table = pd.read_parquet(out / "drift/drift.parquet")
    terms = pd.read_parquet(out / "drift/emerging_terms.parquet")
    # Every part ran: score slices, Evidently's columns (windows below max_rows: whole), terms.
    assert (table["kind"] == "score").sum() > 50 and table["evidently_method"].notna().any()
    assert len(terms) > 0 and table["drifted"].any()


def test_window_above_sample_rows_reports_the_sample(world: Path) -> None:
    out = _drift(world, "out_sampled", "drift.sample_rows=5000", "drift.evidently.enabled=false")
    report = json.loads((out / "drift/drift.json").read_text(encoding="utf-8"))
    n = report["windows"]["reference"]["n"]
    assert n > 5000
    notice = [t for t in report["notices"] if "drift.sample_rows=5,000" in t]
    assert len(notice) == 1 and f"reference: 5,000 of {n:,} rows" in notice[0]
    # The tests and the estimate still count every row: the pandas table, exactly.
    pandas_table = pd.read_parquet(world / "outputs/drift/drift.parquet")
    table = pd.read_parquet(out / "drift/drift.parquet")
    pd.testing.assert_frame_equal(pandas_table[table.columns], table)


def test_drift_on_duckdb_leaves_the_dataset_on_disk(world: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(world / "outputs/ingest", world / "out_lazy/ingest", dirs_exist_ok=True)
    monkeypatch.chdir(world)
    runner = Runner(load_config([*WORLD, *DUCKDB, "out_dir=out_lazy",
                                 "drift.evidently.enabled=false"]))
    result = runner.compute("drift")
    assert result.status != "skipped" and len(result.value.drift) > 50
    assert runner.dataset().lazy and runner.dataset().files is not None


@pytest.mark.parametrize("current", [["2026-01-11", "2026-01-20"], ["2026-01-06", "2026-01-20"]],
                         ids=["disjoint", "overlapping"])
def test_numeric_and_typed_columns_count_as_in_pandas(tmp_path: Path, current: list[str]
                                                      ) -> None:
    """Numeric columns (int, float with NaN), few-level numbers, booleans and text with
    missing values; windows disjoint or sharing days (a row then counts in both)."""
    rng = np.random.default_rng(4)
    n = 12_000
    day = rng.integers(0, 20, n)
    table = pd.DataFrame({
        "item_id": np.arange(n), "label": rng.integers(0, 2, n).astype(np.int8),
        "created_at": pd.Timestamp("2026-01-01") + pd.to_timedelta(day * 86_400 + rng.integers(
            0, 86_400, n), unit="s"),
        "region": pd.Categorical(rng.choice(["EU", "SEA", None], n)),
        "followers": rng.integers(0, 10_000, n) + (day >= 10) * 500,
        "ratio": np.where(rng.random(n) < 0.1, np.nan, rng.random(n) ** (1 + (day >= 10))),
        "tier": rng.integers(0, 5, n), "verified": rng.random(n) < 0.3})
    scores = pd.DataFrame({"v1": rng.random(n).astype(np.float32)})
    cfg = DriftConfig(reference=["2026-01-01", "2026-01-10"], current=current)
    cfg.alarm.min_n = 100
    ref, cur = split_by_time(table, scores, "created_at", cfg.reference, cfg.current)
    expected = drift(ref, cur, ["v1"], {"v1": 0.4}, cfg, seed=3)
    backend = DuckBackend(DuckdbConfig(memory_limit="500MB"), tmp_path)
    windows, _ = cut(backend.frames(table, scores), cfg)
    assert windows.n == (len(ref), len(cur)) and windows.disjoint == (current[0] > "2026-01-10")
    got, _ = drift_sql(windows, ["v1"], {"v1": 0.4}, cfg, seed=3)
    tests = expected.drift.set_index("column")
    assert tests.loc["followers", "test"] == "ks" and tests.loc["ratio", "test"] == "ks"
    assert tests.loc["tier", "test"] == "chisquare" and tests.loc["verified", "test"] == "chisquare"
    pd.testing.assert_frame_equal(expected.drift, got.drift)
    pd.testing.assert_frame_equal(expected.estimate, got.estimate, rtol=1e-12, atol=1e-12)
    assert expected.notices == got.notices and expected.windows == got.windows
