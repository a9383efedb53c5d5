"""Nothing from the data is interpreted: one pipeline run (`smo-eval run`, MLflow in a local
store, PNG export when a browser is installed) on a world whose every name is hostile —

- model names that are paths (`../../../../escaped_rel`, an absolute path) or markup/HTML
  (`[bold]v2 </script><img src=x onerror=alert(1)>`),
- a gold file named `gold[bold].csv`, a column header `[/x] tier`, label values `[/x]` and
  `[bold]` (mapped by the team file), slice values `=1+1`, `@sum`, `<b>SEA</b>`, `[bold]EU`,
- item texts that are spreadsheet formulas (`=HYPERLINK(...)`, `=cmd|' /C calc'!A0`, ...).

The run must exit 0, print every name as itself, write nothing outside the project's
out_dir and MLflow store, and keep every name literal in CSV, workbook, HTML, Markdown and JUnit.
"""

from __future__ import annotations

import csv
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smo_eval.io.writers import csv_text_restored
from smo_eval.report.browser import find_browser
from tests.conftest import run_cli

FORMULAS = ['=HYPERLINK("http://evil.example","click")', "=cmd|' /C calc'!A0", "+1+1",
            "-2+3", "@SUM(1,1)", "\t=1+2", "'quoted"]
TEXTS = [*FORMULAS, "<script>alert(1)</script> 正常", "[bold]x[/] plain"]
REGIONS = ["=1+1", "@sum", "<b>SEA</b>", "[bold]EU"]
HTML_MODEL = "[bold]v2 </script><img src=x onerror=alert(1)>"
TEAM_FILE = """\
data:
  gold: "gold[bold].csv"
  predictions: predictions.csv
  on_error: quarantine
  columns: {label: verdict}
  labels: {positive: ["[/x]"], negative: ["[bold]"]}
slicing:
  dimensions: ["[/x] tier", region, language]
  crosses: [[region, language]]
"""
N = 2400


def _models(outside: Path) -> list[str]:
    return ["../../../../escaped_rel", str(outside / "escaped_abs"), HTML_MODEL]


class World:
    def __init__(self, root: Path, output: str, exit_code: int) -> None:
        self.root = root
        self.project = root / "project"
        self.outside = root / "elsewhere"
        self.output = output
        self.exit_code = exit_code
        self.out = self.project / "outputs"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("hostile")
    project, outside = root / "project", root / "elsewhere"
    project.mkdir()
    outside.mkdir()
    rng = np.random.default_rng(7)
    label = rng.random(N) < 0.4
    gold = pd.DataFrame({
        "item_id": [f"i{i:04d}" for i in range(N)],
        "verdict": np.where(label, "[/x]", "[bold]"),
        "[/x] tier": np.array(["[bold]gold", "[/red]silver"])[np.arange(N) % 2],
        "region": np.array(REGIONS)[np.arange(N) % len(REGIONS)],
        "language": np.where(rng.random(N) < 0.5, "en", "zh"),
        "text": np.array(TEXTS)[np.arange(N) % len(TEXTS)]})
    gold.loc[5, "verdict"] = "maybe"   # one row quarantined, with its file named
    gold.to_csv(project / "gold[bold].csv", index=False)
    rows = [pd.DataFrame({"item_id": gold["item_id"], "model": model, "score": np.clip(
        np.where(label, 0.75, 0.25) + rng.normal(0, 0.12, N), 0, 1)})
        for model in _models(outside)]
    pd.concat(rows).to_csv(project / "predictions.csv", index=False)
    (project / "smo-eval.yaml").write_text(TEAM_FILE, encoding="utf-8")
    cwd = Path.cwd()
    os.chdir(project)
    conf = os.environ.pop("SMO_EVAL_CONF_DIR", None)
    try:
        result = run_cli("run", f"mlflow.tracking_uri=sqlite:///{project}/mlflow.db",
                         f"report.png={'true' if find_browser(None) else 'false'}")
    finally:
        os.chdir(cwd)
        if conf is not None:
            os.environ["SMO_EVAL_CONF_DIR"] = conf
    return World(root, result.output, result.exit_code)


def test_the_run_succeeds_and_prints_names_as_themselves(world: World) -> None:
    """Exit 0 (1 would be the gate's 'failed'); no rich MarkupError; names shown literally."""
    assert world.exit_code == 0, world.output
    text = " ".join(world.output.split())
    assert "Traceback" not in text and "MarkupError" not in text and "unexpected" not in text
    for literal in (HTML_MODEL, "[/x] tier=[/red]silver", "region=[bold]EU",
                    "../../../../escaped_rel", "1 gold row(s) quarantined"):
        assert literal in text, literal
    quarantined = pd.read_csv(world.out / "ingest/quarantine/gold.csv", encoding="utf-8-sig")
    assert quarantined[["source_file", "row", "verdict"]].values.tolist() == [
        ["gold[bold].csv", 7, "maybe"]]


def test_nothing_is_written_outside_out_dir(world: World) -> None:
    """Model names that are paths become safe file names inside their folders: every file
    the run wrote is under outputs/ (or MLflow's store), none under the names' targets."""
    allowed = [world.out, world.project / "mlartifacts", world.project / "mlflow.db"]
    inputs = {world.project / n for n in ("gold[bold].csv", "predictions.csv",
                                          "smo-eval.yaml")}
    for path in world.root.rglob("*"):
        if path.is_file() and path not in inputs:
            assert any(path == a or a in path.parents for a in allowed), path
    assert not any(world.outside.iterdir())
    assert not [p for p in world.root.rglob("escaped_*.*") if p.stem in ("escaped_rel",
                                                                          "escaped_abs")]
    index = json.loads((world.out / "evaluate/curves/roc.index.json").read_text("utf-8"))
    assert set(index) == set(_models(world.outside))
    for file in index.values():
        assert re.fullmatch(r"[\w.\-]+\.csv", file) and not file.startswith(".")
        assert (world.out / "evaluate/curves/roc" / file).is_file()
    pngs = list((world.out / "report/png").glob("*"))
    if find_browser(None):
        assert len(pngs) >= 3
    assert all(re.fullmatch(r"[\w.\-]+\.png", p.name) for p in pngs), pngs


def test_csv_cells_never_run_in_a_spreadsheet(world: World) -> None:
    """Every CSV written: no text cell (or column name) starts with = + - @ tab or CR unless
    it is a number; the flips and the review queue read back exactly equal their Parquet."""
    risky = []
    for path in world.out.rglob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(cell):
                        risky.append((path.name, cell))
    assert not risky, risky[:10]
    for table in ("compare/flips", "errors/review_queue"):
        written = pd.read_csv(world.out / f"{table}.csv", encoding="utf-8-sig",
                              keep_default_na=False, dtype=str)
        truth = pd.read_parquet(world.out / f"{table}.parquet")
        assert set(FORMULAS) <= set(truth["text"]), table
        restored = csv_text_restored(written)
        assert restored.columns.tolist() == truth.columns.tolist()
        for column in ("text", "region", "[/x] tier"):
            assert restored[column].tolist() == truth[column].astype(str).tolist()
        assert "'=cmd|' /C calc'!A0" in written["text"].tolist()


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_workbooks_hold_formulas_as_text(world: World) -> None:
    """The .xlsx twins: a formula-looking value is a string cell, no cell is a formula."""
    import openpyxl

    for name in ("compare/flips.xlsx", "errors/review_queue.xlsx"):
        sheet = openpyxl.load_workbook(world.out / name).active
        cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
        assert not [c.coordinate for c in cells if c.data_type == "f"], name
        found = {c.value: c.data_type for c in cells if c.value in FORMULAS}
        assert set(found) == set(FORMULAS) and set(found.values()) == {"s"}, name


def test_html_report_shows_hostile_names_as_text(world: World) -> None:
    """No tag from the data in the page: the only <script> elements are the page's own (one
    for plotly.js, one per figure spec, the drawing script), and the model name is text."""
    from plotly.offline import get_plotlyjs

    page = (world.out / "report/report.html").read_text(encoding="utf-8")
    page = page.replace(get_plotlyjs(), "")
    assert "<img" not in page and "onerror=alert(1)>" not in page
    assert "<script>alert(1)</script>" not in page and "<b>SEA</b>" not in page
    specs = re.findall(r'<script type="application/json" id="spec-([\w.\-]+)">', page)
    assert specs and len(re.findall(r"<script", page)) == len(specs) + 2
    assert "[bold]v2 &lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    for spec in specs:  # plot specs: data strings escaped for plotly's own tags
        body = page.split(f'id="spec-{spec}">', 1)[1].split("</script>", 1)[0]
        assert "\\u003cb\\u003eSEA" not in body and "\\u003cimg" not in body


def test_markdown_and_junit_keep_data_literal(world: World) -> None:
    """report.md and the gate's summary.md rendered as CommonMark + tables: no HTML element,
    link or emphasis comes from the data; junit.xml parses and names slices literally."""
    from markdown_it import MarkdownIt

    render = MarkdownIt("commonmark").enable("table").render
    for name in ("report/report.md", "gate/summary.md"):
        html = render((world.out / name).read_text(encoding="utf-8"))
        tags = set(re.findall(r"</?([a-zA-Z][\w-]*)", html))
        assert tags <= {"h1", "h2", "h3", "p", "ul", "ol", "li", "table", "thead", "tbody",
                        "tr", "th", "td", "strong", "em", "code", "blockquote"}, (name, tags)
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, name
        assert "<a " not in html
    summary = render((world.out / "gate/summary.md").read_text(encoding="utf-8"))
    assert f"<code>{HTML_MODEL.replace('<', '&lt;').replace('>', '&gt;')}</code>" in summary
    tree = ET.parse(world.out / "gate/junit.xml")
    names = {case.get("name") for case in tree.iter("testcase")}
    assert "region=<b>SEA</b>" in names and "region==1+1" in names


def test_hostile_names_reach_mlflow_intact(world: World) -> None:
    """Model names with `..` and `/` in metric names are made path-unique, so the runs are
    recorded in full (MLflow refused them: 'not fully recorded')."""
    import mlflow

    assert "not fully recorded" not in world.output
    mlflow.set_tracking_uri(f"sqlite:///{world.project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["smo-eval"])
    evaluate = runs[runs["tags.smo_eval.stage"] == "evaluate"].iloc[0]
    assert 0.8 < evaluate["metrics.__/__/__/__/escaped_rel/recall"] <= 1.0


def _rendered_text(markdown_source: str, tag: str) -> str:
    import html

    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable("table").render(markdown_source)
    inner = re.findall(rf"<{tag}>(.*?)</{tag}>", rendered, flags=re.S)
    assert len(inner) == 1 and "<" not in inner[0], rendered
    return html.unescape(inner[0])


_TEXT = st.text(alphabet=st.sampled_from(
    [*"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ \t\n\r", *"aZ09_x", "评", "\u2028"]), max_size=40)


@given(value=_TEXT)
@settings(max_examples=1500, deadline=None)
def test_markdown_text_renders_as_itself(value: str) -> None:
    """Any text of ASCII punctuation, spaces and line breaks, escaped by `io.markdown`, renders
    (CommonMark + tables) as exactly that text, one line, with no element of its own: as a
    list item, a table cell and a heading."""
    from smo_eval.io import markdown

    expected = re.sub(r"[\r\n\u2028]+", " ", value).strip(" \t")
    if not expected:
        return
    assert _rendered_text(f"- {markdown.text(value)}\n", "li") == expected
    cell = _rendered_text(f"| a |\n|---|\n| {markdown.text(value)} |\n", "td")
    assert cell == expected
    assert _rendered_text(f"## {markdown.text(value)}\n", "h2") == expected


def test_junit_holds_only_characters_xml_allows() -> None:
    """A message with characters XML 1.0 cannot hold (NUL, ESC, U+FFFE) still gives a JUnit
    file every parser reads; those characters are shown as \\uXXXX."""
    from smo_eval.stages.gate.files import error_junit

    document = error_junit("bad region 'a\x00b\x1bc\ufffe' [/x] <b>")
    case = ET.fromstring(document.split("\n", 1)[1]).find(".//error")
    assert case is not None
    assert case.text == "bad region 'a\\u0000b\\u001bc\\ufffe' [/x] <b>"


@given(cells=st.lists(st.text(alphabet=st.sampled_from([*"=+-@'\t\r\n,\" ", *"ab1.", "评"]),
                              min_size=1, max_size=8), min_size=1, max_size=12),
       header=st.sampled_from(["text", "=cmd", "'quoted", "-x"]))
@settings(max_examples=300, deadline=None)
def test_csv_escape_round_trips(tmp_path_factory: pytest.TempPathFactory, cells: list[str],
                                header: str) -> None:
    """write_csv escapes every risky text cell and header, and `csv_text_restored` gives the
    exact text back (carriage returns and quotes included); numbers stay numbers."""
    from smo_eval.io.writers import write_csv

    path = tmp_path_factory.mktemp("csv") / "t.csv"
    frame = pd.DataFrame({header: cells, "n": np.arange(len(cells)) - 3})
    write_csv(frame, path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == len(cells) + 1
    for cell in [c for row in rows for c in row]:
        assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r") or _number(cell), cell
    back = csv_text_restored(pd.read_csv(path, encoding="utf-8-sig", dtype=str,
                                         keep_default_na=False))
    assert back.columns.tolist() == [header, "n"]
    assert back[header].tolist() == cells
    assert back["n"].astype(int).tolist() == frame["n"].tolist()
