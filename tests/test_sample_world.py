"""Tests of the sample world generator: schema, realism and every planted effect.

Each planted effect is checked with an independent computation from the observable tables
(slices from item metadata, recall from scores at threshold 0.5, terms from the text), reading
the effect's parameters from conf/sample/default.yaml so the config stays the single source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from omegaconf import DictConfig, OmegaConf
from sklearn.metrics import roc_auc_score

from smo_eval.sample import SampleWorld, generate_world
from smo_eval.sample.trend import history_size
from tests.settings import world_config

ROOT = Path(__file__).parents[1]
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def cfg() -> DictConfig:
    conf = OmegaConf.create(world_config()[0])
    assert isinstance(conf, DictConfig)
    return conf


@pytest.fixture(scope="module")
def taxonomy() -> DictConfig:
    conf = OmegaConf.create(world_config()[1])
    assert isinstance(conf, DictConfig)
    return conf


@pytest.fixture(scope="module")
def world(cfg: DictConfig, taxonomy: DictConfig) -> SampleWorld:
    return generate_world(cfg, taxonomy, n_items=60_000)


@pytest.fixture(scope="module")
def frame(world: SampleWorld) -> pd.DataFrame:
    """Items joined with gold, truth and one score column per model."""
    scores = world.predictions.pivot(index="item_id", columns="model", values="score")
    return (
        world.items.merge(world.gold, on="item_id")
        .merge(world.truth, on="item_id")
        .merge(scores, left_on="item_id", right_index=True)
    )


def _where(frame: pd.DataFrame, where: Any) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    return mask


def _recall(frame: pd.DataFrame, model: str, mask: pd.Series) -> float:
    """Recall against the gold label within `mask`."""
    positives = mask & (frame["label"] == 1)
    return float((frame.loc[positives, model] >= THRESHOLD).mean())


def _true_recall(frame: pd.DataFrame, model: str, mask: pd.Series) -> float:
    """Recall against the true label, for effects defined on true violations."""
    positives = mask & (frame["true_label"] == 1)
    return float((frame.loc[positives, model] >= THRESHOLD).mean())


def test_same_seed_gives_identical_tables_and_other_seed_differs(
    cfg: DictConfig, taxonomy: DictConfig
) -> None:
    first = generate_world(cfg, taxonomy, n_items=5_000, seed=11)
    again = generate_world(cfg, taxonomy, n_items=5_000, seed=11)
    other = generate_world(cfg, taxonomy, n_items=5_000, seed=12)
    for name in ("items", "gold", "predictions", "annotations", "truth"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    assert not first.predictions["score"].equals(other.predictions["score"])
    assert not first.items["text"].equals(other.items["text"])


def test_plain_dict_config_gives_the_same_world(cfg: DictConfig, taxonomy: DictConfig) -> None:
    plain_cfg = OmegaConf.to_container(cfg, resolve=True)
    plain_tax = OmegaConf.to_container(taxonomy, resolve=True)
    assert isinstance(plain_cfg, dict)
    assert isinstance(plain_tax, dict)
    from_dicts = generate_world(plain_cfg, plain_tax, n_items=2_000)
    from_conf = generate_world(cfg, taxonomy, n_items=2_000)
    pd.testing.assert_frame_equal(from_dicts.items, from_conf.items)
    pd.testing.assert_frame_equal(from_dicts.predictions, from_conf.predictions)


def test_schema_and_compact_dtypes(world: SampleWorld, cfg: DictConfig) -> None:
    items, gold, preds, truth = world.items, world.gold, world.predictions, world.truth
    n = cfg.n_items + history_size(cfg, cfg.n_items)  # the period's items and the history's
    assert items["item_id"].dtype == np.int64
    assert items["item_id"].tolist() == list(range(1, n + 1))
    for column in ("region", "language", "content_type", "surface", "creator_tier",
                   "expression_type", "text"):
        assert isinstance(items[column].dtype, pd.CategoricalDtype), column
    assert items["created_at"].dtype == "datetime64[ns]"
    assert gold["label"].dtype == np.int8
    assert set(gold["gold_version"].unique()) == {cfg.gold.version}
    assert gold["reviewer"].nunique() == len(cfg.gold.reviewers)
    assert preds["score"].dtype == np.float32
    assert isinstance(preds["model"].dtype, pd.CategoricalDtype)
    assert world.annotations["label"].dtype == np.int8
    assert truth["gold_is_error"].dtype == bool
    assert {"true_label", "true_category", "is_hard", "has_planted_term"} <= set(truth.columns)


def test_metadata_covers_regions_languages_and_period(world: SampleWorld, cfg: DictConfig) -> None:
    items = world.items
    assert items["region"].nunique() >= 6
    assert items["language"].nunique() >= 6
    assert set(items["content_type"].unique()) == {"UGC", "PGC"}
    history = cfg.planted.trend.history.weeks
    start = pd.Timestamp(cfg.period.start)
    assert items["created_at"].min() >= start - pd.Timedelta(weeks=history)
    assert items["created_at"].max() < pd.Timestamp(cfg.period.end) + pd.Timedelta(days=1)
    assert items["created_at"].is_monotonic_increasing
    weeks = items["created_at"].dt.isocalendar().week
    assert weeks.nunique() == 6 + history
    period = (items["created_at"] >= start).sum()
    assert period == cfg.n_items and len(items) - period == history_size(cfg, cfg.n_items)


def test_language_depends_on_region(world: SampleWorld) -> None:
    share = pd.crosstab(world.items["region"], world.items["language"], normalize="index")
    assert share.loc["EA", "zh"] > 0.7
    assert share.loc["SEA", "zh"] > 0.2
    assert share.loc["MENA", "ar"] > 0.7
    assert share.loc["SA", "hi"] > 0.6
    assert share.loc["LATAM", ["es", "pt"]].sum() > 0.9
    assert share.loc[["NAM", "EU", "LATAM", "MENA"], "hi"].max() == 0
    assert (share["en"] > 0).all()


def test_prevalence_and_category_mix_are_realistic(
    frame: pd.DataFrame, taxonomy: DictConfig
) -> None:
    assert 0.06 < frame["true_label"].mean() < 0.10
    by_region = frame.groupby("region", observed=True)["label"].mean()
    assert by_region.max() / by_region.min() > 1.5
    violating = frame[frame["label"] == 1]
    assert violating["risk_category"].nunique() >= 8
    assert set(violating["risk_category"].unique()) <= set(taxonomy.categories)
    assert (frame.loc[frame["label"] == 0, "risk_category"] == taxonomy.safe_category).all()
    severe = [c for c, spec in taxonomy.categories.items() if spec.severity == 1]
    assert violating["risk_category"].isin(severe).mean() < 0.05
    in_sea = violating["region"] == "SEA"
    gambling = violating["risk_category"] == "gambling"
    assert gambling[in_sea].mean() > 1.5 * gambling[~in_sea].mean()


def test_texts_follow_language_and_carry_features(frame: pd.DataFrame) -> None:
    assert frame["text"].cat.categories.size > 5_000
    zh_text = frame.loc[frame["language"] == "zh", "text"].astype(str)
    assert zh_text.str.contains(r"[\u4e00-\u9fff]").all()
    th_text = frame.loc[frame["language"] == "th", "text"].astype(str)
    assert th_text.str.contains(r"[\u0e00-\u0e7f]").all()
    text = frame["text"].astype(str)
    assert text.str.contains(r"https?://|www\.|t\.me/").mean() > 0.05
    assert text.str.contains(r"\d").mean() > 0.1
    assert zh_text.str.contains(r"[A-Za-z]{3,}").mean() > 0.1  # code-mixing
    assert text.str.len().std() > 10


def test_every_item_scored_by_both_models_and_v2_better_overall(
    world: SampleWorld, frame: pd.DataFrame, cfg: DictConfig
) -> None:
    counts = world.predictions.groupby("model", observed=True)["item_id"].nunique()
    total = cfg.n_items + history_size(cfg, cfg.n_items)
    assert counts.to_dict() == {m: total for m in cfg.models}
    assert world.predictions["score"].between(0, 1).all()
    champion, challenger = list(cfg.models)
    auc = {m: roc_auc_score(frame["label"], frame[m]) for m in (champion, challenger)}
    assert auc[challenger] > auc[champion] + 0.003
    everything = pd.Series(True, index=frame.index)
    assert _recall(frame, challenger, everything) > _recall(frame, champion, everything)


def test_regression_slice_loses_challenger_recall(frame: pd.DataFrame, cfg: DictConfig) -> None:
    spec = cfg.planted.regression
    champion = next(m for m in cfg.models if m != spec.model)
    in_slice = _where(frame, spec.where)
    assert (in_slice & (frame["label"] == 1)).sum() >= 300
    drop = _recall(frame, champion, in_slice) - _recall(frame, spec.model, in_slice)
    assert drop >= 0.10
    elsewhere = _recall(frame, champion, ~in_slice) - _recall(frame, spec.model, ~in_slice)
    assert elsewhere < 0


def test_failure_slice_misses_far_more_for_both_models(
    frame: pd.DataFrame, cfg: DictConfig
) -> None:
    spec = cfg.planted.failure_slice
    in_slice = _where(frame, spec.where)
    assert (in_slice & (frame["label"] == 1)).sum() >= 50
    for model in spec.models:
        miss_slice = 1 - _recall(frame, model, in_slice)
        miss_rest = 1 - _recall(frame, model, ~in_slice)
        assert miss_slice >= 2 * miss_rest, model


def test_champion_misses_implicit_violations_about_twice_as_often(
    frame: pd.DataFrame, cfg: DictConfig
) -> None:
    """The planted expression type: implicit violations, a planted share of all items, are
    missed about twice as often as explicit ones by the champion (gold labels, threshold 0.5);
    the challenger is not shifted, so its two miss rates stay alike."""
    spec = cfg.planted.expression_type
    shares = frame["expression_type"].value_counts(normalize=True)
    for value, share in spec.shares.items():
        assert abs(shares[value] - share) < 0.01, value
    implicit = frame["expression_type"] == spec.value
    miss = {m: (1 - _recall(frame, m, implicit)) / (1 - _recall(frame, m, ~implicit))
            for m in cfg.models}
    assert list(spec.models) == [next(iter(cfg.models))]  # the champion
    assert 1.7 <= miss[spec.models[0]] <= 2.3
    assert all(0.8 <= ratio <= 1.25 for m, ratio in miss.items() if m not in spec.models)


def test_coded_terms_are_missed(frame: pd.DataFrame, cfg: DictConfig) -> None:
    spec = cfg.planted.coded_term
    terms = [t for ts in spec.terms.values() for t in ts]
    violating = (frame["language"] == spec.language) & (frame["true_label"] == 1)
    has_term = frame["text"].astype(str).str.contains("|".join(terms))
    assert (has_term & violating).sum() >= 100
    assert (frame.loc[violating, "has_planted_term"] == has_term[violating]).all()
    for model in spec.models:
        coded_recall = _true_recall(frame, model, violating & has_term)
        other_recall = _true_recall(frame, model, violating & ~has_term)
        assert coded_recall < other_recall - 0.3, model
    # The same words also occur innocently in safe posts.
    assert (has_term & (frame["true_label"] == 0)).sum() > 0


def test_label_errors_match_share_and_scores_follow_truth(
    frame: pd.DataFrame, cfg: DictConfig
) -> None:
    spec = cfg.planted.label_errors
    flipped = frame["label"] != frame["true_label"]
    assert (flipped == frame["gold_is_error"]).all()
    assert abs(flipped.mean() - spec.share) < 0.003
    positive_share = frame.loc[flipped, "true_label"].mean()
    assert abs(positive_share - spec.positive_share) < 0.1
    hidden_violations = flipped & (frame["true_label"] == 1)
    true_safe = ~flipped & (frame["label"] == 0)
    for model in cfg.models:
        assert frame.loc[hidden_violations, model].mean() > frame.loc[true_safe, model].mean() + 0.4


def test_annotations_subset_and_careless_annotator(world: SampleWorld, cfg: DictConfig) -> None:
    ann = world.annotations.merge(world.truth, on="item_id")
    n_items = ann["item_id"].nunique()
    assert n_items == round(cfg.annotation_share * cfg.n_items) + round(
        cfg.annotation_share * history_size(cfg, cfg.n_items))
    per_item = ann.groupby("item_id")["annotator_id"].nunique()
    assert (per_item == cfg.annotation.per_item).all()
    assert ann["annotator_id"].nunique() == 8
    ann["agrees"] = ann["label"] == ann["true_label"]
    agreement = ann.groupby("annotator_id", observed=True)["agrees"].mean()
    careless = cfg.planted.careless_annotator
    assert agreement.idxmin() == careless.annotator_id
    assert abs(agreement[careless.annotator_id] - careless.accuracy) < 0.08
    assert agreement.drop(careless.annotator_id).min() > 0.8
    by_hardness = ann.groupby("is_hard")["agrees"].mean()
    assert by_hardness[True] < by_hardness[False] - 0.05


def test_annotation_subset_is_capped(cfg: DictConfig, taxonomy: DictConfig) -> None:
    capped = OmegaConf.merge(cfg, {"annotation": {"max_items": 100}})
    world = generate_world(capped, taxonomy, n_items=20_000)
    assert world.annotations["item_id"].nunique() == 100


def test_drift_between_reference_and_current_windows(frame: pd.DataFrame, cfg: DictConfig) -> None:
    drift = cfg.planted.drift
    created = frame["created_at"]
    reference = created.between(
        drift.reference[0],
        pd.Timestamp(drift.reference[1]) + pd.Timedelta(days=1),
        inclusive="left",
    )
    current = created >= pd.Timestamp(drift.current[0])
    history = created < pd.Timestamp(cfg.period.start)  # the weeks before, for `trend`
    assert (reference | current | history).all() and not (reference & current).any()
    assert not (history & (reference | current)).any()

    mix = drift.language_mix
    is_lang = frame["language"] == mix.language
    ratio = is_lang[current].mean() / is_lang[reference].mean()
    assert abs(ratio - mix.factor) < 0.4

    shift = drift.score_shift
    group = (frame["language"] == shift.language) & (frame["true_label"] == shift.label)
    for model in cfg.models:
        delta = (
            frame.loc[group & current, model].mean() - frame.loc[group & reference, model].mean()
        )
        if model == shift.model:
            assert delta > 0.05
        else:
            assert abs(delta) < 0.03

    new = drift.new_term
    has_new = frame["text"].astype(str).str.contains(new.term)
    assert has_new.sum() >= 20
    assert not (has_new & reference).any()
    assert (frame.loc[has_new, "true_category"] == new.category).all()
    assert (frame.loc[has_new, "language"] == new.language).all()


def test_language_bias_compresses_scores_but_keeps_ranks(
    frame: pd.DataFrame, cfg: DictConfig
) -> None:
    spec = cfg.planted.language_bias
    in_lang = frame["language"] == spec.language
    for model in spec.models:
        assert _true_recall(frame, model, in_lang) < _true_recall(frame, model, ~in_lang) - 0.15
        assert frame.loc[in_lang, model].max() <= spec.scale
        auc = roc_auc_score(frame.loc[in_lang, "true_label"], frame.loc[in_lang, model])
        assert auc > 0.85
        lowered = frame.loc[in_lang & (frame["true_label"] == 1), model] >= THRESHOLD * spec.scale
        assert lowered.mean() > _true_recall(frame, model, in_lang) + 0.2
