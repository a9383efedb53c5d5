"""Which rows tune an experiment and which judge it: train / valid / tune / held_out parts.

A fix chosen and judged on the same rows looks better than it is, so every experiment fits on
one part and reports on another. With `split.column` (e.g. COLD's `split`) the column's values
name the parts; otherwise rows are assigned by a seeded random draw with `split.shares`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smo_eval.config.schema_report import SplitConfig
from smo_eval.errors import ConfigError

PARTS = ("train", "valid", "tune", "held_out")


def assign_parts(table: pd.DataFrame, split_cfg: SplitConfig, seed: int) -> np.ndarray:
    """One part name per row ('' for rows in no part), as a numpy array of str."""
    rng = np.random.default_rng(seed)
    column = split_cfg.column
    n = len(table)
    if not column:
        shares = {p: float(split_cfg.shares.get(p, 0.0)) for p in PARTS}
        total = sum(shares.values())
        if total <= 0 or total > 1 + 1e-9:
            raise ConfigError(f"experiment.split.shares must sum to (0, 1], got {total:.3f}")
        edges = np.cumsum([shares[p] for p in PARTS])
        which = np.searchsorted(edges, rng.random(n), side="right")
        names = np.array([*PARTS, ""])
        return names[which]
    if column not in table.columns:
        raise ConfigError(f"experiment.split.column={column!r} is not a column of the gold/items "
                          f"data; columns: {sorted(map(str, table.columns))}")
    values = table[column].astype("string").fillna("").to_numpy(dtype=object)
    parts = np.full(n, "", dtype=object)
    spec = split_cfg.values
    for part in PARTS:
        chosen = [str(v) for v in spec.get(part) or []]
        parts[np.isin(values, chosen)] = part
    if not spec.get("valid"):
        train = np.flatnonzero(parts == "train")
        take = rng.random(len(train)) < split_cfg.valid_share
        parts[train[take]] = "valid"
    return parts.astype(str)
