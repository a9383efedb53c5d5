"""Failure slices of one model and error kind: a lattice search over metadata and derived text
features, kept when the error odds against the rest are significantly and substantially
higher (`engine.lattice`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smo_eval.config.schema_stages import FailureSliceConfig
from smo_eval.engine import lattice
from smo_eval.engine.textfeatures import FEATURES


@dataclass
class Columns:
    """Slicing columns over the whole table: codes (-1 missing) and values."""

    columns: dict[str, lattice.Column]

    def subset(self, rows: np.ndarray) -> list[lattice.Column]:
        return [lattice.Column(c.name, c.codes[rows], c.values) for c in self.columns.values()]

    def mask(self, conditions: tuple[tuple[str, str], ...]) -> np.ndarray:
        return lattice.mask(self.columns, conditions)


def failure_slices(columns: Columns, pop: np.ndarray, err: np.ndarray,
                    cfg: FailureSliceConfig) -> tuple[pd.DataFrame, str | None]:
    """Ranked failure slices of one model and error kind, and why there are none (else None).

    A model that errs on most of a population still has slices where it errs far more often:
    `lattice.score` judges them by error odds, so a lift out of reach near 100 % errors does
    not hide them, and an empty result says what the best candidate had."""
    rows = np.flatnonzero(pop)
    e = err[rows]
    e_total = int(e.sum())
    subset = columns.subset(rows)
    counted = lattice.search(subset, e, cfg.max_conditions, cfg.min_support,
                             cfg.min_errors)
    scored = lattice.score(counted, len(rows), e_total, alpha=cfg.alpha,
                           min_odds_ratio=cfg.min_odds_ratio,
                           size_weight=cfg.size_weight)
    found = lattice.drop_weak_conditions(scored[scored["qualified"]], counted,
                                         cfg.min_condition_effect)
    top = cfg.top
    pruned = lattice.prune_redundant(found.head(top * 10), cfg.explain_share)
    pruned = lattice.drop_near_duplicates(pruned, subset, cfg.max_jaccard, top,
                                          frozenset(FEATURES))
    pruned.insert(0, "rank", np.arange(1, len(pruned) + 1))
    why = None if len(pruned) else _no_slice(scored, counted, len(rows), e_total, cfg)
    return pruned.drop(columns=["qualified"]), why


def _no_slice(scored: pd.DataFrame, counted: pd.DataFrame, n_total: int, e_total: int,
              cfg: FailureSliceConfig) -> str:
    """Why no failure slice qualified: the base error rate and the best-ranked candidate
    (under its shortest name: weak conditions dropped as for the slices themselves)."""
    base = f"{e_total:,} errors among {n_total:,} items ({e_total / max(n_total, 1):.1%})"
    if not len(scored):
        return (f"{base}; no slice has {cfg.min_support}+ items and "
                f"{cfg.min_errors}+ errors")
    best = lattice.drop_weak_conditions(scored, counted,
                                        cfg.min_condition_effect).iloc[0]
    return (f"{base}; best candidate {lattice.name(best['conditions'])}: "
            f"{int(best['errors']):,} of {int(best['n']):,} ({best['error_rate']:.1%}), "
            f"odds ratio {best['odds_ratio']:.2f} against the rest, BH-adjusted p "
            f"{best['p_adjusted']:.2g} (qualifying needs p <= {cfg.alpha} and odds "
            f"ratio >= {cfg.min_odds_ratio})")


