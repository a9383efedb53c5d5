"""Ingest: validate the input tables against the contract and join them for evaluation.

Produces the evaluation table (one row per gold item, with its metadata) and a wide score
table aligned to it row by row (one float32 column per model, NaN where a model did not score
the item), so every later stage reads columns instead of joining 10 million rows again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import DataConfig
from smo_eval.contract.keys import integer_ids, member, positions
from smo_eval.contract.schema import (
    ANNOTATIONS,
    GOLD,
    ITEMS,
    PREDICTIONS,
    TableSpec,
    mapping_problems,
    source_to_canonical,
)
from smo_eval.contract.summary import contract_error
from smo_eval.contract.validate import LabelMap, Validated, validate_table
from smo_eval.errors import ContractError, RowProblem
from smo_eval.io.readers import RawTable
from smo_eval.pipeline.dataset import hard_label_models
from smo_eval.policies import POLICY
from smo_eval.policies import contract as by_policy
from smo_eval.policies.dataset import mark_borderline
from smo_eval.taxonomy import Taxonomy

ROW = "_row"


@dataclass
class IngestResult:
    """Validated tables ready for the stages, and what happened to every row read."""

    eval_table: pd.DataFrame
    scores: pd.DataFrame
    annotations: pd.DataFrame | None
    problems: pd.DataFrame
    rejected: dict[str, pd.DataFrame]
    summary: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return list(self.scores.columns)


def ingest(raw: Mapping[str, RawTable | None], data_cfg: DataConfig,
           taxonomy: Taxonomy) -> IngestResult:
    """Validate items (optional), gold, predictions and annotations (optional); join them.

    Raises ContractError when a row breaks the contract and `data.on_error` is `fail`, or when
    quarantine would set aside more than `data.max_quarantine_share` of a table.
    """
    labels = LabelMap.from_lists(data_cfg.labels.positive, data_cfg.labels.negative,
                                 data_cfg.labels.borderline)
    columns, per_table = data_cfg.columns, data_cfg.table_columns
    mapped = mapping_problems({n: (str(t.path), [str(c) for c in t.frame.columns])
                               for n, t in raw.items() if t is not None}, columns, per_table)
    if mapped:
        raise ContractError(mapped)
    # Per-policy predictions switch on one-vs-rest evaluation (smo_eval.policies).
    multi = by_policy.carries_policy(raw.get("predictions"),
                                     source_to_canonical("predictions", columns, per_table))

    def check(name: str, spec: TableSpec | None = None, **kwargs: Any) -> Validated | None:
        table = raw.get(name)
        if table is None:
            return None
        spec = spec or {"items": ITEMS, "gold": GOLD, "predictions": PREDICTIONS,
                        "annotations": ANNOTATIONS}[name]
        # Validation only ever replaces whole columns: the read data is not copied.
        return validate_table(table.numbered(ROW), spec,
                              source_to_canonical(name, columns, per_table), **kwargs)

    gold = check("gold", by_policy.GOLD_BY_POLICY if multi else None, labels=labels,
                 categories=taxonomy.names, safe_category=taxonomy.safe_category)
    predictions = check("predictions", by_policy.PREDICTIONS_BY_POLICY if multi else None)
    if gold is None or predictions is None:
        raise ContractError([RowProblem("config", None, None,
                                        "data.gold and data.predictions are required")])
    items = check("items")
    annotations = check("annotations", labels=LabelMap.from_lists(data_cfg.labels.positive,
                                                                  data_cfg.labels.negative))
    tables = {t.name: t for t in (items, gold, predictions, annotations) if t is not None}

    policies: list[str] = []
    if multi:
        policies = by_policy.check(gold, predictions, data_cfg,
                                   lambda table, mask, column, reason: _reject(
                                       table, _raw(raw, table.name), mask, column, reason))
    _cross_check(tables, raw, keep_unscored=data_cfg.unscored == "keep")
    _enforce_policy(tables, data_cfg)

    if multi:
        gold_frame = tables["gold"].frame
        joined = _join_items(by_policy.first_per_item(gold_frame),
                             items.frame if items else None, taxonomy)
        eval_table = by_policy.expand(
            joined, by_policy.states(gold_frame, data_cfg.policies.delimiter), policies,
            borderline=bool(labels.borderline))
        scores = by_policy.wide_scores(eval_table, tables["predictions"].frame)
    else:
        eval_table = _join_items(tables["gold"].frame, items.frame if items else None, taxonomy)
        if labels.borderline:
            eval_table = mark_borderline(eval_table)
        scores = _wide_scores(eval_table["item_id"], tables["predictions"].frame)
    found = [t.problems for t in tables.values() if not t.problems.empty]
    problems = pd.concat(found, ignore_index=True) if found else tables["gold"].problems
    ann = tables["annotations"].frame.drop(columns=ROW) if "annotations" in tables else None
    return IngestResult(
        eval_table=eval_table, scores=scores, annotations=ann, problems=problems,
        rejected={n: t.rejected for n, t in tables.items() if not t.rejected.empty},
        summary=_summary(tables, eval_table, scores) | _extra_summary(eval_table, policies),
        notices=[str(n) for t in tables.values() for n in t.notices]
        + coverage_notices(scores, len(eval_table)),
    )


def coverage(scores: pd.DataFrame, gold_items: int) -> pd.DataFrame:
    """Per model: gold items, how many it scored, how many not, and the share scored."""
    scored = np.array([int(scores[m].notna().sum()) for m in scores.columns], dtype=np.int64)
    return pd.DataFrame({"model": [str(m) for m in scores.columns], "gold_items": gold_items,
                         "scored": scored, "unscored": gold_items - scored,
                         "scored_share": scored / max(gold_items, 1)})


def coverage_notices(scores: pd.DataFrame, gold_items: int) -> list[str]:
    """One line per model that did not score every gold item (never silently left out)."""
    table = coverage(scores, gold_items)
    none = int(scores.isna().all(axis=1).sum()) if scores.shape[1] else gold_items
    out = [f"{none:,} of {gold_items:,} gold items ({none / max(gold_items, 1):.1%}) have no "
           "prediction from any model: kept, and counted as not scored"] if none else []
    out += [f"{r.model}: scored {r.scored:,} of {r.gold_items:,} gold items "
            f"({r.scored_share:.1%}); {r.unscored:,} not scored" for r in table.itertuples()
            if r.unscored]
    return out


def _flag_rows(table: Validated, raw: RawTable, mask: np.ndarray, column: str,
               reason: str | np.ndarray,
               follow_on: tuple[np.ndarray, str] | None = None) -> None:
    """Move rows that failed a cross-table check from the good rows to the problems.

    `reason` is one text, or one per flagged row. `follow_on` gives the rows that fail only
    because rows they need were rejected, with their reason: they are listed after the causes.
    """
    if not mask.any():
        return
    bad = table.frame.loc[mask]
    later = follow_on[0][mask] if follow_on is not None else np.zeros(len(bad), dtype=bool)
    why = pd.Series(np.where(later, follow_on[1] if follow_on else "", reason), index=bad.index)
    value = bad[column].astype("string")
    shown = (" (" + value.fillna("") + ")").where(value.notna(), "")  # no value: reason only
    extra = pd.DataFrame({"file": str(raw.path), "row": bad[ROW].to_numpy(), "column": column,
                          "reason": why + shown, "follow_on": later})
    table.problems = pd.concat([p for p in (table.problems, extra) if not p.empty],
                               ignore_index=True)
    original = raw.frame.iloc[bad[ROW].to_numpy() - raw.first_row].reset_index(drop=True)
    meta = pd.DataFrame({"source_file": str(raw.path), "row": bad[ROW].to_numpy(),
                         "problem": extra["reason"].to_numpy(), "columns": column})
    rejected = pd.concat([meta, original], axis=1)
    table.rejected = (rejected if table.rejected.empty
                      else pd.concat([table.rejected, rejected], ignore_index=True))
    table.frame = table.frame.loc[~mask].reset_index(drop=True)


def _cross_check(tables: dict[str, Validated], raw: Mapping[str, RawTable | None],
                 keep_unscored: bool = True) -> None:
    """Every prediction has gold, every gold item has a prediction and (if given) an item row."""
    gold, preds = tables["gold"], tables["predictions"]
    pred_ids = preds.frame["item_id"]
    if pred_ids.dtype != gold.frame["item_id"].dtype:
        pred_ids = pred_ids.astype("string")
        gold.frame["item_id"] = gold.frame["item_id"].astype("string")
        preds.frame["item_id"] = pred_ids
    orphan = ~member(pred_ids, gold.frame["item_id"])
    _flag_rows(preds, _raw(raw, "predictions"), orphan, "item_id",
               "prediction for an item without gold",
               (_among(preds.frame["item_id"], gold), "prediction for an item whose gold row "
                "was rejected"))
    unscored = ~member(gold.frame["item_id"], preds.frame["item_id"])
    lost_predictions = _among(gold.frame["item_id"], preds)
    if keep_unscored:
        # Kept: every model counts them as gold items it did not score (coverage).
        unscored &= lost_predictions
    _flag_rows(gold, _raw(raw, "gold"), unscored, "item_id",
               "gold item has no prediction from any model",
               (lost_predictions, "gold item has no prediction left: its "
                "prediction rows were rejected"))
    if "items" in tables:
        items = tables["items"]
        item_ids = items.frame["item_id"]
        if item_ids.dtype != gold.frame["item_id"].dtype:
            items.frame["item_id"] = item_ids.astype("string")
            gold.frame["item_id"] = gold.frame["item_id"].astype("string")
        missing = ~member(gold.frame["item_id"], items.frame["item_id"])
        _flag_rows(gold, _raw(raw, "gold"), missing, "item_id", "gold item not in the items table",
                   (_among(gold.frame["item_id"], items), "gold item whose items row was "
                    "rejected"))
        # Predictions of gold rows removed above now point at nothing: move them too.
        orphan = ~member(preds.frame["item_id"], gold.frame["item_id"])
        _flag_rows(preds, _raw(raw, "predictions"), orphan, "item_id",
                   "prediction for an item whose gold row was rejected",
                   (orphan, "prediction for an item whose gold row was rejected"))
    if "annotations" in tables:
        ann = tables["annotations"]
        known = gold.frame["item_id"]
        if "items" in tables:
            known = pd.concat([known, tables["items"].frame["item_id"]])
        if ann.frame["item_id"].dtype != known.dtype:
            ann.frame["item_id"] = ann.frame["item_id"].astype("string")
            known = known.astype("string")
        stray = ~member(ann.frame["item_id"], known)
        lost = _among(ann.frame["item_id"], gold)
        if "items" in tables:
            lost |= _among(ann.frame["item_id"], tables["items"])
        _flag_rows(ann, _raw(raw, "annotations"), stray, "item_id",
                   "annotation for an unknown item",
                   (lost, "annotation for an item whose gold or items row was rejected"))


def _reject(table: Validated, raw: RawTable, mask: np.ndarray, column: str,
            reason: str | np.ndarray) -> None:
    """`_flag_rows` for a rule of one table: the rejected keys are remembered, so rows of
    other tables that lose their partner are listed as follow-on problems."""
    if mask.any():
        lost = table.frame.loc[mask, "item_id"].astype("string")
        table.rejected_ids = pd.concat([table.rejected_ids.astype("string"), lost])
    _flag_rows(table, raw, mask, column, reason)


def _extra_summary(eval_table: pd.DataFrame, policies: list[str]) -> dict[str, Any]:
    """Per-policy and borderline counts, only where those features are on."""
    out: dict[str, Any] = {}
    if policies:
        out |= {"policies": policies, "items": int(eval_table["item_id"].nunique())}
    if "borderline" in eval_table.columns:
        out["borderline"] = int(eval_table["borderline"].sum())
    return out


def _among(ids: pd.Series, table: Validated) -> np.ndarray:
    """Which ids are keys of rows `table` rejected (compared as text: types may differ)."""
    if table.rejected_ids.empty:  # the usual case: no text conversion of every id
        return np.zeros(len(ids), dtype=bool)
    rejected = table.rejected_ids.astype("string")
    return ids.astype("string").isin(rejected).fillna(False).to_numpy(dtype=bool)


def _raw(raw: Mapping[str, RawTable | None], name: str) -> RawTable:
    table = raw[name]
    assert table is not None
    return table


def _enforce_policy(tables: dict[str, Validated], data_cfg: DataConfig) -> None:
    """Fail on any problem (on_error=fail) or when quarantine would set aside too much."""
    problems = [t for t in tables.values() if not t.problems.empty]
    if not problems:
        return
    if data_cfg.on_error != "quarantine":
        raise contract_error(tables.values())
    limit = data_cfg.max_quarantine_share
    for table in problems:
        share = len(table.rejected) / max(table.rows_read, 1)
        if share > limit:
            raise ContractError([RowProblem(
                str(table.problems["file"].iloc[0]), None, None,
                f"{len(table.rejected)} of {table.rows_read} {table.name} rows "
                f"({share:.1%}) break the contract, above data.max_quarantine_share={limit:.1%}; "
                f"first problem: {table.problems['reason'].iloc[0]}")])


def _join_items(gold: pd.DataFrame, items: pd.DataFrame | None, taxonomy: Taxonomy) -> pd.DataFrame:
    """One row per gold item, sorted by item_id, metadata from items (gold's columns win)."""
    table = gold.drop(columns=ROW)
    if items is not None:
        meta = items.drop(columns=ROW)
        meta = meta[[c for c in meta.columns if c == "item_id" or c not in table.columns]]
        table = table.merge(meta, on="item_id", how="left", validate="one_to_one")
    if not table["item_id"].is_monotonic_increasing:  # files usually come sorted: no copy then
        table = table.sort_values("item_id", kind="stable")
    table = table.reset_index(drop=True)
    if "risk_category" in table.columns:
        table["risk_category"] = table["risk_category"].astype("category")
        if taxonomy.categories and "parent_category" not in table.columns:
            table["parent_category"] = taxonomy.parent_column(table["risk_category"])
    for column in table.columns:
        textual = table[column].dtype == object or pd.api.types.is_string_dtype(table[column])
        if textual and column not in {"item_id", "text"} and (
                table[column].nunique() < 0.5 * len(table)):
            table[column] = table[column].astype("category")
    return table


def _wide_scores(item_ids: pd.Series, predictions: pd.DataFrame) -> pd.DataFrame:
    """One float32 column per model, aligned to the evaluation table's rows.

    Every prediction's item is a gold item (cross-checked before). A model whose rows list
    the gold items in the table's own order (scores produced by running the model over the
    gold file) is taken as it is; otherwise integer ids find their row by direct addressing
    or binary search (smo_eval.contract.keys), 5x faster than a hash lookup at 2e7
    predictions, and other ids by a hash lookup."""
    ids, wanted = integer_ids(item_ids), integer_ids(predictions["item_id"])
    rows: np.ndarray | None = None
    model = predictions["model"].astype("category")
    codes, scores = model.cat.codes.to_numpy(), predictions["score"].to_numpy(np.float32)
    out = {}
    for code, name in enumerate(model.cat.categories):  # the order groupby(sort=True) gave
        chosen = codes == code
        if not chosen.any():
            continue  # an unused category (observed models only)
        if ids is not None and wanted is not None and int(chosen.sum()) == len(ids) and \
                np.array_equal(wanted[chosen], ids):
            out[str(name)] = scores[chosen]
            continue
        if rows is None:
            rows = (positions(wanted, ids) if ids is not None and wanted is not None
                    else pd.Index(item_ids).get_indexer(predictions["item_id"]))
        column = np.full(len(item_ids), np.nan, dtype=np.float32)
        column[rows[chosen]] = scores[chosen]
        out[str(name)] = column
    return pd.DataFrame(out)


def _summary(tables: dict[str, Validated], eval_table: pd.DataFrame,
             scores: pd.DataFrame) -> dict[str, Any]:
    per_table = {
        name: {"rows_read": t.rows_read, "accepted": len(t.frame),
               "quarantined": len(t.rejected), "duplicates_merged": t.duplicates_merged}
        for name, t in tables.items()
    }
    return {
        "tables": per_table,
        "gold_items": len(eval_table),
        "positives": int(eval_table["label"].sum()),
        "models": {m: int(scores[m].notna().sum()) for m in scores.columns},
        "unscored_by_all": int(scores.isna().all(axis=1).sum()) if scores.shape[1] else 0,
        "gold_version": _gold_version(eval_table),
        "hard_label_models": hard_label_models(scores),
    }


def _gold_version(eval_table: pd.DataFrame) -> str | None:
    if "gold_version" not in eval_table.columns:
        return None
    versions = sorted(map(str, eval_table["gold_version"].dropna().unique()))
    return ",".join(versions) if versions else None


def append_predictions(eval_table: pd.DataFrame, scores: pd.DataFrame,
                       extra: Mapping[str, RawTable], data_cfg: DataConfig) -> pd.DataFrame:
    """Validate further prediction files against the gold items and add their models' columns.

    Each file is checked like `predictions` (columns, scores in [0, 1], duplicates) and every
    row must name a gold item; a model already in the score table is a configuration error,
    so a challenger can never silently replace the champion's scores.
    """
    rename = source_to_canonical("predictions", data_cfg.columns, data_cfg.table_columns)
    out = scores
    for name, table in extra.items():
        raw = table.numbered(ROW)
        spec = by_policy.PREDICTIONS_BY_POLICY if POLICY in eval_table.columns else PREDICTIONS
        checked = validate_table(raw, spec, rename)
        problems = contract_error([checked]).problems
        if problems:
            raise ContractError(problems)
        out = join_scores(eval_table, out, checked.frame, name)
    return out


def join_scores(eval_table: pd.DataFrame, scores: pd.DataFrame, predictions: pd.DataFrame,
                source: str) -> pd.DataFrame:
    """Add the models of a canonical predictions frame (item_id, model, score) as columns.

    Every item must be a gold item, and no model may already have a column: a challenger
    never silently replaces the champion's scores.
    """
    frame = predictions
    index = pd.Index(eval_table["item_id"])
    if frame["item_id"].dtype != index.dtype:
        frame = frame.assign(item_id=frame["item_id"].astype("string"))
        index = index.astype("string")
    orphan = ~frame["item_id"].isin(index).to_numpy()
    if orphan.any():
        rows = frame.loc[orphan, ROW].head(20) if ROW in frame.columns else \
            pd.Series(np.flatnonzero(orphan)[:20] + 1)
        raise ContractError([RowProblem(source, int(r), "item_id",
                                        "prediction for an item without gold") for r in rows])
    clash = sorted(set(map(str, frame["model"].unique())) & set(map(str, scores.columns)))
    if clash:
        raise ContractError([RowProblem(source, None, "model",
                                        f"model(s) {clash} already in the predictions")])
    if POLICY in eval_table.columns:
        return pd.concat([scores, by_policy.joined_scores(eval_table, frame, source)],
                         axis=1)
    return pd.concat([scores, _wide_scores(pd.Series(index), frame)], axis=1)

