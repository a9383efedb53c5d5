"""MLflow over HTTP: a real `mlflow server` on 127.0.0.1; evaluate logs to it and reads back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_cli
from tests.mlflow_server import running_mlflow_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "server"  # apart from the project folder, whose mlflow.db must stay absent
    folder.mkdir()
    with running_mlflow_server(folder) as uri:
        yield uri


def test_evaluate_logs_to_a_tracking_server(server: str, project: Path) -> None:
    off_small = ["sample.n_items=4000"]
    assert run_cli("sample", *off_small, "mlflow.enabled=false").exit_code == 0
    result = run_cli("evaluate", *off_small, f"mlflow.tracking_uri={server}")
    assert result.exit_code == 0, result.output
    assert not (project / "mlflow.db").exists()  # nothing went to the local store

    client = MlflowClient(server)
    experiment = client.get_experiment_by_name("smo-eval")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "evaluate · v1, v2 · gold sample-v1"
    assert 0 < run.data.metrics["v1/recall"] < 1
    # The overrides given, a digest of the whole configuration, the stage's key settings.
    assert "sample.n_items=4000" in run.data.params["overrides"]
    assert len(run.data.params["config_digest"]) == 16
    assert run.data.params["evaluate.threshold"] == "0.5"
    history = client.get_metric_history(run.info.run_id, "v2/roc_auc")
    assert len(history) == 1 and history[0].value == run.data.metrics["v2/roc_auc"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluate")}
    assert "evaluate/metrics.json" in artifacts


def test_a_server_with_100_runs_keeps_every_run_small(server: str, project: Path) -> None:
    """Runs stay small (headline metrics, a handful of params): a tracking server holding 100
    of them answers `runs/search` for 100 runs (how fast: benchmarks/bench_mlflow.py)."""
    import json
    import urllib.request

    from smo_eval.config import load_config
    from smo_eval.pipeline import registry
    from smo_eval.pipeline.runner import Runner

    small = ["sample.n_items=4000", f"mlflow.tracking_uri={server}"]
    assert run_cli("sample", *small, "mlflow.enabled=false").exit_code == 0
    runner = Runner(load_config([*small, "compare.candidates=[v2]"]))
    stages = [registry.stage(n) for n in ("evaluate", "compare", "gate")]
    computed = [(s, runner.compute(s.name)) for s in stages]
    written = [(s, r, runner.write(s, r)) for s, r in computed]
    for _ in range(34):                         # 102 stage runs, logged as the commands log
        for stage, result, files in written:
            runner.record(stage, result, files)
    experiment = MlflowClient(server).get_experiment_by_name("smo-eval")
    body = json.dumps({"experiment_ids": [experiment.experiment_id],
                       "max_results": 100}).encode()
    request = urllib.request.Request(f"{server}/api/2.0/mlflow/runs/search", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        found = json.loads(answer.read())
    assert len(found["runs"]) == 100
    for run in found["runs"]:
        assert len(run["data"].get("metrics", [])) < 100
        assert len(run["data"].get("params", [])) < 60
