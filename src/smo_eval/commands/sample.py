"""`smo-eval sample`: write the deterministic sample world as the default pipeline's inputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from smo_eval import console
from smo_eval.commands.context import Context
from smo_eval.io.writers import write_parquet
from smo_eval.sample import generate_world
from smo_eval.tracking import stage_run

TABLES = ("items", "gold", "predictions", "annotations")


def run(ctx: Context) -> dict[str, Path]:
    cfg = ctx.section("sample")
    with console.progress("generating sample world", total=len(TABLES)) as step:
        world = generate_world(cfg, ctx.section("taxonomy"))
        folder = Path(str(cfg["out_dir"]))
        written = {}
        for name in TABLES:
            written[name] = write_parquet(getattr(world, name), folder / f"{name}.parquet")
            step(name)
    counts = pd.DataFrame([{"table": name, "rows": len(getattr(world, name)),
                            "file": str(path)} for name, path in written.items()])
    console.console.print(console.table("Sample world", counts, {"rows": "count"}))
    with stage_run(ctx.section("mlflow"), "sample", ctx.plain, ctx.project_root,
                   ctx.base_tags()) as mlrun:
        if mlrun is not None:
            mlrun.log_metrics({f"{name}/rows": len(getattr(world, name)) for name in TABLES})
    return written
