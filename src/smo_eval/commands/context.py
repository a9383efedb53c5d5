"""What a command outside the pipeline stages (gold, cases, init) shares with the stages:
the typed configuration, the catalog and the MLflow connection, through one Runner."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smo_eval.pipeline.lineage import digest
from smo_eval.pipeline.runner import Runner
from smo_eval.tracking import StageRun


def folder(runner: Runner, stage: str) -> Path:
    path = runner.catalog.stage_dir(stage)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def command_run(runner: Runner, name: str, label: str,
                tags: Mapping[str, Any]) -> Iterator[StageRun | None]:
    """An MLflow run for a command (the overrides and config digest as params)."""
    from smo_eval.lineage import git_commit

    params = {"overrides": " ".join(runner.loaded.overrides) or "(none)",
              "config_digest": digest(runner.loaded.plain())[:16]}
    with runner.tracker.run(label, stage=name, params=params,
                            tags={"git_commit": git_commit(runner.project_root), **tags}) as run:
        yield run
    from smo_eval import console

    console.notices(runner.tracker.notices)
    runner.tracker.notices.clear()
