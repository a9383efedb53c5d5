"""Read input tables from CSV (UTF-8, UTF-8 with BOM, GB18030/GBK), Parquet and Excel.

The encoding of a CSV is detected from its bytes, never guessed from its name: QA teams
export GBK from Excel on Chinese Windows and UTF-8 with a BOM elsewhere, and both must load.
CSV and Excel cells are read as text so that validation can report the value a person typed.
Every value accepted is the value in the file: a control character that would cut a cell short
(a NUL byte) or hide inside it is refused with its row and column, and a header that names two
columns alike is refused instead of being renamed behind the user's back.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from smo_eval.errors import ContractError, RowProblem, row_list

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
# C0 control characters other than tab, line feed and carriage return (which CSV uses itself).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Where the C parser stopped: "... in line 7, saw 4" / "... inside string starting at row 5".
_FIELDS_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_QUOTE_ERROR = re.compile(r"EOF inside string starting at row (\d+)")
# Cells shown one by one before a column's problems are summed up in one line.
SHOWN_PER_COLUMN = 3


@dataclass(frozen=True)
class RawTable:
    """A table as read from disk, with what is needed to point at its rows."""

    frame: pd.DataFrame
    path: Path
    # Row number (as the user sees it) of the frame's first row: 2 under a header, 1 in Parquet.
    first_row: int
    encoding: str | None = None

    def numbered(self, column: str) -> RawTable:
        """A shallow copy with each row's number (as the user sees it) in `column`, for
        validation to point at: int32 while it fits (the column is copied into the frame, a
        tenth of ingest's time at 3e7 rows as int64), the read data itself is not copied."""
        end = self.first_row + len(self.frame)
        numbers = np.arange(self.first_row, end, dtype=np.int32 if end < 2**31 else np.int64)
        frame = self.frame.copy(deep=False)
        frame[column] = numbers
        return RawTable(frame, self.path, self.first_row, self.encoding)

    @property
    def typed(self) -> bool:
        """True when the file stores types (Parquet): a text or true/false score is then the
        producer's mistake, not a number a person typed as text."""
        return self.path.suffix.lower() in PARQUET_SUFFIXES


def read_table(path: Path | str, encoding: str = "auto", sheet: int | str = 0) -> RawTable:
    """Read one input file by its extension; missing, empty or unreadable -> ContractError."""
    path = Path(path)
    try:
        return _read(path, encoding, sheet)
    except OSError as exc:  # permission denied, a folder, a file vanishing mid-read, I/O error
        why = exc.strerror or type(exc).__name__
        raise ContractError([RowProblem(str(path), None, None, f"cannot read the file: {why}")]
                            ) from None


def _read(path: Path, encoding: str, sheet: int | str) -> RawTable:
    if not path.is_file():
        raise ContractError([RowProblem(str(path), None, None, "file not found")])
    if path.stat().st_size == 0:
        raise ContractError([RowProblem(str(path), None, None, "empty file")])
    suffix = path.suffix.lower()
    if suffix in {".csv", ".tsv", ".txt"}:
        table = _read_csv(path, encoding, sep="\t" if suffix == ".tsv" else ",")
    elif suffix in PARQUET_SUFFIXES:
        table = RawTable(_read_parquet(path), path, first_row=1)
    elif suffix in {".xlsx", ".xlsm"}:
        table = _with_header(_read_excel(path, sheet), path, None)
    else:
        raise ContractError(
            [RowProblem(str(path), None, None, f"unsupported file type '{suffix}' "
                        "(use .csv, .tsv, .parquet or .xlsx)")]
        )
    if table.frame.empty:
        raise ContractError([RowProblem(str(path), None, None, "empty file: no data rows")])
    _refuse_duplicate_columns(table.frame.columns, path)
    return table


def detect_encoding(raw: bytes, path: str = "<bytes>") -> str:
    """Name the codec of CSV bytes: utf-8-sig, utf-8 or gb18030 (a superset of GBK)."""
    if raw.startswith(UTF8_BOM):
        return "utf-8-sig"
    if raw.startswith(UTF16_BOMS):
        return "utf-16"
    sample = raw[:65536]
    # Many NUL bytes mean a binary file (a workbook renamed .csv, UTF-16 without a BOM); a few
    # stray ones are corrupt cells, reported with their row and column after parsing.
    if sample.count(0) > max(8, len(sample) // 100):
        raise _unreadable(path, "binary content (NUL bytes); not a text CSV")
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise _unreadable(path, "not valid UTF-8 or GB18030/GBK") from None
    if _is_gb2312(text):
        # Every character is in GB2312 (common simplified Chinese: both bytes >= 0xA1), which
        # Latin-1 text almost never is; a statistical guess is unreliable on a few words.
        return "gb18030"
    # Many byte strings decode as GB18030 by accident (e.g. Latin-1 text); confirm it reads as text.
    best = charset_normalizer.from_bytes(raw[:200_000], cp_isolation=["gb18030", "cp1252"]).best()
    if best is None or best.encoding != "gb18030":
        guess = best.encoding if best is not None else "unknown"
        raise _unreadable(
            path, f"not UTF-8 and does not read as GB18030/GBK (looks like {guess}); "
            "set data.encoding to the file's codec"
        )
    return "gb18030"


def _is_gb2312(text: str) -> bool:
    try:
        text.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _unreadable(path: str, why: str) -> ContractError:
    return ContractError([RowProblem(path, None, None, f"unreadable encoding: {why}")])


def _read_csv(path: Path, encoding: str, sep: str) -> RawTable:
    raw = path.read_bytes()
    codec = detect_encoding(raw, str(path)) if encoding == "auto" else encoding
    try:
        text = raw.decode(codec)
    except (UnicodeDecodeError, LookupError) as exc:
        raise _unreadable(str(path), f"cannot decode as {codec}: {exc}") from None
    if codec == "utf-8-sig" or text.startswith("\ufeff"):
        text = text.removeprefix("\ufeff")
    # Blank lines at the very end are no rows (a spreadsheet shows nothing there either); blank
    # lines before the header are skipped but counted, so row numbers stay the spreadsheet's.
    body = text.rstrip("\r\n").lstrip("\r\n")
    if not body.strip():
        raise ContractError([RowProblem(str(path), None, None, "empty file")])
    lead = text[:len(text) - len(text.lstrip("\r\n"))]
    skipped = lead.count("\n") + lead.count("\r") - lead.count("\r\n")
    if CONTROL.search(body):
        _refuse_control_characters(body, path, sep, skipped)
    # The header is read as a row like the others: pandas would rename a repeated name
    # ('label.1') and take a first column without a header for the index (shifting every value).
    # Blank lines are kept so that row numbers stay those a spreadsheet shows.
    table = _with_header(_parse_csv(body, path, sep, skipped), path, codec)
    return RawTable(table.frame, path, table.first_row + skipped, codec)


def _parse_csv(text: str, path: Path, sep: str, skipped: int) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str,
                           keep_default_na=False, na_values=[""], skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise ContractError([RowProblem(str(path), None, None, "empty file")]) from None
    except pd.errors.ParserError as exc:
        raise ContractError([_parser_problem(str(path), str(exc), skipped)]) from None


def _parser_problem(path: str, message: str, skipped: int) -> RowProblem:
    """Where the CSV breaks, numbered as a spreadsheet numbers rows (header = row 1)."""
    fields = _FIELDS_ERROR.search(message)
    if fields:  # the C parser counts records from 1, the header included: a spreadsheet row
        expected, row, saw = (int(g) for g in fields.groups())
        return RowProblem(path, row + skipped, None, f"malformed CSV: {saw} values where the "
                          f"header has {expected} (an unquoted separator inside a value?)")
    quote = _QUOTE_ERROR.search(message)
    if quote:  # counted from 0 here: the row where the unclosed quote opens is one further
        return RowProblem(path, int(quote.group(1)) + 1 + skipped, None,
                          "malformed CSV: a quote opens in this row and is never closed "
                          "(everything after it would be read as one value)")
    return RowProblem(path, None, None, f"malformed CSV: {message}")


def _refuse_control_characters(text: str, path: Path, sep: str, skipped: int) -> None:
    """Name every cell holding a control character (the C parser would cut a cell at a NUL).

    Each control character is swapped for a private-use character that the file does not
    contain, so the parser keeps the cell whole and the swapped cells point at the rows.
    """
    base = next(b for b in range(0xF0000, 0xFFF00, 0x100)
                if not re.search(f"[{chr(b)}-{chr(b + 0x1F)}]", text))
    swapped = text.translate({c: base + c for c in range(0x20) if CONTROL.match(chr(c))})
    marker = re.compile(f"[{chr(base)}-{chr(base + 0x1F)}]")

    def shown(value: object) -> str:
        return marker.sub(lambda m: f"\\x{ord(m[0]) - base:02x}", str(value))

    frame = _parse_csv(swapped, path, sep, skipped)
    top = _first_filled(frame) or 0
    header = [shown(name) for name in _header_names(frame.iloc[top])]
    problems: list[RowProblem] = []
    for position, column in enumerate(frame.columns):
        cells = frame[column].astype("string")
        hits = cells.str.contains(marker, regex=True).fillna(False).to_numpy().nonzero()[0]
        if not len(hits):
            continue
        rows = [int(i) + 1 + skipped for i in hits]
        first = shown(cells.iloc[hits[0]])
        if len(rows) <= SHOWN_PER_COLUMN:
            problems += [RowProblem(str(path), r, header[position],
                                    f"control character in the value '{shown(cells.iloc[i])}' "
                                    "(a corrupt export? remove it or re-export the file)")
                         for r, i in zip(rows, hits, strict=True)]
        else:
            problems.append(RowProblem(
                str(path), None, header[position],
                f"{len(rows):,} values hold control characters ({row_list(rows, len(rows))}; "
                f"first '{first}'): a corrupt export? remove them or re-export the file",
                count=len(rows)))
    raise ContractError(problems or [RowProblem(str(path), None, None,
                                                "control characters outside any value")])


def _header_names(cells: pd.Series) -> list[str]:
    """Header cells as column names: trimmed, 'Unnamed: i' for an empty cell (as pandas)."""
    return [f"Unnamed: {i}" if pd.isna(c) or not str(c).strip() else str(c).strip()
            for i, c in enumerate(cells)]


def _with_header(frame: pd.DataFrame, path: Path, codec: str | None) -> RawTable:
    """Take the first non-empty row as the header; rows keep their spreadsheet numbers."""
    top = _first_filled(frame)
    if top is None:
        raise ContractError([RowProblem(str(path), None, None, "empty file")])
    body = frame.iloc[top + 1:].reset_index(drop=True)
    body.columns = _header_names(frame.iloc[top])
    return RawTable(body, path, first_row=top + 2, encoding=codec)


def _first_filled(frame: pd.DataFrame, step: int = 1000) -> int | None:
    """Position of the first row with a value (the header), looking at `step` rows at a time."""
    for start in range(0, len(frame), step):
        filled = frame.iloc[start:start + step].notna().any(axis=1).to_numpy()
        if filled.any():
            return start + int(filled.argmax())
    return None


def _refuse_duplicate_columns(columns: pd.Index, path: Path) -> None:
    """Two columns under one name: which one would a mapping or a check mean? Name both."""
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(columns):
        positions.setdefault(str(name), []).append(i)
    problems = [
        RowProblem(str(path), None, name, "column name repeated in the header: columns "
                   + " and ".join(f"{i + 1} ({_letters(i)})" for i in where)
                   + " (rename or remove one)")
        for name, where in positions.items() if len(where) > 1
    ]
    if problems:
        raise ContractError(problems)


def _letters(index: int) -> str:
    """Spreadsheet column letters for a 0-based position: 0 -> A, 27 -> AB."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        _refuse_duplicate_columns(pd.Index(pq.read_schema(path).names), path)
        frame = pd.read_parquet(path)
    except ContractError:
        raise
    except Exception as exc:  # pyarrow raises many types for a corrupt file
        raise ContractError(
            [RowProblem(str(path), None, None, f"unreadable Parquet file: {exc}")]
        ) from None
    if any(name is not None for name in frame.index.names):  # a saved index is data (item_id)
        frame = frame.reset_index()
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_excel(path: Path, sheet: int | str) -> pd.DataFrame:
    try:
        return pd.read_excel(path, sheet_name=sheet, header=None, dtype=str,
                             keep_default_na=False, na_values=[""], engine="openpyxl")
    except ValueError as exc:
        problem = RowProblem(str(path), None, None, f"sheet {sheet!r}: {exc}")
        raise ContractError([problem]) from None
    except Exception as exc:  # openpyxl/zipfile errors for a corrupt workbook
        raise ContractError(
            [RowProblem(str(path), None, None, f"unreadable Excel file: {exc}")]
        ) from None
