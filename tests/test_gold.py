"""`smo-eval gold ingest|list|diff`: versions, diffs and metric-change split on the sample
world (Excel and GBK CSV relabels), the lock (two ingests at once), atomicity (a failure
mid-write), DVC tracking, the MLflow gold_version tag, and a Multilingual HateCheck relabel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from smo_eval.goldstore import GoldStore, content_hash
from tests.cli_helpers import invoke

ROOT = Path(__file__).parents[1]
N_ITEMS = 4_000
N_FLIPS, N_ADDED = 120, 250


def _store_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def world(project: Path) -> pd.DataFrame:
    invoke("sample", f"sample.n_items={N_ITEMS}", "mlflow.enabled=false")
    gold = pd.read_parquet(project / "data/sample/gold.parquet")
    gold["labeled_at"] = gold["labeled_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return gold


def _relabel(gold: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, set[int]]:
    rng = np.random.default_rng(seed)
    flips = rng.choice(len(gold), N_FLIPS, replace=False)
    new = gold.copy()
    new["risk_category"] = new["risk_category"].astype(str)
    new.loc[flips, "label"] = 1 - new.loc[flips, "label"]
    new.loc[flips, "risk_category"] = np.where(new.loc[flips, "label"] == 1, "spam", "none")
    new["reviewer"] = new["reviewer"].astype(str).str.replace("qa_", "审核员_")
    return new, set(new.loc[flips, "item_id"].tolist())


def test_relabel_reports_planted_flips_additions_and_exact_split(project: Path,
                                                                 world: pd.DataFrame) -> None:
    base = world.iloc[N_ADDED:]
    base.to_parquet(project / "v1.parquet", index=False)
    invoke("gold", "ingest", "v1.parquet", "--name", "first", "mlflow.enabled=false")
    relabeled, flipped = _relabel(world, seed=3)
    flipped_kept = flipped & set(base["item_id"])
    relabeled.to_excel(project / "relabel.xlsx", index=False)
    out = invoke("gold", "ingest", "relabel.xlsx", "mlflow.enabled=false")
    assert "Metric change split" in out

    diff = pd.read_csv(project / "outputs/labels/gold_diff.csv")
    assert set(diff.loc[diff["change"] == "relabeled", "item_id"]) == flipped_kept
    assert set(diff.loc[diff["change"] == "added", "item_id"]) == set(world["item_id"][:N_ADDED])
    assert (diff["change"] != "removed").all()
    moved = diff[diff["change"] == "relabeled"]
    assert (moved["old_label"] != moved["new_label"]).all()
    summary = pd.read_csv(project / "outputs/labels/gold_diff_summary.csv")
    overall = summary[summary["dimension"] == "overall"].iloc[0]
    assert (overall["relabeled"], overall["added"]) == (len(flipped_kept), N_ADDED)
    by_reviewer = summary[summary["dimension"] == "reviewer"]
    assert by_reviewer["relabeled"].sum() == len(flipped_kept)
    assert by_reviewer["value"].str.startswith("审核员_").all()

    # The split adds up, and old/new equal scikit-learn on the old and new gold sets.
    split = pd.read_csv(project / "outputs/labels/gold_impact.csv")
    assert np.allclose(split["due_to_relabels"] + split["due_to_added_removed"],
                       split["change"], atol=1e-12)
    preds = pd.read_parquet(project / "data/sample/predictions.parquet")
    scores = preds.pivot(index="item_id", columns="model", values="score")
    for name, gold in (("old", base), ("new", relabeled)):
        s = scores.loc[gold["item_id"], "v2"].to_numpy()
        y = gold["label"].to_numpy()
        row = split.set_index(["model", "metric"])
        assert row.loc[("v2", "recall"), name] == pytest.approx(recall_score(y, s >= 0.5))
        assert row.loc[("v2", "precision"), name] == pytest.approx(precision_score(y, s >= 0.5))
        assert row.loc[("v2", "roc_auc"), name] == pytest.approx(roc_auc_score(y, s), abs=2e-3)

    # The same content as a GBK CSV (re-encoded, reordered) is no new version.
    relabeled.iloc[::-1].to_csv(project / "relabel_gbk.csv", index=False, encoding="gbk")
    assert (project / "relabel_gbk.csv").read_bytes().decode("gbk")
    out = invoke("gold", "ingest", "relabel_gbk.csv", "mlflow.enabled=false")
    assert "no new version" in out
    store = GoldStore(project / "data/gold")
    assert [v.name for v in store.versions()] == ["first", "relabel"]

    # A second relabel as GBK CSV: its flips against the Excel version, and `gold diff A B`.
    second, flipped2 = _relabel(relabeled, seed=4)
    second.to_csv(project / "second.csv", index=False, encoding="gbk")
    invoke("gold", "ingest", "second.csv", "mlflow.enabled=false")
    diff = pd.read_csv(project / "outputs/labels/gold_diff.csv")
    assert set(diff.loc[diff["change"] == "relabeled", "item_id"]) == flipped2
    invoke("gold", "diff", "first", "latest", "mlflow.enabled=false")
    diff = pd.read_csv(project / "outputs/labels/gold_diff.csv")
    assert set(diff.loc[diff["change"] == "relabeled", "item_id"]) == \
        (flipped_kept ^ (flipped2 & set(base["item_id"])))
    listing = invoke("gold", "list", "mlflow.enabled=false")
    assert all(v.id in listing for v in store.versions())


def test_evaluate_on_store_tags_the_version(project: Path, world: pd.DataFrame) -> None:
    world.to_parquet(project / "g.parquet", index=False)
    invoke("gold", "ingest", "g.parquet", "mlflow.enabled=false")
    version = GoldStore(project / "data/gold").resolve("latest")
    uri = f"sqlite:///{project}/mlflow.db"
    # Naming an input file drops the sample world's other paths: name the ones to use.
    invoke("evaluate", "data.gold=gold:latest", "data.items=data/sample/items.parquet",
           "data.predictions=data/sample/predictions.parquet", f"mlflow.tracking_uri={uri}")
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["smo-eval"])
    assert runs["tags.gold_version"].tolist() == [version.id]


def test_content_hash_ignores_format_order_and_dtypes(world: pd.DataFrame) -> None:
    as_text = world.astype({"item_id": str, "label": str}).iloc[::-1]
    assert content_hash(world) != content_hash(world.assign(label=1 - world["label"]))
    strings = world.assign(item_id=world["item_id"].astype(str))
    assert content_hash(strings) == content_hash(as_text.assign(
        label=as_text["label"].astype(int)))


def test_two_ingests_at_once_keep_both_versions(project: Path, world: pd.DataFrame) -> None:
    world.to_parquet(project / "a.parquet", index=False)
    _relabel(world, seed=9)[0].to_parquet(project / "b.parquet", index=False)
    env = {**os.environ, "SMO_EVAL_CONF_DIR": str(project / "conf")}
    procs = [subprocess.Popen([sys.executable, "-m", "smo_eval.cli", "gold", "ingest", name,
                               "mlflow.enabled=false"], cwd=project, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for name in ("a.parquet", "b.parquet")]
    outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    store = GoldStore(project / "data/gold")
    versions = store.versions()
    assert sorted(v.source for v in versions) == ["a.parquet", "b.parquet"]
    assert versions[1].previous == versions[0].id
    for version in versions:
        assert len(store.load(version)) == len(world)  # the period's items and the history
    files = sorted(p.name for p in (project / "data/gold/versions").iterdir())
    assert files == sorted(f"{v.id}.parquet" for v in versions)


def test_failure_mid_write_leaves_the_store_as_it_was(project: Path, world: pd.DataFrame,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    world.to_parquet(project / "a.parquet", index=False)
    invoke("gold", "ingest", "a.parquet", "mlflow.enabled=false")
    before = _store_files(project / "data/gold")
    _relabel(world, seed=5)[0].to_parquet(project / "b.parquet", index=False)

    # 1. an exception after the version's Parquet is written, while the manifest is replaced
    import smo_eval.goldstore as goldstore

    def broken(payload: object) -> str:
        raise OSError("disk full (injected)")

    monkeypatch.setattr(goldstore, "to_json_text", broken)
    out = invoke("gold", "ingest", "b.parquet", "mlflow.enabled=false", code=2)
    assert "disk full" in out
    assert _store_files(project / "data/gold") == before
    monkeypatch.undo()
    monkeypatch.chdir(project)

    # 2. a process killed while writing the version (SIGKILL: no cleanup code runs)
    script = ("import os, pandas as pd, smo_eval.goldstore as g\n"
              "orig = pd.DataFrame.to_parquet\n"
              "def die(self, path, *a, **k):\n"
              "    orig(self, path, *a, **k); os.kill(os.getpid(), 9)\n"
              "pd.DataFrame.to_parquet = die\n"
              "from smo_eval.cli import main\nmain()\n")
    env = {**os.environ, "SMO_EVAL_CONF_DIR": str(project / "conf")}
    done = subprocess.run([sys.executable, "-c", script, "gold", "ingest", "b.parquet",
                           "mlflow.enabled=false"], cwd=project, env=env, capture_output=True,
                          timeout=300, check=False)
    assert done.returncode == -9
    after = _store_files(project / "data/gold")
    visible = {k: v for k, v in after.items() if not Path(k).name.startswith(".")}
    assert visible == before
    # The store still works: the next ingest succeeds and sees one earlier version.
    invoke("gold", "ingest", "b.parquet", "mlflow.enabled=false")
    assert len(GoldStore(project / "data/gold").versions()) == 2


def _killed_ingest(project: Path, file: str, *extra: str) -> None:
    """`gold ingest FILE` killed (SIGKILL) once the version is stored, before its diff."""
    script = ("import os, smo_eval.commands.gold as g\n"
              "g.compare = lambda *a, **k: os.kill(os.getpid(), 9)\n"
              "from smo_eval.cli import main\nmain()\n")
    env = {**os.environ, "SMO_EVAL_CONF_DIR": str(project / "conf")}
    done = subprocess.run([sys.executable, "-c", script, "gold", "ingest", file, *extra],
                          cwd=project, env=env, capture_output=True, timeout=300, check=False)
    assert done.returncode == -9, done.stdout.decode() + done.stderr.decode()


def test_a_version_killed_before_its_diff_is_finished_by_the_next_ingest(
        project: Path, world: pd.DataFrame) -> None:
    """Killed after the manifest names the version, before the diff: the version is stored
    incomplete. Re-ingesting the same file finishes it (diff and MLflow run) instead of
    'same content: no new version'; a different file finishes it first, then itself."""
    uri = f"mlflow.tracking_uri=sqlite:///{project}/mlflow.db"
    base = world.iloc[N_ADDED:]
    base.to_parquet(project / "v1.parquet", index=False)
    invoke("gold", "ingest", "v1.parquet", uri)
    relabeled, flipped = _relabel(world, seed=6)
    relabeled.to_parquet(project / "v2.parquet", index=False)
    _killed_ingest(project, "v2.parquet", uri)
    store = GoldStore(project / "data/gold")
    first, second = store.versions()
    assert first.complete and not second.complete
    assert not (project / "outputs/labels/gold_diff.csv").exists()

    out = invoke("gold", "ingest", "v2.parquet", uri)
    assert "no new version" not in out
    assert f"gold version {second.id} (v2) was stored by an ingest that stopped" in out
    diff = pd.read_csv(project / "outputs/labels/gold_diff.csv")
    assert set(diff.loc[diff["change"] == "relabeled", "item_id"]) == flipped & set(
        base["item_id"])
    assert (diff["change"] == "added").sum() == N_ADDED
    assert all(v.complete for v in store.versions())
    mlflow.set_tracking_uri(f"sqlite:///{project}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=["smo-eval"])
    assert runs["tags.gold_version"].tolist() == [second.id]
    out = invoke("gold", "ingest", "v2.parquet", uri)
    assert "no new version" in out and "stopped" not in out
    assert len(mlflow.search_runs(experiment_names=["smo-eval"])) == 1

    # Killed again on a third delivery; a fourth finishes the third, then itself.
    third, _ = _relabel(relabeled, seed=7)
    third.to_parquet(project / "v3.parquet", index=False)
    _killed_ingest(project, "v3.parquet", uri)
    fourth, flipped4 = _relabel(third, seed=8)
    fourth.to_parquet(project / "v4.parquet", index=False)
    out = invoke("gold", "ingest", "v4.parquet", uri)
    v3, v4 = store.versions()[2:]
    assert out.index(f"gold version {v3.id} (v3) was stored") < out.index(
        f"Gold diff {v3.id} (v3) -> {v4.id} (v4)")
    diff = pd.read_csv(project / "outputs/labels/gold_diff.csv")
    assert set(diff.loc[diff["change"] == "relabeled", "item_id"]) == flipped4
    assert all(v.complete for v in store.versions())
    runs = mlflow.search_runs(experiment_names=["smo-eval"], order_by=["start_time ASC"])
    assert runs["tags.gold_version"].tolist() == [second.id, v3.id, v4.id]


def test_versions_stored_before_completion_was_recorded_are_complete(tmp_path: Path) -> None:
    """A manifest written by an earlier smo-eval (no `complete`, no reviewer column) reads as
    complete versions: upgrading does not re-run every old diff."""
    root = tmp_path / "gold"
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps({"versions": [
        {"id": "abc", "name": "old", "file": "versions/abc.parquet", "rows": 3}]}))
    (version,) = GoldStore(root).versions()
    assert version.complete and version.reviewer_column is None
    assert GoldStore(root).incomplete() == []


def test_ingest_tracks_the_store_with_dvc(project: Path, world: pd.DataFrame) -> None:
    def run(*cmd: str) -> str:
        return subprocess.run(list(cmd), cwd=project, check=True, capture_output=True,
                              text=True).stdout

    run("git", "init", "-q")
    dvc = [sys.executable, "-m", "dvc"]
    run(*dvc, "init", "-q")
    world.to_parquet(project / "g.parquet", index=False)
    invoke("gold", "ingest", "g.parquet", "mlflow.enabled=false")
    pointer = (project / "data.dvc").read_text()
    assert "path: data/gold" in pointer
    assert "nfiles: 2" in pointer
    assert "/gold" in (project / "data/.gitignore").read_text()
    assert "up to date" in run(*dvc, "status", "data.dvc")


@pytest.mark.shared_data
def test_mhc_majority_relabel_flip_count(shared_data: Path, project: Path) -> None:
    cases = shared_data / "mhc/cases/mandarin.csv"
    common = ["data.columns.item_id=mhc_case_id", "data.columns.text=test_case",
              "data.items=null", "data.predictions=null", "mlflow.enabled=false"]
    invoke("gold", "ingest", str(cases), "--name", "scenario-gold",
           "data.columns.label=label_gold", *common)
    out = invoke("gold", "ingest", str(cases), "--name", "annotator-majority",
                 "data.columns.label=label_annotated_maj", *common)
    assert "metric impact skipped" in out
    raw = pd.read_csv(cases)
    expected = raw.loc[raw["label_gold"] != raw["label_annotated_maj"], "mhc_case_id"]
    diff = pd.read_csv(project / "outputs/labels/gold_diff.csv")
    assert sorted(diff.loc[diff["change"] == "relabeled", "item_id"]) == sorted(expected)
    summary = json.loads((project / "outputs/labels/gold_diff.json").read_text())
    assert summary["relabeled"] == len(expected) == 387
    assert summary["added"] == summary["removed"] == 0
    shutil.rmtree(project / "data/gold")
