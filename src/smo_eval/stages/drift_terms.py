"""Emerging terms: n-grams whose share of items rose from the reference to the current window.

Per language and per subset of items (all, flagged by a model, missed by a model: violating by
gold but scored below the threshold), each n-gram is scored by the log-odds ratio with an
informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words"): the prior of a
term is its pooled count over both windows times `prior_scale`, which shrinks rare terms and
gives a z-score that is comparable across frequencies. Candidates need a minimum count in the
current window and a minimum rise of their item share (an effect size, so a big window alone
does not make every term emerge); they are ranked by z.

Counts are item counts (an item using a term ten times counts once). Chinese, Japanese and
Thai are written without spaces, so they get character n-grams (optionally jieba words for
Chinese); other languages get word n-grams. Texts repeat (templates, copy-paste spam), so each
distinct text is tokenised once and counts are a sparse product with per-text item counts.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from smo_eval.errors import ConfigError
from smo_eval.stages.drift_windows import Window

_NON_WORD = re.compile(r"[\W_]+")
COLUMNS = ["language", "subset", "model", "rank", "term", "ref_count", "cur_count",
           "ref_items", "cur_items", "ref_share", "cur_share", "share_ratio", "log_odds", "z"]


def _analyzer(language: str, cfg: Mapping[str, Any]) -> Callable[[str], list[str]]:
    """Tokeniser of one language: character n-grams for unspaced scripts, else word n-grams."""
    char_langs = set(cfg.get("char_ngram_languages") or [])
    lo, hi = cfg.get("word_ngrams", [1, 2])
    if language in char_langs:
        if language == "zh" and cfg.get("zh_segmenter") == "jieba":
            return _jieba_analyzer(int(lo), int(hi))
        clo, chi = cfg.get("char_ngrams", [2, 3])
        return _char_analyzer(int(clo), int(chi))
    base = CountVectorizer(analyzer="word", ngram_range=(int(lo), int(hi)), lowercase=True,
                           token_pattern=r"(?u)\b\w+\b").build_analyzer()
    return base


def _char_analyzer(lo: int, hi: int) -> Callable[[str], list[str]]:
    """Character n-grams inside runs of word characters (never across punctuation)."""

    def analyze(text: str) -> list[str]:
        grams = []
        for run in _NON_WORD.split(text.lower()):
            grams += [run[i:i + n] for n in range(lo, hi + 1) for i in range(len(run) - n + 1)]
        return grams

    return analyze


def _jieba_analyzer(lo: int, hi: int) -> Callable[[str], list[str]]:
    """Word n-grams over jieba's segmentation (optional: `pip install jieba`)."""
    try:
        jieba = importlib.import_module("jieba")
    except ImportError:
        raise ConfigError("drift.terms.zh_segmenter=jieba needs the jieba package "
                          "(pip install jieba), or set it to null for character n-grams") from None

    def analyze(text: str) -> list[str]:
        words = [w for w in jieba.lcut(text.lower()) if not _NON_WORD.fullmatch(w)]
        return [" ".join(words[i:i + n]) for n in range(lo, hi + 1)
                for i in range(len(words) - n + 1)]

    return analyze


def log_odds_z(ref: np.ndarray, cur: np.ndarray, n_ref: float, n_cur: float,
               prior_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds ratio (current vs reference) with an informative Dirichlet prior, and its z.

    ref, cur: item counts per term; n_ref, n_cur: items in each window. The prior of a term
    is alpha_w = prior_scale * (ref + cur), alpha_0 = prior_scale * (n_ref + n_cur).
    """
    alpha = prior_scale * (ref + cur)
    alpha0 = prior_scale * (n_ref + n_cur)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (np.log((cur + alpha) / (n_cur + alpha0 - cur - alpha))
                 - np.log((ref + alpha) / (n_ref + alpha0 - ref - alpha)))
        var = 1.0 / (cur + alpha) + 1.0 / (ref + alpha)
    return delta, delta / np.sqrt(var)


def _subsets(reference: Window, current: Window, models: Sequence[str],
             thresholds: Mapping[str, float], cfg: Mapping[str, Any]
             ) -> tuple[list[tuple[str, str, np.ndarray, np.ndarray]], list[str]]:
    """(subset, model, reference rows, current rows) masks, and notices for skipped subsets."""
    out = [("all", "", np.ones(len(reference), bool), np.ones(len(current), bool))]
    notices = []
    subsets = cfg.get("subsets")
    wanted = set(["all", "high_score", "missed"] if subsets is None else subsets)
    for model in models:
        t = thresholds[model]
        rs, cs = reference.scores[model].to_numpy(), current.scores[model].to_numpy()
        if "high_score" in wanted:
            out.append(("high_score", model, rs >= t, cs >= t))
        if "missed" in wanted:
            if reference.labelled and current.labelled:
                ry = reference.table["label"].to_numpy() == 1
                cy = current.table["label"].to_numpy() == 1
                out.append(("missed", model, ry & (rs < t), cy & (cs < t)))
            elif model == models[0]:
                notices.append("emerging terms among missed items skipped: the current window "
                               "has no gold labels")
    if "all" not in wanted:
        out = out[1:]
    return out, notices


def emerging_terms(reference: Window, current: Window, models: Sequence[str],
                   thresholds: Mapping[str, float], cfg: Mapping[str, Any],
                   rng: np.random.Generator) -> tuple[pd.DataFrame, list[str]]:
    """Rising n-grams per language and subset, ranked by z (see module docstring)."""
    text_col = str(cfg.get("text_column", "text"))
    if text_col not in reference.table.columns or text_col not in current.table.columns:
        return pd.DataFrame(columns=COLUMNS), [f"emerging terms skipped: no '{text_col}' column"]
    lang_col = str(cfg.get("language_column", "language"))
    subsets, notices = _subsets(reference, current, models, thresholds, cfg)
    ref_rows, cur_rows = (_cap(len(w), int(cfg.get("max_items", 500_000)), rng)
                          for w in (reference, current))
    if len(ref_rows) < len(reference) or len(cur_rows) < len(current):
        notices.append(f"emerging terms on a random sample of {cfg.get('max_items'):,} items "
                       "per window")
    texts = pd.concat([reference.table[text_col].iloc[ref_rows].astype("string"),
                       current.table[text_col].iloc[cur_rows].astype("string")],
                      ignore_index=True).fillna("")
    text_code, uniques = pd.factorize(texts)
    in_cur = np.r_[np.zeros(len(ref_rows), bool), np.ones(len(cur_rows), bool)]
    if lang_col in reference.table.columns and lang_col in current.table.columns:
        lang = pd.concat([reference.table[lang_col].iloc[ref_rows].astype("string"),
                          current.table[lang_col].iloc[cur_rows].astype("string")],
                         ignore_index=True).fillna("unknown").to_numpy()
    else:
        lang = np.full(len(texts), "all", dtype=object)
    masks = [(name, model, np.r_[r[ref_rows], c[cur_rows]]) for name, model, r, c in subsets]
    frames = []
    for language in sorted(set(lang)):
        rows = lang == language
        frames += _language_terms(str(language), text_code[rows], np.asarray(uniques),
                                  in_cur[rows], [(n, m, k[rows]) for n, m, k in masks], cfg)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return frame[COLUMNS], notices


def _cap(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))


def _language_terms(language: str, codes: np.ndarray, uniques: np.ndarray, in_cur: np.ndarray,
                    masks: list[tuple[str, str, np.ndarray]], cfg: Mapping[str, Any]
                    ) -> list[pd.DataFrame]:
    """Terms of one language: tokenise its distinct texts once, count per subset by product."""
    used, local = np.unique(codes, return_inverse=True)
    if len(used) == 0:
        return []
    vec = CountVectorizer(analyzer=_analyzer(language, cfg), binary=True, dtype=np.int32)
    try:
        x = vec.fit_transform(uniques[used])
    except ValueError:  # no token in any text of this language
        return []
    vocab = np.asarray(vec.get_feature_names_out())
    min_count = int(cfg.get("min_count", 20))
    frames = []
    for subset, model, mask in masks:
        ref_n = float((mask & ~in_cur).sum())
        cur_n = float((mask & in_cur).sum())
        if cur_n < min_count or ref_n == 0:
            continue
        weights = np.stack([np.bincount(local[mask & ~in_cur], minlength=len(used)),
                            np.bincount(local[mask & in_cur], minlength=len(used))])
        counts = (sparse.csr_matrix(weights.astype(np.float64)) @ x).toarray()
        frames.append(_rank(language, subset, model, vocab, counts[0], counts[1], ref_n, cur_n,
                            cfg))
    return frames


def _rank(language: str, subset: str, model: str, vocab: np.ndarray, ref: np.ndarray,
          cur: np.ndarray, n_ref: float, n_cur: float, cfg: Mapping[str, Any]) -> pd.DataFrame:
    delta, z = log_odds_z(ref, cur, n_ref, n_cur, float(cfg.get("prior_scale", 1.0)))
    ref_share, cur_share = ref / n_ref, cur / n_cur
    with np.errstate(divide="ignore"):
        ratio = np.where(ref > 0, cur_share / np.maximum(ref_share, 1e-300), np.inf)
    keep = ((cur >= int(cfg.get("min_count", 20))) & (ratio >= float(cfg.get("min_ratio", 2.0)))
            & (z >= float(cfg.get("min_z", 3.0))))
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-z[idx], kind="stable")][: int(cfg.get("top_k", 20))]
    return pd.DataFrame({
        "language": language, "subset": subset, "model": model,
        "rank": np.arange(1, len(idx) + 1), "term": vocab[idx],
        "ref_count": ref[idx].astype(np.int64), "cur_count": cur[idx].astype(np.int64),
        "ref_items": int(n_ref), "cur_items": int(n_cur), "ref_share": ref_share[idx],
        "cur_share": cur_share[idx], "share_ratio": ratio[idx], "log_odds": delta[idx],
        "z": z[idx],
    })
