"""Read input tables from CSV (UTF-8, UTF-8 with BOM, GB18030/GBK), Parquet and Excel.

The encoding of a CSV is detected from its bytes, never guessed from its name: QA teams
export GBK from Excel on Chinese Windows and UTF-8 with a BOM elsewhere, and both must load.
CSV and Excel cells are read as text so that validation can report the value a person typed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import pandas as pd

from smo_eval.errors import ContractError, RowProblem

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class RawTable:
    """A table as read from disk, with what is needed to point at its rows."""

    frame: pd.DataFrame
    path: Path
    # Row number (as the user sees it) of the frame's first row: 2 under a header, 1 in Parquet.
    first_row: int
    encoding: str | None = None


def read_table(path: Path | str, encoding: str = "auto", sheet: int | str = 0) -> RawTable:
    """Read one input file by its extension; missing, empty or unreadable -> ContractError."""
    path = Path(path)
    if not path.is_file():
        raise ContractError([RowProblem(str(path), None, None, "file not found")])
    if path.stat().st_size == 0:
        raise ContractError([RowProblem(str(path), None, None, "empty file")])
    suffix = path.suffix.lower()
    if suffix in {".csv", ".tsv", ".txt"}:
        table = _read_csv(path, encoding, sep="\t" if suffix == ".tsv" else ",")
    elif suffix in {".parquet", ".pq"}:
        table = RawTable(_read_parquet(path), path, first_row=1)
    elif suffix in {".xlsx", ".xlsm"}:
        table = RawTable(_read_excel(path, sheet), path, first_row=2)
    else:
        raise ContractError(
            [RowProblem(str(path), None, None, f"unsupported file type '{suffix}' "
                        "(use .csv, .tsv, .parquet or .xlsx)")]
        )
    if table.frame.empty:
        raise ContractError([RowProblem(str(path), None, None, "empty file: no data rows")])
    return table


def detect_encoding(raw: bytes, path: str = "<bytes>") -> str:
    """Name the codec of CSV bytes: utf-8-sig, utf-8 or gb18030 (a superset of GBK)."""
    if raw.startswith(UTF8_BOM):
        return "utf-8-sig"
    if raw.startswith(UTF16_BOMS):
        return "utf-16"
    if b"\x00" in raw[:65536]:
        raise _unreadable(path, "binary content (NUL bytes); not a text CSV")
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        raw.decode("gb18030")
    except UnicodeDecodeError:
        raise _unreadable(path, "not valid UTF-8 or GB18030/GBK") from None
    # Many byte strings decode as GB18030 by accident (e.g. Latin-1 text); confirm it reads as text.
    best = charset_normalizer.from_bytes(raw[:200_000], cp_isolation=["gb18030", "cp1252"]).best()
    if best is None or best.encoding != "gb18030":
        guess = best.encoding if best is not None else "unknown"
        raise _unreadable(
            path, f"not UTF-8 and does not read as GB18030/GBK (looks like {guess}); "
            "set data.encoding to the file's codec"
        )
    return "gb18030"


def _unreadable(path: str, why: str) -> ContractError:
    return ContractError([RowProblem(path, None, None, f"unreadable encoding: {why}")])


def _read_csv(path: Path, encoding: str, sep: str) -> RawTable:
    raw = path.read_bytes()
    codec = detect_encoding(raw, str(path)) if encoding == "auto" else encoding
    try:
        text = raw.decode(codec)
    except (UnicodeDecodeError, LookupError) as exc:
        raise _unreadable(str(path), f"cannot decode as {codec}: {exc}") from None
    if not text.strip():
        raise ContractError([RowProblem(str(path), None, None, "empty file")])
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""],
        )
    except pd.errors.EmptyDataError:
        raise ContractError([RowProblem(str(path), None, None, "empty file")]) from None
    except pd.errors.ParserError as exc:
        raise ContractError([RowProblem(str(path), None, None, f"malformed CSV: {exc}")]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawTable(frame, path, first_row=2, encoding=codec)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a corrupt file
        raise ContractError(
            [RowProblem(str(path), None, None, f"unreadable Parquet file: {exc}")]
        ) from None


def _read_excel(path: Path, sheet: int | str) -> pd.DataFrame:
    try:
        frame = pd.read_excel(path, sheet_name=sheet, dtype=str, keep_default_na=False,
                              na_values=[""], engine="openpyxl")
    except ValueError as exc:
        problem = RowProblem(str(path), None, None, f"sheet {sheet!r}: {exc}")
        raise ContractError([problem]) from None
    except Exception as exc:  # openpyxl/zipfile errors for a corrupt workbook
        raise ContractError(
            [RowProblem(str(path), None, None, f"unreadable Excel file: {exc}")]
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
