"""Engine backends on the sample world: DuckDB and Spark (local[2]) give the pandas backend's
counts exactly and its metrics to 1e-12 (evaluate, compare and drift), through the real
commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import project_with_stages, run_cli
from tests.drift_helpers import assert_same_drift

SMALL = ["sample.n_items=6000", "mlflow.enabled=false"]
COUNTS = ["n", "n_pos", "tp", "fp", "fn", "tn", "n_unscored"]
SPARK = ["engine.backend=spark", "engine.spark.master='local[2]'"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample world (ingested by pandas) in a project folder of its own."""
    return project_with_stages(tmp_path_factory.mktemp("backends"), ("sample", "ingest"),
                               *SMALL)


def _outputs(world: Path, backend: list[str], out: str) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(world)
        # Each backend writes its own out_dir, reading the same ingest outputs.
        if out != "outputs":
            shutil_copy_ingest(world / "outputs", world / out)
        for stage in ("evaluate", "compare", "drift"):
            result = run_cli(stage, *SMALL, f"out_dir={out}", *backend,
                             *(["drift.evidently.enabled=false"] if stage == "drift" else []))
            assert result.exit_code == 0, result.output
    base = world / out
    return {"out_dir": base,
            "slices": pd.read_parquet(base / "evaluate/slice_metrics.parquet"),
            "coverage": pd.read_csv(base / "evaluate/coverage.csv"),
            "comparison": pd.read_parquet(base / "compare/comparison.parquet"),
            "flips": pd.read_parquet(base / "compare/flips.parquet"),
            "summary": json.loads((base / "compare/summary.json").read_text())}


def shutil_copy_ingest(source: Path, target: Path) -> None:
    import shutil

    shutil.copytree(source / "ingest", target / "ingest", dirs_exist_ok=True)


@pytest.fixture(scope="module")
def pandas_outputs(world: Path) -> dict[str, Any]:
    return _outputs(world, [], "outputs")


def _same(pandas_out: dict[str, Any], other: dict[str, Any]) -> None:
    a, b = pandas_out["slices"], other["slices"]
    assert len(a) > 100 and list(a["slice_key"]) == list(b["slice_key"])
    for column in COUNTS:  # counts: exactly
        np.testing.assert_array_equal(a[column].to_numpy(), b[column].to_numpy(), column)
    floats = [c for c in a.columns if a[c].dtype.kind == "f"]
    np.testing.assert_allclose(a[floats].to_numpy(float), b[floats].to_numpy(float),
                               rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(pandas_out["coverage"], other["coverage"])
    c, d = pandas_out["comparison"], other["comparison"]
    counts = [x for x in c.columns if x.startswith(("baseline_", "candidate_"))
              and c[x].dtype.kind == "i"] + ["n", "n_pos", "n_neg", "n_discordant"]
    np.testing.assert_array_equal(c[counts].to_numpy(), d[counts].to_numpy())
    floats = [x for x in c.columns if c[x].dtype.kind == "f"]
    np.testing.assert_allclose(c[floats].to_numpy(float), d[floats].to_numpy(float),
                               rtol=1e-12, atol=1e-12)
    assert list(c["verdict"]) == list(d["verdict"])
    assert list(pandas_out["flips"]["item_id"]) == list(other["flips"]["item_id"])
    assert pandas_out["summary"] == other["summary"]
    assert_same_drift(Path(pandas_out["out_dir"]), Path(other["out_dir"]))


def test_duckdb_backend_counts_what_pandas_counts(world: Path,
                                                  pandas_outputs: dict[str, Any]
                                                  ) -> None:
    _same(pandas_outputs, _outputs(world, ["engine.backend=duckdb",
                                           "engine.duckdb.memory_limit=500MB"], "out_duckdb"))


@pytest.mark.slow
def test_spark_backend_counts_what_pandas_counts(world: Path,
                                                 pandas_outputs: dict[str, Any]
                                                 ) -> None:
    pytest.importorskip("pyspark", reason="the spark extra (pip install smo-eval[spark])")
    _same(pandas_outputs, _outputs(world, SPARK, "out_spark"))


def _inputs(folder: Path, n: int = 3000) -> list[str]:
    rng = np.random.default_rng(5)
    gold = pd.DataFrame({"item_id": np.arange(n), "label": rng.choice(["safe", "violating"], n),
                         "region": rng.choice(["EU", "SEA", None], n)})
    preds = pd.DataFrame({"item_id": np.tile(np.arange(n), 2),
                          "model": np.repeat(["v1", "v2"], n),
                          "score": rng.random(2 * n).astype(np.float32)})
    preds = preds.drop(index=[7, n + 9])  # two items scored by one model only
    gold.to_parquet(folder / "gold.parquet")
    preds.to_parquet(folder / "predictions.parquet")
    return [f"data.gold={folder / 'gold.parquet'}", "data.items=null", "data.annotations=null",
            f"data.predictions={folder / 'predictions.parquet'}", "mlflow.enabled=false"]


def test_duckdb_ingest_writes_what_pandas_ingest_writes(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = _inputs(tmp_path)
    for backend, out in (("pandas", "a"), ("duckdb", "b")):
        result = run_cli("ingest", *args, f"engine.backend={backend}", f"out_dir={out}")
        assert result.exit_code == 0, result.output
    for name in ("eval", "scores"):
        a = pd.read_parquet(tmp_path / f"a/ingest/{name}.parquet")
        b = pd.read_parquet(tmp_path / f"b/ingest/{name}.parquet")
        assert list(a.columns) == list(b.columns)
        for column in a.columns:  # values equal, missing as missing (pandas keeps categories)
            left, right = (f[column].astype(object) for f in (a, b))
            np.testing.assert_array_equal(left.where(left.notna(), None).to_numpy(),
                                          right.where(right.notna(), None).to_numpy(), column)
    summary = [json.loads((tmp_path / f"{o}/ingest/summary.json").read_text()) for o in "ab"]
    assert summary[0]["tables"] == summary[1]["tables"]
    assert summary[0]["models"] == summary[1]["models"] == {"v1": 2999, "v2": 2999}


def test_duckdb_ingest_names_file_and_row_of_bad_rows(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = _inputs(tmp_path)
    preds = pd.read_parquet(tmp_path / "predictions.parquet").reset_index(drop=True)
    preds.loc[4, "score"] = 1.7   # row 5 of the file
    preds.loc[10, "item_id"] = 99_999  # row 11: an item without gold
    preds.to_parquet(tmp_path / "predictions.parquet", index=False)
    result = run_cli("ingest", *args, "engine.backend=duckdb")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "predictions.parquet, row 5, column 'score': score is outside [0, 1]" in text
    assert "row 11, column 'item_id': prediction for an item without gold" in text
    assert "Traceback" not in result.output
