"""One ContractError for the problems of several validated tables, the causes first.

A wrong column (percent scores, a timestamp mapped as score) breaks every row of a file; listing
the first twenty rows one by one, or the gold items that lost their predictions because of it,
hides the cause. Problems of the same kind in one column are summed up in one line with their
count and first rows, and follow-on problems (rows failing a cross-table check only because the
rows they need were rejected) come after every cause.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from smo_eval.contract.validate import Validated
from smo_eval.errors import ContractError, RowProblem, row_list

# A kind of problem in more rows than this is one line with the count and the first rows.
SHOWN_ROWS = 3


def contract_error(tables: Iterable[Validated]) -> ContractError:
    """The error listing every problem of `tables`: causes first, then follow-on problems."""
    lines: list[RowProblem] = []
    for table in tables:
        lines += table.notices  # a column left out explains the problems that follow
        problems = table.problems
        if problems.empty:
            continue
        follow = (problems["follow_on"].eq(True).to_numpy(dtype=bool)
                  if "follow_on" in problems.columns else np.zeros(len(problems), dtype=bool))
        for subset, follow_on in ((problems[~follow], False), (problems[follow], True)):
            lines += _lines(subset, table.rows_read, follow_on=follow_on)
    return ContractError(lines)


def _lines(problems: pd.DataFrame, rows_read: int, *, follow_on: bool) -> list[RowProblem]:
    """Problems of one table, one line per (column, kind) when that kind is in many rows."""
    if problems.empty:
        return []
    kinds = problems["kind"] if "kind" in problems.columns else pd.Series(
        pd.NA, index=problems.index, dtype="object")
    keyed = problems.assign(kind=kinds.fillna("rows: " + problems["reason"].astype(str)
                                              .str.replace(r" \([^()]*\)$", "", regex=True)))
    out: list[RowProblem] = []
    groups = sorted(keyed.groupby(["column", "kind"], sort=False, dropna=False),
                    key=lambda item: int(item[1]["row"].min()))
    for (column, kind), group in groups:
        group = group.sort_values("row", kind="stable")
        file = str(group["file"].iloc[0])
        if len(group) <= SHOWN_ROWS:
            out += [RowProblem(file, int(r.row), str(r.column), str(r.reason), follow_on=follow_on)
                    for r in group.itertuples(index=False)]
            continue
        rows = [int(r) for r in group["row"].head(5)]
        reasons = group["reason"].astype(str)
        # A value check's reason shows the value; a cross-table reason only adds the key.
        example = ("" if reasons.nunique() == 1 or str(kind).startswith("rows")
                   else f"; first: {reasons.iloc[0]}")
        out.append(RowProblem(
            file, None, str(column), f"{len(group):,} of {rows_read:,} {kind}; "
            f"{row_list(rows, len(group))}{example}", count=len(group), follow_on=follow_on))
    return out
