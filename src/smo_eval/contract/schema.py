"""Canonical tables of the data contract (DESIGN.md) and the mapping from a team's columns.

Teams keep their own column names; `data.columns` maps canonical -> source name for every
table and `data.table_columns.<table>` overrides it for one table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    """Which canonical columns a table must and may carry."""

    name: str
    required: tuple[str, ...]
    # Columns whose values are checked (other optional columns pass through as metadata).
    checked: tuple[str, ...] = ()
    # Columns that together identify a row; a repeated key with different values is a conflict.
    key: tuple[str, ...] = ("item_id",)


ITEMS = TableSpec("items", required=("item_id",), checked=("created_at",))
GOLD = TableSpec("gold", required=("item_id", "label"), checked=("risk_category", "labeled_at"))
PREDICTIONS = TableSpec("predictions", required=("item_id", "model", "score"),
                        key=("item_id", "model"))
ANNOTATIONS = TableSpec("annotations", required=("item_id", "annotator_id", "label"),
                        checked=("labeled_at",), key=("item_id", "annotator_id"))

# Columns every table may carry that are not slice dimensions.
NON_DIMENSION_COLUMNS = frozenset(
    {"item_id", "label", "score", "model", "text", "created_at", "labeled_at", "gold_version",
     "reviewer", "annotator_id"}
)


def source_to_canonical(table: str, columns: Mapping[str, str],
                        table_columns: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Rename map (source name -> canonical name) for one table."""
    mapping = {**dict(columns), **dict(table_columns.get(table, {}))}
    return {source: canonical for canonical, source in mapping.items() if source != canonical}
