"""Terminal output: rich tables for results people read, progress for long work, errors.

Nothing that comes from the data (a label '[/x]', a file 'gold[bold].csv', a model name) is
read as rich markup: table cells, headers and titles are `Text` objects, and notices, errors
and progress labels are escaped, so they print as they are and never crash the output.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

# Outside a terminal (CI logs, pipes) rich would wrap tables at 80 columns; logs are wider.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, width=_WIDTH)


def fmt(value: Any, kind: str = "ratio") -> str:
    """Numbers for people: 93.1% for ratios, 12,345 for counts, blank for undefined."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if kind == "count":
        return f"{int(value):,}"
    if kind == "ratio":
        return f"{100 * float(value):.1f}%"
    return f"{float(value):.3f}"


def table(title: str, frame: pd.DataFrame, kinds: dict[str, str] | None = None,
          max_rows: int = 25) -> Table:
    """A rich table of a frame, formatting columns by kind (count, ratio, num, text)."""
    kinds = kinds or {}
    out = Table(title=Text(title), title_justify="left", show_lines=False)
    for column in frame.columns:
        out.add_column(Text(str(column)), justify="left" if kinds.get(column, "text") == "text"
                       else "right")
    for _, row in frame.head(max_rows).iterrows():
        out.add_row(*[Text(fmt(row[c], kinds[c]) if c in kinds and kinds[c] != "text"
                           else str(row[c])) for c in frame.columns])
    if len(frame) > max_rows:
        out.caption = f"{len(frame) - max_rows:,} more rows in the output file"
    return out


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Any]:
    """A progress display on stderr; yields `advance(label)` to call after each step."""
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                   console=err_console, transient=True)
    with bar:
        task = bar.add_task(escape(description), total=total)

        def advance(label: str = "") -> None:
            bar.update(task, advance=1, description=escape(f"{description} {label}".strip()))

        yield advance


def say(text: str) -> None:
    """A line of plain text (data in it is printed as it is, never as markup)."""
    console.print(text, markup=False, highlight=False)


def notices(lines: Sequence[str]) -> None:
    """Print each line after a yellow 'notice:', as plain text (never read as markup)."""
    for line in lines:
        err_console.print(Text.assemble(("notice:", "yellow"), " ", str(line)))


def error(message: str) -> None:
    """Print a message after a red 'error:', as plain text (never read as markup)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", str(message)), soft_wrap=True)
