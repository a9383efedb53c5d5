"""Periods of a trend: every dated row gets the index of its day, ISO week or month in one
contiguous calendar (empty periods included, so a gap in the data is a gap in the series), or
the index of the first gold-store version that holds its item.

Dates are turned into integer units with numpy (days since 1970-01-01; weeks counted from
Mondays; months since 1970-01), so 10 million rows cost a few array operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smo_eval.errors import ConfigError

MISSING = np.iinfo(np.int64).min
MAX_PERIODS = 1000
# 1970-01-01 was a Thursday: day d lies in the Monday-based week (d + 3) // 7.
_WEEK_SHIFT = 3


@dataclass(frozen=True)
class Calendar:
    """The contiguous periods of a trend: labels (2026-W38, 2026-10-12, 2026-10) and starts."""

    period: str
    labels: list[str]
    starts: list[pd.Timestamp]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class GoldVersion:
    """One gold-store version as a period: its label, when it was stored, its item ids."""

    label: str
    stored: pd.Timestamp
    item_ids: pd.Series


def units(values: pd.Series, period: str) -> np.ndarray:
    """Integer period unit of every row (MISSING where the time is missing)."""
    times = values if pd.api.types.is_datetime64_any_dtype(values) else pd.to_datetime(values)
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = times.to_numpy(dtype="datetime64[ns]")
    missing = np.isnat(stamps)
    if period == "month":
        unit = stamps.astype("datetime64[M]").astype(np.int64)
    else:
        unit = stamps.astype("datetime64[D]").astype(np.int64)
        if period == "week":
            unit = (unit + _WEEK_SHIFT) // 7
    return np.where(missing, MISSING, unit)


def _start(unit: int, period: str) -> pd.Timestamp:
    if period == "month":
        return pd.Timestamp(np.datetime64(unit, "M"))
    day = unit * 7 - _WEEK_SHIFT if period == "week" else unit
    return pd.Timestamp(np.datetime64(day, "D"))


def _label(start: pd.Timestamp, period: str) -> str:
    if period == "week":
        iso = start.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return start.strftime("%Y-%m" if period == "month" else "%Y-%m-%d")


def calendar(unit_arrays: Sequence[np.ndarray], period: str,
             columns: Sequence[str]) -> tuple[Calendar, list[np.ndarray]]:
    """One calendar spanning every dated row of `unit_arrays`; each array as period indices
    (-1 where undated). A span over MAX_PERIODS periods is a ConfigError (a stray date such
    as 1900-01-01 would otherwise create thousands of empty periods)."""
    present = [u[u != MISSING] for u in unit_arrays]
    dated = [p for p in present if len(p)]
    if not dated:
        raise ConfigError(f"trend: no dated rows in {', '.join(columns)}")
    first = int(min(p.min() for p in dated))
    last = int(max(p.max() for p in dated))
    n = last - first + 1
    if n > MAX_PERIODS:
        raise ConfigError(
            f"trend: {', '.join(columns)} span {n:,} {period} periods from "
            f"{_label(_start(first, period), period)} to {_label(_start(last, period), period)} "
            f"(at most {MAX_PERIODS:,}); check for stray dates or use a longer trend.period")
    starts = [_start(first + i, period) for i in range(n)]
    shifted: dict[int, np.ndarray] = {}  # the same array twice is shifted once
    for u in unit_arrays:
        if id(u) not in shifted:
            shifted[id(u)] = np.where(u != MISSING, u - first, -1)
    indices = [shifted[id(u)] for u in unit_arrays]
    return Calendar(period, [_label(s, period) for s in starts], starts), indices


def positions(index: pd.Index, keys: pd.Series) -> np.ndarray:
    """Where each key sits in `index` (-1: absent), on the native dtype (ingest aligns the
    tables' item ids), and as text only when that finds none."""
    found = index.get_indexer(keys.to_numpy())
    if len(index) and not (found >= 0).any():
        found = index.astype("string").get_indexer(keys.astype("string").to_numpy())
    return np.asarray(found)


def version_calendar(versions: Sequence[GoldVersion], item_ids: Sequence[pd.Series]
                     ) -> tuple[Calendar, list[np.ndarray]]:
    """Periods from gold versions in store order: each item belongs to the first version that
    holds it (-1: in no version). Repeated version names are told apart by their order."""
    if not versions:
        raise ConfigError("trend.period=gold_version: the gold store has no versions (add "
                          "them with `smo-eval gold ingest FILE`)")
    names = [v.label for v in versions]
    labels = [n if names.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(names)]
    indices = []
    for ids in item_ids:
        out = np.full(len(ids), -1, dtype=np.int64)
        for index, version in enumerate(versions):
            found = positions(pd.Index(version.item_ids.unique()), ids) >= 0
            out[(out < 0) & found] = index
        indices.append(out)
    calendar_ = Calendar("gold_version", labels, [v.stored for v in versions])
    return calendar_, indices
