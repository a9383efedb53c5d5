"""Labels: can we trust the gold? Agreement per slice, annotators, adjudication, label issues.

Pure: validated annotations (and, when present, the evaluation table and the aligned scores)
in, tables out. Slices of agreement come from the items' metadata in the evaluation table
(`labels.slices`); suspected errors are rated over the same slices as `evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import LabelsConfig
from smo_eval.engine.slices import build_slice_index
from smo_eval.policies import POLICY
from smo_eval.stages.adjudication import adjudicate, annotator_scores
from smo_eval.stages.agreement import Ratings, slice_agreement
from smo_eval.stages.label_issues import POSTERIOR, find_issues, issue_rates, model_probability

AGREEMENT_COLUMNS = ["slice", "n_items", "n_annotators", "fleiss_kappa", "krippendorff_alpha",
                     "mean_pairwise_cohen_kappa"]


@dataclass
class LabelQuality:
    """What `labels` found; tables are empty when their inputs were absent."""

    agreement: pd.DataFrame
    annotators: pd.DataFrame
    pairs: pd.DataFrame
    adjudicated: pd.DataFrame
    issues: pd.DataFrame
    issue_rates: pd.DataFrame
    headline: dict[str, Any]
    notices: list[str] = field(default_factory=list)


def _gold_per_item(items: pd.Index, table: pd.DataFrame | None) -> np.ndarray | None:
    if table is None:
        return None
    gold = pd.Series(table["label"].to_numpy(), index=pd.Index(table["item_id"]).astype("string"))
    if not gold.index.is_unique:  # per-policy rows: annotators judge the item (any policy)
        gold = gold.groupby(level=0).max()
    return gold.reindex(items.astype("string")).fillna(-1).to_numpy().astype(np.int64)


def _annotated_rows(table: pd.DataFrame, item_ids: pd.Series) -> pd.DataFrame:
    """The rows of the evaluation table that were annotated (a few percent of 10^7 rows),
    matched on the native dtype (ingest aligns it) and as text only when that finds none."""
    ids = item_ids.drop_duplicates()
    rows = table[table["item_id"].isin(ids)]
    if rows.empty and table["item_id"].dtype != ids.dtype:
        rows = table[table["item_id"].astype("string").isin(ids.astype("string"))]
    return rows


def agreement(annotations: pd.DataFrame, table: pd.DataFrame | None, cfg: LabelsConfig
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """Agreement per slice, annotator pairs, annotators, adjudicated items, notices."""
    notices: list[str] = []
    r = Ratings.from_frame(annotations)
    dims = [str(d) for d in cfg.slices or []]
    if table is not None:
        table = _annotated_rows(table, annotations["item_id"])
        meta = table.copy()
        meta["item_id"] = meta["item_id"].astype("string")
        meta = meta.drop_duplicates("item_id").set_index("item_id").reindex(
            r.items.astype("string")).reset_index()
    else:
        meta = annotations.drop_duplicates("item_id").set_index("item_id").reindex(
            r.items).reset_index()
    missing = [d for d in dims if d not in meta.columns]
    if missing:
        notices.append(f"labels.slices not in the data, agreement not sliced by: "
                       f"{', '.join(missing)}")
    dims = [d for d in dims if d in meta.columns]
    for column in dims:
        if not isinstance(meta[column].dtype, pd.CategoricalDtype):
            meta[column] = meta[column].astype("string")
    index, skipped = build_slice_index(meta, dims, [])
    notices += skipped
    slices, pairs = slice_agreement(r, index, index.cell_of_row, cfg.min_shared_items)
    gold = _gold_per_item(r.items, table)
    adjudicated = adjudicate(r, cfg.adjudication, gold)
    if r.identified:
        annotators = annotator_scores(r, adjudicated["adjudicated"].to_numpy(), gold)
    else:
        annotators = pd.DataFrame()
        notices.append("annotator ids identify single judgments (no annotator rated two items): "
                       "pairwise Cohen's kappa and per-annotator agreement are not computable; "
                       "Fleiss' kappa and Krippendorff's alpha are")
    if not pairs.empty and not pairs["cohen_kappa"].notna().any():
        notices.append(f"no annotator pair shares {cfg.min_shared_items} items "
                       "(labels.min_shared_items): pairwise Cohen's kappa not computed")
    return slices, pairs, annotators, adjudicated, notices


def label_quality(annotations: pd.DataFrame | None, table: pd.DataFrame | None,
                  scores: pd.DataFrame | None, cfg: LabelsConfig,
                  slicing: SlicingConfig, *, seed: int = 0) -> LabelQuality:
    """Everything `smo-eval labels` reports, from whichever inputs exist."""
    notices: list[str] = []
    empty = pd.DataFrame()
    if annotations is not None and len(annotations):
        slices, pairs, annotators, adjudicated, found = agreement(annotations, table, cfg)
        notices += found
    else:
        slices, pairs, annotators, adjudicated = (pd.DataFrame(columns=AGREEMENT_COLUMNS), empty,
                                                  empty, empty)
        notices.append("no annotations configured (data.annotations): agreement skipped")
    issues, rates = empty, empty
    reliability: dict[str, float] = {}
    if table is not None and scores is not None and scores.shape[1]:
        issue_cfg = cfg.issues
        p = model_probability(scores, list(issue_cfg.models) or None)
        dims = list(slicing.dimensions)
        ratings = Ratings.from_frame(annotations) if len(adjudicated) else None
        per_policy = POLICY in table.columns
        if per_policy and ratings is not None:
            ratings = None
            notices.append("per-policy gold: annotators judge items, not policies, so suspected "
                           "label errors come from model scores alone (confident learning per "
                           "item and policy)")
        issues, reliability = find_issues(table, p, ratings, issue_cfg, dims, seed=seed)
        index, _ = build_slice_index(table, dims, slicing.crosses)
        flagged = (pd.MultiIndex.from_frame(table[["item_id", POLICY]].astype("string")).isin(
            pd.MultiIndex.from_frame(issues[["item_id", POLICY]].astype("string")))
            if per_policy and len(issues) else pd.Index(table["item_id"]).isin(issues["item_id"]))
        rates = issue_rates(index, np.asarray(flagged))
        if reliability:
            notices.append(_method_notice(issues, reliability))
    else:
        notices.append("no gold with model scores: suspected label errors skipped")
    headline = {**_headline(slices, annotators, adjudicated, issues, table), **reliability}
    return LabelQuality(slices, annotators, pairs, adjudicated, issues, rates, headline, notices)


def _method_notice(issues: pd.DataFrame, reliability: Mapping[str, float]) -> str:
    """How the suspected errors were found, with the reliabilities that weighed the evidence."""
    by_posterior = int((issues["reason"] == POSTERIOR).sum())
    return (f"suspected label errors: {by_posterior:,} on annotated items, from annotator votes "
            "and model scores weighed by their estimated reliability (pooled annotator "
            f"sensitivity {reliability['annotator_sensitivity']:.3f}, specificity "
            f"{reliability['annotator_specificity']:.3f}; model calibration slope "
            f"{reliability['model_calibration_slope']:.3f}); "
            f"{len(issues) - by_posterior:,} on items without annotations, by confident learning")


def _headline(slices: pd.DataFrame, annotators: pd.DataFrame, adjudicated: pd.DataFrame,
              issues: pd.DataFrame, table: pd.DataFrame | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if len(slices):
        overall = slices.iloc[0]
        for key in ("fleiss_kappa", "krippendorff_alpha", "mean_pairwise_cohen_kappa"):
            value = float(overall[key])
            out[key] = None if np.isnan(value) else round(value, 6)
        out["annotated_items"] = int(overall["n_items"])
    if len(adjudicated):
        out["disputed_items"] = int(adjudicated["disputed"].sum())
        out["disputed_share"] = round(float(adjudicated["disputed"].mean()), 6)
    if len(annotators):
        out["least_reliable_annotator"] = str(annotators["annotator_id"].iloc[-1])
    if table is not None and len(issues):
        out["suspected_label_errors"] = len(issues)
        out["suspected_error_rate"] = round(len(issues) / max(len(table), 1), 6)
    return out
