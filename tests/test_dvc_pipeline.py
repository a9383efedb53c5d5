"""DVC runs the pipeline on a fresh clone with no remote; `dvc exp run -S` reaches the stages."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smo_eval.sample.trend import history_size
from tests.conftest import ROOT
from tests.settings import world_config

BIN = Path(sys.executable).parent
FAST = ["sample.n_items=8000", "report.png=false", "drift.evidently.enabled=false"]
# The period's 8,000 items and the weeks of history before them (planted.trend).
ITEMS = 8000 + history_size(world_config()[0], 8000)
DVC = shutil.which("dvc", path=str(BIN)) or "dvc"


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env.update({"GIT_AUTHOR_NAME": "smo-eval tests", "GIT_AUTHOR_EMAIL": "tests@localhost",
                "GIT_COMMITTER_NAME": "smo-eval tests", "GIT_COMMITTER_EMAIL": "tests@localhost",
                "DVC_NO_ANALYTICS": "1", "HOME": str(tmp)})
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh clone of the committed project: no data/, no outputs/, no DVC cache or remote."""
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode:
        pytest.fail("the project must be a git repository with a commit")
    tmp = tmp_path_factory.mktemp("dvc")
    env = _env(tmp)
    target = tmp / "clone"
    _run(["git", "clone", "-q", str(ROOT), str(target)], tmp, env)
    # Keep the clone fast, as a team commits its own params: a smaller world, no PNG export
    # and no Evidently HTML (both are tested elsewhere and cost a browser and ~10 s).
    _run([str(BIN / "smo-eval"), "params", *FAST], target, env)
    _run(["git", "commit", "-qam", "smaller sample for the test"], target, env)
    return target, env


def test_dvc_repro_on_a_fresh_clone(clone: tuple[Path, dict[str, str]]) -> None:
    target, env = clone
    out = _run([DVC, "repro", "pipelines/dvc.yaml"], target, env)
    for stage in ("sample", "ingest", "evaluate", "labels", "drift"):
        assert f"Running stage 'pipelines/dvc.yaml:{stage}'" in out
    metrics = json.loads(_run([DVC, "metrics", "show", "--json"], target, env))
    values = next(iter(metrics.values()))["data"]["outputs/evaluate/metrics.json"]["data"]
    drift = next(iter(metrics.values()))["data"]["outputs/drift/metrics.json"]["data"]
    assert drift["drift/language/jensenshannon"] > 0
    assert 0 < values["v2"]["recall"] < 1 and values["v1"]["n"] == ITEMS
    plots = json.loads(_run([DVC, "plots", "show", "--json"], target, env))
    rendered = plots["data"]
    assert {"outputs/evaluate/curves/roc/v1.csv", "outputs/evaluate/curves/pr/v2.csv",
            "outputs/evaluate/curves/reliability/v1.csv"} <= set(rendered)
    points = rendered["outputs/evaluate/curves/roc/v1.csv"][0]["content"]["data"]["values"]
    assert {"fpr", "tpr"} <= set(points[0])
    again = _run([DVC, "repro", "pipelines/dvc.yaml"], target, env)
    assert "Running stage" not in again  # nothing changed: nothing runs

    # `smo-eval run` executes the same stages in-process and writes the same files.
    # Its exit code is the gate's verdict (1: the default gate fails on the planted regression).
    done = subprocess.run([str(BIN / "smo-eval"), "run", "--params", "params.yaml",
                           "out_dir=inproc", "mlflow.enabled=false"], cwd=target, env=env,
                          capture_output=True, text=True, timeout=600)
    gate = json.loads((target / "outputs/gate/gate.json").read_text())
    assert done.returncode == (0 if gate["passed"] else 1), done.stderr
    assert json.loads((target / "inproc/gate/gate.json").read_text()) == gate
    for name in ("evaluate/slice_metrics.csv", "evaluate/metrics.json",
                 "evaluate/curves/roc/v2.csv"):
        assert (target / "inproc" / name).read_bytes() == (target / "outputs" / name).read_bytes()


def test_dvc_exp_run_with_a_hydra_override(clone: tuple[Path, dict[str, str]]) -> None:
    target, env = clone
    # The team commits its baseline run (dvc.lock and the stages' small metrics files)...
    _run([DVC, "repro", "pipelines/dvc.yaml"], target, env)
    _run(["git", "add", "pipelines/dvc.lock", *(str(p.relative_to(target)) for p in
                                              target.glob("outputs/*/metrics.json")),
          "outputs/compare/summary.json", "outputs/errors/summary.json"], target, env)
    _run(["git", "commit", "-qm", "baseline run"], target, env)
    # ... then tries another operating point as an experiment.
    _run([DVC, "exp", "run", "pipelines/dvc.yaml", "-S", "evaluate.threshold=0.6",
          "-S", "gate=release", *(arg for o in FAST for arg in ("-S", o))], target, env)
    shown = json.loads(_run([DVC, "exp", "show", "--json"], target, env))
    thresholds, gates = [], []
    for entry in shown:
        for exp in entry.get("experiments") or []:
            for rev in exp.get("revs", []):
                params = rev["data"]["params"]["params.yaml"]["data"]
                thresholds.append(params["evaluate"]["threshold"])
                verdict = rev["data"]["metrics"]["outputs/gate/metrics.json"]["data"]
                gates.append((params["gate"]["name"], verdict["passed"], verdict["checks"]))
    assert 0.6 in thresholds
    # The strict gate ran as the last stage and `dvc exp show` lists its verdict.
    gate_json = json.loads((target / "outputs/gate/gate.json").read_text())
    assert gate_json["gate"] == "release" and gate_json["verdict"] == "fail"
    assert ("release", 0, len(gate_json["checks"])) in gates
    table = list(csv.DictReader(io.StringIO(
        _run([DVC, "exp", "show", "--no-pager", "--csv"], target, env))))
    experiments = [row for row in table if row["Experiment"]]
    assert experiments and all(row["passed"] == "0" for row in experiments)
    metrics = json.loads((target / "outputs/evaluate/metrics.json").read_text())
    slices = (target / "outputs/evaluate/slice_metrics.csv").read_text()
    assert ",0.6," in slices and metrics["v1"]["n"] == ITEMS
    # `--only-changed` compares the two: evaluate's headline metrics for both rows.
    changed = list(csv.DictReader(io.StringIO(_run(
        [DVC, "exp", "show", "--no-pager", "--csv", "--only-changed"], target, env))))
    rows = [r for r in changed if r["typ"] in ("baseline", "branch_base", "branch_commit")
            or r["Experiment"]]
    assert len(rows) >= 2
    recall = [c for c in changed[0] if c.endswith("v2.recall")]
    assert recall and all(r[recall[0]] not in ("", "-") for r in rows)
    assert len({r[recall[0]] for r in rows}) == 2         # the operating point moved recall
    # Readable: the settings and headline numbers that moved (here also every check of the
    # release gate), not the 1,864 columns of every setting and slice.
    assert len(changed[0]) < 300


def test_dvc_yaml_is_the_registry_s() -> None:
    """pipelines/dvc.yaml is generated from the stage registry and the project's config."""
    from smo_eval.config import load_config
    from smo_eval.pipeline.dvcgen import generate

    expected = generate(load_config([]), ROOT)
    assert (ROOT / "pipelines/dvc.yaml").read_text(encoding="utf-8") == expected, \
        "run `smo-eval dvc-yaml` after changing the registry or conf/"
