"""The two windows drift compares: cut from one evaluation table by time, or read separately.

A window is the evaluation-table layout ingest produces (one row per item with its metadata,
`label` and `risk_category` when gold exists) plus the aligned wide score table. The current
window may come without gold: then `label` is absent and only label-free results are computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import DataConfig
from smo_eval.contract.schema import ITEMS, PREDICTIONS, source_to_canonical
from smo_eval.contract.validate import validate_table
from smo_eval.errors import ConfigError, ContractError, RowProblem
from smo_eval.io.readers import RawTable
from smo_eval.stages.ingest import ROW, _enforce_policy, _wide_scores

NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class Window:
    """Items of one window (metadata, gold when known) and their scores, row-aligned."""

    name: str
    table: pd.DataFrame
    scores: pd.DataFrame

    @property
    def labelled(self) -> bool:
        return "label" in self.table.columns and bool(self.table["label"].notna().all())

    def __len__(self) -> int:
        return len(self.table)

    def take(self, rows: np.ndarray) -> Window:
        return Window(self.name, self.table.iloc[rows].reset_index(drop=True),
                      self.scores.iloc[rows].reset_index(drop=True))

    def without_labels(self) -> Window:
        gold = [c for c in ("label", "risk_category", "parent_category") if c in self.table]
        return Window(self.name, self.table.drop(columns=gold), self.scores)


def _day_range(days: Sequence[str], key: str) -> tuple[np.datetime64, np.datetime64]:
    """[first day 00:00, day after the last day 00:00) from `[first, last]` (inclusive)."""
    if days is None or len(days) != 2:
        raise ConfigError(f"drift.{key} must be [first_day, last_day], got {days!r}")
    try:
        first, last = (np.datetime64(str(d), "D") for d in days)
    except ValueError as exc:
        raise ConfigError(f"drift.{key}={list(days)}: {exc}") from None
    if last < first:
        raise ConfigError(f"drift.{key}={list(days)}: last day before first day")
    return first.astype("datetime64[ns]"), (last + 1).astype("datetime64[ns]")


def split_by_time(table: pd.DataFrame, scores: pd.DataFrame, column: str,
                  reference: Sequence[str], current: Sequence[str]) -> tuple[Window, Window]:
    """Reference and current windows of one table by `[first, last]` days on `column`."""
    if column not in table.columns:
        raise ConfigError(f"drift.time_column={column!r} is not a column of the items; give "
                          "drift.reference_data / drift.current_data files instead")
    times = pd.to_datetime(table[column], errors="coerce")
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert(None)
    stamps = times.to_numpy(dtype="datetime64[ns]")
    windows = []
    for name, days in (("reference", reference), ("current", current)):
        lo, hi = _day_range(days, name)
        rows = np.flatnonzero((stamps >= lo) & (stamps < hi))
        if len(rows) == 0:
            raise ConfigError(f"drift.{name}={list(days)} selects no item on {column!r} "
                              f"(data spans {np.nanmin(stamps)} to {np.nanmax(stamps)})")
        windows.append(Window(name, table.iloc[rows].reset_index(drop=True),
                              scores.iloc[rows].reset_index(drop=True)))
    return windows[0], windows[1]


def unlabeled_window(name: str, items: RawTable, predictions: RawTable,
                     data_cfg: DataConfig) -> Window:
    """A window without gold: items and predictions checked with the ingest contract, every
    prediction needing an item and every kept item a prediction."""
    columns, per_table = data_cfg.columns, data_cfg.table_columns
    checked = {}
    for spec, raw in ((ITEMS, items), (PREDICTIONS, predictions)):
        checked[spec.name] = validate_table(raw.numbered(ROW), spec,
                                            source_to_canonical(spec.name, columns, per_table))
    _enforce_policy(checked, data_cfg)
    item_frame = checked["items"].frame.drop(columns=ROW)
    preds = checked["predictions"].frame
    if preds["item_id"].dtype != item_frame["item_id"].dtype:
        preds = preds.assign(item_id=preds["item_id"].astype("string"))
        item_frame = item_frame.assign(item_id=item_frame["item_id"].astype("string"))
    orphan = ~preds["item_id"].isin(item_frame["item_id"])
    if orphan.any():
        rows = preds.loc[orphan, ROW].head(20)
        raise ContractError([RowProblem(str(predictions.path), int(r), "item_id",
                                        f"{name} window: prediction for an item not in the items")
                             for r in rows])
    table = (item_frame[item_frame["item_id"].isin(preds["item_id"])]
             .sort_values("item_id", kind="stable").reset_index(drop=True))
    for column in table.columns:
        if column not in {"item_id", "text"} and (
                table[column].dtype == object or pd.api.types.is_string_dtype(table[column])):
            table[column] = table[column].astype("category")
    return Window(name, table, _wide_scores(table["item_id"], preds))
