"""Sample-world windows for the drift tests, built without the file round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from smo_eval.config import load_config
from smo_eval.config.schema_more import DriftConfig
from smo_eval.sample import generate_world
from smo_eval.stages.drift_windows import Window, split_by_time
from smo_eval.taxonomy import Taxonomy

# Switch every planted drift effect off: both windows come from one distribution.
NO_DRIFT = ["sample.planted.drift.language_mix.factor=1.0",
            "sample.planted.drift.score_shift.logit_shift=0.0",
            "sample.planted.drift.new_term.share=0.0",
            "sample.planted.drift.new_term.category_boost=1.0"]


def config(overrides: list[str] | None = None) -> dict[str, Any]:
    """The sample-world configuration as plain data (drift's stage functions take mappings)."""
    return load_config(overrides or [], preset="sample").plain()


def typed(cls: type, values: Any) -> Any:
    """A settings dataclass from plain values, checked as the loader checks them."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), values))


def drift_settings(cfg: dict[str, Any]) -> DriftConfig:
    """The drift section of a plain configuration, typed (what the drift functions take)."""
    settings = typed(DriftConfig, cfg["drift"])
    assert isinstance(settings, DriftConfig)
    return settings


def world_windows(n_items: int, overrides: list[str] | None = None, seed: int = 7
                  ) -> tuple[Window, Window, dict[str, Any]]:
    """Reference and current windows of a sample world, cut on created_at as drift does."""
    cfg = config(overrides)
    world = generate_world(cfg["sample"], cfg["taxonomy"], n_items=n_items, seed=seed)
    table = world.gold.merge(world.items, on="item_id")  # both sorted by item_id
    typed = load_config(overrides or [], preset="sample").config.taxonomy
    table["parent_category"] = Taxonomy.from_config(typed).parent_column(
        table["risk_category"])
    preds = world.predictions
    scores = pd.DataFrame({str(m): preds.loc[preds["model"] == m, "score"].to_numpy(np.float32)
                           for m in preds["model"].cat.categories})
    ref, cur = split_by_time(table, scores, "created_at", cfg["drift"]["reference"],
                             cfg["drift"]["current"])
    return ref, cur, cfg


def assert_same_drift(a: Path, b: Path) -> None:
    """Drift outputs of two backends under out_dirs `a` and `b`: every count, flag and text
    equal, effect sizes, p-values and the estimate to 1e-12 (the estimate sums per-row
    weights in another order when a SQL backend hands it counts)."""
    for name in ("drift", "performance_estimate", "emerging_terms"):
        x, y = (pd.read_parquet(p / f"drift/{name}.parquet") for p in (a, b))
        assert list(x.columns) == list(y.columns) and len(x) == len(y), name
        for column in x.columns:
            if x[column].dtype.kind == "f":
                np.testing.assert_allclose(x[column].to_numpy(float), y[column].to_numpy(float),
                                           rtol=1e-12, atol=1e-12, err_msg=f"{name}.{column}")
            else:
                left, right = (f[column].astype(object) for f in (x, y))
                np.testing.assert_array_equal(left.where(left.notna(), None).to_numpy(),
                                              right.where(right.notna(), None).to_numpy(),
                                              f"{name}.{column}")
    ja, jb = (json.loads((p / "drift/drift.json").read_text(encoding="utf-8")) for p in (a, b))
    for key in ("windows", "alarms", "alarm_list", "columns", "scores", "notices"):
        assert ja[key] == jb[key], key
