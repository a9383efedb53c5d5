"""Reading the configured inputs, and reusing ingest's outputs only while they are current.

A stage that needs validated tables takes them from `outputs/ingest/` when ingest's manifest
matches the configured input files (by full-content hash) and data config; otherwise it
validates the inputs in-process, so every command also runs on its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import Context
from smo_eval.goldstore import REF_PREFIX, GoldStore
from smo_eval.io.readers import RawTable, read_table
from smo_eval.lineage import input_hashes
from smo_eval.stages.ingest import IngestResult, append_predictions, ingest
from smo_eval.taxonomy import Taxonomy

TABLES = ("items", "gold", "predictions", "annotations")
EVAL_FILE, SCORES_FILE, ANNOTATIONS_FILE, MANIFEST_FILE = (
    "eval.parquet", "scores.parquet", "annotations.parquet", "manifest.json")


@dataclass
class Inputs:
    """Validated tables for the stages, with their lineage."""

    eval_table: pd.DataFrame
    scores: pd.DataFrame
    annotations: pd.DataFrame | None
    hashes: dict[str, str]
    gold_version: str | None
    reused: bool
    notices: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return list(self.scores.columns)


def configured_paths(ctx: Context) -> dict[str, str | None]:
    data = ctx.section("data")
    paths = {name: (str(data[name]) if data.get(name) else None) for name in TABLES}
    gold = paths["gold"]
    if gold and gold.startswith(REF_PREFIX):  # data.gold=gold:latest reads the gold store
        store = GoldStore(Path(str(ctx.section("labels")["gold"]["store"])))
        paths["gold"] = str(store.path(store.resolve(gold)))
    return paths


def read_inputs(ctx: Context, step: Callable[[str], None] | None = None
                ) -> dict[str, RawTable | None]:
    data = ctx.section("data")
    tables: dict[str, RawTable | None] = {}
    for name, path in configured_paths(ctx).items():
        tables[name] = read_table(path, data.get("encoding", "auto"), data.get("sheet", 0)) \
            if path else None
        if step is not None:
            step(f"read {name}")
    return tables


def config_digest(ctx: Context) -> str:
    """Digest of everything that changes what ingest produces besides the files themselves."""
    data = {k: v for k, v in ctx.section("data").items() if k != "extra_predictions"}
    relevant = {"data": data, "taxonomy": ctx.section("taxonomy")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def run_ingest(ctx: Context) -> tuple[IngestResult, dict[str, str]]:
    """Read, validate and join the inputs, showing progress (10 million rows take a while)."""
    with console.progress("ingest", total=len(TABLES) + 2) as step:
        raw = read_inputs(ctx, step)
        result = ingest(raw, ctx.section("data"), Taxonomy.from_config(ctx.section("taxonomy")))
        step("validated")
        hashes = input_hashes(configured_paths(ctx))
        step("hashed")
    return result, hashes


def manifest(ctx: Context, hashes: dict[str, str], result: IngestResult) -> dict[str, Any]:
    return {"inputs": {name: {"path": path, "sha256": hashes.get(name)}
                       for name, path in configured_paths(ctx).items() if path},
            "config_digest": config_digest(ctx), "gold_version": result.summary["gold_version"],
            "summary": result.summary}


def load_inputs(ctx: Context, exclude: Collection[str] = ()) -> Inputs:
    """Ingest's outputs when current for this config (else a fresh in-process ingest), plus
    the models of `data.extra_predictions` (but not the files in `exclude`)."""
    return _with_extra_predictions(ctx, _load_ingested(ctx), exclude)


def _load_ingested(ctx: Context) -> Inputs:
    """Ingest's outputs when current for this config, else a fresh in-process ingest."""
    folder = ctx.out_dir / "ingest"
    hashes = input_hashes(configured_paths(ctx))
    saved = _read_manifest(folder / MANIFEST_FILE)
    current = (
        saved is not None
        and saved.get("config_digest") == config_digest(ctx)
        and {k: v["sha256"] for k, v in saved["inputs"].items()} == hashes
        and (folder / EVAL_FILE).is_file() and (folder / SCORES_FILE).is_file()
    )
    if current and saved is not None:
        ann_path = folder / ANNOTATIONS_FILE
        return Inputs(pd.read_parquet(folder / EVAL_FILE), pd.read_parquet(folder / SCORES_FILE),
                      pd.read_parquet(ann_path) if ann_path.is_file() else None, hashes,
                      saved.get("gold_version"), reused=True)
    result, hashes = run_ingest(ctx)
    return Inputs(result.eval_table, result.scores, result.annotations, hashes,
                  result.summary["gold_version"], reused=False, notices=list(result.notices))


def _read_manifest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _with_extra_predictions(ctx: Context, inputs: Inputs, exclude: Collection[str]) -> Inputs:
    """Join `data.extra_predictions` files (e.g. a retrained challenger) to the score table.

    They are validated here rather than by ingest, so the pipeline stays acyclic (the
    experiment stage reads ingest's tables and writes such a file) and ingest's manifest
    keeps describing ingest's own inputs; their hashes join the lineage as `extra:<path>`.
    """
    data = ctx.section("data")
    skip = {Path(p).resolve() for p in exclude}
    listed = [str(p) for p in data.get("extra_predictions") or [] if Path(p).resolve() not in skip]
    present = [p for p in listed if Path(p).is_file()]
    inputs.notices += [f"extra predictions {p} not found: skipped" for p in listed
                       if p not in present]
    if not present:
        return inputs
    raw = {p: read_table(p, data.get("encoding", "auto"), data.get("sheet", 0)) for p in present}
    inputs.scores = append_predictions(inputs.eval_table, inputs.scores, raw, data)
    inputs.hashes |= {f"extra:{k}": v for k, v in input_hashes(
        {p: p for p in present}).items()}
    return inputs
