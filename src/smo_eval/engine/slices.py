"""Slice definitions and the joint partition every slice is a union of.

Rows are grouped once into the joint partition of all slice dimensions (each combination of
values that occurs, missing values included as their own level). Statistics are counted per
joint cell; a slice's statistics are the sum over the cells it contains. That is why one pass
over the rows serves every dimension and every cross, and why partitions merge by addition.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from smo_eval.slicekey import SliceKey, dimension_of, display

# Above this many possible combinations the joint cells are found by sorting, not counting.
_DENSE_LIMIT = 20_000_000


@dataclass(frozen=True)
class Slicing:
    """One dimension or cross: its slices are `keys[start:stop]`; `of_cell` gives each joint
    cell's slice (global index) or -1 when the cell lacks a value of one of its dimensions."""

    dims: tuple[str, ...]
    start: int
    stop: int
    of_cell: np.ndarray
    # Per slice, its values' codes combined (mixed radix of the dimensions' value counts).
    codes: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))


@dataclass(frozen=True)
class SliceIndex:
    """Rows -> joint cells, and joint cells -> slices (a sparse 0/1 membership matrix)."""

    cell_of_row: np.ndarray          # int32, one per row
    n_cells: int
    keys: list[SliceKey]             # per slice: () overall, ((dim, value), ...) otherwise
    membership: sparse.csr_matrix    # (n_slices, n_cells)
    # Per dimension used, each joint cell's level (code into the sorted values, -1 missing).
    levels: dict[str, np.ndarray] = field(default_factory=dict)
    slicings: tuple[Slicing, ...] = ()
    values: dict[str, list[str]] = field(default_factory=dict)  # per dimension, sorted

    @property
    def names(self) -> list[str]:
        """Display names: overall, dim=value, dimA=a&dimB=b."""
        return [display(k) for k in self.keys]

    @property
    def dimensions(self) -> list[str]:
        """Per slice: overall, dim or dimA&dimB."""
        return [dimension_of(k) for k in self.keys]

    def aggregate(self, per_cell: np.ndarray) -> np.ndarray:
        """Sum statistics over the cells of each slice: (n_cells, ...) -> (n_slices, ...)."""
        flat = per_cell.reshape(self.n_cells, -1)
        out = self.membership @ flat
        return np.asarray(out).reshape((len(self.keys), *per_cell.shape[1:]))


def _codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1 = missing) and the value behind each code, in sorted order."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # Unused categories only yield empty slices, which are dropped later: no unique() pass.
        values = [str(v) for v in column.cat.categories]
        codes = column.cat.codes.to_numpy().astype(np.int32)
        order = np.argsort(values, kind="stable")
        if not np.array_equal(order, np.arange(len(values))):
            remap = np.empty(len(values), dtype=np.int32)
            remap[order] = np.arange(len(values), dtype=np.int32)
            codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.int32)
            values = [values[i] for i in order]
        return codes, values
    codes, uniques = pd.factorize(column, sort=True)
    return codes.astype(np.int32), [str(v) for v in uniques]


def build_slice_index(table: pd.DataFrame, dimensions: Sequence[str],
                      crosses: Sequence[Sequence[str]]) -> tuple[SliceIndex, list[str]]:
    """Index the slices of `table`; returns notices for configured columns the data lacks."""
    notices: list[str] = []
    present = [d for d in dict.fromkeys(dimensions) if d in table.columns]
    notices += [f"slice dimension '{d}' not in the data: skipped" for d in dimensions
                if d not in table.columns]
    kept_crosses: list[tuple[str, ...]] = []
    for cross in crosses:
        missing = [d for d in cross if d not in table.columns]
        if missing:
            notices.append(f"cross {' x '.join(cross)} skipped: no column {', '.join(missing)}")
        else:
            kept_crosses.append(tuple(cross))
    used_dims = list(dict.fromkeys([*present, *(d for c in kept_crosses for d in c)]))

    values: dict[str, list[str]] = {}

    def coded() -> Iterator[tuple[np.ndarray, int]]:
        for dim in used_dims:  # one column's codes at a time (each is a row-sized array)
            codes, values[dim] = _codes(table[dim])
            yield codes, len(values[dim])

    cell_of_row, cell_levels = _joint_cells(len(table), coded())
    level = dict(zip(used_dims, cell_levels, strict=True))
    n_cells = len(cell_levels[0]) if cell_levels else 1

    keys: list[SliceKey] = [()]
    slicings = [Slicing((), 0, 1, np.zeros(n_cells, np.int64))]
    for dims in [(d,) for d in present] + kept_crosses:
        slice_keys, slice_of_cell, codes = _slicing(dims, level, values)
        start = len(keys)
        keys += slice_keys
        slicings.append(Slicing(dims, start, len(keys),
                                np.where(slice_of_cell >= 0, slice_of_cell + start, -1), codes))
    row = np.concatenate([s.of_cell[s.of_cell >= 0] for s in slicings])
    col = np.concatenate([np.flatnonzero(s.of_cell >= 0) for s in slicings])
    membership = sparse.csr_matrix((np.ones(len(row), dtype=np.float64), (row, col)),
                                   shape=(len(keys), n_cells))
    return SliceIndex(cell_of_row, n_cells, keys, membership, level, tuple(slicings),
                      values), notices


def _joint_cells(n_rows: int, coded: Iterable[tuple[np.ndarray, int]]
                 ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Number the combinations that occur; return each row's cell and each cell's levels.

    `coded` yields each dimension's codes (-1 missing) and number of values."""
    radix: list[int] = []  # per dimension, its values and an extra level for missing values
    combined = np.zeros(n_rows, dtype=np.int64)
    for codes, cardinality in coded:
        base = cardinality + 1
        radix.append(base)
        combined *= base
        combined += np.where(codes >= 0, codes, base - 1)
        del codes
    if not radix:
        return np.zeros(n_rows, dtype=np.int32), []
    total = int(np.prod(radix, dtype=np.float64))
    if total <= _DENSE_LIMIT:
        used = np.flatnonzero(np.bincount(combined, minlength=total))
        lookup = np.full(total, -1, dtype=np.int32)
        lookup[used] = np.arange(len(used), dtype=np.int32)
        cell_of_row = lookup[combined]
    else:
        used, inverse = np.unique(combined, return_inverse=True)
        cell_of_row = inverse.astype(np.int32)
    levels = []
    rest = used.copy()
    for base in reversed(radix):
        levels.append(rest % base)
        rest //= base
    levels.reverse()
    # Missing values (the extra level) become -1 again.
    levels = [np.where(lv == base - 1, -1, lv) for lv, base in zip(levels, radix, strict=True)]
    return cell_of_row, levels


def _slicing(dims: tuple[str, ...], level: dict[str, np.ndarray],
             values: dict[str, list[str]]) -> tuple[list[SliceKey], np.ndarray, np.ndarray]:
    """Slices of one dimension or cross: their keys, each joint cell's slice (-1 = none) and
    each slice's combined value codes (ascending)."""
    combined = np.zeros(len(level[dims[0]]), dtype=np.int64)
    valid = np.ones(len(combined), dtype=bool)
    for dim in dims:
        lv = level[dim]
        valid &= lv >= 0
        combined = combined * len(values[dim]) + np.maximum(lv, 0)
    used = np.unique(combined[valid])
    slice_of_cell = np.full(len(combined), -1, dtype=np.int64)
    slice_of_cell[valid] = np.searchsorted(used, combined[valid])
    keys: list[SliceKey] = []
    for code in used:
        parts = []
        for dim in reversed(dims):
            k = len(values[dim])
            parts.append((dim, values[dim][int(code % k)]))
            code //= k
        keys.append(tuple(reversed(parts)))
    return keys, slice_of_cell, used
