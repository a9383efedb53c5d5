"""Canonical tables of the data contract (DESIGN.md) and the mapping from a team's columns.

Teams keep their own column names; `data.columns` maps canonical -> source name for every
table and `data.table_columns.<table>` overrides it for one table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from smo_eval.errors import RowProblem


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

SPECS = {spec.name: spec for spec in (ITEMS, GOLD, PREDICTIONS, ANNOTATIONS)}

# Columns every table may carry that are not slice dimensions.
NON_DIMENSION_COLUMNS = frozenset(
    {"item_id", "label", "score", "model", "text", "created_at", "labeled_at", "gold_version",
     "reviewer", "annotator_id"}
)


def source_to_canonical(table: str, columns: Mapping[str, object],
                        table_columns: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """Rename map (source name -> canonical name) for one table (a null mapping maps nothing).

    Source names are trimmed as the readers trim the header.
    """
    mapping = {**dict(columns), **dict(table_columns.get(table) or {})}
    return {str(source).strip(): str(canonical) for canonical, source in mapping.items()
            if source is not None and str(source).strip() != str(canonical)}


def mapping_problems(found: Mapping[str, tuple[str, Sequence[str]]],
                     columns: Mapping[str, object],
                     table_columns: Mapping[str, Mapping[str, object]]) -> list[RowProblem]:
    """Mappings that name a column no input file has: the user asked for it, so it is an error.

    `found` gives, per table read, its file and column names. A per-table mapping
    (`data.table_columns.<table>.<canonical>`) must name a column of that table's file; a
    mapping for all tables (`data.columns.<canonical>`) that renames (source differs from the
    canonical name, unlike the defaults) must name a column of at least one file it applies to.
    A required column that a file lacks under both names is left to the table's own check,
    which names the file.
    """
    problems = []
    for table, overrides in table_columns.items():
        if table not in found:
            continue
        file, names = found[table]
        for canonical, source in (overrides or {}).items():
            if source is not None and str(source).strip() not in names and not _left_to_table(
                    table, canonical, names):
                problems.append(RowProblem(
                    f"config data.table_columns.{table}.{canonical}", None, None,
                    f"names column '{source}', which {file} does not have "
                    f"(its columns: {_listed(names)})"))
    for canonical, source in columns.items():
        if source is None or str(source).strip() == str(canonical):
            continue
        applies = [t for t in found if canonical not in (table_columns.get(t) or {})]
        if applies and not any(str(source).strip() in found[t][1] or _left_to_table(
                t, canonical, found[t][1]) for t in applies):
            where = "; ".join(f"{found[t][0]} has {_listed(found[t][1])}" for t in applies)
            problems.append(RowProblem(
                f"config data.columns.{canonical}", None, None,
                f"names column '{source}', which none of the input files has ({where})"))
    return problems


def _left_to_table(table: str, canonical: str, names: Sequence[str]) -> bool:
    spec = SPECS.get(table)
    return spec is not None and canonical in spec.required and canonical not in names


def _listed(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} columns)" if len(names) > limit else "")
