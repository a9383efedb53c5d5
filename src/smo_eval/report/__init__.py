"""The risk assessment report: a structured model (sections, findings, tables, figures,
recommendations) built by `stages.report`, and its renderers (HTML page, Markdown)."""
