"""Per-policy scores and gold at the edge: validated, then expanded to one row per item and
policy, so every later stage sees the ordinary contract (a binary label and one score column
per model) with `policy` as one more column.

Predictions carry `policy` (one row per item, model and policy). Gold names the policies an
item violates, or is borderline under, in its `policy` column: one row per item and policy,
or one row per item listing them (`hate|harassment`, `data.policies.delimiter`); a safe item
has one row with no policy. Every rule broken is a problem naming the file, row and column
(exit 2, or quarantined): a violating or borderline row without a policy, a safe row with
one, a policy no model scores or that is not declared, two rows giving one item and policy
different states, an item both safe and under a policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import DataConfig
from smo_eval.contract.schema import TableSpec
from smo_eval.contract.validate import BORDERLINE, Validated
from smo_eval.errors import ContractError, RowProblem
from smo_eval.io.readers import RawTable
from smo_eval.policies import BORDERLINE_COLUMN, POLICY

ROW = "_row"
# Gold rows are checked per row here (safe rows have no policy, so (item, policy) cannot be
# a key before the lists are split); the bookkeeping row number keeps every row distinct.
GOLD_BY_POLICY = TableSpec("gold", required=("item_id", "label", POLICY),
                           checked=("risk_category", "labeled_at"), key=("item_id", ROW))
PREDICTIONS_BY_POLICY = TableSpec("predictions", required=("item_id", "model", POLICY, "score"),
                                  key=("item_id", "model", POLICY))
STATE = {0: "safe", 1: "violating", BORDERLINE: "borderline"}

Flag = Callable[[Validated, np.ndarray, str, "str | np.ndarray"], None]


def carries_policy(table: RawTable | None, rename: Mapping[str, str]) -> bool:
    """Whether a table has a `policy` column under its own or a mapped name."""
    if table is None:
        return False
    names = {rename.get(str(c).strip(), str(c).strip()) for c in table.frame.columns}
    return POLICY in names


def split_policies(frame: pd.DataFrame, delimiter: str) -> pd.DataFrame:
    """One row per (gold row position, policy named in its cell), blanks dropped."""
    text = frame[POLICY].astype("string").fillna("")
    parts = text.str.split(delimiter, regex=False) if delimiter else text.map(lambda v: [v])
    long = pd.DataFrame({"pos": np.arange(len(frame)), POLICY: parts}).explode(POLICY)
    long[POLICY] = long[POLICY].astype("string").str.strip()
    long = long[long[POLICY].fillna("").ne("").to_numpy()]
    return long.reset_index(drop=True)


def check(gold: Validated, predictions: Validated, data_cfg: DataConfig,
          flag: Flag) -> list[str]:
    """Flag every gold and prediction row breaking the per-policy rules; return the policies
    evaluated (declared in `data.policies.names`, else those the predictions score)."""
    declared = [str(p).strip() for p in data_cfg.policies.names]
    delimiter = data_cfg.policies.delimiter
    scored = sorted(set(predictions.frame[POLICY].astype("string").dropna()))
    universe = declared or scored
    _check_gold_rows(gold, set(universe), bool(declared), delimiter, flag)
    _check_gold_items(gold, delimiter, flag)
    in_gold = set(split_policies(gold.frame, delimiter)[POLICY])
    policy = predictions.frame[POLICY].astype("string")
    if declared:
        bad = ~policy.isin(declared).to_numpy()
        why = "policy not in data.policies.names (" + ", ".join(declared) + ")"
    else:
        bad = ~policy.isin(in_gold).to_numpy()
        why = ("policy occurs in no gold row: declare the policies evaluated in "
               "data.policies.names to evaluate one with no violation in this gold set")
    flag(predictions, bad, POLICY, why)
    if not declared:
        universe = sorted(set(predictions.frame[POLICY].astype("string").dropna()))
    return list(universe)


def _check_gold_rows(gold: Validated, universe: set[str], declared: bool, delimiter: str,
                     flag: Flag) -> None:
    frame = gold.frame
    long = split_policies(frame, delimiter)
    named = np.bincount(long["pos"].to_numpy(np.int64), minlength=len(frame)) > 0
    label = frame["label"].to_numpy()
    reason = np.full(len(frame), "", dtype=object)
    reason[(label == 1) & ~named] = "violating row names no policy: give the policy it violates"
    reason[(label == BORDERLINE) & ~named] = ("borderline row names no policy: give the policy "
                                              "it is borderline under")
    reason[(label == 0) & named] = ("safe row names a policy: a row with a policy is violating "
                                    "or borderline under it (leave it empty for a safe item)")
    unknown = long[~long[POLICY].isin(universe).to_numpy()]
    where = "not in data.policies.names" if declared else "scored by no model"
    for pos, name in unknown.drop_duplicates("pos").itertuples(index=False):
        if not reason[pos]:
            reason[pos] = f"policy '{name}' is {where}"
    bad = reason != ""
    flag(gold, bad, POLICY, reason[bad])


def _check_gold_items(gold: Validated, delimiter: str, flag: Flag) -> None:
    """Rows of one item must agree: one state per policy, and no safe row beside policies."""
    frame = gold.frame
    long = split_policies(frame, delimiter)
    item = frame["item_id"].astype("string")
    long["item"] = item.to_numpy()[long["pos"].to_numpy()]
    long["label"] = frame["label"].to_numpy()[long["pos"].to_numpy()]
    states = long.drop_duplicates(["item", POLICY, "label"])
    clash = states[states.duplicated(["item", POLICY], keep=False)]
    kinds = clash.groupby(["item", POLICY], sort=False)["label"].agg(
        lambda v: " and ".join(STATE[int(x)] for x in sorted(v.unique()))).reset_index()
    first = kinds.drop_duplicates("item")
    why = dict(zip(first["item"], "rows of this item make policy '" + first[POLICY].astype(str)
                   + "' both " + first["label"], strict=True))
    reason = item.map(why).astype(object)
    safe_items = item[frame["label"].to_numpy() == 0]
    both = item.isin(safe_items).to_numpy() & item.isin(long["item"]).to_numpy()
    reason = reason.where(reason.notna() | ~both, "the item has a safe row and rows naming "
                          "policies: one item, one reading")
    bad = reason.notna().to_numpy()
    flag(gold, bad, "item_id", reason[bad].to_numpy())


def states(gold: pd.DataFrame, delimiter: str) -> pd.DataFrame:
    """(item_id, policy, label) of every violating or borderline pair, without repeats."""
    long = split_policies(gold, delimiter)
    pos = long["pos"].to_numpy()
    return pd.DataFrame({"item_id": gold["item_id"].to_numpy()[pos],
                         POLICY: long[POLICY].to_numpy(),
                         "label": gold["label"].to_numpy()[pos]}).drop_duplicates()


def first_per_item(gold: pd.DataFrame) -> pd.DataFrame:
    """One gold row per item (its first), without the per-policy columns."""
    return gold.drop_duplicates("item_id").drop(columns=[POLICY]).reset_index(drop=True)


def expand(items: pd.DataFrame, pairs: pd.DataFrame, policies: Sequence[str],
           borderline: bool) -> pd.DataFrame:
    """One row per gold item and policy (item order kept, policies in `policies` order):
    `label` 1 where the item violates that policy; with `borderline`, a `borderline` column
    marks the pairs gold calls borderline (label 0 until evaluate.borderline decides)."""
    n, k = len(items), len(policies)
    out = items.drop(columns=["label", BORDERLINE_COLUMN], errors="ignore")
    out = out.iloc[np.repeat(np.arange(n), k)].reset_index(drop=True)
    code = _codes(items["item_id"], pairs["item_id"], policies, pairs[POLICY])
    state = np.zeros(n * k, dtype=np.int8)
    state[code] = pairs["label"].to_numpy(np.int8)
    out.insert(1, POLICY, pd.Categorical(np.tile(np.asarray(policies, dtype=object), n),
                                         categories=list(policies)))
    out.insert(2, "label", (state == 1).astype(np.int8))
    if borderline:
        out.insert(3, BORDERLINE_COLUMN, state == BORDERLINE)
    return out


def wide_scores(table: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """One float32 column per model aligned to the rows of a per-policy table (NaN: not
    scored), matched on (item_id, policy)."""
    rows = _pairs(table["item_id"], table[POLICY])
    out = {}
    for model, group in predictions.groupby("model", observed=True, sort=True):
        at = rows.get_indexer(_pairs(group["item_id"], group[POLICY]))
        if (at < 0).any():
            raise AssertionError("validated predictions name a pair outside the table")
        column = np.full(len(table), np.nan, dtype=np.float32)
        column[at] = group["score"].to_numpy(np.float32)
        out[str(model)] = column
    return pd.DataFrame(out)


def _pairs(items: pd.Series, policies: pd.Series) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([pd.Index(items).astype("string"),
                                      pd.Index(policies).astype("string")])


def _codes(items: pd.Series, item_ids: pd.Series, policies: Sequence[str],
           names: pd.Series) -> np.ndarray:
    """Row of each (item, policy) pair in the expanded table."""
    index = pd.Index(items)
    ids = pd.Index(item_ids)
    if ids.dtype != index.dtype:
        index, ids = index.astype("string"), ids.astype("string")
    at = index.get_indexer(ids)
    which = pd.Index(list(policies)).get_indexer(pd.Index(names.astype("string")))
    if (at < 0).any() or (which < 0).any():
        raise AssertionError("validated rows name an item or policy outside the table")
    return np.asarray(at, dtype=np.int64) * len(policies) + which


def joined_scores(eval_table: pd.DataFrame, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Another model's per-policy scores (extra predictions, a challenger) aligned to the
    expanded table; a file without policies or naming another policy is refused."""
    policies = [str(p) for p in eval_table[POLICY].cat.categories]
    if POLICY not in frame.columns:
        raise ContractError([RowProblem(source, None, POLICY, "no policy column: the gold is "
                                        "evaluated per policy, so every model's predictions "
                                        "need one score per item and policy")])
    unknown = ~frame[POLICY].astype("string").isin(policies).to_numpy()
    if unknown.any():
        rows = frame.loc[unknown, ROW].head(20) if ROW in frame.columns else \
            pd.Series(np.flatnonzero(unknown)[:20] + 1)
        raise ContractError([RowProblem(source, int(r), POLICY, "policy not among the "
                                        f"evaluated policies ({', '.join(policies)})")
                             for r in rows])
    return wide_scores(eval_table, frame)
