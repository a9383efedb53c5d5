"""Data as Markdown text: shown as itself, never read as formatting, links, HTML or table syntax.

The gate's `summary.md` lands in pull requests and CI step summaries, the report's `report.md`
beside it; model names, slice values and reasons in them come from the data. CommonMark lets
any ASCII punctuation be backslash-escaped, so the characters that start emphasis, links,
images, code, HTML, entities, strike-through or a table cell are escaped, and line breaks
become spaces (one line stays one line, one cell stays one cell).
"""

from __future__ import annotations

import re

# Always active: \ ` * [ ] < > | ~ ! #; `&` only where it starts an entity (`&lt;`, `&#60;`);
# `_` only where it can open or close emphasis (not inside a word: `short_video` stays as is).
_ACTIVE = re.compile(r"[\\`*\[\]<>|~!#]|&(?=#?\w+;)|(?<![^\W_])_+|_+(?![^\W_])")
_ACTIVE_PROSE = re.compile(r"[\\*\[\]<>|~!#]|&(?=#?\w+;)|(?<![^\W_])_+|_+(?![^\W_])")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
# At the start of a line (a list item's text too), these open a block: a list, a quote, a
# heading or a thematic break (`#` and `>` are escaped everywhere).
_BULLET = re.compile(r"^(\s*)([-+])")
_ORDERED = re.compile(r"^(\s*\d+)([.)])")


def text(value: object, *, prose: bool = False) -> str:
    """`value` as literal Markdown text. `prose=True` leaves backticks alone, for sentences
    whose template marks commands as code (`smo-eval compare`)."""
    flat = _LINE_BREAKS.sub(" ", str(value)).strip()  # leading spaces would open a code block
    escaped = (_ACTIVE_PROSE if prose else _ACTIVE).sub(
        lambda m: "".join("\\" + c for c in m.group(0)), flat)
    escaped = _BULLET.sub(r"\1\\\2", escaped)
    return _ORDERED.sub(r"\1\\\2", escaped)


def code(value: object) -> str:
    """`value` as an inline code span, fenced by more backticks than it holds in a row."""
    flat = _LINE_BREAKS.sub(" ", str(value))
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
