"""The `borderline` check: a ceiling on the share of borderline gold items the candidate
flags (evaluate/borderline.csv), judged on the upper bound of its exact interval unless
`bound: point`. A slice with fewer borderline items than `min_items` is insufficient
evidence, never a pass; without borderline labels the check does not apply (skipped)."""

from __future__ import annotations

import pandas as pd

from smo_eval.config.schema_more import CheckSpec
from smo_eval.errors import ConfigError
from smo_eval.stages.gate.model import FAIL, INSUFFICIENT, PASS, GateTables, SliceOutcome
from smo_eval.stages.gate.selection import chosen, keyed
from smo_eval.taxonomy import Taxonomy


def number(value: object) -> float | None:
    result = float(value)  # type: ignore[arg-type]
    return None if pd.isna(result) else result


def borderline(spec: CheckSpec, tables: GateTables, taxonomy: Taxonomy, candidate: str,
               baseline: str | None) -> list[SliceOutcome] | str:
    table = tables.borderline
    if table is None:
        return "no borderline labels (data.labels.borderline): borderline does not apply"
    if spec.max is None or spec.max == "target":
        raise ConfigError("gate borderline check needs `max`: the highest acceptable share of "
                          "borderline items flagged")
    metric = str(spec.metric or "flag_rate")
    column = metric if spec.bound == "point" else f"{metric}_hi"
    if column not in table.columns:
        raise ConfigError(f"gate borderline metric {metric!r}: evaluate/borderline.csv has no "
                          f"column {column!r} (metric: flag_rate)")
    rows = keyed(table[table["model"].astype(str) == candidate])
    limit = float(spec.max)
    need = int(spec.min_items or 0)
    out = []
    for key in chosen(list(rows), spec, taxonomy):
        row = rows[key]
        n = int(row["n"])
        value = number(row[column])
        unscored = int(row["n_unscored"])
        if unscored:
            status = FAIL if spec.on_unscored == "fail" else INSUFFICIENT
            reason = (f"{candidate} has no score for {unscored:,} of {n + unscored:,} "
                      "borderline items of this slice")
        elif n < need or value is None:
            status, reason = INSUFFICIENT, f"{n} borderline items < {need}"
        else:
            ok = value <= limit
            status = PASS if ok else FAIL
            reason = (f"{column} {value:.4f} {'<=' if ok else '>'} {limit:g} "
                      f"({int(row['flagged'])} of {n} borderline items flagged)")
        out.append(SliceOutcome(key, status, value, limit, n, None, reason, metric=column))
    return out
