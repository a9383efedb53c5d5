"""An output written by a forked child while the command writes the others.

A review workbook is written cell by cell in Python (xlsxwriter): 0.37 s for 5,000 flips,
while the same stage's CSV and Parquet files take as long again at 1e7 rows. On Linux the
workbook is written by a fork of the command (its data is shared, not copied or pickled)
while the command writes the rest; the command waits for it before it records the stage's
lineage, and a child that fails makes the stage fail as an in-process write would, naming
the file. Elsewhere, or with `SMO_EVAL_BACKGROUND_WRITES=0`, the write runs in-process.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smo_eval.errors import SmoEvalError

OFF_SWITCH = "SMO_EVAL_BACKGROUND_WRITES"
_ERROR_BYTES = 4000


@dataclass
class Pending:
    """A child writing `target`; `wait` returns the files written or raises its error."""

    pid: int
    errors: int  # read end of a pipe the child writes its error to
    target: Path

    def wait(self) -> list[Path]:
        _, status = os.waitpid(self.pid, 0)
        with os.fdopen(self.errors, "rb") as pipe:
            error = pipe.read(_ERROR_BYTES).decode("utf-8", "replace")
        if os.waitstatus_to_exitcode(status) != 0:
            raise SmoEvalError(f"could not write {self.target}: "
                               f"{error or 'the writing process ended abruptly'}")
        return [self.target]


def in_background(write: Callable[[], object], target: Path) -> Pending | None:
    """Start `write` (which writes `target`) in a forked child; None where it cannot be, and
    the caller writes in-process.

    The fork happens while Arrow's worker threads exist, idle: the child runs only the
    pure-Python writer and leaves with `os._exit` (no atexit handlers, no flushing the
    command's buffers), which is what makes that safe; Python 3.12 warns about forking a
    threaded process in general, so the warning is silenced here."""
    if sys.platform != "linux" or os.environ.get(OFF_SWITCH, "1") == "0":
        return None
    errors, report = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.close(errors)
            write()
        except BaseException as exc:
            os.write(report, f"{type(exc).__name__}: {exc}".encode()[:_ERROR_BYTES])
            code = 1
        finally:
            os._exit(code)
    os.close(report)
    return Pending(pid, errors, target)
