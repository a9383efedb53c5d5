"""MLflow logging of every stage run: resolved config, metrics, artifacts and lineage tags.

The default store is a SQLite file in the project folder (MLflow 3 refuses the plain file
store); any tracking server works through `mlflow.tracking_uri`. `smo-eval run` opens a parent
run and each stage logs a nested run under it, so one pipeline execution reads as one tree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smo_eval.errors import ConfigError

_BAD_NAME_CHARS = re.compile(r"[^/\w.\- :]")
_PARAM_VALUE_LIMIT = 6000
_BATCH = 900


def metric_name(*parts: str) -> str:
    """A readable MLflow metric name: `v1/recall/region:SEA x language:zh`."""
    text = "/".join(p.replace("=", ":").replace("&", " x ") for p in parts)
    return _BAD_NAME_CHARS.sub("_", text)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> dotted keys with string values, as MLflow params."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = str(value)[:_PARAM_VALUE_LIMIT]
    return flat


def resolve_tracking_uri(uri: str, project_root: Path) -> str:
    """Anchor a relative SQLite path at the project folder, so every command uses one store."""
    if uri.startswith("file:") or (("://" not in uri) and not uri.startswith("sqlite:")):
        raise ConfigError(
            f"mlflow.tracking_uri={uri!r}: the MLflow file store is refused by MLflow 3; "
            "use sqlite:///mlflow.db or an http(s):// server"
        )
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((project_root / uri[len(prefix):]).resolve())
    return uri


class StageRun:
    """Thin logger bound to one MLflow run; the only place stages' results meet MLflow."""

    def __init__(self, mlflow_module: Any, run: Any) -> None:
        self._mlflow = mlflow_module
        self.run = run

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        clean = {k: float(v) for k, v in metrics.items()
                 if v is not None and v == v}  # NaN (undefined) is not logged
        items = list(clean.items())
        for start in range(0, len(items), _BATCH):
            self._mlflow.log_metrics(dict(items[start:start + _BATCH]))

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        if path.is_dir():
            self._mlflow.log_artifacts(str(path), artifact_path=folder)
        elif path.is_file():
            self._mlflow.log_artifact(str(path), artifact_path=folder)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._mlflow.set_tags({k: str(v) for k, v in tags.items() if v is not None})


@contextmanager
def stage_run(mlflow_cfg: Mapping[str, Any], stage: str, config: Mapping[str, Any],
              project_root: Path, tags: Mapping[str, Any]) -> Iterator[StageRun | None]:
    """Open an MLflow run for a stage (nested under an active parent run, if any)."""
    if not mlflow_cfg.get("enabled", True):
        yield None
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow  # slow import (~2 s): only when a run is logged

    uri = resolve_tracking_uri(str(mlflow_cfg["tracking_uri"]), project_root)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    _ensure_experiment(mlflow, str(mlflow_cfg["experiment"]), uri, project_root)
    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_name=stage, nested=nested) as run:
        logger = StageRun(mlflow, run)
        logger.set_tags({"smo_eval.stage": stage, **tags})
        params = flatten(config)
        keys = list(params)
        for start in range(0, len(keys), _BATCH):
            mlflow.log_params({k: params[k] for k in keys[start:start + _BATCH]})
        yield logger


def _ensure_experiment(mlflow: Any, name: str, uri: str, project_root: Path) -> None:
    """Create the experiment with artifacts in the project folder when the store is local."""
    if mlflow.get_experiment_by_name(name) is None and uri.startswith("sqlite:"):
        location = (project_root / "mlartifacts").resolve().as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)


@contextmanager
def pipeline_run(mlflow_cfg: Mapping[str, Any], config: Mapping[str, Any], project_root: Path,
                 tags: Mapping[str, Any]) -> Iterator[StageRun | None]:
    """Parent run for `smo-eval run` / `demo`: stages opened inside it become its children."""
    with stage_run(mlflow_cfg, "pipeline", config, project_root, tags) as parent:
        yield parent
