"""Input files: encodings detected from bytes, Excel and Parquet, unreadable files refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from smo_eval.errors import ContractError
from smo_eval.io.readers import detect_encoding, read_table

FRAME = pd.DataFrame({"item_id": ["a1", "a2"], "text": ["这是违规内容，加薇信", "正常的评论"],
                      "label": ["1", "0"]})


@pytest.mark.parametrize("encoding, expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030"), ("gbk", "gb18030"),
])
def test_csv_encoding_detected_from_bytes(tmp_path: Path, encoding: str, expected: str) -> None:
    path = tmp_path / "gold.csv"  # the name says nothing about the encoding
    FRAME.to_csv(path, index=False, encoding=encoding)
    table = read_table(path)
    assert table.encoding == expected
    assert table.frame["text"].tolist() == FRAME["text"].tolist()
    assert table.first_row == 2


def test_excel_and_parquet_round_trip(tmp_path: Path) -> None:
    FRAME.to_excel(tmp_path / "gold.xlsx", index=False)
    FRAME.to_parquet(tmp_path / "gold.parquet")
    assert read_table(tmp_path / "gold.xlsx").frame["text"].tolist() == FRAME["text"].tolist()
    parquet = read_table(tmp_path / "gold.parquet")
    assert parquet.first_row == 1
    assert parquet.frame.equals(FRAME)


def test_latin1_is_not_mistaken_for_gbk(tmp_path: Path) -> None:
    path = tmp_path / "gold.csv"
    path.write_bytes("item_id,text\n1,Ça déjà été très réussi à Genève\n".encode("latin-1"))
    with pytest.raises(ContractError, match="unreadable encoding"):
        read_table(path)


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"item_id,label\n", "empty file"),
    (b"\x00\x01\x02binary\xff\xfe", "unreadable encoding"),
    (b"item_id,label\n1,\x81\x30\xff\n", "unreadable encoding"),
])
def test_unreadable_files_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "gold.csv"
    path.write_bytes(content)
    with pytest.raises(ContractError, match=message) as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_detect_encoding_prefers_utf8() -> None:
    assert detect_encoding("标签".encode()) == "utf-8"
    assert detect_encoding("标签".encode("gb18030")) == "gb18030"


def test_blank_lines_keep_spreadsheet_row_numbers(tmp_path: Path) -> None:
    """A blank line is a row in a spreadsheet: later rows keep their numbers; blank lines
    before the header move the header down; blank lines at the end are no rows."""
    path = tmp_path / "gold.csv"
    path.write_text("\n\nitem_id,label\na1,1\n\na3,0\n\n\n", encoding="utf-8")
    table = read_table(path)
    assert table.first_row == 4  # header on row 3
    # a1 on row 4, the blank row 5 (reported by validation as a row without item_id), a3 on 6
    assert table.frame["item_id"].isna().tolist() == [False, True, False]
    assert table.frame["item_id"].dropna().tolist() == ["a1", "a3"]


def test_excel_header_below_blank_rows(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["B3"], sheet["C3"], sheet["B4"], sheet["C4"] = "item_id", "label", "a1", "1"
    book.save(tmp_path / "gold.xlsx")
    table = read_table(tmp_path / "gold.xlsx")
    assert table.first_row == 4
    assert table.frame[["item_id", "label"]].values.tolist() == [["a1", "1"]]


def test_parquet_index_is_kept_as_a_column(tmp_path: Path) -> None:
    FRAME.set_index("item_id").to_parquet(tmp_path / "gold.parquet")
    assert read_table(tmp_path / "gold.parquet").frame["item_id"].tolist() == ["a1", "a2"]


def test_many_nul_bytes_mean_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "gold.csv"
    path.write_bytes("item_id,label\na1,1\n".encode("utf-16-le"))  # UTF-16 without its BOM
    with pytest.raises(ContractError, match="binary content"):
        read_table(path)


def test_a_few_chinese_words_in_gbk_are_detected(tmp_path: Path) -> None:
    """Two words of Chinese in an otherwise ASCII GBK file (too little for a statistical guess)."""
    path = tmp_path / "gold.csv"
    path.write_bytes("item_id,label\n编号1,1\na2,0\n".encode("gbk"))
    table = read_table(path)
    assert table.encoding == "gb18030"
    assert table.frame["item_id"].tolist() == ["编号1", "a2"]
