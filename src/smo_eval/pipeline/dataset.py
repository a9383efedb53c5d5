"""The validated inputs every analysis stage reads: one row per gold item with its metadata
(`eval_table`), a score column per model aligned to it (`scores`), raw QA judgments
(`annotations`), and where they came from.

With a SQL engine backend (`engine.backend=duckdb|spark`) the dataset is lazy: the two
tables are read into memory only when a stage asks for them, and `relation` hands the
backend the same data as a query over ingest's Parquet files (or over the frames, once they
are in memory or other predictions were joined), so evaluate and compare count rows the
process never holds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd

Frame: TypeAlias = pd.DataFrame | Callable[[], pd.DataFrame]


class Dataset:
    def __init__(self, eval_table: Frame, scores: Frame, annotations: pd.DataFrame | None,
                 summary: dict[str, Any] | None = None, hashes: dict[str, str] | None = None,
                 *, backend: Any = None, files: tuple[Path, Path] | None = None,
                 models: list[str] | None = None) -> None:
        self._frames: dict[str, Frame] = {"eval": eval_table, "scores": scores}
        self.annotations = annotations
        self.summary = summary or {}
        self.hashes = hashes or {}
        self.backend = backend
        self.files = files
        self._models = models
        self._relation: Any = None

    def _frame(self, name: str) -> pd.DataFrame:
        value = self._frames[name]
        if not isinstance(value, pd.DataFrame):
            value = self._frames[name] = value()
        return value

    @property
    def eval_table(self) -> pd.DataFrame:
        return self._frame("eval")

    @property
    def scores(self) -> pd.DataFrame:
        return self._frame("scores")

    @property
    def models(self) -> list[str]:
        if self._models is not None and callable(self._frames["scores"]):
            return list(self._models)
        return [str(m) for m in self.scores.columns]

    @property
    def relation(self) -> Any:
        """The backend's relation (None with the pandas backend): over ingest's files while the
        frames are not in memory, else over the frames."""
        if self.backend is None:
            return None
        if self._relation is None:
            from smo_eval.engine.backends import files_relation, frame_relation

            lazy = callable(self._frames["eval"]) and callable(self._frames["scores"])
            self._relation = (files_relation(self.backend, *self.files)
                              if lazy and self.files is not None
                              else frame_relation(self.backend, self.eval_table, self.scores))
        return self._relation

    @property
    def gold_version(self) -> str | None:
        value = self.summary.get("gold_version")
        return None if value is None else str(value)

    def with_scores(self, scores: pd.DataFrame, hashes: dict[str, str]) -> Dataset:
        return Dataset(self._frames["eval"], scores, self.annotations, self.summary,
                       {**self.hashes, **hashes}, backend=self.backend)
