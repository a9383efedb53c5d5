"""Drift: what changed between a reference and a current window, and what it does to models.

Pure: two windows in, tables out. Per column (metadata, each model's score, the gold label
and category mix when both windows have gold) and per slice (each model's score within each
slice of `drift.slicing`) it measures an effect size on the full windows from histograms
(one bincount per column or model, slices aggregated through the engine's slice index) and
shows the significance test beside it. An alarm needs all of:
- the effect size at or above its threshold (how far the distribution moved),
- at least `alarm.min_n` items in each window (small slices do not alarm),
- p-value below `alarm.alpha` when `alarm.require_significance` (noise does not alarm).
A million rows make every p-value tiny, but not the effect size: size alone raises nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_more import AlarmConfig, DriftConfig
from smo_eval.contract.schema import NON_DIMENSION_COLUMNS
from smo_eval.engine import divergence
from smo_eval.engine.counting import ScoreGrid
from smo_eval.engine.histograms import slice_histograms
from smo_eval.engine.slices import SliceIndex, build_slice_index
from smo_eval.slicekey import SliceKey, dimension_of, display, to_json
from smo_eval.stages.drift_estimate import estimate_performance
from smo_eval.stages.drift_terms import emerging_terms
from smo_eval.stages.drift_windows import Window

GOLD_COLUMNS = ("label", "risk_category", "parent_category")
DRIFT_COLUMNS = ["kind", "column", "model", "slice", "dimension", "method", "value", "threshold",
                 "test", "p_value", "n_reference", "n_current", "drifted", "slice_key"]
# Numeric columns get a fine equal-width histogram over both windows' range.
_NUMERIC_BINS = 2000
# A numeric column with at most this many distinct values is treated as categorical.
_MAX_NUMERIC_LEVELS = 20


@dataclass
class DriftResult:
    """Column and slice drift, the label-free estimate, emerging terms and what was skipped."""

    drift: pd.DataFrame
    estimate: pd.DataFrame
    terms: pd.DataFrame
    windows: dict[str, dict[str, Any]]
    notices: list[str] = field(default_factory=list)

    @property
    def alarms(self) -> pd.DataFrame:
        return self.drift[self.drift["drifted"]]


def metadata_columns(reference: Window, current: Window, cfg: DriftConfig) -> list[str]:
    """Columns to test: `drift.columns`, else every metadata column both windows carry."""
    datetimes = {c for c in reference.table.columns
                 if pd.api.types.is_datetime64_any_dtype(reference.table[c])}
    return tested_columns(list(reference.table.columns), list(current.table.columns),
                          datetimes, cfg)


def tested_columns(reference: Sequence[str], current: Sequence[str], datetimes: set[str],
                   cfg: DriftConfig) -> list[str]:
    """`metadata_columns` from the column names alone (a SQL backend reads no rows for it)."""
    configured = list(cfg.columns)
    if configured:
        return [c for c in configured if c in reference and c in current]
    skip = NON_DIMENSION_COLUMNS | set(GOLD_COLUMNS) | {cfg.time_column}
    return [c for c in reference if c in current and c not in skip and c not in datetimes]


def numeric_dtype(dtype: Any) -> bool:
    """Whether a column of this dtype may be numeric (then its distinct values decide)."""
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _is_numeric(ref: pd.Series, cur: pd.Series) -> bool:
    """Numeric dtype and more than `_MAX_NUMERIC_LEVELS` distinct values over both windows.

    Counted over all rows (a chunk at a time, stopping once past the limit), not the first
    rows: the answer must not depend on row order, which a SQL backend does not have."""
    if not (numeric_dtype(ref.dtype) and numeric_dtype(cur.dtype)):
        return False
    seen: set[Any] = set()
    for column in (ref, cur):
        for start in range(0, len(column), 1 << 20):
            seen.update(pd.unique(column.iloc[start:start + (1 << 20)].dropna()))
            if len(seen) > _MAX_NUMERIC_LEVELS:
                return True
    return False


def _method(column: str, kind: str, cfg: DriftConfig) -> tuple[str, float]:
    """Effect-size method and threshold of a column: per-column setting, else by kind."""
    test = getattr(cfg.alarm, kind)
    spec = {"method": test.method, "threshold": test.threshold,
            **(cfg.alarm.per_column.get(column) or {})}
    method = str(spec["method"])
    if method not in divergence.EFFECT_METHODS:
        raise ValueError(f"drift.alarm method {method!r} for {column!r}: alarms use an effect "
                         f"size, one of {list(divergence.EFFECT_METHODS)}")
    return method, float(spec["threshold"])


def column_counts(ref: pd.Series, cur: pd.Series, numeric: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(reference counts, current counts, bin centres or None) of one column, missing
    values as their own category (categorical) or left out (numeric)."""
    if numeric:
        r = pd.to_numeric(ref, errors="coerce").to_numpy(np.float64)
        c = pd.to_numeric(cur, errors="coerce").to_numpy(np.float64)
        r, c = r[~np.isnan(r)], c[~np.isnan(c)]
        both = np.concatenate([r, c])
        edges = numeric_edges(float(both.min()), float(both.max())) if len(both) else \
            numeric_edges(0.0, 1.0)
        return (np.histogram(r, edges)[0][None, :], np.histogram(c, edges)[0][None, :],
                (edges[:-1] + edges[1:]) / 2)
    values = pd.concat([ref.astype("string"), cur.astype("string")], ignore_index=True)
    codes, uniques = pd.factorize(values.fillna("<missing>"))
    k = max(len(uniques), 1)
    counts = np.bincount((np.arange(len(codes)) >= len(ref)) * k + codes, minlength=2 * k)
    return counts[None, :k], counts[None, k:], None


def numeric_edges(lo: float, hi: float) -> np.ndarray:
    """The float64 edges of a numeric column's histogram over both windows' [min, max]."""
    return np.linspace(lo, hi if hi > lo else lo + 1.0, _NUMERIC_BINS + 1)


def _row(kind: str, column: str, model: str, key: SliceKey, method: str,
         value: float, threshold: float, numeric: bool, p: float, n_ref: float, n_cur: float,
         cfg: DriftConfig) -> dict[str, Any]:
    return {"kind": kind, "column": column, "model": model, "slice": display(key),
            "dimension": dimension_of(key), "slice_key": to_json(key),
            "method": method, "value": value, "threshold": threshold,
            "test": "ks" if numeric else "chisquare", "p_value": p, "n_reference": int(n_ref),
            "n_current": int(n_cur), "drifted": bool(alarm(value, threshold, p, n_ref, n_cur,
                                                           cfg.alarm))}


def alarm(value: float, threshold: float, p: float, n_ref: float, n_cur: float,
          cfg: AlarmConfig) -> bool:
    """Effect size at threshold, enough items in both windows, and (optionally) significant."""
    min_n = cfg.min_n
    if not np.isfinite(value) or n_ref < min_n or n_cur < min_n or value < threshold:
        return False
    return not (cfg.require_significance and not p < cfg.alpha)


def column_drift(reference: Window, current: Window, columns: Sequence[str], kind: str,
                 cfg: DriftConfig) -> list[dict[str, Any]]:
    """One drift row per column of the items (metadata or gold)."""
    rows = []
    for column in columns:
        ref, cur = reference.table[column], current.table[column]
        numeric = _is_numeric(ref, cur)
        rows.append(column_row(kind, column, numeric, *column_counts(ref, cur, numeric), cfg))
    return rows


def column_row(kind: str, column: str, numeric: bool, r: np.ndarray, c: np.ndarray,
               centres: np.ndarray | None, cfg: DriftConfig) -> dict[str, Any]:
    """A column's drift row from its counts per window (`column_counts`), whoever counted."""
    method, threshold = _method(column, "numeric" if numeric else "categorical", cfg)
    if method == "wasserstein" and not numeric:
        method = "jensenshannon"
    value = float(divergence.effect(method, r, c, centres, cfg.psi_bins)[0])
    p = float(divergence.p_value(r, c, numeric)[0])
    return _row(kind, column, "", (), method, value, threshold, numeric, p, r.sum(), c.sum(),
                cfg)


def score_drift(reference: Window, current: Window, models: Sequence[str],
                cfg: DriftConfig) -> tuple[list[dict[str, Any]], list[str]]:
    """Each model's score drift overall and within every slice of `drift.slicing`.

    Histograms per slice, window and fine logit bin (`engine.histograms`).
    """
    both = pd.concat([reference.table, current.table], ignore_index=True, join="inner")
    index, notices = build_slice_index(both, cfg.slicing.dimensions, cfg.slicing.crosses)
    window = np.r_[np.zeros(len(reference), np.int64), np.ones(len(current), np.int64)]
    grid = score_grid(cfg)
    b = grid.n_bins
    rows = []
    for model in models:
        scores = np.r_[reference.scores[model].to_numpy(np.float64),
                       current.scores[model].to_numpy(np.float64)]
        ok = ~np.isnan(scores)
        hist = slice_histograms(index, index.cell_of_row[ok],
                                window[ok] * b + grid.bin_of(scores[ok]), 2, b)
        rows += score_rows(model, index, hist, cfg)
    return rows, notices


def score_grid(cfg: DriftConfig) -> ScoreGrid:
    """The fine logit bins of score drift (centred on 0.5: one grid for every model)."""
    return ScoreGrid(0.5, cfg.score_bins)


def score_rows(model: str, index: SliceIndex, hist: np.ndarray, cfg: DriftConfig
               ) -> list[dict[str, Any]]:
    """A model's score drift rows from its (slices, window, bin) histogram on `score_grid`."""
    ref_h, cur_h = hist[:, 0], hist[:, 1]
    method, threshold = _method(f"score:{model}", "score", cfg)
    values = divergence.effect(method, ref_h, cur_h, score_grid(cfg).centres, cfg.psi_bins)
    _d, p = divergence.ks_pvalue(ref_h, cur_h)
    return [_row("score", f"score:{model}", model, key, method, float(values[s]), threshold,
                 True, float(p[s]), ref_h[s].sum(), cur_h[s].sum(), cfg)
            for s, key in enumerate(index.keys)]


def drift(reference: Window, current: Window, models: Sequence[str],
          thresholds: Mapping[str, float], cfg: DriftConfig, seed: int,
          progress: Callable[[str], None] | None = None) -> DriftResult:
    """Everything `smo-eval drift` reports, from two windows (see module docstring)."""
    step = progress or (lambda _label: None)
    notices: list[str] = []
    if not reference.labelled:
        raise ValueError("the reference window needs gold labels (calibration and the "
                         "emerging-terms baseline are fitted on it)")
    meta = metadata_columns(reference, current, cfg)
    rows = column_drift(reference, current, meta, "metadata", cfg)
    if current.labelled:
        gold = [c for c in GOLD_COLUMNS if c in reference.table and c in current.table]
        rows += column_drift(reference, current, gold, "gold", cfg)
    else:
        notices.append("current window has no gold labels: category-mix drift and true "
                       "performance skipped; the label-free estimate stands in")
    step("columns")
    by_slice, slice_notices = score_drift(reference, current, models, cfg)
    notices += slice_notices
    step("scores")
    index, _ = build_slice_index(current.table, cfg.slicing.dimensions, cfg.slicing.crosses)
    estimate = estimate_performance(reference, current, models, thresholds, index,
                                    cfg.estimate)
    step("estimate")
    terms, term_notices = emerging_terms(reference, current, models, thresholds,
                                         cfg.terms, np.random.default_rng(seed))
    notices += term_notices
    step("terms")
    table = pd.DataFrame(rows + by_slice, columns=DRIFT_COLUMNS)
    windows = {w.name: {"n": len(w), "labelled": w.labelled} for w in (reference, current)}
    return DriftResult(table, estimate, terms, windows, notices)
