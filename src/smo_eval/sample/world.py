"""Deterministic synthetic world for the pipeline: items, gold, predictions, annotations, truth.

The world is drawn from the `sample` config group. Besides realistic structure (language
depends on region, prevalence and category mix depend on metadata), it plants named effects
(`planted.*`) that the later stages must find, and keeps the hidden truth so tests can check
that they do. Everything is vectorised numpy over integer codes, so 10 million items are cheap;
the only Python loops run over config entries (levels, categories, text pools), never rows.

This module only orders the steps: all draws of the period share one random generator, so the
order of the calls in `draw_part` is part of the world (tests/test_sample_world_digest.py pins
it); the weeks of history before the period (`planted.trend`) are drawn the same way with a
generator of their own, so the period's items do not depend on them. Each step lives in the
module that owns it: metadata, truth, texts, scores, annotations, trend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from smo_eval.sample.annotations import draw_annotations, draw_gold
from smo_eval.sample.metadata import (
    EXPRESSION,
    current_window,
    draw_dims,
    draw_expression,
    draw_times,
    items_frame,
)
from smo_eval.sample.scores import draw_scores, predictions_frame
from smo_eval.sample.texts import draw_text
from smo_eval.sample.trend import (
    concat,
    decay_annotator,
    fall_recall,
    history_size,
    history_times,
)
from smo_eval.sample.truth import Truth, draw_truth, truth_frame


@dataclass(frozen=True)
class SampleWorld:
    """The observable tables (items, gold, predictions, annotations) and the hidden truth."""

    items: pd.DataFrame
    gold: pd.DataFrame
    predictions: pd.DataFrame
    annotations: pd.DataFrame
    truth: pd.DataFrame


def _plain(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Accept a DictConfig or any mapping and return plain nested Python containers."""
    if isinstance(cfg, DictConfig):
        return cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    return dict(cfg)


@dataclass
class Part:
    """The draws of one stretch of time (the period, or the history before it)."""

    created: np.ndarray
    truth: Truth
    flip: np.ndarray
    scores: dict[str, np.ndarray]
    frames: dict[str, pd.DataFrame]   # items, gold (before the scores' predictions frame)
    annotations: pd.DataFrame


def draw_part(rng: np.random.Generator, conf: dict[str, Any], created: np.ndarray,
              categories: list[str], *, expression_seed: int) -> Part:
    """Every draw of a stretch of items, in the fixed order the world is pinned to; the
    expression type comes from a stream of its own (`expression_seed`), outside that order."""
    n = len(created)
    current = current_window(conf, created)
    dims = draw_dims(rng, conf, n, current) | {
        EXPRESSION: draw_expression(expression_seed, conf, n)}
    truth = draw_truth(rng, conf, dims, current, categories)
    text = draw_text(rng, dims["language"], truth, categories, conf["planted"])
    scores = draw_scores(rng, conf, dims, truth, current, categories)
    gold, flip = draw_gold(rng, conf, truth, created, categories)
    annotations = draw_annotations(rng, conf, truth, created, categories)
    return Part(created, truth, flip, scores,
                {"items": items_frame(dims, created, text), "gold": gold}, annotations)


def generate_world(
    cfg: Mapping[str, Any],
    taxonomy: Mapping[str, Any],
    n_items: int | None = None,
    seed: int | None = None,
) -> SampleWorld:
    """Draw the sample world; the same config, size and seed always give identical tables.

    `cfg` is the `sample` config group and `taxonomy` the taxonomy group (DictConfig or dict);
    `n_items` (the period's items) and `seed` override the config's. With `planted.trend`,
    weeks of history come before the period (`smo_eval.sample.trend`).
    """
    conf = _plain(cfg)
    categories = list(_plain(taxonomy)["categories"])
    n = int(conf["n_items"] if n_items is None else n_items)
    root = int(conf["seed"] if seed is None else seed)
    rng = np.random.default_rng(root)
    parts = [draw_part(rng, conf, draw_times(rng, conf, n), categories, expression_seed=root)]
    spec = conf["planted"].get("trend")
    if spec:
        history = np.random.default_rng([root, 1])
        size = history_size(conf, n)
        # annotation.max_items caps the whole world: the history gets what the period left
        left = conf["annotation"]["max_items"] - parts[0].annotations["item_id"].nunique()
        earlier = {**conf, "annotation": {**conf["annotation"], "max_items": max(left, 0)}}
        # the history's expression types: a stream apart from the period's (seed root + 1)
        parts.insert(0, draw_part(history, earlier, history_times(history, conf, size),
                                  categories, expression_seed=root + 1))
        effects = np.random.default_rng([root, 2])
        for part in parts:
            fall_recall(spec["recall_fall"], part, categories)
            decay_annotator(effects, spec["annotator_decay"], part,
                            conf["annotation"]["hard_penalty"])
    shifts = list(np.cumsum([0, *(len(p.created) for p in parts[:-1])]))
    scores = {m: np.concatenate([p.scores[m] for p in parts]) for m in parts[0].scores}
    return SampleWorld(
        items=concat([p.frames["items"] for p in parts], shifts),
        gold=concat([p.frames["gold"] for p in parts], shifts),
        predictions=predictions_frame(scores),
        annotations=concat([p.annotations for p in parts], shifts),
        truth=concat([truth_frame(p.truth, p.flip, categories) for p in parts], shifts),
    )
