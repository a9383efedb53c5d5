"""Per-slice operating points: the threshold per value of a slice dimension that maximises
recall subject to precision >= p (or FPR <= f), chosen on the tuning part, judged on held-out.

Selection reads the counting engine's fine score histogram: cumulative counts from the top
bin give precision, recall and FPR at every bin edge for every slice at once, so no slice's
scores are ever sorted. Slices with too little tuning data, or where the target cannot be
met, fall back to the global (overall) threshold and say so; a model whose tuning data
cannot meet the target overall is left out (with a notice) while the others are tuned. A tuned
threshold whose held-out recall falls far below both its tuning recall and what the global
threshold gets on the same slice is kept but flagged: it did not carry over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta

from smo_eval.config.schema_report import ThresholdTuning
from smo_eval.engine.counting import ScoreGrid, count_model
from smo_eval.engine.intervals import count_intervals
from smo_eval.engine.metrics import FN, TP, count_metrics
from smo_eval.engine.slices import build_slice_index
from smo_eval.errors import ConfigError
from smo_eval.operating_point import per_row
from smo_eval.slicekey import OVERALL

TARGET_METRICS = ("precision", "fpr")
# A tuned threshold is flagged when even the upper end of its held-out recall interval is under
# this share of the recall it promised and of the global threshold's (see `_recall_warning`).
FAR_BELOW = 0.5
THRESHOLD_COLUMNS = ["model", "dimension", "value", "threshold", "source", "n_tune",
                     "n_pos_tune", "tune_precision", "tune_recall", "tune_fpr"]


@dataclass
class ThresholdResult:
    """The thresholds file, its held-out judgement (tuned vs global) and notices."""

    thresholds: pd.DataFrame
    judgement: pd.DataFrame
    metrics: dict[str, float]
    notices: list[str] = field(default_factory=list)


def pick_thresholds(hist: np.ndarray, grid: ScoreGrid, metric: str,
                    value: float) -> dict[str, np.ndarray]:
    """Best bin edge per slice from histograms (S, 2, B): max recall with the target met.

    Ties in recall go to the highest threshold (fewest flags). Slices where no edge meets the
    target get NaN; `best` is the best value of the target metric any edge that flags a
    violation reaches (what a lower target could ask for; NaN when none is defined).
    """
    if metric not in TARGET_METRICS:
        raise ConfigError(f"experiment.thresholds.target.metric must be one of {TARGET_METRICS}")
    neg = hist[:, 0, ::-1].astype(np.float64)
    pos = hist[:, 1, ::-1].astype(np.float64)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    n_pos, n_neg = pos.sum(axis=1, keepdims=True), neg.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1.0), np.nan)
        recall = np.where(n_pos > 0, tp / np.maximum(n_pos, 1.0), np.nan)
        fpr = np.where(n_neg > 0, fp / np.maximum(n_neg, 1.0), np.nan)
    if metric == "precision":
        feasible = (tp > 0) & (precision >= value)
    else:
        feasible = (tp > 0) & (fpr <= value)
    reach = precision if metric == "precision" else -fpr
    best = np.where((tp > 0) & ~np.isnan(reach), reach, -np.inf).max(axis=1)
    best = np.where(np.isfinite(best), np.abs(best), np.nan)
    score = np.where(feasible, recall, -1.0)
    pick = np.argmax(score, axis=1)
    ok = np.take_along_axis(score, pick[:, None], axis=1)[:, 0] >= 0
    edges = grid.edges[:-1][::-1]
    rows = np.arange(hist.shape[0])

    def at(values: np.ndarray) -> np.ndarray:
        return np.where(ok, values[rows, pick], np.nan)

    return {"threshold": np.where(ok, edges[pick], np.nan), "precision": at(precision),
            "recall": at(recall), "fpr": at(fpr), "best": best}


def tune_thresholds(table: pd.DataFrame, scores: pd.DataFrame, parts: np.ndarray,
                    cfg: ThresholdTuning, *, models: list[str], ci_level: float,
                    ) -> ThresholdResult:
    """Thresholds per model and value of `cfg.dimension`, with their held-out judgement.

    A model whose tuning part cannot meet the target overall gets no thresholds (a notice
    names it, the target and the best value it reaches); only when no model can be tuned is
    the run an error."""
    dimension = cfg.dimension
    if dimension not in table.columns:
        raise ConfigError(f"experiment.thresholds.dimension={dimension!r} is not in the data")
    metric, value = cfg.target.metric, cfg.target.value
    tune, held = parts == "tune", parts == "held_out"
    if not tune.any() or not held.any():
        raise ConfigError("experiment.split gives no tune or no held_out rows")
    n_bins = cfg.score_bins
    support = cfg.min_support
    tune_index, _ = build_slice_index(table.loc[tune], [dimension], [])
    labels_t = table["label"].to_numpy()[tune]
    frames, notices, unreachable = [], [], []
    goal = f"{metric} {'>=' if metric == 'precision' else '<='} {value}"
    for model in models:
        stats = count_model(tune_index, labels_t, scores[model].to_numpy()[tune], 0.5, n_bins)
        picked = pick_thresholds(stats.hist, stats.grid, metric, value)
        frame = pd.DataFrame({
            "model": model, "dimension": tune_index.dimensions,
            "value": [OVERALL if not key else key[0][1] for key in tune_index.keys],
            "threshold": picked["threshold"], "n_tune": stats.n, "n_pos_tune": stats.n_pos,
            "tune_precision": picked["precision"], "tune_recall": picked["recall"],
            "tune_fpr": picked["fpr"]})
        frame = frame[frame["n_tune"] > 0].reset_index(drop=True)
        glob = float(frame["threshold"].iloc[0])
        if np.isnan(glob):
            best = float(picked["best"][0])
            reach = (f"best reachable {metric} {best:.4f}" if not np.isnan(best) else
                     "nothing reachable: the tuning part lacks violations"
                     + (" or safe items" if metric == "fpr" else ""))
            unreachable.append(f"{model} ({reach})")
            notices.append(f"{model}: left out of thresholds: no threshold meets {goal} on the "
                           f"tuning part overall ({reach})")
            continue
        small = (frame["n_tune"] < support.n) | (frame["n_pos_tune"] < support.positives)
        unmet = frame["threshold"].isna()
        frame["source"] = np.select(
            [frame["dimension"] == OVERALL, small, unmet],
            ["global", "global: too little tuning data", "global: target not reachable"],
            "tuned")
        fallback = frame["source"].str.startswith("global:")
        frame.loc[fallback, "threshold"] = glob
        notices += [f"{model}: {dimension}={v} uses the global threshold {glob:.4f} ({s[8:]})"
                    for v, s in frame.loc[fallback, ["value", "source"]].itertuples(index=False)]
        frames.append(frame[THRESHOLD_COLUMNS])
    if not frames:
        raise ConfigError(f"experiment.thresholds: no model meets {goal} on the tuning part "
                          f"overall: {', '.join(unreachable)}; lower "
                          "experiment.thresholds.target.value")
    thresholds = pd.concat(frames, ignore_index=True)
    judgement, metrics = judge(table.loc[held], scores.loc[held], thresholds, dimension,
                               ci_level=ci_level)
    notices += [f"{model}: {where}: {warning}" for model, where, warning in
                judgement.loc[judgement["warning"] != "", ["model", "slice", "warning"]]
                .itertuples(index=False)]
    return ThresholdResult(thresholds, judgement, metrics, notices)


def judge(table: pd.DataFrame, scores: pd.DataFrame, thresholds: pd.DataFrame, dimension: str,
          *, ci_level: float) -> tuple[pd.DataFrame, dict[str, float]]:
    """Held-out precision / recall / FPR with intervals per slice: tuned vs global threshold,
    and a `warning` on a tuned slice whose held-out recall falls far short (`_recall_warning`).
    """
    index, _ = build_slice_index(table, [dimension], [])
    labels = table["label"].to_numpy()
    row_thresholds = per_row(thresholds, table)
    level = ci_level
    frames, metrics = [], {}
    for model, rows in thresholds.groupby("model", sort=False):
        glob = float(rows.loc[rows["dimension"] == OVERALL, "threshold"].iloc[0])
        column = scores[str(model)].to_numpy()
        cells = {point: count_model(index, labels, column, thr, 64).cells
                 for point, thr in (("per_slice", row_thresholds[str(model)]), ("global", glob))}
        tuned = rows[rows["source"] == "tuned"]
        tuned = tuned.set_axis([f"{d}={v}" for d, v in tuned[["dimension", "value"]]
                                .itertuples(index=False)]).reindex(index.names)
        warning = _recall_warning(cells["per_slice"], cells["global"],
                                  tuned["tune_recall"].to_numpy(np.float64),
                                  tuned["threshold"].to_numpy(np.float64), level)
        for point, counts in cells.items():
            values: dict[str, Any] = {"model": model, "operating_point": point,
                                      "slice": index.names, "n": counts.sum(axis=1),
                                      "n_pos": counts[:, FN] + counts[:, TP]}
            found = count_metrics(counts)
            intervals = count_intervals(counts, level=level)
            for name in ("precision", "recall", "fpr"):
                values[name] = found[name]
                values[f"{name}_lo"], values[f"{name}_hi"] = intervals[name]
            values["warning"] = warning if point == "per_slice" else ""
            frame = pd.DataFrame(values)
            frames.append(frame[frame["n"] > 0])
            for name in ("precision", "recall", "fpr"):
                metrics[f"thresholds.{model}.{point}.{name}"] = float(found[name][0])
    judgement = pd.concat(frames, ignore_index=True)
    return judgement, metrics


def _recall_warning(tuned_cells: np.ndarray, global_cells: np.ndarray, promised: np.ndarray,
                    chosen: np.ndarray, level: float) -> np.ndarray:
    """Per slice: a warning where a tuned threshold's held-out recall falls far short, else ''.

    Far short: the exact (Clopper-Pearson) upper bound of its held-out recall is under
    `FAR_BELOW` of both the recall it had on the tuning part (`promised`, at threshold
    `chosen`; NaN for slices not tuned) and the global threshold's held-out recall on the
    same violations. The first says the threshold did not carry over (a 0.998 picked from a
    few top-scored tuning items that held-out items never reach); the second that the global
    threshold would catch more.
    Either alone is no alarm: a tuned threshold may by design trade recall for the precision
    target (it then keeps its tuning recall), and a shift may lower both. The share keeps a
    real but small drop (99.5 % held-out against 100 % in tuning) from raising it. The exact
    bound, not the bootstrap interval: with no violation caught a Poisson bootstrap collapses
    to [0, 0], while the exact bound stays honest (0 of 3 caught: up to 71 % at 95 %)."""
    tp, n_pos = tuned_cells[:, TP], tuned_cells[:, TP] + tuned_cells[:, FN]
    upper = np.ones(len(tp))
    short = tp < n_pos
    upper[short] = beta.ppf(1 - (1 - level) / 2, tp[short] + 1, n_pos[short] - tp[short])
    with np.errstate(invalid="ignore", divide="ignore"):
        recall, global_recall = tp / n_pos, global_cells[:, TP] / n_pos
    far = (n_pos > 0) & (upper < FAR_BELOW * np.minimum(promised, global_recall))
    return np.array([
        f"tuned threshold {c:.4f}: held-out recall {r:.1%} ({int(k)} of {int(m)}; exact "
        f"{level:.0%} upper bound {u:.1%}), under {FAR_BELOW:.0%} of its tuning recall {t:.1%} "
        f"and of the global threshold's {g:.1%} on this slice" if w else ""
        for w, c, r, k, m, u, t, g in zip(far, chosen, recall, tp, n_pos, upper, promised,
                                          global_recall, strict=True)], dtype=object)
