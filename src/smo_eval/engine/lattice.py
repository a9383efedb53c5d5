"""SliceLine-style lattice search for slices where a model errs more often than elsewhere.

Conjunctions of up to three `column = value` conditions. Each level counts every candidate of
a column combination with one `np.bincount` over combined codes (no loop over candidate
slices); a conjunction is only counted when each of its sub-conjunctions has enough support
and errors (both shrink as conditions are added, so the pruning loses nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests


@dataclass(frozen=True)
class Column:
    name: str
    codes: np.ndarray   # int, -1 = missing, one per row of the population
    values: list[str]


def column_of(name: str, series: pd.Series) -> Column:
    codes, uniques = pd.factorize(series, sort=True)
    return Column(name, codes.astype(np.int64), [str(v) for v in uniques])


def _compress(cols: list[Column], err: np.ndarray) -> tuple[list[np.ndarray], np.ndarray,
                                                              np.ndarray]:
    """Rows with the same code in every column are one weighted row: (codes per column,
    rows, errors) per distinct combination. A million rows over a dozen small columns hold a
    few thousand distinct combinations, so the search below costs little per level."""
    key = np.zeros(len(err), dtype=np.int64)
    for col in cols:
        radix = len(col.values) + 1
        if (int(key.max(initial=0)) + 1) * radix >= 1 << 62:
            key = pd.factorize(key)[0].astype(np.int64)  # renumber densely: no overflow
        key = key * radix + (col.codes + 1)
    group, _ = pd.factorize(key)
    n_groups = int(group.max(initial=-1)) + 1
    first = np.zeros(n_groups, dtype=np.int64)
    first[group[::-1]] = np.arange(len(group))[::-1]
    weights = np.bincount(group, minlength=n_groups)
    errors = np.bincount(group, weights=err.astype(np.float64), minlength=n_groups)
    return [c.codes[first] for c in cols], weights.astype(np.float64), errors


def search(columns: Sequence[Column], err: np.ndarray, max_level: int, min_support: int,
           min_errors: int) -> pd.DataFrame:
    """Every conjunction with support >= min_support and errors >= min_errors.

    Returns one row per slice: `conditions` (tuple of (column, value)), `level`, `n`, `errors`.
    Rows are first collapsed to their distinct combinations of codes (weighted). A combination
    takes part in a column set's count only when it lies in a passing slice of every subset
    one condition smaller (apriori: a conjunction with a failing sub-conjunction loses all its
    rows, every other one is counted exactly).
    """
    cols = list(columns)
    codes, weight, errors = _compress(cols, err)
    sizes = [len(c.values) for c in cols]
    passing_rows: dict[tuple[int, ...], np.ndarray] = {}
    rows: list[pd.DataFrame] = []
    for level in range(1, max_level + 1):
        for combo in combinations(range(len(cols)), level):
            if level == 1:
                valid = codes[combo[0]] >= 0
            else:
                subsets = list(combinations(combo, level - 1))
                if any(sub not in passing_rows for sub in subsets):
                    continue
                valid = np.logical_and.reduce([passing_rows[sub] for sub in subsets])
            idx = np.flatnonzero(valid)
            key = np.zeros(len(idx), dtype=np.int64)
            for c in combo:
                key *= sizes[c]
                key += codes[c][idx]
            total = int(np.prod([sizes[c] for c in combo]))
            n = np.bincount(key, weights=weight[idx], minlength=total).round().astype(np.int64)
            e = np.bincount(key, weights=errors[idx], minlength=total).round().astype(np.int64)
            passing = (n >= min_support) & (e >= min_errors)
            found = np.flatnonzero(passing)
            if not len(found):
                continue
            rows.append(_describe(cols, combo, [sizes[c] for c in combo], found, n, e, level))
            if level < max_level:
                member = np.zeros(len(weight), dtype=bool)
                member[idx[passing[key]]] = True
                passing_rows[combo] = member
    if not rows:
        return pd.DataFrame(columns=["conditions", "level", "n", "errors"])
    return pd.concat(rows, ignore_index=True)


def _describe(cols: list[Column], combo: tuple[int, ...], sizes: list[int], found: np.ndarray,
              n: np.ndarray, e: np.ndarray, level: int) -> pd.DataFrame:
    parts = []
    rest = found.copy()
    for c, k in zip(reversed(combo), reversed(sizes), strict=True):
        parts.append([(cols[c].name, cols[c].values[v]) for v in rest % k])
        rest //= k
    parts.reverse()
    conditions = [tuple(p[i] for p in parts) for i in range(len(found))]
    return pd.DataFrame({"conditions": conditions, "level": level, "n": n[found],
                         "errors": e[found]})


def score(slices: pd.DataFrame, n_total: int, e_total: int, *, alpha: float,
          min_odds_ratio: float, size_weight: float) -> pd.DataFrame:
    """Every counted slice with its numbers against the rest of the population, best first;
    `qualified` marks the failure slices.

    A slice qualifies when a one-sided Fisher test against the rest (BH-corrected over every
    slice counted) is significant and its error odds ratio against the rest reaches
    `min_odds_ratio`. The odds ratio is the effect the Fisher test tests, and unlike the lift
    (error rate / base rate) it has room when errors are the majority: a model missing 70 % of
    violations cannot have a slice at 1.5x its miss rate, but a slice missing 95 % has error
    odds 19 against the rest's ~2.2, an odds ratio near 9. When errors are rare the two
    agree (odds ratio ~ lift). Cells get +0.5 (Haldane-Anscombe), so a slice with no correct
    item, or a rest with none, still has a finite odds ratio.

    Ranked by SliceLine's score (Sagadeeva & Boehm, SIGMOD 2021), which trades a slice's
    excess error rate against its size: (1 - w) (lift - 1) - w (N / n - 1). Ranking by excess
    errors alone lets big, mildly worse slices (a whole language) bury small, badly broken
    ones. Here the excess is measured against the room on both sides of the base rate b,
    (rate - b) / (b (1 - b)) = (lift - 1) / (1 - b): the same as SliceLine when errors are
    rare, and when they are the majority it still spans a wide range (it is the log odds
    ratio against b to first order) instead of the few hundredths left between b and 1, which
    the size term would otherwise drown."""
    out = slices.copy()
    # int64 even when no slice was found (an empty frame's columns are object dtype).
    n, e = out["n"].to_numpy(np.int64), out["errors"].to_numpy(np.int64)
    base = e_total / max(n_total, 1)
    rate = e / np.maximum(n, 1)
    rest_n, rest_e = n_total - n, e_total - e
    out["error_rate"] = rate
    out["rest_rate"] = np.where(rest_n > 0, rest_e / np.maximum(rest_n, 1), np.nan)
    out["lift"] = rate / base if base > 0 else np.nan
    out["odds_ratio"] = np.where(rest_n > 0, ((e + 0.5) / (n - e + 0.5))
                                 / ((rest_e + 0.5) / (rest_n - rest_e + 0.5)), np.nan)
    out["excess_errors"] = e - n * base
    spread = base * (1 - base)
    effect = (rate - base) / spread if spread > 0 else np.zeros(len(out))
    out["score"] = (1 - size_weight) * effect - size_weight * (n_total / np.maximum(n, 1) - 1)
    # The exact tail costs time in proportion to the counts; a slice at or below the base
    # rate has p >= ~1/2, far from any corrected p <= alpha, so it gets 1 without changing a
    # kept slice's rank or corrected p-value.
    above = e > n * base
    p_value = np.ones(len(out))
    p_value[above] = stats.hypergeom.sf(e[above] - 1, n_total, e_total, n[above])
    out["p_value"] = p_value
    out["p_adjusted"] = (multipletests(out["p_value"], method="fdr_bh")[1] if len(out)
                         else np.array([]))
    out["qualified"] = (out["p_adjusted"] <= alpha) & (out["odds_ratio"] >= min_odds_ratio)
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def drop_weak_conditions(slices: pd.DataFrame, counted: pd.DataFrame,
                         min_effect: float) -> pd.DataFrame:
    """Drop a conjunction with a condition that hardly narrows it: removing the condition
    grows the slice by at most `min_effect` of its rows. `language=en & target=seniors &
    has_digits=False`, seven rows short of `language=en & target=seniors`, is the shorter
    slice under a longer name; the shorter one is among the counted slices (apriori: every
    sub-conjunction of a counted slice is counted) and stands or falls on its own numbers.
    With `min_effect` 0 this drops exactly the conjunctions with a condition that changes no
    row."""
    sizes = dict(zip(map(frozenset, counted["conditions"]), counted["n"].astype(np.int64),
                     strict=True))
    keep = [len(conds) == 1 or all(
        sizes[frozenset(conds) - {cond}] > n * (1 + min_effect) for cond in conds)
        for conds, n in zip(slices["conditions"], slices["n"], strict=True)]
    return slices[np.asarray(keep, dtype=bool)].reset_index(drop=True)


def prune_redundant(slices: pd.DataFrame, explain_share: float) -> pd.DataFrame:
    """Drop a slice that a more specific one explains (keeps >= explain_share of its excess
    errors)."""
    conds = [frozenset(c) for c in slices["conditions"]]
    n = slices["n"].to_numpy()
    excess = slices["excess_errors"].to_numpy()
    keep = np.ones(len(slices), dtype=bool)
    for i, ci in enumerate(conds):
        for j, cj in enumerate(conds):
            if ci < cj and n[j] < n[i] and excess[j] >= explain_share * excess[i]:
                keep[i] = False  # j is more specific and explains i
                break
    return slices[keep].reset_index(drop=True)


def drop_near_duplicates(slices: pd.DataFrame, columns: Sequence[Column], max_jaccard: float,
                         top: int, derived: frozenset[str] = frozenset()) -> pd.DataFrame:
    """The first `top` slices in rank order, folding a slice whose rows overlap a better-ranked
    kept one with Jaccard >= max_jaccard into it: `target=x & length<20` and `target=x &
    length<20 & code_mixed=False` are one finding under two names, and would crowd others
    out of the top. Of two such names the one with fewer conditions on `derived` columns (text
    features, proxies such as script for language) takes the place: metadata is what a team
    acts on. The other names are kept in `near_duplicates`.

    Row masks are built only for slices that get this far (a few times `top`), each compared
    with at most `top` kept ones."""
    by_name = {c.name: c for c in columns}
    sizes = slices["n"].to_numpy()
    conditions = list(slices["conditions"])
    n_derived = [sum(c in derived for c, _ in conds) for conds in conditions]
    kept: list[tuple[int, np.ndarray, list[str]]] = []  # (slice, rows, other names)
    for i, conds in enumerate(conditions):
        if len(kept) == top:
            break
        rows: np.ndarray | None = None
        for pos, (k, other, aliases) in enumerate(kept):
            n_i, n_k = int(sizes[i]), int(sizes[k])
            if min(n_i, n_k) < max_jaccard * max(n_i, n_k):
                continue  # even full nesting could not reach the threshold
            if rows is None:
                rows = mask(by_name, conds)
            inter = int(np.count_nonzero(rows & other))
            if inter >= max_jaccard * (n_i + n_k - inter):
                if n_derived[i] < n_derived[k]:
                    kept[pos] = (i, rows, [*aliases, name(conditions[k])])
                else:
                    aliases.append(name(conds))
                break
        else:
            kept.append((i, mask(by_name, conds) if rows is None else rows, []))
    out = slices.iloc[[k for k, _, _ in kept]].reset_index(drop=True)
    out["near_duplicates"] = ["; ".join(aliases) for _, _, aliases in kept]
    return out


def mask(columns: Mapping[str, Column], conditions: tuple[tuple[str, str], ...]) -> np.ndarray:
    """Rows meeting every `column = value` condition."""
    first = next(iter(columns.values()))
    out = np.ones(len(first.codes), dtype=bool)
    for column, value in conditions:
        col = columns[column]
        out &= col.codes == col.values.index(value)
    return out


def name(conditions: tuple[tuple[str, str], ...]) -> str:
    return "&".join(f"{c}={v}" for c, v in conditions)
