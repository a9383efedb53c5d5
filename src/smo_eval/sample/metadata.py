"""Item metadata of the sample world: creation times, the drift window and the slice columns.

Region, language given region, content type, surface and creator tier are drawn with the
config's (conditional) mixes; the drift's language-mix shift is applied here because it moves
items between regions and languages, which everything drawn later depends on. The expression
type (explicit / implicit) is drawn on a random stream of its own (`draw_expression`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.sample.sampling import NS_PER_DAY, Dim, draw, draw_given

DIMENSIONS = ("region", "language", "content_type", "surface", "creator_tier")
EXPRESSION = "expression_type"
# Child stream of the world's seed that draws the expression type: the column came after the
# rest of the world, and drawing it apart left every other draw where it was.
EXPRESSION_STREAM = 1


def draw_times(rng: np.random.Generator, cfg: Mapping[str, Any], n: int) -> np.ndarray:
    """Sorted creation times (ns since epoch), uniform over the period, so ids follow time."""
    start = np.datetime64(cfg["period"]["start"], "ns").astype(np.int64)
    end = np.datetime64(cfg["period"]["end"], "ns").astype(np.int64) + NS_PER_DAY
    return np.sort(rng.integers(start, end, size=n, dtype=np.int64))


def current_window(cfg: Mapping[str, Any], created: np.ndarray) -> np.ndarray:
    """Items in the drift stage's current window."""
    first, last = cfg["planted"]["drift"]["current"]
    lo = np.datetime64(first, "ns").astype(np.int64)
    hi = np.datetime64(last, "ns").astype(np.int64) + NS_PER_DAY
    return (created >= lo) & (created < hi)


def _shift_language_mix(
    rng: np.random.Generator,
    cfg: Mapping[str, Any],
    region: Dim,
    language: Dim,
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


def draw_dims(
    rng: np.random.Generator, cfg: Mapping[str, Any], n: int, current: np.ndarray
) -> dict[str, Dim]:
    """Metadata columns: region, language given region, content type, surface and tier."""
    region = draw(rng, cfg["regions"], n)
    language = draw_given(rng, cfg["languages_by_region"], region)
    _shift_language_mix(rng, cfg, region, language, current)
    content_type = draw(rng, cfg["content_types"], n)
    surface = draw_given(rng, cfg["surfaces_by_content_type"], content_type)
    tier = draw_given(rng, cfg["creator_tiers_by_content_type"], content_type)
    return dict(zip(DIMENSIONS, (region, language, content_type, surface, tier), strict=True))


def draw_expression(seed: int, cfg: Mapping[str, Any], n: int) -> Dim:
    """How each item is phrased (`planted.expression_type.shares`, e.g. explicit / implicit),
    from its own random stream: independent of every other column and of the main draws."""
    rng = np.random.default_rng([seed, EXPRESSION_STREAM])
    return draw(rng, cfg["planted"][EXPRESSION]["shares"], n)


def where(dims: Mapping[str, Dim], conditions: Mapping[str, str]) -> np.ndarray:
    """Items matching every `column: value` of a planted slice."""
    mask = np.ones(len(dims["region"].codes), dtype=bool)
    for column, value in conditions.items():
        mask &= dims[column].mask(value)
    return mask


def items_frame(
    dims: Mapping[str, Dim], created: np.ndarray, text: pd.Categorical[str]
) -> pd.DataFrame:
    """The observable items table: id, metadata, creation time and text, in a fixed order."""
    n = len(created)
    columns: dict[str, Any] = {"item_id": np.arange(1, n + 1, dtype=np.int64)}
    columns.update({name: dims[name].categorical() for name in DIMENSIONS[:4]})
    columns["created_at"] = created.astype("datetime64[ns]")
    columns["text"] = text
    columns["creator_tier"] = dims["creator_tier"].categorical()
    columns[EXPRESSION] = dims[EXPRESSION].categorical()
    return pd.DataFrame(columns)
