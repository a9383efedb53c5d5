"""Errors: where and why each model fails (false negatives and false positives apart).

Pure: tables in, tables out. Per model and error kind: failure slices found by a lattice
search over metadata and derived text features, a LightGBM error model whose SHAP
contributions name the features and values that drive errors, terms over-represented in the
errors (per language), a root-cause bucket for every error and a review queue for QA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from smo_eval.engine import lattice, terms
from smo_eval.engine.slices import build_slice_index
from smo_eval.engine.textfeatures import FEATURES, UNSEGMENTED, text_features
from smo_eval.errors import ConfigError
from smo_eval.slicekey import to_json

KINDS = {"fn": 1, "fp": 0}  # error kind -> label of the population it is counted in
BUCKETS = ("label_disputed", "near_threshold", "over_represented_term", "failure_slice")

Threshold = float | np.ndarray


@dataclass
class ErrorAnalysis:
    failure_slices: pd.DataFrame
    error_drivers: pd.DataFrame
    error_terms: pd.DataFrame
    rca: pd.DataFrame
    review_queue: pd.DataFrame
    summary: dict[str, Any]
    notices: list[str] = field(default_factory=list)


@dataclass
class _Columns:
    """Slicing columns over the whole table: codes (-1 missing) and values."""

    columns: dict[str, lattice.Column]

    def subset(self, rows: np.ndarray) -> list[lattice.Column]:
        return [lattice.Column(c.name, c.codes[rows], c.values) for c in self.columns.values()]

    def mask(self, conditions: tuple[tuple[str, str], ...]) -> np.ndarray:
        return lattice.mask(self.columns, conditions)


def errors(table: pd.DataFrame, scores: pd.DataFrame, errors_cfg: Mapping[str, Any],
           slicing_cfg: Mapping[str, Any], seed: int,
           thresholds: Mapping[str, Threshold] | None = None,
           annotations: pd.DataFrame | None = None,
           severity: Mapping[str, int] | None = None) -> ErrorAnalysis:
    """Failure slices, error drivers, terms, root causes and a review queue per model."""
    models = [str(m) for m in (errors_cfg.get("models") or scores.columns)]
    unknown = [m for m in models if m not in scores.columns]
    if unknown:
        raise ConfigError(f"errors.models names models without predictions: {unknown}")
    per_model = {**(errors_cfg.get("thresholds") or {}), **(thresholds or {})}
    notices: list[str] = []
    frame = table.reset_index(drop=True)
    derived = text_features(frame["text"]) if "text" in frame.columns else None
    names = [c for c in errors_cfg["columns"] if c in frame.columns]
    notices += [f"errors: column '{c}' not in the data: skipped" for c in errors_cfg["columns"]
                if c not in frame.columns]
    cols = {c: lattice.column_of(c, frame[c]) for c in names}
    if derived is not None:
        cols |= {c: lattice.column_of(c, derived[c]) for c in FEATURES}
    columns = _Columns(cols)
    labels = frame["label"].to_numpy().astype(np.int8)
    disputed = _disputed(frame, annotations)
    rng = np.random.default_rng(seed)
    out: dict[str, list[pd.DataFrame]] = {k: [] for k in
                                          ("slices", "drivers", "terms", "rca", "queue")}
    summary: dict[str, Any] = {}
    term_cache: dict[tuple[str, str], Any] = {}
    for model in models:
        thr = per_model.get(model, float(errors_cfg.get("threshold", 0.5)))
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
            found, why = _failure_slices(columns, pop, err, errors_cfg["slices"])
            notices += [f"errors: {model} {kind}: no failure slice: {why}"] if why else []
            found.insert(0, "error", kind)
            found.insert(0, "model", model)
            out["slices"].append(found)
            out["drivers"].append(_drivers(model, kind, columns, pop, err,
                                           errors_cfg["error_model"], rng))
            found_terms, has_term = _terms(model, kind, frame, derived, pop, err, scored, flag,
                                           labels, scores, per_model, errors_cfg, rng,
                                           term_cache)
            out["terms"].append(found_terms)
            in_slice = np.zeros(len(frame), dtype=bool)
            for conds in found["conditions"].head(int(errors_cfg["rca"]["top_slices"]))[::-1]:
                member = columns.mask(conds) & err
                first_slice[member] = lattice.name(conds)
                in_slice |= member
            near = np.abs(score - thr) <= float(errors_cfg["rca"]["near_threshold"])
            for name, value in (("label_disputed", disputed), ("near_threshold", near),
                                ("over_represented_term", has_term),
                                ("failure_slice", in_slice)):
                flags[name] |= value & err
            summary[model][f"n_{kind}"] = int(err.sum())
            summary[model][f"top_{kind}_slice"] = (lattice.name(found["conditions"].iloc[0])
                                                   if len(found) else None)
        order = [str(b) for b in errors_cfg["rca"]["order"]]
        any_error = scored & (flag != labels.astype(bool))
        for code, name in reversed(list(enumerate(order))):
            bucket[flags[name]] = code
        bucket[any_error & (bucket < 0)] = len(order)
        bucket_names = [*order, "unexplained"]
        out["rca"].append(_rca(model, frame, slicing_cfg, labels, any_error, bucket,
                               bucket_names))
        out["queue"].append(_queue(model, frame, score, thr, labels, any_error, bucket,
                                   bucket_names, flags, first_slice, severity, errors_cfg))
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
    queue = pd.concat(out["queue"], ignore_index=True).sort_values("impact", ascending=False)
    queue = queue.head(int(errors_cfg["review_queue"]["max_rows"])).reset_index(drop=True)
    return ErrorAnalysis(slices, _stack(out["drivers"]), _stack(out["terms"]),
                         pd.concat(out["rca"], ignore_index=True), queue, summary, notices)


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-model results, leaving out empty ones (a model x error kind with too
    few errors) so they do not decide the column dtypes; all empty gives the empty frame."""
    return pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)


def _disputed(frame: pd.DataFrame, annotations: pd.DataFrame | None) -> np.ndarray:
    """Items whose annotators disagree, or whose annotator majority contradicts gold."""
    if annotations is None or annotations.empty or "item_id" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    share = annotations.groupby("item_id", observed=True)["label"].mean()
    at = share.reindex(frame["item_id"]).to_numpy()
    gold = frame["label"].to_numpy()
    with np.errstate(invalid="ignore"):
        split = (at > 0) & (at < 1)
        contradicts = np.where(gold == 1, at < 0.5, at > 0.5)
    return np.nan_to_num(split | contradicts, nan=0).astype(bool)


def _failure_slices(columns: _Columns, pop: np.ndarray, err: np.ndarray,
                    cfg: Mapping[str, Any]) -> tuple[pd.DataFrame, str | None]:
    """Ranked failure slices of one model and error kind, and why there are none (else None).

    A model that errs on most of a population still has slices where it errs far more often:
    `lattice.score` judges them by error odds, so a lift out of reach near 100 % errors does
    not hide them, and an empty result says what the best candidate had."""
    rows = np.flatnonzero(pop)
    e = err[rows]
    e_total = int(e.sum())
    subset = columns.subset(rows)
    counted = lattice.search(subset, e, int(cfg["max_conditions"]), int(cfg["min_support"]),
                             int(cfg["min_errors"]))
    scored = lattice.score(counted, len(rows), e_total, alpha=float(cfg["alpha"]),
                           min_odds_ratio=float(cfg["min_odds_ratio"]),
                           size_weight=float(cfg["size_weight"]))
    found = lattice.drop_weak_conditions(scored[scored["qualified"]], counted,
                                         float(cfg["min_condition_effect"]))
    top = int(cfg["top"])
    pruned = lattice.prune_redundant(found.head(top * 10), float(cfg["explain_share"]))
    pruned = lattice.drop_near_duplicates(pruned, subset, float(cfg["max_jaccard"]), top,
                                          frozenset(FEATURES))
    pruned.insert(0, "rank", np.arange(1, len(pruned) + 1))
    why = None if len(pruned) else _no_slice(scored, counted, len(rows), e_total, cfg)
    return pruned.drop(columns=["qualified"]), why


def _no_slice(scored: pd.DataFrame, counted: pd.DataFrame, n_total: int, e_total: int,
              cfg: Mapping[str, Any]) -> str:
    """Why no failure slice qualified: the base error rate and the best-ranked candidate
    (under its shortest name: weak conditions dropped as for the slices themselves)."""
    base = f"{e_total:,} errors among {n_total:,} items ({e_total / max(n_total, 1):.1%})"
    if not len(scored):
        return (f"{base}; no slice has {int(cfg['min_support'])}+ items and "
                f"{int(cfg['min_errors'])}+ errors")
    best = lattice.drop_weak_conditions(scored, counted,
                                        float(cfg["min_condition_effect"])).iloc[0]
    return (f"{base}; best candidate {lattice.name(best['conditions'])}: "
            f"{int(best['errors']):,} of {int(best['n']):,} ({best['error_rate']:.1%}), "
            f"odds ratio {best['odds_ratio']:.2f} against the rest, BH-adjusted p "
            f"{best['p_adjusted']:.2g} (qualifying needs p <= {float(cfg['alpha'])} and odds "
            f"ratio >= {float(cfg['min_odds_ratio'])})")


def _drivers(model: str, kind: str, columns: _Columns, pop: np.ndarray, err: np.ndarray,
             cfg: Mapping[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """LightGBM error model on the population; SHAP contributions per feature and value."""
    rows = np.flatnonzero(pop)
    if len(rows) > int(cfg["max_rows"]):
        rows = np.sort(rng.choice(rows, int(cfg["max_rows"]), replace=False))
    y = err[rows].astype(np.int8)
    empty = pd.DataFrame(columns=["model", "error", "feature", "value", "n", "error_rate",
                                  "mean_contribution", "feature_importance"])
    if y.sum() < int(cfg["min_errors"]) or y.sum() == len(y):
        return empty
    cols = list(columns.columns.values())
    x = np.column_stack([c.codes[rows] for c in cols]).astype(np.float64)
    x[x < 0] = np.nan
    booster = lgb.train(
        {"objective": "binary", "num_leaves": int(cfg["num_leaves"]),
         "learning_rate": float(cfg["learning_rate"]), "min_data_in_leaf": 20,
         "num_threads": 1, "verbose": -1, "seed": int(rng.integers(1 << 30)),
         "deterministic": True, "max_cat_to_onehot": 8},
        lgb.Dataset(x, y, feature_name=[c.name for c in cols],
                    categorical_feature=list(range(len(cols))), free_raw_data=True),
        num_boost_round=int(cfg["n_estimators"]))
    # SHAP values on a sample: exact tree SHAP costs far more per row than the fit.
    sub = np.sort(rng.choice(len(rows), min(len(rows), int(cfg["shap_rows"])), replace=False))
    rows, x, y = rows[sub], x[sub], y[sub]
    contrib = np.asarray(booster.predict(x, pred_contrib=True, num_threads=1))[:, :-1]
    frames = []
    for j, col in enumerate(cols):
        codes = col.codes[rows]
        ok = codes >= 0
        k = len(col.values)
        n = np.bincount(codes[ok], minlength=k)
        e = np.bincount(codes[ok], weights=y[ok], minlength=k)
        s = np.bincount(codes[ok], weights=contrib[ok, j], minlength=k)
        used = np.flatnonzero(n >= int(cfg["min_support"]))
        frames.append(pd.DataFrame({
            "feature": col.name, "value": [col.values[v] for v in used], "n": n[used],
            "error_rate": e[used] / n[used], "mean_contribution": s[used] / n[used],
            "feature_importance": float(np.abs(contrib[:, j]).mean())}))
    drivers = pd.concat(frames, ignore_index=True).sort_values("mean_contribution",
                                                                ascending=False)
    drivers.insert(0, "error", kind)
    drivers.insert(0, "model", model)
    return drivers.head(int(cfg["top_values"])).reset_index(drop=True)


def _terms(model: str, kind: str, frame: pd.DataFrame, derived: pd.DataFrame | None,
           pop: np.ndarray, err: np.ndarray, scored: np.ndarray, flag: np.ndarray,
           labels: np.ndarray, scores: pd.DataFrame, thresholds: Mapping[str, Any],
           cfg: Mapping[str, Any], rng: np.random.Generator,
           cache: dict[tuple[str, str], Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """Over-represented terms per language; and which rows carry one of them."""
    tcfg = cfg["terms"]
    has_term = np.zeros(len(frame), dtype=bool)
    if derived is None:
        return pd.DataFrame(), has_term
    lang = (frame["language"].astype("string").fillna("unknown") if "language" in frame
            else pd.Series("all", index=frame.index))
    frames = []
    for language in sorted(lang[pop].unique()):
        key = (str(language), kind)
        if key not in cache:
            cache[key] = _vectorized_sample(frame, derived, lang, str(language), kind, scored,
                                            labels, scores, thresholds, cfg, rng)
        sample = cache[key]
        if sample is None:
            continue
        rows, x, vocab = sample
        in_error = err[rows]
        if in_error.sum() < int(tcfg["min_count"]):
            continue
        found = terms.log_odds(x, in_error, float(tcfg["prior_strength"]))
        found.insert(0, "term", vocab)
        found = found[(found["n_error_docs"] >= int(tcfg["min_count"]))
                      & (found["z"] >= float(tcfg["min_z"]))]
        found = found.sort_values("z", ascending=False).head(int(tcfg["top"]) * 3)
        found = terms.drop_subsumed(found).head(int(tcfg["top"]))
        n_err, n_ok = int(in_error.sum()), int((~in_error).sum())
        found["error_doc_rate"] = found["n_error_docs"] / n_err
        found["correct_doc_rate"] = found["n_correct_docs"] / max(n_ok, 1)
        found.insert(0, "language", language)
        found.insert(0, "error", kind)
        found.insert(0, "model", model)
        frames.append(found)
        if len(found):
            idx = pd.Index(vocab).get_indexer(found["term"])
            has_term[rows] |= np.asarray(x[:, idx].sum(axis=1)).ravel() > 0
    cols = ["model", "error", "language", "term", "n_error_docs", "n_correct_docs",
            "error_doc_rate", "correct_doc_rate", "log_odds", "z"]
    if not frames:
        return pd.DataFrame(columns=cols), has_term
    return pd.concat(frames, ignore_index=True)[cols], has_term


def _vectorized_sample(frame: pd.DataFrame, derived: pd.DataFrame, lang: pd.Series,
                       language: str, kind: str, scored: np.ndarray, labels: np.ndarray,
                       scores: pd.DataFrame, thresholds: Mapping[str, Any],
                       cfg: Mapping[str, Any], rng: np.random.Generator) -> Any:
    """Rows of one language and population (every error of any model, plus a random sample
    of the rest up to `terms.max_docs`), vectorised once for all models."""
    tcfg = cfg["terms"]
    label = KINDS[kind]
    pop = scored & (labels == label) & (lang == language).to_numpy()
    any_err = np.zeros(len(frame), dtype=bool)
    for model in scores.columns:
        thr = thresholds.get(model, float(cfg.get("threshold", 0.5)))
        any_err |= pop & ((scores[model].to_numpy() >= thr) != bool(label))
    err_rows, ok_rows = np.flatnonzero(any_err), np.flatnonzero(pop & ~any_err)
    cap = int(tcfg["max_docs"])
    if len(err_rows) > cap:
        err_rows = rng.choice(err_rows, cap, replace=False)
    if len(ok_rows) > cap:
        ok_rows = rng.choice(ok_rows, cap, replace=False)
    rows = np.sort(np.concatenate([err_rows, ok_rows]))
    if len(err_rows) < int(tcfg["min_count"]) or len(rows) < 2 * int(tcfg["min_df"]):
        return None
    scripts = derived["script"].iloc[rows].astype("string").value_counts()
    unsegmented = bool(len(scripts)) and scripts.index[0] in UNSEGMENTED
    texts = frame["text"].iloc[rows].astype("string").fillna("")
    try:
        x, vocab = terms.vectorize(texts.reset_index(drop=True), unsegmented,
                                   int(tcfg["ngram_max"]), int(tcfg["min_df"]))
    except ValueError:  # empty vocabulary
        return None
    return rows, x, vocab


def _rca(model: str, frame: pd.DataFrame, slicing_cfg: Mapping[str, Any], labels: np.ndarray,
         any_error: np.ndarray, bucket: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Errors per root-cause bucket per slice (the same slices as evaluate), FN and FP apart."""
    index, _ = build_slice_index(frame, slicing_cfg.get("dimensions") or [],
                                 slicing_cfg.get("crosses") or [])
    b = len(names)
    frames = []
    for kind, label in KINDS.items():
        rows = any_error & (labels == label)
        key = index.cell_of_row[rows].astype(np.int64) * b + bucket[rows]
        per_cell = np.bincount(key, minlength=index.n_cells * b).reshape(index.n_cells, b)
        counts = index.aggregate(per_cell).round().astype(np.int64)
        part = pd.DataFrame(counts, columns=names)
        part.insert(0, "n_errors", counts.sum(axis=1))
        part.insert(0, "dimension", index.dimensions)
        part.insert(0, "slice", index.names)
        part["slice_key"] = [to_json(k) for k in index.keys]
        part.insert(0, "error", kind)
        part.insert(0, "model", model)
        frames.append(part[part["n_errors"] > 0])
    return pd.concat(frames, ignore_index=True)


def _queue(model: str, frame: pd.DataFrame, score: np.ndarray, thr: Any, labels: np.ndarray,
           any_error: np.ndarray, bucket: np.ndarray, names: list[str],
           flags: dict[str, np.ndarray], first_slice: np.ndarray,
           severity: Mapping[str, int] | None, cfg: Mapping[str, Any]) -> pd.DataFrame:
    """Errors by expected impact: harm weight (severity tier for misses) x how wrong the
    score is (distance from the threshold)."""
    rows = np.flatnonzero(any_error)
    sub = frame.iloc[rows].reset_index(drop=True)
    weight = np.full(len(rows), float(cfg["review_queue"]["fp_weight"]))
    if severity and "risk_category" in sub.columns:
        worst = max(severity.values())
        sev = sub["risk_category"].astype("string").map(dict(severity)).astype("Float64")
        harm = (worst + 1 - sev).to_numpy(dtype=np.float64, na_value=1.0)
        weight = np.where(labels[rows] == 1, harm, weight)
    thr_rows = np.asarray(thr)[rows] if np.ndim(thr) else thr
    margin = np.abs(score[rows] - thr_rows)
    front = pd.DataFrame({
        "model": model, "error": np.where(labels[rows] == 1, "fn", "fp"),
        "root_cause": np.asarray(names, dtype=object)[bucket[rows]],
        "impact": weight * margin, "score": score[rows], "threshold": thr_rows,
        **{name: flags[name][rows] for name in BUCKETS},
        "failure_slice_name": first_slice[rows],
    })
    ids = sub[["item_id"]] if "item_id" in sub.columns else sub.iloc[:, :0]
    top = np.argsort(-front["impact"].to_numpy(), kind="stable")[
        :int(cfg["review_queue"]["max_rows"])]
    return pd.concat([ids.iloc[top].reset_index(drop=True),
                      front.iloc[top].reset_index(drop=True),
                      sub.drop(columns=["item_id"], errors="ignore").iloc[top]
                      .reset_index(drop=True)], axis=1)
