"""Errors that end a command with a clear message instead of a traceback.

Every failure a user can cause (bad file, bad config) is raised as an `SmoEvalError`; the
command layer prints its message and exits with its `exit_code`. Exit code 2 means "could not
run": bad input or bad configuration.
"""

from __future__ import annotations

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
    `row` is None when the problem concerns the whole file (missing column, empty file).
    """

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.reason}"


class ContractError(SmoEvalError):
    """Input rows break the data contract; carries every problem found (shown up to a limit)."""

    def __init__(self, problems: list[RowProblem], shown: int = 20) -> None:
        self.problems = problems
        lines = [str(p) for p in problems[:shown]]
        if len(problems) > shown:
            lines.append(f"... and {len(problems) - shown} more problem(s)")
        super().__init__("\n".join(lines))


class GateFailed(SmoEvalError):
    """The release gate ran and its verdict is fail: exit 1 (not "could not run")."""

    exit_code = 1
