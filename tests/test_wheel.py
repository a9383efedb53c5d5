"""The package as a team installs it: a wheel built from this repository, installed in a
fresh virtual environment, runs `evaluate` and `gate` in an empty folder on the team's own
files, with the packaged configuration only (no conf/, no sample world)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
         code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == code, f"{' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (dependencies are taken from this environment's
    site-packages through a .pth file, so the test needs no download; the editable install
    of this checkout is not on that path)."""
    tmp = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(tmp / "dist"), str(ROOT)], tmp)
    (wheel,) = (tmp / "dist").glob("smo_eval-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp)
    python = venv / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                tmp).stdout.strip()
    (Path(site) / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
          str(wheel)], tmp)
    return venv


def test_the_core_install_is_lean_and_heavy_parts_are_extras(installed: Path) -> None:
    """A CI gate job installs the core: no Evidently, DVC, browser driver or Spark; those are
    extras (`pip install 'smo-eval[drift,png,dvc]'`). Python 3.11 to 3.13."""
    script = ("import importlib.metadata as m, json; d = m.distribution('smo-eval'); "
              "print(json.dumps({'requires': d.requires, "
              "'python': d.metadata['Requires-Python']}))")
    found = json.loads(_run([str(installed / "bin" / "python"), "-c", script],
                            installed).stdout)
    core = [r for r in found["requires"] if "extra ==" not in r]
    names = {r.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
             for r in core}
    assert not names & {"evidently", "dvc", "websockets", "pyspark", "matplotlib"}
    extras = " ".join(r for r in found["requires"] if "extra ==" in r)
    for extra in ("drift", "png", "dvc"):
        assert f'extra == "{extra}"' in extras
    assert found["python"] == "<3.14,>=3.11"


def _team_files(folder: Path) -> None:
    """A team's export: its own column names, two model versions, no region or language."""
    rng = np.random.default_rng(5)
    n = 4000
    label = rng.random(n) < 0.2
    channel = rng.choice(["app", "web", "live"], n)
    gold = pd.DataFrame({"case_id": [f"c{i:05d}" for i in range(n)],
                         "verdict": np.where(label, "violating", "ok"), "channel": channel})
    gold.to_csv(folder / "gold.csv", index=False)
    rows = []
    for system, noise in (("prod-2026-10", 1.0), ("cand-2026-11", 0.8)):
        logit = np.where(label, 1.8, -1.8) + rng.normal(0, noise, n)
        rows.append(pd.DataFrame({"case_id": gold["case_id"], "system": system,
                                  "prob": 1 / (1 + np.exp(-logit))}))
    pd.concat(rows).to_csv(folder / "scores.csv", index=False)


def test_wheel_runs_evaluate_and_gate_in_an_empty_folder(installed: Path,
                                                        tmp_path: Path) -> None:
    team = tmp_path / "team"
    team.mkdir()
    _team_files(team)
    env = {k: v for k, v in os.environ.items() if k not in ("SMO_EVAL_CONF_DIR", "PYTHONPATH")}
    smo = str(installed / "bin" / "smo-eval")
    where = _run([str(installed / "bin" / "python"), "-c",
                  "import smo_eval; print(smo_eval.__file__)"], team, env).stdout
    assert str(installed) in where and str(ROOT) not in where
    common = ["data.gold=gold.csv", "data.predictions=scores.csv",
              "data.columns.item_id=case_id", "data.columns.label=verdict",
              "data.columns.model=system", "data.columns.score=prob",
              "data.labels.negative=[ok]", "slicing.dimensions=[channel]", "slicing.crosses=[]",
              "mlflow.enabled=false"]
    done = _run([smo, "evaluate", *common], team, env)
    assert "Traceback" not in done.stderr
    table = pd.read_csv(team / "outputs/evaluate/slice_metrics.csv")
    assert set(table["model"]) == {"prod-2026-10", "cand-2026-11"}
    assert set(table["slice"]) >= {"overall", "channel=app", "channel=web", "channel=live"}
    gate = _run([smo, "gate", *common, "compare.baseline=prod-2026-10"], team, env)
    verdict = json.loads((team / "outputs/gate/gate.json").read_text(encoding="utf-8"))
    assert verdict["candidate"] == "cand-2026-11" and verdict["baseline"] == "prod-2026-10"
    assert verdict["verdict"] == "pass", gate.stdout
    statuses = {c["name"]: c["status"] for c in verdict["checks"]}
    assert statuses["overall_recall"] == "pass"
    assert statuses["annotator_agreement"] == statuses["score_drift"] == "skipped"
    # Nothing of the sample world leaks in: no data/sample, no conf/ was needed.
    assert sorted(p.name for p in team.iterdir()) == ["gold.csv", "outputs", "scores.csv"]


def test_a_new_team_runs_init_then_every_command_with_no_override(installed: Path,
                                                                   tmp_path: Path) -> None:
    """Foreign column names, the team's own categories, no region, a GBK gold file with
    Chinese headers and values, 5% of gold unscored, one model with hard 0/1 decisions:
    `init` writes smo-eval.yaml, then evaluate, gate and report need no override."""
    from tests.team_data import write_team_files

    team = tmp_path / "团队"
    team.mkdir()
    files = write_team_files(team)
    env = {k: v for k, v in os.environ.items() if k not in ("SMO_EVAL_CONF_DIR", "PYTHONPATH")}
    smo = str(installed / "bin" / "smo-eval")
    _run([smo, "init", files["gold"].name, files["predictions"].name], team, env)
    written = (team / "smo-eval.yaml").read_text(encoding="utf-8")
    assert "item_id: 内容ID" in written and "positive: [违规]" in written
    assert "rules-engine predicts hard 0/1 decisions" in written
    assert "region" not in written                      # only dimensions the files have

    evaluated = _run([smo, "evaluate"], team, env)
    out = evaluated.stdout + evaluated.stderr
    assert "309 of 6,000 gold items (5.1%) have no prediction from any model" in out
    coverage = pd.read_csv(team / "outputs/evaluate/coverage.csv").set_index("model")
    assert coverage.loc["cand-2026-11", "unscored"] == 309
    table = pd.read_csv(team / "outputs/evaluate/slice_metrics.csv")
    rules = table[(table["model"] == "rules-engine") & (table["slice"] == "overall")].iloc[0]
    assert np.isnan(rules["roc_auc"]) and "hard 0/1 predictions" in rules["undefined"]
    scored = table[(table["model"] == "cand-2026-11") & (table["slice"] == "overall")].iloc[0]
    assert scored["roc_auc"] > 0.8 and scored["n_unscored"] == 309
    assert {"渠道=私信", "语言=中文", "risk_category=武器"} <= set(table["slice"])

    # The candidate did not score 5% of the gold: the gate fails closed, and says why.
    _run([smo, "gate"], team, env, code=1)
    verdict = json.loads((team / "outputs/gate/gate.json").read_text(encoding="utf-8"))
    checks = {c["name"]: c for c in verdict["checks"]}
    assert checks["coverage"]["status"] == "fail"
    assert "scored 5,691 of 6,000 gold items" in checks["coverage"]["slices"][0]["reason"]
    assert "no score for 309 of 6,000" in checks["overall_recall"]["slices"][0]["reason"]

    _run([smo, "report", "report.png=false"], team, env)
    assert (team / "outputs/report/report.html").stat().st_size > 100_000
    # The report says what each model's numbers stand on: unscored items, hard decisions.
    summary = (team / "outputs/report/report.md").read_text(encoding="utf-8")
    assert "cand-2026-11 has no prediction for 309 of 6,000 gold items (5.1%)" in summary
    assert "rules-engine gives hard 0/1 decisions" in summary
    assert "cand-2026-11 gives hard" not in summary
    assert not (team / "data").exists()                 # no sample world anywhere
