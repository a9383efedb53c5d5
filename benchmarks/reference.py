"""The plain numpy reference of the issue's workload: `python benchmarks/reference.py WIDE
DIMS CROSSES`.

Reads the same items from one Parquet file (`wide.parquet`: gold columns and one score
column per model) and computes, for the same slices as smo-eval (overall, each dimension,
each cross): confusion counts of both models at 0.5, precision / recall / F1 / FPR, 1,000
Poisson-bootstrap replicates of recall and precision per slice and model, and the paired
recall delta (v2 - v1) with its 1,000-replicate interval. What a careful analyst writes by
hand with numpy: no validation, no outputs beyond one small CSV, no tracking.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPLICATES = 1000


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """Integer codes of a dictionary-encoded column (one chunk after unification)."""
    array = column.chunk(0) if column.num_chunks else column.combine_chunks()
    return array.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(array.dictionary)


def main(wide: Path, dims: list[str], crosses: list[list[str]], out: Path) -> None:
    table = pq.read_table(wide).unify_dictionaries().combine_chunks()
    label = table["label"].to_numpy().astype(np.int64)
    flags = [table[f"score_{m}"].to_numpy() >= 0.5 for m in ("v1", "v2")]
    codes = {d: _codes(table[d]) for d in dims}
    # 8 paired cells per row: label x v1 flag x v2 flag.
    cell8 = label * 4 + flags[0] * 2 + flags[1]
    rng = np.random.default_rng(0)
    rows = []
    for slicing in [[], *[[d] for d in dims], *crosses]:
        key = np.zeros(len(label), dtype=np.int64)
        size = 1
        for d in slicing:
            c, k = codes[d]
            key = key * k + c
            size *= k
        counts = np.bincount(key * 8 + cell8, minlength=size * 8).reshape(size, 8)
        counts = counts[counts.sum(axis=1) > 0].astype(np.float64)
        cube = counts.reshape(-1, 2, 2, 2)
        models = [cube.sum(axis=3).reshape(-1, 4), cube.sum(axis=2).reshape(-1, 4)]
        for cells in models:
            tn, fp, fn, tp = cells.T
            with np.errstate(divide="ignore", invalid="ignore"):
                point = np.stack([tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fp + fn),
                                  fp / (fp + tn)], axis=1)
                draws = rng.poisson(cells[:, None, :], size=(len(cells), REPLICATES, 4))
                recall = draws[..., 3] / (draws[..., 3] + draws[..., 2])
                precision = draws[..., 3] / (draws[..., 3] + draws[..., 1])
                bounds = [np.nanquantile(x, [0.025, 0.975], axis=1) for x in (recall, precision)]
            rows.append(np.column_stack([point, *[b.T for b in bounds]]))
        draws = rng.poisson(counts[:, None, :], size=(len(counts), REPLICATES, 8))
        pos = draws[..., 4:]  # label 1: (v1 0, v2 0), (0, 1), (1, 0), (1, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = ((pos[..., 1] + pos[..., 3]) - (pos[..., 2] + pos[..., 3])) / pos.sum(axis=2)
            rows.append(np.nanquantile(delta, [0.025, 0.975], axis=1).T)
    np.savetxt(out, np.concatenate([r.reshape(len(r), -1)[:, :2] for r in rows]),
               delimiter=",")


if __name__ == "__main__":
    wide_path = Path(sys.argv[1])
    dimensions = sys.argv[2].split(",")
    cross_list = [c.split("x") for c in sys.argv[3].split(",") if c]
    main(wide_path, dimensions, cross_list, Path(sys.argv[4]))
