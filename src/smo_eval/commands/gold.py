"""`smo-eval gold ingest|list|diff`: the versioned gold store and what each relabel changed.

`gold ingest FILE` validates a QA delivery with the data contract (column and label mappings
from `data.*`), stores it as a version under `labels.gold.store` (DVC-tracked through
`labels.gold.pointer` when the project is a DVC repo), diffs it against the previous version
and re-evaluates every model configured in `data.predictions` on both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from smo_eval import console
from smo_eval.commands.context import command_run
from smo_eval.contract.schema import GOLD, ITEMS, PREDICTIONS, source_to_canonical
from smo_eval.contract.summary import contract_error
from smo_eval.contract.validate import LabelMap, validate_table
from smo_eval.goldstore import REF_PREFIX, GoldStore, Version, dvc_track
from smo_eval.lineage import file_sha256
from smo_eval.pipeline.runner import Runner
from smo_eval.stages.gold_diff import CHANGES, diff_gold, diff_summary, metric_split
from smo_eval.taxonomy import Taxonomy


def store(ctx: Runner) -> GoldStore:
    return GoldStore(Path(ctx.config.labels.gold.store))


def resolve_ref(ctx: Runner, value: str) -> str:
    """`gold:latest`, `gold:<id>` or `gold:<name>` -> the stored version's Parquet file."""
    if not value.startswith(REF_PREFIX):
        return value
    gold = store(ctx)
    return str(gold.path(gold.resolve(value)))


def _validated(ctx: Runner, name: str, path: str) -> pd.DataFrame:
    """One table read and checked with the configured mappings; bad rows fail or are dropped."""
    data = ctx.config.data
    raw = ctx.read_file(path)
    spec = {"gold": GOLD, "items": ITEMS, "predictions": PREDICTIONS}[name]
    rename = source_to_canonical(name, data.columns, data.table_columns)
    kwargs = {}
    if name == "gold":
        taxonomy = Taxonomy.from_config(ctx.config.taxonomy)
        kwargs = {"labels": LabelMap.from_lists(data.labels.positive, data.labels.negative),
                  "categories": taxonomy.names, "safe_category": taxonomy.safe_category}
    checked = validate_table(raw, spec, rename, **kwargs)  # type: ignore[arg-type]
    if not checked.problems.empty:
        error = contract_error([checked])
        if data.on_error != "quarantine":
            raise error
        console.notices([f"{len(checked.rejected):,} {name} row(s) with problems left out "
                         f"(first: {error.problems[0]})"])
    frame = checked.frame
    if "item_id" in frame.columns:
        frame["item_id"] = frame["item_id"].astype("string")
    return frame


def canonical_gold(ctx: Runner, path: Path) -> tuple[pd.DataFrame, str | None]:
    """The validated gold table to store, and the source name of its reviewer column."""
    frame = _validated(ctx, "gold", str(path)).drop(columns=["gold_version"], errors="ignore")
    data = ctx.config.data
    columns = {**data.columns, **data.table_columns.get("gold", {})}
    reviewer = str(columns.get("reviewer", "reviewer")) if "reviewer" in frame.columns else None
    return frame.reset_index(drop=True), reviewer


def ingest(ctx: Runner, path: Path, name: str | None = None) -> Version:
    """Store a delivery as a version, then finish every version whose work is not done: this
    one, and any an earlier ingest left incomplete when it was stopped."""
    cfg = ctx.config.labels.gold
    ctx.tracker.check()  # mlflow.required=true: exit 2 before the store changes
    table, reviewer = canonical_gold(ctx, path)
    gold = store(ctx)
    notes: list[str] = []

    def track() -> None:
        if cfg.dvc:
            note = dvc_track(ctx.project_root, gold.root, Path(cfg.pointer))
            if note:
                notes.append(note)

    version, _, created = gold.add(table, name or path.stem, str(path), file_sha256(path),
                                   reviewer)
    pending = gold.incomplete()
    if created:  # a version stored after this one is another live ingest's to finish
        order = [v.id for v in gold.versions()]
        pending = [v for v in pending if order.index(v.id) <= order.index(version.id)]
        console.say(f"stored gold version {version.id} ({version.name}), "
                    f"{version.rows:,} items, in {gold.root}")
    elif version.complete:
        console.say(f"{path} has the same content as gold version {version.id} "
                    f"({version.name}, {version.created_at}): no new version")
    for unfinished in pending:
        with gold.finishing(unfinished) as mine:
            if not mine:
                continue  # another ingest running now is finishing it
            if unfinished.id != version.id or not created:
                console.say(f"gold version {unfinished.id} ({unfinished.name}) was stored by "
                            "an ingest that stopped before it finished: finishing its diff and "
                            "MLflow run")
            previous = gold.previous(unfinished)
            if previous is not None:
                compare(ctx, gold, previous, unfinished)
            gold.mark_complete(unfinished)
    if created or pending:
        with gold.locked():  # the store as it now is, manifest included
            track()
        console.notices(notes)
    return version


def _item_metadata(ctx: Runner) -> pd.DataFrame | None:
    items = ctx.config.data.items
    return _validated(ctx, "items", str(items)) if items and Path(str(items)).is_file() else None


def _scores(ctx: Runner) -> pd.DataFrame | None:
    preds = ctx.config.data.predictions
    if not preds or not Path(str(preds)).is_file():
        return None
    frame = _validated(ctx, "predictions", str(preds))
    return frame.pivot_table(index="item_id", columns="model", values="score",
                             aggfunc="first", observed=True)


def _with_metadata(gold: pd.DataFrame, items: pd.DataFrame | None) -> pd.DataFrame:
    if items is None:
        return gold
    meta = items[["item_id", *[c for c in items.columns if c not in gold.columns]]]
    return gold.merge(meta, on="item_id", how="left")


def compare(ctx: Runner, gold: GoldStore, old: Version, new: Version) -> pd.DataFrame:
    """Diff two versions, split every model's metric change, write, print and log."""
    dims = list(ctx.config.labels.gold.diff_dimensions)
    items = _item_metadata(ctx)
    before, after = (_with_metadata(gold.load(v), items) for v in (old, new))
    diff = diff_gold(before, after, dims)
    summary = diff_summary(diff, dims)
    scores = _scores(ctx)
    split = pd.DataFrame()
    if scores is not None and scores.shape[1]:
        from smo_eval.operating_point import scalar

        points = ctx.operating_points(list(scores.columns), after)
        thresholds = {m: scalar(t) for m, t in points.items()}
        split = metric_split(before, after, scores, thresholds,
                             ctx.config.evaluate.score_bins)
    else:
        console.notices(["no predictions configured (data.predictions): metric impact skipped"])
    overall = summary.iloc[0]
    counts = {c: int(overall[c]) for c in CHANGES}
    written = []
    for key, value in (("gold.diff_table", diff.assign(old_version=old.id, new_version=new.id)),
                       ("gold.diff_summary", summary), ("gold.impact", split),
                       ("gold.diff", {"old_version": old.id, "new_version": new.id, **counts})):
        written += ctx.catalog.write(key, value)
    show(old, new, summary, split)
    with command_run(ctx, "gold", f"gold diff · {old.id} -> {new.id}", {
        "gold_version": new.id, "gold_version_previous": old.id,
        "gold_version_name": new.name, "gold_source": new.source,
    }) as mlrun:
        if mlrun is not None:
            metrics = {f"gold/{k}": float(v) for k, v in counts.items()}
            for row in split.itertuples(index=False):
                for key in ("change", "due_to_relabels", "due_to_added_removed"):
                    metrics[f"{row.model}/{row.metric}/{key}"] = getattr(row, key)
            mlrun.log_metrics(dict(list(metrics.items())[:99]))
            for file in written:
                if file.suffix == ".csv":
                    mlrun.log_artifact(file, "labels")
    return diff


def show(old: Version, new: Version, summary: pd.DataFrame, split: pd.DataFrame) -> None:
    counts = {c: "count" for c in CHANGES}
    console.console.print(console.table(
        f"Gold diff {old.id} ({old.name}) -> {new.id} ({new.name})", summary, counts,
        max_rows=30))
    if len(split):
        frame = split[split["metric"].isin(["recall", "precision", "f1", "roc_auc"])]
        console.console.print(console.table(
            "Metric change split: relabeled items vs added/removed items",
            frame[["model", "metric", "old", "new", "change", "due_to_relabels",
                   "due_to_added_removed"]],
            {"old": "ratio", "new": "ratio", "change": "num", "due_to_relabels": "num",
             "due_to_added_removed": "num"}))


def list_versions(ctx: Runner) -> pd.DataFrame:
    versions = store(ctx).versions()
    frame = pd.DataFrame([v.__dict__ for v in versions]) if versions else pd.DataFrame(
        columns=["id", "name", "created_at", "rows", "positives", "source", "reviewer_column",
                 "complete"])
    if versions:
        frame["latest"] = np.arange(len(frame)) == len(frame) - 1
    cols = [c for c in ("id", "name", "created_at", "rows", "positives", "source",
                        "reviewer_column", "previous", "complete") if c in frame.columns]
    console.console.print(console.table(f"Gold versions in {store(ctx).root}", frame[cols],
                                        {"rows": "count", "positives": "count"}, max_rows=50))
    return frame


def diff(ctx: Runner, a: str, b: str) -> pd.DataFrame:
    gold = store(ctx)
    return compare(ctx, gold, gold.resolve(a), gold.resolve(b))
