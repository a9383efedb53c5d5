"""The map step in SQL (any backend with GROUPING SETS) and its reduction in numpy.

Three queries, each a grouped aggregation whose result is small whatever the rows:

- `model_counts`: per joint cell of the slice dimensions and label, per model: items, scored,
  flagged, sum of scores and of squares (confusion cells, Brier, coverage);
- the histogram of one model: per slicing (one GROUPING SET each), label and fine bin, the
  items; a bin is the number of inner edges at or below the score, found from an approximate
  logit bin corrected against the same float64 edges the pandas path uses (a join with the
  small edges table), so both assign every score to the same bin;
- `paired_counts`: per joint cell, label, baseline flag and candidate flag, the items both
  models scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.engine.backends import Relation
from smo_eval.engine.counting import PerCell, ScoreGrid, SliceStats, _logit
from smo_eval.engine.histograms import empty_histograms
from smo_eval.engine.paired import N_PAIRED
from smo_eval.engine.slices import SliceIndex, build_slice_index
from smo_eval.errors import ConfigError


def _double(value: float) -> str:
    return f"CAST({float(value)!r} AS DOUBLE)"


def _scalar(model: str, threshold: Any) -> float:
    if np.ndim(threshold) > 0:
        raise ConfigError(f"engine.backend counts at one threshold per model; {model} has "
                          "per-slice thresholds (evaluate.thresholds_file): use "
                          "engine.backend=pandas for them")
    return float(threshold)


def _present(rel: Relation, dimensions: Sequence[str], crosses: Sequence[Sequence[str]]
             ) -> tuple[list[str], list[list[str]]]:
    dims = [d for d in dict.fromkeys(dimensions) if d in rel.columns]
    kept = [list(c) for c in crosses if all(d in rel.columns for d in c)]
    used = list(dict.fromkeys([*dims, *(d for c in kept for d in c)]))
    return used, kept


def model_counts(rel: Relation, dimensions: Sequence[str], crosses: Sequence[Sequence[str]],
                 models: Sequence[str], thresholds: dict[str, Any], n_bins: int
                 ) -> tuple[SliceIndex, dict[str, SliceStats], dict[str, np.ndarray],
                            pd.DataFrame, list[str]]:
    """Per model: statistics per slice and unscored items per slice; the slice index, a
    coverage table (model, gold_items, scored, unscored, scored_share) and notices."""
    be = rel.backend
    q = be.quote
    used, _ = _present(rel, dimensions, crosses)
    dims = ", ".join(q(d) for d in used)
    group = f"{dims}, {q('label')}" if used else q("label")
    parts = ["COUNT(*) AS __n"]
    for i, model in enumerate(models):
        s, t = rel.score(model), _double(_scalar(model, thresholds[model]))
        parts += [f"COUNT({s}) AS __scored{i}",
                  f"SUM(CASE WHEN {s} >= {t} THEN 1 ELSE 0 END) AS __flag{i}",
                  f"SUM({s}) AS __sum{i}", f"SUM({s} * {s}) AS __sq{i}"]
    frame = be.query(f"SELECT {group}, {', '.join(parts)} FROM {rel.sql} AS r GROUP BY {group}")
    index, notices = build_slice_index(frame, dimensions, crosses)
    cell, label = index.cell_of_row, frame["label"].to_numpy(np.int64)
    n = frame["__n"].to_numpy(np.int64)
    stats, unscored, coverage = {}, {}, []
    for i, model in enumerate(models):
        scored = frame[f"__scored{i}"].to_numpy(np.int64)
        flagged = frame[f"__flag{i}"].fillna(0).to_numpy(np.int64)
        per_cell = PerCell.zeros(index.n_cells)
        np.add.at(per_cell.cells, (cell, 2 * label + 1), flagged)
        np.add.at(per_cell.cells, (cell, 2 * label), scored - flagged)
        np.add.at(per_cell.sum_score, (cell, label), frame[f"__sum{i}"].fillna(0).to_numpy())
        np.add.at(per_cell.sum_sq, cell, frame[f"__sq{i}"].fillna(0).to_numpy())
        grid = ScoreGrid(_scalar(model, thresholds[model]), n_bins)
        hist = (streamed_histograms(rel, index, model, grid)
                if hasattr(be, "stream") else histograms(rel, index, model, grid))
        stats[model] = per_cell.to_slices(index, hist, grid)
        missing = np.bincount(cell, weights=n - scored, minlength=index.n_cells)
        unscored[model] = index.aggregate(missing).round().astype(np.int64)
        total, got = int(n.sum()), int(scored.sum())
        coverage.append({"model": model, "gold_items": total, "scored": got,
                         "unscored": total - got, "scored_share": got / max(total, 1)})
    return index, stats, unscored, pd.DataFrame(coverage), notices


def _binned(rel: Relation, model: str, grid: ScoreGrid, columns: str, names: str,
            source: str) -> str:
    """Rows of `source` with a score: `columns` (named `names`), the label and the score's
    exact bin."""
    q = rel.backend.quote
    return exact_bins(rel.backend, rel.score(model), approximate_bin(rel.score(model), grid),
                      grid.inner_edges, f"{columns}r.{q('label')} AS __label, ",
                      f"{names}__label, ", source)


def approximate_bin(score: str, grid: ScoreGrid) -> str:
    """A score's bin on `grid` from its logit in SQL arithmetic: within one bin of the exact
    one (`exact_bins` corrects it)."""
    b = grid.n_bins
    inner = grid.inner_edges
    x = f"LEAST(GREATEST({score}, {_double(inner[0])}), {_double(inner[-1])})"
    return (f"LEAST(GREATEST(CAST(FLOOR((LN({x}) - LN(1 - {x}) - "
            f"{_double(_logit(grid.centre))}) * {_double(1.0 / grid.width)}) AS BIGINT) + "
            f"{b // 2}, 0), {b - 1})")


def exact_bins(be: Any, value: str, approx: str, inner: np.ndarray, columns: str, names: str,
               source: str) -> str:
    """Rows of `source` where `value` is not NULL: `columns` (named `names`) and `__k`, the
    number of `inner` edges at or below the value compared in float64 (what
    `np.searchsorted(inner, value, "right")` gives in numpy). `approx` is a BIGINT within one
    bin of it, in [0, len(inner)]; a join with the small edges table corrects it, so every
    backend puts a value in the bin numpy would, whatever its arithmetic rounds."""
    b = len(inner) + 1
    edges = pd.DataFrame({"k": np.arange(b, dtype=np.int64), "lo": np.r_[-np.inf, inner],
                          "hi": np.r_[inner, np.inf]})
    edge_table = be.small_table("edges", edges)
    return (f"SELECT {names}__a - CASE WHEN __v < e.lo THEN 1 ELSE 0 END + CASE WHEN __v >= "
            f"e.hi THEN 1 ELSE 0 END AS __k FROM (SELECT {columns}{value} AS __v, {approx} AS "
            f"__a FROM {source} WHERE {value} IS NOT NULL) AS a JOIN {edge_table} AS e ON "
            "e.k = a.__a")


def streamed_histograms(rel: Relation, index: SliceIndex, model: str,
                        grid: ScoreGrid) -> np.ndarray:
    """The histogram on one machine (DuckDB): the SQL maps each row to its joint cell's
    code (each value's position in the index's sorted values, missing the last level) and
    streams record batches of code, label and score into the pandas path's binning and
    reduction (`ScoreGrid.bin_of`, `engine.histograms`): the same bins by construction, and
    nothing grows with slices x bins in the database (there, a GROUPING SETS aggregate with
    millions of groups, or a lookup of the edges per row, costs several times the scan)."""
    from smo_eval.engine.histograms import slice_histograms

    q = rel.backend.quote
    used = list(index.levels)
    b = grid.n_bins
    code, cell_code = "0", np.zeros(index.n_cells, dtype=np.int64)
    for dim in used:
        values = index.values[dim]
        position = (f"COALESCE(list_position([{_literals(values)}], "
                    f"CAST(r.{q(dim)} AS VARCHAR)) - 1, {len(values)})")
        code = f"({code}) * {len(values) + 1} + {position}"
        level = index.levels[dim].astype(np.int64)
        cell_code = cell_code * (len(values) + 1) + np.where(level >= 0, level, len(values))
    order = np.argsort(cell_code)
    score = rel.score(model)
    sql = (f"SELECT {code} AS __code, r.{q('label')} AS __label, {score} AS __s "
           f"FROM {rel.sql} AS r WHERE {score} IS NOT NULL")
    out = empty_histograms(len(index.keys), 2 * b, 0).reshape(len(index.keys), 2, b)
    for batch in rel.backend.stream(sql):
        codes = batch["__code"].to_numpy().astype(np.int64)
        cell = order[np.searchsorted(cell_code[order], codes)].astype(np.int32)
        class_bin = grid.bin_of(batch["__s"].to_numpy())
        class_bin += batch["__label"].to_numpy().astype(np.int64) * b
        out += slice_histograms(index, cell, class_bin, 2, b)
    return out


def _literals(values: Sequence[str]) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def histograms(rel: Relation, index: SliceIndex, model: str, grid: ScoreGrid) -> np.ndarray:
    """(n_slices, 2, n_bins) score histogram of one model by slice and label, aggregated by
    the backend (one GROUPING SET per slicing: on a cluster, only these counts move)."""
    be = rel.backend
    q = be.quote
    b = grid.n_bins
    used = [d for d in index.levels]
    cols = "".join(f"{q(d)}, " for d in used)
    binned = _binned(rel, model, grid, "".join(f"r.{q(d)} AS {q(d)}, " for d in used), cols,
                     f"{rel.sql} AS r")
    if used:
        sets = ", ".join("(" + "".join(f"{q(d)}, " for d in sl.dims) + "__label, __k)"
                         for sl in index.slicings)
        gid = " + ".join(f"GROUPING({q(d)}) * {1 << (len(used) - 1 - i)}"
                         for i, d in enumerate(used))
        sql = (f"SELECT {gid} AS __gid, {cols}__label, __k, COUNT(*) AS __n FROM ({binned}) "
               f"AS b GROUP BY GROUPING SETS ({sets})")
    else:
        sql = f"SELECT 0 AS __gid, __label, __k, COUNT(*) AS __n FROM ({binned}) AS b " \
              "GROUP BY __label, __k"
    frame = be.query(sql)
    out = empty_histograms(len(index.keys), 2 * b, int(frame["__n"].sum()))
    gid = frame["__gid"].to_numpy(np.int64)
    for slicing in index.slicings:
        mask = sum(1 << (len(used) - 1 - i) for i, d in enumerate(used)
                   if d not in slicing.dims)
        rows = frame[gid == mask]
        target = _slice_of(rows, index, slicing)
        ok = target >= 0
        flat = target[ok] * (2 * b) + rows["__label"].to_numpy(np.int64)[ok] * b \
            + rows["__k"].to_numpy(np.int64)[ok]
        np.add.at(out.reshape(-1), flat, rows["__n"].to_numpy(np.int64)[ok])
    return out.reshape(len(index.keys), 2, b)


def _slice_of(rows: pd.DataFrame, index: SliceIndex, slicing: Any) -> np.ndarray:
    """Global slice index of each result row of one slicing (-1: a missing value)."""
    if not slicing.dims:
        return np.zeros(len(rows), dtype=np.int64)
    combined = np.zeros(len(rows), dtype=np.int64)
    valid = np.ones(len(rows), dtype=bool)
    for dim in slicing.dims:
        values = index.values[dim]
        codes = pd.Categorical(_as_text(rows[dim]), categories=values).codes.astype(np.int64)
        valid &= codes >= 0
        combined = combined * len(values) + np.maximum(codes, 0)
    position = np.searchsorted(slicing.codes, combined)
    position = np.minimum(position, len(slicing.codes) - 1)
    valid &= slicing.codes[position] == combined
    return np.where(valid, slicing.start + position, -1)


def _as_text(column: pd.Series) -> pd.Series:
    """Values as the slice index names them (str of the value), missing kept missing."""
    return column.astype(object).where(column.notna()).map(
        lambda v: v if v is None else str(v))


def paired_counts(rel: Relation, dimensions: Sequence[str], crosses: Sequence[Sequence[str]],
                  baseline: str, candidate: str, thresholds: dict[str, Any]
                  ) -> tuple[SliceIndex, np.ndarray, dict[str, int]]:
    """(slice index, (n_slices, 8) paired counts of items both scored, coverage counts)."""
    be = rel.backend
    q = be.quote
    used, _ = _present(rel, dimensions, crosses)
    b, c = rel.score(baseline), rel.score(candidate)
    tb = _double(_scalar(baseline, thresholds[baseline]))
    tc = _double(_scalar(candidate, thresholds[candidate]))
    dims = "".join(f"{q(d)}, " for d in used)
    flags = (f"CASE WHEN {b} >= {tb} THEN 1 ELSE 0 END AS __bf, "
             f"CASE WHEN {c} >= {tc} THEN 1 ELSE 0 END AS __cf")
    frame = be.query(
        f"SELECT {dims}{q('label')}, __bf, __cf, COUNT(*) AS __n FROM (SELECT {dims}"
        f"{q('label')}, {flags} FROM {rel.sql} AS r WHERE {b} IS NOT NULL AND {c} IS NOT NULL)"
        f" AS p GROUP BY {dims}{q('label')}, __bf, __cf")
    cover = be.query(
        f"SELECT COUNT(*) AS n_items, SUM(CASE WHEN {b} IS NOT NULL AND {c} IS NOT NULL THEN 1 "
        f"ELSE 0 END) AS n_both, SUM(CASE WHEN {b} IS NOT NULL AND {c} IS NULL THEN 1 ELSE 0 "
        f"END) AS n_baseline_only, SUM(CASE WHEN {b} IS NULL AND {c} IS NOT NULL THEN 1 ELSE 0"
        f" END) AS n_candidate_only FROM {rel.sql} AS r").iloc[0]
    counts = {k: int(v) if pd.notna(v) else 0 for k, v in cover.items()}
    counts["n_neither"] = counts["n_items"] - counts["n_both"] - counts["n_baseline_only"] \
        - counts["n_candidate_only"]
    index, _ = build_slice_index(frame, dimensions, crosses)
    key = (frame["label"].to_numpy(np.int64) * 4 + frame["__bf"].to_numpy(np.int64) * 2
           + frame["__cf"].to_numpy(np.int64))
    per_cell = np.zeros((index.n_cells, N_PAIRED))
    np.add.at(per_cell, (index.cell_of_row, key), frame["__n"].to_numpy(np.float64))
    return index, index.aggregate(per_cell).round().astype(np.int64), counts


def flipped_rows(rel: Relation, baseline: str, candidate: str, thresholds: dict[str, Any]
                 ) -> pd.DataFrame:
    """Items whose outcome changed (new misses, new false flags) with both scores."""
    be = rel.backend
    q = be.quote
    b, c = rel.score(baseline), rel.score(candidate)
    tb = _double(_scalar(baseline, thresholds[baseline]))
    tc = _double(_scalar(candidate, thresholds[candidate]))
    cols = ", ".join(q(col) for col in rel.columns)
    return be.query(
        f"SELECT {cols}, {b} AS __base, {c} AS __cand FROM {rel.sql} AS r WHERE {b} IS NOT NULL"
        f" AND {c} IS NOT NULL AND (({q('label')} = 1 AND {b} >= {tb} AND {c} < {tc}) OR "
        f"({q('label')} = 0 AND {b} < {tb} AND {c} >= {tc}))")
