"""Where the model is weak, in the team's own slicing: every configured dimension and cross
(`slicing.dimensions`, `slicing.crosses`), whatever they are called.

A slice is a weak spot of a model when its 95% interval lies wholly on the bad side of the
model's overall value: the recall upper bound below the overall recall, or the FPR lower bound
above the overall FPR; low-support slices are left out. Weak spots are ordered by what the
interval guarantees in items: the violations missed (false alarms raised) beyond the overall
rate, at least `n x gap` (gap: overall recall - upper bound; lower bound - overall FPR). So a
slice whose point estimate is low but whose interval is wide does not count, and a large slice
surely worse (implicit wording, a third of the violations) comes before a cross of twenty
items that is worse still: the first costs more missed violations.
A cross that contains a slice already named (`language=th&expression_type=implicit` after
`language=th`) is not named again among the few the findings and the summary name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smo_eval.report import figures
from smo_eval.report.base import Build, join, not_run, slice_label
from smo_eval.report.i18n import count, interval, pct
from smo_eval.report.model import Figure, Finding, Section, Table
from smo_eval.slicekey import from_json

# Metric -> (the interval bound compared with overall, the count of items it rests on).
WEAK = {"recall": ("recall_hi", "n_pos"), "fpr": ("fpr_lo", "n_neg")}
NAMED = 3  # weak spots named per model and metric (the table lists them all)


def slicing_dimensions(build: Build) -> list[str]:
    """Evaluate's `dimension` names of the configured slicing: each dimension, then each
    cross joined by `&`, in configuration order."""
    slicing = build.config.slicing
    return list(dict.fromkeys([*slicing.dimensions, *("&".join(c) for c in slicing.crosses)]))


def weak_spots(frame: pd.DataFrame, dimensions: list[str]) -> pd.DataFrame:
    """Slices of `dimensions` clearly worse than their model's overall value, worst first per
    model and metric.

    Columns: model, metric, slice_key, value, lo, hi, overall, n (violating items for recall,
    safe items for FPR), gap (the interval's distance from overall), excess (n x gap: the
    errors beyond the overall rate the interval guarantees; the order), named (among the first
    `NAMED` non-overlapping ones).
    """
    out = []
    for model, part in frame.groupby(frame["model"].astype(str), sort=False):
        overall = part[part["dimension"] == "overall"]
        if overall.empty:
            continue
        chosen = part[part["dimension"].isin(dimensions) & ~part["low_support"].astype(bool)]
        for metric, (bound, support) in WEAK.items():
            reference = float(overall[metric].iloc[0])
            gap = ((reference - chosen[bound]) if metric == "recall"
                   else (chosen[bound] - reference)).to_numpy(np.float64)
            keep = gap > 0  # NaN (undefined metric or overall) never qualifies
            hit = chosen[keep]
            if hit.empty:
                continue
            n = hit["n_pos"] if support == "n_pos" else hit["n"] - hit["n_pos"]
            spots = pd.DataFrame({
                "model": model, "metric": metric, "slice_key": hit["slice_key"].to_numpy(),
                "value": hit[metric].to_numpy(), "lo": hit[f"{metric}_lo"].to_numpy(),
                "hi": hit[f"{metric}_hi"].to_numpy(), "overall": reference,
                "n": n.to_numpy(), "gap": gap[keep]})
            spots["excess"] = spots["n"] * spots["gap"]
            spots = spots.sort_values(["excess", "gap"], ascending=False, kind="stable")
            spots["named"] = _named(list(spots["slice_key"]))
            out.append(spots)
    columns = ["model", "metric", "slice_key", "value", "lo", "hi", "overall", "n", "gap",
               "excess", "named"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def _named(keys: list[str]) -> list[bool]:
    """The first `NAMED` keys, in order, none of which contains one named before it."""
    kept: list[frozenset[tuple[str, str]]] = []
    flags = []
    for raw in keys:
        pairs = frozenset(from_json(raw))
        fresh = len(kept) < NAMED and not any(k <= pairs for k in kept)
        if fresh:
            kept.append(pairs)
        flags.append(fresh)
    return flags


def heatmaps(build: Build) -> Section:
    frame = build.get("slice_metrics")
    if frame is None:
        return not_run(build, "heatmaps", "evaluate", "evaluate/slice_metrics.parquet")
    dimensions = slicing_dimensions(build)
    section = Section("heatmaps", build.t("section.heatmaps"), ran=True,
                      note=build.t("heatmaps.note"))
    spots = weak_spots(frame, dimensions)
    models = list(dict.fromkeys(frame["model"].astype(str)))
    for model in models:
        mine = spots[(spots["model"] == model) & spots["named"].astype(bool)]
        for r in mine.to_dict("records"):
            section.findings.append(Finding(f"weak_{r['metric']}", build.t(
                f"weak.{r['metric']}", model=model, slice=slice_label(build, r["slice_key"]),
                value=pct(r["value"]), ci=interval(r["lo"], r["hi"]),
                overall=pct(r["overall"]), n=count(r["n"])), "medium",
                {"model": model, "slice": r["slice_key"], "metric": r["metric"],
                 "value": float(r["value"]), "lo": float(r["lo"]), "hi": float(r["hi"]),
                 "overall": float(r["overall"]), "n": int(r["n"])}))
        if mine.empty:
            section.findings.append(Finding("weak_none", build.t(
                "weak.none", model=model, dims=join(build, dimensions)), "info",
                {"model": model}))
    if len(spots):
        section.tables.append(_spots_table(build, spots))
    section.figures.extend(_heatmaps(build, frame, models, section))
    section.findings.extend(_threshold_room(build, frame))
    return section


def _spots_table(build: Build, spots: pd.DataFrame) -> Table:
    head = spots.head(build.max_rows)
    rows = [[str(r["model"]), build.msg.name(str(r["metric"])),
             slice_label(build, r["slice_key"]), pct(r["value"]), interval(r["lo"], r["hi"]),
             pct(r["overall"]), count(r["n"]), count(np.floor(r["excess"]))]
            for r in head.to_dict("records")]
    left = len(spots) - len(head)
    return Table(build.t("weak.table"), [build.t(f"weak.col.{c}") for c in (
        "model", "metric", "slice", "value", "interval", "overall", "n", "excess")], rows,
        ["status-below"] * len(rows),
        build.t("more_rows_here", n=count(left)) if left > 0 else None)


def _heatmaps(build: Build, frame: pd.DataFrame, models: list[str],
              section: Section) -> list[Figure]:
    """Recall and FPR heatmaps of each configured cross of two dimensions (a metric no cell
    of which is defined in two rows and two columns is not drawn: FPR by risk category)."""
    crosses = [list(c) for c in build.config.slicing.crosses]
    if not crosses:
        dims = build.config.slicing.dimensions
        section.findings.append(Finding("no_cross", build.t(
            "heatmaps.no_cross", example=", ".join(dims[:2]) or "a, b"), "info"))
    out = []
    for cross in crosses:
        name = "&".join(cross)
        if len(cross) != 2:
            section.findings.append(Finding("wide_cross", build.t(
                "heatmaps.wide_cross", cross=" × ".join(cross)), "info"))
            continue
        part = frame[frame["dimension"] == name]
        if part.empty:
            section.findings.append(Finding("missing_cross", build.t(
                "heatmaps.missing", cross=" × ".join(cross)), "info"))
            continue
        a, b = cross
        keys = [dict(from_json(k)) for k in part["slice_key"]]
        cells = part.assign(**{a: [k[a] for k in keys], b: [k[b] for k in keys]})
        for model in models:
            mine = cells[cells["model"].astype(str) == model]
            for metric in ("recall", "fpr"):
                values = mine.pivot(index=a, columns=b, values=metric)
                values = values.dropna(how="all").dropna(axis=1, how="all")
                if min(values.shape) < 2:
                    continue
                low = mine.pivot(index=a, columns=b, values="low_support") \
                    .reindex(index=values.index, columns=values.columns).eq(True)
                names = {"a": build.msg.name(a), "b": build.msg.name(b),
                         "metric": build.msg.name(metric), "model": model}
                title = build.t("heatmaps.title", **names)
                out.append(Figure(f"heatmap-{model}-{metric}-{a}-{b}", title, figures.heatmap(
                    values, low, title, names["metric"], metric == "fpr", "*",
                    "%{y} × %{x}: %{z:.1%}")))
    return out


def _threshold_room(build: Build, frame: pd.DataFrame) -> list[Finding]:
    """Values of the dimension `smo-eval experiment` tunes thresholds by
    (`experiment.thresholds.dimension`) whose recall is below the bar while precision has
    room: retune the threshold there."""
    dimension = build.config.experiment.thresholds.dimension
    bar, room = build.rules.language_recall, build.rules.precision_room
    part = frame[(frame["dimension"] == dimension) & ~frame["low_support"].astype(bool)]
    hits = part[(part["recall_hi"] < bar) & (part["precision"] >= room)]
    return [Finding("language_threshold", build.t(
        "heatmaps.language_threshold", model=r.model, slice=slice_label(build, r.slice_key),
        recall=pct(r.recall), ci=interval(r.recall_lo, r.recall_hi), bar=pct(bar),
        precision=pct(r.precision)), "medium",
        {"model": r.model, "slice": r.slice_key, "recall": r.recall, "precision": r.precision,
         "dimension": dimension})
        for r in hits.sort_values("recall").itertuples()]
