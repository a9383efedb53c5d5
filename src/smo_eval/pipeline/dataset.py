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
    # Rows gold calls borderline and their scores, whatever evaluate.borderline made of them
    # in eval_table (smo_eval.policies.borderline); None without a borderline state.
    borderline: pd.DataFrame | None = None
    borderline_scores: pd.DataFrame | None = None

    @property
    def models(self) -> list[str]:
        return [str(m) for m in self.scores.columns]

    @property
    def hard_label_models(self) -> list[str]:
        """Models whose predictions are hard 0/1 decisions, not scores: rank metrics,
        calibration, threshold tuning and score drift do not apply to them."""
        return hard_label_models(self.scores)

    @property
    def gold_version(self) -> str | None:
        value = self.summary.get("gold_version")
        return None if value is None else str(value)

    def with_scores(self, scores: pd.DataFrame, hashes: dict[str, str]) -> Dataset:
        return replace(self, scores=scores, hashes={**self.hashes, **hashes})


def hard_label_models(scores: pd.DataFrame) -> list[str]:
    out = []
    for model in scores.columns:
        values = scores[model].dropna()
        if len(values) and bool(values.isin([0.0, 1.0]).all()):
            out.append(str(model))
    return out
