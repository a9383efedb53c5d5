"""A three-point Hydra sweep leaves one parent and three child runs in MLflow, each with the
objective; the parent names the best child; each child's challenger is a registered version."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from smo_eval.cli import app
from smo_eval.commands.sweep import expand_sweep
from smo_eval.stages.experiment.retrain import feature_frame

runner = CliRunner()


def test_expand_sweep_is_the_cartesian_product_in_hydra_grammar() -> None:
    combos = expand_sweep(["a.b=1,2", "c=x", "+d=range(0,2)", "e='p,q'"])
    assert combos == [["a.b=1", "c=x", "+d=0", "e='p,q'"], ["a.b=1", "c=x", "+d=1", "e='p,q'"],
                      ["a.b=2", "c=x", "+d=0", "e='p,q'"], ["a.b=2", "c=x", "+d=1", "e='p,q'"]]


def test_three_point_sweep_records_parent_children_and_best(project: Path) -> None:
    uri = f"sqlite:///{project / 'mlflow.db'}"
    common = [f"mlflow.tracking_uri={uri}", "sample.n_items=8000"]
    assert runner.invoke(app, ["sample", *common, "mlflow.enabled=false"]).exit_code == 0
    result = runner.invoke(app, [
        "experiment", "-m", *common, "experiment.kinds=[retrain]",
        "experiment.retrain.max_train_rows=2500", "experiment.retrain.n_estimators=30",
        "experiment.retrain.tfidf.max_features=3000", "experiment.retrain.num_leaves=2,4,16",
        "experiment.registry.model_name=sweep-test"], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("smo-eval")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.info.run_name == "experiment-sweep"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3
    leaves = sorted(int(c.data.params["overrides"].split("experiment.retrain.num_leaves=")[1]
                        .split()[0]) for c in children)
    assert leaves == [2, 4, 16]
    for child in children:
        assert child.data.metrics["objective"] == child.data.metrics[
            "retrain/held_out/roc_auc"]
    best = max(children, key=lambda c: c.data.metrics["objective"])
    assert parent.data.tags["best_run_id"] == best.info.run_id
    assert parent.data.metrics["best_objective"] == best.data.metrics["objective"]

    sweep = pd.read_csv(project / "outputs" / "experiment" / "sweep" / "sweep.csv",
                        encoding="utf-8-sig")
    assert sweep.loc[sweep["best"], "run_id"].item() == best.info.run_id

    versions = client.search_model_versions("name='sweep-test'")
    assert sorted(v.run_id for v in versions) == sorted(c.info.run_id for c in children)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    requirements = Path(mlflow.pyfunc.get_model_dependencies("models:/sweep-test/1"))
    pinned = requirements.read_text().split()
    assert f"lightgbm=={importlib.metadata.version('lightgbm')}" in pinned

    # The registered version of the best child reproduces that child's written predictions.
    version = next(v for v in versions if v.run_id == best.info.run_id)
    model = mlflow.sklearn.load_model(f"models:/sweep-test/{version.version}")
    folder = Path(sweep.loc[sweep["best"], "folder"].item())
    written = pd.read_parquet(folder / "results" / "predictions.parquet").head(50)
    assert list(written.columns) == ["item_id", "model", "score"]
    items = pd.read_parquet(project / "data" / "sample" / "items.parquet")
    rows = items.set_index("item_id").loc[written["item_id"]].reset_index()
    frame = feature_frame(rows, "text", ["region", "language", "content_type", "surface"])
    np.testing.assert_allclose(model.predict_proba(frame)[:, 1], written["score"], atol=1e-6)
