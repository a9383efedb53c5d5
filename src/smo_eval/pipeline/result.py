"""What every stage returns: its outputs by catalog key, headline metrics and notices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StageResult:
    """One stage's result in the shape the runner writes, logs and shows generically.

    `outputs` maps catalog keys (`evaluate.slice_metrics`) to values (frames, dicts, text);
    `metrics` are the few headline numbers MLflow records (never one per slice); `tags` are
    MLflow tags (`candidate`, `gold_version`); `value` is the stage's own result object for
    display and callers (an `Evaluation`, a `GateResult`); `status` is `done` or `skipped`.
    """

    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    value: Any = None
    status: str = "done"
    run_label: str = ""
    # Work that needs the written files (e.g. PNG screenshots of the HTML report); returns
    # the files it wrote.
    after_write: Callable[[Path], list[Path]] | None = None


def pipeline_summary(results: dict[str, StageResult]) -> tuple[dict[str, float], dict[str, Any]]:
    """The parent run carries the verdict and each stage's headline metrics (prefixed)."""
    metrics: dict[str, float] = {}
    tags: dict[str, Any] = {}
    for name, result in results.items():
        if name in ("evaluate", "gate", "compare"):
            metrics |= {f"{name}/{k}": v for k, v in result.metrics.items()}
        tags |= {k: v for k, v in result.tags.items()
                 if k in ("gate.verdict", "gate.name", "gate.candidate", "gate.baseline")}
    return dict(list(metrics.items())[:95]), tags
