"""Per-slice thresholds that judge what ran and keep going: a model whose tuning data cannot
meet the precision target is left out with a notice (the others are tuned); a tuned threshold
whose held-out recall collapses is flagged; the runner says which kinds ran."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_recall_curve
from statsmodels.stats.proportion import proportion_confint

from smo_eval.errors import ConfigError
from smo_eval.stages.experiment.runner import run_experiment
from smo_eval.stages.experiment.thresholds import ThresholdResult, tune_thresholds
from tests.cli_helpers import invoke
from tests.settings import config


def _world(seed: int = 5, n: int = 9000) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Three languages, half the rows tune and half held-out, three models:

    - `good` separates violations well everywhere;
    - `inverted` is 1 - good: no threshold reaches precision 0.85 (its best is the base rate);
    - `overfit` is `good` except in Thai, where on the tuning rows a fifth of the violations
      score 0.999, a tenth of the safe items 0.95..0.998 and every other Thai item is noise
      in 0.3..0.9; held-out Thai violations are all noise, so the Thai threshold picked on the
      tuning part (just under 0.999) flags none of them, while the global threshold catches
      a share.
    """
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"item_id": np.arange(n),
                          "language": rng.choice(["en", "de", "th"], n),
                          "label": (rng.random(n) < 0.4).astype(int)})
    parts = np.where(rng.random(n) < 0.5, "tune", "held_out")
    y = table["label"].to_numpy()
    good = 1 / (1 + np.exp(-(3.0 * (2 * y - 1) + rng.normal(0, 1.2, n))))
    overfit = good.copy()
    thai = (table["language"] == "th").to_numpy()
    overfit[thai] = rng.uniform(0.3, 0.9, thai.sum())
    high = thai & (y == 0) & (rng.random(n) < 0.1)
    overfit[high] = rng.uniform(0.95, 0.998, high.sum())
    top = thai & (parts == "tune") & (y == 1) & (rng.random(n) < 0.2)
    overfit[top] = 0.999
    scores = pd.DataFrame({"good": good, "inverted": 1 - good, "overfit": overfit})
    return table, scores.astype("float32"), parts


def _tune(table: pd.DataFrame, scores: pd.DataFrame, parts: np.ndarray,
          models: list[str]) -> tuple[ThresholdResult, Any]:
    cfg = config(f"experiment.thresholds.models=[{','.join(models)}]")
    return tune_thresholds(table, scores, parts, cfg.experiment.thresholds,
                           models=models, ci_level=cfg.evaluate.ci.level), cfg


def test_a_model_that_cannot_meet_the_target_is_left_out_and_the_others_are_tuned() -> None:
    table, scores, parts = _world()
    result, cfg = _tune(table, scores, parts, ["good", "inverted"])
    target = float(cfg.experiment.thresholds.target.value)
    assert set(result.thresholds["model"]) == {"good"}
    assert set(result.judgement["model"]) == {"good"}
    left_out = [m for m in result.notices if m.startswith("inverted: left out of thresholds")]
    assert len(left_out) == 1, result.notices
    assert f"precision >= {target}" in left_out[0]
    # The best precision it reaches, against scikit-learn's precision-recall curve on the same
    # tuning rows (every threshold that flags a violation).
    tune = parts == "tune"
    y, s = table["label"].to_numpy()[tune], scores["inverted"].to_numpy()[tune]
    precision, recall, _ = precision_recall_curve(y, s)
    expected = precision[recall > 0].max()
    assert expected < target
    found = re.search(r"best reachable precision ([\d.]+)", left_out[0])
    assert found is not None, left_out[0]
    assert float(found.group(1)) == pytest.approx(expected, abs=1e-4)

    # Only when no model can be tuned is it an error, naming each model and its best.
    with pytest.raises(ConfigError, match=r"no model meets precision >= 0\.85.*inverted "
                                          r"\(best reachable precision"):
        _tune(table, scores, parts, ["inverted"])


def test_a_tuned_threshold_whose_held_out_recall_collapses_is_flagged() -> None:
    table, scores, parts = _world()
    result, cfg = _tune(table, scores, parts, ["good", "overfit"])
    level = float(cfg.evaluate.ci.level)
    chosen = result.thresholds.set_index(["model", "value"])
    assert chosen.loc[("overfit", "th"), "source"] == "tuned"
    assert chosen.loc[("overfit", "th"), "threshold"] > 0.99
    judged = result.judgement.set_index(["model", "operating_point", "slice"])
    held = parts == "held_out"
    y = table["label"].to_numpy()
    for model in ("good", "overfit"):
        for value in ("en", "de", "th"):
            # Independent reference: direct counts at both thresholds and statsmodels'
            # Clopper-Pearson interval of the tuned threshold's recall, against its tuning
            # recall and the global threshold's held-out recall.
            rows = held & (table["language"] == value).to_numpy() & (y == 1)
            s = scores[model].to_numpy()[rows]
            caught = int((s >= chosen.loc[(model, value), "threshold"]).sum())
            global_recall = (s >= chosen.loc[(model, "overall"), "threshold"]).mean()
            upper = proportion_confint(caught, rows.sum(), alpha=1 - level, method="beta")[1]
            promised = chosen.loc[(model, value), "tune_recall"]
            warning = judged.loc[(model, "per_slice", f"language={value}"), "warning"]
            assert bool(warning) == (upper < 0.5 * min(promised, global_recall)), (model, value)
            assert judged.loc[(model, "global", f"language={value}"), "warning"] == ""
    thai = judged.loc[("overfit", "per_slice", "language=th")]
    assert thai["recall"] == 0.0 and "under 50% of its tuning recall" in thai["warning"]
    assert judged.loc[("overfit", "global", "language=th"), "recall"] > 0.1
    assert [m for m in result.notices if "of its tuning recall" in m] == [
        f"overfit: language=th: {thai['warning']}"]


def test_runner_reports_the_kinds_that_ran_and_keeps_going_past_an_untunable_model() -> None:
    table, scores, _parts = _world(n=4000)
    cfg = config(*["experiment.kinds=[thresholds]",
                       "experiment.split.shares={train: 0, valid: 0, tune: 0.5, "
                       "held_out: 0.5}"])
    result = run_experiment(table, scores, cfg.experiment,
                            ci_level=cfg.evaluate.ci.level, seed=cfg.seed)
    assert result.kinds == ["thresholds"]
    assert result.thresholds is not None and result.calibration is None
    assert set(result.thresholds.thresholds["model"]) == {"good", "overfit"}
    assert any(m.startswith("inverted: left out of thresholds") for m in result.notices)
    assert not any(k.startswith(("retrain.", "calibration.")) for k in result.metrics)


def test_experiment_models_apply_to_every_kind_and_hard_models_are_left_out() -> None:
    """`experiment.models` narrows thresholds and calibration (each kind's own list wins);
    `exclude` (hard 0/1 decisions) removes a model from both; `calibration.by: null` fits
    global maps only."""
    table, scores, _parts = _world(n=4000)
    cfg = config(*["experiment.kinds=[thresholds,calibration]", "experiment.models=[good,overfit]",
                   "experiment.calibration.by=null",
                   "experiment.split.shares={train: 0, valid: 0, tune: 0.5, held_out: 0.5}"])
    result = run_experiment(table, scores, cfg.experiment, ci_level=cfg.evaluate.ci.level,
                            seed=cfg.seed, exclude=frozenset({"overfit"}))
    assert result.thresholds is not None and result.calibration is not None
    assert set(result.thresholds.thresholds["model"]) == {"good"}
    assert set(result.calibration.summary["model"]) == {"good"}
    assert set(result.calibration.summary["scope"]) == {"-", "global"}
    named = config("experiment.kinds=[thresholds]", "experiment.models=[missing]")
    with pytest.raises(ConfigError, match=r"\['missing'\] have no scores"):
        run_experiment(table, scores, named.experiment, ci_level=0.95, seed=0)


def test_the_command_judges_what_ran_keeps_going_and_shows_the_warning(
        project: Path) -> None:
    """`smo-eval experiment experiment.kinds=[thresholds]` on files: exit 0; the untunable
    model is named in a notice while the others are tuned; the collapsed Thai threshold's
    warning is in the console table (and a notice); the default objective, a retrain metric,
    is not judged (no objective, a notice says why)."""
    table, scores, parts = _world()
    table.assign(split=parts).drop(columns="label").to_csv(project / "items.csv", index=False)
    table[["item_id", "label"]].to_csv(project / "gold.csv", index=False)
    scores.assign(item_id=table["item_id"]).melt(
        id_vars="item_id", var_name="model", value_name="score").to_csv(
        project / "predictions.csv", index=False)
    output = invoke("experiment", "mlflow.enabled=false", "data.items=items.csv",
                    "data.gold=gold.csv", "data.predictions=predictions.csv",
                    "experiment.kinds=[thresholds]", "experiment.split.column=split",
                    "experiment.split.values={train: [], valid: [], tune: [tune], "
                    "held_out: [held_out]}")
    flat = " ".join(output.split())
    assert "inverted: left out of thresholds: no threshold meets precision >= 0.85" in flat
    assert ("experiment.objective.metric=retrain.held_out.roc_auc: retrain did not run "
            "(experiment.kinds=['thresholds']): no objective recorded") in flat
    # The console table: one row per (model, slice), the warning on the collapsed one only.
    rows = [line for line in output.splitlines() if "language=th" in line]
    overfit = [line for line in rows if "overfit" in line]
    assert overfit and "tuned threshold" in overfit[0]
    assert not any("tuned threshold" in line for line in rows if "good" in line)
    metrics = json.loads((project / "outputs/experiment/metrics.json").read_text())
    assert "objective" not in metrics and "thresholds.good.per_slice.recall" in metrics
