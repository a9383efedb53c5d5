"""Row-level validation of one input table against the data contract.

Validation is vectorised (it runs on 10 million rows) and returns every problem as a row of a
`problems` table (file, row, column, reason) instead of raising on the first one, so the user
fixes a file in one pass. Rows that pass are returned typed and under canonical names.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smo_eval.contract.schema import TableSpec
from smo_eval.errors import ContractError, RowProblem
from smo_eval.io.readers import RawTable

PROBLEM_COLUMNS = ["file", "row", "column", "reason"]
UNSPECIFIED_CATEGORY = "unspecified"


@dataclass(frozen=True)
class LabelMap:
    """Which raw label values mean violating (1) and safe (0); compared trimmed and lower-cased."""

    positive: frozenset[str]
    negative: frozenset[str]

    @classmethod
    def from_lists(cls, positive: Sequence[object], negative: Sequence[object]) -> LabelMap:
        pos = frozenset(str(v).strip().lower() for v in positive)
        neg = frozenset(str(v).strip().lower() for v in negative)
        if pos & neg:
            both = sorted(pos & neg)
            raise ContractError([RowProblem("config data.labels", None, None,
                                            f"values both positive and negative: {both}")])
        return cls(pos, neg)


@dataclass
class Validated:
    """Good rows (canonical, typed) and the problems found in the others."""

    name: str
    frame: pd.DataFrame
    problems: pd.DataFrame
    rows_read: int
    duplicates_merged: int
    # Original rows that failed, with their reasons, for the quarantine file.
    rejected: pd.DataFrame


class _Collector:
    """Accumulates per-row problems as vectors, never as one Python object per bad row."""

    def __init__(self, raw: RawTable) -> None:
        self.raw = raw
        self.bad = np.zeros(len(raw.frame), dtype=bool)
        self.parts: list[pd.DataFrame] = []

    def flag(self, mask: np.ndarray | pd.Series, column: str,
             reasons: str | Callable[[np.ndarray], object]) -> None:
        """Record a problem for the rows in `mask`; `reasons` is one text or a function
        building the texts for the flagged row positions only (never for all rows)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        reason_values = reasons if isinstance(reasons, str) else reasons(idx)
        self.parts.append(pd.DataFrame({
            "index": idx, "file": str(self.raw.path), "row": idx + self.raw.first_row,
            "column": column, "reason": reason_values,
        }))
        self.bad |= mask

    def problems(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=["index", *PROBLEM_COLUMNS])
        return pd.concat(self.parts, ignore_index=True).sort_values(["index", "column"],
                                                                     kind="stable")


def require_columns(raw: RawTable, spec: TableSpec, rename: dict[str, str]) -> pd.DataFrame:
    """Rename to canonical names; a missing required column stops everything (exit 2)."""
    frame = raw.frame.rename(columns=rename)
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        inverse = {v: k for k, v in rename.items()}
        found = ", ".join(str(c) for c in raw.frame.columns if not str(c).startswith("_"))
        problems = [
            RowProblem(str(raw.path), None, inverse.get(c, c),
                       f"missing required column '{inverse.get(c, c)}' ({spec.name} table "
                       f"needs {', '.join(spec.required)}; found {found})")
            for c in missing
        ]
        raise ContractError(problems)
    return frame


def _stripped(values: pd.Series) -> pd.Series:
    """Text without surrounding blanks; a categorical column is stripped per category."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        stripped = values.cat.categories.astype(str).str.strip()
        if stripped.is_unique:
            return values.cat.rename_categories(stripped)
    return values.astype("string").str.strip()


def _normalised_text(values: pd.Series) -> pd.Series:
    """Trimmed lower-case text; integral floats lose their '.0' so 1.0 matches '1'."""
    if pd.api.types.is_bool_dtype(values):
        return values.map({True: "true", False: "false"}).astype("string")
    if pd.api.types.is_float_dtype(values):
        integral = values.notna() & (values == np.round(values))
        text = values.astype("string")
        text[integral] = values[integral].astype("int64").astype("string")
        return text
    return values.astype("string").str.strip().str.lower()


def map_labels(values: pd.Series, labels: LabelMap) -> pd.Series:
    """Raw labels -> Int8 0/1, <NA> for a missing or unknown value."""
    if pd.api.types.is_integer_dtype(values) and {"0", "1"} <= (labels.positive | labels.negative):
        known = values.isin([0, 1]) & values.notna()
        out = values.where(known).astype("Int8")
        if "1" in labels.negative or "0" in labels.positive:
            out = 1 - out
        return out.astype("Int8")
    text = _normalised_text(values)
    out = pd.Series(pd.NA, index=values.index, dtype="Int8")
    out[text.isin(labels.positive).fillna(False).to_numpy()] = 1
    out[text.isin(labels.negative).fillna(False).to_numpy()] = 0
    return out


def _missing(values: pd.Series) -> np.ndarray:
    missing = values.isna()
    if isinstance(values.dtype, pd.CategoricalDtype):
        blank = values.cat.categories.astype(str).str.strip() == ""
        return np.asarray(missing, dtype=bool) | blank[values.cat.codes.to_numpy()] & (
            values.cat.codes.to_numpy() >= 0)
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        missing |= values.astype("string").str.strip().eq("").fillna(True)
    return np.asarray(missing, dtype=bool)


def _parse_times(frame: pd.DataFrame, column: str, col: _Collector) -> None:
    if column not in frame.columns or pd.api.types.is_datetime64_any_dtype(frame[column]):
        return
    raw = frame[column]
    parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy() & ~_missing(raw)
    col.flag(bad, column, lambda i: "not a date/time: '" + raw.iloc[i].astype("string") + "'")
    frame[column] = parsed


def _check_labels(frame: pd.DataFrame, labels: LabelMap, col: _Collector) -> None:
    raw = frame["label"]
    mapped = map_labels(raw, labels)
    missing = _missing(raw)
    col.flag(missing, "label", "label is missing")
    unknown = mapped.isna().to_numpy() & ~missing
    if unknown.any():
        allowed = ", ".join(sorted(labels.positive | labels.negative))
        col.flag(unknown, "label", lambda i: "unknown label value '" + raw.iloc[i].astype("string")
                 + f"' (data.labels maps: {allowed})")
    frame["label"] = mapped


def _check_categories(frame: pd.DataFrame, categories: Collection[str], safe: str,
                      col: _Collector) -> None:
    """Fill blank categories (safe -> `none`, violating -> `unspecified`), flag unknown ones.

    A gold table without the column stays without it: a column made from the label alone
    would pass for a data dimension (agreement or metrics sliced by it only restate the label).
    """
    label = frame["label"]
    if "risk_category" not in frame.columns:
        return
    cat = _stripped(frame["risk_category"]).astype("string")
    absent = cat.isna() | cat.eq("")
    cat = cat.mask(absent & label.eq(1), UNSPECIFIED_CATEGORY).mask(absent & ~label.eq(1), safe)
    if categories:
        known = set(categories) | {safe, UNSPECIFIED_CATEGORY}
        unknown = ~cat.isin(known).fillna(False).to_numpy()
        col.flag(unknown, "risk_category", lambda i: "unknown risk category '"
                 + cat.iloc[i].astype(str) + "' (not in the taxonomy)")
    frame["risk_category"] = cat


def _check_scores(frame: pd.DataFrame, col: _Collector) -> None:
    raw = frame["score"]
    score = pd.to_numeric(raw, errors="coerce") if not pd.api.types.is_numeric_dtype(raw) else raw
    score = score.astype("float64")
    missing = _missing(raw)
    col.flag(missing, "score", "score is missing")
    not_number = score.isna().to_numpy() & ~missing
    col.flag(not_number, "score",
             lambda i: "score is not a number: '" + raw.iloc[i].astype("string") + "'")
    outside = ((score < 0) | (score > 1)).fillna(False).to_numpy()
    col.flag(outside, "score",
             lambda i: "score " + score.iloc[i].astype("string") + " is outside [0, 1]")
    frame["score"] = score.astype("float32")


def _check_keys(frame: pd.DataFrame, spec: TableSpec, col: _Collector) -> int:
    """Flag empty keys and keys repeated with different values; return identical repeats merged."""
    for key in spec.key:
        col.flag(_missing(frame[key]), key, f"{key} is missing")
    dup = frame.duplicated(subset=list(spec.key), keep=False).to_numpy()
    if not dup.any():
        return 0
    # Bookkeeping columns (a leading underscore, e.g. the source row number) never conflict.
    values = [c for c in frame.columns if c not in spec.key and not str(c).startswith("_")]
    dups = frame.loc[dup, [*spec.key, *values]]
    distinct = dups.astype("string").drop_duplicates()
    conflicting_keys = distinct[distinct.duplicated(subset=list(spec.key), keep=False)]
    conflict = np.zeros(len(frame), dtype=bool)
    if len(conflicting_keys):
        key_index = pd.MultiIndex.from_frame(conflicting_keys[list(spec.key)].drop_duplicates())
        row_keys = pd.MultiIndex.from_frame(frame[list(spec.key)].astype("string"))
        conflict = row_keys.isin(key_index) & dup
        rows = pd.Series(np.flatnonzero(conflict) + col.raw.first_row,
                         index=frame.index[conflict])
        groups = frame.loc[conflict, list(spec.key)].astype("string").agg("|".join, axis=1)
        row_lists = rows.groupby(groups).transform(lambda r: ", ".join(map(str, r.iloc[:5])))
        reasons = ("duplicate " + "/".join(spec.key) + " '" + groups
                   + "' with conflicting values (rows " + row_lists + ")").to_numpy()
        col.flag(conflict, spec.key[0], lambda _: reasons)
    repeats = frame.duplicated(subset=list(spec.key), keep="first").to_numpy() & ~conflict
    return int(repeats.sum())


def validate_table(raw: RawTable, spec: TableSpec, rename: dict[str, str], *,
                   labels: LabelMap | None = None, categories: Collection[str] = (),
                   safe_category: str = "none") -> Validated:
    """Check one table; return its good rows and a problems table (nothing is dropped silently)."""
    frame = require_columns(raw, spec, rename).copy()
    col = _Collector(raw)
    if "label" in spec.required and labels is not None:
        _check_labels(frame, labels, col)
    if spec.name == "gold":
        _check_categories(frame, categories, safe_category, col)
    if "score" in spec.required:
        _check_scores(frame, col)
    for column in ("created_at", "labeled_at"):
        _parse_times(frame, column, col)
    for key in spec.key:
        if not pd.api.types.is_numeric_dtype(frame[key]):
            frame[key] = _stripped(frame[key])
    merged = _check_keys(frame, spec, col)
    problems = col.problems()
    bad = col.bad
    keep = ~bad & ~frame.duplicated(subset=list(spec.key), keep="first").to_numpy()
    good = frame.loc[keep].reset_index(drop=True)
    if "label" in good.columns and labels is not None:
        good["label"] = good["label"].astype("int8")
    rejected = _rejected_rows(raw, problems)
    return Validated(spec.name, good, problems.drop(columns="index"), len(frame), merged, rejected)


def _rejected_rows(raw: RawTable, problems: pd.DataFrame) -> pd.DataFrame:
    """The original rows behind the problems, each with all its reasons, for the quarantine file."""
    if problems.empty:
        return pd.DataFrame()
    reasons = problems.groupby("index").agg(
        row=("row", "first"),
        problem=("reason", lambda r: "; ".join(dict.fromkeys(r))),
        columns=("column", lambda c: ", ".join(dict.fromkeys(c))),
    )
    original = raw.frame.iloc[reasons.index.to_numpy()].reset_index(drop=True)
    meta = reasons.reset_index(drop=True)
    meta.insert(0, "source_file", str(raw.path))
    return pd.concat([meta, original], axis=1)
