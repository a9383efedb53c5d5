"""Annotator agreement from raw judgments: Fleiss' kappa, Krippendorff's alpha, Cohen's kappa.

Every coefficient is a function of per-item sufficient statistics (how many ratings of each
value an item got, and for Cohen the per-pair contingency tables), so each is computed once
per item with `np.bincount` and summed over the joint cells of the slice index: the same
slices as `evaluate`, and no loop over items or slices in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smo_eval.engine.slices import SliceIndex
from smo_eval.slicekey import to_json


@dataclass(frozen=True)
class Ratings:
    """Judgments as integer codes: item (row of `items`), rater, value (0..n_values-1)."""

    item: np.ndarray
    rater: np.ndarray
    value: np.ndarray
    items: pd.Index
    raters: pd.Index
    n_values: int

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, field: str = "label") -> Ratings:
        item, items = pd.factorize(frame["item_id"], sort=True)
        rater, raters = pd.factorize(frame["annotator_id"].astype("string"), sort=True)
        value = frame[field].to_numpy().astype(np.int64)
        n_values = max(int(value.max()) + 1, 2) if len(value) else 2
        return cls(item.astype(np.int64), rater.astype(np.int64), value, pd.Index(items),
                   pd.Index(raters), n_values)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def counts(self) -> np.ndarray:
        """(n_items, n_values): how many ratings of each value each item got."""
        k = self.n_values
        return np.bincount(self.item * k + self.value,
                           minlength=self.n_items * k).reshape(self.n_items, k)

    @property
    def identified(self) -> bool:
        """Whether rater ids identify people (some rater judged more than one item)."""
        return bool(len(self.rater)) and int(np.bincount(self.rater).max()) > 1


def fixed_ratings(counts: np.ndarray) -> int:
    """The number of ratings per item Fleiss' kappa uses: the most common one (at least 2)."""
    m = counts.sum(axis=1)
    m = m[m >= 2]
    return int(np.bincount(m).argmax()) if len(m) else 0


def item_statistics(counts: np.ndarray, m_fixed: int) -> np.ndarray:
    """Per item, the additive statistics of Fleiss and Krippendorff (columns documented below).

    Fleiss (items with exactly `m_fixed` ratings): [used, P_i, n_ij...];
    Krippendorff (items with >= 2 ratings): [D_o contribution, pairable n_uc...].
    """
    k = counts.shape[1]
    m = counts.sum(axis=1).astype(np.float64)
    sq = (counts.astype(np.float64) ** 2).sum(axis=1)
    fleiss = (m == m_fixed) & (m_fixed >= 2)
    p_i = np.where(fleiss, (sq - m) / max(m_fixed * (m_fixed - 1), 1), 0.0)
    pairable = m >= 2
    d_o = np.where(pairable, (m * m - sq) / np.maximum(m - 1, 1), 0.0)
    out = np.empty((len(counts), 3 + 2 * k), dtype=np.float64)
    out[:, 0] = fleiss
    out[:, 1] = p_i
    out[:, 2:2 + k] = counts * fleiss[:, None]
    out[:, 2 + k] = d_o
    out[:, 3 + k:] = counts * pairable[:, None]
    return out


def coefficients(stats: np.ndarray, m_fixed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fleiss' kappa, its item count, and Krippendorff's alpha from summed item statistics."""
    k = (stats.shape[1] - 3) // 2
    n_f = stats[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        p_bar = stats[:, 1] / n_f
        p_j = stats[:, 2:2 + k] / (n_f * m_fixed)[:, None]
        p_e = (p_j ** 2).sum(axis=1)
        fleiss = (p_bar - p_e) / (1 - p_e)
        n_c = stats[:, 3 + k:]
        n = n_c.sum(axis=1)
        expected = n * n - (n_c ** 2).sum(axis=1)
        alpha = 1 - (n - 1) * stats[:, 2 + k] / expected
    fleiss = np.where(n_f > 0, fleiss, np.nan)
    alpha = np.where(expected > 0, alpha, np.nan)
    return fleiss, n_f, alpha


def cohen_kappa(tables: np.ndarray) -> np.ndarray:
    """Cohen's kappa of (..., K, K) contingency tables; NaN where undefined."""
    n = tables.sum(axis=(-2, -1)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = np.trace(tables, axis1=-2, axis2=-1) / n
        p_e = (tables.sum(axis=-1) * tables.sum(axis=-2)).sum(axis=-1) / (n * n)
        kappa = (p_o - p_e) / (1 - p_e)
    return np.where((n > 0) & (p_e < 1), kappa, np.nan)


@dataclass(frozen=True)
class PairTables:
    """Contingency tables of every annotator pair that shares an item, per joint cell."""

    pair_a: np.ndarray          # rater code of the pair's first annotator
    pair_b: np.ndarray
    tables: np.ndarray          # (n_cells, n_pairs, K, K)


def pair_tables(r: Ratings, cell_of_item: np.ndarray, n_cells: int) -> PairTables:
    """All within-item annotator pairs (a < b) counted by (cell, pair, value_a, value_b)."""
    frame = pd.DataFrame({"item": r.item, "rater": r.rater, "value": r.value})
    joined = frame.merge(frame, on="item", suffixes=("_a", "_b"))
    joined = joined[joined["rater_a"] < joined["rater_b"]]
    n_raters = max(len(r.raters), 1)
    code = joined["rater_a"].to_numpy() * n_raters + joined["rater_b"].to_numpy()
    pair, uniques = pd.factorize(code, sort=True)
    k = r.n_values
    n_pairs = len(uniques)
    cell = cell_of_item[joined["item"].to_numpy()].astype(np.int64)
    key = ((cell * n_pairs + pair) * k + joined["value_a"].to_numpy()) * k
    key += joined["value_b"].to_numpy()
    tables = np.bincount(key, minlength=n_cells * n_pairs * k * k).reshape(n_cells, n_pairs, k, k)
    uniques = np.asarray(uniques, dtype=np.int64)
    return PairTables(uniques // n_raters, uniques % n_raters, tables)


def slice_agreement(r: Ratings, index: SliceIndex, cell_of_item: np.ndarray,
                    min_shared: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Agreement per slice and the overall Cohen's kappa of every annotator pair.

    `cell_of_item` gives each item's joint cell of `index` (items without metadata fall in
    the overall slice only when the index was built with no dimensions).
    """
    counts = r.counts()
    m_fixed = fixed_ratings(counts)
    per_item = item_statistics(counts, m_fixed)
    n_cells = index.n_cells
    k_stats = per_item.shape[1]
    cell_stats = np.zeros((n_cells, k_stats))
    for column in range(k_stats):
        cell_stats[:, column] = np.bincount(cell_of_item, weights=per_item[:, column],
                                            minlength=n_cells)
    stats = index.aggregate(cell_stats)
    fleiss, n_fleiss, alpha = coefficients(stats, m_fixed)
    rated = counts.sum(axis=1)
    n_items = index.aggregate(np.bincount(cell_of_item, minlength=n_cells).astype(float))
    n_ratings = index.aggregate(np.bincount(cell_of_item, weights=rated, minlength=n_cells))
    rater_cells = np.bincount(cell_of_item[r.item] * len(r.raters) + r.rater,
                              minlength=n_cells * len(r.raters)).reshape(n_cells, -1) > 0
    n_annotators = (index.aggregate(rater_cells.astype(float)) > 0).sum(axis=1)

    mean_cohen = np.full(len(index.names), np.nan)
    n_pairs = np.zeros(len(index.names), dtype=np.int64)
    pairs = pd.DataFrame(columns=["annotator_a", "annotator_b", "shared_items", "cohen_kappa",
                                  "agreement"])
    if r.identified:
        pt = pair_tables(r, cell_of_item, n_cells)
        per_slice = index.aggregate(pt.tables.astype(float))           # (S, P, K, K)
        shared = per_slice.sum(axis=(-2, -1))
        kappa = np.where(shared >= min_shared, cohen_kappa(per_slice), np.nan)
        n_pairs = np.isfinite(kappa).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_cohen = np.where(n_pairs > 0, np.nansum(kappa, axis=1) / n_pairs, np.nan)
        overall = per_slice[0]
        pairs = pd.DataFrame({
            "annotator_a": r.raters[pt.pair_a].astype(str),
            "annotator_b": r.raters[pt.pair_b].astype(str),
            "shared_items": shared[0].astype(np.int64),
            "cohen_kappa": kappa[0],
            "agreement": np.trace(overall, axis1=-2, axis2=-1) / np.maximum(shared[0], 1),
        }).sort_values(["annotator_a", "annotator_b"]).reset_index(drop=True)
    table = pd.DataFrame({
        "slice": index.names, "dimension": index.dimensions,
        "n_items": n_items.round().astype(np.int64), "n_annotators": n_annotators,
        "fleiss_kappa": fleiss, "krippendorff_alpha": alpha,
        "mean_pairwise_cohen_kappa": mean_cohen,
        "n_ratings": n_ratings.round().astype(np.int64),
        "ratings_per_item": m_fixed, "fleiss_items": n_fleiss.round().astype(np.int64),
        "cohen_pairs": n_pairs, "slice_key": [to_json(k) for k in index.keys],
    })
    return table[table["n_items"] > 0].reset_index(drop=True), pairs
