"""MLflow: one run per stage (nested under a `pipeline` run for `smo-eval run`), recorded
after the stage's files are written, and never allowed to decide or delay the outcome.

- Requests have a short timeout (`mlflow.timeout`) and no retry loop: when the tracking store
  is unreachable the stage still writes its outputs and verdict, says the run was not
  recorded, and the exit code follows the verdict. `mlflow.required=true` instead stops the
  command with exit 2 before anything is judged.
- A run records what a person compares: a name that says what ran, the overrides given, a
  digest of the whole configuration and the stage's key settings (tens of params, the full
  configuration as an artifact), the stage's headline metrics (never one per slice; slice
  tables are table artifacts the UI shows) and its output files.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smo_eval.config.schema_data import MlflowConfig
from smo_eval.errors import ConfigError, SmoEvalError
from smo_eval.recorder import (
    RecorderError,
    drop_spare,
    open_mlflow,
    recorder_for,
    use_experiment,
)
from smo_eval.slicekey import mlflow_name

_BATCH = 900
_PARAM_VALUE_LIMIT = 6000


def resolve_tracking_uri(uri: str, project_root: Path) -> str:
    """Anchor a relative SQLite path at the project folder, so every command uses one store."""
    if uri.startswith("file:") or (("://" not in uri) and not uri.startswith("sqlite:")):
        raise ConfigError(
            f"mlflow.tracking_uri={uri!r}: the MLflow file store is refused by MLflow 3; "
            "use sqlite:///mlflow.db or an http(s):// server")
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((project_root / uri[len(prefix):]).resolve())
    return uri


class Tracker:
    """The process's connection to MLflow: probed once, then used or skipped."""

    def __init__(self, cfg: MlflowConfig, project_root: Path) -> None:
        self.cfg = cfg
        self.project_root = project_root
        self.uri = resolve_tracking_uri(cfg.tracking_uri, project_root) if cfg.enabled else ""
        self.down: str | None = None if cfg.enabled else "mlflow.enabled=false"
        self._checked = not cfg.enabled
        self.notices: list[str] = []
        self.last_run_id: str | None = None
        self._experiment_set = False
        if cfg.enabled:  # a command from the shell: MLflow starts beside the stage
            recorder = recorder_for(self.uri, cfg.timeout)
            if recorder is not None:
                recorder.prepare(cfg.experiment, self._artifact_location())
                self._experiment_set = True
        else:
            drop_spare()

    def _artifact_location(self) -> str | None:
        """A local store's artifacts go to the project folder (MLflow's default is relative
        to the working folder); a server decides its own."""
        if not self.uri.startswith("sqlite:"):
            return None
        return (self.project_root / "mlartifacts").resolve().as_uri()

    def check(self) -> None:
        """Probe the store once (HTTP servers answer /health); with `mlflow.required=true` an
        unreachable store is an error before any stage runs."""
        if self._checked:
            return
        self._checked = True
        if self.uri.startswith(("http://", "https://")):
            try:
                url = self.uri.rstrip("/") + "/health"
                with urllib.request.urlopen(url, timeout=self.cfg.timeout) as answer:
                    answer.read(64)
            except (OSError, urllib.error.URLError, ValueError) as exc:
                self._give_up(f"tracking server {self.uri} unreachable ({_short(exc)})")

    def _give_up(self, why: str) -> None:
        if self.cfg.required:
            raise SmoEvalError(f"MLflow is required (mlflow.required=true) but {why}")
        self.down = why
        self.notices.append(f"MLflow: {why}; runs are not recorded (outputs are written)")

    def _mlflow(self) -> Any:
        """The `mlflow` module, or the recorder process standing in for it (smo_eval.recorder);
        imported only when a run is logged (~2 s)."""
        recorder = recorder_for(self.uri, self.cfg.timeout)
        return recorder.module if recorder else open_mlflow(self.uri, self.cfg.timeout)

    @contextmanager
    def run(self, name: str, *, stage: str, params: Mapping[str, Any],
            tags: Mapping[str, Any]) -> Iterator[StageRun | None]:
        """A run (nested under an active one); None when MLflow is off or down. Errors while
        recording end the recording with a notice, never the command."""
        self.check()
        if self.down is not None:
            yield None
            return
        try:
            mlflow = self._mlflow()
            if not self._experiment_set:
                use_experiment(mlflow, self.cfg.experiment, self._artifact_location())
                self._experiment_set = True
            nested = mlflow.active_run() is not None
            active = mlflow.start_run(run_name=name, nested=nested)
        except Exception as exc:  # any store error: unreachable, locked, refused
            self._give_up(f"cannot start a run ({_short(exc)})")
            yield None
            return
        logger = StageRun(mlflow, active)
        self.last_run_id = logger.run_id
        status = "FINISHED"
        try:
            logger.set_tags({"smo_eval.stage": stage, **tags})
            logger.log_params(params)
            yield logger
        except SmoEvalError:
            status = "FAILED"
            raise
        except Exception as exc:
            if not _from_mlflow(exc):
                status = "FAILED"
                raise
            self.notices.append(f"MLflow: run {name} not fully recorded ({_short(exc)})")
        finally:
            try:
                mlflow.end_run(status=status)
            except Exception as exc:
                self.notices.append(f"MLflow: could not close run {name} ({_short(exc)})")


class StageRun:
    """Thin logger bound to one MLflow run; the only place results meet MLflow."""

    def __init__(self, mlflow_module: Any, run: Any) -> None:
        self._mlflow = mlflow_module
        self.run = run

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    def log_params(self, params: Mapping[str, Any]) -> None:
        clean = {k: str(v)[:_PARAM_VALUE_LIMIT] for k, v in params.items() if v is not None}
        if clean:
            self._mlflow.log_params(clean)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        clean = {_metric_name(k): float(v) for k, v in metrics.items()
                 if v is not None and v == v}  # NaN (undefined) is not logged
        items = list(clean.items())
        for start in range(0, len(items), _BATCH):
            self._mlflow.log_metrics(dict(items[start:start + _BATCH]), step=step)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        if path.is_dir():
            self._mlflow.log_artifacts(str(path), artifact_path=folder)
        elif path.is_file():
            self._mlflow.log_artifact(str(path), artifact_path=folder)

    def log_table(self, frame: Any, artifact_file: str) -> None:
        self._mlflow.log_table(data=frame, artifact_file=artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self._mlflow.log_text(text, artifact_file)

    def log_sklearn_model(self, model: Any, **kwargs: Any) -> Any:
        """`mlflow.sklearn.log_model` into this run (the model info: registered version)."""
        return self._mlflow.sklearn.log_model(model, **kwargs)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._mlflow.set_tags({k: str(v) for k, v in tags.items() if v is not None})


# MLflow refuses a metric name that reads as another path (`v/../x`, `/abs`, `a//b`): model
# names from the data are part of metric names, so such segments are renamed.
_PATH_SEGMENTS = {"": "_", ".": "_", "..": "__"}


def _metric_name(name: str) -> str:
    return "/".join(_PATH_SEGMENTS.get(part, part) for part in mlflow_name(name).split("/"))


def _from_mlflow(exc: Exception) -> bool:
    module = type(exc).__module__
    return module.startswith(("mlflow", "requests", "urllib3", "sqlalchemy")) or isinstance(
        exc, OSError | ConnectionError | TimeoutError | RecorderError)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
