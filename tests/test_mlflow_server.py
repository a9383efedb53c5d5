"""MLflow over HTTP: a real `mlflow server` on 127.0.0.1; evaluate logs to it and reads back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_cli

MLFLOW = str(Path(sys.executable).parent / "mlflow")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [MLFLOW, "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_evaluate_logs_to_a_tracking_server(server: str, project: Path) -> None:
    off_small = ["sample.n_items=4000", "evaluate.ci.n_boot=100"]
    assert run_cli("sample", *off_small, "mlflow.enabled=false").exit_code == 0
    result = run_cli("evaluate", *off_small, f"mlflow.tracking_uri={server}")
    assert result.exit_code == 0, result.output
    assert not (project / "mlflow.db").exists()  # nothing went to the local store

    client = MlflowClient(server)
    experiment = client.get_experiment_by_name("smo-eval")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "evaluate"
    assert 0 < run.data.metrics["v1/recall"] < 1
    assert run.data.params["sample.n_items"] == "4000"
    history = client.get_metric_history(run.info.run_id, "v2/roc_auc/overall")
    assert len(history) == 1 and history[0].value == run.data.metrics["v2/roc_auc/overall"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluate")}
    assert "evaluate/metrics.json" in artifacts
