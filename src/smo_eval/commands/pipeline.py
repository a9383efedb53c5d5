"""`smo-eval run` and `smo-eval demo`: the pipeline's stages in-process, under one MLflow run.

`run` executes the stages listed in `pipeline.stages` in order, the same commands DVC runs
one process each; both leave the same files. `demo` first writes the sample world.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from smo_eval import console
from smo_eval.commands import (
    compare,
    drift,
    errors,
    evaluate,
    experiment,
    gate,
    ingest,
    labels,
    report,
    sample,
)
from smo_eval.commands.context import Context
from smo_eval.errors import ConfigError, GateFailed
from smo_eval.stages.gate import GateResult
from smo_eval.tracking import pipeline_run

StageCommand = Callable[[Context], object]

STAGES: dict[str, StageCommand] = {
    "sample": sample.run,
    "ingest": ingest.run,
    "evaluate": evaluate.run,
    "experiment": experiment.run,
    "compare": compare.run,
    "errors": errors.run,
    "labels": labels.run,
    "drift": drift.run,
    # The gate's verdict is judged after every stage ran (a report after it still runs).
    "gate": functools.partial(gate.run, fail_on_verdict=False),
    "report": report.run,
}


def run(ctx: Context, stages: list[str] | None = None, fail_on_gate: bool = True) -> None:
    """Run the stages; a failing gate ends the run with exit 1 once all stages ran."""
    names = stages or [str(s) for s in ctx.cfg.pipeline.stages]
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ConfigError(f"pipeline.stages names unknown stages {unknown}; known: {list(STAGES)}")
    with pipeline_run(ctx.section("mlflow"), ctx.plain, ctx.project_root, ctx.base_tags()):
        verdicts = []
        for name in names:
            console.console.rule(f"[bold]{name}")
            outcome = STAGES[name](ctx)
            if isinstance(outcome, GateResult):
                verdicts.append(outcome)
    failed = [v for v in verdicts if not v.passed]
    if failed and fail_on_gate:
        raise GateFailed(f"gate {failed[0].name} failed: "
                         f"{', '.join(c.name for c in failed[0].failed_checks)}")


def demo(ctx: Context) -> None:
    """Sample world, then every pipeline stage, then where to look."""
    names = [str(s) for s in ctx.cfg.pipeline.stages]
    # The demo shows the gate's verdict (it fails on the planted regression) without failing.
    run(ctx, names if "sample" in names else ["sample", *names], fail_on_gate=False)
    console.console.rule("[bold]demo finished")
    console.console.print(f"Outputs under [bold]{ctx.out_dir}/[/]; MLflow runs: "
                          f"`mlflow ui --backend-store-uri {ctx.cfg.mlflow.tracking_uri}`")
    html = ctx.out_dir / "report" / "report.html"
    if html.is_file():
        console.console.print(f"Report: [bold]{html}[/]")
