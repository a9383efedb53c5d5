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

import numpy as np
import pandas as pd

Frame: TypeAlias = pd.DataFrame | Callable[[], pd.DataFrame]


class Dataset:
    def __init__(self, eval_table: Frame, scores: Frame, annotations: pd.DataFrame | None,
                 summary: dict[str, Any] | None = None, hashes: dict[str, str] | None = None,
                 *, backend: Any = None, files: tuple[Path, Path] | None = None,
                 models: list[str] | None = None, borderline: pd.DataFrame | None = None,
                 borderline_scores: pd.DataFrame | None = None) -> None:
        self._frames: dict[str, Frame] = {"eval": eval_table, "scores": scores}
        self.annotations = annotations
        self.summary = summary or {}
        self.hashes = hashes or {}
        self.backend = backend
        self.files = files
        self._models = models
        self._relation: Any = None
        # Rows gold calls borderline and their scores, whatever evaluate.borderline made of
        # them in eval_table (smo_eval.policies.dataset); None without a borderline state.
        self.borderline = borderline
        self.borderline_scores = borderline_scores

    def _frame(self, name: str) -> pd.DataFrame:
        value = self._frames[name]
        if not isinstance(value, pd.DataFrame):
            value = self._frames[name] = value()
        return value

    @property
    def lazy(self) -> bool:
        """True while neither table has been read into memory."""
        return callable(self._frames["eval"]) and callable(self._frames["scores"])

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
    def hard_label_models(self) -> list[str]:
        """Models whose predictions are hard 0/1 decisions, not scores: rank metrics,
        calibration, threshold tuning and score drift do not apply to them. On a lazy dataset
        ingest's summary says (it records them), so the scores stay on disk."""
        if callable(self._frames["scores"]) and "hard_label_models" in self.summary:
            return [str(m) for m in self.summary["hard_label_models"]]
        return hard_label_models(self.scores)

    @property
    def relation(self) -> Any:
        """The backend's relation (None with the pandas backend): over ingest's files while the
        frames are not in memory, else over the frames."""
        if self.backend is None:
            return None
        if self._relation is None:
            from smo_eval.engine.backends import files_relation, frame_relation

            self._relation = (files_relation(self.backend, *self.files)
                              if self.lazy and self.files is not None
                              else frame_relation(self.backend, self.eval_table, self.scores))
        return self._relation

    @property
    def gold_version(self) -> str | None:
        value = self.summary.get("gold_version")
        return None if value is None else str(value)

    def replace(self, **changes: Any) -> Dataset:
        """A copy with some of `eval_table`, `scores`, `hashes`, `borderline`,
        `borderline_scores` changed; the backend stays, the files only while both tables do."""
        eval_table = changes.pop("eval_table", self._frames["eval"])
        scores = changes.pop("scores", self._frames["scores"])
        same = eval_table is self._frames["eval"] and scores is self._frames["scores"]
        out = Dataset(eval_table, scores, self.annotations, self.summary,
                      changes.pop("hashes", self.hashes), backend=self.backend,
                      files=self.files if same else None, models=self._models if same else None,
                      borderline=changes.pop("borderline", self.borderline),
                      borderline_scores=changes.pop("borderline_scores",
                                                    self.borderline_scores))
        if changes:
            raise TypeError(f"Dataset.replace: unknown fields {sorted(changes)}")
        return out

    def with_scores(self, scores: pd.DataFrame, hashes: dict[str, str]) -> Dataset:
        return self.replace(scores=scores, hashes={**self.hashes, **hashes})


# Why a hard-label model's slice rows have no rank metrics (the slice table's `undefined`).
HARD_LABEL_REASON = "roc_auc, pr_auc, brier, ece: hard 0/1 predictions (no scores to rank)"


def hard_label_models(scores: pd.DataFrame) -> list[str]:
    """Models whose every score is 0 or 1: decisions, not scores (rank metrics, calibration
    and threshold tuning do not apply). A model with one score strictly between is stopped at
    its first such chunk, so scored models cost a fraction of a pass."""
    out = []
    for model in scores.columns:
        values = scores[model].to_numpy(dtype=np.float64, na_value=np.nan)
        seen, hard = False, True
        for start in range(0, len(values), 1 << 20):
            chunk = values[start:start + (1 << 20)]
            chunk = chunk[~np.isnan(chunk)]
            seen |= len(chunk) > 0
            if not ((chunk == 0.0) | (chunk == 1.0)).all():
                hard = False
                break
        if seen and hard:
            out.append(str(model))
    return out


def in_memory(value: Any) -> Any:
    """A frame, or a backend's lazy table read into one."""
    return value.to_pandas() if hasattr(value, "to_pandas") else value
