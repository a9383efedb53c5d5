"""Row-level validation of one input table against the data contract.

Validation is vectorised (it runs on 10 million rows) and returns every problem as a row of a
`problems` table (file, row, column, reason) instead of raising on the first one, so the user
fixes a file in one pass. Rows that pass are returned typed and under canonical names.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from smo_eval.contract.keys import repeated
from smo_eval.contract.schema import TableSpec
from smo_eval.errors import ContractError, RowProblem
from smo_eval.io.readers import RawTable

PROBLEM_COLUMNS = ["file", "row", "column", "reason"]
# Share of a column's values out of range (or not numbers) above which the column as a whole
# is probably the wrong one or in the wrong unit, and the message says what it looks like.
MOSTLY = 0.5
# What pandas infers for a column that holds numbers (Decimal from a Parquet decimal type too).
NUMBER_KINDS = frozenset({"integer", "floating", "decimal", "mixed-integer-float", "empty"})
UNSPECIFIED_CATEGORY = "unspecified"


# The label of a gold row a team marked borderline (data.labels.borderline), before
# evaluate.borderline decides how it counts.
BORDERLINE = 2


@dataclass(frozen=True)
class LabelMap:
    """Which raw label values mean violating (1), safe (0) and, when a team has that state,
    borderline (`BORDERLINE`); compared trimmed and lower-cased."""

    positive: frozenset[str]
    negative: frozenset[str]
    borderline: frozenset[str] = frozenset()

    @classmethod
    def from_lists(cls, positive: Sequence[object], negative: Sequence[object],
                   borderline: Sequence[object] = ()) -> LabelMap:
        pos = frozenset(str(v).strip().lower() for v in positive)
        neg = frozenset(str(v).strip().lower() for v in negative)
        mid = frozenset(str(v).strip().lower() for v in borderline)
        for first, second, what in ((pos, neg, "positive and negative"),
                                    (pos, mid, "positive and borderline"),
                                    (neg, mid, "negative and borderline")):
            if first & second:
                raise ContractError([RowProblem(
                    "config data.labels", None, None,
                    f"values both {what}: {sorted(first & second)}")])
        return cls(pos, neg, mid)


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
    # Keys (first key column, trimmed) of the rows that failed: a cross-table problem caused by
    # their absence is a follow-on, listed after the cause.
    rejected_ids: pd.Series = field(default_factory=lambda: pd.Series(dtype="string"))
    # What was decided without being an error (a column left out because a mapping took its
    # name); count 0, as they are no problems of rows.
    notices: list[RowProblem] = field(default_factory=list)


class _Collector:
    """Accumulates per-row problems as vectors, never as one Python object per bad row."""

    def __init__(self, raw: RawTable) -> None:
        self.raw = raw
        self.bad = np.zeros(len(raw.frame), dtype=bool)
        self.parts: list[pd.DataFrame] = []

    def flag(self, mask: np.ndarray | pd.Series, column: str,
             reasons: str | Callable[[np.ndarray], object], kind: str | None = None) -> None:
        """Record a problem for the rows in `mask`; `reasons` is one text or a function
        building the texts for the flagged row positions only (never for all rows). `kind`
        says what the flagged values are, for one line summing up many rows ("values outside
        [0, 1] (looks like percentages ...)"); by default the reason itself or "invalid"."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        reason_values = reasons if isinstance(reasons, str) else reasons(idx)
        self.parts.append(pd.DataFrame({
            "index": idx, "file": str(self.raw.path), "row": idx + self.raw.first_row,
            "column": column, "reason": reason_values,
            "kind": kind or (f"values: {reasons}" if isinstance(reasons, str)
                             else "values invalid"),
        }))
        self.bad |= mask

    def problems(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=["index", *PROBLEM_COLUMNS, "kind"])
        return pd.concat(self.parts, ignore_index=True).sort_values(["index", "column"],
                                                                     kind="stable")


def require_columns(raw: RawTable, spec: TableSpec, rename: dict[str, str]) -> pd.DataFrame:
    """Rename to canonical names; a missing required column stops everything (exit 2).

    A column that already carries a name the mapping gives to another column is left out
    (see `shadowed_columns`): the mapping is what the user asked for.
    """
    shadowed = shadowed_columns(raw.frame.columns, rename)
    frame = raw.frame.drop(columns=list(shadowed)) if shadowed else raw.frame
    # No copy of the data here: validate_table makes the one copy it changes.
    frame = frame.rename(columns=rename, copy=False)
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


def shadowed_columns(columns: pd.Index, rename: dict[str, str]) -> dict[str, str]:
    """Columns whose name a mapping gives to another column -> that other column's name."""
    present = {str(c) for c in columns}
    return {target: source for source, target in rename.items()
            if source in present and target in present and target not in rename}


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
    """Raw labels -> Int8 0/1 (`BORDERLINE` for a borderline value), <NA> for a missing or
    unknown value."""
    if pd.api.types.is_integer_dtype(values) and not labels.borderline and {"0", "1"} <= (
            labels.positive | labels.negative):
        known = values.isin([0, 1]) & values.notna()
        out = values.where(known).astype("Int8")
        if "1" in labels.negative or "0" in labels.positive:
            out = 1 - out
        return out.astype("Int8")
    text = _normalised_text(values)
    out = pd.Series(pd.NA, index=values.index, dtype="Int8")
    out[text.isin(labels.positive).fillna(False).to_numpy()] = 1
    out[text.isin(labels.negative).fillna(False).to_numpy()] = 0
    if labels.borderline:
        out[text.isin(labels.borderline).fillna(False).to_numpy()] = BORDERLINE
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
    col.flag(bad, column, lambda i: "not a date/time: '" + raw.iloc[i].astype("string") + "'",
             kind="values not dates/times")
    frame[column] = parsed


def _check_labels(frame: pd.DataFrame, labels: LabelMap, col: _Collector) -> None:
    raw = frame["label"]
    mapped = map_labels(raw, labels)
    missing = _missing(raw)
    col.flag(missing, "label", "label is missing", kind="values missing")
    unknown = mapped.isna().to_numpy() & ~missing
    if unknown.any():
        allowed = ", ".join(sorted(labels.positive | labels.negative | labels.borderline))
        col.flag(unknown, "label", lambda i: "unknown label value '" + raw.iloc[i].astype("string")
                 + f"' (data.labels maps: {allowed}; a borderline state: list its values in "
                 "data.labels.borderline)",
                 kind="values not among the labels of data.labels")
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
    stripped = _stripped(frame["risk_category"])
    if isinstance(stripped.dtype, pd.CategoricalDtype):  # Parquet dictionaries, Excel
        cat = _filled_categorical(stripped, label.eq(1).to_numpy(), safe)
    else:
        cat = stripped.astype("string")
        absent = cat.isna() | cat.eq("")
        cat = cat.mask(absent & label.eq(1), UNSPECIFIED_CATEGORY).mask(absent & ~label.eq(1),
                                                                       safe)
    if categories:
        known = set(categories) | {safe, UNSPECIFIED_CATEGORY}
        unknown = ~cat.isin(known).fillna(False).to_numpy()
        col.flag(unknown, "risk_category", lambda i: "unknown risk category '"
                 + cat.iloc[i].astype(str) + "' (not in the taxonomy: declare it under "
                 "taxonomy.categories in smo-eval.yaml or with `smo-eval taxonomy import "
                 "policies.csv`; taxonomy.categories={} accepts any category)")
    frame["risk_category"] = cat


def _filled_categorical(values: pd.Series, positive: np.ndarray, safe: str) -> pd.Series:
    """`_check_categories`' filling done on a categorical's codes (no text per row): blank
    categories become `unspecified` on violating rows and the safe category on the others.
    The categories come out sorted and only those used, as `astype("category")` of the text
    would give them."""
    names = values.cat.categories.astype("string")
    blank = (names == "").to_numpy(dtype=bool)
    final = sorted({str(n) for n in names[~blank]} | {UNSPECIFIED_CATEGORY, safe})
    slot = {name: i for i, name in enumerate(final)}
    remap = np.array([-1 if b else slot[str(n)] for n, b in zip(names, blank, strict=True)]
                     + [-1], dtype=np.int32)  # the last entry: missing (code -1)
    codes = remap[values.cat.codes.to_numpy()]
    absent = codes < 0
    if absent.any():
        codes[absent] = np.where(positive[absent], slot[UNSPECIFIED_CATEGORY], slot[safe])
    used = np.flatnonzero(np.bincount(codes, minlength=len(final)))
    if len(used) < len(final):
        renumber = np.full(len(final), -1, dtype=np.int32)
        renumber[used] = np.arange(len(used), dtype=np.int32)
        codes, final = renumber[codes], [final[i] for i in used]
    filled = pd.Categorical.from_codes(codes, categories=pd.Index(final, dtype="string"))
    return pd.Series(filled, index=values.index)


def _check_scores(frame: pd.DataFrame, raw_table: RawTable, col: _Collector) -> None:
    raw = frame["score"]
    numbers = _score_numbers(raw, raw_table)
    # Checked in the stored precision (float32 scores stay float32: no copy of 2e7 values),
    # anything else as float64, so 1.0000001 is outside [0, 1] before it is rounded to 1.
    values = numbers.to_numpy(dtype=np.float32 if numbers.dtype == np.float32 else np.float64,
                              na_value=np.nan)
    missing = _missing(raw)
    col.flag(missing, "score", "score is missing", kind="values missing")
    not_number = np.isnan(values) & ~missing
    if not_number.any():
        col.flag(not_number, "score",
                 lambda i: "score is not a number: '" + raw.iloc[i].astype("string") + "'",
                 kind="values not numbers" + _text_hint(raw[not_number], len(raw) - missing.sum()))
    outside = (values < 0) | (values > 1)  # NaN compares False
    if outside.any():
        score = pd.Series(values.astype(np.float64), index=raw.index)
        col.flag(outside, "score",
                 lambda i: "score " + score.iloc[i].astype("string") + " is outside [0, 1]",
                 kind="values outside [0, 1]" + _range_hint(score))
    frame["score"] = values.astype(np.float32, copy=False)


def _score_numbers(raw: pd.Series, table: RawTable) -> pd.Series:
    """Scores as numbers; a column whose type cannot hold probabilities stops the run.

    True/false is accepted nowhere (it would pass as hard 0/1 scores); in a typed file
    (Parquet) text is the producer's mistake, so it is refused for the whole column too,
    where a CSV's text is what a person typed and each bad value is reported by row.
    """
    if isinstance(raw.dtype, pd.CategoricalDtype):
        raw = raw.astype(object)
    if pd.api.types.is_bool_dtype(raw):
        inferred = "boolean"
    elif pd.api.types.is_datetime64_any_dtype(raw) or pd.api.types.is_timedelta64_dtype(raw):
        inferred = "datetime"
    elif pd.api.types.is_numeric_dtype(raw):
        return raw
    else:
        inferred = pd.api.types.infer_dtype(raw, skipna=True)
    if inferred in NUMBER_KINDS or (inferred == "string" and not table.typed):
        return pd.to_numeric(raw, errors="coerce")
    what = {"boolean": "true/false values", "datetime": "dates/times",
            "datetime64": "dates/times", "date": "dates", "string": "text"}.get(
        inferred, f"values of type {inferred}")
    source = f" (stored as {raw.dtype} in {table.path.name})" if table.typed else ""
    raise ContractError([RowProblem(
        str(table.path), None, "score", f"holds {what}{source}, not probabilities in [0, 1]: "
        "is data.columns.score mapped to the model's score column?")])


def _range_hint(score: pd.Series) -> str:
    """What a column of mostly out-of-range numbers looks like (percentages, timestamps)."""
    finite = score[np.isfinite(score)]
    outside = ((finite < 0) | (finite > 1)).mean() if len(finite) else 0.0
    if outside < MOSTLY:
        return ""
    if finite.min() >= 0 and finite.max() <= 100:
        return " (looks like percentages 0–100: divide by 100)"
    if finite.min() >= 1e8:
        return (" (looks like timestamps: is data.columns.score mapped to the model's score "
                "column?)")
    return " (not probabilities: raw model outputs? map them to [0, 1], e.g. with a sigmoid)"


def _text_hint(bad: pd.Series, present: int) -> str:
    """What a column of mostly non-numbers looks like (dates, percentages with '%')."""
    if len(bad) < MOSTLY * max(present, 1):
        return ""
    sample = bad.head(200).astype("string").str.strip()
    if sample.str.endswith("%").mean() >= MOSTLY:
        return " (looks like percentages with '%': write 0.85 for 85%)"
    dates = pd.to_datetime(sample, errors="coerce", format="mixed")
    if dates.notna().mean() >= MOSTLY:
        return (" (looks like dates/times: is data.columns.score mapped to the model's score "
                "column?)")
    return " (text: is data.columns.score mapped to the model's score column?)"


def _check_keys(frame: pd.DataFrame, spec: TableSpec, col: _Collector) -> bool:
    """Flag empty keys and keys repeated with different values; say whether any key is
    repeated at all (when none is, nothing needs merging)."""
    missing = np.zeros(len(frame), dtype=bool)
    for key in spec.key:
        empty = _missing(frame[key])
        col.flag(empty, key, f"{key} is missing", kind="values missing")
        missing |= empty
    # Rows without a key are reported above; they are not repeats of one another.
    dup = repeated(frame, spec.key) & ~missing
    if not dup.any():
        return False
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
        col.flag(conflict, spec.key[0], lambda _: reasons,
                 kind="rows: duplicate key with conflicting values")
    return True


def validate_table(raw: RawTable, spec: TableSpec, rename: dict[str, str], *,
                   labels: LabelMap | None = None, categories: Collection[str] = (),
                   safe_category: str = "none") -> Validated:
    """Check one table; return its good rows and a problems table (nothing is dropped silently)."""
    # A shallow copy: checks replace whole columns (pandas 2 setitem never writes into the
    # read table's arrays), so the raw rows stay as read for the quarantine file.
    frame = require_columns(raw, spec, rename).copy(deep=False)
    col = _Collector(raw)
    if "label" in spec.required and labels is not None:
        _check_labels(frame, labels, col)
    if spec.name == "gold":
        _check_categories(frame, categories, safe_category, col)
    if "score" in spec.required:
        _check_scores(frame, raw, col)
    for column in ("created_at", "labeled_at"):
        _parse_times(frame, column, col)
    for key in spec.key:
        if not pd.api.types.is_numeric_dtype(frame[key]):
            frame[key] = _stripped(frame[key])
    repeated = _check_keys(frame, spec, col)
    problems = col.problems()
    bad = col.bad
    # Identical repeats are merged among the rows that passed only: a row is accepted, merged
    # or reported, never two of these (nor merged into a row that was rejected).
    repeat = np.zeros(len(frame), dtype=bool)
    if repeated:
        repeat[~bad] = frame.loc[~bad].duplicated(subset=list(spec.key),
                                                  keep="first").to_numpy()
    merged = int(repeat.sum())
    keep = ~bad & ~repeat
    good = (frame if keep.all() and frame.index.equals(pd.RangeIndex(len(frame)))
            else frame.loc[keep].reset_index(drop=True))  # no copy when every row is kept
    if "label" in good.columns and labels is not None:
        good["label"] = good["label"].astype("int8")
    rejected = _rejected_rows(raw, problems)
    notices = [RowProblem(str(raw.path), None, name, "left out: the column mapping gives its "
                          f"name to column '{source}'", count=0)
               for name, source in shadowed_columns(raw.frame.columns, rename).items()]
    return Validated(spec.name, good, problems.drop(columns="index"), len(frame), merged, rejected,
                     frame[spec.key[0]][bad].drop_duplicates(), notices)


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
