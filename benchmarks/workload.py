"""The issue's workload, written as Parquet in chunks (1e8 rows never sit in memory).

Two layouts of the same items: smo-eval's contract (`gold.parquet`: item_id, label and the
slice dimensions; `predictions.parquet`: item_id, model, score, one row per item and model)
and one wide file for the plain numpy reference (`wide.parquet`: the gold columns and one
score column per model). Item ids are 64-bit integers; the dimensions are dictionary-encoded
text, the scores float32 (what ingest stores). With `days`, gold also carries `created_at`:
items spread in order over that many days from `START`, as a moderation log is written, so
drift can cut a reference and a current window by time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MODELS = ("v1", "v2")
CHUNK = 2_000_000
START = np.datetime64("2026-11-01T00:00:00", "s")


@dataclass(frozen=True)
class Workload:
    """Slice dimensions (name -> number of values) and the crosses evaluated."""

    name: str
    dims: dict[str, int]
    crosses: list[list[str]] = field(default_factory=list)

    @property
    def overrides(self) -> list[str]:
        dims = ",".join(self.dims)
        crosses = ",".join("[" + ",".join(c) + "]" for c in self.crosses)
        return [f"slicing.dimensions=[{dims}]", f"slicing.crosses=[{crosses}]"]


# The issue's measurement: 4 dimensions and one cross (350 slices).
ISSUE = Workload("issue", {"region": 20, "language": 15, "risk_category": 12,
                           "content_type": 2}, [["region", "language"]])
# The realistic slicing of the memory target: every single dimension and two crosses.
FIVE = Workload("five-dim", {"region": 50, "language": 40, "risk_category": 30,
                             "content_type": 3, "surface": 6},
                [["region", "language"], ["language", "risk_category"]])


def _values(dim: str, k: int) -> list[str]:
    return [f"{dim[:3]}{i:02d}" for i in range(k)]


def _chunks(rows: int, workload: Workload, seed: int) -> Iterator[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    # Skewed value frequencies (Zipf-like), as real traffic has.
    weights = {d: 1.0 / np.arange(1, k + 1) ** 0.8 for d, k in workload.dims.items()}
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        out: dict[str, np.ndarray] = {"item_id": np.arange(start, start + n, dtype=np.int64)}
        for dim, w in weights.items():
            out[dim] = rng.choice(len(w), n, p=w / w.sum()).astype(np.int32)
        base = -2.2 + 0.1 * (out["region"] % 5) - 0.05 * (out["language"] % 7)
        label = (rng.random(n) < 1 / (1 + np.exp(-base))).astype(np.int8)
        out["label"] = label
        # Two versions of one model: the candidate's logit is the baseline's, a little better
        # on violations, plus noise (a few percent of items change outcome, as in practice).
        logit = rng.normal(-2.0, 1.3, n) + 3.0 * label
        for i, model in enumerate(MODELS):
            if i:
                logit = logit + 0.3 * label + rng.normal(0.0, 0.4, n)
            out[model] = (1 / (1 + np.exp(-logit))).astype(np.float32)
        yield out


def _dictionary(codes: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(values))


def write(rows: int, folder: Path, workload: Workload, seed: int = 1,
          days: int = 0) -> dict[str, Path]:
    """Write gold, predictions and the reference's wide file; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.parquet" for name in ("gold", "predictions", "wide")}
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for chunk in _chunks(rows, workload, seed):
            dims = {d: _dictionary(chunk[d], _values(d, k)) for d, k in workload.dims.items()}
            gold = pa.table({"item_id": chunk["item_id"], "label": chunk["label"], **dims})
            wide = gold.append_column("score_v1", pa.array(chunk["v1"])).append_column(
                "score_v2", pa.array(chunk["v2"]))
            if days:  # the reference reads no time: `wide` goes without it
                seconds = chunk["item_id"] * (days * 86_400) // rows
                gold = gold.append_column("created_at", pa.array(START + seconds))
            n = len(chunk["item_id"])
            preds = pa.table({
                "item_id": np.tile(chunk["item_id"], len(MODELS)),
                "model": _dictionary(np.repeat(np.arange(len(MODELS)), n), list(MODELS)),
                "score": np.concatenate([chunk[m] for m in MODELS]),
            })
            for name, table in (("gold", gold), ("predictions", preds), ("wide", wide)):
                if name not in writers:
                    writers[name] = pq.ParquetWriter(paths[name], table.schema)
                writers[name].write_table(table, row_group_size=1_000_000)
    finally:
        for writer in writers.values():
            writer.close()
    return paths
