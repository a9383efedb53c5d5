"""Property-based tests of reading and validating inputs: whatever table a user hands over, the
run ends in a ContractError or in rows that are all accounted for, never in another exception.

Hypothesis writes over a thousand generated tables (column names with Chinese and square
brackets, UTF-8 / UTF-8 with BOM / GB18030, text, numbers and booleans, missing and repeated
values, control characters) to CSV, Parquet and Excel, then reads and validates them. For
each it checks, against what it wrote:

- an error is a ContractError, and only for a reason the table really has (a repeated column
  name, a control character in a CSV, a score column of true/false or text in Parquet), with
  every control character's cell counted;
- otherwise every data row written is read (row numbers as a spreadsheet shows them) and is
  either accepted, merged as an identical duplicate or reported as a problem, exactly once;
- text that passes through is the text written, character for character.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from smo_eval.contract.schema import GOLD, PREDICTIONS, source_to_canonical
from smo_eval.contract.validate import LabelMap, validate_table
from smo_eval.errors import ContractError
from smo_eval.io.readers import CONTROL, RawTable, read_table

LABELS = LabelMap.from_lists(["1", "yes", "违规"], ["0", "no", "正常"])
# Canonical names whose values validation checks or normalises (not compared as passed through).
CHECKED = {"item_id", "label", "score", "model", "created_at", "labeled_at", "risk_category",
           "annotator_id"}
ROW = "_row"

_CJK = "标签分数评论违规正常内容模型编号文本"
_ASCII = "abcxyz019 _-,.;'\"%"
PLAIN = list(_CJK + _ASCII + "[]/\n\t\r\\=")
CONTROLS = ["\x00", "\x1b", "\x07", "\x0b", "\x1f"]
SPECIAL_NAMES = st.sampled_from(["label", "score", "text", "model", "item_id", " item_id ",
                                 "[/x]", "[bold]", "列[1]", "标签", "分数", "评论 [red]", "a,b",
                                 'say "hi"'])
RANDOM_NAMES = st.text(st.sampled_from(list(_CJK + _ASCII + "[]/")), min_size=2, max_size=8)
# Valid values (most tables are clean, so rows get accepted) and messy ones (missing, unknown).
GOOD_LABELS = st.sampled_from(["1", "0", "yes", "No", " 1 ", "违规", "正常", "1.0"])
BAD_LABELS = st.one_of(st.none(), st.sampled_from(["maybe", "[/x]", "", "2"]))
GOOD_SCORES = st.floats(0, 1, width=32)
BAD_SCORES = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32),
                       st.sampled_from([57.0, -0.1, 1.5]))
BAD_SCORE_TEXT = st.sampled_from(["high", "85%", "2024-01-01", "", "nan"])
MODELS = st.sampled_from(["m1", "m2", "[/x]", "模型"])


@dataclass
class Case:
    """A table as the user wrote it: column names, values by column, and how it is stored."""

    table: str
    names: list[str]              # header as written (may repeat, may hold anything)
    columns: list[list[object]]   # one list of values per column
    mapping: dict[str, str]       # canonical -> source name (data.columns)
    fmt: str
    encoding: str
    dtypes: list[str]             # Parquet type per column: string, int, float, bool

    @property
    def rows(self) -> int:
        return len(self.columns[0])


@st.composite
def cases(draw: st.DrawFn, formats: tuple[str, ...]) -> Case:
    """A table in a random shape: mostly sound, with some messy rows, odd names or controls."""
    table = draw(st.sampled_from(["gold", "predictions"]))
    spec = GOLD if table == "gold" else PREDICTIONS
    fmt = draw(st.sampled_from(formats))
    n = draw(st.integers(1, 25))
    messy = draw(st.integers(0, 9)) < 6        # 60% of tables have some bad values
    names_st = st.one_of(*[RANDOM_NAMES] * 5, SPECIAL_NAMES)
    chars = PLAIN + (CONTROLS if draw(st.integers(0, 6)) == 0 else [])
    text = st.one_of(st.text(st.sampled_from(chars), max_size=12), st.none(),
                     st.sampled_from(["", "  ", "[/x]", "=1+1"]))

    def mixed(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> list[object]:
        element = st.one_of(good, good, good, bad) if messy else good
        return draw(st.lists(element, min_size=n, max_size=n))

    extra = draw(st.integers(0, 3))
    pool = draw(st.lists(names_st, min_size=len(spec.required) + extra,
                         max_size=len(spec.required) + extra, unique_by=str.strip))
    names: list[str] = []
    columns: list[list[object]] = []
    dtypes: list[str] = []
    mapping: dict[str, str] = {}
    for i, canonical in enumerate(spec.required):
        source = canonical if draw(st.booleans()) else pool[i]
        mapping[canonical] = source
        names.append(source)
        kinds = {"item_id": ["string", "int"], "label": ["string", "int", "bool"],
                 "score": ["string", "float", "int", "bool"]}.get(canonical, ["string"])
        kind = draw(st.sampled_from(kinds)) if fmt == "parquet" else "string"
        columns.append(_values(canonical, kind, mixed, 40 if messy else 10**6))
        dtypes.append(kind)
    for name in pool[len(spec.required):]:
        names.append(name)
        columns.append(draw(st.lists(text, min_size=n, max_size=n)))
        dtypes.append("string")
    if draw(st.integers(0, 7)) == 0:  # one name written twice (perhaps with blanks around it)
        i, j = draw(st.permutations(range(len(names))))[:2]
        old, names[j] = names[j], draw(st.sampled_from(["", " "])) + names[i]
        mapping = {c: names[j] if source == old else source for c, source in mapping.items()}
    if draw(st.booleans()):  # repeat whole rows: identical duplicates to merge
        picks = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))
        columns = [values + [values[i] for i in picks] for values in columns]
    order = draw(st.permutations(range(len(names))))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    return Case(table, [names[i] for i in order], [columns[i] for i in order], mapping, fmt,
                encoding, [dtypes[i] for i in order])


def _values(canonical: str, kind: str,
            mixed: Callable[[st.SearchStrategy[Any], st.SearchStrategy[Any]], list[object]],
            ids: int) -> list[object]:
    """One required column's values: sound ones, mixed with bad ones in a messy table (whose
    few distinct ids also repeat with conflicting values)."""
    if canonical == "item_id":
        if kind == "int":
            return mixed(st.integers(0, ids), st.none())
        return mixed(st.builds("编号{}".format, st.integers(0, ids)),
                     st.one_of(st.none(), st.sampled_from(["", " 编号1 ", "[/x]"])))
    if canonical == "model":
        return mixed(MODELS, st.one_of(st.none(), st.just("")))
    if canonical == "label":
        good, bad = {"string": (GOOD_LABELS, BAD_LABELS),
                     "int": (st.integers(0, 1), st.one_of(st.none(), st.just(2))),
                     "bool": (st.booleans(), st.none())}[kind]
        return mixed(good, bad)
    good, bad = {"string": (GOOD_SCORES.map(repr), BAD_SCORE_TEXT),
                 "float": (GOOD_SCORES, BAD_SCORES),
                 "int": (st.integers(0, 1), st.integers(-1, 100)),
                 "bool": (st.booleans(), st.none())}[kind]
    return mixed(good, bad)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _write(case: Case, folder: Path) -> Path:
    path = folder / f"{case.table}.{case.fmt}"
    if case.fmt == "csv":
        frame = pd.DataFrame({i: [_text(v) for v in values]
                              for i, values in enumerate(case.columns)})
        frame.columns = case.names
        # CRLF endings: the csv module then quotes a CR inside a value too (with "\n" it does
        # not, and every spreadsheet would read that CR as the end of a row).
        path.write_bytes(frame.to_csv(index=False, lineterminator="\r\n").encode(case.encoding))
    elif case.fmt == "parquet":
        types = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(),
                 "bool": pa.bool_()}
        arrays = [pa.array([_text(v) for v in values] if kind == "string" else values,
                           type=types[kind]) for values, kind in zip(case.columns, case.dtypes,
                                                                     strict=True)]
        pq.write_table(pa.Table.from_arrays(arrays, names=case.names), path)
    else:
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        for r, row in enumerate([case.names, *zip(*case.columns, strict=True)], start=1):
            for c, value in enumerate(row, start=1):
                cell = sheet.cell(r, c, _xlsx(value))
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # text typed as '=1+1, not a formula
        book.save(path)
    return path


def _xlsx(value: object) -> object:
    """Excel cannot hold control characters (openpyxl refuses them): the user's file has none."""
    return None if value is None else ILLEGAL_CHARACTERS_RE.sub("", str(value))


def _cell_text(case: Case, value: object) -> str | None:
    """The text a cell holds once written: None for an empty cell (Parquet keeps '' apart)."""
    text = _text(value) if case.fmt != "xlsx" else _xlsx(value)
    if case.fmt == "parquet":
        return None if text is None else str(text)
    return None if text is None or text == "" else str(text)


def _expected_rows(case: Case) -> int:
    """Data rows in the file: Excel stores no trailing empty rows (a sheet shows none either)."""
    if case.fmt != "xlsx":
        return case.rows
    filled = [any(_cell_text(case, c[i]) is not None for c in case.columns)
              for i in range(case.rows)]
    return max((i + 1 for i, f in enumerate(filled) if f), default=0)


def _expected_errors(case: Case) -> list[str]:
    """Why this table must be refused as a whole, worked out from what was written."""
    why = []
    stripped = [name.strip() for name in case.names]
    if len(set(stripped)) < len(stripped):
        why.append("column name repeated in the header")
    if case.fmt == "csv" and any(CONTROL.search(str(v)) for values in case.columns
                                 for v in values if v is not None):
        why.append("control character")
    if case.fmt == "csv" and any(CONTROL.search(name) for name in case.names):
        why.append("control character")
    score = case.names.index(case.mapping["score"]) if "score" in case.mapping else None
    if score is not None and case.fmt == "parquet" and case.dtypes[score] in {"bool", "string"} \
            and any(v is not None for v in case.columns[score]):
        why.append("holds true/false values" if case.dtypes[score] == "bool" else "holds text")
    if _expected_rows(case) == 0:
        why.append("empty file")
    return why


def check(case: Case, folder: Path) -> None:
    path = _write(case, folder)
    expected = _expected_errors(case)
    spec = GOLD if case.table == "gold" else PREDICTIONS
    try:
        raw = read_table(path)
        marked = RawTable(raw.frame.assign(**{ROW: np.arange(len(raw.frame)) + raw.first_row}),
                          raw.path, raw.first_row, raw.encoding)
        checked = validate_table(marked, spec, source_to_canonical(case.table, case.mapping, {}),
                                 labels=LABELS if case.table == "gold" else None)
    except ContractError as exc:
        event(f"refused: {', '.join(expected) or 'unexpectedly'}")
        message = str(exc)
        assert expected, f"unexpected ContractError for a valid file:\n{message}"
        assert any(reason in message for reason in expected), (expected, message)
        assert all(p.file == str(path) for p in exc.problems)
        if expected == ["control character"]:
            cells = sum(bool(CONTROL.search(str(v))) for values in case.columns
                        for v in values if v is not None)
            cells += sum(bool(CONTROL.search(name)) for name in case.names)
            assert sum(p.count for p in exc.problems) == cells
        return
    assert not expected, f"accepted although it should be refused: {expected}"
    event("read: rows all accepted" if checked.rejected.empty else "read: some rows reported")
    rows = _expected_rows(case)
    assert checked.rows_read == rows
    first = 1 if case.fmt == "parquet" else 2
    # Every row read is accepted, merged as an identical duplicate, or reported: exactly once.
    assert len(checked.frame) + checked.duplicates_merged + len(checked.rejected) == rows
    reported = set(checked.problems["row"].astype(int))
    accepted = set(checked.frame[ROW].astype(int))
    assert reported <= set(range(first, first + rows))
    assert not reported & accepted
    # Text that passes through is the text written.
    canonical = {source: name for name, source in case.mapping.items()}
    for name, values in zip(case.names, case.columns, strict=True):
        final = canonical.get(name, name).strip()
        shadowed = name not in canonical and name.strip() in canonical.values()
        if final in CHECKED or final not in checked.frame.columns or shadowed:
            continue
        for row, got in zip(checked.frame[ROW], checked.frame[final], strict=True):
            want = _cell_text(case, values[int(row) - first])
            assert (None if pd.isna(got) else str(got)) == want, (name, row)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generated")


COMMON = {"deadline": None, "derandomize": True, "database": None,
          "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


@settings(max_examples=600, **COMMON)  # type: ignore[arg-type]
@given(case=cases(("csv",)))
def test_csv_tables_are_read_whole_or_refused(folder: Path, case: Case) -> None:
    check(case, folder)


@settings(max_examples=450, **COMMON)  # type: ignore[arg-type]
@given(case=cases(("parquet",)))
def test_parquet_tables_are_read_whole_or_refused(folder: Path, case: Case) -> None:
    check(case, folder)


@settings(max_examples=60, **COMMON)  # type: ignore[arg-type]
@given(case=cases(("xlsx",)))
def test_excel_tables_are_read_whole_or_refused(folder: Path, case: Case) -> None:
    check(case, folder)


def test_generated_names_reach_the_reader_unchanged(folder: Path) -> None:
    """Bracket and Chinese names survive a GB18030 CSV round trip (the header as written)."""
    case = Case("gold", ["编号 [/x]", "label", "评论[bold]"], [["a1"], ["1"], ["x"]],
                {"item_id": "编号 [/x]", "label": "label"}, "csv", "gb18030",
                ["string"] * 3)
    raw = read_table(_write(case, folder))
    assert list(raw.frame.columns) == ["编号 [/x]", "label", "评论[bold]"]
    assert raw.encoding == "gb18030"
    assert re.search(r"\[/x\]", raw.frame.columns[0])
