"""The validated inputs every analysis stage reads: one row per gold item with its metadata
(`eval_table`), a score column per model aligned to it (`scores`), raw QA judgments
(`annotations`), and where they came from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd


@dataclass
class Dataset:
    eval_table: pd.DataFrame
    scores: pd.DataFrame
    annotations: pd.DataFrame | None
    summary: dict[str, Any] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return [str(m) for m in self.scores.columns]

    @property
    def gold_version(self) -> str | None:
        value = self.summary.get("gold_version")
        return None if value is None else str(value)

    def with_scores(self, scores: pd.DataFrame, hashes: dict[str, str]) -> Dataset:
        return replace(self, scores=scores, hashes={**self.hashes, **hashes})
