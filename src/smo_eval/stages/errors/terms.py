"""Terms over-represented in a model's errors, per language (smoothed log-odds with an
informative prior, `engine.terms`), and which erring rows carry one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from smo_eval.config.schema_stages import ErrorsConfig
from smo_eval.engine import terms
from smo_eval.engine.textfeatures import UNSEGMENTED
from smo_eval.operating_point import Threshold

KINDS = {"fn": 1, "fp": 0}  # error kind -> label of the population it is counted in


TERM_COLUMNS = ["model", "error", "language", "term", "n_error_docs", "n_correct_docs",
                "error_doc_rate", "correct_doc_rate", "log_odds", "z"]


def error_terms(model: str, kind: str, frame: pd.DataFrame, derived: pd.DataFrame | None,
           pop: np.ndarray, err: np.ndarray, scored: np.ndarray, flag: np.ndarray,
           labels: np.ndarray, scores: pd.DataFrame, thresholds: Mapping[str, Threshold],
           cfg: ErrorsConfig, rng: np.random.Generator,
           cache: dict[tuple[str, str], Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """Over-represented terms per language; and which rows carry one of them."""
    tcfg = cfg.terms
    has_term = np.zeros(len(frame), dtype=bool)
    if derived is None:  # no text column
        return pd.DataFrame(columns=TERM_COLUMNS), has_term
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
        if in_error.sum() < tcfg.min_count:
            continue
        found = terms.log_odds(x, in_error, tcfg.prior_strength)
        found.insert(0, "term", vocab)
        found = found[(found["n_error_docs"] >= tcfg.min_count)
                      & (found["z"] >= tcfg.min_z)]
        found = found.sort_values("z", ascending=False).head(tcfg.top * 3)
        found = terms.drop_subsumed(found).head(tcfg.top)
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
    if not frames:
        return pd.DataFrame(columns=TERM_COLUMNS), has_term
    return pd.concat(frames, ignore_index=True)[TERM_COLUMNS], has_term


def _vectorized_sample(frame: pd.DataFrame, derived: pd.DataFrame, lang: pd.Series,
                       language: str, kind: str, scored: np.ndarray, labels: np.ndarray,
                       scores: pd.DataFrame, thresholds: Mapping[str, Threshold],
                       cfg: ErrorsConfig, rng: np.random.Generator) -> Any:
    """Rows of one language and population (every error of any model, plus a random sample
    of the rest up to `terms.max_docs`), vectorised once for all models."""
    tcfg = cfg.terms
    label = KINDS[kind]
    pop = scored & (labels == label) & (lang == language).to_numpy()
    any_err = np.zeros(len(frame), dtype=bool)
    for model in scores.columns:
        any_err |= pop & ((scores[model].to_numpy() >= thresholds[model]) != bool(label))
    err_rows, ok_rows = np.flatnonzero(any_err), np.flatnonzero(pop & ~any_err)
    cap = tcfg.max_docs
    if len(err_rows) > cap:
        err_rows = rng.choice(err_rows, cap, replace=False)
    if len(ok_rows) > cap:
        ok_rows = rng.choice(ok_rows, cap, replace=False)
    rows = np.sort(np.concatenate([err_rows, ok_rows]))
    if len(err_rows) < tcfg.min_count or len(rows) < 2 * tcfg.min_df:
        return None
    scripts = derived["script"].iloc[rows].astype("string").value_counts()
    unsegmented = bool(len(scripts)) and scripts.index[0] in UNSEGMENTED
    texts = frame["text"].iloc[rows].astype("string").fillna("")
    try:
        x, vocab = terms.vectorize(texts.reset_index(drop=True), unsegmented,
                                   tcfg.ngram_max, tcfg.min_df)
    except ValueError:  # empty vocabulary
        return None
    return rows, x, vocab


