"""Human labels of the sample world: QA gold with planted errors, and multi-annotator judgments.

Gold flips a planted share of labels against the truth (the label-quality stage must find
them); annotations give several independent judgments on a violation-enriched subset, with
per-annotator accuracy and one planted careless annotator, for agreement statistics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.sample.sampling import NS_PER_DAY, categorical, sample_rows
from smo_eval.sample.truth import Truth, risk_category


def _delays(rng: np.random.Generator, low_high: Sequence[float], n: int) -> np.ndarray:
    """Labeling delays in ns, uniform between the configured days."""
    low, high = low_high
    return (rng.uniform(low, high, n) * NS_PER_DAY).astype(np.int64)


def _flip_probability(spec: Mapping[str, float], label: np.ndarray) -> np.ndarray:
    """Per-item flip chance: `share` flips overall, `positive_share` of them violations."""
    prevalence = float(label.mean()) if len(label) else 0.0
    p_pos = spec["share"] * spec["positive_share"] / max(prevalence, 1e-12)
    p_neg = spec["share"] * (1.0 - spec["positive_share"]) / max(1.0 - prevalence, 1e-12)
    if p_pos > 1.0 or p_neg > 1.0:
        raise ValueError("label_errors share is larger than a class allows")
    return np.where(label, p_pos, p_neg)


def draw_gold(
    rng: np.random.Generator,
    cfg: Mapping[str, Any],
    truth: Truth,
    created: np.ndarray,
    categories: list[str],
) -> tuple[pd.DataFrame, np.ndarray]:
    """QA gold: the truth with a planted share of flipped labels; also returns the flips."""
    n = len(created)
    flip = rng.random(n) < _flip_probability(cfg["planted"]["label_errors"], truth.label)
    label = truth.label ^ flip
    category = np.where(label, truth.category, len(categories)).astype(np.int8)
    wrong_pos = flip & label
    category[wrong_pos] = sample_rows(rng, truth.mix, truth.mix_row[wrong_pos])
    spec = cfg["gold"]
    reviewers = list(spec["reviewers"])
    frame = pd.DataFrame(
        {
            "item_id": np.arange(1, n + 1, dtype=np.int64),
            "label": label.astype(np.int8),
            "risk_category": risk_category(category, categories),
            "gold_version": categorical(np.zeros(n, dtype=np.int8), [spec["version"]]),
            "labeled_at": (created + _delays(rng, spec["delay_days"], n)).astype("datetime64[ns]"),
            "reviewer": categorical(rng.integers(0, len(reviewers), n), reviewers),
        }
    )
    return frame, flip


def _annotated_items(
    rng: np.random.Generator, cfg: Mapping[str, Any], label: np.ndarray
) -> np.ndarray:
    """Item indices of the multi-annotator subset, enriched for violations.

    Weighted sampling without replacement: the k smallest Exp(1) / weight keys.
    """
    n = len(label)
    k = min(round(cfg["annotation_share"] * n), cfg["annotation"]["max_items"], n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    weight = 1.0 + (cfg["annotation"]["positive_boost"] - 1.0) * label
    keys = rng.exponential(size=n) / weight
    return np.sort(np.argpartition(keys, k - 1)[:k])


def _annotator_accuracy(cfg: Mapping[str, Any]) -> dict[str, float]:
    """Accuracy per annotator id, with the planted careless one included."""
    careless = cfg["planted"]["careless_annotator"]
    accuracy = {**cfg["annotation"]["accuracy"], careless["annotator_id"]: careless["accuracy"]}
    return dict(sorted(accuracy.items()))


def draw_annotations(
    rng: np.random.Generator,
    cfg: Mapping[str, Any],
    truth: Truth,
    created: np.ndarray,
    categories: list[str],
) -> pd.DataFrame:
    """Independent judgments: each annotator is right with its accuracy, less on hard items."""
    spec = cfg["annotation"]
    accuracy = _annotator_accuracy(cfg)
    ids = list(accuracy)
    per_item = spec["per_item"]
    chosen = _annotated_items(rng, cfg, truth.label)
    annotator = np.argsort(rng.random((len(chosen), len(ids))), axis=1)[:, :per_item].ravel()
    item = np.repeat(chosen, per_item)
    acc = np.array(list(accuracy.values()))[annotator] - spec["hard_penalty"] * truth.hard[item]
    correct = rng.random(len(item)) < acc
    label = np.where(correct, truth.label[item], ~truth.label[item])
    category = np.where(label, truth.category[item], len(categories)).astype(np.int8)
    redraw = label & (~correct | (rng.random(len(item)) < spec["category_confusion"]))
    category[redraw] = sample_rows(rng, truth.mix, truth.mix_row[item[redraw]])
    return pd.DataFrame(
        {
            "item_id": (item + 1).astype(np.int64),
            "annotator_id": categorical(annotator, ids),
            "label": label.astype(np.int8),
            "risk_category": risk_category(category, categories),
            "labeled_at": (created[item] + _delays(rng, [0.5, 14.0], len(item))).astype(
                "datetime64[ns]"
            ),
        }
    )
