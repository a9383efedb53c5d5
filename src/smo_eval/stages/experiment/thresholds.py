"""Per-slice operating points: the threshold per value of a slice dimension that maximises
recall subject to precision >= p (or FPR <= f), chosen on the tuning part, judged on held-out.

Selection reads the counting engine's fine score histogram: cumulative counts from the top
bin give precision, recall and FPR at every bin edge for every slice at once, so no slice's
scores are ever sorted. Slices with too little tuning data, or where the target cannot be
met, fall back to the global (overall) threshold and say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.engine.counting import ScoreGrid, count_model
from smo_eval.engine.intervals import count_intervals
from smo_eval.engine.metrics import count_metrics
from smo_eval.engine.slices import OVERALL, build_slice_index
from smo_eval.errors import ConfigError

TARGET_METRICS = ("precision", "fpr")
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
    target get NaN.
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
    score = np.where(feasible, recall, -1.0)
    best = np.argmax(score, axis=1)
    ok = np.take_along_axis(score, best[:, None], axis=1)[:, 0] >= 0
    edges = grid.edges[:-1][::-1]
    rows = np.arange(hist.shape[0])

    def at(values: np.ndarray) -> np.ndarray:
        return np.where(ok, values[rows, best], np.nan)

    return {"threshold": np.where(ok, edges[best], np.nan), "precision": at(precision),
            "recall": at(recall), "fpr": at(fpr)}


def tune_thresholds(table: pd.DataFrame, scores: pd.DataFrame, parts: np.ndarray,
                    cfg: Mapping[str, Any], ci_cfg: Mapping[str, Any],
                    seed: int) -> ThresholdResult:
    """Thresholds per model and value of `cfg['dimension']`, with their held-out judgement."""
    dimension = str(cfg["dimension"])
    if dimension not in table.columns:
        raise ConfigError(f"experiment.thresholds.dimension={dimension!r} is not in the data")
    target = cfg["target"]
    metric, value = str(target["metric"]), float(target["value"])
    models = list(cfg.get("models") or scores.columns)
    tune, held = parts == "tune", parts == "held_out"
    if not tune.any() or not held.any():
        raise ConfigError("experiment.split gives no tune or no held_out rows")
    n_bins = int(cfg["score_bins"])
    support = cfg["min_support"]
    tune_index, _ = build_slice_index(table.loc[tune], [dimension], [])
    labels_t = table["label"].to_numpy()[tune]
    frames, notices = [], []
    for model in models:
        stats = count_model(tune_index, labels_t, scores[model].to_numpy()[tune], 0.5, n_bins)
        picked = pick_thresholds(stats.hist, stats.grid, metric, value)
        frame = pd.DataFrame({
            "model": model, "dimension": tune_index.dimensions,
            "value": [OVERALL if s == OVERALL else s.split("=", 1)[1] for s in tune_index.names],
            "threshold": picked["threshold"], "n_tune": stats.n, "n_pos_tune": stats.n_pos,
            "tune_precision": picked["precision"], "tune_recall": picked["recall"],
            "tune_fpr": picked["fpr"]})
        frame = frame[frame["n_tune"] > 0].reset_index(drop=True)
        glob = float(frame["threshold"].iloc[0])
        if np.isnan(glob):
            raise ConfigError(f"model {model}: no threshold meets {metric} "
                              f"{'>=' if metric == 'precision' else '<='} {value} on the tuning "
                              "part overall; lower experiment.thresholds.target.value")
        small = (frame["n_tune"] < int(support["n"])) | (
            frame["n_pos_tune"] < int(support["positives"]))
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
    thresholds = pd.concat(frames, ignore_index=True)
    judgement, metrics = judge(table.loc[held], scores.loc[held], thresholds, dimension,
                               ci_cfg, seed)
    return ThresholdResult(thresholds, judgement, metrics, notices)


def thresholds_for_rows(thresholds: pd.DataFrame, table: pd.DataFrame,
                        models: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per-row threshold arrays (for evaluate, compare, gate) from a thresholds table.

    Each row gets its slice value's threshold; values absent from the table (or rows missing
    the value) get the model's global (`overall`) threshold.
    """
    out: dict[str, np.ndarray] = {}
    for model, rows in thresholds.groupby("model", sort=False):
        if models is not None and model not in models:
            continue
        overall = rows[rows["dimension"] == OVERALL]
        if overall.empty:
            raise ConfigError(f"thresholds table has no overall row for model {model}")
        glob = float(overall["threshold"].iloc[0])
        dims = rows.loc[rows["dimension"] != OVERALL, "dimension"].unique()
        if len(dims) > 1:
            raise ConfigError(f"thresholds table gives model {model} thresholds for several "
                              f"dimensions {list(dims)}; one per model")
        per_row = np.full(len(table), glob, dtype=np.float64)
        if len(dims) == 1 and dims[0] in table.columns:
            by_value = dict(zip(rows["value"].astype(str), rows["threshold"].astype(float),
                                strict=True))
            mapped = table[dims[0]].astype("string").map(by_value).astype("float64")
            per_row = mapped.fillna(glob).to_numpy(np.float64)
        out[str(model)] = per_row
    return out


def judge(table: pd.DataFrame, scores: pd.DataFrame, thresholds: pd.DataFrame, dimension: str,
          ci_cfg: Mapping[str, Any], seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """Held-out precision / recall / FPR with intervals per slice: tuned vs global threshold."""
    index, _ = build_slice_index(table, [dimension], [])
    labels = table["label"].to_numpy()
    per_row = thresholds_for_rows(thresholds, table)
    level = float(ci_cfg["level"])
    frames, metrics = [], {}
    for model, rows in thresholds.groupby("model", sort=False):
        glob = float(rows.loc[rows["dimension"] == OVERALL, "threshold"].iloc[0])
        column = scores[str(model)].to_numpy()
        for point, thr in (("per_slice", per_row[str(model)]), ("global", glob)):
            cells = count_model(index, labels, column, thr, 64).cells
            values: dict[str, Any] = {"model": model, "operating_point": point,
                                      "slice": index.names, "n": cells.sum(axis=1),
                                      "n_pos": cells[:, 2] + cells[:, 3]}
            found = count_metrics(cells)
            intervals = count_intervals(cells, level=level)
            for name in ("precision", "recall", "fpr"):
                values[name] = found[name]
                values[f"{name}_lo"], values[f"{name}_hi"] = intervals[name]
            frame = pd.DataFrame(values)
            frames.append(frame[frame["n"] > 0])
            for name in ("precision", "recall", "fpr"):
                metrics[f"thresholds.{model}.{point}.{name}"] = float(found[name][0])
    judgement = pd.concat(frames, ignore_index=True)
    return judgement, metrics


def read_thresholds(path: Path) -> pd.DataFrame:
    """A thresholds file as `smo-eval experiment` writes it (CSV), checked for its columns."""
    if not path.is_file():
        raise ConfigError(f"thresholds file {path} not found (written by `smo-eval experiment`)")
    frame = pd.read_csv(path, dtype={"value": str, "dimension": str, "model": str},
                        encoding="utf-8-sig", keep_default_na=False)
    missing = [c for c in ("model", "dimension", "value", "threshold") if c not in frame.columns]
    if missing:
        raise ConfigError(f"thresholds file {path} lacks column(s) {missing}")
    bad = ~frame["threshold"].between(0.0, 1.0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise ConfigError(f"thresholds file {path}, row {row}, column 'threshold': "
                          "not a number in [0, 1]")
    return frame
