"""The MLflow recorder (smo_eval.recorder, smo_eval.recorder_server): a command from the
shell records its run through a fork of the shared recorder (which has MLflow imported), or
with SMO_EVAL_RECORDER=fork through a process it forks itself. Each test runs a fresh Python
(as the `smo-eval` script does) against a real SQLite store, then reads the store back here
with MLflow's own client. Shared-recorder tests get a server of their own (a private
XDG_RUNTIME_DIR), stopped when the test ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import recorder_servers, stop_recorder_servers

MODES = ["shared", "fork"]


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A private runtime folder (short: a socket's path is limited to ~107 bytes); every
    recorder server started in it is killed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="smo-rt-", dir="/tmp"))
    yield folder
    stop_recorder_servers(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _mode_env(mode: str, folder: Path) -> dict[str, str]:
    return {"SMO_EVAL_RECORDER": mode, "XDG_RUNTIME_DIR": str(folder),
            "SMO_EVAL_RECORDER_IDLE": "120"}

COMMAND = """
import json, os, sys
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
    if sys.argv[3] == "relative":  # a path relative to the command's folder; its stderr
        Path("notes.txt").write_text("relative")
        run.log_artifact(Path("notes.txt"), "notes")
        run._mlflow.environment_variables.os.write(2, b"written by the recorder\\n")
    if sys.argv[3] == "kill":  # the recorder's own os.getpid, reached through MLflow's module
        os.kill(run._mlflow.environment_variables.os.getpid(), 9)
        run.log_metrics({"v1/fpr": 0.1})
out |= {"run_id": tracker.last_run_id, "notices": tracker.notices,
        "mlflow_imported_here": "mlflow" in sys.modules,
        "forked_here": recorder._RECORDERS.get(tracker.uri) is not None
                       and recorder._RECORDERS[tracker.uri]._process is not None}
print(json.dumps(out))
"""


def _command(tmp_path: Path, what: str, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> tuple[dict[str, Any], MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run([sys.executable, "-c", COMMAND, uri, str(tmp_path), what],
                          capture_output=True, text=True, timeout=300, check=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out | {"stderr": done.stderr}, MlflowClient(uri, uri)


@pytest.mark.parametrize("mode", MODES)
def test_a_command_records_its_run_through_the_recorder(tmp_path: Path, runtime: Path,
                                                        mode: str) -> None:
    out, client = _command(tmp_path, "model", _mode_env(mode, runtime))
    # The command itself never imported MLflow: the recorder carried every call.
    assert out["mlflow_imported_here"] is False
    assert out["forked_here"] is (mode == "fork")
    assert len(recorder_servers(runtime)) == (mode == "shared")
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


@pytest.mark.parametrize("mode", MODES)
def test_a_recorder_that_dies_leaves_a_notice_not_a_failure(tmp_path: Path, runtime: Path,
                                                            mode: str) -> None:
    out, client = _command(tmp_path, "kill", _mode_env(mode, runtime))
    assert len(out["notices"]) == 2
    assert "not fully recorded" in out["notices"][0]
    assert "recorder" in out["notices"][0]
    assert "could not close run" in out["notices"][1]
    # What was sent before the recorder ended is in the store; the run was never closed.
    run = client.get_run(out["run_id"])
    assert run.data.metrics == {"v1/recall": 0.75}
    assert run.info.status == "RUNNING"


@pytest.mark.parametrize("mode", MODES)
def test_an_mlflow_error_comes_back_named_and_the_run_still_closes(
        tmp_path: Path, runtime: Path, mode: str) -> None:
    out, client = _command(tmp_path, "error", _mode_env(mode, runtime))
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
print(rec.module.environment_variables.os.getpid(), flush=True)
os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("mode", MODES)
def test_a_killed_command_takes_its_recorder_with_it(tmp_path: Path, runtime: Path,
                                                     mode: str) -> None:
    """SIGKILL leaves no recorder behind holding the command's output open (a caller reading
    it to the end would wait forever)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run([sys.executable, "-c", KILLED, uri], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **_mode_env(mode, runtime)})
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


def test_successive_commands_share_one_server_in_their_own_environment(
        tmp_path: Path, runtime: Path) -> None:
    """The second command is answered by the same server; each fork takes on its command's
    environment (MLflow's user tag comes from $USER), folder (a relative artifact path) and
    stderr."""
    env = _mode_env("shared", runtime)
    first, client = _command(tmp_path, "plain", env | {"USER": "first-analyst"})
    (server,) = recorder_servers(runtime)
    work = tmp_path / "work"
    work.mkdir()
    second, _ = _command(tmp_path, "relative", env | {"USER": "second-analyst"}, cwd=work)
    assert [p.pid for p in recorder_servers(runtime)] == [server.pid]
    assert second["mlflow_imported_here"] is False and second["notices"] == []
    tags = [client.get_run(o["run_id"]).data.tags for o in (first, second)]
    assert [t["mlflow.user"] for t in tags] == ["first-analyst", "second-analyst"]
    assert [t["mlflow.source.name"] for t in tags] == ["-c", "-c"]  # the command's argv
    copied = client.download_artifacts(second["run_id"], "notes/notes.txt", str(tmp_path))
    assert Path(copied).read_text() == "relative"
    assert "written by the recorder" in second["stderr"]


def test_a_killed_server_is_replaced(tmp_path: Path, runtime: Path) -> None:
    """A socket left by a server that was killed is taken over by a new server."""
    env = _mode_env("shared", runtime)
    _command(tmp_path, "plain", env)
    (server,) = recorder_servers(runtime)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=30)
    assert list(runtime.glob("smo-eval/*.sock"))  # the dead server's socket is still there
    out, client = _command(tmp_path, "plain", env)
    assert out["notices"] == [] and out["forked_here"] is False
    assert client.get_run(out["run_id"]).info.status == "FINISHED"
    (successor,) = recorder_servers(runtime)
    assert successor.pid != server.pid


def test_an_idle_server_ends_and_removes_its_socket(tmp_path: Path, runtime: Path) -> None:
    out, _ = _command(tmp_path, "plain", _mode_env("shared", runtime)
                      | {"SMO_EVAL_RECORDER_IDLE": "1"})
    assert out["notices"] == []
    deadline = time.monotonic() + 60
    while recorder_servers(runtime) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert recorder_servers(runtime) == []
    assert not list(runtime.glob("smo-eval/*.sock"))
