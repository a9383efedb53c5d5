"""Errors: where and why each model fails (false negatives and false positives apart).

Pure: tables in, tables out. Per model and error kind: failure slices found by a lattice
search over metadata and derived text features (`slices`), a LightGBM error model whose SHAP
contributions name the features and values that drive errors (`drivers`), terms
over-represented in the errors per language (`terms`), a root-cause bucket for every error and
a review queue for QA (`causes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import ErrorsConfig
from smo_eval.engine import lattice
from smo_eval.engine.textfeatures import FEATURES, text_features
from smo_eval.errors import ConfigError
from smo_eval.operating_point import Threshold
from smo_eval.slicekey import to_json
from smo_eval.stages.errors.causes import BUCKETS, disputed, queue, rca
from smo_eval.stages.errors.drivers import drivers
from smo_eval.stages.errors.slices import Columns, failure_slices
from smo_eval.stages.errors.terms import KINDS, error_terms


@dataclass
class ErrorAnalysis:
    failure_slices: pd.DataFrame
    error_drivers: pd.DataFrame
    error_terms: pd.DataFrame
    rca: pd.DataFrame
    review_queue: pd.DataFrame
    summary: dict[str, Any]
    notices: list[str] = field(default_factory=list)


def errors(table: pd.DataFrame, scores: pd.DataFrame, cfg: ErrorsConfig,
           slicing: SlicingConfig, seed: int, *, thresholds: Mapping[str, Threshold],
           annotations: pd.DataFrame | None = None,
           severity: Mapping[str, int] | None = None) -> ErrorAnalysis:
    """Failure slices, error drivers, terms, root causes and a review queue per model, each
    at its operating point in `thresholds` (one threshold or one per row)."""
    models = [str(m) for m in (cfg.models or scores.columns)]
    unknown = [m for m in models if m not in scores.columns]
    if unknown:
        raise ConfigError(f"errors.models names models without predictions: {unknown}")
    notices: list[str] = []
    frame = table.reset_index(drop=True)
    derived = text_features(frame["text"]) if "text" in frame.columns else None
    wanted = list(slicing.dimensions if cfg.columns is None else cfg.columns)
    names = [c for c in wanted if c in frame.columns]
    notices += [f"errors: column '{c}' not in the data: skipped" for c in wanted
                if c not in frame.columns]
    cols = {c: lattice.column_of(c, frame[c]) for c in names}
    if derived is not None:
        cols |= {c: lattice.column_of(c, derived[c]) for c in FEATURES}
    columns = Columns(cols)
    labels = frame["label"].to_numpy().astype(np.int8)
    is_disputed = disputed(frame, annotations)
    rng = np.random.default_rng(seed)
    out: dict[str, list[pd.DataFrame]] = {k: [] for k in
                                          ("slices", "drivers", "terms", "rca", "queue")}
    summary: dict[str, Any] = {}
    term_cache: dict[tuple[str, str], Any] = {}
    for model in models:
        thr = thresholds[model]
        score = scores[model].to_numpy()
        flag = score >= thr
        scored = ~np.isnan(score)
        bucket = np.full(len(frame), -1, dtype=np.int8)
        flags = {b: np.zeros(len(frame), dtype=bool) for b in BUCKETS}
        first_slice = np.full(len(frame), "", dtype=object)
        summary[model] = {}
        for kind, label in KINDS.items():
            pop = scored & (labels == label)
            err = pop & (flag != labels.astype(bool))
            found, why = failure_slices(columns, pop, err, cfg.slices)
            notices += [f"errors: {model} {kind}: no failure slice: {why}"] if why else []
            found.insert(0, "error", kind)
            found.insert(0, "model", model)
            out["slices"].append(found)
            out["drivers"].append(drivers(model, kind, columns, pop, err, cfg.error_model,
                                          rng))
            found_terms, has_term = error_terms(model, kind, frame, derived, pop, err, scored,
                                                flag, labels, scores, thresholds, cfg, rng,
                                                term_cache)
            out["terms"].append(found_terms)
            in_slice = np.zeros(len(frame), dtype=bool)
            for conds in found["conditions"].head(cfg.rca.top_slices)[::-1]:
                member = columns.mask(conds) & err
                first_slice[member] = lattice.name(conds)
                in_slice |= member
            near = np.abs(score - thr) <= cfg.rca.near_threshold
            for name, value in (("label_disputed", is_disputed), ("near_threshold", near),
                                ("over_represented_term", has_term),
                                ("failure_slice", in_slice)):
                flags[name] |= value & err
            summary[model][f"n_{kind}"] = int(err.sum())
            summary[model][f"top_{kind}_slice"] = (lattice.name(found["conditions"].iloc[0])
                                                   if len(found) else None)
        order = [str(b) for b in cfg.rca.order]
        any_error = scored & (flag != labels.astype(bool))
        for code, name in reversed(list(enumerate(order))):
            bucket[flags[name]] = code
        bucket[any_error & (bucket < 0)] = len(order)
        bucket_names = [*order, "unexplained"]
        out["rca"].append(rca(model, frame, slicing, labels, any_error, bucket,
                              bucket_names))
        out["queue"].append(queue(model, frame, score, thr, labels, any_error, bucket,
                                  bucket_names, flags, first_slice, severity, cfg))
        counts = np.bincount(bucket[any_error], minlength=len(bucket_names))
        summary[model]["buckets"] = dict(zip(bucket_names, counts.tolist(), strict=True))
    slices = pd.concat(out["slices"], ignore_index=True)
    slices["slice"] = slices["conditions"].map(lattice.name)
    slices["slice_key"] = slices["conditions"].map(
        lambda conds: to_json(tuple((str(c), str(v)) for c, v in conds)))
    slices = slices.drop(columns=["conditions"])
    slices = slices[["model", "error", "rank", "slice", *[c for c in slices.columns
                                                         if c not in ("model", "error", "rank",
                                                                      "slice")]]]
    ranked = pd.concat(out["queue"], ignore_index=True).sort_values("impact", ascending=False)
    ranked = ranked.head(cfg.review_queue.max_rows).reset_index(drop=True)
    return ErrorAnalysis(slices, _stack(out["drivers"]), _stack(out["terms"]),
                         pd.concat(out["rca"], ignore_index=True), ranked, summary, notices)


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-model results, leaving out empty ones (a model x error kind with too
    few errors) so they do not decide the column dtypes; all empty gives the empty frame."""
    return pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
