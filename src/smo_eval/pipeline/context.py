"""What a stage's node sees: its typed settings, the validated inputs, other stages' outputs
by catalog key, the operating points, progress and notices — and no files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smo_eval.config.schema import Config

if TYPE_CHECKING:
    import pandas as pd

    from smo_eval.operating_point import Threshold
    from smo_eval.pipeline.dataset import Dataset
    from smo_eval.pipeline.registry import Stage
    from smo_eval.pipeline.runner import Runner
    from smo_eval.tracking import Tracker


class StageContext:
    """A node's view of the run (`run(ctx) -> StageResult` in `smo_eval.nodes.<stage>`)."""

    def __init__(self, runner: Runner, stage: Stage) -> None:
        self._runner = runner
        self.stage = stage
        self.notices: list[str] = []

    @property
    def config(self) -> Config:
        return self._runner.config

    @property
    def seed(self) -> int:
        return int(self.config.seed)

    @property
    def project_root(self) -> Path:
        return self._runner.project_root

    @property
    def overrides(self) -> list[str]:
        return list(self._runner.loaded.overrides)

    def dataset(self, *, with_challenger: bool = True) -> Dataset:
        """The validated inputs (ingest's outputs when current, else validated once here),
        with further prediction files joined, and the experiment's challenger unless asked."""
        return self._runner.dataset(base=not with_challenger)

    def read(self, key: str, *, when_missing: str = "compute") -> Any:
        """Another stage's output: from this run, else from its files while they are current,
        else computed here (`when_missing="skip"`: None when that stage never ran)."""
        return self._runner.value(key, when_missing=when_missing)

    def raw_table(self, path: str | Path) -> Any:
        """An input file as read (for stages that validate their own files)."""
        return self._runner.read_file(path)

    def backend(self) -> Any:
        """The SQL engine backend (`engine.backend=duckdb|spark`), None for pandas."""
        return self._runner.backend()

    def input_paths(self) -> dict[str, str | None]:
        return self._runner.input_paths()

    def operating_points(self, models: Sequence[str], table: pd.DataFrame
                         ) -> dict[str, Threshold]:
        return self._runner.operating_points(models, table)

    @property
    def tracker(self) -> Tracker:
        """The MLflow connection (for actions such as a registry promotion)."""
        return self._runner.tracker

    def notice(self, text: str) -> None:
        self.notices.append(text)

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Any]:
        from smo_eval import console

        with console.progress(description, total) as step:
            yield step
