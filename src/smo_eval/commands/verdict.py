"""`smo-eval verdict`: a recorded gate verdict as the exit code (after `dvc repro`)."""

from __future__ import annotations

import json
from pathlib import Path

from smo_eval import console
from smo_eval.errors import GateFailed, SmoEvalError


def exit_with_verdict(path: Path) -> None:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SmoEvalError(f"{path}: no readable gate verdict ({exc})") from None
    verdict = payload.get("verdict") if isinstance(payload, dict) else None
    if verdict == "pass":
        console.console.print(f"gate {payload.get('gate')} PASS", markup=False)
        return
    if verdict == "fail":
        raise GateFailed(f"gate {payload.get('gate')} failed: "
                         f"{', '.join(payload.get('failed_checks') or [])}")
    raise SmoEvalError(f"{path}: gate could not run: {payload.get('error', verdict)}")
