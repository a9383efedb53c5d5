"""How often the model flags borderline gold items, per slice (evaluate/borderline.csv).

Whatever `evaluate.borderline` made of them in the counts (`smo_eval.policies.dataset`), the
borderline rows stay on the side (`Dataset.borderline`) and `flag_rates` measures the share
the model flags, per model and slice (with per-policy rows, per policy too).

The interval is Clopper-Pearson, like every other rate of the slice table: exact and never
below its level, so a gate ceiling on its upper bound is a bound the data supports, also at
0 or n flagged items and in slices of a handful of items (where Wilson's interval can fall
short of its level). A slice is `above_rest` when its rate exceeds that of the model's other
borderline rows by a one-sided Fisher exact test (hypergeometric tail), Benjamini-Hochberg
corrected over the model's slices at 1 - evaluate.ci.level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import EvaluateConfig
from smo_eval.engine.intervals import clopper_pearson
from smo_eval.engine.slices import build_slice_index
from smo_eval.slicekey import to_json
from smo_eval.stages.evaluate import slice_thresholds

COLUMNS = ["model", "slice", "n", "flagged", "flag_rate", "flag_rate_lo", "flag_rate_hi",
           "rest_n", "rest_flag_rate", "p_value", "p_adjusted", "above_rest", "low_support",
           "n_unscored", "threshold", "dimension", "slice_key"]


def flag_rates(table: pd.DataFrame, scores: pd.DataFrame, models: Sequence[str],
               thresholds: Mapping[str, float | np.ndarray], slicing: SlicingConfig,
               cfg: EvaluateConfig) -> pd.DataFrame:
    """Per model and slice of the borderline rows: how many the model flags, with the exact
    interval and the test against the model's other borderline rows."""
    index, _ = build_slice_index(table, slicing.dimensions, slicing.crosses)
    alpha = 1.0 - cfg.ci.level
    frames = []
    for model in models:
        score = scores[model].to_numpy(np.float64)
        scored = ~np.isnan(score)
        threshold = thresholds[model]
        flagged = scored & (np.nan_to_num(score, nan=-1.0) >= np.asarray(threshold))
        cells = index.cell_of_row
        per_cell = np.stack([np.bincount(cells[scored], minlength=index.n_cells),
                             np.bincount(cells[flagged], minlength=index.n_cells),
                             np.bincount(cells[~scored], minlength=index.n_cells)], axis=1)
        n, k, unscored = index.aggregate(per_cell.astype(float)).round().astype(np.int64).T
        lo, hi = clopper_pearson(k, n, level=cfg.ci.level)
        total_n, total_k = (n[0], k[0]) if len(n) else (0, 0)
        rest_n, rest_k = total_n - n, total_k - k
        p = stats.hypergeom.sf(k - 1, total_n, total_k, n)
        sliced = np.array([bool(key) for key in index.keys])
        p = np.where(sliced & (n > 0) & (rest_n > 0), p, np.nan)
        adjusted = np.full(len(p), np.nan)
        defined = ~np.isnan(p)
        if defined.any():
            adjusted[defined] = multipletests(p[defined], method="fdr_bh")[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate, rest_rate = k / n, rest_k / rest_n
        frames.append(pd.DataFrame({
            "model": model, "slice": index.names, "n": n, "flagged": k, "flag_rate": rate,
            "flag_rate_lo": np.where(n > 0, lo, np.nan), "flag_rate_hi": np.where(n > 0, hi,
                                                                                  np.nan),
            "rest_n": np.where(sliced, rest_n, 0), "rest_flag_rate": np.where(sliced, rest_rate,
                                                                              np.nan),
            "p_value": p, "p_adjusted": adjusted,
            "above_rest": np.nan_to_num(adjusted, nan=1.0) < alpha,
            "low_support": n < cfg.min_support.n, "n_unscored": unscored,
            "threshold": slice_thresholds(index, threshold), "dimension": index.dimensions,
            "slice_key": [to_json(key) for key in index.keys]}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    keep = (out["n"] + out["n_unscored"] > 0) | (out["slice"] == "overall")
    return out.loc[keep, COLUMNS].reset_index(drop=True)


def headline(rates: pd.DataFrame, model: str) -> dict[str, Any]:
    """The overall flag rate of borderline items for evaluate's headline (separate mode)."""
    row = rates[(rates["model"] == model) & (rates["slice"] == "overall")]
    if row.empty:
        return {}
    r = row.iloc[0]

    def plain(value: object) -> float | None:
        number = float(value)  # type: ignore[arg-type]
        return None if np.isnan(number) else round(number, 6)

    return {"n_borderline": int(r["n"]), "borderline_flag_rate": plain(r["flag_rate"]),
            "borderline_flag_rate_lo": plain(r["flag_rate_lo"]),
            "borderline_flag_rate_hi": plain(r["flag_rate_hi"])}
