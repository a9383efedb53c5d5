"""Terms over-represented in a model's errors: smoothed log-odds with an informative prior.

Monroe, Colaresi & Quinn (2008), "Fightin' Words": the log-odds ratio of a term between the
error documents and the correct documents, smoothed by a Dirichlet prior proportional to the
term's frequency in both, divided by its standard error (a z-score). Unsegmented scripts
(Chinese, Japanese, Thai) are cut into character n-grams; spaced scripts into words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
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
