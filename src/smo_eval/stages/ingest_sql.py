"""Ingest on the DuckDB backend: Parquet inputs (a file, a glob, a hive-partitioned folder)
validated and joined out of core, for inputs larger than memory.

The checks are those of the pandas path on what a typed file can hold: keys and labels
present, labels among `data.labels`, categories in the taxonomy, scores present and in
[0, 1], no key repeated with conflicting values (identical repeats are merged), every
prediction for a gold item (gold items without one are kept as not scored, or rejected with
`data.unscored=error`). Each check is one count in SQL; when a count is not zero the first
rows behind it are fetched with their file and row number (1 = the first data row, as the
pandas path numbers Parquet rows) and the run stops (exit 2). `data.on_error=quarantine` is
the pandas path's. The outputs are ingest's two row-aligned tables, written by DuckDB from
one sorted temporary table: they never pass through pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smo_eval.config.schema_data import DataConfig
from smo_eval.contract.schema import source_to_canonical
from smo_eval.errors import ConfigError, ContractError, RowProblem
from smo_eval.taxonomy import Taxonomy

# Problem rows fetched per check to show where to look.
SHOWN = 20
UNSPECIFIED_CATEGORY = "unspecified"


@dataclass
class LazyTable:
    """A query the backend writes as Parquet itself (`to_parquet`, what the catalog calls) or
    reads into memory (`to_pandas`)."""

    backend: Any
    sql: str

    def to_parquet(self, path: Any, index: bool = False) -> None:
        literal = "'" + str(path).replace("'", "''") + "'"
        self.backend.execute(f"COPY ({self.sql}) TO {literal} (FORMAT PARQUET)")

    def to_pandas(self) -> pd.DataFrame:
        return self.backend.query(self.sql)


@dataclass
class SqlIngest:
    eval_table: LazyTable
    scores: LazyTable
    summary: dict[str, Any]
    models: list[str]


def _view(backend: Any, name: str, path: str, table: str, data_cfg: DataConfig) -> list[str]:
    """A view of one input under canonical names, with its file and row number; its columns."""
    if not str(path).lower().endswith((".parquet", ".pq")) and not Path(path).is_dir():
        raise ConfigError(f"engine.backend=duckdb ingests Parquet (a file, a glob or a folder); "
                          f"data.{table} is {path}: convert it, or use engine.backend=pandas")
    q = backend.quote
    scan = backend.scan(path)
    scan = scan[:-1] + ", filename = true, file_row_number = true)"
    found = [str(c) for c in backend.query(f"DESCRIBE SELECT * FROM {scan}")["column_name"]
             if c not in ("filename", "file_row_number")]
    rename = source_to_canonical(table, data_cfg.columns, data_cfg.table_columns)
    out = [rename.get(c, c) for c in found]
    cols = ", ".join(f"{q(c)} AS {q(rename.get(c, c))}" for c in found)
    backend.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {cols}, filename AS __file, "
                    f"file_row_number + 1 AS __row FROM {scan}")
    return out


def _text(column: str, backend: Any, kinds: Mapping[str, str]) -> str:
    """Trimmed lower-case text of a value, integral numbers without '.0' (as pandas maps)."""
    q = backend.quote(column)
    if kinds.get(column, "").upper() in ("DOUBLE", "FLOAT"):
        return (f"lower(CASE WHEN {q} = round({q}) THEN CAST(CAST({q} AS BIGINT) AS VARCHAR) "
                f"ELSE CAST({q} AS VARCHAR) END)")
    return f"lower(trim(CAST({q} AS VARCHAR)))"


def _literals(values: Any) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) or "NULL"


def _check(backend: Any, checks: list[tuple[str, str, str, str]]) -> list[RowProblem]:
    """Count each (view, column, condition, reason); fetch the first rows of those found."""
    if not checks:
        return []
    counts = backend.query("SELECT " + ", ".join(
        f"(SELECT COUNT(*) FROM {view} WHERE {cond}) AS c{i}"
        for i, (view, _, cond, _) in enumerate(checks))).iloc[0]
    problems: list[RowProblem] = []
    for i, (view, column, cond, reason) in enumerate(checks):
        n = int(counts[f"c{i}"])
        if not n:
            continue
        rows = backend.query(f"SELECT __file, __row FROM {view} WHERE {cond} "
                             f"ORDER BY __file, __row LIMIT {SHOWN}")
        problems += [RowProblem(str(file), int(row), column, reason)
                     for file, row in zip(rows["__file"], rows["__row"], strict=True)]
        if n > len(rows):
            problems.append(RowProblem(str(rows["__file"].iloc[0]), None, column,
                                       f"{n:,} rows in all: {reason}", count=n - len(rows)))
    return problems


def ingest_duckdb(backend: Any, paths: Mapping[str, str | None], data_cfg: DataConfig,
                  taxonomy: Taxonomy) -> SqlIngest:
    """Validate gold and predictions (and items) in DuckDB; raise ContractError on problems."""
    if data_cfg.on_error != "fail":
        raise ConfigError("engine.backend=duckdb ingests with data.on_error=fail; quarantine "
                          "is the pandas backend's")
    if not paths.get("gold") or not paths.get("predictions"):
        raise ContractError([RowProblem("config", None, None,
                                        "data.gold and data.predictions are required")])
    q = backend.quote
    gold_cols = _view(backend, "__gold", str(paths["gold"]), "gold", data_cfg)
    _view(backend, "__preds", str(paths["predictions"]), "predictions", data_cfg)
    items_cols = (_view(backend, "__items", str(paths["items"]), "items", data_cfg)
                  if paths.get("items") else None)
    kinds = dict(backend.query("DESCRIBE SELECT * FROM __gold")[["column_name", "column_type"]]
                 .itertuples(index=False))
    missing = [RowProblem(str(paths[t]), None, c, f"missing required column '{c}'")
               for t, c, cols in (("gold", "item_id", gold_cols), ("gold", "label", gold_cols))
               if c not in cols]
    if missing:
        raise ContractError(missing)
    pos = _literals(sorted({str(v).strip().lower() for v in data_cfg.labels.positive}))
    neg = _literals(sorted({str(v).strip().lower() for v in data_cfg.labels.negative}))
    label = _text("label", backend, kinds)
    has_category = "risk_category" in gold_cols
    checks = [
        ("__gold", "item_id", f"{q('item_id')} IS NULL", "item_id is missing"),
        ("__gold", "label", f"{q('label')} IS NULL", "label is missing"),
        ("__gold", "label", f"{q('label')} IS NOT NULL AND {label} NOT IN ({pos}, {neg})",
         "unknown label value (not among data.labels)"),
        ("__preds", "item_id", f"{q('item_id')} IS NULL", "item_id is missing"),
        ("__preds", "model", f"{q('model')} IS NULL", "model is missing"),
        ("__preds", "score", f"{q('score')} IS NULL OR isnan({q('score')})", "score is missing"),
        ("__preds", "score", f"{q('score')} < 0 OR {q('score')} > 1", "score is outside [0, 1]"),
    ]
    known = [*taxonomy.names, taxonomy.safe_category, UNSPECIFIED_CATEGORY]
    if has_category and taxonomy.names:
        checks.append(("__gold", "risk_category",
                       f"trim(CAST({q('risk_category')} AS VARCHAR)) <> '' AND "
                       f"trim(CAST({q('risk_category')} AS VARCHAR)) NOT IN ({_literals(known)})",
                       "unknown risk category (not in the taxonomy)"))
    problems = _check(backend, checks)
    if problems:  # list the cross-table problems too: every problem is fixed in one pass
        key = q("item_id")
        raise ContractError(problems + _check(backend, [(
            "__preds", "item_id", f"{key} IS NOT NULL AND {key} NOT IN (SELECT {key} FROM "
            f"__gold WHERE {key} IS NOT NULL)", "prediction for an item without gold")]))
    models = [str(m) for m in backend.query(
        f"SELECT DISTINCT CAST({q('model')} AS VARCHAR) AS m FROM __preds ORDER BY m")["m"]]
    return _join(backend, gold_cols, items_cols, models, label, pos, taxonomy, has_category,
                 data_cfg)


def _join(backend: Any, gold_cols: list[str], items_cols: list[str] | None, models: list[str],
          label: str, pos: str, taxonomy: Taxonomy, has_category: bool,
          data_cfg: DataConfig) -> SqlIngest:
    """The sorted wide table (gold, items' metadata, one score per model) and the cross-table
    checks: conflicting repeats, predictions without gold, gold without predictions."""
    q = backend.quote
    key = q("item_id")
    meta = [c for c in gold_cols if c not in ("item_id", "label")]
    category = q("risk_category")
    cat_expr = (f"CASE WHEN {category} IS NULL OR trim(CAST({category} AS VARCHAR)) = '' THEN "
                f"(CASE WHEN {label} IN ({pos}) THEN '{UNSPECIFIED_CATEGORY}' ELSE "
                f"'{taxonomy.safe_category}' END) ELSE trim(CAST({category} AS VARCHAR)) END")
    gold_sel = ", ".join(
        [key, f"CAST(CASE WHEN {label} IN ({pos}) THEN 1 ELSE 0 END AS TINYINT) AS {q('label')}"]
        + [f"{cat_expr} AS {category}" if c == "risk_category" else q(c) for c in meta])
    # Ids counted by a plain aggregate into a temporary table (it spills; a DISTINCT count
    # of 1e8 ids did not fit DuckDB's memory limit).
    backend.execute(f"CREATE OR REPLACE TEMP TABLE __ids AS SELECT {key}, COUNT(*) AS __c "
                    f"FROM __gold GROUP BY {key}")
    rows_read = backend.query(
        "SELECT SUM(__c) AS n, COUNT(*) AS ids, (SELECT COUNT(*) FROM __preds) AS preds "
        "FROM __ids").iloc[0]
    repeats = int(rows_read["n"] - rows_read["ids"])
    gold = f"SELECT {gold_sel}, __row FROM __gold"
    if repeats:  # identical repeats are merged; repeats with other values are errors
        values = ", ".join(q(c) for c in ["label", *meta])
        problems = _check(backend, [(
            "__gold", "item_id", f"{key} IN (SELECT {key} FROM __gold GROUP BY {key} HAVING "
            f"COUNT(DISTINCT ({values})) > 1)", "duplicate item_id with conflicting values")])
        if problems:
            raise ContractError(problems)
        gold += f" QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY __row) = 1"
    pivot = ", ".join(
        f"{agg}(CASE WHEN CAST({q('model')} AS VARCHAR) = '{m}' THEN {value} END) AS {name}{i}"
        for i, m in enumerate(models)
        for agg, value, name in (("MAX", f"CAST({q('score')} AS FLOAT)", "__s"),
                                 ("MIN", f"CAST({q('score')} AS FLOAT)", "__lo"),
                                 ("COUNT", "1", "__n")))
    backend.execute(f"CREATE OR REPLACE TEMP TABLE __pivot AS SELECT {key}, {pivot} "
                    f"FROM __preds GROUP BY {key}")
    conflict = " OR ".join(f"__s{i} <> __lo{i}" for i in range(len(models)))
    checks = [("__preds", "item_id", f"{key} IN (SELECT {key} FROM __pivot WHERE {conflict})",
               "duplicate item_id/model with conflicting scores"),
              ("__preds", "item_id", f"{key} IN (SELECT {key} FROM __pivot ANTI JOIN "
               f"({gold}) AS g USING (item_id))", "prediction for an item without gold")]
    if data_cfg.unscored == "error":
        checks.append(("__gold", "item_id", f"{key} NOT IN (SELECT {key} FROM __pivot)",
                       "gold item has no prediction from any model"))
    items, extra = "", []
    if items_cols is not None:
        extra = [c for c in items_cols if c != "item_id" and c not in gold_cols]
        picked = "".join(f", {q(c)}" for c in extra)
        items = (f" LEFT JOIN (SELECT DISTINCT ON ({key}) {key}{picked} FROM __items) AS i "
                 "USING (item_id)")
        checks.append(("__gold", "item_id", f"{key} NOT IN (SELECT {key} FROM __items)",
                       "gold item not in the items table"))
    problems = _check(backend, checks)
    if problems:
        raise ContractError(problems)
    parent = ""
    if has_category and taxonomy.categories and "parent_category" not in gold_cols:
        cases = " ".join(f"WHEN '{c}' THEN '{p}'" for c, p in taxonomy.parent_of().items())
        parent = f", CASE g.{category} {cases} ELSE g.{category} END AS {q('parent_category')}"
    columns = ["item_id", "label", *meta, *extra] + (["parent_category"] if parent else [])
    backend.execute(
        f"CREATE OR REPLACE TEMP TABLE __wide AS SELECT g.* EXCLUDE (__row){parent}"
        f"{''.join(f', i.{q(c)}' for c in extra)}"
        f"{''.join(f', p.__s{i} AS {q(models[i])}' for i in range(len(models)))} "
        f"FROM ({gold}) AS g LEFT JOIN __pivot AS p USING (item_id){items} ORDER BY g.{key}")
    counts = backend.query(
        "SELECT COUNT(*) AS n, SUM(label) AS pos, "
        + ", ".join(f"COUNT({q(m)}) AS {q('m' + str(i))}" for i, m in enumerate(models))
        + "".join(f", COUNT({q(m)}) FILTER (WHERE {q(m)} NOT IN (0, 1)) AS {q('s' + str(i))}"
                  for i, m in enumerate(models))
        + ", SUM(CASE WHEN " + " AND ".join(f"{q(m)} IS NULL" for m in models)
        + " THEN 1 ELSE 0 END) AS none FROM __wide").iloc[0]
    scored = {m: int(counts[f"m{i}"]) for i, m in enumerate(models)}
    hard = [m for i, m in enumerate(models) if scored[m] and not int(counts[f"s{i}"])]
    n_gold, n_preds = int(rows_read["n"]), int(rows_read["preds"])
    merged_preds = n_preds - sum(scored.values())
    tables = {"gold": {"rows_read": n_gold, "accepted": n_gold - repeats, "quarantined": 0,
                       "duplicates_merged": repeats},
              "predictions": {"rows_read": n_preds, "accepted": n_preds - merged_preds,
                              "quarantined": 0, "duplicates_merged": merged_preds}}
    version = None
    if "gold_version" in columns:
        found = backend.query(f"SELECT DISTINCT CAST({q('gold_version')} AS VARCHAR) AS v FROM "
                              f"__wide WHERE {q('gold_version')} IS NOT NULL ORDER BY v")["v"]
        version = ",".join(map(str, found)) or None
    summary = {"tables": tables, "gold_items": int(counts["n"]),
               "positives": int(counts["pos"] or 0), "models": scored,
               "unscored_by_all": int(counts["none"] or 0), "gold_version": version,
               "hard_label_models": hard}
    cols = ", ".join(q(c) for c in columns)
    return SqlIngest(LazyTable(backend, f"SELECT {cols} FROM __wide"),
                     LazyTable(backend, "SELECT " + ", ".join(q(m) for m in models)
                               + " FROM __wide"), summary, models)
