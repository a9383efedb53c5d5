"""The case database's logic: precedents from gold, consistency checks, nearest precedents.

Pure: tables in, tables out; the SQLite store is the command layer's business. A scenario's
precedent decision is the majority decision of its stored cases (the most recent one breaks a
tie). Similar precedents are found by TF-IDF over character n-grams, which needs no word
segmentation and so works for Mandarin as well as for space-separated languages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from smo_eval.config.schema_stages import CasesConfig
from smo_eval.errors import ConfigError

CASE_COLUMNS = ["scenario_id", "text", "decision", "risk_category", "rationale", "policy_ref",
                "decided_at", "source", "item_id"]


def scenario_ids(table: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Scenario id per row: the configured columns' values joined with '/'."""
    missing = [c for c in columns if c not in table.columns]
    if missing or not columns:
        raise ConfigError(f"labels.cases.scenario names columns {missing or list(columns)} the "
                          f"gold table lacks; it has {', '.join(map(str, table.columns))}")
    parts = [table[c].astype("string").fillna("") for c in columns]
    out = parts[0]
    for part in parts[1:]:
        out = out + "/" + part
    return out


def cases_from_gold(table: pd.DataFrame, cfg: CasesConfig, source: str) -> pd.DataFrame:
    """Precedent rows (CASE_COLUMNS) from a validated gold table."""
    if "text" not in table.columns:
        raise ConfigError("the case database needs the example text: map it with "
                          "data.columns.text=<column>")
    today = datetime.now(UTC).date().isoformat()
    decided = (pd.to_datetime(table["labeled_at"]).dt.strftime("%Y-%m-%d")
               if "labeled_at" in table.columns else pd.Series(today, index=table.index))

    def optional(key: str) -> pd.Series:
        column = getattr(cfg, key)
        if column and column in table.columns:
            return table[column].astype("string").fillna("")
        return pd.Series("", index=table.index, dtype="string")

    return pd.DataFrame({
        "scenario_id": scenario_ids(table, list(cfg.scenario)),
        "text": table["text"].astype("string"),
        "decision": table["label"].astype(np.int64),
        "risk_category": table.get("risk_category", pd.Series("", index=table.index))
        .astype("string"),
        "rationale": optional("rationale"),
        "policy_ref": optional("policy_ref"),
        "decided_at": decided.fillna(today),
        "source": source,
        "item_id": table["item_id"].astype("string"),
    }).dropna(subset=["text"])


def precedents(cases: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: the precedent decision, how many cases back it, and whether it is split."""
    if cases.empty:
        return pd.DataFrame(columns=["scenario_id", "precedent", "n_cases", "n_agree",
                                     "split"])
    votes = pd.crosstab(cases["scenario_id"], cases["decision"])
    latest = cases.sort_values("decided_at").groupby("scenario_id")["decision"].last()
    top = votes.max(axis=1)
    tied = (votes.eq(top, axis=0)).sum(axis=1) > 1
    precedent = votes.idxmax(axis=1).where(~tied, latest.reindex(votes.index))
    return pd.DataFrame({"scenario_id": votes.index, "precedent": precedent.to_numpy(),
                         "n_cases": votes.sum(axis=1).to_numpy(), "n_agree": top.to_numpy(),
                         "split": (votes > 0).sum(axis=1).to_numpy() > 1}).reset_index(drop=True)


def check(gold: pd.DataFrame, scenario_columns: Sequence[str],
          cases: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gold rows contradicting their scenario's precedent, and scenarios whose gold disagrees."""
    table = gold.assign(scenario_id=scenario_ids(gold, scenario_columns))
    prec = precedents(cases)
    joined = table.merge(prec, on="scenario_id", how="left")
    contradicts = joined["precedent"].notna() & (joined["label"] != joined["precedent"])
    keep = ["item_id", "scenario_id", "label", "precedent", "n_cases", "n_agree"]
    keep += [c for c in ("risk_category", "text", "reviewer") if c in joined.columns]
    conflicts = joined.loc[contradicts, keep].rename(columns={"label": "gold_label",
                                                              "precedent": "precedent_decision"})
    votes = pd.crosstab(table["scenario_id"], table["label"])
    for value in (0, 1):
        if value not in votes.columns:
            votes[value] = 0
    mixed = votes[(votes[[0, 1]] > 0).sum(axis=1) > 1]
    scenarios = pd.DataFrame({"scenario_id": mixed.index, "n_items": mixed.sum(axis=1).to_numpy(),
                              "n_violating": mixed[1].to_numpy(), "n_safe": mixed[0].to_numpy()})
    scenarios["minority_share"] = (scenarios[["n_violating", "n_safe"]].min(axis=1)
                                   / scenarios["n_items"])
    scenarios = scenarios.merge(prec[["scenario_id", "precedent"]], on="scenario_id", how="left")
    return (conflicts.reset_index(drop=True),
            scenarios.sort_values("minority_share", ascending=False).reset_index(drop=True))


def nearest(cases: pd.DataFrame, text: str, k: int,
            ngram: Sequence[int] = (1, 3)) -> pd.DataFrame:
    """The `k` stored cases most similar to `text` (cosine over character n-gram TF-IDF)."""
    if cases.empty:
        return cases.assign(similarity=pd.Series(dtype=float))
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(int(ngram[0]), int(ngram[1])),
                                 sublinear_tf=True, lowercase=True)
    matrix = vectorizer.fit_transform(cases["text"].astype(str))
    query = vectorizer.transform([text])
    similarity = (matrix @ query.T).toarray().ravel()
    order = np.argsort(-similarity, kind="stable")[:k]
    out = cases.iloc[order].copy()
    out.insert(0, "similarity", similarity[order])
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)
