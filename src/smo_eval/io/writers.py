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


def write_parquet(frame: pd.DataFrame, target: Path) -> Path:
    return _write(target, lambda p: frame.to_parquet(p, index=False))


def write_csv(frame: pd.DataFrame, target: Path, bom: bool = True) -> Path:
    """UTF-8 with a BOM (so Excel on any locale opens Chinese text correctly) unless a tool
    reads the file (DVC plots take a BOM as part of the first column's name)."""
    encoding = "utf-8-sig" if bom else "utf-8"
    return _write(target, lambda p: frame.to_csv(p, index=False, encoding=encoding))


# XlsxWriter writes about twice as fast as openpyxl; text stays text (no formulas from a
# leading "=", no hyperlinks from URLs in user content, no numbers from digit strings).
_XLSX_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False,
                 "strings_to_numbers": False}


def write_xlsx(frame: pd.DataFrame, target: Path, sheet: str = "Sheet1") -> Path:
    return _write(target, lambda p: frame.to_excel(p, index=False, sheet_name=sheet,
                                                   engine="xlsxwriter",
                                                   engine_kwargs={"options": _XLSX_OPTIONS}))


def write_table(frame: pd.DataFrame, target_stem: Path) -> list[Path]:
    """Write a result table as both CSV (people, diffs) and Parquet (tools, dtypes kept)."""
    return [
        write_csv(frame, target_stem.with_suffix(".csv")),
        write_parquet(frame, target_stem.with_suffix(".parquet")),
    ]


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
