"""Errors that end a command with a clear message instead of a traceback.

Every failure a user can cause (bad file, bad config) is raised as an `SmoEvalError`; the
command layer prints its message and exits with its `exit_code`. Exit code 2 means "could not
run": bad input or bad configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class SmoEvalError(Exception):
    """A failure caused by input or configuration, shown to the user without a traceback."""

    exit_code = 2


class ConfigError(SmoEvalError):
    """The configuration is invalid or names something that does not exist."""


@dataclass(frozen=True)
class RowProblem:
    """One row that breaks the data contract, located so a person can find it in the file.

    `row` is numbered as a spreadsheet shows it: the header is row 1, the first data row is 2.
    `row` is None when the problem concerns the whole file (missing column, empty file) or
    when the line sums up `count` rows with the same problem. `follow_on` marks a problem that
    exists only because rows were rejected for another reason (a gold item left without
    predictions because its prediction rows were bad): it is listed after the causes.
    """

    file: str
    row: int | None
    column: str | None
    reason: str
    count: int = 1
    follow_on: bool = False

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.reason}"


def row_list(rows: Sequence[int], total: int, limit: int = 5) -> str:
    """'rows 2, 3, 4, 5, 6, ...' for the first `limit` of `total` rows, as a person reads them."""
    shown = ", ".join(str(r) for r in rows[:limit])
    return f"row{'s' if total > 1 else ''} {shown}{', ...' if total > limit else ''}"


class ContractError(SmoEvalError):
    """Input rows break the data contract; carries every problem found (shown up to a limit).

    The message lists root causes first and follow-on problems after them, so the line a
    person reads first is the one to fix; "... and N more problem(s)" counts every problem
    not shown, including the rows that summary lines stand for.
    """

    def __init__(self, problems: Sequence[RowProblem], shown: int = 20) -> None:
        self.problems = list(problems)
        causes = [p for p in self.problems if not p.follow_on]
        follow = [p for p in self.problems if p.follow_on]
        room = max(shown - min(len(follow), 5), 1)
        lines = [str(p) for p in causes[:room]]
        hidden = sum(p.count for p in causes[room:])
        if hidden:
            lines.append(f"... and {hidden:,} more problem(s)")
        if follow:
            lines += [f"follow-on: {p}" for p in follow[:5]]
            hidden = sum(p.count for p in follow[5:])
            if hidden:
                lines.append(f"... and {hidden:,} more follow-on problem(s)")
        super().__init__("\n".join(lines))


class GateFailed(SmoEvalError):
    """The release gate ran and its verdict is fail: exit 1 (not "could not run")."""

    exit_code = 1
