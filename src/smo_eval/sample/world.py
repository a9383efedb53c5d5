"""Deterministic synthetic world for the pipeline: items, gold, predictions, annotations, truth.

The world is drawn from the `sample` config group. Besides realistic structure (language
depends on region, prevalence and category mix depend on metadata), it plants named effects
(`planted.*`) that the later stages must find, and keeps the hidden truth so tests can check
that they do. Everything is vectorised numpy over integer codes, so 10 million items are cheap;
the only Python loops run over config entries (levels, categories, text pools), never rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from smo_eval.sample import texts

NS_PER_DAY = 86_400 * 10**9
DIMENSIONS = ("region", "language", "content_type", "surface", "creator_tier")


@dataclass(frozen=True)
class SampleWorld:
    """The observable tables (items, gold, predictions, annotations) and the hidden truth."""

    items: pd.DataFrame
    gold: pd.DataFrame
    predictions: pd.DataFrame
    annotations: pd.DataFrame
    truth: pd.DataFrame


@dataclass(frozen=True)
class _Dim:
    """A categorical column as small integer codes plus its level names."""

    levels: list[str]
    codes: np.ndarray

    def index(self, value: str) -> int:
        if value not in self.levels:
            raise ValueError(f"unknown value {value!r}; known: {self.levels}")
        return self.levels.index(value)

    def mask(self, value: str) -> np.ndarray:
        return self.codes == self.index(value)

    def categorical(self) -> pd.Categorical[str]:
        return _categorical(self.codes, self.levels)


@dataclass(frozen=True)
class _Truth:
    """Hidden per-item state that labels, texts and scores are drawn from."""

    label: np.ndarray  # bool
    category: np.ndarray  # int8 index into categories; len(categories) means safe
    hard: np.ndarray  # bool
    mix_row: np.ndarray  # row of the category-mix table, to draw categories for false positives
    mix: np.ndarray  # (rows, categories) probabilities
    coded: np.ndarray  # bool: violating text written with a planted coded term
    new_term: np.ndarray  # bool: violating text with the drift's new term


def _categorical(codes: np.ndarray, levels: Sequence[str]) -> pd.Categorical[str]:
    """Categorical column from integer codes: the compact dtype every string column uses."""
    return pd.Categorical.from_codes(codes, categories=pd.Index(list(levels)))


def _plain(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Accept a DictConfig or any mapping and return plain nested Python containers."""
    if isinstance(cfg, DictConfig):
        return cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    return dict(cfg)


def _sample_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw a column per item from row `rows[i]` of `probs`, in one searchsorted.

    Row r's cumulative probabilities are offset by r, so all rows form one increasing array
    and `r + u` lands inside row r.
    """
    totals = probs.sum(axis=1, keepdims=True)
    if np.any(totals <= 0):
        raise ValueError("a conditional distribution has no positive weight")
    cum = np.cumsum(probs / totals, axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(len(cum))[:, None]).ravel()
    rows = rows.astype(np.int64)
    pos = np.searchsorted(flat, rows + rng.random(len(rows)), side="right")
    return pos - rows * probs.shape[1]


def _draw(rng: np.random.Generator, weights: Mapping[str, float], n: int) -> _Dim:
    """Draw a categorical column from `{level: weight}`."""
    levels = list(weights)
    probs = np.array([[weights[v] for v in levels]], dtype=np.float64)
    codes = _sample_rows(rng, probs, np.zeros(n, dtype=np.int64))
    return _Dim(levels, codes.astype(np.int8))


def _conditional_probs(
    table: Mapping[str, Mapping[str, float]], parent: _Dim
) -> tuple[list[str], np.ndarray]:
    """Levels and (parent level x child level) weights of `{parent: {child: weight}}`."""
    levels = list(dict.fromkeys(child for row in table.values() for child in row))
    probs = np.array([[table[p].get(c, 0.0) for c in levels] for p in parent.levels])
    return levels, probs


def _draw_given(
    rng: np.random.Generator, table: Mapping[str, Mapping[str, float]], parent: _Dim
) -> _Dim:
    """Draw a column whose distribution depends on the parent column's level."""
    levels, probs = _conditional_probs(table, parent)
    return _Dim(levels, _sample_rows(rng, probs, parent.codes).astype(np.int8))


def _draw_times(rng: np.random.Generator, cfg: Mapping[str, Any], n: int) -> np.ndarray:
    """Sorted creation times (ns since epoch), uniform over the period, so ids follow time."""
    start = np.datetime64(cfg["period"]["start"], "ns").astype(np.int64)
    end = np.datetime64(cfg["period"]["end"], "ns").astype(np.int64) + NS_PER_DAY
    return np.sort(rng.integers(start, end, size=n, dtype=np.int64))


def _current_window(cfg: Mapping[str, Any], created: np.ndarray) -> np.ndarray:
    """Items in the drift stage's current window."""
    first, last = cfg["planted"]["drift"]["current"]
    lo = np.datetime64(first, "ns").astype(np.int64)
    hi = np.datetime64(last, "ns").astype(np.int64) + NS_PER_DAY
    return (created >= lo) & (created < hi)


def _shift_language_mix(
    rng: np.random.Generator,
    cfg: Mapping[str, Any],
    region: _Dim,
    language: _Dim,
    current: np.ndarray,
) -> None:
    """Move current-window items to the drift language so its share grows `factor` times.

    With base share s, moving a fraction p = (factor - 1) s / (1 - s) of the other items
    gives s + (1 - s) p = factor * s.
    """
    spec = cfg["planted"]["drift"]["language_mix"]
    regions = cfg["regions"]
    total = sum(regions.values())
    share = sum(
        w
        / total
        * cfg["languages_by_region"][r].get(spec["language"], 0.0)
        / sum(cfg["languages_by_region"][r].values())
        for r, w in regions.items()
    )
    p = (spec["factor"] - 1.0) * share / (1.0 - share)
    if not 0.0 <= p <= 1.0:
        raise ValueError(
            f"language_mix factor {spec['factor']} is impossible for share {share:.3f}"
        )
    move = current & (rng.random(len(current)) < p)
    region.codes[move] = region.index(spec["region"])
    language.codes[move] = language.index(spec["language"])


def _draw_dims(
    rng: np.random.Generator, cfg: Mapping[str, Any], n: int, current: np.ndarray
) -> dict[str, _Dim]:
    """Metadata columns: region, language given region, content type, surface and tier."""
    region = _draw(rng, cfg["regions"], n)
    language = _draw_given(rng, cfg["languages_by_region"], region)
    _shift_language_mix(rng, cfg, region, language, current)
    content_type = _draw(rng, cfg["content_types"], n)
    surface = _draw_given(rng, cfg["surfaces_by_content_type"], content_type)
    tier = _draw_given(rng, cfg["creator_tiers_by_content_type"], content_type)
    return dict(zip(DIMENSIONS, (region, language, content_type, surface, tier), strict=True))


def _additive_table(
    factors: Sequence[tuple[np.ndarray, np.ndarray]], width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cross additive effects: each factor is (item codes, levels x width effects).

    Returns the (combinations x width) table of summed effects and each item's row in it.
    """
    table = np.zeros((1, width))
    row = np.zeros(len(factors[0][0]), dtype=np.int64)
    for codes, effect in factors:
        table = (table[:, None, :] + effect[None, :, :]).reshape(-1, width)
        row = row * len(effect) + codes
    return table, row


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrated_intercept(effects: np.ndarray, counts: np.ndarray, target: float) -> float:
    """Intercept b with mean sigmoid(b + effect) = target, by bisection over combinations."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        rate = float(counts @ _sigmoid(mid + effects)) / counts.sum()
        lo, hi = (mid, hi) if rate < target else (lo, mid)
    return (lo + hi) / 2


def _draw_labels(
    rng: np.random.Generator, cfg: Mapping[str, Any], dims: Mapping[str, _Dim]
) -> np.ndarray:
    """True violation labels: logit effects per metadata value, calibrated to the overall rate."""
    spec = cfg["prevalence"]
    factors = [
        (dims[name].codes, np.array([[effects.get(v, 0.0)] for v in dims[name].levels]))
        for name, effects in spec["logit_effects"].items()
    ]
    table, row = _additive_table(factors, 1)
    counts = np.bincount(row, minlength=len(table)).astype(np.float64)
    intercept = _calibrated_intercept(table[:, 0], counts, spec["overall"])
    p = _sigmoid(intercept + table[:, 0])[row]
    return rng.random(len(row)) < p


def _category_mix(
    cfg: Mapping[str, Any], dims: Mapping[str, _Dim], current: np.ndarray, categories: list[str]
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
    table, row = _additive_table(factors, len(categories))
    base = np.array([spec["base"][c] for c in categories])
    return base * np.exp(table), row


def _draw_truth(
    rng: np.random.Generator,
    cfg: Mapping[str, Any],
    dims: Mapping[str, _Dim],
    current: np.ndarray,
    categories: list[str],
) -> _Truth:
    """True label, leaf category, hardness and planted terms of every item."""
    n = len(current)
    label = _draw_labels(rng, cfg, dims)
    mix, mix_row = _category_mix(cfg, dims, current, categories)
    category = np.full(n, len(categories), dtype=np.int8)
    category[label] = _sample_rows(rng, mix, mix_row[label])
    hard = rng.random(n) < cfg["hard_share"]
    coded, new_term = _draw_terms(
        rng, cfg["planted"], dims["language"], category, current, categories
    )
    return _Truth(label, category, hard, mix_row, mix, coded, new_term)


def _draw_terms(
    rng: np.random.Generator,
    planted: Mapping[str, Any],
    language: _Dim,
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


def _text_pools(
    languages: list[str], categories: list[str], planted: Mapping[str, Any]
) -> tuple[list[list[str]], dict[str, int], int]:
    """All text pools in pool-id order: (language, category incl. safe), then coded, then new.

    Returns the pools, the coded pool id per category and the new-term pool id.
    """
    pools = [texts.pool(lang, cat) for lang in languages for cat in [*categories, texts.SAFE]]
    coded_ids: dict[str, int] = {}
    for cat, terms in planted["coded_term"]["terms"].items():
        coded_ids[cat] = len(pools)
        pools.append(texts.coded_pool(cat, terms))
    new = planted["drift"]["new_term"]
    pools.append(texts.coded_pool(new["category"], [new["term"]]))
    return pools, coded_ids, len(pools) - 1


def _draw_text(
    rng: np.random.Generator,
    language: _Dim,
    truth: _Truth,
    categories: list[str],
    planted: Mapping[str, Any],
) -> pd.Categorical[str]:
    """Pick each item's text from its pool; texts are stored once as categories."""
    pools, coded_ids, new_id = _text_pools(language.levels, categories, planted)
    index: dict[str, int] = {}
    codes = [np.array([index.setdefault(s, len(index)) for s in p], dtype=np.int64) for p in pools]
    sizes = np.array([len(c) for c in codes])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pool_id = language.codes.astype(np.int64) * (len(categories) + 1) + truth.category
    coded_pool = np.full(len(categories) + 1, -1, dtype=np.int64)
    for cat, pid in coded_ids.items():
        coded_pool[categories.index(cat)] = pid
    pool_id = np.where(truth.coded, coded_pool[truth.category], pool_id)
    pool_id[truth.new_term] = new_id
    offset = (rng.random(len(pool_id)) * sizes[pool_id]).astype(np.int64)
    picked = np.concatenate(codes)[starts[pool_id] + offset]
    return _categorical(picked, list(index))


def _where(dims: Mapping[str, _Dim], where: Mapping[str, str]) -> np.ndarray:
    """Items matching every `column: value` of a planted slice."""
    mask = np.ones(len(dims["region"].codes), dtype=bool)
    for column, value in where.items():
        mask &= dims[column].mask(value)
    return mask


def _planted_shifts(
    model: str,
    planted: Mapping[str, Any],
    dims: Mapping[str, _Dim],
    truth: _Truth,
    current: np.ndarray,
) -> list[tuple[np.ndarray, float]]:
    """(items, logit shift) pairs of the planted effects that apply to one model."""
    label = truth.label
    reg, fail = planted["regression"], planted["failure_slice"]
    coded, new = planted["coded_term"], planted["drift"]["new_term"]
    drift = planted["drift"]["score_shift"]
    candidates = [
        (
            model == reg["model"],
            _where(dims, reg["where"]) & (label == reg["label"]),
            reg["logit_shift"],
        ),
        (
            model in fail["models"],
            _where(dims, fail["where"]) & (label == fail["label"]),
            fail["logit_shift"],
        ),
        (model in coded["models"], truth.coded, coded["logit_shift"]),
        (model in new["models"], truth.new_term, new["logit_shift"]),
        (
            model == drift["model"],
            dims["language"].mask(drift["language"]) & current & (label == drift["label"]),
            drift["logit_shift"],
        ),
    ]
    return [(mask, float(shift)) for applies, mask, shift in candidates if applies]


def _common_logit(
    rng: np.random.Generator, cfg: Mapping[str, Any], truth: _Truth, categories: list[str]
) -> np.ndarray:
    """Logit part shared by all models: item difficulty, category offset, shared noise."""
    spec = cfg["scoring"]
    n = len(truth.label)
    offsets = np.array([spec["category_offset"].get(c, 0.0) for c in categories] + [0.0])
    pull = np.where(truth.label, -spec["hard_logit_pull"], spec["hard_logit_pull"]) * truth.hard
    noise = spec["shared_noise"] * rng.standard_normal(n, dtype=np.float32)
    hard_noise = spec["hard_extra_noise"] * truth.hard * rng.standard_normal(n, dtype=np.float32)
    return (offsets[truth.category] + pull + noise + hard_noise).astype(np.float32)


def _scores(
    rng: np.random.Generator,
    cfg: Mapping[str, Any],
    dims: Mapping[str, _Dim],
    truth: _Truth,
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
        score = _sigmoid(logit)
        if model in bias["models"]:
            score[dims["language"].mask(bias["language"])] *= bias["scale"]
        scores[model] = np.clip(score, 0.0, 1.0).astype(np.float32)
    return scores


def _delays(rng: np.random.Generator, low_high: Sequence[float], n: int) -> np.ndarray:
    """Labeling delays in ns, uniform between the configured days."""
    low, high = low_high
    return (rng.uniform(low, high, n) * NS_PER_DAY).astype(np.int64)


def _risk_category(codes: np.ndarray, categories: list[str]) -> pd.Categorical[str]:
    return _categorical(codes, [*categories, texts.SAFE])


def _flip_probability(spec: Mapping[str, float], label: np.ndarray) -> np.ndarray:
    """Per-item flip chance: `share` flips overall, `positive_share` of them violations."""
    prevalence = float(label.mean()) if len(label) else 0.0
    p_pos = spec["share"] * spec["positive_share"] / max(prevalence, 1e-12)
    p_neg = spec["share"] * (1.0 - spec["positive_share"]) / max(1.0 - prevalence, 1e-12)
    if p_pos > 1.0 or p_neg > 1.0:
        raise ValueError("label_errors share is larger than a class allows")
    return np.where(label, p_pos, p_neg)


def _gold(
    rng: np.random.Generator,
    cfg: Mapping[str, Any],
    truth: _Truth,
    created: np.ndarray,
    categories: list[str],
) -> tuple[pd.DataFrame, np.ndarray]:
    """QA gold: the truth with a planted share of flipped labels; also returns the flips."""
    n = len(created)
    flip = rng.random(n) < _flip_probability(cfg["planted"]["label_errors"], truth.label)
    label = truth.label ^ flip
    category = np.where(label, truth.category, len(categories)).astype(np.int8)
    wrong_pos = flip & label
    category[wrong_pos] = _sample_rows(rng, truth.mix, truth.mix_row[wrong_pos])
    spec = cfg["gold"]
    reviewers = list(spec["reviewers"])
    frame = pd.DataFrame(
        {
            "item_id": np.arange(1, n + 1, dtype=np.int64),
            "label": label.astype(np.int8),
            "risk_category": _risk_category(category, categories),
            "gold_version": _categorical(np.zeros(n, dtype=np.int8), [spec["version"]]),
            "labeled_at": (created + _delays(rng, spec["delay_days"], n)).astype("datetime64[ns]"),
            "reviewer": _categorical(rng.integers(0, len(reviewers), n), reviewers),
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


def _annotations(
    rng: np.random.Generator,
    cfg: Mapping[str, Any],
    truth: _Truth,
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
    category[redraw] = _sample_rows(rng, truth.mix, truth.mix_row[item[redraw]])
    return pd.DataFrame(
        {
            "item_id": (item + 1).astype(np.int64),
            "annotator_id": _categorical(annotator, ids),
            "label": label.astype(np.int8),
            "risk_category": _risk_category(category, categories),
            "labeled_at": (created[item] + _delays(rng, [0.5, 14.0], len(item))).astype(
                "datetime64[ns]"
            ),
        }
    )


def _items(
    dims: Mapping[str, _Dim], created: np.ndarray, text: pd.Categorical[str]
) -> pd.DataFrame:
    n = len(created)
    columns: dict[str, Any] = {"item_id": np.arange(1, n + 1, dtype=np.int64)}
    columns.update({name: dims[name].categorical() for name in DIMENSIONS[:4]})
    columns["created_at"] = created.astype("datetime64[ns]")
    columns["text"] = text
    columns["creator_tier"] = dims["creator_tier"].categorical()
    return pd.DataFrame(columns)


def _predictions(scores: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Long format: one row per (item, model), models in config order."""
    models = list(scores)
    n = len(next(iter(scores.values())))
    return pd.DataFrame(
        {
            "item_id": np.tile(np.arange(1, n + 1, dtype=np.int64), len(models)),
            "model": _categorical(np.repeat(np.arange(len(models)), n), models),
            "score": np.concatenate([scores[m] for m in models]),
        }
    )


def _truth_frame(truth: _Truth, gold_flip: np.ndarray, categories: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": np.arange(1, len(truth.label) + 1, dtype=np.int64),
            "true_label": truth.label.astype(np.int8),
            "true_category": _risk_category(truth.category, categories),
            "gold_is_error": gold_flip,
            "is_hard": truth.hard,
            "has_planted_term": truth.coded,
            "has_new_term": truth.new_term,
        }
    )


def generate_world(
    cfg: Mapping[str, Any],
    taxonomy: Mapping[str, Any],
    n_items: int | None = None,
    seed: int | None = None,
) -> SampleWorld:
    """Draw the sample world; the same config, size and seed always give identical tables.

    `cfg` is the `sample` config group and `taxonomy` the taxonomy group (DictConfig or dict);
    `n_items` and `seed` override the config's.
    """
    conf = _plain(cfg)
    categories = list(_plain(taxonomy)["categories"])
    n = int(conf["n_items"] if n_items is None else n_items)
    rng = np.random.default_rng(int(conf["seed"] if seed is None else seed))
    created = _draw_times(rng, conf, n)
    current = _current_window(conf, created)
    dims = _draw_dims(rng, conf, n, current)
    truth = _draw_truth(rng, conf, dims, current, categories)
    text = _draw_text(rng, dims["language"], truth, categories, conf["planted"])
    scores = _scores(rng, conf, dims, truth, current, categories)
    gold, flip = _gold(rng, conf, truth, created, categories)
    return SampleWorld(
        items=_items(dims, created, text),
        gold=gold,
        predictions=_predictions(scores),
        annotations=_annotations(rng, conf, truth, created, categories),
        truth=_truth_frame(truth, flip, categories),
    )
