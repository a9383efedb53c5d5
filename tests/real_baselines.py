"""Two baseline model versions on real data, trained once per test session and shared.

Character n-gram TF-IDF with logistic regression (`lr`) and with LightGBM (`lgbm`), fit on
COLD train. Several real-data test modules score COLD test and Mandarin HateCheck with them;
training is the slow part, so it happens once (cached on the data folder).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

MODELS = ("lr", "lgbm")


@lru_cache(maxsize=1)
def train(shared_data: Path) -> dict[str, Any]:
    """The vectorizer and both classifiers, fit on COLD train (LightGBM small and 1 thread)."""
    data = pd.read_csv(shared_data / "cold/train.csv", encoding="utf-8-sig")
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), min_df=3,
                                 max_features=20_000, sublinear_tf=True, dtype=np.float32)
    features = vectorizer.fit_transform(data["TEXT"])
    logistic = LogisticRegression(max_iter=1000, C=2.0).fit(features, data["label"])
    boosted = lgb.LGBMClassifier(n_estimators=100, num_leaves=31, learning_rate=0.1, max_bin=63,
                                 n_jobs=1, verbose=-1).fit(features, data["label"])
    return {"vectorizer": vectorizer, "lr": logistic, "lgbm": boosted}


def predictions(baselines: dict[str, Any], ids: pd.Series, texts: pd.Series) -> pd.DataFrame:
    """Long predictions (comment_id, system, prob) of both models: the file a team hands in."""
    features = baselines["vectorizer"].transform(texts)
    frames = [pd.DataFrame({"comment_id": ids, "system": name,
                            "prob": baselines[name].predict_proba(features)[:, 1]})
              for name in MODELS]
    return pd.concat(frames, ignore_index=True)
