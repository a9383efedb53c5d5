"""`trend` against `evaluate` on the same rows: 26 ISO weeks, the default slices (the sample
preset's dimensions and crosses), two models. Both in memory, in this process, one after the
other; the rows give each one's time and added memory, trend's as a ratio of evaluate's (the
only comparison that means anything on a shared machine). Rows are built with numpy.

    python benchmarks/run.py --rows 1e6 --big 0 --only --also trend
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

from benchmarks.measure import measure_call
from smo_eval.config import load_config
from smo_eval.stages.evaluate import evaluate
from smo_eval.stages.trend import trend
from smo_eval.taxonomy import Taxonomy

WEEKS = 26
REGIONS = {"NAM": ["en", "es"], "LATAM": ["es", "pt"], "EU": ["en", "es", "ar"],
           "MENA": ["ar", "en"], "SA": ["hi", "en"], "SEA": ["id", "th", "zh", "en"],
           "EA": ["zh", "en"]}


def _rows(rows: int, categories: list[str], parents: dict[str, str]
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`rows` gold items over 26 weeks with the sample preset's slice columns and 2 models."""
    rng = np.random.default_rng(11)
    regions = list(REGIONS)
    region = rng.integers(0, len(regions), rows).astype(np.int8)
    languages = sorted({lang for langs in REGIONS.values() for lang in langs})
    choice = rng.integers(0, 4, rows)
    language = np.array([[languages.index(lang) for lang in (REGIONS[r] * 4)[:4]]
                         for r in regions], dtype=np.int8)[region, choice]
    label = rng.random(rows) < 0.08
    leaf = np.where(label, rng.integers(0, len(categories), rows), len(categories))
    names = [*categories, "none"]
    parent_names = sorted({parents[c] for c in categories} | {"none"})
    parent_of = np.array([parent_names.index(parents.get(n, "none")) for n in names])
    start = np.datetime64("2026-05-04", "s").astype(np.int64)
    created = start + rng.integers(0, WEEKS * 7 * 86400, rows)
    table = pd.DataFrame({
        "item_id": np.arange(rows, dtype=np.int64), "label": label.astype(np.int8),
        "risk_category": pd.Categorical.from_codes(leaf, names),
        "parent_category": pd.Categorical.from_codes(parent_of[leaf], parent_names),
        "region": pd.Categorical.from_codes(region, regions),
        "language": pd.Categorical.from_codes(language, languages),
        "content_type": pd.Categorical.from_codes(rng.integers(0, 2, rows).astype(np.int8),
                                                  ["UGC", "PGC"]),
        "created_at": created.astype("datetime64[s]").astype("datetime64[ns]")})
    logit = np.where(label, 2.2, -3.2) + rng.standard_normal(rows)
    scores = pd.DataFrame({m: (1 / (1 + np.exp(-(logit + noise * rng.standard_normal(rows)))))
                           .astype(np.float32) for m, noise in (("v1", 1.2), ("v2", 0.9))})
    return table, scores


def _timed(func: Any) -> tuple[Any, float, float]:
    """(result, seconds, GB of peak RSS above the RSS before the call)."""
    before = psutil.Process().memory_info().rss / 1e9
    result, seconds, peak = measure_call(func)
    return result, seconds, peak - before


def run(rows: int, workdir: Path) -> list[dict[str, Any]]:
    cfg = load_config([], preset="sample").config
    taxonomy = Taxonomy.from_config(cfg.taxonomy)
    parents = {c.name: c.parent for c in taxonomy.categories}
    table, scores = _rows(rows, list(parents), parents)
    thresholds = {m: cfg.evaluate.threshold for m in scores.columns}
    ev, ev_s, ev_extra = _timed(lambda: evaluate(
        table, scores, cfg.evaluate, cfg.slicing, thresholds=thresholds))
    tr, tr_s, tr_extra = _timed(lambda: trend(
        table, scores, None, cfg.trend, cfg.slicing, taxonomy, thresholds=thresholds,
        level=cfg.evaluate.ci.level, seed=cfg.seed))
    n_slices = len(ev.slice_metrics) // len(scores.columns)
    base = {"rows": rows, "backend": "pandas, in memory"}
    return [
        {**base, "what": f"evaluate ({n_slices} slices x 2 models), reference for trend",
         "seconds": round(ev_s, 2), "peak_gb": round(ev_extra, 2), "time_ratio": 1.0,
         "memory_ratio": 1.0},
        {**base, "what": f"trend ({tr.headline['periods']} weeks x {n_slices} slices x 2 "
                         f"models, {tr.headline['monitored']} series monitored)",
         "seconds": round(tr_s, 2), "peak_gb": round(tr_extra, 2),
         "time_ratio": round(tr_s / ev_s, 2),
         "memory_ratio": round(tr_extra / max(ev_extra, 1e-3), 2)},
    ]
