"""Two runs of `smo-eval run` on the same inputs and seed give byte-identical outputs.

The runs are separate processes with different PYTHONHASHSEED (set iteration order differs,
as between any two real runs) and the same SOURCE_DATE_EPOCH (the time written into
workbooks, junit.xml and the report; without it those carry the wall clock, see
`test_outputs_carry_the_clock_without_source_date_epoch`). Every file under outputs/ is
compared byte for byte, PNG screenshots of the report included when a browser is installed.

Excluded, and why:
- `drift/evidently_report.html`: Evidently gives every widget a random id (uuid4/uuid7, ~200
  of them); it is compared with those ids masked, so its numbers and layout still count.
- the sha256 of that page in `drift/lineage.json` (every other byte of it is compared).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from smo_eval.clock import now
from smo_eval.errors import ConfigError
from smo_eval.report.browser import find_browser
from tests.cli_helpers import invoke

EPOCH = "1767225600"   # 2026-01-01T00:00:00Z
RANDOM_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                        r"|[0-9a-f]{32}")
EVIDENTLY = "drift/evidently_report.html"
MASKED = {EVIDENTLY, "drift/lineage.json"}


def _run(project: Path, hash_seed: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "SOURCE_DATE_EPOCH": EPOCH,
           "SMO_EVAL_CONF_DIR": str(project / "conf")}
    png = "true" if find_browser(None) else "false"
    return subprocess.run(
        [sys.executable, "-m", "smo_eval.cli", "run", "sample.n_items=12000",
         "mlflow.enabled=false", f"report.png={png}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_runs_are_byte_identical(project: Path) -> None:
    invoke("sample", "sample.n_items=12000", "mlflow.enabled=false")
    first = _run(project, "1")
    assert first.returncode == 1, first.stdout + first.stderr   # the planted regression
    (project / "outputs").rename(project / "first")
    shutil.copytree(project / "first/sample", project / "outputs/sample")  # `sample`'s record
    second = _run(project, "2")
    assert second.returncode == 1, second.stdout + second.stderr
    a, b = _files(project / "first"), _files(project / "outputs")
    assert a.keys() == b.keys()
    assert len(a) > 80 and {"compare/flips.xlsx", "gate/junit.xml", "report/report.html",
                            "drift/drift.json", "experiment/metrics.json"} <= a.keys()
    different = sorted(name for name in a if a[name] != b[name] and name not in MASKED)
    assert different == [], different
    pages = [RANDOM_IDS.sub("id", (root / EVIDENTLY).read_text(encoding="utf-8"))
             for root in (project / "first", project / "outputs")]
    assert pages[0] == pages[1]
    lineages = [json.loads((root / "drift/lineage.json").read_text(encoding="utf-8"))
                for root in (project / "first", project / "outputs")]
    for lineage in lineages:
        assert len(lineage["outputs"].pop(f"out:{EVIDENTLY}")) == 64
    assert lineages[0] == lineages[1]
    stamp = 'timestamp="2026-01-01T00:00:00"'
    assert stamp in (project / "outputs/gate/junit.xml").read_text(encoding="utf-8")


def test_outputs_carry_the_clock_without_source_date_epoch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without SOURCE_DATE_EPOCH a workbook records when it was written; with it, the given
    time, and two workbooks of the same table are the same bytes."""
    from smo_eval.io.excel import write_review_xlsx

    frame = pd.DataFrame({"item_id": ["a", "b"], "text": ["=1+1", "ok"], "score": [0.2, 0.9]})
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    write_review_xlsx(frame, tmp_path / "now.xlsx")
    core = zipfile.ZipFile(tmp_path / "now.xlsx").read("docProps/core.xml").decode()
    year = pd.Timestamp.now(tz="UTC").year
    assert f"<dcterms:created xsi:type=\"dcterms:W3CDTF\">{year}-" in core
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    write_review_xlsx(frame, tmp_path / "a.xlsx")
    write_review_xlsx(frame, tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    core = zipfile.ZipFile(tmp_path / "a.xlsx").read("docProps/core.xml").decode()
    assert "2026-01-01T00:00:00Z" in core
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH='yesterday': expected whole"):
        now()
