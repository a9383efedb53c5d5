"""`smo-eval gate` on the sample world: it fails on the planted regression (exit 1, the slice
named in summary.md and JUnit), passes for the champion itself, cannot run without
predictions (exit 2), and calls three positives insufficient evidence. junit.xml validates
against the JUnit schema CI systems read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from junitparser import Error, Failure, JUnitXml
from lxml import etree
from mlflow.tracking import MlflowClient

from tests.conftest import project_with_stages, run_cli
from tests.settings import planted

XSD = Path(__file__).parent / "data" / "junit.xsd"
N_ITEMS = 20_000
FAST = ["compare.n_boot=200"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with a 20k-item sample world, ingested, evaluated and compared."""
    return project_with_stages(tmp_path_factory.mktemp("gate_world"),
                               ("sample", "ingest", "evaluate", "compare"),
                               f"sample.n_items={N_ITEMS}", *FAST, "mlflow.enabled=false")


@pytest.fixture
def in_world(world: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(world)
    monkeypatch.delenv("SMO_EVAL_CONF_DIR", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return world


def gate(out: Path, *overrides: str) -> Any:
    return run_cli("gate", f"sample.n_items={N_ITEMS}", *FAST, f"out_dir={out}", *overrides)


def planted_slice() -> str:
    """The slice the sample world's planted regression lives in, read from config."""
    where = planted()["regression"]["where"]
    return "&".join(f"{dim}={value}" for dim, value in where.items())


def validate_junit(path: Path) -> JUnitXml:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    document = etree.parse(str(path))
    assert schema.validate(document), schema.error_log
    return JUnitXml.fromfile(str(path))


def test_default_gate_fails_on_the_planted_regression(in_world: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    step_summary = tmp_path / "step_summary.md"
    step_summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "out"
    result = gate(out, f"mlflow.tracking_uri={uri}")
    assert result.exit_code == 1, result.output
    target = planted_slice()
    assert target == "region=SEA&language=zh"

    verdict = json.loads((out / "gate/gate.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == "fail" and verdict["candidate"] == "v2"
    assert "no_regression" in verdict["failed_checks"]
    checks = {c["name"]: c for c in verdict["checks"]}
    failed = {s["slice"]: s for s in checks["no_regression"]["slices"] if s["status"] == "fail"}
    assert target in failed
    recall = next(d for d in failed[target]["details"] if d["metric"] == "recall")
    assert recall["verdict"] == "regressed" and recall["delta"] < -0.1
    # The champion's floors hold for v2 as well: only the regression fails the gate.
    assert verdict["failed_checks"] == ["no_regression"]

    summary = (out / "gate/summary.md").read_text(encoding="utf-8")
    first_lines = summary.splitlines()[0]
    assert "FAIL" in first_lines and "`v2`" in first_lines
    failed_table = summary.split("### Failed and insufficient")[1].split("### All checks")[0]
    assert f"| no_regression | {target} | ❌ fail" in failed_table
    assert step_summary.read_text(encoding="utf-8") == "earlier step\n" + summary + "\n"

    junit = validate_junit(out / "gate/junit.xml")
    cases = [(suite.name, case) for suite in junit for case in suite]
    failing = [c for s, c in cases if s == "gate.no_regression" and c.name == target]
    assert len(failing) == 1
    assert any(isinstance(r, Failure) and "regressed" in (r.message or "")
               for r in failing[0].result)
    # Counts agree with gate.json: one test case per (check, slice).
    n_cases = sum(max(len(c["slices"]), 1) for c in verdict["checks"])
    n_failures = sum(1 for _, c in cases if any(isinstance(r, Failure) for r in c.result))
    expected_failures = sum(1 for c in verdict["checks"] for s in c["slices"]
                            if s["status"] == "fail"
                            or (s["status"] == "insufficient_evidence"
                                and c["on_insufficient"] == "fail"))
    junit.update_statistics()
    assert junit.tests == len(cases) == n_cases
    assert junit.failures == n_failures == expected_failures
    assert junit.errors == 0

    metrics = json.loads((out / "gate/metrics.json").read_text(encoding="utf-8"))
    assert metrics["passed"] == 0 and metrics["failed_checks"] == 1

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("smo-eval")
    run = client.search_runs([experiment.experiment_id],
                             filter_string="tags.`smo_eval.stage` = 'gate'")[0]
    assert run.data.tags["gate.verdict"] == "fail"
    assert run.data.tags["gate.check.no_regression"] == "fail"
    assert run.data.tags["gate.check.overall_recall"] == "pass"
    assert run.data.metrics["gate/passed"] == 0.0
    assert run.data.metrics["gate/no_regression/failed_slices"] >= 1
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "gate")}
    assert {"gate/gate.json", "gate/junit.xml", "gate/summary.md"} <= artifacts


def test_the_same_gate_passes_when_the_candidate_is_the_champion(in_world: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = gate(out, "compare.candidates=[v1]", "mlflow.enabled=false")
    assert result.exit_code == 0, result.output
    verdict = json.loads((out / "gate/gate.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == "pass" and verdict["candidate"] == verdict["baseline"] == "v1"
    assert verdict["failed_checks"] == []
    junit = validate_junit(out / "gate/junit.xml")
    junit.update_statistics()
    assert junit.failures == 0 and junit.errors == 0
    assert "PASS" in (out / "gate/summary.md").read_text(encoding="utf-8").splitlines()[0]


def test_missing_predictions_file_exits_2_and_leaves_no_pass(in_world: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "gate").mkdir(parents=True)
    (out / "gate/gate.json").write_text('{"verdict": "pass"}', encoding="utf-8")  # stale
    result = gate(out, f"data.predictions={tmp_path / 'missing.parquet'}",
                  "mlflow.enabled=false")
    assert result.exit_code == 2, result.output
    assert "missing.parquet" in result.output
    verdict = json.loads((out / "gate/gate.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == "error" and verdict["passed"] is False
    junit = validate_junit(out / "gate/junit.xml")
    junit.update_statistics()
    assert junit.errors == 1
    assert isinstance(next(iter(next(iter(junit)))).result[0], Error)
    assert run_cli("verdict", str(out / "gate/gate.json")).exit_code == 2


def test_a_slice_with_three_positives_is_insufficient_evidence(in_world: Path,
                                                             tmp_path: Path) -> None:
    slices = pd.read_parquet(in_world / "outputs/evaluate/slice_metrics.parquet")
    tiny = slices[(slices["model"] == "v2") & (slices["n_pos"] == 3)]
    assert not tiny.empty
    name = str(tiny.iloc[0]["slice"])
    out = tmp_path / "out"
    check = ('+gate.checks.tiny={kind: floor, metric: recall, min: 0.0, '
             f'slices: ["{name}"], on_insufficient: fail}}')
    result = gate(out, "compare.candidates=[v1]", check, "mlflow.enabled=false")
    assert result.exit_code == 1, result.output   # a floor of 0 is not met by 3 positives
    verdict = json.loads((out / "gate/gate.json").read_text(encoding="utf-8"))
    tiny_check = next(c for c in verdict["checks"] if c["name"] == "tiny")
    assert tiny_check["status"] == "insufficient_evidence"
    assert tiny_check["slices"][0]["n_pos"] == 3 and "3 positives < 30" in \
        tiny_check["slices"][0]["reason"]
    assert verdict["failed_checks"] == ["tiny"]
    assert run_cli("verdict", str(out / "gate/gate.json")).exit_code == 1
