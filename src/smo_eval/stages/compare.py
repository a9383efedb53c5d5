"""Compare: a baseline (champion) against candidates, per slice, with paired significance.

Pure: takes the evaluation table and the aligned score table and returns tables. Both models
are judged on the items both scored (the rest are counted, never silently dropped). Per slice
and metric: the delta, a paired bootstrap interval of it, a p-value (exact McNemar on the
discordant items for recall and FPR, the paired bootstrap for precision and F1), p-values
corrected across the slices and metrics of a candidate, and a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import CompareConfig, EvaluateConfig
from smo_eval.engine.metrics import count_metrics
from smo_eval.engine.paired import (
    adjust_pvalues,
    count_paired,
    discordant,
    mcnemar_exact,
    paired_bootstrap,
    split_cells,
)
from smo_eval.engine.slices import SliceIndex, build_slice_index
from smo_eval.errors import ConfigError
from smo_eval.operating_point import Threshold, given_or_configured
from smo_eval.slicekey import to_json

if TYPE_CHECKING:
    from smo_eval.engine.backends import Relation

COLUMNS = ["baseline", "candidate", "slice", "metric", "baseline_value", "candidate_value",
           "delta", "delta_lo", "delta_hi", "p_value", "p_adjusted", "verdict",
           "test", "dimension", "n", "n_pos", "n_neg", "n_discordant", "low_support",
           "baseline_tp", "baseline_fp", "baseline_fn", "baseline_tn", "candidate_tp",
           "candidate_fp", "candidate_fn", "candidate_tn", "slice_key"]
VERDICTS = ("improved", "regressed", "no_change", "insufficient_evidence")
METRICS = ("recall", "precision", "fpr", "f1")
# Metrics where a lower value is better.
LOWER_IS_BETTER = frozenset({"fpr"})
# McNemar's test applies to metrics whose denominator does not depend on the model.
MCNEMAR_LABEL = {"recall": 1, "fpr": 0}
CORRECTIONS = {"bh": "fdr_bh", "holm": "holm"}
FLIP_KINDS = {(1, 1, 0): "new_miss", (0, 0, 1): "new_false_flag"}


@dataclass
class Comparison:
    """What `compare` found: per-slice deltas and verdicts, flipped items, coverage."""

    table: pd.DataFrame
    flips: pd.DataFrame
    coverage: pd.DataFrame
    summary: dict[str, Any]
    notices: list[str] = field(default_factory=list)


def pair(cfg: CompareConfig, models: list[str]) -> tuple[str, list[str]]:
    """The baseline and the candidates present: `compare.baseline` (else the first model) and
    `compare.candidates` (else every other model); optional candidates without predictions
    are left out."""
    if not models:
        raise ConfigError("compare: the predictions hold no model")
    baseline = cfg.baseline or models[0]
    optional = set(cfg.optional_candidates)
    named = cfg.candidates or [m for m in models if m != baseline]
    candidates = [c for c in named if c in models or c not in optional]
    unknown = [m for m in [baseline, *candidates] if m not in models]
    if unknown:
        raise ConfigError(f"compare.baseline/compare.candidates name models without "
                          f"predictions: {unknown}; known: {models}")
    candidates = [c for c in candidates if c != baseline]
    if not candidates:
        raise ConfigError("compare: no candidate to compare with the baseline "
                          f"{baseline} (compare.candidates; models: {models})")
    return baseline, candidates


def _check(cfg: CompareConfig) -> list[str]:
    metrics = list(cfg.metrics or METRICS)
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise ConfigError(f"compare.metrics {bad} not supported; choose from {list(METRICS)}")
    return metrics


def compare(table: pd.DataFrame, scores: pd.DataFrame, cfg: CompareConfig,
            slicing: SlicingConfig, seed: int, *,
            thresholds: Mapping[str, Threshold] | None = None,
            severity: Mapping[str, int] | None = None,
            operating_point: EvaluateConfig | None = None) -> Comparison:
    """Baseline vs each candidate on the slices of `slicing` (the same as evaluate), each model
    at its operating point: `thresholds` (from `smo_eval.operating_point.resolve`), else the
    one `operating_point` (the evaluate settings) configures."""
    baseline, candidates = pair(cfg, [str(c) for c in scores.columns])
    metrics = _check(cfg)
    thr = given_or_configured(operating_point or EvaluateConfig(), table,
                              [baseline, *candidates], thresholds)
    index, notices = build_slice_index(table, slicing.dimensions, slicing.crosses)
    notices += [f"candidate {c} has no predictions yet: left out" for c in
                cfg.optional_candidates if c not in scores.columns]
    labels = table["label"].to_numpy()
    rng = np.random.default_rng(seed)
    base_scores = scores[baseline].to_numpy()
    base_flag = base_scores.astype(np.float64) >= thr[baseline]  # as every backend compares
    frames, flips = [], []
    coverage: list[dict[str, Any]] = []
    for cand in candidates:
        cand_scores = scores[cand].to_numpy()
        cand_flag = cand_scores.astype(np.float64) >= thr[cand]
        has_base, has_cand = ~np.isnan(base_scores), ~np.isnan(cand_scores)
        both = has_base & has_cand
        coverage.append({"baseline": baseline, "candidate": cand, "n_items": len(table),
                         "n_both": int(both.sum()),
                         "n_baseline_only": int((has_base & ~has_cand).sum()),
                         "n_candidate_only": int((~has_base & has_cand).sum()),
                         "n_neither": int((~has_base & ~has_cand).sum())})
        paired = count_paired(index, labels, base_flag, cand_flag,
                              None if both.all() else both)
        frames.append(_slice_table(baseline, cand, index, paired, metrics, cfg, rng))
        flips.append(_flips(table, baseline, cand, base_scores, cand_scores, base_flag,
                            cand_flag, both, labels, severity))
    return _comparison(baseline, frames, flips, coverage, cfg, notices)


def compare_relation(relation: Relation, cfg: CompareConfig, slicing: SlicingConfig,
                     seed: int, *, thresholds: Mapping[str, Threshold],
                     severity: Mapping[str, int] | None = None) -> Comparison:
    """`compare` with the counting done by a SQL backend (`engine.backend`) on a relation:
    paired counts per joint cell, coverage counts and the flipped items come back from it."""
    from smo_eval.engine.backends.sql import flipped_rows, paired_counts

    baseline, candidates = pair(cfg, list(relation.models))
    metrics = _check(cfg)
    rng = np.random.default_rng(seed)
    notices = [f"candidate {c} has no predictions yet: left out" for c in
               cfg.optional_candidates if c not in relation.models]
    frames, flips, coverage = [], [], []
    for cand in candidates:
        index, paired, counts = paired_counts(relation, slicing.dimensions, slicing.crosses,
                                              baseline, cand, dict(thresholds))
        coverage.append({"baseline": baseline, "candidate": cand, **counts})
        frames.append(_slice_table(baseline, cand, index, paired, metrics, cfg, rng))
        rows = flipped_rows(relation, baseline, cand, dict(thresholds))
        if "item_id" in rows.columns:  # ingest's order, so ties keep the pandas path's order
            rows = rows.sort_values("item_id", kind="stable").reset_index(drop=True)
        base_scores = rows.pop("__base").to_numpy(np.float64)
        cand_scores = rows.pop("__cand").to_numpy(np.float64)
        labels = rows["label"].to_numpy()
        flips.append(_flips(rows, baseline, cand, base_scores, cand_scores,
                            base_scores >= thresholds[baseline],
                            cand_scores >= thresholds[cand], np.ones(len(rows), dtype=bool),
                            labels, severity))
    return _comparison(baseline, frames, flips, coverage, cfg, notices)


def _comparison(baseline: str, frames: list[pd.DataFrame], flips: list[pd.DataFrame],
                coverage: list[dict[str, Any]], cfg: CompareConfig,
                notices: list[str]) -> Comparison:
    cov = pd.DataFrame(coverage)
    for row in coverage:
        left_out = row["n_baseline_only"] + row["n_candidate_only"]
        if left_out:
            notices.append(f"{row['candidate']} vs {row['baseline']}: {left_out:,} items scored "
                           f"by only one side are left out ({row['n_baseline_only']:,} only "
                           f"{baseline}, {row['n_candidate_only']:,} only {row['candidate']})")
    result = pd.concat(frames, ignore_index=True)[COLUMNS]
    return Comparison(result, pd.concat(flips, ignore_index=True), cov,
                      _summary(result, cov, cfg.alpha), notices)


def _slice_table(baseline: str, cand: str, index: SliceIndex, paired: np.ndarray,
                 metrics: list[str], cfg: CompareConfig,
                 rng: np.random.Generator) -> pd.DataFrame:
    """One row per (slice, metric): values, delta, interval, p-values and verdict."""
    keep = paired.sum(axis=1) > 0
    paired = paired[keep]
    names = np.asarray(index.names, dtype=object)[keep]
    dims = np.asarray(index.dimensions, dtype=object)[keep]
    keys = np.asarray([to_json(k) for k in index.keys], dtype=object)[keep]
    base_cells, cand_cells = split_cells(paired)
    mb, mc = count_metrics(base_cells), count_metrics(cand_cells)
    boot = paired_bootstrap(paired, metrics, cfg.n_boot, cfg.ci_level, rng)
    n = paired.sum(axis=1)
    n_pos = paired[:, 4:].sum(axis=1)
    n_neg = n - n_pos
    disc = {label: np.add(*discordant(paired, label)) for label in (0, 1)}
    min_pos, min_neg, min_disc = cfg.min_positives, cfg.min_negatives, cfg.min_discordant
    counts = {f"{side}_{cell}": cells[:, i] for side, cells in (("baseline", base_cells),
                                                                ("candidate", cand_cells))
              for i, cell in enumerate(("tn", "fp", "fn", "tp"))}
    frames = []
    for metric in metrics:
        lo, hi, p_boot = boot[metric]
        if metric in MCNEMAR_LABEL:
            label = MCNEMAR_LABEL[metric]
            b, c = discordant(paired, label)
            p_value, test = mcnemar_exact(b, c), "mcnemar_exact"
            n_disc = disc[label]
            support = n_pos >= min_pos if label == 1 else n_neg >= min_neg
        else:
            p_value, test = p_boot, "paired_bootstrap"
            n_disc = disc[0] + disc[1]
            support = n_pos >= min_pos
        frames.append(pd.DataFrame({
            "baseline": baseline, "candidate": cand, "slice": names, "metric": metric,
            "baseline_value": mb[metric], "candidate_value": mc[metric],
            "delta": mc[metric] - mb[metric], "delta_lo": lo, "delta_hi": hi,
            "p_value": p_value, "test": test, "dimension": dims, "n": n, "n_pos": n_pos,
            "n_neg": n_neg, "n_discordant": n_disc, "low_support": ~support,
            "decidable": support & (n_disc >= min_disc) & np.isfinite(p_value),
            **counts, "slice_key": keys,
        }))
    frame = pd.concat(frames, ignore_index=True)
    return _verdicts(frame, cfg.correction, cfg.alpha)


def _verdicts(frame: pd.DataFrame, correction: str, alpha: float) -> pd.DataFrame:
    """Correct p-values across the decidable tests of one comparison, then decide each."""
    decidable = frame.pop("decidable").to_numpy()
    adjusted = np.full(len(frame), np.nan)
    if decidable.any():
        adjusted[decidable] = adjust_pvalues(frame["p_value"].to_numpy()[decidable],
                                             CORRECTIONS[correction])
    frame["p_adjusted"] = adjusted
    lower_better = frame["metric"].isin(LOWER_IS_BETTER).to_numpy()
    delta = frame["delta"].to_numpy()
    better = np.where(lower_better, delta < 0, delta > 0)
    worse = np.where(lower_better, delta > 0, delta < 0)
    significant = decidable & (adjusted <= alpha)
    verdict = np.where(~decidable, "insufficient_evidence",
                       np.where(significant & better, "improved",
                                np.where(significant & worse, "regressed", "no_change")))
    frame["verdict"] = pd.Categorical(verdict, categories=list(VERDICTS))
    return frame


def _flips(table: pd.DataFrame, baseline: str, cand: str, base_scores: np.ndarray,
           cand_scores: np.ndarray, base_flag: np.ndarray, cand_flag: np.ndarray,
           both: np.ndarray, labels: np.ndarray,
           severity: Mapping[str, int] | None) -> pd.DataFrame:
    """Violations the candidate newly misses and safe items it newly flags, worst first."""
    kind = np.full(len(table), "", dtype=object)
    for (label, base, new), name in FLIP_KINDS.items():
        kind[both & (labels == label) & (base_flag == bool(base)) & (cand_flag == bool(new))] = (
            name)
    rows = np.flatnonzero(kind != "")
    out = table.iloc[rows].reset_index(drop=True)
    front = pd.DataFrame({
        "baseline": baseline, "candidate": cand, "flip": kind[rows],
        "baseline_score": base_scores[rows], "candidate_score": cand_scores[rows],
        "margin": np.abs(cand_scores[rows] - base_scores[rows]),
    })
    if severity and "risk_category" in out.columns:
        sev = out["risk_category"].astype("string").map(dict(severity)).astype("Float64")
        front.insert(3, "severity", sev.to_numpy(dtype=np.float64, na_value=np.nan))
    out = pd.concat([out[["item_id"]] if "item_id" in out.columns else out.iloc[:, :0], front,
                     out.drop(columns=["item_id"], errors="ignore")], axis=1)
    keys = (["severity"] if "severity" in out.columns else []) + ["margin"]
    return out.sort_values(keys, ascending=[True] * (len(keys) - 1) + [False],
                           na_position="last", kind="stable").reset_index(drop=True)


def _summary(table: pd.DataFrame, coverage: pd.DataFrame, alpha: float) -> dict[str, Any]:
    """Per candidate: verdict counts, the overall deltas and coverage (DVC metrics)."""
    out: dict[str, Any] = {}
    for (base, cand), frame in table.groupby(["baseline", "candidate"], sort=False):
        counts = frame["verdict"].value_counts()
        overall = frame[frame["slice"] == "overall"].set_index("metric")
        cov = coverage[(coverage["baseline"] == base) & (coverage["candidate"] == cand)]
        out[f"{cand}_vs_{base}"] = {
            "alpha": alpha,
            **{f"n_{v}": int(counts.get(v, 0)) for v in VERDICTS},
            "overall": {m: {"baseline": r.baseline_value, "candidate": r.candidate_value,
                            "delta": r.delta, "p_adjusted": r.p_adjusted,
                            "verdict": str(r.verdict)} for m, r in overall.iterrows()},
            "coverage": {k: int(v) for k, v in cov.iloc[0].items()
                         if k not in ("baseline", "candidate")},
        }
    return out
