"""Error drivers: a LightGBM model of which items err, and per feature value its mean SHAP
contribution (what makes errors likely, beyond single slices)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smo_eval.config.schema_stages import ErrorModelConfig
from smo_eval.stages.errors.slices import Columns


def drivers(model: str, kind: str, columns: Columns, pop: np.ndarray, err: np.ndarray,
             cfg: ErrorModelConfig, rng: np.random.Generator) -> pd.DataFrame:
    """LightGBM error model on the population; SHAP contributions per feature and value."""
    rows = np.flatnonzero(pop)
    if len(rows) > cfg.max_rows:
        rows = np.sort(rng.choice(rows, cfg.max_rows, replace=False))
    y = err[rows].astype(np.int8)
    empty = pd.DataFrame(columns=["model", "error", "feature", "value", "n", "error_rate",
                                  "mean_contribution", "feature_importance"])
    if y.sum() < cfg.min_errors or y.sum() == len(y):
        return empty
    cols = list(columns.columns.values())
    x = np.column_stack([c.codes[rows] for c in cols]).astype(np.float64)
    x[x < 0] = np.nan
    import lightgbm as lgb

    booster = lgb.train(
        {"objective": "binary", "num_leaves": cfg.num_leaves,
         "learning_rate": cfg.learning_rate, "min_data_in_leaf": 20,
         "num_threads": 1, "verbose": -1, "seed": int(rng.integers(1 << 30)),
         "deterministic": True, "max_cat_to_onehot": 8},
        # Positional names: LightGBM refuses column names from the data holding JSON
        # characters (`[`, `"`, `:`); results are named by `cols` below.
        lgb.Dataset(x, y, feature_name=[f"f{j}" for j in range(len(cols))],
                    categorical_feature=list(range(len(cols))), free_raw_data=True),
        num_boost_round=cfg.n_estimators)
    # SHAP values on a sample: exact tree SHAP costs far more per row than the fit.
    sub = np.sort(rng.choice(len(rows), min(len(rows), cfg.shap_rows), replace=False))
    rows, x, y = rows[sub], x[sub], y[sub]
    contrib = np.asarray(booster.predict(x, pred_contrib=True, num_threads=1))[:, :-1]
    frames = []
    for j, col in enumerate(cols):
        codes = col.codes[rows]
        ok = codes >= 0
        k = len(col.values)
        n = np.bincount(codes[ok], minlength=k)
        e = np.bincount(codes[ok], weights=y[ok], minlength=k)
        s = np.bincount(codes[ok], weights=contrib[ok, j], minlength=k)
        used = np.flatnonzero(n >= cfg.min_support)
        frames.append(pd.DataFrame({
            "feature": col.name, "value": [col.values[v] for v in used], "n": n[used],
            "error_rate": e[used] / n[used], "mean_contribution": s[used] / n[used],
            "feature_importance": float(np.abs(contrib[:, j]).mean())}))
    drivers = pd.concat(frames, ignore_index=True).sort_values("mean_contribution",
                                                                ascending=False)
    drivers.insert(0, "error", kind)
    drivers.insert(0, "model", model)
    return drivers.head(cfg.top_values).reset_index(drop=True)


