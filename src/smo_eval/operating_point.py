"""The operating point: which threshold flags which item, worked out in one place.

Every stage that counts tp / fp / fn / tn (evaluate, compare, errors, labels, drift, the gold
diff and the gate through evaluate's table) takes its thresholds from `resolve`: per model
`evaluate.thresholds[model]`, else `evaluate.threshold`; with per-policy rows,
`evaluate.policy_thresholds[policy]` for the rows of that policy; and for the models a
thresholds file lists (`evaluate.thresholds_file`, written by `smo-eval experiment`, or a
team's file with dimension `policy`), one threshold per row from the row's value of the file's
dimension (rows with other values get the file's global one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from smo_eval.config.schema_stages import EvaluateConfig
from smo_eval.errors import ConfigError
from smo_eval.io.writers import csv_text_restored
from smo_eval.policies import POLICY
from smo_eval.slicekey import OVERALL

Threshold = float | np.ndarray


def resolve(cfg: EvaluateConfig, table: pd.DataFrame, models: Sequence[str],
            thresholds_file: pd.DataFrame | None = None) -> dict[str, Threshold]:
    """Each model's threshold: a number, or an array with one value per row of `table`."""
    chosen: dict[str, Threshold] = {m: float(cfg.thresholds.get(m, cfg.threshold))
                                    for m in models}
    if cfg.policy_thresholds:
        chosen = {m: per_policy(cfg.policy_thresholds, table, float(t))
                  for m, t in chosen.items()}
    if thresholds_file is not None:
        chosen |= per_row(thresholds_file, table, models)
    return chosen


def per_policy(thresholds: Mapping[str, float], table: pd.DataFrame,
               default: float) -> np.ndarray:
    """Per-row thresholds from `evaluate.policy_thresholds`: a row of a listed policy gets its
    threshold, the others `default`. A policy the table does not have is a typo, refused."""
    if POLICY not in table.columns:
        raise ConfigError("evaluate.policy_thresholds is set, but the predictions carry no "
                          "policy column (one score per item, model and policy)")
    known = [str(p) for p in table[POLICY].astype("category").cat.categories]
    unknown = sorted(set(map(str, thresholds)) - set(known))
    if unknown:
        raise ConfigError(f"evaluate.policy_thresholds names policies the data does not "
                          f"have: {unknown}; policies: {known}")
    mapped = table[POLICY].astype("string").map({str(k): float(v)
                                                 for k, v in thresholds.items()})
    return mapped.astype("float64").fillna(default).to_numpy(np.float64)


def given_or_configured(cfg: EvaluateConfig, table: pd.DataFrame, models: Sequence[str],
                        given: Mapping[str, Threshold] | None) -> dict[str, Threshold]:
    """The thresholds a caller passed, else the configured ones; with a thresholds file the
    caller must pass them (resolved with the file), so no stage counts at another point."""
    if given is not None:
        return {m: given[m] for m in models}
    if cfg.thresholds_file:
        raise ConfigError("evaluate.thresholds_file is set: pass thresholds= resolved with it "
                          "(smo_eval.operating_point.resolve)")
    return resolve(cfg, table, models)


def scalar(threshold: Threshold) -> float:
    """A threshold that must be one number (drift's score grid, the gold diff): a per-row
    threshold is refused rather than silently replaced by another operating point."""
    if np.ndim(threshold) == 0:
        return float(threshold)
    values = np.unique(np.asarray(threshold))
    if len(values) == 1:
        return float(values[0])
    raise ConfigError("this stage needs one threshold per model; evaluate.thresholds_file "
                      "gives per-slice thresholds (use evaluate.thresholds for this run)")


def per_row(thresholds: pd.DataFrame, table: pd.DataFrame,
            models: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per-row threshold arrays from a thresholds table (model, dimension, value, threshold).

    Each row gets its value's threshold; values absent from the table (or rows missing the
    value) get the model's global (`overall`) threshold.
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
        values = np.full(len(table), glob, dtype=np.float64)
        if len(dims) == 1 and dims[0] in table.columns:
            by_value = dict(zip(rows["value"].astype(str), rows["threshold"].astype(float),
                                strict=True))
            mapped = table[dims[0]].astype("string").map(by_value).astype("float64")
            values = mapped.fillna(glob).to_numpy(np.float64)
        out[str(model)] = values
    return out


def read_thresholds(path: Path) -> pd.DataFrame:
    """A thresholds file as `smo-eval experiment` writes it (CSV, text escaped for
    spreadsheets: `io.writers.spreadsheet_safe`), checked for its columns."""
    if not path.is_file():
        raise ConfigError(f"evaluate.thresholds_file {path} not found (written by "
                          "`smo-eval experiment` as outputs/experiment/results/thresholds.csv)")
    frame = csv_text_restored(pd.read_csv(
        path, dtype={"value": str, "dimension": str, "model": str}, encoding="utf-8-sig",
        keep_default_na=False))
    missing = [c for c in ("model", "dimension", "value", "threshold") if c not in frame.columns]
    if missing:
        raise ConfigError(f"thresholds file {path} lacks column(s) {missing}")
    numbers = pd.to_numeric(frame["threshold"], errors="coerce")
    bad = ~numbers.between(0.0, 1.0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise ConfigError(f"thresholds file {path}, row {row}, column 'threshold': "
                          "not a number in [0, 1]")
    frame["threshold"] = numbers
    return frame
