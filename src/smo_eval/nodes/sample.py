"""`smo-eval sample`: the deterministic sample world, the default pipeline's inputs."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from smo_eval import console
from smo_eval.pipeline.context import StageContext
from smo_eval.pipeline.result import StageResult

TABLES = ("items", "gold", "predictions", "annotations")


def run(ctx: StageContext) -> StageResult:
    from smo_eval.sample import generate_world
    from smo_eval.sample.policies import generate_policy_world

    with ctx.progress("generating sample world", total=1):
        world = (generate_policy_world(asdict(ctx.config.sample)) if ctx.config.sample.policies
                 else generate_world(asdict(ctx.config.sample), asdict(ctx.config.taxonomy)))
    outputs = {f"sample.{t}": getattr(world, t) for t in TABLES}
    return StageResult(outputs, metrics={f"{t}/rows": len(getattr(world, t)) for t in TABLES},
                       run_label=f"{ctx.config.sample.n_items} items", value=world)


def show(result: StageResult) -> None:
    counts = pd.DataFrame([{"table": key.split(".", 1)[1], "rows": len(frame)}
                           for key, frame in result.outputs.items()])
    console.console.print(console.table("Sample world", counts, {"rows": "count"}))
