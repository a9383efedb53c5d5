"""Write outputs atomically: a reader never sees half a file; a failure keeps the old one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs are shared like any file
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _write(target: Path, write: Callable[[Path], Any]) -> Path:
    with atomic_path(target) as tmp:
        write(tmp)
    return target


def write_parquet(frame: Any, target: Path) -> Path:
    """Parquet, dictionary-encoding only text and categorical columns of a DataFrame (a lazy
    table of a SQL backend, `stages.ingest_sql.LazyTable`, writes itself).

    Arrow tries a dictionary for every column by default: for ids and scores (nearly all
    values distinct) it hashes values until the dictionary overflows and falls back to plain
    encoding, which made writing a 1e7-row score table 2.6x slower and its file larger."""
    if not isinstance(frame, pd.DataFrame):
        return _write(target, lambda p: frame.to_parquet(p, index=False))
    text = [str(c) for c in frame.columns
            if isinstance(frame[c].dtype, pd.CategoricalDtype)
            or pd.api.types.is_object_dtype(frame[c].dtype)
            or pd.api.types.is_string_dtype(frame[c].dtype)]
    return _write(target, lambda p: frame.to_parquet(p, index=False,
                                                     use_dictionary=text or False))


def write_csv(frame: pd.DataFrame, target: Path, bom: bool = True) -> Path:
    """UTF-8 with a BOM (so Excel on any locale opens Chinese text correctly) unless a tool
    reads the file (DVC plots take a BOM as part of the first column's name).

    Text a spreadsheet would run as a formula is written escaped (`spreadsheet_safe`): the
    flips and review queues are opened in Excel by the people they are for. Tools read the
    Parquet twin, or undo the escape with `csv_text_restored`.
    """
    encoding = "utf-8-sig" if bom else "utf-8"
    safe = spreadsheet_safe(frame)
    # Python's csv module quotes only the line terminator's characters: a text holding a lone
    # carriage return would end its row early for every reader, unless rows end in CRLF.
    ends = "\r\n" if _holds_carriage_return(safe) else "\n"
    return _write(target, lambda p: safe.to_csv(p, index=False, encoding=encoding,
                                                lineterminator=ends))


# A cell starting with one of these is a formula, or turns into one, in Excel, LibreOffice and
# Google Sheets (OWASP "CSV injection"). A leading apostrophe is escaped as well, so the escape
# is exactly reversible: `csv_text_restored` drops one apostrophe from text starting with one.
_ESCAPE = "'"
_RISKY_START = frozenset("=+-@\t\r" + _ESCAPE)
_RISKY_PATTERN = "^[=+\\-@\t\r']"


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each text cell and column name that starts with `=`, `+`, `-`, `@`, a tab,
    a carriage return or an apostrophe prefixed by an apostrophe. Numbers, booleans and dates
    stay as they are (a negative number is written as a number, not as text). Returns `frame`
    itself when nothing needs escaping."""
    names = [_escaped(c) for c in frame.columns]
    changed = {}
    for i in range(frame.shape[1]):
        values = frame.iloc[:, i]
        escaped = _escape_column(values)
        if escaped is not values:
            changed[i] = escaped
    if not changed and names == list(frame.columns):
        return frame
    out = frame.copy(deep=False)
    for i, values in changed.items():
        out.isetitem(i, values)
    out.columns = names
    return out


def csv_text_restored(frame: pd.DataFrame) -> pd.DataFrame:
    """The inverse of `spreadsheet_safe`, for a table read back from a CSV written here."""
    out = frame.copy(deep=False)
    out.columns = [_restored(c) for c in frame.columns]
    for i in range(out.shape[1]):
        values = out.iloc[:, i]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            out.isetitem(i, values.map(_restored).astype(values.dtype))
    return out


def _escaped(value: Any) -> Any:
    return _ESCAPE + value if isinstance(value, str) and value[:1] in _RISKY_START else value


def _restored(value: Any) -> Any:
    return value[1:] if isinstance(value, str) and value.startswith(_ESCAPE) else value


def _holds_carriage_return(frame: pd.DataFrame) -> bool:
    for i in range(frame.shape[1]):
        values = frame.iloc[:, i]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = pd.Series(values.cat.categories)
        text = values.dtype == object or isinstance(values.dtype, pd.StringDtype)
        if text and values.map(lambda v: isinstance(v, str) and "\r" in v).astype(bool).any():
            return True
    return any(isinstance(c, str) and "\r" in c for c in frame.columns)


def _escape_column(values: pd.Series) -> pd.Series:
    """The column with its risky text cells escaped (the same object when there are none)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = list(values.cat.categories)
        renamed = [_escaped(c) for c in categories]
        return values if renamed == categories else values.cat.rename_categories(renamed)
    if isinstance(values.dtype, pd.StringDtype):
        risky = values.str.contains(_RISKY_PATTERN, regex=True, na=False)
        return values.where(~risky, _ESCAPE + values) if risky.any() else values
    if values.dtype != object:
        return values
    risky = values.map(lambda v: isinstance(v, str) and v[:1] in _RISKY_START).astype(bool)
    return values.where(~risky, values.map(_escaped)) if risky.any() else values


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json_text(payload: Any) -> str:
    """JSON with NaN written as null, so DVC, browsers and jq all read it."""
    return json.dumps(_nan_to_none(payload), indent=2, ensure_ascii=False, default=_json_default)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value


def write_json(payload: Any, target: Path) -> Path:
    text = to_json_text(payload)
    return _write(target, lambda p: p.write_text(text, encoding="utf-8"))
