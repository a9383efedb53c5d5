"""Render a report model: one self-contained HTML page (plotly.js inlined once, each figure a
JSON spec drawn in the browser) and a Markdown summary for pull requests and CI."""

from __future__ import annotations

import json
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

from smo_eval.report.i18n import Messages
from smo_eval.report.model import Report, Table


@cache
def _plotlyjs() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _json_for_script(spec: object) -> str:
    """JSON safe inside <script>: no `</script>` or HTML comment can close it early."""
    return (json.dumps(spec, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def to_html(report: Report) -> str:
    env = Environment(loader=PackageLoader("smo_eval.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=False)
    msg = Messages(report.lang)
    specs = {f.key: _json_for_script(f.spec) for f in report.figures}
    return env.get_template("report.html.j2").render(
        report=report, specs=specs, plotlyjs=_plotlyjs(), t_summary=msg.t("section.summary"),
        t_recs=msg.t("section.recommendations"))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    lines = [f"**{table.title}**", "", "| " + " | ".join(map(_md_escape, table.columns)) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_md_escape(v) for v in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{table.note}_"]
    return [*lines, ""]


def to_markdown(report: Report) -> str:
    msg = Messages(report.lang)
    out = [f"# {report.title}", "", f"{report.labels['generated']}: {report.generated}", "",
           f"## {msg.t('section.summary')}", ""]
    out += [f"- {line}" for line in report.summary]
    out += ["", f"## {msg.t('section.recommendations')}", ""]
    for i, rec in enumerate(report.recommendations, 1):
        out.append(f"{i}. {rec.text}")
        out += [f"   - {report.labels['evidence']}: {e}" for e in rec.evidence]
    for section in report.sections:
        status = report.labels["ran"] if section.ran else report.labels["not_run"]
        out += ["", f"## {section.title} ({status})", ""]
        if section.note:
            out += [f"> {section.note}", ""]
        out += [f"- {f.text}" for f in section.findings]
        if section.findings:
            out.append("")
        for table in section.tables:
            out += _md_table(table)
        if section.figures:
            out += [f"_{report.labels['markdown_figures']}_", ""]
    return "\n".join(out).rstrip() + "\n"
