"""Hidden truth of the sample world: violation label, leaf category and hardness per item.

Prevalence and the category mix depend on metadata through additive logit effects and
log-space multipliers, calibrated so the overall rate is the configured one. The planted
terms (coded Mandarin terms, the drift's new term) are part of the truth because the texts
and the scores both follow them. The truth is kept (as the `truth` table) so tests can check
that later stages find what was planted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.sample.sampling import Dim, additive_table, categorical, sample_rows, sigmoid

# Name of the safe "category" in every table, and the phrase key of safe posts.
SAFE = "none"


@dataclass(frozen=True)
class Truth:
    """Hidden per-item state that labels, texts and scores are drawn from."""

    label: np.ndarray  # bool
    category: np.ndarray  # int8 index into categories; len(categories) means safe
    hard: np.ndarray  # bool
    mix_row: np.ndarray  # row of the category-mix table, to draw categories for false positives
    mix: np.ndarray  # (rows, categories) probabilities
    coded: np.ndarray  # bool: violating text written with a planted coded term
    new_term: np.ndarray  # bool: violating text with the drift's new term


def risk_category(codes: np.ndarray, categories: list[str]) -> pd.Categorical[str]:
    """Leaf category column; code len(categories) is the safe category."""
    return categorical(codes, [*categories, SAFE])


def _calibrated_intercept(effects: np.ndarray, counts: np.ndarray, target: float) -> float:
    """Intercept b with mean sigmoid(b + effect) = target, by bisection over combinations."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        rate = float(counts @ sigmoid(mid + effects)) / counts.sum()
        lo, hi = (mid, hi) if rate < target else (lo, mid)
    return (lo + hi) / 2


def _draw_labels(
    rng: np.random.Generator, cfg: Mapping[str, Any], dims: Mapping[str, Dim]
) -> np.ndarray:
    """True violation labels: logit effects per metadata value, calibrated to the overall rate."""
    spec = cfg["prevalence"]
    factors = [
        (dims[name].codes, np.array([[effects.get(v, 0.0)] for v in dims[name].levels]))
        for name, effects in spec["logit_effects"].items()
    ]
    table, row = additive_table(factors, 1)
    counts = np.bincount(row, minlength=len(table)).astype(np.float64)
    intercept = _calibrated_intercept(table[:, 0], counts, spec["overall"])
    p = sigmoid(intercept + table[:, 0])[row]
    return rng.random(len(row)) < p


def _category_mix(
    cfg: Mapping[str, Any], dims: Mapping[str, Dim], current: np.ndarray, categories: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Category probabilities per metadata combination, and each item's combination.

    Multipliers act in log space so they cross additively; the drift's new term also raises
    its category's share in its language in the current window.
    """
    spec = cfg["category_mix"]
    factors = [
        (
            dims[name].codes,
            np.log(
                [[by_level.get(v, {}).get(c, 1.0) for c in categories] for v in dims[name].levels]
            ),
        )
        for name, by_level in spec["multipliers"].items()
    ]
    new = cfg["planted"]["drift"]["new_term"]
    language = dims["language"]
    boost = np.zeros((2 * len(language.levels), len(categories)))
    boost[2 * language.index(new["language"]) + 1, categories.index(new["category"])] = np.log(
        new["category_boost"]
    )
    factors.append((language.codes.astype(np.int64) * 2 + current, boost))
    table, row = additive_table(factors, len(categories))
    base = np.array([spec["base"][c] for c in categories])
    return base * np.exp(table), row


def draw_truth(
    rng: np.random.Generator,
    cfg: Mapping[str, Any],
    dims: Mapping[str, Dim],
    current: np.ndarray,
    categories: list[str],
) -> Truth:
    """True label, leaf category, hardness and planted terms of every item."""
    n = len(current)
    label = _draw_labels(rng, cfg, dims)
    mix, mix_row = _category_mix(cfg, dims, current, categories)
    category = np.full(n, len(categories), dtype=np.int8)
    category[label] = sample_rows(rng, mix, mix_row[label])
    hard = rng.random(n) < cfg["hard_share"]
    coded, new_term = _draw_terms(
        rng, cfg["planted"], dims["language"], category, current, categories
    )
    return Truth(label, category, hard, mix_row, mix, coded, new_term)


def _draw_terms(
    rng: np.random.Generator,
    planted: Mapping[str, Any],
    language: Dim,
    category: np.ndarray,
    current: np.ndarray,
    categories: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Which violating items use a planted coded term, and which the drift's new term."""
    spec = planted["coded_term"]
    coded_cats = [categories.index(c) for c in spec["terms"]]
    coded = (
        language.mask(spec["language"])
        & np.isin(category, coded_cats)
        & (rng.random(len(category)) < spec["share"])
    )
    new = planted["drift"]["new_term"]
    new_term = (
        current
        & ~coded
        & language.mask(new["language"])
        & (category == categories.index(new["category"]))
        & (rng.random(len(category)) < new["share"])
    )
    return coded, new_term


def truth_frame(truth: Truth, gold_flip: np.ndarray, categories: list[str]) -> pd.DataFrame:
    """The hidden truth table, with which gold labels were flipped on purpose."""
    return pd.DataFrame(
        {
            "item_id": np.arange(1, len(truth.label) + 1, dtype=np.int64),
            "true_label": truth.label.astype(np.int8),
            "true_category": risk_category(truth.category, categories),
            "gold_is_error": gold_flip,
            "is_hard": truth.hard,
            "has_planted_term": truth.coded,
            "has_new_term": truth.new_term,
        }
    )
