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


def _count(key: np.ndarray, err: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    return (np.bincount(key, minlength=size),
            np.bincount(key, weights=err, minlength=size).round().astype(np.int64))


def search(columns: Sequence[Column], err: np.ndarray, max_level: int, min_support: int,
           min_errors: int) -> pd.DataFrame:
    """Every conjunction with support >= min_support and errors >= min_errors.

    Returns one row per slice: `conditions` (tuple of (column, value)), `level`, `n`, `errors`.
    """
    err_f = err.astype(np.float64)
    ok: dict[tuple[int, ...], np.ndarray] = {}   # column combination -> passing codes (flat)
    rows: list[pd.DataFrame] = []
    cols = list(columns)
    for level in range(1, max_level + 1):
        for combo in combinations(range(len(cols)), level):
            subsets = list(combinations(combo, level - 1)) if level > 1 else []
            if any(s not in ok or not ok[s].any() for s in subsets):
                continue
            sizes = [len(cols[c].values) for c in combo]
            valid = np.ones(len(err), dtype=bool)
            for c in combo:
                valid &= cols[c].codes >= 0
            for sub in subsets:  # apriori: every sub-conjunction must pass
                valid &= ok[sub][_flat([cols[c].codes for c in sub],
                                       [len(cols[c].values) for c in sub], valid)]
            key = _flat([cols[c].codes for c in combo], sizes, valid)[valid]
            total = int(np.prod(sizes))
            n, e = _count(key, err_f[valid], total)
            passing = (n >= min_support) & (e >= min_errors)
            ok[combo] = passing
            found = np.flatnonzero(passing)
            if len(found):
                rows.append(_describe(cols, combo, sizes, found, n, e, level))
    if not rows:
        return pd.DataFrame(columns=["conditions", "level", "n", "errors"])
    return pd.concat(rows, ignore_index=True)


def _flat(codes: list[np.ndarray], sizes: list[int], valid: np.ndarray) -> np.ndarray:
    key = np.zeros(len(valid), dtype=np.int64)
    for c, k in zip(codes, sizes, strict=True):
        key *= k
        key += np.maximum(c, 0)
    return key


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


def score(slices: pd.DataFrame, n_total: int, e_total: int, alpha: float,
          min_lift: float, size_weight: float) -> pd.DataFrame:
    """Lift, excess errors, SliceLine's score and a one-sided Fisher test against the rest of
    the population, BH-corrected over every slice counted; ranked by the score.

    SliceLine (Sagadeeva & Boehm, SIGMOD 2021) scores a slice by its error-rate lift traded
    against its size: (1 - w) (lift - 1) - w (N / n - 1). Ranking by excess errors alone
    lets big, mildly worse slices (a whole language) bury small, badly broken ones."""
    out = slices.copy()
    n, e = out["n"].to_numpy(), out["errors"].to_numpy()
    base = e_total / max(n_total, 1)
    rate = e / np.maximum(n, 1)
    rest_n, rest_e = n_total - n, e_total - e
    out["error_rate"] = rate
    out["rest_rate"] = np.where(rest_n > 0, rest_e / np.maximum(rest_n, 1), np.nan)
    out["lift"] = rate / base if base > 0 else np.nan
    out["excess_errors"] = e - n * base
    out["score"] = (1 - size_weight) * (out["lift"] - 1) - size_weight * (n_total / n - 1)
    out["p_value"] = stats.hypergeom.sf(e - 1, n_total, e_total, n)
    out["p_adjusted"] = (multipletests(out["p_value"], method="fdr_bh")[1] if len(out)
                         else np.array([]))
    keep = (out["p_adjusted"] <= alpha) & (out["lift"] >= min_lift)
    return out[keep].sort_values("score", ascending=False).reset_index(drop=True)


def prune_redundant(slices: pd.DataFrame, explain_share: float) -> pd.DataFrame:
    """Drop a slice that a more specific one explains (keeps >= explain_share of its excess
    errors), and a slice that only adds a condition to one with the very same rows."""
    conds = [frozenset(c) for c in slices["conditions"]]
    n = slices["n"].to_numpy()
    e = slices["errors"].to_numpy()
    excess = slices["excess_errors"].to_numpy()
    keep = np.ones(len(slices), dtype=bool)
    for i, ci in enumerate(conds):
        for j, cj in enumerate(conds):
            if i == j:
                continue
            if ci < cj and n[j] < n[i] and excess[j] >= explain_share * excess[i]:
                keep[i] = False  # j is more specific and explains i
                break
            if cj < ci and n[j] == n[i] and e[j] == e[i]:
                keep[i] = False  # i repeats j's rows with a redundant condition
                break
    return slices[keep].reset_index(drop=True)


def drop_near_duplicates(slices: pd.DataFrame, columns: Sequence[Column], max_jaccard: float,
                         top: int) -> pd.DataFrame:
    """The first `top` slices in rank order, skipping a slice whose rows overlap a better-ranked
    kept one with Jaccard >= max_jaccard: `target=x & length<20` and `target=x & length<20 &
    code_mixed=False` are one finding under two names, and would crowd others out of the top.

    Row masks are built only for slices that get this far (a few times `top`), each compared
    with at most `top` kept ones."""
    by_name = {c.name: c for c in columns}
    sizes = slices["n"].to_numpy()
    kept: list[tuple[np.ndarray, int]] = []
    keep: list[int] = []
    for i, conds in enumerate(slices["conditions"]):
        if len(keep) == top:
            break
        rows: np.ndarray | None = None
        duplicate = False
        for other, n_other in kept:
            n_i = int(sizes[i])
            if min(n_i, n_other) < max_jaccard * max(n_i, n_other):
                continue  # even full nesting could not reach the threshold
            if rows is None:
                rows = mask(by_name, conds)
            inter = int(np.count_nonzero(rows & other))
            if inter >= max_jaccard * (n_i + n_other - inter):
                duplicate = True
                break
        if not duplicate:
            keep.append(i)
            kept.append((mask(by_name, conds) if rows is None else rows, int(sizes[i])))
    return slices.iloc[keep].reset_index(drop=True)


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
