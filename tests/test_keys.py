"""The key checks' fast paths (smo_eval.contract.keys) give pandas' answers on every kind of id:
in order, dense but shuffled, sparse 64-bit, text, nullable, with repeats and strangers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smo_eval.contract.keys import member, positions, repeated

RNG = np.random.default_rng(7)


def _ids(kind: str, n: int) -> pd.Series:
    if kind == "ordered":
        return pd.Series(np.arange(10, 10 + n, dtype=np.int64))
    if kind == "dense":
        return pd.Series(RNG.permutation(n).astype(np.int32) - 5)
    if kind == "sparse":  # snowflake-like ids: far apart, not addressable
        return pd.Series(RNG.choice(2**62, n, replace=False).astype(np.int64))
    if kind == "unsigned":
        return pd.Series(RNG.permutation(n).astype(np.uint32))
    if kind == "text":
        return pd.Series([f"id-{i}" for i in RNG.permutation(n)], dtype="string")
    if kind == "nullable":
        return pd.Series(pd.array(RNG.permutation(n), dtype="Int64"))
    raise ValueError(kind)


KINDS = ["ordered", "dense", "sparse", "unsigned", "text", "nullable"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("repeats", [0, 1, 40])
def test_repeated_single_key_is_pandas_duplicated(kind: str, repeats: int) -> None:
    ids = _ids(kind, 2000)
    if repeats:
        ids = pd.concat([ids, ids.sample(repeats, random_state=1)], ignore_index=True)
    frame = pd.DataFrame({"item_id": ids})
    expected = frame.duplicated(subset=["item_id"], keep=False).to_numpy()
    assert expected.sum() == 2 * repeats or kind != "ordered"
    np.testing.assert_array_equal(repeated(frame, ["item_id"]), expected)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", ["blocks", "shuffled", "repeat_in_one_model",
                                    "missing_model", "interleaved", "interleaved_repeat",
                                    "chunks", "chunks_repeat"])
def test_repeated_item_and_model_is_pandas_duplicated(kind: str, layout: str) -> None:
    ids = _ids(kind, 1500)
    # Two models, each scoring every item: the layout ingest usually reads.
    frame = pd.DataFrame({"item_id": pd.concat([ids, ids], ignore_index=True),
                          "model": pd.Categorical(np.repeat(["v1", "v2"], len(ids)))})
    if layout == "shuffled":
        frame = frame.sample(frac=1.0, random_state=2).reset_index(drop=True)
    if layout == "repeat_in_one_model":
        frame = pd.concat([frame, frame.iloc[[3, 1600]]], ignore_index=True)
    if layout == "missing_model":
        frame["model"] = frame["model"].astype(object)
        frame.loc[[5, 6], "model"] = None
    if layout.startswith("interleaved"):  # each item's models together, items in id order
        frame = frame.sort_values(["item_id", "model"], kind="stable").reset_index(drop=True)
    if layout.startswith("chunks"):  # each model's block chunk by chunk, as a writer flushes
        chunk = np.arange(len(frame)) % len(ids) // 500
        frame = frame.assign(_c=chunk).sort_values("_c", kind="stable").drop(columns="_c")
        frame = frame.reset_index(drop=True)
    if layout == "chunks_repeat":  # a later chunk repeats an item of an earlier one
        frame = pd.concat([frame, frame.iloc[[2]]], ignore_index=True)
    if layout == "interleaved_repeat":  # one key twice, next to itself: still in id order
        frame = pd.concat([frame.iloc[:11], frame.iloc[[10]], frame.iloc[11:]],
                          ignore_index=True)
    expected = frame.duplicated(subset=["item_id", "model"], keep=False).to_numpy()
    got = repeated(frame, ["item_id", "model"])
    if layout == "missing_model":  # rows without a model are reported as missing keys
        keep = frame["model"].notna().to_numpy()
        got, expected = got[keep], expected[keep]
    np.testing.assert_array_equal(got, expected)
    assert got.sum() == {"repeat_in_one_model": 4, "interleaved_repeat": 2,
                         "chunks_repeat": 2}.get(layout, 0)


@pytest.mark.parametrize("kind", KINDS)
def test_member_is_pandas_isin(kind: str) -> None:
    known = _ids(kind, 3000)
    more = _ids(kind, 3500)
    strangers = more[~more.isin(known)]
    assert len(strangers) >= 400
    wanted = pd.concat([known.sample(2000, random_state=3), strangers], ignore_index=True)
    if kind in ("ordered", "dense", "unsigned"):  # strangers outside and inside the range
        wanted = pd.concat([wanted, pd.Series([-10**9, 10**9], dtype=np.int64)],
                           ignore_index=True)
    np.testing.assert_array_equal(member(wanted, known), wanted.isin(known).to_numpy())
    assert not member(wanted, known).all()


@pytest.mark.parametrize("kind", ["ordered", "dense", "sparse"])
def test_positions_find_each_row(kind: str) -> None:
    ids = _ids(kind, 4000).to_numpy().astype(np.int64)
    rows = RNG.integers(0, len(ids), 10_000)
    np.testing.assert_array_equal(positions(ids[rows], ids), rows)
