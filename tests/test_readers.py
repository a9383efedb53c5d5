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
