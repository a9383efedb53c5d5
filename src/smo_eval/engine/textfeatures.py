"""Derived text features for slicing errors: length bucket, script, code-mixing, URL, emoji...

Computed once per distinct text (texts repeat, and ingest stores them as a categorical), then
spread to rows by code, so the cost grows with distinct texts, not rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCRIPTS = {
    "han": r"[\u4e00-\u9fff\u3400-\u4dbf]",
    "kana": r"[\u3040-\u30ff]",
    "hangul": r"[\uac00-\ud7af]",
    "thai": r"[\u0e00-\u0e7f]",
    "arabic": r"[\u0600-\u06ff]",
    "devanagari": r"[\u0900-\u097f]",
    "cyrillic": r"[\u0400-\u04ff]",
    "latin": r"[A-Za-z\u00c0-\u024f]",
}
# Scripts written without spaces between words: terms are character n-grams there.
UNSEGMENTED = frozenset({"han", "kana", "thai"})
_EMOJI = r"[\U0001F300-\U0001FAFF\u2600-\u27BF\U0001F000-\U0001F2FF]"
_URL = r"(?:https?://|www\.)\S+|\b\S+\.(?:com|net|org|cn|io|me|ly)\b"
LENGTH_EDGES = (20, 60, 150)
FEATURES = ("length_bucket", "script", "code_mixed", "has_url", "has_emoji", "has_digits",
            "has_mention")


def _per_text(texts: pd.Series) -> pd.DataFrame:
    """Features of each distinct text (a plain string series)."""
    counts = pd.DataFrame({name: texts.str.count(pattern) for name, pattern in SCRIPTS.items()})
    values = counts.to_numpy()
    names = np.array([*SCRIPTS, "none"], dtype=object)
    dominant = np.where(values.max(axis=1) > 0, values.argmax(axis=1), len(SCRIPTS))
    length = texts.str.len().to_numpy()
    bucket = np.searchsorted(np.asarray(LENGTH_EDGES), length, side="right")
    labels = np.array(["<20", "20-59", "60-149", "150+"], dtype=object)
    return pd.DataFrame({
        "length_bucket": labels[bucket],
        "script": names[dominant],
        "code_mixed": (values > 0).sum(axis=1) > 1,
        "has_url": texts.str.contains(_URL, regex=True).to_numpy(),
        "has_emoji": texts.str.contains(_EMOJI, regex=True).to_numpy(),
        "has_digits": texts.str.contains(r"\d", regex=True).to_numpy(),
        "has_mention": texts.str.contains(r"@\w", regex=True).to_numpy(),
        "text_length": length,
    })


def text_features(text: pd.Series) -> pd.DataFrame:
    """Per-row derived features (categorical / bool) and `text_length`, aligned with `text`."""
    cat = text.astype("category") if not isinstance(text.dtype, pd.CategoricalDtype) else text
    uniques = pd.Series(cat.cat.categories.astype(str))
    per = _per_text(uniques)
    codes = cat.cat.codes.to_numpy()
    missing = codes < 0
    take = np.where(missing, 0, codes)
    out = {}
    for column in per.columns:
        values = per[column].to_numpy()[take] if len(per) else np.zeros(len(codes))
        if column in ("length_bucket", "script"):
            series = pd.Series(values, dtype="object")
            series[missing] = None
            out[column] = series.astype("category")
        elif column == "text_length":
            out[column] = np.where(missing, 0, values).astype(np.int32)
        else:
            out[column] = np.where(missing, False, values).astype(bool)
    return pd.DataFrame(out, index=text.index)
