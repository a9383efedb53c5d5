"""Model scores of the sample world: a shared logit, each model's own noise, planted shifts.

Scores follow the true label (never the gold), so gold errors show up as disagreements. The
planted score effects (regression slice, failure slice, coded and new terms, drift score
shift, implicit expression, language bias) are applied here, per model, after the common
logit is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.sample.metadata import EXPRESSION, where
from smo_eval.sample.sampling import Dim, categorical, sigmoid
from smo_eval.sample.truth import Truth


def _planted_shifts(
    model: str,
    planted: Mapping[str, Any],
    dims: Mapping[str, Dim],
    truth: Truth,
    current: np.ndarray,
) -> list[tuple[np.ndarray, float]]:
    """(items, logit shift) pairs of the planted effects that apply to one model."""
    label = truth.label
    reg, fail = planted["regression"], planted["failure_slice"]
    coded, new = planted["coded_term"], planted["drift"]["new_term"]
    drift = planted["drift"]["score_shift"]
    implicit = planted["expression_type"]
    candidates = [
        (
            model == reg["model"],
            where(dims, reg["where"]) & (label == reg["label"]),
            reg["logit_shift"],
        ),
        (
            model in fail["models"],
            where(dims, fail["where"]) & (label == fail["label"]),
            fail["logit_shift"],
        ),
        (model in coded["models"], truth.coded, coded["logit_shift"]),
        (model in new["models"], truth.new_term, new["logit_shift"]),
        (
            model == drift["model"],
            dims["language"].mask(drift["language"]) & current & (label == drift["label"]),
            drift["logit_shift"],
        ),
        (
            model in implicit["models"],
            dims[EXPRESSION].mask(implicit["value"]) & (label == implicit["label"]),
            implicit["logit_shift"],
        ),
    ]
    return [(mask, float(shift)) for applies, mask, shift in candidates if applies]


def _common_logit(
    rng: np.random.Generator, cfg: Mapping[str, Any], truth: Truth, categories: list[str]
) -> np.ndarray:
    """Logit part shared by all models: item difficulty, category offset, shared noise."""
    spec = cfg["scoring"]
    n = len(truth.label)
    offsets = np.array([spec["category_offset"].get(c, 0.0) for c in categories] + [0.0])
    pull = np.where(truth.label, -spec["hard_logit_pull"], spec["hard_logit_pull"]) * truth.hard
    noise = spec["shared_noise"] * rng.standard_normal(n, dtype=np.float32)
    hard_noise = spec["hard_extra_noise"] * truth.hard * rng.standard_normal(n, dtype=np.float32)
    return (offsets[truth.category] + pull + noise + hard_noise).astype(np.float32)


def draw_scores(
    rng: np.random.Generator,
    cfg: Mapping[str, Any],
    dims: Mapping[str, Dim],
    truth: Truth,
    current: np.ndarray,
    categories: list[str],
) -> dict[str, np.ndarray]:
    """Scores per model: sigmoid of the true-label logit plus noise and the planted shifts."""
    common = _common_logit(rng, cfg, truth, categories)
    bias = cfg["planted"]["language_bias"]
    scores: dict[str, np.ndarray] = {}
    for model, spec in cfg["models"].items():
        logit = common + np.where(truth.label, spec["pos_mean"], spec["neg_mean"]).astype(
            np.float32
        )
        logit += spec["noise"] * rng.standard_normal(len(common), dtype=np.float32)
        for mask, shift in _planted_shifts(model, cfg["planted"], dims, truth, current):
            logit[mask] += shift
        score = sigmoid(logit)
        if model in bias["models"]:
            score[dims["language"].mask(bias["language"])] *= bias["scale"]
        scores[model] = np.clip(score, 0.0, 1.0).astype(np.float32)
    return scores


def predictions_frame(scores: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Long format: one row per (item, model), models in config order."""
    models = list(scores)
    n = len(next(iter(scores.values())))
    return pd.DataFrame(
        {
            "item_id": np.tile(np.arange(1, n + 1, dtype=np.int64), len(models)),
            "model": categorical(np.repeat(np.arange(len(models)), n), models),
            "score": np.concatenate([scores[m] for m in models]),
        }
    )
