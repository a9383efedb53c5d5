"""Promotion against a real MLflow server on 127.0.0.1: a passing gate with gate.promote=true
moves `champion` to the candidate's registry version and keeps `previous_champion` on the old
one; a failing gate moves nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_cli
from tests.test_gate_sample_world import FAST

pytestmark = [pytest.mark.server, pytest.mark.slow]

MODEL = "smo-safety-test"
SMALL = ["sample.n_items=6000", *FAST]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` on a free local port; stopped (with its workers) after the module."""
    folder = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [mlflow_bin, "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start:\n"
                            + (folder / "server.log").read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (it and workers)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


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
