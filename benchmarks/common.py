"""Shared set-up for benchmarks: a project folder holding the sample world at a given size."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from omegaconf import OmegaConf

from smo_eval.io.writers import write_parquet
from smo_eval.sample import generate_world

ROOT = Path(__file__).resolve().parents[1]
SMO_EVAL = str(Path(sys.executable).parent / "smo-eval")


def sample_project(rows: int, workdir: Path) -> Path:
    """Copy conf/ into `workdir` and write the sample world of `rows` items under data/sample."""
    shutil.copytree(ROOT / "conf", workdir / "conf")
    sample = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/sample/default.yaml"))
    taxonomy = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/taxonomy/default.yaml"))
    world = generate_world(sample, taxonomy, n_items=rows)  # type: ignore[arg-type]
    for name in ("items", "gold", "predictions", "annotations"):
        write_parquet(getattr(world, name), workdir / "data/sample" / f"{name}.parquet")
    return workdir


def overrides(rows: int, workdir: Path) -> list[str]:
    return [f"sample.n_items={rows}", f"mlflow.tracking_uri=sqlite:///{workdir / 'mlflow.db'}"]
