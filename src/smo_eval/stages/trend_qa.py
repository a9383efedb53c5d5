"""QA quality per period: each gold reviewer and each annotator against an independent
reference label, with the agreement's exact interval, Cohen's kappa where it is defined, and
volume.

- A gold reviewer (the gold table's `reviewer` column) is audited on the items that also have
  raw judgments: the reference is their majority (ties are not a reference), which never
  includes the reviewer's own label.
- An annotator is compared with the majority of the *other* judgments of the same item
  (leave-one-out): against a majority that counts its own vote an annotator would agree with
  itself. Items where the others tie or no other judgment exists are not audited.
Volume counts everything the person labelled in the period, audited or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smo_eval.engine.intervals import clopper_pearson
from smo_eval.slicekey import OVERALL, to_json
from smo_eval.stages.agreement import cohen_kappa
from smo_eval.stages.trend_periods import positions

OVERALL_JSON = to_json(())


@dataclass(frozen=True)
class Judged:
    """One person's labels as rows: who, period index, own label, reference (-1: none)."""

    role: str
    who: pd.Series
    period: np.ndarray
    label: np.ndarray
    reference: np.ndarray


def majority(annotations: pd.DataFrame) -> pd.Series:
    """Majority label per item of the raw judgments (-1 on a tie), indexed by item id."""
    label = annotations["label"].astype(np.int64)
    grouped = label.groupby(annotations["item_id"].to_numpy(), sort=False).agg(["sum", "count"])
    pos, total = grouped["sum"].to_numpy(), grouped["count"].to_numpy()
    ref = np.where(2 * pos > total, 1, np.where(2 * pos < total, 0, -1))
    return pd.Series(ref, index=grouped.index)


def leave_one_out(annotations: pd.DataFrame) -> np.ndarray:
    """Per judgment, the majority of the other judgments of its item (-1: tie or none)."""
    item = annotations["item_id"].astype("string")
    label = annotations["label"].to_numpy().astype(np.int64)
    pos = pd.Series(label).groupby(item.to_numpy()).transform("sum").to_numpy()
    total = item.map(item.value_counts()).to_numpy().astype(np.int64)
    other_pos, other_total = pos - label, total - 1
    return np.where(2 * other_pos > other_total, 1,
                    np.where((2 * other_pos < other_total) & (other_total > 0), 0, -1))


def reviewers(table: pd.DataFrame, reference: pd.Series, period: np.ndarray) -> Judged:
    """Gold reviewers against the annotators' majority on the items both labelled."""
    at = positions(pd.Index(reference.index), table["item_id"])
    ref = np.where(at >= 0, reference.to_numpy()[np.maximum(at, 0)] if len(reference) else -1,
                   -1)
    return Judged("reviewer", table["reviewer"].astype("string"), period,
                  table["label"].to_numpy().astype(np.int64), ref.astype(np.int64))


def annotators(annotations: pd.DataFrame, period: np.ndarray) -> Judged:
    return Judged("annotator", annotations["annotator_id"].astype("string"), period,
                  annotations["label"].to_numpy().astype(np.int64), leave_one_out(annotations))


def qa_frame(judged: Sequence[Judged], *, level: float, period_labels: Sequence[str],
             period_starts: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Long format: per role, person and period the rows `agreement` (with interval; bad =
    disagreements), `kappa` (NaN where one class only) and `volume`."""
    frames = []
    for j in judged:
        dated = (j.period >= 0) & j.who.notna().to_numpy()
        who = j.who[dated].to_numpy()
        people, person = np.unique(who, return_inverse=True)
        n_people, n_periods = len(people), len(period_labels)
        group = person * n_periods + j.period[dated]
        size = n_people * n_periods
        volume = np.bincount(group, minlength=size)
        audited = j.reference[dated] >= 0
        pair = j.reference[dated][audited] * 2 + j.label[dated][audited]
        tables = np.bincount(group[audited] * 4 + pair, minlength=size * 4).reshape(size, 2, 2)
        n = tables.sum(axis=(1, 2))
        agree = tables[:, 0, 0] + tables[:, 1, 1]
        lo, hi = clopper_pearson(agree, n, level=level)
        kappa = cohen_kappa(tables)
        base = pd.DataFrame({"period_index": np.tile(np.arange(n_periods), n_people),
                             "subject": np.repeat(people, n_periods)})
        rows = {
            "agreement": base.assign(value=agree / np.maximum(n, 1), lo=lo, hi=hi,
                                     numerator=agree, denominator=n, bad=n - agree),
            "kappa": base.assign(value=kappa, numerator=np.nan, denominator=n),
            "volume": base.assign(value=volume.astype(np.float64), numerator=volume,
                                  denominator=np.nan),
        }
        keep = {"agreement": n > 0, "kappa": n > 0, "volume": volume > 0}
        for metric, frame in rows.items():
            frames.append(frame[keep[metric]].assign(metric=metric, kind=j.role,
                                                     n_items=volume[keep[metric]]))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    index = out["period_index"].to_numpy()
    return out.assign(period=np.asarray(period_labels, dtype=object)[index],
                      period_start=np.asarray(period_starts, dtype="datetime64[ns]")[index],
                      slice=OVERALL, dimension=OVERALL, target=np.nan, status="no_target",
                      slice_key=OVERALL_JSON)
