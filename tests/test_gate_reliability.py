"""The gate cases of the bad-input corpus, through the real CLI: a gate that cannot be fooled
by an earlier run's outputs, by a candidate that left gold items unscored, by a slice value
that looks like selector syntax, or by a tracking server that is down.

Each world is written here: 3,000 gold items (1,200 violations) over three regions and two
languages, a baseline v1 and a candidate v2 that both separate the classes well, so the
packaged default gate passes until the case breaks one thing.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli

N, POSITIVES = 3000, 1200
OFF = "mlflow.enabled=false"
FILES = ["data.gold=gold.csv", "data.predictions=preds.csv"]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder: the packaged configuration and its default gate."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMO_EVAL_CONF_DIR", raising=False)
    return tmp_path


def write_world(folder: Path, *, regions: tuple[str, ...] = ("SEA", "EU", "NA"),
                seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """gold.csv and preds.csv; every score has four decimals (the files' sizes depend on the
    labels only, so a rescoring can keep the size of the file it replaces)."""
    rng = np.random.default_rng(seed)
    label = np.zeros(N, dtype=int)
    label[rng.choice(N, POSITIVES, replace=False)] = 1
    gold = pd.DataFrame({"item_id": [f"i{i:05d}" for i in range(N)], "label": label,
                         "region": np.array(regions)[np.arange(N) % len(regions)],
                         "language": np.where(rng.random(N) < 0.5, "en", "zh")})
    rows = []
    for model in ("v1", "v2"):
        score = np.where(label == 1, rng.uniform(0.70, 0.99, N), rng.uniform(0.01, 0.30, N))
        rows.append(pd.DataFrame({"item_id": gold["item_id"], "model": model, "score": score}))
    preds = pd.concat(rows, ignore_index=True)
    gold.to_csv(folder / "gold.csv", index=False)
    _write_preds(preds, folder / "preds.csv")
    return gold, preds


def _write_preds(preds: pd.DataFrame, path: Path) -> None:
    preds.to_csv(path, index=False, float_format="%.4f")


def gate(*extra: str) -> tuple[int, str, dict]:
    result = run_cli("gate", *FILES, *extra)
    text = " ".join(result.output.split())
    assert "Traceback" not in text and "unexpected" not in text, text
    verdict = json.loads(Path("outputs/gate/gate.json").read_text(encoding="utf-8"))
    return result.exit_code, text, verdict


def check(verdict: dict, name: str) -> dict:
    return next(c for c in verdict["checks"] if c["name"] == name)


def exit_of(verdict: dict) -> int:
    return {"pass": 0, "fail": 1}.get(verdict["verdict"], 2)


def test_outputs_of_earlier_inputs_never_pass_the_gate(folder: Path) -> None:
    """An earlier run's outputs in out_dir, then new predictions on which the candidate
    catches nothing, written to the same path with the same size and modification time: the
    gate recomputes from the new inputs and fails (or, with pipeline.on_stale=fail, refuses
    with exit 2 and files that say `error`)."""
    gold, preds = write_world(folder)
    first = run_cli("run", *FILES, OFF, "pipeline.stages=[ingest,evaluate,compare,gate]")
    assert first.exit_code == 0, first.output
    before = json.loads(Path("outputs/gate/gate.json").read_text(encoding="utf-8"))
    assert before["verdict"] == "pass"

    path = folder / "preds.csv"
    stat = path.stat()
    missed = preds.copy()
    hit = (missed["model"] == "v2") & missed["item_id"].isin(gold.loc[gold["label"] == 1,
                                                                        "item_id"])
    missed.loc[hit, "score"] -= 0.6   # 0.70-0.99 -> 0.10-0.39: below 0.5, same width
    _write_preds(missed, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns

    code, text, verdict = gate(OFF)
    assert code == 1 and verdict["verdict"] == "fail", text
    recall = check(verdict, "overall_recall")
    assert recall["status"] == "fail"
    assert recall["slices"][0]["value"] == 0.0      # recall_lo of 0 caught of 1,200
    assert "inputs validated in-process" in text

    code, text, verdict = gate(OFF, "pipeline.on_stale=fail")
    assert code == 2 and verdict["verdict"] == "error", text
    assert "pipeline.on_stale=fail" in verdict["error"] and "outputs/ingest" in text


@pytest.mark.parametrize("on_unscored, status", [("fail", "fail"),
                                                 ("insufficient", "insufficient_evidence")])
def test_unscored_violations_fail_with_the_count(folder: Path, on_unscored: str,
                                                 status: str) -> None:
    """The candidate has no score for 187 of the 1,200 violations; the 1,013 it scored it
    catches. The gate judges the slice it was asked about, not the scored part: the floor
    fails (or is insufficient evidence, which this check does not accept), with the count."""
    gold, preds = write_world(folder)
    violations = gold.loc[gold["label"] == 1, "item_id"]
    dropped = set(violations.sample(187, random_state=1))
    kept = preds[~((preds["model"] == "v2") & preds["item_id"].isin(dropped))]
    _write_preds(kept, folder / "preds.csv")
    coverage = "+gate.checks.scored={kind: coverage, min_share: 0.99, slices: [overall]}"
    code, text, verdict = gate(OFF, f"gate.checks.overall_recall.on_unscored={on_unscored}",
                               coverage)
    assert code == 1 and verdict["verdict"] == "fail", text
    recall = check(verdict, "overall_recall")
    (overall,) = recall["slices"]
    assert overall["status"] == status
    assert overall["reason"] == "v2 has no score for 187 of 3,000 gold items of this slice"
    assert "overall_recall" in verdict["failed_checks"]
    scored = check(verdict, "scored")["slices"][0]
    assert scored["status"] == "fail" and scored["value"] == pytest.approx(2813 / 3000)
    # The same data with every item scored passes: the 187 alone decide the verdict.
    write_world(folder)
    code, text, verdict = gate(OFF, coverage)
    assert code == 0 and verdict["verdict"] == "pass", text


def test_a_region_named_like_selector_syntax_fails_like_any_region(folder: Path) -> None:
    """The candidate misses every violation of one region. Named `XX` or `XX&language=en`,
    that region fails the same floor; the tricky name never poses as a region x language
    cross, and is shown literally in gate.json, junit.xml and summary.md."""
    floor = ("+gate.checks.region_recall={kind: floor, metric: recall, min: 0.5, "
             "slices: ['region=*']}")
    crosses = ("+gate.checks.cross_recall={kind: floor, metric: recall, min: 0.0, "
               "slices: ['region=*&language=*'], on_insufficient: warn}")
    failing = {}
    for name in ("XX", "XX&language=en"):
        gold, preds = write_world(folder, regions=("SEA", "EU", name))
        bad = gold.loc[(gold["region"] == name) & (gold["label"] == 1), "item_id"]
        preds.loc[(preds["model"] == "v2") & preds["item_id"].isin(bad), "score"] = 0.05
        _write_preds(preds, folder / "preds.csv")
        code, text, verdict = gate(OFF, "slicing.dimensions=[region,language]",
                                   "slicing.crosses=[[region,language]]", floor, crosses)
        assert code == 1 and "region_recall" in verdict["failed_checks"], text
        failing[name] = [s["slice_key"] for s in check(verdict, "region_recall")["slices"]
                         if s["status"] == "fail"]
        cross_keys = [s["slice_key"] for s in check(verdict, "cross_recall")["slices"]]
        assert len(cross_keys) == 6
        assert all([pair[0] for pair in key] == ["region", "language"] for key in cross_keys)
    assert failing == {"XX": [[["region", "XX"]]],
                       "XX&language=en": [[["region", "XX&language=en"]]]}
    junit = Path("outputs/gate/junit.xml").read_text(encoding="utf-8")
    assert 'name="region=XX&amp;language=en"' in junit
    summary = Path("outputs/gate/summary.md").read_text(encoding="utf-8")
    assert "| region_recall | region=XX&language=en | ❌ fail |" in summary


# --- a tracking server that is down ---------------------------------------------------------


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that takes connections and never answers (a hung or firewalled store)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _timed(*args: str) -> tuple[float, int, str]:
    start = time.monotonic()
    result = run_cli(*args)
    return time.monotonic() - start, result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("candidate_misses", [False, True], ids=["passing", "failing"])
def test_gate_with_the_tracking_server_down_costs_seconds(folder: Path,
                                                          candidate_misses: bool) -> None:
    """A closed port: the gate finishes within 30 s of its own work (the same command with
    MLflow off, timed here), says the run was not recorded, and exits with gate.json's
    verdict."""
    gold, preds = write_world(folder)
    if candidate_misses:
        preds.loc[(preds["model"] == "v2") & preds["item_id"].isin(
            gold.loc[gold["label"] == 1, "item_id"]), "score"] = 0.05
        _write_preds(preds, folder / "preds.csv")
    reference, ref_code, _ = _timed("gate", *FILES, OFF)
    uri = f"http://127.0.0.1:{_closed_port()}"
    took, code, text = _timed("gate", *FILES, f"mlflow.tracking_uri={uri}")
    verdict = json.loads(Path("outputs/gate/gate.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == ("fail" if candidate_misses else "pass")
    assert code == exit_of(verdict) == ref_code, text
    assert took < reference + 30, (took, reference)
    assert f"MLflow: tracking server {uri} unreachable" in text
    assert "runs are not recorded (outputs are written)" in text
    assert "Traceback" not in text and "unexpected" not in text


def test_a_server_that_never_answers_costs_the_timeout(folder: Path,
                                                       silent_server: str) -> None:
    """A store that accepts the connection and never answers: one probe of mlflow.timeout,
    then evaluate and the gate run unrecorded (no hang, no retry loop)."""
    write_world(folder)
    reference, _, _ = _timed("evaluate", *FILES, OFF)
    took, code, text = _timed("evaluate", *FILES, f"mlflow.tracking_uri={silent_server}",
                              "mlflow.timeout=2")
    assert code == 0, text
    assert took < reference + 30, (took, reference)
    assert "unreachable" in text and "timed out" in text
    assert Path("outputs/evaluate/slice_metrics.parquet").is_file()
    took, code, text = _timed("gate", *FILES, f"mlflow.tracking_uri={silent_server}",
                              "mlflow.timeout=2")
    verdict = json.loads(Path("outputs/gate/gate.json").read_text(encoding="utf-8"))
    assert code == exit_of(verdict) == 0, text
    assert took < reference + 30


def test_required_tracking_exits_2_before_judging(folder: Path) -> None:
    """mlflow.required=true with the server down: exit 2 before any check is judged; the
    gate's files say `error` (an earlier pass does not stay behind), the evaluate stage and
    `gold ingest` change nothing."""
    write_world(folder)
    first = run_cli("run", *FILES, OFF, "pipeline.stages=[ingest,evaluate,compare,gate]")
    assert first.exit_code == 0, first.output
    uri = f"mlflow.tracking_uri=http://127.0.0.1:{_closed_port()}"
    took, code, text = _timed("gate", *FILES, uri, "mlflow.required=true")
    assert took < 30
    verdict = json.loads(Path("outputs/gate/gate.json").read_text(encoding="utf-8"))
    assert code == 2 and verdict["verdict"] == "error", text
    assert verdict["checks"] == [] and "mlflow.required=true" in verdict["error"]
    assert "error: MLflow is required (mlflow.required=true) but tracking server" in text
    assert "Gate default" not in text          # no check table: nothing was judged
    lineage = Path("outputs/evaluate/lineage.json").read_text(encoding="utf-8")
    code = run_cli("evaluate", *FILES, uri, "mlflow.required=true").exit_code
    assert code == 2
    assert Path("outputs/evaluate/lineage.json").read_text(encoding="utf-8") == lineage
    result = run_cli("gold", "ingest", "gold.csv", uri, "mlflow.required=true")
    assert result.exit_code == 2, result.output
    assert not Path("data/gold").exists()


def test_exit_code_and_gate_json_agree_when_later_steps_fail(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the verdict is written, a failure in showing or recording it is a notice, not a
    different exit code; a failure while writing leaves no verdict file (never half of one, or
    an earlier pass), and `smo-eval verdict` then says the gate could not run."""
    import smo_eval.nodes.gate as gate_node
    from smo_eval.pipeline.catalog import Catalog

    write_world(folder)

    def broken_console(result: object) -> None:
        raise RuntimeError("terminal gone (injected)")

    monkeypatch.setattr(gate_node, "show", broken_console)
    result = run_cli("gate", *FILES, OFF)
    verdict = json.loads(Path("outputs/gate/gate.json").read_text(encoding="utf-8"))
    assert result.exit_code == exit_of(verdict) == 0, result.output
    assert ("gate: outputs written, but showing or recording them failed (unexpected "
            "RuntimeError: terminal gone (injected))") in " ".join(result.output.split())
    monkeypatch.undo()
    monkeypatch.chdir(folder)

    write = Catalog.write

    def disk_full(self: Catalog, key: str, value: object) -> list[Path]:
        if key == "gate.junit":
            raise OSError(28, "No space left on device (injected)")
        return write(self, key, value)

    monkeypatch.setattr(Catalog, "write", disk_full)
    result = run_cli("gate", *FILES, OFF)
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert not Path("outputs/gate/gate.json").exists()
    monkeypatch.undo()
    assert run_cli("verdict", str(folder / "outputs/gate/gate.json")).exit_code == 2
