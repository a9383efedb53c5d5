"""End to end: the demo leaves its files and an MLflow run; `smo-eval run` and DVC agree."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from smo_eval.sample.trend import history_size
from tests.conftest import run_cli
from tests.settings import world_config

SMALL = ["sample.n_items=6000"]


def test_demo_leaves_outputs_and_an_mlflow_run(project: Path) -> None:
    uri = f"sqlite:///{project / 'mlflow.db'}"
    result = run_cli("demo", *SMALL, f"mlflow.tracking_uri={uri}")
    assert result.exit_code == 0, result.output
    assert "Overall (95% intervals)" in result.output
    folder = project / "outputs/evaluate"
    slices = pd.read_csv(folder / "slice_metrics.csv")
    # The demo's experiment stage retrains a challenger that evaluate then judges too.
    assert {"v1", "v2", "v3-retrain"} == set(slices["model"])
    results = project / "outputs/experiment/results"
    assert {"thresholds.csv", "threshold_judgement.csv", "predictions.parquet",
            "calibration.csv"} <= {p.name for p in results.iterdir()}
    headline = json.loads((folder / "metrics.json").read_text())
    overall = slices[(slices["slice"] == "overall") & (slices["model"] == "v2")].iloc[0]
    assert headline["v2"]["recall"] == round(overall["recall"], 6)
    for kind in ("roc", "pr", "reliability"):
        assert (folder / "curves" / kind / "v1.csv").is_file()
    drift = json.loads((project / "outputs/drift/drift.json").read_text(encoding="utf-8"))
    assert drift["windows"]["current"]["n"] > 0 and "score:v1" in drift["columns"]

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("smo-eval")
    runs = client.search_runs([experiment.experiment_id],
                              filter_string="tags.`smo_eval.stage` = 'evaluate'")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.metrics["v2/recall"] == headline["v2"]["recall"]
    # Headline metrics only (the slice table is a table artifact), key settings as params.
    assert len(run.data.metrics) < 100 and len(run.data.params) < 60
    assert run.data.params["evaluate.threshold"] == "0.5"
    assert run.info.run_name == "evaluate · v1, v2, v3-retrain · gold sample-v1"
    assert len(run.data.tags["input.gold.sha256"]) == 64
    assert run.data.tags["gold_version"] == "sample-v1"
    assert run.data.tags["models"] == "v1,v2,v3-retrain"
    versions = client.search_model_versions("name='smo-safety-classifier'")
    assert len(versions) == 1
    parent = run.data.tags["mlflow.parentRunId"]
    parent_run = client.get_run(parent)
    assert parent_run.info.run_name.startswith("pipeline")
    # The parent carries the verdict and the headline metrics.
    assert parent_run.data.tags["gate.verdict"] in ("pass", "fail")
    assert parent_run.data.metrics["evaluate/v2/recall"] == headline["v2"]["recall"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluate")}
    assert {"evaluate/slice_metrics.csv", "evaluate/slice_metrics.json"} <= artifacts


def test_evaluate_runs_alone_when_ingest_is_absent_or_stale(project: Path) -> None:
    off = "mlflow.enabled=false"
    assert run_cli("sample", *SMALL, off).exit_code == 0
    alone = run_cli("evaluate", *SMALL, off)
    assert alone.exit_code == 0 and "validated in-process" in alone.output
    first = pd.read_csv(project / "outputs/evaluate/slice_metrics.csv")
    assert run_cli("ingest", *SMALL, off).exit_code == 0
    reused = run_cli("evaluate", *SMALL, off)
    assert "validated in-process" not in reused.output
    again = pd.read_csv(project / "outputs/evaluate/slice_metrics.csv")
    pd.testing.assert_frame_equal(first, again)
    # New inputs make ingest's outputs stale: evaluate must not reuse them.
    assert run_cli("sample", "sample.n_items=5000", off).exit_code == 0
    stale = run_cli("evaluate", "sample.n_items=5000", off)
    assert "validated in-process" in stale.output
    n = pd.read_csv(project / "outputs/evaluate/slice_metrics.csv").query("slice == 'overall'")
    assert set(n["n"]) == {5000 + history_size(world_config()[0], 5000)}  # + weeks before
