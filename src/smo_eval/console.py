"""Terminal output: rich tables for results people read, progress for long work, errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

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
    out = Table(title=title, title_justify="left", show_lines=False)
    for column in frame.columns:
        out.add_column(str(column), justify="left" if kinds.get(column, "text") == "text"
                       else "right")
    for _, row in frame.head(max_rows).iterrows():
        out.add_row(*[fmt(row[c], kinds[c]) if c in kinds and kinds[c] != "text"
                      else str(row[c]) for c in frame.columns])
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
        task = bar.add_task(description, total=total)

        def advance(label: str = "") -> None:
            bar.update(task, advance=1, description=f"{description} {label}".strip())

        yield advance


def notices(lines: Sequence[str]) -> None:
    for line in lines:
        err_console.print(f"[yellow]notice:[/] {line}")


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
