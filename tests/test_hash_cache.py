"""File hashes remembered across commands (smo_eval.lineage.known_sha256): a file read once
is not read again while its identity holds; a change, a racy entry or the off switch reads it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smo_eval import lineage


@pytest.fixture
def reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files actually read through sha256, with a cache of this test's own."""
    monkeypatch.setenv("SMO_EVAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(lineage.SWITCH_ENV, raising=False)
    monkeypatch.setattr(lineage, "_LOADED", {})
    seen: list[Path] = []
    real = lineage.file_sha256

    def counted(path: Path) -> str:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(lineage, "file_sha256", counted)
    return seen


def _old_file(path: Path, text: str) -> Path:
    """A file whose last change lies a minute back (its hash is not racy)."""
    path.write_text(text)
    stamp = path.stat().st_mtime - 60
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock a minute on: a file's status-change time (which os.utime cannot move back)
    then lies far enough in the past for its hash to be trusted."""
    real = lineage.time.time_ns
    monkeypatch.setattr(lineage.time, "time_ns", lambda: real() + 60_000_000_000)


def test_a_file_is_read_once_then_known(tmp_path: Path, reads: list[Path], later: None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    data = _old_file(tmp_path / "gold.csv", "item_id,label\n1,0\n")
    first = lineage.known_sha256(data)
    monkeypatch.setattr(lineage, "_LOADED", {})  # as a new command: read back from disk
    assert lineage.known_sha256(data) == first == lineage.file_sha256(data)
    assert reads == [data, data]  # the second call to known_sha256 read nothing


def test_a_changed_file_is_read_again(tmp_path: Path, reads: list[Path], later: None) -> None:
    data = _old_file(tmp_path / "gold.csv", "item_id,label\n1,0\n")
    before = lineage.known_sha256(data)
    _old_file(data, "item_id,label\n1,1\n")  # same size, other content, other mtime
    after = lineage.known_sha256(data)
    assert after != before and after == lineage.file_sha256(data)


def test_a_rewrite_that_restores_size_and_mtime_is_read_again(tmp_path: Path,
                                                               reads: list[Path],
                                                               later: None) -> None:
    """The gate's guard (tests/test_gate_reliability.py): new content at the same path, size
    and modification time is still seen, by its status-change time."""
    data = _old_file(tmp_path / "preds.csv", "item_id,score\n1,0.9\n")
    before = lineage.known_sha256(data)
    stat = data.stat()
    with data.open("r+") as handle:  # in place: same inode
        handle.write("item_id,score\n1,0.1\n")
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert data.stat().st_mtime_ns == stat.st_mtime_ns and data.stat().st_ino == stat.st_ino
    assert lineage.known_sha256(data) != before


def test_a_hash_taken_right_after_a_write_is_not_trusted(tmp_path: Path,
                                                         reads: list[Path]) -> None:
    data = tmp_path / "eval.parquet"
    data.write_text("just written")
    lineage.known_sha256(data)
    lineage.known_sha256(data)
    assert reads == [data, data]  # racy: the clock may not have moved on a rewrite


def test_the_off_switch_always_reads(tmp_path: Path, reads: list[Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lineage.SWITCH_ENV, "0")
    data = _old_file(tmp_path / "gold.csv", "x\n")
    lineage.known_sha256(data)
    lineage.known_sha256(data)
    assert reads == [data, data]
    assert not (tmp_path / "cache" / "hashes.json").exists()


def test_an_unreadable_cache_is_ignored(tmp_path: Path, reads: list[Path]) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "hashes.json").write_text("{not json")
    data = _old_file(tmp_path / "gold.csv", "x\n")
    assert lineage.known_sha256(data) == lineage.file_sha256(data)
