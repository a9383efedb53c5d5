"""Running the real `smo-eval` command in-process from tests (Typer's runner, exit codes kept)."""

from __future__ import annotations

from typer.testing import CliRunner

from smo_eval.cli import app

RUNNER = CliRunner()


def invoke(*args: str, code: int = 0) -> str:
    """Run `smo-eval ARGS`; fail the test with the output unless it exits with `code`."""
    result = RUNNER.invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result.output
