"""The risk taxonomy: leaf categories, their parents, severity tiers and KPI targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smo_eval.config.schema_data import TaxonomyConfig


@dataclass(frozen=True)
class Category:
    name: str
    parent: str
    severity: int
    target_recall: float | None
    max_fpr: float | None


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[Category, ...]
    safe_category: str = "none"

    @classmethod
    def from_config(cls, cfg: TaxonomyConfig) -> Taxonomy:
        """Build from the `taxonomy` settings; no categories means no taxonomy checks."""
        cats = tuple(
            Category(name=str(name), parent=str(spec.parent or name), severity=spec.severity,
                     target_recall=spec.target_recall, max_fpr=spec.max_fpr)
            for name, spec in cfg.categories.items()
        )
        return cls(cats, cfg.safe_category)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    def parent_of(self) -> dict[str, str]:
        """Leaf -> parent, with the safe category as its own parent."""
        parents = {c.name: c.parent for c in self.categories}
        return {self.safe_category: self.safe_category, **parents}

    def severity_of(self) -> dict[str, int]:
        return {c.name: c.severity for c in self.categories}

    def parent_column(self, risk_category: pd.Series) -> pd.Series:
        """Parent category per item; categories outside the taxonomy keep their own name."""
        parents = self.parent_of()
        leaves = risk_category.astype("category")
        # Map each category once, not each row; code -1 (missing) picks the trailing None.
        mapped = np.asarray([parents.get(str(c), str(c)) for c in leaves.cat.categories]
                            + [None], dtype=object)
        return pd.Series(mapped[leaves.cat.codes.to_numpy()], index=risk_category.index,
                         dtype="category")
