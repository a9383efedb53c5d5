"""Workbooks for QA review: ready to filter, read and decide in, and never executable.

Frozen header, an autofilter, column widths from the content (long text wrapped and capped),
number formats by column (scores to 3 decimals, shares as %), a `decision` column with a
drop-down and a `comment` column for the reviewer. Every text cell is written as text:
a value starting with `=`, `+`, `-` or `@` stays a string, URLs stay plain text; the column
names are written as strings too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.clock import now
from smo_eval.io.writers import atomic_path

DECISIONS = ["confirm error", "gold label wrong", "ambiguous / needs policy", "not an error"]
MAX_WIDTH, TEXT_WIDTH, MIN_WIDTH = 60, 50, 8
_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
            "nan_inf_to_errors": True}


def excel_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel has no timezone-aware datetimes: keep wall-clock time."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_localize(None)
    return out


def write_review_xlsx(frame: pd.DataFrame, target: Path, sheet: str = "review") -> Path:
    """Write `frame` plus empty `decision` and `comment` columns as a review workbook."""
    import xlsxwriter

    data = excel_ready(frame).reset_index(drop=True)
    columns = [str(c) for c in data.columns]
    with atomic_path(target) as tmp:
        book = xlsxwriter.Workbook(str(tmp), _OPTIONS)
        # The only time inside the file: the clock's (SOURCE_DATE_EPOCH makes it fixed).
        book.set_properties({"created": now().replace(tzinfo=None)})
        sheet_ = book.add_worksheet(sheet[:31])
        header = book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1,
                                  "text_wrap": True, "valign": "top"})
        formats = _formats(book)
        for j, name in enumerate([*columns, "decision", "comment"]):
            sheet_.write_string(0, j, name, header)
        for j, name in enumerate(columns):
            kind = _kind(name, data[name])
            fmt = formats[kind]
            write = _writer(sheet_, data[name])
            for i, value in enumerate(data[name].tolist(), start=1):
                write(i, j, value, fmt)
            sheet_.set_column(j, j, _width(name, data[name], kind), fmt)
        n, decision = len(data), len(columns)
        sheet_.set_column(decision, decision, 24)
        sheet_.set_column(decision + 1, decision + 1, 40, formats["text"])
        if n:
            sheet_.data_validation(1, decision, n, decision, {
                "validate": "list", "source": DECISIONS, "error_type": "warning",
                "input_title": "Reviewer decision", "input_message": "Pick one"})
        sheet_.freeze_panes(1, 0)
        sheet_.autofilter(0, 0, max(n, 1), decision + 1)
        book.close()
    return target


def _formats(book: Any) -> dict[str, Any]:
    return {"score": book.add_format({"num_format": "0.000", "valign": "top"}),
            "share": book.add_format({"num_format": "0.0%", "valign": "top"}),
            "count": book.add_format({"num_format": "0", "valign": "top"}),
            "number": book.add_format({"num_format": "0.####", "valign": "top"}),
            "date": book.add_format({"num_format": "yyyy-mm-dd hh:mm", "valign": "top"}),
            "text": book.add_format({"text_wrap": True, "valign": "top"}),
            "plain": book.add_format({"valign": "top"})}


def _kind(name: str, column: pd.Series) -> str:
    if pd.api.types.is_datetime64_any_dtype(column):
        return "date"
    if pd.api.types.is_bool_dtype(column):
        return "plain"
    if pd.api.types.is_integer_dtype(column):
        return "count"
    if pd.api.types.is_float_dtype(column):
        if name.endswith(("score", "margin", "threshold", "impact")) or name.startswith("score"):
            return "score"
        if name.endswith(("rate", "share")):
            return "share"
        return "number"
    lengths = column.astype("string").str.len()
    return "text" if lengths.max(skipna=True) is not pd.NA and (lengths > 40).any() else "plain"


def _width(name: str, column: pd.Series, kind: str) -> float:
    if kind in ("score", "share", "count", "number"):
        return max(MIN_WIDTH, len(name) + 2)
    if kind == "date":
        return max(17, len(name) + 2)
    sample = column.astype("string").dropna().head(500)
    longest = int(sample.str.len().quantile(0.9)) if len(sample) else 0
    cap = TEXT_WIDTH if kind == "text" else MAX_WIDTH
    return float(min(cap, max(MIN_WIDTH, len(name) + 2, longest + 2)))


def _writer(sheet: Any, column: pd.Series) -> Any:
    """The cell writer for a column: a column of one plain type goes straight to its
    xlsxwriter method (choosing per cell cost a quarter of a 5,000-row workbook's time);
    mixed or nullable columns choose per value (`_write`)."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        def number(row: int, col: int, value: float, fmt: Any) -> None:
            if value != value:  # NaN: a blank cell
                sheet.write_blank(row, col, None, fmt)
            else:
                sheet.write_number(row, col, value, fmt)
        return number
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return sheet.write_number
    text = (isinstance(dtype, pd.CategoricalDtype)
            and pd.api.types.infer_dtype(dtype.categories, skipna=False) == "string"
            and not column.isna().any()) or (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(column, skipna=False) == "string")
    if text:
        return sheet.write_string
    return lambda row, col, value, fmt: _write(sheet, row, col, value, fmt)


def _write(sheet: Any, row: int, col: int, value: Any, fmt: Any) -> None:
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        sheet.write_blank(row, col, None, fmt)
    elif isinstance(value, bool | np.bool_):
        sheet.write_boolean(row, col, bool(value), fmt)
    elif isinstance(value, int | float | np.integer | np.floating):
        sheet.write_number(row, col, float(value), fmt)
    elif isinstance(value, pd.Timestamp):
        sheet.write_datetime(row, col, value.to_pydatetime(warn=False), fmt)
    else:
        sheet.write_string(row, col, str(value), fmt)
