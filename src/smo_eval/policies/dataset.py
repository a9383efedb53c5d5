"""The dataset every stage counts on, made once by the runner from ingest's tables.

A gold row whose label is one of `data.labels.borderline` leaves ingest with label 0 and
`borderline` True (`mark_borderline`); `judged` applies `evaluate.borderline` for every stage
alike: `exclude` and `separate` leave borderline rows out of every count (separate also puts
their flag rate beside the headline metrics), `negative` counts them as safe, `positive` as
violating; in every mode the borderline rows and their scores stay aside for their flag rate.

With per-policy rows, `policy` is a slice dimension (`with_policy`): every stage slices by
policy and by policy within each configured dimension, so `policy=hate` and
`policy=hate&region=EU` are slices like any other (compare, errors, gate selectors such as
`policy=*`, the report).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.contract.validate import BORDERLINE
from smo_eval.pipeline.dataset import Dataset
from smo_eval.policies import BORDERLINE_COLUMN, POLICY


def mark_borderline(table: pd.DataFrame) -> pd.DataFrame:
    """Ingest: the `borderline` column beside `label` (label 0 until the mode decides)."""
    out = table.copy()
    flag = out["label"].to_numpy() == BORDERLINE
    out["label"] = np.where(flag, 0, out["label"].to_numpy()).astype(np.int8)
    out.insert(out.columns.get_loc("label") + 1, BORDERLINE_COLUMN, flag)
    return out


def judged(data: Dataset, mode: str) -> Dataset:
    """The dataset every stage counts on, by `evaluate.borderline`; borderline rows (with
    their scores) are kept aside in `borderline` / `borderline_scores` in every mode."""
    if data.lazy and "borderline" not in data.summary:
        return data  # a SQL backend's dataset stays on disk when there is nothing to set aside
    table = data.eval_table
    if BORDERLINE_COLUMN not in table.columns:
        return data
    flag = table[BORDERLINE_COLUMN].to_numpy(dtype=bool)
    aside = table.loc[flag].reset_index(drop=True)
    aside_scores = data.scores.loc[flag].reset_index(drop=True)
    if mode in ("exclude", "separate"):
        kept = table.loc[~flag].drop(columns=BORDERLINE_COLUMN).reset_index(drop=True)
        scores = data.scores.loc[~flag].reset_index(drop=True)
    else:
        kept = table.assign(label=np.where(flag, int(mode == "positive"),
                                           table["label"].to_numpy()).astype(np.int8))
        scores = data.scores
    return data.replace(eval_table=kept, scores=scores, borderline=aside,
                        borderline_scores=aside_scores)


def with_policy(slicing: SlicingConfig, table: pd.DataFrame) -> SlicingConfig:
    """The slicing with `policy` first and crossed with each configured dimension the table
    has; unchanged without a policy column or when the configuration already names it."""
    named = POLICY in slicing.dimensions or any(POLICY in cross for cross in slicing.crosses)
    if POLICY not in table.columns or named:
        return slicing
    present = [d for d in slicing.dimensions if d in table.columns]
    return replace(slicing, dimensions=[POLICY, *slicing.dimensions],
                   crosses=[*slicing.crosses, *([POLICY, d] for d in present)])
