"""Score histograms per slice whose size does not grow with joint cells x bins.

Counting a histogram per joint cell of every slice dimension (and summing cells into slices)
costs joint cells x classes x bins: with region 50 x language 40 x category 30 x content
type 3 x surface 6 that is more memory than a machine has, whatever the number of rows. Here
the slicings are grouped into a few *passes*: a pass counts a histogram per combination of a
subset of the dimensions (missing values a level of their own), small enough to fit a memory
budget, and every slicing whose dimensions lie in that subset is a sum of its combinations.
A cross is one pass; single dimensions join a pass that already holds them, or share one
while the combinations stay within budget. Memory is slices x classes x bins (the result)
plus one pass; time is one `np.bincount` over the rows per pass.

The confusion cells, sums and counts stay per joint cell: they are a handful of numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from smo_eval.engine.slices import SliceIndex, Slicing

# Memory one pass's histogram may take (int64 counts); larger passes go in ranges.
PASS_BUDGET_BYTES = 1 << 26


@dataclass(frozen=True)
class Pass:
    """Combinations of `dims` (per joint cell: its combination) and the slicings they serve."""

    dims: tuple[str, ...]
    group_of_cell: np.ndarray
    n_groups: int
    slicings: tuple[Slicing, ...]


def _groups(index: SliceIndex, dims: Sequence[str]) -> tuple[np.ndarray, int]:
    """Each joint cell's combination of `dims` (missing a level), numbered from 0."""
    combined = np.zeros(index.n_cells, dtype=np.int64)
    for dim in dims:
        level = index.levels[dim].astype(np.int64)
        base = int(level.max(initial=-1)) + 2
        combined = combined * base + (level + 1)
    used, group = np.unique(combined, return_inverse=True)
    return group.astype(np.int64).reshape(-1), len(used)


def plan(index: SliceIndex, n_classes: int, n_bins: int,
         budget: int = PASS_BUDGET_BYTES) -> list[Pass]:
    """The passes that serve every slicing of `index` (crosses first, then single dimensions)."""
    max_groups = max(1, budget // (8 * n_classes * n_bins))
    overall = [s for s in index.slicings if not s.dims]
    ordered = sorted((s for s in index.slicings if s.dims), key=lambda s: -len(s.dims))
    passes: list[tuple[tuple[str, ...], list[Slicing], int]] = []
    for slicing in ordered:
        home = next((i for i, p in enumerate(passes) if set(slicing.dims) <= set(p[0])), None)
        if home is None:
            for i, (dims, served, _) in enumerate(passes):
                merged = tuple(dict.fromkeys((*dims, *slicing.dims)))
                n = _groups(index, merged)[1]
                if n <= max_groups:
                    passes[i] = (merged, served, n)
                    home = i
                    break
        if home is None:
            passes.append((slicing.dims, [], _groups(index, slicing.dims)[1]))
            home = len(passes) - 1
        passes[home][1].append(slicing)
    if not passes:
        passes.append(((), [], 1))
    passes[0][1].extend(overall)
    out = []
    for dims, served, _ in passes:
        group, n = _groups(index, dims)
        out.append(Pass(dims, group, n, tuple(served)))
    return out


def slice_histograms(index: SliceIndex, cell_of_row: np.ndarray, class_bin: np.ndarray,
                     n_classes: int, n_bins: int,
                     budget: int = PASS_BUDGET_BYTES) -> np.ndarray:
    """(n_slices, n_classes, n_bins) counts of rows by slice, class (label or window) and bin.

    `cell_of_row` and `class_bin` (class * n_bins + bin) describe the rows to count (already
    without those left out, e.g. unscored items). A pass whose combinations x classes x bins
    exceed `budget` is counted a range of combinations at a time. Counts are int32 while the
    rows allow it.
    """
    width = n_classes * n_bins
    out = empty_histograms(len(index.keys), width, len(class_bin))
    per_chunk = max(1, budget // (8 * width))
    for step in plan(index, n_classes, n_bins, budget):
        targets = []
        for slicing in step.slicings:
            slice_of_group = np.full(step.n_groups, -1, dtype=np.int64)
            slice_of_group[step.group_of_cell] = slicing.of_cell
            targets.append(slice_of_group)
        if step.n_groups == 1:
            counts = np.bincount(class_bin, minlength=width)[None, :]
            for target in targets:
                add_rows(out, counts, target)
            continue
        group = step.group_of_cell.astype(np.int32)[cell_of_row]
        for start in range(0, step.n_groups, per_chunk):
            stop = min(start + per_chunk, step.n_groups)
            rows = (group >= start) & (group < stop) if step.n_groups > per_chunk else None
            key = (group if rows is None else group[rows]).astype(np.int64)
            key -= start
            key *= width
            key += class_bin if rows is None else class_bin[rows]
            counts = np.bincount(key, minlength=(stop - start) * width).reshape(-1, width)
            del key, rows
            for target in targets:
                add_rows(out, counts, target[start:stop])
            del counts
    return out.reshape(len(index.keys), n_classes, n_bins)


def empty_histograms(n_slices: int, width: int, n_rows: int) -> np.ndarray:
    """Zero counts, int32 when no count can exceed it."""
    return np.zeros((n_slices, width), dtype=np.int32 if n_rows < 2**31 else np.int64)


def add_rows(out: np.ndarray, rows: np.ndarray, target: np.ndarray) -> None:
    """out[target[g]] += rows[g] for every g with target[g] >= 0 (targets may repeat).

    One in-place row addition per row: no temporary the size of `rows` (a sparse product or
    `np.add.reduceat` would allocate one, and the latter is many times slower)."""
    for g in np.flatnonzero(target >= 0):
        out[target[g]] += rows[g]


def occupied_bins(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each slice's bins that hold items of either class, packed to the left in bin order.

    Rank metrics and calibration are sums over a slice's bins to which empty bins add
    nothing, and a slice of a cross (a few thousand items) occupies a fraction of 8,192 bins:
    on its occupied bins they cost that fraction. Returns the counts (S, C, W) of `hist`
    (S, C, B), same dtype, and each packed bin's index in `hist` (S, W), W the most bins a
    slice occupies. A slice that occupies fewer is padded on the right with empty bins of
    index B - 1, so indices stay ascending along each row; a cumulative sum along a row is
    the one over all its bins, at the occupied bins, exactly (empty bins add zeros).
    """
    n_slices, n_classes, n_bins = hist.shape
    occupied = occupied_mask(hist)
    per_slice = np.count_nonzero(occupied, axis=1)
    width = int(per_slice.max(initial=0))
    packed_at = np.arange(width) < per_slice[:, None]
    packed = np.zeros((n_slices, n_classes, width), dtype=hist.dtype)
    for c in range(n_classes):
        packed[:, c][packed_at] = hist[:, c][occupied]
    index = np.full((n_slices, width), n_bins - 1)
    index[packed_at] = np.broadcast_to(np.arange(n_bins), occupied.shape)[occupied]
    return packed, index


def occupied_mask(hist: np.ndarray) -> np.ndarray:
    """(S, B) whether each bin of a histogram (S, C, B) holds items of any class."""
    occupied = hist[:, 0] != 0
    for c in range(1, hist.shape[1]):
        occupied |= hist[:, c] != 0
    return occupied
