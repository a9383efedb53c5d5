"""The counting engine against scikit-learn, item by item, on every slice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    roc_auc_score,
)

from smo_eval.config.schema_data import SlicingConfig
from smo_eval.config.schema_stages import EvaluateConfig
from smo_eval.engine.counting import count_model
from smo_eval.engine.slices import build_slice_index
from smo_eval.stages.evaluate import evaluate

EVAL_CFG = EvaluateConfig()
SLICING = SlicingConfig(["region", "language", "absent"], [["region", "language"]])


def _data(n: int = 12_000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "label": (rng.random(n) < 0.15).astype("int8"),
        "region": pd.Categorical(rng.choice(["EU", "SEA", "NAM", "MENA"], n)),
        "language": rng.choice(["en", "zh", "ar"], n).astype(object),
    })
    table.loc[rng.random(n) < 0.02, "language"] = None  # missing metadata
    logit = rng.normal(0, 1.5, n) + 2.5 * table["label"] - 1.0
    a = 1 / (1 + np.exp(-logit))
    b = np.round(np.clip(a + rng.normal(0, 0.08, n), 0, 1), 2)  # many tied scores
    b[rng.random(n) < 0.03] = np.nan  # model b did not score some items
    return table, pd.DataFrame({"a": a.astype(np.float32), "b": b.astype(np.float32)})


def _mask(table: pd.DataFrame, slice_name: str) -> np.ndarray:
    mask = np.ones(len(table), dtype=bool)
    if slice_name == "overall":
        return mask
    for part in slice_name.split("&"):
        dim, value = part.split("=")
        mask &= (table[dim].astype(object) == value).to_numpy()
    return mask


def test_every_slice_matches_sklearn() -> None:
    table, scores = _data()
    result = evaluate(table, scores, EVAL_CFG, SLICING)
    frame = result.slice_metrics
    assert result.notices == ["slice dimension 'absent' not in the data: skipped"]
    assert set(frame["dimension"]) == {"overall", "region", "language", "region&language"}
    assert len(frame) == 2 * (1 + 4 + 3 + 12)  # missing language is not a slice
    for row in frame.itertuples():
        scored = ~np.isnan(scores[row.model].to_numpy())
        mask = _mask(table, row.slice) & scored
        y = table["label"].to_numpy()[mask]
        s = scores[row.model].to_numpy()[mask].astype(np.float64)
        tn, fp, fn, tp = confusion_matrix(y, s >= 0.5, labels=[0, 1]).ravel()
        assert (row.tn, row.fp, row.fn, row.tp) == (tn, fp, fn, tp), row.slice
        assert row.n == mask.sum() and row.n_pos == y.sum()
        assert row.recall == pytest.approx(tp / (tp + fn))
        assert row.fpr == pytest.approx(fp / (fp + tn))
        assert row.roc_auc == pytest.approx(roc_auc_score(y, s), abs=1e-3)
        assert row.pr_auc == pytest.approx(average_precision_score(y, s), abs=1e-3)
        assert row.brier == pytest.approx(brier_score_loss(y, s), abs=1e-9)
        assert row.recall_lo <= row.recall <= row.recall_hi
        assert row.roc_auc_lo <= row.roc_auc <= row.roc_auc_hi


def test_ece_matches_item_level_binning() -> None:
    table, scores = _data(seed=4)
    frame = evaluate(table, scores, EVAL_CFG, SLICING).slice_metrics
    row = frame[(frame["model"] == "a") & (frame["slice"] == "overall")].iloc[0]
    s, y = scores["a"].to_numpy().astype(float), table["label"].to_numpy()
    which = np.minimum((s * 10).astype(int), 9)
    ece = sum(abs(y[which == m].sum() - s[which == m].sum()) for m in range(10)) / len(s)
    assert row.ece == pytest.approx(ece, abs=1e-3)


def test_partitions_merge_by_addition() -> None:
    """Counts of two halves sum to the counts of the whole: chunked/out-of-core is exact."""
    table, scores = _data()
    index, _ = build_slice_index(table, ["region"], [])
    half = len(table) // 2
    whole = count_model(index, table["label"].to_numpy(), scores["a"].to_numpy(), 0.5, 1024)
    parts = []
    for rows in (slice(0, half), slice(half, None)):
        sub, _ = build_slice_index(table.iloc[rows], ["region"], [])
        assert sub.names == index.names
        parts.append(count_model(sub, table["label"].to_numpy()[rows],
                                 scores["a"].to_numpy()[rows], 0.5, 1024))
    np.testing.assert_array_equal(parts[0].hist + parts[1].hist, whole.hist)
    np.testing.assert_array_equal(parts[0].cells + parts[1].cells, whole.cells)


def test_per_row_thresholds_count_what_they_flag() -> None:
    table, scores = _data()
    index, _ = build_slice_index(table, ["region"], [])
    threshold = np.where(table["region"] == "SEA", 0.3, 0.7)
    stats = count_model(index, table["label"].to_numpy(), scores["a"].to_numpy(), threshold, 1024)
    pred = scores["a"].to_numpy() >= threshold
    y = table["label"].to_numpy()
    assert stats.cells[0].tolist() == [int(((y == 0) & ~pred).sum()), int(((y == 0) & pred).sum()),
                                       int(((y == 1) & ~pred).sum()), int(((y == 1) & pred).sum())]
