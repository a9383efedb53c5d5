"""Terms over-represented in a model's errors: smoothed log-odds with an informative prior.

Monroe, Colaresi & Quinn (2008), "Fightin' Words": the log-odds ratio of a term between the
error documents and the correct documents, smoothed by a Dirichlet prior proportional to the
term's frequency in both, divided by its standard error (a z-score). Unsegmented scripts
(Chinese, Japanese, Thai) are cut into character n-grams; spaced scripts into words.

`script_segments` / `script_ngrams` tokenise by the script of each stretch of text rather than
by the item's language label, so the English words of a code-mixed Chinese post stay words
(not the Latin character fragments "re", "en", "ng") and its Chinese stays character n-grams.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
import yaml
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

_WORD = r"(?u)\b\w\w+\b|[#@]\w+"


def vectorize(texts: pd.Series, unsegmented: bool, ngram_max: int,
              min_df: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Binary document-term matrix and the vocabulary (character n-grams of 2..ngram_max
    without spaces or punctuation for unsegmented scripts, word 1-2-grams otherwise)."""
    if unsegmented:
        clean = texts.str.replace(r"[\s\W_]+", " ", regex=True)
        vec = CountVectorizer(analyzer="char", ngram_range=(2, ngram_max), binary=True,
                              min_df=min_df, lowercase=True, dtype=np.int32)
        x = vec.fit_transform(clean)
        vocab = vec.get_feature_names_out()
        keep = np.flatnonzero(~pd.Series(vocab).str.contains(" ", regex=False).to_numpy())
        return sparse.csr_matrix(x[:, keep]), np.asarray(vocab)[keep]
    vec = CountVectorizer(token_pattern=_WORD, ngram_range=(1, 2), binary=True, min_df=min_df,
                          lowercase=True, dtype=np.int32)
    x = vec.fit_transform(texts)
    return sparse.csr_matrix(x), np.asarray(vec.get_feature_names_out())


def log_odds(x: sparse.csr_matrix, in_error: np.ndarray, prior_strength: float
             ) -> pd.DataFrame:
    """Per term: documents with it among errors / among correct, log-odds and z-score."""
    y_a = np.asarray(x[in_error].sum(axis=0)).ravel().astype(np.float64)
    y_b = np.asarray(x[~in_error].sum(axis=0)).ravel().astype(np.float64)
    n_a, n_b = y_a.sum(), y_b.sum()
    total = y_a + y_b
    alpha = prior_strength * total / max(total.sum(), 1.0)
    a0 = alpha.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (np.log((y_a + alpha) / (n_a + a0 - y_a - alpha))
                 - np.log((y_b + alpha) / (n_b + a0 - y_b - alpha)))
        z = delta / np.sqrt(1.0 / (y_a + alpha) + 1.0 / (y_b + alpha))
    return pd.DataFrame({"n_error_docs": y_a.astype(np.int64), "n_correct_docs":
                         y_b.astype(np.int64), "log_odds": delta, "z": z})


def drop_subsumed(terms: pd.DataFrame) -> pd.DataFrame:
    """Drop an n-gram inside a longer kept n-gram that appears in as many error documents
    (菠 and 菜 when every one of them is 菠菜)."""
    words = terms["term"].tolist()
    counts = terms["n_error_docs"].to_numpy()
    keep = np.ones(len(words), dtype=bool)
    for i, w in enumerate(words):
        for j, longer in enumerate(words):
            if i != j and len(longer) > len(w) and w in longer and counts[j] >= counts[i]:
                keep[i] = False
                break
    return terms[keep].reset_index(drop=True)


# Scripts written without spaces between words; a run of one of them is cut into character
# n-grams. Han and kana are one run (Japanese mixes them inside a word: 行く).
UNSPACED = {
    "cjk": "\u3005\u3006\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"
           "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f",
    "thai": "\u0e01-\u0e3a\u0e40-\u0e4e",
    "lao": "\u0e81-\u0ecd",
    "myanmar": "\u1000-\u103f\u1050-\u109f",
    "khmer": "\u1780-\u17d3",
}
# Combining marks (not \\w in Python) that belong inside words of spaced scripts: Latin
# diacritics, Hebrew and Arabic vowel marks, Indic vowel signs (Devanagari .. Sinhala), ZWNJ/ZWJ.
_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"
          "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed"
          "\u0900-\u0963\u0966-\u0dff\u200c\u200d")
_ALL_UNSPACED = "".join(UNSPACED.values())
_PIECE = re.compile("|".join(f"(?P<{k}>[{v}]+)" for k, v in UNSPACED.items())
                    + f"|(?P<word>(?:[^\\W_{_ALL_UNSPACED}]|[{_MARKS}])+)")
_UNSPACED_CHAR = re.compile(f"[{_ALL_UNSPACED}]")
_CJK_CHAR = re.compile(f"[{UNSPACED['cjk']}]")

Segment = tuple[bool, list[str]]  # (units are characters, units)


def script_segments(text: str, *, han_words: Callable[[str], list[str]] | None = None
                    ) -> list[Segment]:
    """Lowercased segments of a text: each run of an unspaced script with characters as units
    (or `han_words(run)`, e.g. jieba, as units of a Han/kana run), and each stretch of
    spaced-script words between them (Latin, Cyrillic, Arabic, Devanagari, Hangul, digits)
    with words as units. Punctuation, emoji and spaces only separate."""
    segments: list[Segment] = []
    words: list[str] = []
    for match in _PIECE.finditer(text.lower()):
        kind, piece = match.lastgroup, match.group()
        if kind == "word":
            words.append(piece)
            continue
        if words:
            segments.append((False, words))
            words = []
        if kind == "cjk" and han_words is not None:
            segments.append((False, [w for w in han_words(piece) if w.strip()]))
        else:
            segments.append((True, list(piece)))
    if words:
        segments.append((False, words))
    return segments


def script_ngrams(text: str, *, char_n: tuple[int, int], word_n: tuple[int, int],
                  han_words: Callable[[str], list[str]] | None = None) -> list[str]:
    """Character n-grams (`char_n`, inclusive) of unspaced runs and word n-grams (`word_n`,
    space-joined) of spaced stretches; n-grams never cross a segment."""
    grams: list[str] = []
    for chars, units in script_segments(text, han_words=han_words):
        lo, hi = char_n if chars else word_n
        sep = "" if chars else " "
        grams += [sep.join(units[i:i + n]) for n in range(lo, hi + 1)
                  for i in range(len(units) - n + 1)]
    return grams


def searchable(text: str, *, han_words: Callable[[str], list[str]] | None = None) -> str:
    """The text's segments as one string in which `needle(term)` is found exactly when the
    term (of any length) is an n-gram of the text."""
    return "\x00".join("".join(units) if chars else " " + " ".join(units) + " "
                        for chars, units in script_segments(text, han_words=han_words))


def term_units(term: str, *, han_words: bool = False) -> Segment:
    """(units are characters, units) of a term made by `script_ngrams`."""
    first = term[:1]
    chars = bool(_UNSPACED_CHAR.match(first)) and not (han_words and _CJK_CHAR.match(first))
    return chars, (list(term) if chars else term.split(" "))


def needle(term: str, *, han_words: bool = False) -> str:
    """What to look for in `searchable` strings to find the term."""
    return term if term_units(term, han_words=han_words)[0] else f" {term} "


@cache
def _stopword_lists() -> dict[str, frozenset[str]]:
    path = resources.files("smo_eval") / "resources" / "stopwords.yaml"
    lists = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(k): frozenset(str(w).lower() for w in v) for k, v in lists.items()}


def stopwords(languages: Iterable[str]) -> frozenset[str]:
    """Union of the shipped stopword lists of these languages (unknown ones add nothing)."""
    lists = _stopword_lists()
    return frozenset().union(*(lists.get(str(lang), frozenset()) for lang in languages))


def _made_of(text: str, pieces: frozenset[str]) -> bool:
    """Whether `text` splits entirely into pieces (是我 = 是 + 我)."""
    longest = max((len(p) for p in pieces), default=0)
    ok = [True] + [False] * len(text)
    for end in range(1, len(text) + 1):
        ok[end] = any(ok[start] and text[start:end] in pieces
                      for start in range(max(0, end - longest), end))
    return ok[-1]


def is_stop_term(term: str, stop: frozenset[str], *, han_words: bool = False) -> bool:
    """A character term made up entirely of stopwords, or a word n-gram that begins or ends
    with one (a Han word counts as a stopword when it is made up of them)."""
    chars, units = term_units(term, han_words=han_words)
    if chars:
        return _made_of(term, stop)
    return any(u in stop or (bool(_UNSPACED_CHAR.match(u[:1])) and _made_of(u, stop))
               for u in (units[0], units[-1]))


def overlap_join(a: Segment, b: Segment) -> str | None:
    """The term that `a` continued by `b` spells when a's end overlaps b's start (叶子到 and
    子到货 give 叶子到货), or None when they do not overlap or one contains the other."""
    (chars, x), (chars_b, y) = a, b
    if chars != chars_b:
        return None
    for k in range(min(len(x), len(y)) - 1, 0, -1):
        if x[-k:] == y[:k]:
            return ("" if chars else " ").join(x + y[k:])
    return None


def contains(longer: Segment, shorter: Segment) -> bool:
    """Whether `shorter`'s units appear contiguously in `longer`'s (same kind of unit)."""
    (chars, x), (chars_s, y) = longer, shorter
    if chars != chars_s or len(y) >= len(x):
        return False
    if chars:
        return "".join(y) in "".join(x)
    return f" {' '.join(y)} " in f" {' '.join(x)} "
