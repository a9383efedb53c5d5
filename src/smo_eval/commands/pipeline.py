"""`smo-eval run` and `smo-eval demo`: the pipeline's stages in-process, under one MLflow run.

`run` executes the stages listed in `pipeline.stages` in order, the same commands DVC runs
one process each; both leave the same files. `demo` first writes the sample world.
"""

from __future__ import annotations

from collections.abc import Callable

from smo_eval import console
from smo_eval.commands import (
    compare,
    drift,
    errors,
    evaluate,
    experiment,
    ingest,
    report,
    sample,
)
from smo_eval.commands.context import Context
from smo_eval.errors import ConfigError
from smo_eval.tracking import pipeline_run

StageCommand = Callable[[Context], object]

STAGES: dict[str, StageCommand] = {
    "sample": sample.run,
    "ingest": ingest.run,
    "evaluate": evaluate.run,
    "experiment": experiment.run,
    "compare": compare.run,
    "errors": errors.run,
    "drift": drift.run,
    "report": report.run,
}


def run(ctx: Context, stages: list[str] | None = None) -> None:
    names = stages or [str(s) for s in ctx.cfg.pipeline.stages]
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ConfigError(f"pipeline.stages names unknown stages {unknown}; known: {list(STAGES)}")
    with pipeline_run(ctx.section("mlflow"), ctx.plain, ctx.project_root, ctx.base_tags()):
        for name in names:
            console.console.rule(f"[bold]{name}")
            STAGES[name](ctx)


def demo(ctx: Context) -> None:
    """Sample world, then every pipeline stage, then where to look."""
    names = [str(s) for s in ctx.cfg.pipeline.stages]
    run(ctx, names if "sample" in names else ["sample", *names])
    console.console.rule("[bold]demo finished")
    console.console.print(f"Outputs under [bold]{ctx.out_dir}/[/]; MLflow runs: "
                          f"`mlflow ui --backend-store-uri {ctx.cfg.mlflow.tracking_uri}`")
    html = ctx.out_dir / "report" / "report.html"
    if html.is_file():
        console.console.print(f"Report: [bold]{html}[/]")
