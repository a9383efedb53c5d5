"""Short post texts per language and risk category for the sample world.

The phrases are data, kept in `phrases.yaml` next to this module and read once. Each pool is
the cross product opener x core phrase x closer x decoration, so a few dozen hand-written
phrases give hundreds of distinct strings per language and category; items then only draw an
index, which keeps ten million rows cheap. Decorations carry URLs, phone numbers, emoji,
hashtags and digits; openers and closers add code-mixing and length variety, which the error
analysis turns into features.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import product
from typing import Any

import numpy as np
import pandas as pd
import yaml

from smo_eval.sample.sampling import Dim, categorical
from smo_eval.sample.truth import SAFE, Truth

PHRASES_FILE = "phrases.yaml"


@dataclass(frozen=True)
class Phrasebook:
    """The phrase data: decorations by kind, openers, closers, phrases and coded templates."""

    promo_categories: frozenset[str]
    decorations: dict[str, tuple[str, ...]]  # safe, promo, hostile
    openers: dict[str, tuple[str, ...]]  # by language
    closers: dict[str, tuple[str, ...]]  # by language
    phrases: dict[str, dict[str, tuple[str, ...]]]  # by language, then category
    coded_templates_zh: dict[str, tuple[str, ...]]  # by category, with a `{term}` slot


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"{PHRASES_FILE}: {where} must be a list of strings")
    return tuple(value)


def _by_key(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{PHRASES_FILE}: {where} must be a mapping with string keys")
    return value


def _lists(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    return {k: _strings(v, f"{where}.{k}") for k, v in _by_key(value, where).items()}


@cache
def phrasebook() -> Phrasebook:
    """The package's phrase file, parsed and checked once per process."""
    text = resources.files("smo_eval.sample").joinpath(PHRASES_FILE).read_text(encoding="utf-8")
    data = _by_key(yaml.safe_load(text), "the top level")
    phrases = _by_key(data["phrases"], "phrases")
    return Phrasebook(
        promo_categories=frozenset(_strings(data["promo_categories"], "promo_categories")),
        decorations=_lists(data["decorations"], "decorations"),
        openers=_lists(data["openers"], "openers"),
        closers=_lists(data["closers"], "closers"),
        phrases={lang: _lists(cats, f"phrases.{lang}") for lang, cats in phrases.items()},
        coded_templates_zh=_lists(data["coded_templates_zh"], "coded_templates_zh"),
    )


def _combine(language: str, cores: Iterable[str], category: str) -> list[str]:
    """All opener x core x closer x decoration strings of one pool.

    Decorations fit the category: links and phones sell, emoji and caps shout.
    """
    book = phrasebook()
    if category == SAFE:
        kind = "safe"
    else:
        kind = "promo" if category in book.promo_categories else "hostile"
    parts = product(book.openers[language], cores, book.closers[language], book.decorations[kind])
    return ["".join(p) for p in parts]


def pool(language: str, category: str) -> list[str]:
    """Distinct texts of one language and category (`none` for safe posts)."""
    try:
        cores = phrasebook().phrases[language][category]
    except KeyError as exc:
        raise KeyError(f"no sample texts for language={language!r}, category={category!r}") from exc
    return _combine(language, cores, category)


def coded_pool(category: str, terms: Sequence[str]) -> list[str]:
    """Mandarin texts of one category written with the given coded terms."""
    templates = phrasebook().coded_templates_zh
    if category not in templates:
        known = ", ".join(sorted(templates))
        raise KeyError(f"no coded Mandarin templates for {category!r} (known: {known})")
    cores = [t.format(term=term) for term in terms for t in templates[category]]
    return _combine("zh", cores, category)


def _text_pools(
    languages: list[str], categories: list[str], planted: Mapping[str, Any]
) -> tuple[list[list[str]], dict[str, int], int]:
    """All text pools in pool-id order: (language, category incl. safe), then coded, then new.

    Returns the pools, the coded pool id per category and the new-term pool id.
    """
    pools = [pool(lang, cat) for lang in languages for cat in [*categories, SAFE]]
    coded_ids: dict[str, int] = {}
    for cat, terms in planted["coded_term"]["terms"].items():
        coded_ids[cat] = len(pools)
        pools.append(coded_pool(cat, terms))
    new = planted["drift"]["new_term"]
    pools.append(coded_pool(new["category"], [new["term"]]))
    return pools, coded_ids, len(pools) - 1


def draw_text(
    rng: np.random.Generator,
    language: Dim,
    truth: Truth,
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
    coded_pool_id = np.full(len(categories) + 1, -1, dtype=np.int64)
    for cat, pid in coded_ids.items():
        coded_pool_id[categories.index(cat)] = pid
    pool_id = np.where(truth.coded, coded_pool_id[truth.category], pool_id)
    pool_id[truth.new_term] = new_id
    offset = (rng.random(len(pool_id)) * sizes[pool_id]).astype(np.int64)
    picked = np.concatenate(codes)[starts[pool_id] + offset]
    return categorical(picked, list(index))
