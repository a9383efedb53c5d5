"""Vectorised drawing primitives of the sample world: coded columns, conditional draws, logits.

Every other sample module draws through these, so the world stays numpy over small integer
codes (10 million items are cheap) and the random stream is consumed in one fixed order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class Dim:
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
        return categorical(self.codes, self.levels)


def categorical(codes: np.ndarray, levels: Sequence[str]) -> pd.Categorical[str]:
    """Categorical column from integer codes: the compact dtype every string column uses."""
    return pd.Categorical.from_codes(codes, categories=pd.Index(list(levels)))


def sample_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
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


def draw(rng: np.random.Generator, weights: Mapping[str, float], n: int) -> Dim:
    """Draw a categorical column from `{level: weight}`."""
    levels = list(weights)
    probs = np.array([[weights[v] for v in levels]], dtype=np.float64)
    codes = sample_rows(rng, probs, np.zeros(n, dtype=np.int64))
    return Dim(levels, codes.astype(np.int8))


def _conditional_probs(
    table: Mapping[str, Mapping[str, float]], parent: Dim
) -> tuple[list[str], np.ndarray]:
    """Levels and (parent level x child level) weights of `{parent: {child: weight}}`."""
    levels = list(dict.fromkeys(child for row in table.values() for child in row))
    probs = np.array([[table[p].get(c, 0.0) for c in levels] for p in parent.levels])
    return levels, probs


def draw_given(
    rng: np.random.Generator, table: Mapping[str, Mapping[str, float]], parent: Dim
) -> Dim:
    """Draw a column whose distribution depends on the parent column's level."""
    levels, probs = _conditional_probs(table, parent)
    return Dim(levels, sample_rows(rng, probs, parent.codes).astype(np.int8))


def additive_table(
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


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
