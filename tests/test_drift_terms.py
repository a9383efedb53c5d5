"""Emerging terms by script: in Chinese posts that also carry English, a planted new Chinese
term ranks first and is listed once (no Latin character fragments, no function-word noise, no
fragments of the term); without a language column the terms are computed over all items with
a notice; the script tokeniser keeps words whole."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from smo_eval.config.schema_more import DriftTermsConfig
from smo_eval.engine import terms
from smo_eval.errors import ConfigError
from smo_eval.stages.drift_terms import emerging_terms
from smo_eval.stages.drift_windows import Window
from tests.drift_helpers import config, typed

ZH = ["今天天气不错", "刚下班回家", "周末去爬山", "这家店的面很好吃", "排队排了一个小时",
      "新手机到了", "猫又把花盆打翻了", "晚上一起看电影", "地铁好挤", "明天要考试", "终于放假了",
      "楼下开了新的咖啡馆"]
# Chatty function phrases that become more common in the current window.
CHAT = ["哈哈哈哈", "是我啊", "我不要", "可以吗", "你们觉得呢"]
# English words (scikit-learn's stop list: ~300 distinct words, so no single one dominates but
# their character bigrams "er", "re", "th" pool across all of them).
ENGLISH = sorted(ENGLISH_STOP_WORDS)
TERM = "叶子到货"  # 4 characters: longer than the 2-3 character n-grams counted
CONTEXTS = ["{t}了，私聊", "有人要{t}吗", "刚刚{t}，老地方见", "{t}速度来"]


def _window(n: int, rng: np.random.Generator, *, english: float, chat: float, term: float,
            language: bool = True) -> Window:
    """Chinese posts of two everyday phrases, some with a chat phrase, the planted term (in
    one of four contexts) and four English words appended."""
    texts = []
    for _ in range(n):
        parts = [str(p) for p in rng.choice(ZH, 2, replace=False)]
        if rng.random() < chat:
            parts.insert(int(rng.integers(0, 3)), str(rng.choice(CHAT)))
        if rng.random() < term:
            parts.insert(int(rng.integers(0, 3)), str(rng.choice(CONTEXTS)).format(t=TERM))
        text = "，".join(parts)
        if rng.random() < english:
            text += " " + " ".join(rng.choice(ENGLISH, 4))
        texts.append(text)
    table = pd.DataFrame({"text": texts, "language": "zh"})
    if not language:
        table = table.drop(columns="language")
    return Window("w", table, pd.DataFrame({"m": rng.random(n).astype(np.float32)}))


def _windows(language: bool = True) -> tuple[Window, Window]:
    rng = np.random.default_rng(0)
    # English in 5% -> 60% of the posts, chat phrases 5% -> 30%, the new term 0% -> 3%.
    ref = _window(4000, rng, english=0.05, chat=0.05, term=0.0, language=language)
    cur = _window(4000, rng, english=0.6, chat=0.3, term=0.03, language=language)
    return ref, cur


def _terms(ref: Window, cur: Window, **overrides: Any) -> tuple[pd.DataFrame, list[str]]:
    cfg = typed(DriftTermsConfig, {**config()["drift"]["terms"], "subsets": ["all"],
                                   **overrides})
    return emerging_terms(ref, cur, ["m"], {"m": 0.5}, cfg, np.random.default_rng(1))


def _pieces(term: str) -> set[str]:
    return {term[i:i + 2] for i in range(len(term) - 1)}


def test_new_chinese_term_in_code_mixed_posts_ranks_first_once() -> None:
    ref, cur = _windows()
    found, notices = _terms(ref, cur)
    assert notices == []
    zh = found[found["language"] == "zh"]
    assert zh["rank"].tolist() == list(range(1, len(zh) + 1)) and len(zh) >= 5
    top = zh.iloc[0]
    assert top["term"] == TERM
    # Its counts are item counts of the joined 4-character string (recounted, independent
    # of the 2-3-grams it was joined from).
    assert top["ref_count"] == 0
    assert top["cur_count"] == cur.table["text"].str.contains(TERM, regex=False).sum() > 100
    # Listed once: no other line is a fragment of it or contains a piece of it (叶子, 子到货,
    # 到货了 ...).
    others = zh["term"].iloc[1:].tolist()
    assert not [t for t in others if any(p in t for p in _pieces(TERM))], others
    # No Latin character fragments of the English words, no chat noise: every other line is a
    # whole English word or a Chinese n-gram outside the chat phrases.
    latin = [t for t in others if t.isascii()]
    assert all(t in ENGLISH_STOP_WORDS for t in latin), latin
    assert not [t for t in others if any(t in c for c in CHAT)], others


def test_chat_phrases_surface_only_without_stopwords() -> None:
    """The chat phrases did rise (30% vs 5%): the stopword list is what keeps them out, and
    without it the fragments still fold into whole phrases (one line each)."""
    ref, cur = _windows()
    found, _ = _terms(ref, cur, stopwords=False)
    chat_lines = [t for t in found["term"] if any(t in c for c in CHAT)]
    assert sorted(chat_lines) == sorted(CHAT)  # whole phrases, no 我不 / 以吗 / 哈哈哈
    assert set(found["term"].iloc[:5]) == set(CHAT) and found["term"].iloc[5] == TERM


def test_no_language_column_gives_a_notice_and_one_group() -> None:
    ref, cur = _windows(language=False)
    found, notices = _terms(ref, cur)
    assert any("no 'language' column" in n for n in notices), notices
    assert set(found["language"]) == {"all"} and found["term"].iloc[0] == TERM


@pytest.mark.skipif(importlib.util.find_spec("jieba") is not None, reason="jieba installed")
def test_jieba_segmenter_without_jieba_is_a_config_error() -> None:
    ref, cur = _windows()
    with pytest.raises(ConfigError, match="pip install jieba"):
        _terms(ref, cur, zh_segmenter="jieba")


def test_script_tokeniser_keeps_words_whole_and_scripts_apart() -> None:
    grams = terms.script_ngrams("姐妹们 check 一下：邮票有货，真的amazing", char_n=(2, 3),
                                word_n=(1, 2))
    assert {"check", "amazing", "姐妹们", "邮票有", "真的"} <= set(grams)
    assert not {"ch", "ck", "ng", "的a", "一下邮"} & set(grams)  # no fragment, no crossing
    # Combining marks stay inside Hindi and Arabic words; Thai is cut into characters.
    assert terms.script_ngrams("दोस्तों यह", char_n=(2, 3), word_n=(1, 1)) == ["दोस्तों", "यह"]
    assert terms.script_ngrams("بِسْمِ الله", char_n=(2, 3), word_n=(1, 1)) == ["بِسْمِ", "الله"]
    assert "ทุก" in terms.script_ngrams("ทุกคน", char_n=(2, 3), word_n=(1, 1))
    # Stopword terms: made up of function pieces (Chinese), or starting / ending with one.
    stop = terms.stopwords(["zh", "en"])
    assert all(terms.is_stop_term(t, stop) for t in ["是我", "我不", "可以", "哈哈哈", "of the"])
    assert not any(terms.is_stop_term(t, stop) for t in [TERM, "邮票", "草泥马", "stamp"])
    assert terms.overlap_join(terms.term_units("叶子到"), terms.term_units("子到货")) == TERM
    assert terms.overlap_join(terms.term_units("buy stamp"), terms.term_units("stamp now")) \
        == "buy stamp now"
