"""Weeks of history before the sample world's period, and the two changes `trend` must find.

`planted.trend` in the sample preset:
- `history`: weeks before `period.start`, drawn like the period itself (same mixes, the same
  time-invariant planted effects, none of the drift window's) with their own random stream, at
  `volume` times the period's items per day; they come first, so item ids follow time;
- `recall_fall`: from an ISO week on, the listed models miss more violations of one category
  (a logit shift of those items' scores), through the end of the world;
- `annotator_decay`: from an ISO week on (by the judgment's labeled_at), one annotator is
  right only `accuracy` of the time (less the hard-item penalty every annotator has).
Everything else is stable over time. The period's own items are drawn exactly as before and
then moved after the history: its draws do not depend on the history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from smo_eval.sample.sampling import NS_PER_DAY, sample_rows, sigmoid
from smo_eval.sample.truth import SAFE

if TYPE_CHECKING:
    from smo_eval.sample.world import Part

_EPS = 1e-7


def week_start(label: str) -> int:
    """Monday 00:00 of an ISO week `2026-W38`, in ns since the epoch."""
    year, _, week = str(label).partition("-W")
    try:
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ValueError(f"planted.trend: {label!r} is not an ISO week like 2026-W38") from None
    return int(np.datetime64(monday, "ns").astype(np.int64))


def _period_days(cfg: Mapping[str, Any]) -> tuple[int, int]:
    start = np.datetime64(cfg["period"]["start"], "ns").astype(np.int64)
    end = np.datetime64(cfg["period"]["end"], "ns").astype(np.int64) + NS_PER_DAY
    return int(start), int((end - start) // NS_PER_DAY)


def history_size(cfg: Mapping[str, Any], n_items: int) -> int:
    """Items of the history: its days x the period's items per day x `volume`."""
    spec = (cfg["planted"].get("trend") or {}).get("history") or {}
    _, days = _period_days(cfg)
    return round(n_items / days * 7 * int(spec.get("weeks", 0)) * float(spec.get("volume", 1)))


def history_times(rng: np.random.Generator, cfg: Mapping[str, Any], n: int) -> np.ndarray:
    """Sorted creation times, uniform over the history's weeks before `period.start`."""
    start, _ = _period_days(cfg)
    weeks = int(cfg["planted"]["trend"]["history"]["weeks"])
    return np.sort(rng.integers(start - weeks * 7 * NS_PER_DAY, start, size=n, dtype=np.int64))


def fall_recall(spec: Mapping[str, Any], part: Part, categories: list[str]) -> None:
    """Shift the listed models' scores of the category's violations from the week on."""
    category = categories.index(spec["category"])
    hit = ((part.created >= week_start(spec["week"])) & part.truth.label
           & (part.truth.category == category))
    for model in spec["models"]:
        score = np.clip(part.scores[model][hit].astype(np.float64), _EPS, 1 - _EPS)
        logit = np.log(score) - np.log1p(-score) + float(spec["logit_shift"])
        part.scores[model][hit] = sigmoid(logit).astype(np.float32)


def decay_annotator(rng: np.random.Generator, spec: Mapping[str, Any], part: Part,
                    hard_penalty: float) -> None:
    """Redraw the annotator's judgments from the week on at the lower accuracy."""
    notes = part.annotations
    hit = ((notes["annotator_id"].astype(str) == spec["annotator_id"]).to_numpy()
           & (notes["labeled_at"].to_numpy().astype(np.int64) >= week_start(spec["week"])))
    rows = np.flatnonzero(hit)
    item = notes["item_id"].to_numpy()[rows] - 1
    truth = part.truth
    right = rng.random(len(rows)) < float(spec["accuracy"]) - hard_penalty * truth.hard[item]
    label = np.where(right, truth.label[item], ~truth.label[item])
    codes = notes["risk_category"].cat.codes.to_numpy().copy()
    codes[rows] = list(notes["risk_category"].cat.categories).index(SAFE)
    violating = label & truth.label[item]  # judged violating and right: its true category
    codes[rows[violating]] = truth.category[item[violating]]
    invented = label & ~truth.label[item]  # judged violating wrongly: a category of the mix
    codes[rows[invented]] = sample_rows(rng, truth.mix, truth.mix_row[item[invented]])
    labels = notes["label"].to_numpy().copy()
    labels[rows] = label
    part.annotations = notes.assign(label=labels.astype(np.int8), risk_category=pd.Categorical
                                    .from_codes(codes, dtype=notes["risk_category"].dtype))


def concat(frames: Sequence[pd.DataFrame], shifts: Sequence[int]) -> pd.DataFrame:
    """Tables of the parts in time order, item ids moved by each part's shift; categorical
    columns keep their levels (the union, in order of first appearance)."""
    moved = [f.assign(item_id=f["item_id"] + s) for f, s in zip(frames, shifts, strict=True)]
    out = pd.concat(moved, ignore_index=True)
    for column in frames[0].columns:
        if isinstance(frames[0][column].dtype, pd.CategoricalDtype):
            union = pd.api.types.union_categoricals([f[column] for f in moved],
                                                    sort_categories=False)
            out[column] = pd.Categorical(union)
    return out
