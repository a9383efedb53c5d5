"""The glue between stages: one operating point everywhere, outputs used only while current,
slices as data, the registry as the single declaration of what reads and writes what."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smo_eval.pipeline import registry
from smo_eval.pipeline.registry import BASE_DATASET, DATASET
from smo_eval.slicekey import from_json, to_json
from tests.cli_helpers import invoke

SMALL = ["sample.n_items=12000", "mlflow.enabled=false", "report.png=false",
         "drift.evidently.enabled=false"]


def test_every_read_has_one_producer_and_outputs_have_one_entry() -> None:
    """The gate (and every stage) reads only outputs some stage declares; no two entries
    share a key or a file."""
    keys = [e.key for e in registry.entries()]
    assert len(keys) == len(set(keys))
    paths = [e.path for e in registry.entries()]
    assert len(paths) == len(set(paths))
    for stage in registry.STAGES:
        for read in stage.reads:
            key = read.rstrip("?")
            if key in (DATASET, BASE_DATASET):
                continue
            assert key in keys, f"{stage.name} reads {key}, which no entry declares"
            producer = registry.producer(key)
            if producer is not None:
                assert producer.name != stage.name
                order = [s.name for s in registry.STAGES]
                assert order.index(producer.name) < order.index(stage.name)


@pytest.fixture(scope="module")
def thresholds_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample world with per-language thresholds (the experiment's thresholds file)."""
    import os
    import shutil

    from tests.conftest import ROOT

    root = tmp_path_factory.mktemp("op-world")
    shutil.copytree(ROOT / "conf", root / "conf")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        invoke("sample", *SMALL)
        pd.DataFrame({
            "model": ["v1", "v1", "v1", "v2", "v2", "v2"],
            "dimension": ["overall", "language", "language"] * 2,
            "value": ["overall", "zh", "th", "overall", "zh", "th"],
            "threshold": [0.5, 0.35, 0.3, 0.55, 0.3, 0.25]}).to_csv(root / "thr.csv",
                                                                   index=False)
        common = [*SMALL, "evaluate.thresholds_file=thr.csv", "compare.candidates=[v2]",
                  "pipeline.stages=[ingest,evaluate,compare,errors,labels,gate]"]
        invoke("run", *common, code=1)  # the sample gate fails on the planted regression
    finally:
        os.chdir(cwd)
    return root


def test_one_operating_point_everywhere(thresholds_world: Path) -> None:
    """With a per-slice thresholds file, evaluate, compare, errors and the gate count the same
    tp / fp / fn / tn for every slice (labels judges no flags: it weighs calibrated scores)."""
    out = thresholds_world / "outputs"
    ev = pd.read_parquet(out / "evaluate/slice_metrics.parquet").set_index(["model",
                                                                           "slice_key"])
    items = pd.read_parquet(thresholds_world / "data/sample/items.parquet")
    gold = pd.read_parquet(thresholds_world / "data/sample/gold.parquet")
    preds = pd.read_parquet(thresholds_world / "data/sample/predictions.parquet")
    joined = gold.merge(items[["item_id", "language"]], on="item_id")
    per_language = {"v1": {"zh": 0.35, "th": 0.3}, "v2": {"zh": 0.3, "th": 0.25}}
    glob = {"v1": 0.5, "v2": 0.55}
    for model in ("v1", "v2"):
        rows = joined.merge(preds[preds["model"] == model], on="item_id")
        thr = rows["language"].astype(str).map(per_language[model]).fillna(glob[model])
        flagged = rows["score"] >= thr
        overall = ev.loc[(model, to_json(()))]
        assert int(overall["tp"]) == int((flagged & (rows["label"] == 1)).sum())
        assert int(overall["fp"]) == int((flagged & (rows["label"] == 0)).sum())
        zh = ev.loc[(model, to_json((("language", "zh"),)))]
        assert zh["threshold"] == per_language[model]["zh"]   # one threshold in the slice
        assert np.isnan(overall["threshold"])                 # several in the whole
    comparison = pd.read_parquet(out / "compare/comparison.parquet")
    recall = comparison[comparison["metric"] == "recall"].set_index("slice_key")
    for side, model in (("baseline", "v1"), ("candidate", "v2")):
        for cell in ("tp", "fp", "fn", "tn"):
            expected = ev.loc[model][cell].reindex(recall.index)
            assert (recall[f"{side}_{cell}"] == expected).all(), (side, cell)
    rca = pd.read_parquet(out / "errors/rca.parquet").set_index(["model", "error",
                                                                 "slice_key"])
    for model in ("v1", "v2"):
        for error, cell in (("fn", "fn"), ("fp", "fp")):
            got = rca.loc[(model, error)]["n_errors"]
            expected = ev.loc[model][cell].reindex(got.index)
            assert (got == expected).all(), (model, error)
    checks = pd.read_parquet(out / "gate/checks.parquet")
    floor = checks[checks["kind"] == "floor"].set_index("slice_key")
    for key, row in floor.iterrows():
        assert row["value"] == pytest.approx(ev.loc[("v2", key)][row["metric"]])


def test_gate_after_evaluate_judges_new_slicing(thresholds_world: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluate's files are for the configured slicing; a gate asked about other slices
    recomputes (with a notice) and judges those, never the old table."""
    monkeypatch.chdir(thresholds_world)
    base = [*SMALL, "evaluate.thresholds_file=thr.csv", "compare.candidates=[v2]"]
    cross = "slicing.crosses=[[region,content_type]]"
    check = ("+gate.checks.cross={kind: floor, metric: recall, min: 0.0, "
             "slices: ['region=*&content_type=*']}")
    output = invoke("gate", *base, cross, check, code=1)
    assert "evaluate outputs produced by other inputs or settings: computed in-process" \
        in output
    verdict = json.loads((thresholds_world / "outputs/gate/gate.json").read_text())
    judged = next(c for c in verdict["checks"] if c["name"] == "cross")
    dims = {tuple(d for d, _ in s["slice_key"]) for s in judged["slices"]}
    assert dims == {("region", "content_type")} and len(judged["slices"]) >= 10
    refused = invoke("gate", *base, cross, check, "pipeline.on_stale=fail", code=2)
    assert "pipeline.on_stale=fail" in refused and "outputs/evaluate" in refused


def test_outputs_of_other_inputs_are_never_reused(thresholds_world: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """New gold on which the candidate misses everything: the gate recomputes and fails."""
    monkeypatch.chdir(thresholds_world)
    gold = pd.read_parquet("data/sample/gold.parquet")
    preds = pd.read_parquet("data/sample/predictions.parquet")
    bad = preds.copy()
    bad.loc[bad["model"] == "v2", "score"] = 0.0
    bad.to_parquet("zero.parquet", index=False)
    gold.to_parquet("gold_copy.parquet", index=False)
    out = invoke("gate", *SMALL, "compare.candidates=[v2]", "data.gold=gold_copy.parquet",
                 "data.items=data/sample/items.parquet", "data.predictions=zero.parquet",
                 "data.annotations=data/sample/annotations.parquet", code=1)
    assert "inputs validated in-process" in out
    verdict = json.loads(Path("outputs/gate/gate.json").read_text())
    recall = next(c for c in verdict["checks"] if c["name"] == "overall_recall")
    assert recall["status"] == "fail" and recall["slices"][0]["value"] == 0.0


def test_slice_values_that_look_like_syntax(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A region named `XX&language=en`, `a=b*c d` or `华东 区`: evaluated as one value each and
    selected by a gate check on structure."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    regions = ["XX&language=en", "a=b*c d", "华东 区"]
    n = 3000
    region = rng.choice(regions, n)
    label = (rng.random(n) < 0.3).astype(int)
    score = np.clip(np.where(label == 1, 0.7, 0.3) + rng.normal(0, 0.2, n), 0, 1)
    score[(region == "XX&language=en") & (label == 1)] = 0.01   # this region is all misses
    pd.DataFrame({"item_id": np.arange(n), "label": label, "region": region,
                  "language": rng.choice(["en", "zh"], n)}).to_csv("gold.csv", index=False)
    pd.DataFrame({"item_id": np.arange(n), "model": "m1", "score": score}).to_csv(
        "preds.csv", index=False)
    common = ["data.gold=gold.csv", "data.predictions=preds.csv", "mlflow.enabled=false",
              "slicing.dimensions=[region,language]", "slicing.crosses=[[region,language]]"]
    invoke("evaluate", *common)
    table = pd.read_parquet("outputs/evaluate/slice_metrics.parquet")
    keys = {from_json(k) for k in table["slice_key"]}
    for value in regions:
        assert (("region", value),) in keys
    assert not any(len(k) == 2 and k[0] == ("region", "XX") for k in keys)
    check = ("+gate.checks.tricky={kind: floor, metric: recall, min: 0.5, "
             "slices: [{region: 'XX&language=en'}]}")
    out = invoke("gate", *common, check, "gate.min_support.positives=0", code=1)
    verdict = json.loads(Path("outputs/gate/gate.json").read_text())
    tricky = next(c for c in verdict["checks"] if c["name"] == "tricky")
    assert [s["slice_key"] for s in tricky["slices"]] == [[["region", "XX&language=en"]]]
    assert tricky["status"] == "fail" and "tricky" in out


def _core_closure() -> set[str]:
    """Distributions a core install of smo-eval brings (its requirements, recursively)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return name.lower().replace("_", "-")

    todo = [Requirement(r).name for r in metadata.requires("smo-eval") or []
            if "extra ==" not in r]
    seen: set[str] = set()
    while todo:
        name = norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_every_import_is_a_core_dependency_or_a_named_extra():
    """A core install (`pip install smo-eval`) must run every stage: a module the package
    imports that only an extra brings in (as filelock came with dvc) breaks it."""
    import ast
    import sys
    from importlib import metadata

    extras = {"evidently": "drift", "websockets": "png", "duckdb": "duckdb", "pyspark": "spark"}
    core = _core_closure()
    owners = metadata.packages_distributions()
    missing = []
    for file in sorted(Path("src").rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                if (top in sys.stdlib_module_names or top in ("smo_eval", "hydra_plugins")
                        or top in extras):
                    continue
                dists = {d.lower().replace("_", "-") for d in owners.get(top, [])}
                if not dists & core:
                    missing.append(f"{file}: {top}")
    assert not missing, missing
