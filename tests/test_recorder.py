"""The MLflow recorder process (smo_eval.recorder): a command from the shell records its run
through a forked process that imported MLflow while the stage ran. Each test runs a fresh
Python (as the `smo-eval` script does) against a real SQLite store, then reads the store back
here with MLflow's own client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

COMMAND = """
import json, sys
from pathlib import Path
from smo_eval import recorder
recorder.want_recorder()
recorder.prestart()
from smo_eval.config.schema_data import MlflowConfig
from smo_eval.tracking import Tracker
tracker = Tracker(MlflowConfig(tracking_uri=sys.argv[1]), Path(sys.argv[2]))
out = {}
with tracker.run("evaluate · v1", stage="evaluate", params={"evaluate.threshold": 0.5},
                 tags={"gold_version": "g1"}) as run:
    run.log_metrics({"v1/recall": 0.75, "v1/pr_auc": float("nan")})
    run.log_text("hello", "notes/hello.txt")
    if sys.argv[3] == "model":
        from sklearn.linear_model import LogisticRegression
        model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
        info = run.log_sklearn_model(model, name="model", pip_requirements=["scikit-learn"],
                                     registered_model_name="challenger")
        out["version"] = str(info.registered_model_version)
    if sys.argv[3] == "error":  # MLflow refuses to change a logged param
        run.log_params({"evaluate.threshold": 0.6})
    if sys.argv[3] == "kill":
        recorder._RECORDERS[tracker.uri]._process.kill()
        run.log_metrics({"v1/fpr": 0.1})
out |= {"run_id": tracker.last_run_id, "notices": tracker.notices,
        "mlflow_imported_here": "mlflow" in sys.modules}
print(json.dumps(out))
"""


def _command(tmp_path: Path, what: str, env: dict[str, str] | None = None
             ) -> tuple[dict[str, Any], MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run([sys.executable, "-c", COMMAND, uri, str(tmp_path), what],
                          capture_output=True, text=True, timeout=300, check=True,
                          env={**os.environ, **(env or {})})
    return json.loads(done.stdout.strip().splitlines()[-1]), MlflowClient(uri, uri)


def test_a_command_records_its_run_through_the_recorder(tmp_path: Path) -> None:
    out, client = _command(tmp_path, "model")
    # The command itself never imported MLflow: the recorder carried every call.
    assert out["mlflow_imported_here"] is False
    assert out["notices"] == []
    run = client.get_run(out["run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "evaluate · v1"
    assert run.data.params == {"evaluate.threshold": "0.5"}
    assert run.data.metrics == {"v1/recall": 0.75}  # NaN (undefined) is not logged
    assert run.data.tags["smo_eval.stage"] == "evaluate"
    assert run.data.tags["gold_version"] == "g1"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "notes")}
    assert artifacts == {"notes/hello.txt"}
    # A model logged through the recorder is registered, and its version comes back.
    (version,) = client.search_model_versions("name='challenger'")
    assert out["version"] == str(version.version) == "1"
    assert version.run_id == out["run_id"]


def test_a_recorder_that_dies_leaves_a_notice_not_a_failure(tmp_path: Path) -> None:
    out, client = _command(tmp_path, "kill")
    assert len(out["notices"]) == 2
    assert "not fully recorded" in out["notices"][0]
    assert "recorder" in out["notices"][0]
    assert "could not close run" in out["notices"][1]
    # What was sent before the recorder ended is in the store; the run was never closed.
    run = client.get_run(out["run_id"])
    assert run.data.metrics == {"v1/recall": 0.75}
    assert run.info.status == "RUNNING"


def test_an_mlflow_error_comes_back_named_and_the_run_still_closes(tmp_path: Path) -> None:
    out, client = _command(tmp_path, "error")
    assert out["mlflow_imported_here"] is False
    (notice,) = out["notices"]
    assert "not fully recorded" in notice
    assert "mlflow.exceptions.MlflowException" in notice
    run = client.get_run(out["run_id"])
    assert run.info.status == "FINISHED"  # the recorder went on answering after the error
    assert run.data.params == {"evaluate.threshold": "0.5"}


KILLED = """
import os, sys
from smo_eval import recorder
recorder.want_recorder()
recorder.prestart()
rec = recorder.recorder_for(sys.argv[1], 5.0)
rec.module.get_experiment_by_name("Default")  # the recorder is up and answering
print(rec._process.pid, flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_killed_command_takes_its_recorder_with_it(tmp_path: Path) -> None:
    """SIGKILL leaves no recorder behind holding the command's output open (a caller reading
    it to the end would wait forever)."""
    import time

    import psutil

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run([sys.executable, "-c", KILLED, uri], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -9
    pid = int(done.stdout.strip())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"recorder {pid} still running after its command was killed")


def test_the_off_switch_records_in_the_command_itself(tmp_path: Path) -> None:
    out, client = _command(tmp_path, "plain", {"SMO_EVAL_RECORDER": "0"})
    assert out["mlflow_imported_here"] is True
    run = client.get_run(out["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"v1/recall": 0.75}
