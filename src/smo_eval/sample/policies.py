"""A multi-head sample world (preset `sample_policies`): one score per item, model and policy,
gold naming the policies each item violates or is borderline under, and two planted effects
the later stages must find.

- `planted.confusion`: a share of the items violating policy A (and not B) are scored by the
  models as B instead of A: the model routes them to the wrong queue, so (A, B) must be the
  largest entry of evaluate's policy confusion table.
- `planted.borderline_market`: borderline items of one region get a higher logit, so that
  region's borderline flag rate is far above the rest's: evaluate's borderline table marks it
  `above_rest` and the report names it.

Written to its own folder (`sample.out_dir`, data/sample_policies): the single-score world of
`smo_eval.sample.world` is untouched. Draws are vectorised numpy in one fixed order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from smo_eval.sample.sampling import NS_PER_DAY, categorical, draw, draw_given, sample_rows
from smo_eval.sample.sampling import sigmoid as _sigmoid
from smo_eval.sample.world import SampleWorld


def generate_policy_world(cfg: Mapping[str, Any], n_items: int | None = None,
                          seed: int | None = None) -> SampleWorld:
    """Draw the multi-head world from the `sample` settings (their `policies` block)."""
    conf: dict[str, Any] = (OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
                            if isinstance(cfg, DictConfig) else dict(cfg))
    spec = conf["policies"]
    n = int(conf["n_items"] if n_items is None else n_items)
    rng = np.random.default_rng(int(conf["seed"] if seed is None else seed))
    start = np.datetime64(conf["period"]["start"], "ns").astype(np.int64)
    end = np.datetime64(conf["period"]["end"], "ns").astype(np.int64) + NS_PER_DAY
    created = np.sort(rng.integers(start, end, size=n, dtype=np.int64))
    region = draw(rng, conf["regions"], n)
    language = draw_given(rng, conf["languages_by_region"], region)
    content = draw(rng, conf["content_types"], n)
    names = list(spec["prevalence"])
    violate = rng.random((n, len(names))) < np.array([spec["prevalence"][p] for p in names])
    for first, also in spec.get("co_violation", {}).items():
        for second, share in also.items():
            a, b = names.index(first), names.index(second)
            violate[:, b] |= violate[:, a] & (rng.random(n) < share)
    weights = np.array([[spec["prevalence"][p] for p in names]])
    which = sample_rows(rng, weights, np.zeros(n, dtype=np.int64))
    border = np.zeros_like(violate)
    is_border = ~violate.any(axis=1) & (rng.random(n) < spec["borderline_share"])
    border[np.flatnonzero(is_border), which[is_border]] = True

    planted = spec["planted"]
    confusion = planted["confusion"]
    a, b = names.index(confusion["gold"]), names.index(confusion["flagged"])
    confused = violate[:, a] & ~violate[:, b] & (rng.random(n) < confusion["share"])
    market = planted["borderline_market"]
    in_market = region.mask(market["region"])
    scoring = spec["scoring"]
    offset = np.array([scoring.get("policy_offset", {}).get(p, 0.0) for p in names])
    scores = {}
    for model, params in spec["models"].items():
        logit = np.where(violate, params["pos_mean"],
                         np.where(border, scoring["borderline_mean"], params["neg_mean"]))
        logit = logit + offset + params["noise"] * rng.standard_normal(violate.shape)
        if model in confusion["models"]:
            logit[confused, a] -= confusion["logit_shift"]
            logit[confused, b] += confusion["logit_shift"]
        logit[border & in_market[:, None]] += market["logit_shift"]
        scores[model] = _sigmoid(logit).astype(np.float32)

    ids = np.array([f"pol-{i:06d}" for i in range(1, n + 1)], dtype=object)
    items = pd.DataFrame({"item_id": ids, "region": region.categorical(),
                          "language": language.categorical(),
                          "content_type": content.categorical(),
                          "created_at": created.astype("datetime64[ns]")})
    return SampleWorld(items=items, gold=_gold(ids, names, violate, border, language, spec),
                       predictions=_predictions(ids, names, scores),
                       annotations=pd.DataFrame({"item_id": pd.Series(dtype=object),
                                                 "annotator_id": pd.Series(dtype=object),
                                                 "label": pd.Series(dtype=object)}),
                       truth=_truth(ids, names, violate, border, confused, a))


def _gold(ids: np.ndarray, names: list[str], violate: np.ndarray, border: np.ndarray,
          language: Any, spec: Mapping[str, Any]) -> pd.DataFrame:
    """One row per item and policy it violates or is borderline under; one row with no
    policy for a safe item. Borderline labels are written in the item's language (`zh`:
    `labels.borderline_zh`), as QA teams working in two languages do."""
    labels = spec["labels"]
    item, policy = np.nonzero(violate | border)
    state = np.where(violate[item, policy], labels["violating"],
                     np.where(language.codes[item] == language.index("zh"),
                              labels["borderline_zh"], labels["borderline"]))
    safe = np.flatnonzero(~(violate | border).any(axis=1))
    frame = pd.DataFrame({
        "item_id": np.concatenate([ids[item], ids[safe]]),
        "policy": np.concatenate([np.asarray(names, dtype=object)[policy],
                                  np.full(len(safe), "", dtype=object)]),
        "label": np.concatenate([state.astype(object),
                                 np.full(len(safe), labels["safe"], dtype=object)]),
        "_order": np.concatenate([item, safe])})
    frame = frame.sort_values(["_order", "policy"], kind="stable").drop(columns="_order")
    return frame.reset_index(drop=True)


def _predictions(ids: np.ndarray, names: list[str],
                 scores: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Long format: one row per item, model and policy."""
    models = list(scores)
    n, k = len(ids), len(names)
    return pd.DataFrame({
        "item_id": np.tile(np.repeat(ids, k), len(models)),
        "model": categorical(np.repeat(np.arange(len(models)), n * k), models),
        "policy": categorical(np.tile(np.arange(k), n * len(models)), names),
        "score": np.concatenate([scores[m].ravel() for m in models])})


def _truth(ids: np.ndarray, names: list[str], violate: np.ndarray, border: np.ndarray,
           confused: np.ndarray, gold_policy: int) -> pd.DataFrame:
    """Per item and policy: violating, borderline, and whether the planted confusion moved
    its score (for the tests)."""
    n, k = violate.shape
    moved = np.zeros_like(violate)
    moved[:, gold_policy] = confused
    return pd.DataFrame({"item_id": np.repeat(ids, k),
                         "policy": categorical(np.tile(np.arange(k), n), names),
                         "violating": violate.ravel(), "borderline": border.ravel(),
                         "confused": moved.ravel()})
