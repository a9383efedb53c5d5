"""Emerging terms: n-grams whose share of items rose from the reference to the current window.

Per language and per subset of items (all, flagged by a model, missed by a model: violating by
gold but scored below the threshold), each n-gram is scored by the log-odds ratio with an
informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words"): the prior of a
term is its pooled count over both windows times `prior_scale`, which shrinks rare terms and
gives a z-score that is comparable across frequencies. Candidates need a minimum count in the
current window and a minimum rise of their item share (an effect size, so a big window alone
does not make every term emerge); they are ranked by z.

Counts are item counts (an item using a term ten times counts once). Text is tokenised by
script, not by the language label: runs of Chinese, Japanese and Thai characters (written
without spaces) give character n-grams (optionally jieba words for Han), stretches of Latin,
Cyrillic, Arabic and other spaced scripts give word n-grams; so the English of a code-mixed
Chinese post cannot surface as character fragments ("re", "ng"). Function words and laughter
of the group's language and of `stopwords_also` (shipped list, smo_eval/resources/
stopwords.yaml) are left out. One term is listed once: overlapping rising n-grams with nearly
the same support are joined and recounted (叶子到 + 子到货 = 叶子到货), an n-gram inside a
longer listed one with at least `fold_share` of its items is folded into it, and an n-gram
that contains a stronger rising term is left to that term. Texts repeat (templates, spam), so
each distinct text is tokenised once and counts are a sparse product with per-text item counts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from smo_eval.config.schema_more import DriftTermsConfig
from smo_eval.engine import terms
from smo_eval.errors import ConfigError
from smo_eval.stages.drift_windows import Window

COLUMNS = ["language", "subset", "model", "rank", "term", "ref_count", "cur_count",
           "ref_items", "cur_items", "ref_share", "cur_share", "share_ratio", "log_odds", "z"]


def _han_words(cfg: DriftTermsConfig) -> Callable[[str], list[str]] | None:
    """jieba's segmentation of Han runs when configured (optional: `pip install jieba`)."""
    if cfg.zh_segmenter != "jieba":
        return None
    try:
        jieba = importlib.import_module("jieba")
    except ImportError:
        raise ConfigError("drift.terms.zh_segmenter=jieba needs the jieba package "
                          "(pip install jieba), or set it to null for character n-grams") from None
    return cast(Callable[[str], list[str]], jieba.lcut)


def _analyzer(cfg: DriftTermsConfig) -> Callable[[str], list[str]]:
    """Tokeniser by script (see module docstring), the same for every language group."""
    clo, chi = cfg.char_ngrams
    wlo, whi = cfg.word_ngrams
    han = _han_words(cfg)

    def analyze(text: str) -> list[str]:
        return terms.script_ngrams(text, char_n=(int(clo), int(chi)),
                                   word_n=(int(wlo), int(whi)), han_words=han)

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
             thresholds: Mapping[str, float], cfg: DriftTermsConfig
             ) -> tuple[list[tuple[str, str, np.ndarray, np.ndarray]], list[str]]:
    """(subset, model, reference rows, current rows) masks, and notices for skipped subsets."""
    out = [("all", "", np.ones(len(reference), bool), np.ones(len(current), bool))]
    notices = []
    wanted = set(cfg.subsets)
    for model in models:
        t = thresholds[model]
        # Flags in float64, as every stage and backend counts them.
        rs, cs = (w.scores[model].to_numpy(np.float64) for w in (reference, current))
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
                   thresholds: Mapping[str, float], cfg: DriftTermsConfig,
                   rng: np.random.Generator) -> tuple[pd.DataFrame, list[str]]:
    """Rising n-grams per language and subset, ranked by z (see module docstring)."""
    text_col = cfg.text_column
    if text_col not in reference.table.columns or text_col not in current.table.columns:
        return pd.DataFrame(columns=COLUMNS), [f"emerging terms skipped: no '{text_col}' column"]
    lang_col = cfg.language_column
    analyzer = _analyzer(cfg)
    subsets, notices = _subsets(reference, current, models, thresholds, cfg)
    ref_rows, cur_rows = (_cap(len(w), cfg.max_items, rng)
                          for w in (reference, current))
    if len(ref_rows) < len(reference) or len(cur_rows) < len(current):
        notices.append(f"emerging terms on a random sample of {cfg.max_items:,} items "
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
        notices.append(f"emerging terms: no '{lang_col}' column in both windows, so they are "
                       "computed over all items as one group, language 'all'")
    masks = [(name, model, np.r_[r[ref_rows], c[cur_rows]]) for name, model, r, c in subsets]
    frames = []
    for language in sorted(set(lang)):
        rows = lang == language
        frames += _language_terms(str(language), text_code[rows], np.asarray(uniques),
                                  in_cur[rows], [(n, m, k[rows]) for n, m, k in masks], cfg,
                                  analyzer)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return frame[COLUMNS], notices


def _cap(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))


@dataclass
class _Lexicon:
    """One language group's distinct texts, its stopwords, and item presence of any term
    (also of joined terms longer than the n-grams counted), computed once per term."""

    texts: np.ndarray
    stop: frozenset[str]
    han: Callable[[str], list[str]] | None
    _search: list[str] | None = None
    _presence: dict[str, np.ndarray] = field(default_factory=dict)

    def presence(self, term: str) -> np.ndarray:
        if self._search is None:
            self._search = [terms.searchable(str(t), han_words=self.han) for t in self.texts]
        if term not in self._presence:
            needle = terms.needle(term, han_words=self.han is not None)
            self._presence[term] = np.fromiter((needle in t for t in self._search), np.float64,
                                               len(self._search))
        return self._presence[term]


def _language_terms(language: str, codes: np.ndarray, uniques: np.ndarray, in_cur: np.ndarray,
                    masks: list[tuple[str, str, np.ndarray]], cfg: DriftTermsConfig,
                    analyzer: Callable[[str], list[str]]) -> list[pd.DataFrame]:
    """Terms of one language: tokenise its distinct texts once, count per subset by product."""
    used, local = np.unique(codes, return_inverse=True)
    if len(used) == 0:
        return []
    vec = CountVectorizer(analyzer=analyzer, binary=True, dtype=np.int32)
    try:
        x = vec.fit_transform(uniques[used])
    except ValueError:  # no token in any text of this language
        return []
    vocab = np.asarray(vec.get_feature_names_out())
    also = [str(v) for v in cfg.stopwords_also]
    stop = terms.stopwords([language, *also]) if cfg.stopwords else frozenset()
    lexicon = _Lexicon(uniques[used], stop, _han_words(cfg))
    min_count = cfg.min_count
    frames = []
    for subset, model, mask in masks:
        ref_n = float((mask & ~in_cur).sum())
        cur_n = float((mask & in_cur).sum())
        if cur_n < min_count or ref_n == 0:
            continue
        weights = np.stack([np.bincount(local[mask & ~in_cur], minlength=len(used)),
                            np.bincount(local[mask & in_cur], minlength=len(used))]
                           ).astype(np.float64)
        counts = (sparse.csr_matrix(weights) @ x).toarray()

        def recount(term: str, weights: np.ndarray = weights) -> tuple[float, float]:
            ref, cur = weights @ lexicon.presence(term)
            return float(ref), float(cur)

        frames.append(_rank((language, subset, model), vocab, counts[0], counts[1],
                            (ref_n, cur_n), cfg, lexicon, recount))
    return frames


def _stats(ref: np.ndarray, cur: np.ndarray, n: tuple[float, float], cfg: DriftTermsConfig
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Log-odds, z, share ratio and whether each term is emerging (count, ratio and z)."""
    delta, z = log_odds_z(ref, cur, n[0], n[1], cfg.prior_scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref > 0, (cur / n[1]) / np.maximum(ref / n[0], 1e-300), np.inf)
    keep = ((cur >= cfg.min_count) & (ratio >= cfg.min_ratio)
            & (z >= cfg.min_z))
    return delta, z, ratio, keep


def _rank(key: tuple[str, str, str], vocab: np.ndarray, ref: np.ndarray, cur: np.ndarray,
          n: tuple[float, float], cfg: DriftTermsConfig, lexicon: _Lexicon,
          recount: Callable[[str], tuple[float, float]]) -> pd.DataFrame:
    """The top emerging terms of one (language, subset, model): one line per term (see
    `_join` and `_pick`), stopword terms out. Stopwords are judged after joining, so the
    pieces of a function phrase (我不知, 不知道) fold into it (我不知道) and leave with it."""
    _, z, _, keep = _stats(ref, cur, n, cfg)
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-z[idx], kind="stable")][: max(200, 10 * cfg.top_k)]
    han = lexicon.han is not None
    found = {str(vocab[i]): (float(ref[i]), float(cur[i])) for i in idx}
    units = {t: terms.term_units(t, han_words=han) for t in found}
    _join(found, units, recount, n, cfg)
    names = np.asarray(list(found), dtype=object)
    r = np.array([found[t][0] for t in names], dtype=np.float64)
    c = np.array([found[t][1] for t in names], dtype=np.float64)
    delta, z, ratio, _ = _stats(r, c, n, cfg)
    stop = np.array([terms.is_stop_term(str(t), lexicon.stop, han_words=han) for t in names],
                    dtype=bool)
    order = _pick(np.lexsort((names.astype(str), -z)), names, (c, ratio, stop), units, recount,
                  cfg)
    return pd.DataFrame({
        "language": key[0], "subset": key[1], "model": key[2],
        "rank": np.arange(1, len(order) + 1), "term": names[order],
        "ref_count": r[order].astype(np.int64), "cur_count": c[order].astype(np.int64),
        "ref_items": int(n[0]), "cur_items": int(n[1]), "ref_share": r[order] / n[0],
        "cur_share": c[order] / n[1], "share_ratio": ratio[order], "log_odds": delta[order],
        "z": z[order],
    })


def _join(found: dict[str, tuple[float, float]], units: dict[str, terms.Segment],
          recount: Callable[[str], tuple[float, float]], n: tuple[float, float],
          cfg: DriftTermsConfig) -> None:
    """Add the joins of overlapping emerging terms with nearly the same support (current
    counts within `fold_share` of each other), recounted, when the join is emerging and holds
    `fold_share` of both: 叶子到 + 子到货 = 叶子到货, then its fragments fold into it. At most
    1,000 recounts (joins only change how a term is shown). `found`: term -> (ref, cur)."""
    share = cfg.fold_share
    new, tried = list(found), set(found)
    while new and len(tried) < 1000 + len(found):
        added = []
        for a in list(units):
            for b in new:
                for first, second in ((a, b), (b, a)):
                    joined = terms.overlap_join(units[first], units[second])
                    ca, cb = found[first][1], found[second][1]
                    if joined is None or joined in tried or min(ca, cb) < share * max(ca, cb):
                        continue
                    tried.add(joined)
                    r, c = recount(joined)
                    if c >= share * max(ca, cb) and _stats(np.array([r]), np.array([c]), n,
                                                           cfg)[3][0]:
                        found[joined] = (r, c)
                        chars = units[first][0]
                        units[joined] = (chars, list(joined) if chars else joined.split(" "))
                        added.append(joined)
        new = added


def _pick(order: np.ndarray, names: np.ndarray,
          stats: tuple[np.ndarray, np.ndarray, np.ndarray], units: dict[str, terms.Segment],
          recount: Callable[[str], tuple[float, float]], cfg: DriftTermsConfig) -> np.ndarray:
    """The first `top_k` terms in z order that are neither stopword terms, folded, nor a
    context variant. `stats`: current counts, share ratios and stopword flags of `names`.

    Folded: inside a longer emerging term that holds `fold_share` of its current items (叶子 in
    叶子到货). Context variant of a stronger listed term s: it nearly always occurs with s
    (contains s, or overlaps it and the joined string holds `fold_share` of its items: 到货了
    and 叶子到货) and its rise is explained by s's (its share ratio is below `min_ratio` times
    s's, or s is new), so it adds no line of its own (要邮票 next to 邮票).
    """
    share, min_ratio = cfg.fold_share, cfg.min_ratio
    cur, ratio, stop = stats
    skip = stop | np.array([any(terms.contains(units[t], units[s]) and cur[j] >= share * cur[i]
                           for j, t in enumerate(names)) for i, s in enumerate(names)], bool)

    def variant(i: int, k: int) -> bool:
        if not (np.isinf(ratio[k]) or ratio[i] < min_ratio * ratio[k]):
            return False
        t, s = units[names[i]], units[names[k]]
        if terms.contains(t, s):
            return True
        joins = [j for j in (terms.overlap_join(s, t), terms.overlap_join(t, s)) if j]
        return any(recount(j)[1] >= share * cur[i] for j in joins)

    kept: list[int] = []
    for i in order:
        if len(kept) == cfg.top_k:
            break
        if not skip[i] and not any(variant(int(i), k) for k in kept):
            kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)
