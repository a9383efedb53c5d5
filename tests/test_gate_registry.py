"""Promotion against a real MLflow server on 127.0.0.1: a passing gate with gate.promote=true
moves `champion` to the candidate's registry version and keeps `previous_champion` on the old
one; a failing gate moves nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_cli
from tests.mlflow_server import running_mlflow_server
from tests.test_gate_sample_world import FAST

pytestmark = [pytest.mark.server, pytest.mark.slow]

MODEL = "smo-safety-test"
# Without the trend's weeks of history: the extra items give compare the power to find the
# planted regression, and this test needs a gate that passes on defaults.
SMALL = ["sample.n_items=6000", "~sample.planted.trend", *FAST]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow_server")) as uri:
        yield uri


def _register_versions(uri: str) -> dict[str, str]:
    """Two small sklearn versions of MODEL tagged with their model ids; champion = v1's."""
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("registry-setup")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    client = MlflowClient(uri, uri)
    versions = {}
    for model_id in ("v1", "v2"):
        with mlflow.start_run(run_name=f"train-{model_id}"):
            info = mlflow.sklearn.log_model(LogisticRegression().fit(x, y), name="model",
                                            registered_model_name=MODEL,
                                            pip_requirements=["scikit-learn"])
        version = str(info.registered_model_version)
        client.set_model_version_tag(MODEL, version, "smo_eval.model_id", model_id)
        versions[model_id] = version
    client.set_registered_model_alias(MODEL, "champion", versions["v1"])
    return versions


def test_passing_gate_promotes_the_candidate_and_failing_gate_does_not(
        server: str, project: Path) -> None:
    versions = _register_versions(server)
    client = MlflowClient(server, server)
    assert run_cli("sample", *SMALL, "mlflow.enabled=false").exit_code == 0
    common = [*SMALL, f"mlflow.tracking_uri={server}", "gate.promote=true",
              f"gate.registry.model_name={MODEL}"]

    failing = run_cli("gate", *common, "gate.checks.overall_recall.min=0.99")
    assert failing.exit_code == 1, failing.output
    assert client.get_model_version_by_alias(MODEL, "champion").version == versions["v1"]
    verdict = json.loads((project / "outputs/gate/gate.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == "fail" and verdict["promotion"] is None

    passing = run_cli("gate", *common)
    assert passing.exit_code == 0, passing.output
    champion = client.get_model_version_by_alias(MODEL, "champion")
    previous = client.get_model_version_by_alias(MODEL, "previous_champion")
    assert champion.version == versions["v2"] and champion.tags["smo_eval.model_id"] == "v2"
    assert previous.version == versions["v1"]
    verdict = json.loads((project / "outputs/gate/gate.json").read_text(encoding="utf-8"))
    assert verdict["promotion"] == {"model_name": MODEL, "alias": "champion",
                                    "version": versions["v2"],
                                    "previous_version": versions["v1"],
                                    "previous_alias": "previous_champion"}
    assert "Promoted" in (project / "outputs/gate/summary.md").read_text(encoding="utf-8")

    experiment = client.get_experiment_by_name("smo-eval")
    runs = client.search_runs([experiment.experiment_id],
                              filter_string="tags.`smo_eval.stage` = 'gate'",
                              order_by=["attributes.start_time DESC"])
    assert [r.data.tags["gate.verdict"] for r in runs] == ["pass", "fail"]
    assert runs[0].data.tags["gate.promoted_version"] == versions["v2"]
    assert runs[0].data.metrics["gate/passed"] == 1.0
    assert runs[1].data.tags["gate.check.overall_recall"] == "fail"
