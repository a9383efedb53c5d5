"""Key checks of large tables without hashing every key, where the ids allow it.

Moderation logs usually carry integer item ids, written in order or from a dense range
(auto-increment ids). For those, repeated keys and membership are found in O(rows) by
comparing neighbours or by addressing a table indexed by the id, instead of hashing tens of
millions of keys (pandas' `duplicated` and `isin`, 4-7x slower at 2e7 rows). Any other ids
(text, sparse 64-bit ids, nullable integers) take pandas' path. Every path gives the same
answer; tests/test_ingest.py checks them against pandas.

>>> import pandas as pd
>>> repeated(pd.DataFrame({"item_id": [3, 1, 3], "model": ["a", "a", "b"]}),
...          ("item_id", "model")).tolist()
[False, False, False]
>>> member(pd.Series([1, 5, 2]), pd.Series([2, 3, 1])).tolist()
[True, False, True]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# An id range up to this many times the number of ids is addressed directly (one byte, or
# eight for positions, per possible id).
DENSE_FACTOR = 4
# Runs of one model's rows checked one by one in Python: a file written model by model, in
# chunks, has a few; a file interleaving models row by row has millions (checked otherwise).
_FEW_RUNS = 4096


def integer_ids(ids: pd.Series) -> np.ndarray | None:
    """The ids as int64 when they are plain integers (no missing values possible), else None."""
    if isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iu" and ids.dtype.itemsize <= 8:
        if ids.dtype.kind == "u" and len(ids) and int(ids.max()) > np.iinfo(np.int64).max:
            return None
        return ids.to_numpy().astype(np.int64, copy=False)
    return None


def dense_range(ids: np.ndarray, rows: int) -> tuple[int, int] | None:
    """(lowest, highest) id when the range is small enough to address directly."""
    if not len(ids):
        return None
    lo, hi = int(ids.min()), int(ids.max())
    return (lo, hi) if hi - lo < DENSE_FACTOR * rows + 1024 else None


def _codes(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, int]:
    """One integer code per row for the key's other columns (missing values: code 0; such
    rows are reported as missing keys, not as repeats), and how many codes there can be.

    Codes take the smallest integer type that holds them: each array of 2e7 int64 costs a
    third of a second here, mostly in first-touch page faults."""
    code: np.ndarray | None = None
    size = 1
    for column in columns:
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):  # codes already (-1: missing)
            values, n = series.cat.codes.to_numpy(), len(series.cat.categories)
        else:
            values, uniques = pd.factorize(series, use_na_sentinel=True)
            n = len(uniques)
        size *= n + 1
        dtype = np.int16 if size < 2**15 else np.int32 if size < 2**31 else np.int64
        if code is None:
            code = values.astype(dtype)
        else:
            code = code.astype(dtype, copy=False)
            code *= n + 1
            code += values
        code += 1
    return (np.zeros(len(frame), dtype=np.int16) if code is None else code), size


def repeated(frame: pd.DataFrame, key: Sequence[str]) -> np.ndarray:
    """Rows whose key occurs more than once (pandas' `duplicated(keep=False)`)."""
    ids = integer_ids(frame[key[0]])
    if ids is None or len(frame) < 2:
        return frame.duplicated(subset=list(key), keep=False).to_numpy()
    code, size = _codes(frame, key[1:])
    if _strictly_ordered(ids, code, size):
        return np.zeros(len(frame), dtype=bool)
    span = dense_range(ids, len(frame))
    if span is None or (span[1] - span[0] + 1) * size > DENSE_FACTOR * len(frame):
        return frame.duplicated(subset=list(key), keep=False).to_numpy()
    slot = (ids - span[0]) * size + code
    return np.bincount(slot, minlength=(span[1] - span[0] + 1) * size)[slot] > 1


def _strictly_ordered(ids: np.ndarray, code: np.ndarray, size: int) -> bool:
    """Whether the keys (id, code) are written in a strict order, so none can repeat: ids
    increasing (one code); runs of one code each (a model's scores, chunk by chunk) with
    ids increasing along each code's runs; ids non-decreasing with the codes increasing
    within an id (each item's models together); else ids increasing within each of a few
    codes."""
    up = ids[1:] > ids[:-1]
    if size == 1:
        return bool(up.all())
    changes = code[1:] != code[:-1]
    starts = np.flatnonzero(changes) + 1
    if len(starts) < _FEW_RUNS and bool((up | changes).all()):
        last: dict[int, int] = {}
        for start, end in zip(np.r_[0, starts], np.r_[starts, len(ids)] - 1, strict=True):
            which = int(code[start])
            if which in last and ids[start] <= last[which]:
                break
            last[which] = int(ids[end])
        else:
            return True
    if bool((up | ((ids[1:] == ids[:-1]) & (code[1:] > code[:-1]))).all()):
        return True
    return size <= 64 and all(bool((s[1:] > s[:-1]).all())
                              for s in (ids[code == c] for c in range(size)))


def member(values: pd.Series, ids: pd.Series) -> np.ndarray:
    """Which `values` are among `ids` (pandas' `isin`)."""
    wanted, known = integer_ids(values), integer_ids(ids)
    span = dense_range(known, len(known)) if wanted is not None and known is not None else None
    if span is None or known is None or wanted is None:
        return values.isin(ids).to_numpy(dtype=bool)
    lo, hi = span
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[known - lo] = True
    inside = (wanted >= lo) & (wanted <= hi)
    out = np.zeros(len(wanted), dtype=bool)
    out[inside] = present[wanted[inside] - lo]
    return out


def positions(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row of each value in `ids` (unique integer ids, every value among them): a table
    addressed by id when their range is dense (one read per value: 4x faster than a binary
    search at 2e7 values), else a binary search when the ids are in order, else a hash
    lookup."""
    span = dense_range(ids, len(ids))
    if span is not None:
        table = np.empty(span[1] - span[0] + 1,
                         dtype=np.int32 if len(ids) < 2**31 else np.int64)
        table[ids - span[0]] = np.arange(len(ids), dtype=table.dtype)
        return table[values - span[0]].astype(np.int64)
    if bool((ids[1:] > ids[:-1]).all()):
        return np.searchsorted(ids, values)
    return pd.Index(ids).get_indexer(values)
