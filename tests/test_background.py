"""Outputs written by a forked child (smo_eval.io.background): the file, or the child's error
naming it; the in-process fallback when switched off."""

from __future__ import annotations

from pathlib import Path

import pytest

from smo_eval.errors import SmoEvalError
from smo_eval.io.background import OFF_SWITCH, in_background


def test_a_forked_write_leaves_its_file(tmp_path: Path) -> None:
    target = tmp_path / "book.txt"
    pending = in_background(lambda: target.write_text("written by the child"), target)
    assert pending is not None
    assert pending.wait() == [target]
    assert target.read_text() == "written by the child"


def test_a_failed_forked_write_names_the_file_and_the_error(tmp_path: Path) -> None:
    target = tmp_path / "flips.xlsx"

    def fail() -> None:
        raise ValueError("sheet name too long")

    pending = in_background(fail, target)
    assert pending is not None
    with pytest.raises(SmoEvalError, match=r"could not write .*flips\.xlsx: ValueError: "
                                           r"sheet name too long"):
        pending.wait()


def test_a_child_that_dies_is_a_failure_too(tmp_path: Path) -> None:
    import os

    target = tmp_path / "flips.xlsx"
    pending = in_background(lambda: os.kill(os.getpid(), 9), target)
    assert pending is not None
    with pytest.raises(SmoEvalError, match="ended abruptly"):
        pending.wait()


def test_the_off_switch_writes_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv(OFF_SWITCH, "0")
    assert in_background(lambda: None, tmp_path / "x") is None
