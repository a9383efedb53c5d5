"""Render a report model: one self-contained HTML page (plotly.js inlined once, each figure a
JSON spec drawn in the browser) and a Markdown summary for pull requests and CI.

Model names, slice values and example texts come from the data and are shown as themselves:
Jinja escapes the page, `io.markdown` the Markdown, and the strings of each plot spec are
escaped for plotly's own tags (`<b>`, `<a href>`, `<br>`); figure ids, which become element ids
and the PNG file names, are made safe names.
"""

from __future__ import annotations

import html
import json
from dataclasses import replace
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from smo_eval.io import markdown
from smo_eval.pipeline.entries import safe_name
from smo_eval.report.i18n import Messages
from smo_eval.report.model import Figure, Report, Table


@cache
def _plotlyjs() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _json_for_script(spec: object) -> str:
    """JSON safe inside <script>: no `</script>` or HTML comment can close it early."""
    return (json.dumps(spec, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _plotly_literal(value: Any, key: str = "") -> Any:
    """A plot spec whose strings plotly shows as written: `<`, `>` and `&` become entities,
    which plotly's text renderer turns back into the characters. Templates (`hovertemplate`,
    `texttemplate`) are the code's own and keep their tags; the values they show are data and
    are escaped where they are stored."""
    if isinstance(value, str):
        return value if key.endswith("template") else html.escape(value, quote=False)
    if isinstance(value, dict):
        return {k: _plotly_literal(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_plotly_literal(v, key) for v in value]
    return value


def _safe_figure(figure: Figure) -> Figure:
    return replace(figure, key=safe_name(figure.key), spec=_plotly_literal(figure.spec))


def to_html(report: Report) -> str:
    env = Environment(loader=PackageLoader("smo_eval.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=False)
    msg = Messages(report.lang)
    report = replace(report, sections=[
        replace(s, figures=[_safe_figure(f) for f in s.figures]) for s in report.sections])
    specs = {f.key: _json_for_script(f.spec) for f in report.figures}
    return env.get_template("report.html.j2").render(
        report=report, specs=specs, plotlyjs=_plotlyjs(), t_summary=msg.t("section.summary"),
        t_recs=msg.t("section.recommendations"))


def _prose(text: str) -> str:
    """A sentence of the report: data in it is literal; the message catalogue's backticks
    (commands such as `smo-eval compare`) stay code."""
    return markdown.text(text, prose=True)


def _md_table(table: Table) -> list[str]:
    lines = [f"**{markdown.text(table.title)}**", "",
             "| " + " | ".join(map(markdown.text, table.columns)) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(markdown.text(v) for v in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{_prose(table.note)}_"]
    return [*lines, ""]


def to_markdown(report: Report) -> str:
    msg = Messages(report.lang)
    out = [f"# {markdown.text(report.title)}", "",
           f"{report.labels['generated']}: {report.generated}", "",
           f"## {msg.t('section.summary')}", ""]
    out += [f"- {_prose(line)}" for line in report.summary]
    out += ["", f"## {msg.t('section.recommendations')}", ""]
    for i, rec in enumerate(report.recommendations, 1):
        out.append(f"{i}. {_prose(rec.text)}")
        out += [f"   - {report.labels['evidence']}: {_prose(e)}" for e in rec.evidence]
    for section in report.sections:
        status = report.labels["ran"] if section.ran else report.labels["not_run"]
        out += ["", f"## {markdown.text(section.title)} ({status})", ""]
        if section.note:
            out += [f"> {_prose(section.note)}", ""]
        out += [f"- {_prose(f.text)}" for f in section.findings]
        if section.findings:
            out.append("")
        for table in section.tables:
            out += _md_table(table)
        if section.figures:
            out += [f"_{report.labels['markdown_figures']}_", ""]
    return "\n".join(out).rstrip() + "\n"
