"""Drift on a SQL engine backend (`engine.backend=duckdb|spark`) with windows cut by time.

The windows stay in the engine: every statistic of `stages.drift` is a grouped aggregation
over the dataset's relation, each row tagged with its window by the time column (the
[first day 00:00, day after the last day 00:00) of `split_by_time`; a row in both day ranges
counts in both), and numpy reduces the small results with the pandas path's code
(`column_row`, `score_rows`, `fit_calibration`, `estimate_counts`), so the drift table and
the estimate are the pandas backend's:

- window sizes, labelled-ness and hard 0/1 models: counts per window;
- categorical columns: items per window and value as text (missing as "<missing>"), with
  each value's first item id so the categories come in pandas' first-appearance order;
  numeric ones: distinct count, min and max, then the 2000-bin histogram on the same float64
  edges (bins found as numpy's, `sql.exact_bins`);
- score drift: `sql` histograms of a relation whose `label` is the window;
- the label-free estimate: reference counts per calibration group, label and bin (the fit
  needs nothing else), current counts per joint cell, group, flag, label and bin.

Emerging terms and the Evidently report need text and rows: they run on a seeded sample of at
most `drift.sample_rows` rows per window (a whole window when it is smaller, then equal to
pandas), drawn in SQL by a hash of the item id and the seed. Windows from files
(`drift.reference_data` / `current_data`) are read into memory by the node as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_more import DriftConfig
from smo_eval.engine.backends import SCORE_PREFIX, Relation
from smo_eval.engine.backends.sql import (
    _double,
    _present,
    approximate_bin,
    exact_bins,
    histograms,
    streamed_histograms,
)
from smo_eval.engine.counting import ScoreGrid
from smo_eval.engine.slices import build_slice_index
from smo_eval.errors import ConfigError
from smo_eval.stages.drift import (
    _MAX_NUMERIC_LEVELS,
    _NUMERIC_BINS,
    DRIFT_COLUMNS,
    GOLD_COLUMNS,
    DriftResult,
    column_row,
    numeric_dtype,
    numeric_edges,
    score_grid,
    score_rows,
    tested_columns,
)
from smo_eval.stages.drift_estimate import (
    CurrentRows,
    estimate_counts,
    fit_calibration,
    group_codes,
    group_values,
    with_coverage,
)
from smo_eval.stages.drift_terms import emerging_terms
from smo_eval.stages.drift_windows import Window, _day_range

MISSING = "<missing>"


@dataclass(frozen=True)
class SqlWindows:
    """The two windows as conditions on the relation, with their counts."""

    rel: Relation
    where: tuple[str, str]           # reference, current
    disjoint: bool
    n: tuple[int, int]
    labelled: tuple[bool, bool]
    models: list[str]
    hard: list[str]                  # models with only 0/1 scores in the reference
    dtypes: dict[str, Any]

    def q(self, name: str) -> str:
        return str(self.rel.backend.quote(name))

    def source(self, columns: Sequence[str], windows: tuple[int, ...] = (0, 1)) -> str:
        """Rows of `windows` as a subquery: `columns` (SQL expressions naming themselves)
        and `__w` (0 reference, 1 current)."""
        cols = "".join(f"{c}, " for c in columns)
        rel = self.rel.sql
        if self.disjoint and len(windows) == 2:
            ref, cur = self.where
            return (f"(SELECT {cols}CASE WHEN {ref} THEN 0 ELSE 1 END AS __w FROM {rel} AS r "
                    f"WHERE {ref} OR {cur})")
        return "(" + " UNION ALL ".join(f"SELECT {cols}{w} AS __w FROM {rel} AS r WHERE "
                                        f"{self.where[w]}" for w in windows) + ")"


def cut(rel: Relation, cfg: DriftConfig) -> tuple[SqlWindows, list[str]]:
    """The windows of `drift.reference` / `drift.current` on `drift.time_column`, counted."""
    be = rel.backend
    q = be.quote
    dtypes = dict(be.query(f"SELECT * FROM {rel.sql} AS r LIMIT 0").dtypes)
    column = cfg.time_column
    if column not in rel.columns:
        raise ConfigError(f"drift.time_column={column!r} is not a column of the items; give "
                          "drift.reference_data / drift.current_data files instead")
    dtype = dtypes[column]
    if not pd.api.types.is_datetime64_any_dtype(dtype):
        raise ConfigError(f"drift.time_column={column!r} is not a timestamp column "
                          f"({dtype}): engine.backend={be.name} cuts windows on timestamps "
                          "only (engine.backend=pandas parses other values)")
    kind = "TIMESTAMPTZ" if isinstance(dtype, pd.DatetimeTZDtype) else "TIMESTAMP"
    zone = "+00:00" if kind == "TIMESTAMPTZ" else ""
    where, ranges = [], []
    for name, days in (("reference", cfg.reference), ("current", cfg.current)):
        lo, hi = _day_range(days or [], name)
        ranges.append((lo, hi))
        bounds = [f"{kind} '{str(t.astype('datetime64[s]')).replace('T', ' ')}{zone}'"
                  for t in (lo, hi)]
        where.append(f"(r.{q(column)} >= {bounds[0]} AND r.{q(column)} < {bounds[1]})")
    disjoint = bool(ranges[0][1] <= ranges[1][0] or ranges[1][1] <= ranges[0][0])
    windows = SqlWindows(rel, (where[0], where[1]), disjoint, (0, 0), (False, False),
                         list(rel.models), [], dtypes)
    parts = ["COUNT(*) AS __n"]
    if "label" in rel.columns:
        parts.append(f"COUNT({q('label')}) AS __labelled")
    for i, model in enumerate(rel.models):
        s = rel.score(model)
        parts += [f"COUNT({s}) AS __scored{i}", f"SUM(CASE WHEN {s} IS NOT NULL AND {s} <> 0 "
                  f"AND {s} <> 1 THEN 1 ELSE 0 END) AS __soft{i}"]
    cols = [q("label")] if "label" in rel.columns else []
    cols += [rel.score(m) for m in rel.models]
    frame = be.query(f"SELECT __w, {', '.join(parts)} FROM {windows.source(cols)} AS s "
                     "GROUP BY __w").set_index("__w")
    n = [int(frame["__n"].get(w, 0)) for w in (0, 1)]
    for w, (name, days) in enumerate((("reference", cfg.reference), ("current", cfg.current))):
        if n[w] == 0:
            span = be.query(f"SELECT MIN({q(column)}) AS lo, MAX({q(column)}) AS hi FROM "
                            f"{rel.sql} AS r").iloc[0]
            raise ConfigError(f"drift.{name}={list(days or [])} selects no item on {column!r} "
                              f"(data spans {span['lo']} to {span['hi']})")
    labelled = tuple("__labelled" in frame and int(frame.loc[w, "__labelled"]) == n[w]
                     for w in (0, 1))
    hard = [m for i, m in enumerate(rel.models)
            if int(frame.loc[0, f"__scored{i}"]) > 0 and int(frame.loc[0, f"__soft{i}"]) == 0]
    notices = []
    if not cfg.use_current_labels and labelled[1]:
        labelled = (labelled[0], False)
        notices.append("drift.use_current_labels=false: the current window's gold is ignored")
    return replace(windows, n=(n[0], n[1]), labelled=(labelled[0], labelled[1]),
                   hard=hard), notices


def _value(win: SqlWindows, column: str) -> str:
    """The column as SQL, float NaN as NULL (pandas calls both missing)."""
    c = f"r.{win.q(column)}"
    if pd.api.types.is_float_dtype(win.dtypes[column]):
        return f"CASE WHEN isnan({c}) THEN NULL ELSE {c} END"
    return c


def column_rows(win: SqlWindows, columns: Sequence[str], kind: str, cfg: DriftConfig
                ) -> list[dict[str, Any]]:
    """`column_drift` of `columns`: numeric ones by histogram, the others by value counts."""
    be = win.rel.backend
    candidates = [c for c in columns if numeric_dtype(win.dtypes[c])]
    ranges: dict[str, tuple[int, float, float]] = {}
    if candidates:
        parts = [f"COUNT(DISTINCT __v{i}) AS __d{i}, MIN(CAST(__v{i} AS DOUBLE)) AS __lo{i}, "
                 f"MAX(CAST(__v{i} AS DOUBLE)) AS __hi{i}" for i in range(len(candidates))]
        values = [f"{_value(win, c)} AS __v{i}" for i, c in enumerate(candidates)]
        row = be.query(f"SELECT {', '.join(parts)} FROM {win.source(values)} AS s").iloc[0]
        ranges = {c: (int(row[f"__d{i}"]), row[f"__lo{i}"], row[f"__hi{i}"])
                  for i, c in enumerate(candidates)}
    numeric = {c for c, (d, _, _) in ranges.items() if d > _MAX_NUMERIC_LEVELS}
    counts = _category_counts(win, [c for c in columns if c not in numeric])
    rows = []
    for column in columns:
        if column in numeric:
            _, lo, hi = ranges[column]
            found = _numeric_counts(win, column, float(lo), float(hi))
            rows.append(column_row(kind, column, True, *found, cfg))
        else:
            rows.append(column_row(kind, column, False, *counts[column], None, cfg))
    return rows


def _category_counts(win: SqlWindows, columns: Sequence[str]
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per column, (reference, current) items per value, in pandas' factorize order (first
    appearance over the reference, then the current window, rows sorted by item id)."""
    if not columns:
        return {}
    be = win.rel.backend
    values = [f"r.{win.q('item_id')} AS __id"] + [
        f"COALESCE(CAST({_value(win, c)} AS STRING), '{MISSING}') AS __c{i}"
        for i, c in enumerate(columns)]
    sets = ", ".join(f"(__w, __c{i})" for i in range(len(columns)))
    frame = be.query(f"SELECT __w, {', '.join(f'__c{i}' for i in range(len(columns)))}, "
                     f"COUNT(*) AS __n, MIN(__id) AS __first FROM {win.source(values)} AS s "
                     f"GROUP BY GROUPING SETS ({sets})")
    out = {}
    for i, column in enumerate(columns):
        part = frame[frame[f"__c{i}"].notna()]
        first = part.sort_values(["__w", "__first"], kind="stable").drop_duplicates(f"__c{i}")
        order = {v: k for k, v in enumerate(first[f"__c{i}"])}
        k = max(len(order), 1)
        counts = np.zeros(2 * k, dtype=np.int64)
        np.add.at(counts, part["__w"].to_numpy(np.int64) * k
                  + part[f"__c{i}"].map(order).to_numpy(np.int64), part["__n"].to_numpy(np.int64))
        out[column] = (counts[None, :k], counts[None, k:])
    return out


def _numeric_counts(win: SqlWindows, column: str, lo: float, hi: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`column_counts` of a numeric column: np.histogram's counts on the same edges."""
    edges = numeric_edges(lo, hi)
    x = f"CAST({_value(win, column)} AS DOUBLE)"
    scale = _NUMERIC_BINS / (edges[-1] - edges[0])
    approx = (f"LEAST(GREATEST(CAST(FLOOR(({x} - {_double(edges[0])}) * {_double(scale)}) "
              f"AS BIGINT), 0), {_NUMERIC_BINS - 1})")
    source = win.source([f"r.{win.q(column)}"]) + " AS r"
    binned = exact_bins(win.rel.backend, x, approx, edges[1:-1], "__w, ", "__w, ", source)
    frame = win.rel.backend.query(f"SELECT __w, __k, COUNT(*) AS __n FROM ({binned}) AS b "
                                  "GROUP BY __w, __k")
    out = np.zeros((2, _NUMERIC_BINS), dtype=np.int64)
    np.add.at(out, (frame["__w"].to_numpy(np.int64), frame["__k"].to_numpy(np.int64)),
              frame["__n"].to_numpy(np.int64))
    return out[:1], out[1:], (edges[:-1] + edges[1:]) / 2


def score_drift_rows(win: SqlWindows, models: Sequence[str], cfg: DriftConfig
                     ) -> tuple[list[dict[str, Any]], list[str]]:
    """`score_drift`: each model's (slice, window, bin) histogram from the `sql` histogram
    of a relation whose label is the window."""
    be = win.rel.backend
    q = be.quote
    dims, _ = _present(win.rel, cfg.slicing.dimensions, cfg.slicing.crosses)
    scores = [f"r.{q(SCORE_PREFIX + m)}" for m in models]
    body = win.source([*(f"r.{q(d)}" for d in dims), *scores])
    tagged = Relation(be, f"(SELECT {''.join(f'{q(d)}, ' for d in dims)}__w AS {q('label')}, "
                          f"{', '.join(q(SCORE_PREFIX + m) for m in models)} FROM {body} AS t)",
                      (*dims, "label"), tuple(models))
    group = ", ".join(q(d) for d in dims)
    cells = be.query(f"SELECT {group}, COUNT(*) AS __n FROM {tagged.sql} AS r GROUP BY {group}"
                     if dims else f"SELECT COUNT(*) AS __n FROM {tagged.sql} AS r")
    index, notices = build_slice_index(cells, cfg.slicing.dimensions, cfg.slicing.crosses)
    grid = score_grid(cfg)
    count = streamed_histograms if hasattr(be, "stream") else histograms
    rows = []
    for model in models:
        rows += score_rows(model, index, count(tagged, index, model, grid), cfg)
    return rows, notices


def estimate_rows(win: SqlWindows, models: Sequence[str], thresholds: Mapping[str, float],
                  cfg: DriftConfig) -> pd.DataFrame:
    """`estimate_performance` from counts: the calibration needs the reference's items per
    (group, label, bin), the estimate the current's per (joint cell, group, flag, label,
    bin); both are sums over such rows (`fit_calibration`, `estimate_counts`)."""
    be = win.rel.backend
    q = be.quote
    est = cfg.estimate
    group_cols = [c for c in est.calibrate_by if c in win.rel.columns]
    if len(group_cols) < len(est.calibrate_by):
        group_cols = []  # as `group_values`: a missing column leaves the global calibration
    dims, _ = _present(win.rel, cfg.slicing.dimensions, cfg.slicing.crosses)
    keys = list(dict.fromkeys([*dims, *group_cols]))
    cells = be.query(f"SELECT {''.join(f'{q(d)}, ' for d in dims)}COUNT(*) AS __n FROM "
                     f"{win.source([f'r.{q(d)}' for d in dims], (1,))} AS r"
                     + (f" GROUP BY {', '.join(q(d) for d in dims)}" if dims else ""))
    labels = win.labelled[1]
    frames = []
    for model in models:
        t = float(thresholds[model])
        grid = ScoreGrid(t, est.bins)
        ref = _bin_counts(win, model, grid, [*group_cols, "label"], 0, t)
        values = group_values(ref, group_cols)
        if values is not None:  # groups in order of first appearance, as factorize gives
            first = pd.Series(ref["__first"].to_numpy()).groupby(values).transform("min")
            order = np.lexsort((values.astype(str), first.to_numpy()))
            ref, values = ref.iloc[order].reset_index(drop=True), values[order]
        cal = fit_calibration(values, ref["label"].to_numpy(np.int64),
                              ref["__k"].to_numpy(np.int64), ref["__n"].to_numpy(np.float64),
                              est.min_calibration.n, est.min_calibration.positives, grid,
                              est.min_bin_items)
        cur = _bin_counts(win, model, grid, [*keys, *(["label"] if labels else [])], 1, t)
        both = pd.concat([cells[dims], cur[dims]], ignore_index=True)
        index, _ = build_slice_index(both, cfg.slicing.dimensions, cfg.slicing.crosses)
        rows = CurrentRows(index.cell_of_row[len(cells):].astype(np.int64),
                           cur["__k"].to_numpy(np.int64),
                           group_codes(group_values(cur, group_cols), len(cur), cal.groups),
                           cur["__f"].to_numpy(np.int64) == 1,
                           cur["label"].to_numpy(np.int64) if labels else None,
                           cur["__n"].to_numpy(np.float64))
        frames.append(estimate_counts(rows, model, t, cal, index, est.level))
    return with_coverage(pd.concat(frames, ignore_index=True))


def _bin_counts(win: SqlWindows, model: str, grid: ScoreGrid, columns: Sequence[str],
                window: int, threshold: float) -> pd.DataFrame:
    """Scored rows of one window: items per `columns`, flag (score >= threshold, float64)
    and exact bin on `grid` (`__k`), and the first item id of each group."""
    q = win.rel.backend.quote
    s = win.rel.score(model)
    source = win.source([*(f"r.{q(c)}" for c in columns), f"r.{q('item_id')}", s], (window,))
    flag = f"CASE WHEN {s} >= {_double(threshold)} THEN 1 ELSE 0 END"
    names = "".join(f"{q(c)}, " for c in columns)
    binned = exact_bins(win.rel.backend, s, approximate_bin(s, grid), grid.inner_edges,
                        "".join(f"r.{q(c)} AS {q(c)}, " for c in columns)
                        + f"{flag} AS __f, r.{q('item_id')} AS __id, ",
                        f"{names}__f, __id, ", f"{source} AS r")
    return win.rel.backend.query(
        f"SELECT {names}__f, __k, COUNT(*) AS __n, MIN(__id) AS __first FROM ({binned}) AS b "
        f"GROUP BY {names}__f, __k")


def samples(win: SqlWindows, columns: Sequence[str], cap: int, seed: int
            ) -> tuple[tuple[Window, Window], str | None]:
    """Each window's rows of `columns` and scores, in item id order (the pandas window's):
    all of them up to `cap`, else the `cap` rows first in a seeded hash order of item ids;
    and a notice when a window was sampled."""
    be = win.rel.backend
    q = be.quote
    cols = ", ".join([*(f"r.{q(c)}" for c in columns),
                      *(win.rel.score(m) for m in win.models)])
    out = []
    for w, name in enumerate(("reference", "current")):
        sql = f"SELECT {cols} FROM {win.rel.sql} AS r WHERE {win.where[w]} ORDER BY "
        if win.n[w] > cap:
            sql += be.sample_key(f"r.{q('item_id')}", seed) + ", "
        frame = be.query(f"{sql}r.{q('item_id')}" + (f" LIMIT {cap}" if win.n[w] > cap else ""))
        frame = frame.sort_values("item_id", kind="stable").reset_index(drop=True)
        table = frame[list(columns)].copy()
        for column in table.columns:  # text as the pandas dataset holds it: categories
            if column != "item_id" and table[column].dtype == object:
                table[column] = table[column].astype("category")
        scores = pd.DataFrame({m: frame[SCORE_PREFIX + m].to_numpy(np.float64)
                               for m in win.models})
        window = Window(name, table, scores)
        out.append(window if win.labelled[w] else window.without_labels())
    sampled = [f"{w}: {len(s):,} of {n:,} rows" for w, s, n in
               zip(("reference", "current"), out, win.n, strict=True) if n > cap]
    notice = (f"emerging terms and the Evidently report ran on a seeded random sample of "
              f"drift.sample_rows={cap:,} rows per window ({'; '.join(sampled)}); the "
              "drift tests and the estimate on every row") if sampled else None
    return (out[0], out[1]), notice


def drift_sql(win: SqlWindows, models: Sequence[str], thresholds: Mapping[str, float],
              cfg: DriftConfig, seed: int, progress: Callable[[str], None] | None = None
              ) -> tuple[DriftResult, tuple[Window, Window]]:
    """`stages.drift.drift` on the windows of a SQL backend; also the sampled windows the
    emerging terms ran on (Evidently's input)."""
    step = progress or (lambda _label: None)
    notices: list[str] = []
    if not win.labelled[0]:
        raise ValueError("the reference window needs gold labels (calibration and the "
                         "emerging-terms baseline are fitted on it)")
    columns = list(win.rel.columns)
    datetimes = {c for c in columns if pd.api.types.is_datetime64_any_dtype(win.dtypes[c])}
    meta = tested_columns(columns, columns, datetimes, cfg)
    rows = column_rows(win, meta, "metadata", cfg)
    gold = [c for c in GOLD_COLUMNS if c in columns]
    if win.labelled[1]:
        rows += column_rows(win, gold, "gold", cfg)
    else:
        notices.append("current window has no gold labels: category-mix drift and true "
                       "performance skipped; the label-free estimate stands in")
    step("columns")
    by_slice, slice_notices = score_drift_rows(win, models, cfg)
    notices += slice_notices
    step("scores")
    estimate = estimate_rows(win, models, thresholds, cfg)
    step("estimate")
    wanted = ["item_id", *meta, *gold, cfg.terms.text_column, cfg.terms.language_column]
    keep = [c for c in columns if c in wanted]
    (reference, current), sampled = samples(win, keep, cfg.sample_rows, seed)
    terms, term_notices = emerging_terms(reference, current, models, thresholds, cfg.terms,
                                         np.random.default_rng(seed))
    notices += term_notices + ([sampled] if sampled else [])
    step("terms")
    table = pd.DataFrame(rows + by_slice, columns=DRIFT_COLUMNS)
    windows = {name: {"n": win.n[w], "labelled": win.labelled[w]}
               for w, name in enumerate(("reference", "current"))}
    return DriftResult(table, estimate, terms, windows, notices), (reference, current)
