"""Label-free performance estimate (confidence-based performance estimation, CBPE).

Each model's scores are calibrated on the labelled reference window by isotonic regression,
per group of `calibrate_by` (e.g. region x language) where the group has enough items and
positives, else on the whole reference. In the current window every item then carries a calibrated
probability p of violating, so per slice the expected confusion cells are
TP = sum p over flagged items, FP = sum (1 - p) over flagged items, FN = sum p over the rest.

The calibration is fitted on the engine's fine logit grid (per-label histograms of the
reference, pool-adjacent-violators over bins), so it costs one bincount per model and every
current item maps to a calibrated bin by index. The interval adds two variances:
- outcome noise: given the probabilities, TP and FN are Poisson-binomial sums (sum p(1 - p));
- calibration noise: a calibrated block of m reference items with rate q is uncertain by
  q(1 - q) / m, shared by all current items in that block (so it scales with their count
  squared and does not average away in large windows).
The estimate assumes P(violating | score, group) did not move; where it did (a score shift
without a label shift, a new term the model misses) the estimate is off, and comparing it
with the true value once gold arrives shows exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.isotonic import IsotonicRegression

from smo_eval.config.schema_more import EstimateConfig
from smo_eval.engine.counting import ScoreGrid
from smo_eval.engine.slices import SliceIndex
from smo_eval.stages.drift_windows import Window

GLOBAL = "(all)"


@dataclass(frozen=True)
class Calibration:
    """Per calibration group: calibrated probability, block id and block variance per bin."""

    groups: list[str]            # group names; the last one is GLOBAL
    prob: np.ndarray             # (G, B) calibrated probability of each fine bin
    block: np.ndarray            # (G, B) global block id of each bin
    block_var: np.ndarray        # (n_blocks,) variance q(1 - q) / m of each block's rate
    grid: ScoreGrid


def _quantile_groups(totals: np.ndarray, min_items: int) -> np.ndarray:
    """Consecutive bins merged into groups of about `min_items` items (at least one group)."""
    n_groups = int(max(1, min(len(totals), totals.sum() // max(min_items, 1))))
    before = np.cumsum(totals) - totals
    return np.minimum((before * n_groups // max(totals.sum(), 1)).astype(np.int64), n_groups - 1)


def _pav(positives: np.ndarray, totals: np.ndarray, min_items: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Isotonic fit over bins: probability per bin, block per bin, items per block.

    Fine bins are first merged into groups of about `min_items` reference items (reference
    quantiles on each side of the threshold): an isotonic fit on tiny extreme bins overfits
    (its top block is often 1.0) and would overstate precision out of sample.
    """
    half = len(totals) // 2  # the threshold is the middle edge: never merge across it
    group = np.concatenate([_quantile_groups(totals[:half], min_items),
                            _quantile_groups(totals[half:], min_items)])
    group[half:] += group[:half].max() + 1 if half else 0
    n_groups = int(group.max()) + 1
    g_pos = np.bincount(group, weights=positives, minlength=n_groups)
    g_tot = np.bincount(group, weights=totals, minlength=n_groups)
    used = g_tot > 0
    prob = np.full(len(totals), np.nan)
    if used.any():
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        iso.fit(np.arange(n_groups)[used], g_pos[used] / g_tot[used], sample_weight=g_tot[used])
        prob = iso.predict(group.astype(np.float64))
    # Blocks: runs of bins with one fitted value; empty bins join the run they fall in.
    block = np.concatenate([[0], np.cumsum(np.abs(np.diff(prob)) > 1e-12)])
    size = np.bincount(block, weights=totals)
    return prob, block, size


def group_values(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray | None:
    """Calibration group of each row, named like a slice (`region=SEA&language=zh`); None
    when a column is missing (then only the global calibration exists). Names are built for
    the distinct combinations only (integer codes per row), so a million rows stay cheap."""
    if not columns or any(c not in table.columns for c in columns):
        return None
    key = np.zeros(len(table), dtype=np.int64)
    levels = []
    for column in columns:
        codes, uniques = pd.factorize(table[column], use_na_sentinel=False)
        key = key * (len(uniques) + 1) + codes
        levels.append((column, [str(u) if pd.notna(u) else "" for u in uniques]))
    used, inverse = np.unique(key, return_inverse=True)
    names = []
    for code in used:
        parts = []
        for column, values in reversed(levels):
            code, level = divmod(int(code), len(values) + 1)
            parts.append(f"{column}={values[level]}")
        names.append("&".join(reversed(parts)))
    return np.asarray(names, dtype=object)[inverse]


def calibrate(reference: Window, model: str, group_cols: Sequence[str], min_n: int,
              min_positives: int, grid: ScoreGrid, min_items: int = 100) -> Calibration:
    """Fit the model's calibration on the labelled reference, per group where support allows."""
    scores = reference.scores[model].to_numpy()
    labels = reference.table["label"].to_numpy().astype(np.int64)
    scored = ~np.isnan(scores)
    values = group_values(reference.table, group_cols)
    return fit_calibration(None if values is None else values[scored], labels[scored],
                           grid.bin_of(scores[scored]), None, min_n, min_positives, grid,
                           min_items)


def fit_calibration(values: np.ndarray | None, y: np.ndarray, bins: np.ndarray,
                    count: np.ndarray | None, min_n: int, min_positives: int, grid: ScoreGrid,
                    min_items: int) -> Calibration:
    """The calibration from scored reference rows: group name (None: global only), label and
    bin per row, and `count` items per row (None: one each), so a SQL backend's counts per
    (group, label, bin) fit exactly what the rows fit. Groups are taken in order of first
    appearance."""
    names: list[str] = []
    codes = np.zeros(len(y), dtype=np.int64)
    if values is not None:
        inv, uniq = pd.factorize(values)
        n = np.bincount(inv, weights=count, minlength=len(uniq))
        pos = np.bincount(inv, weights=y if count is None else y * count, minlength=len(uniq))
        keep = (n >= min_n) & (pos >= min_positives)
        names = [str(v) for v in uniq[keep]]
        remap = np.full(len(uniq), len(names), dtype=np.int64)
        remap[keep] = np.arange(len(names))
        codes = remap[inv]
    groups = [*names, GLOBAL]
    b = grid.n_bins
    hist = np.bincount((codes * 2 + y) * b + bins, weights=count, minlength=len(groups) * 2 * b)
    hist = hist.reshape(len(groups), 2, b).astype(np.float64)
    hist[-1] = hist.sum(axis=0)  # the global calibration uses every reference item
    prob, block, variances = np.empty((len(groups), b)), np.empty((len(groups), b), np.int64), []
    offset = 0
    for g in range(len(groups)):  # one isotonic fit per calibration group (a handful)
        total = hist[g].sum(axis=0)
        p, blk, size = _pav(hist[g, 1], total, min_items)
        rate = np.bincount(blk, weights=np.nan_to_num(p) * total) / np.maximum(size, 1)
        variances.append(rate * (1 - rate) / np.maximum(size, 1))
        prob[g], block[g] = p, blk + offset
        offset += len(size)
    return Calibration(groups, prob, block, np.concatenate(variances), grid)


def group_codes(values: np.ndarray | None, n_rows: int, groups: list[str]) -> np.ndarray:
    """Each row's calibration group (its own when fitted, else the global one, last)."""
    fallback = len(groups) - 1
    if values is None or len(groups) == 1:
        return np.full(n_rows, fallback, dtype=np.int64)
    lookup = {g: i for i, g in enumerate(groups[:-1])}
    return pd.Series(values).map(lookup).fillna(fallback).to_numpy(np.int64)


@dataclass(frozen=True)
class CurrentRows:
    """Scored rows of the current window (or a SQL backend's counts of alike rows): joint
    cell, fine bin, calibration group, flag, gold label (None: unlabelled) and items each."""

    cell: np.ndarray
    bins: np.ndarray
    group: np.ndarray
    flagged: np.ndarray
    labels: np.ndarray | None
    count: np.ndarray | None = None


def estimate_model(current: Window, model: str, threshold: float, cal: Calibration,
                   index: SliceIndex, group_cols: Sequence[str], level: float) -> pd.DataFrame:
    """Estimated precision and recall per slice of the current window, with intervals, and
    the true values when the current window is labelled."""
    scores = current.scores[model].to_numpy()
    scored = ~np.isnan(scores)
    # Flags in float64, as every stage and backend counts them (not in the scores' float32).
    s64 = scores[scored].astype(np.float64)
    group = group_codes(group_values(current.table, group_cols), len(current), cal.groups)
    labels = (current.table["label"].to_numpy()[scored].astype(np.int64)
              if current.labelled else None)
    rows = CurrentRows(index.cell_of_row[scored].astype(np.int64), cal.grid.bin_of(s64),
                       group[scored], s64 >= threshold, labels)
    return estimate_counts(rows, model, threshold, cal, index, level)


def estimate_counts(rows: CurrentRows, model: str, threshold: float, cal: Calibration,
                    index: SliceIndex, level: float) -> pd.DataFrame:
    """`estimate_model` from the current window's rows or counts (see `CurrentRows`)."""
    cell, bins, group, flagged, count = rows.cell, rows.bins, rows.group, rows.flagged, \
        rows.count
    p = cal.prob[group, bins]
    j = index.n_cells
    own = group < len(cal.groups) - 1
    w = np.stack([p * flagged, (1 - p) * flagged, p * ~flagged, p * (1 - p) * flagged,
                  p * (1 - p) * ~flagged, flagged.astype(np.float64), own], axis=1)
    if count is not None:
        w *= count[:, None]
    per_cell = np.stack([np.bincount(cell, weights=w[:, k], minlength=j) for k in range(7)],
                        axis=1)
    tp, _fp, fn, var_tp, var_fn, n_flag, n_own = index.aggregate(per_cell).T
    n = index.aggregate(np.bincount(cell, weights=count, minlength=j).astype(np.float64))
    # Calibration noise: counts of flagged / unflagged items per (slice, block).
    blocks = cal.block[group, bins]
    n_blocks = len(cal.block_var)
    var_cal = []
    for side in (flagged, ~flagged):
        counts = np.bincount(cell[side] * n_blocks + blocks[side],
                             weights=None if count is None else count[side],
                             minlength=j * n_blocks).reshape(j, n_blocks).astype(np.float64)
        per_slice = index.membership @ counts
        var_cal.append(np.asarray(per_slice) ** 2 @ cal.block_var)
    var_a = var_tp + var_cal[0]
    var_b = var_fn + var_cal[1]
    z = float(stats.norm.ppf(0.5 + level / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / n_flag
        precision_se = np.sqrt(var_a) / n_flag
        recall = tp / (tp + fn)
        recall_se = np.sqrt(fn**2 * var_a + tp**2 * var_b) / (tp + fn) ** 2
    frame = pd.DataFrame({
        "model": model, "slice": index.names, "dimension": index.dimensions,
        "n": n.astype(np.int64), "flagged": n_flag.round().astype(np.int64),
        "threshold": threshold, "own_calibration_share": n_own / np.maximum(n, 1),
        "est_prevalence": (tp + fn) / np.maximum(n, 1),
        "est_precision": precision,
        "est_precision_lo": np.clip(precision - z * precision_se, 0, 1),
        "est_precision_hi": np.clip(precision + z * precision_se, 0, 1),
        "est_recall": recall,
        "est_recall_lo": np.clip(recall - z * recall_se, 0, 1),
        "est_recall_hi": np.clip(recall + z * recall_se, 0, 1),
    })
    if rows.labels is not None:
        frame = frame.join(_actual(rows, index))
    return frame


def _actual(rows: CurrentRows, index: SliceIndex) -> pd.DataFrame:
    """True precision and recall from the current window's gold, and whether each lies in
    the estimate's interval (checked by the caller's columns)."""
    assert rows.labels is not None
    j = index.n_cells
    key = rows.cell * 4 + rows.labels * 2 + rows.flagged.astype(np.int64)
    cells = np.bincount(key, weights=rows.count, minlength=4 * j).reshape(j, 4)
    _tn, fp, fn, tp = index.aggregate(cells.astype(np.float64)).T
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({"actual_prevalence": (tp + fn) / np.maximum(tp + fn + fp + _tn, 1),
                             "actual_precision": tp / (tp + fp), "actual_recall": tp / (tp + fn),
                             "actual_positives": (tp + fn).astype(np.int64)})


def estimate_performance(reference: Window, current: Window, models: Sequence[str],
                         thresholds: Mapping[str, float], index: SliceIndex,
                         cfg: EstimateConfig) -> pd.DataFrame:
    """Estimated (and, with gold, true) precision and recall per model and slice."""
    group_cols = list(cfg.calibrate_by)
    grid_bins = cfg.bins
    frames = []
    for model in models:
        grid = ScoreGrid(float(thresholds[model]), grid_bins)
        cal = calibrate(reference, model, group_cols, cfg.min_calibration.n,
                        cfg.min_calibration.positives, grid, cfg.min_bin_items)
        frame = estimate_model(current, model, float(thresholds[model]), cal, index,
                               group_cols, cfg.level)
        frames.append(frame)
    return with_coverage(pd.concat(frames, ignore_index=True))


def with_coverage(out: pd.DataFrame) -> pd.DataFrame:
    """`<metric>_in_interval` beside the estimate where the true values are known."""
    if "actual_precision" in out.columns:
        for metric in ("precision", "recall"):
            actual = out[f"actual_{metric}"]
            inside = (actual >= out[f"est_{metric}_lo"]) & (actual <= out[f"est_{metric}_hi"])
            out[f"{metric}_in_interval"] = inside.astype("boolean").mask(actual.isna())
    return out

