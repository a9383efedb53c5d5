"""`smo-eval` in-process with the exit code checked (the fixture module's `run_cli`)."""

from __future__ import annotations

from tests.conftest import run_cli


def invoke(*args: str, code: int = 0) -> str:
    """Run `smo-eval ARGS`; fail the test with the output unless it exits with `code`."""
    result = run_cli(*args)
    assert result.exit_code == code, (result.exit_code, result.output)
    return str(result.output)
