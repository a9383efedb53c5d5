"""Which slices a check judges: structured slice keys matched by selectors, never names
parsed back, so a value holding `&`, `=` or `*` is one value."""

from __future__ import annotations

import pandas as pd

from smo_eval.config.schema_more import CheckSpec
from smo_eval.slicekey import SliceKey, from_json, select, value_of
from smo_eval.taxonomy import Taxonomy


def keyed(frame: pd.DataFrame) -> dict[SliceKey, pd.Series]:
    """A table's first row per slice, by structured key (`slice_key` column)."""
    out: dict[SliceKey, pd.Series] = {}
    for _, row in frame.iterrows():
        key = from_json(str(row["slice_key"]))
        out.setdefault(key, row)
    return out


def chosen(keys: list[SliceKey], spec: CheckSpec, taxonomy: Taxonomy) -> list[SliceKey]:
    """Keys matching the check's selectors (and severity tiers), in table order."""
    picked = select(keys, spec.slices or ["overall"])
    if spec.severity:
        severity = taxonomy.severity_of()
        allowed = {int(t) for t in spec.severity}
        picked = [k for k in picked
                  if severity.get(value_of(k, "risk_category") or "", -1) in allowed]
    return picked
