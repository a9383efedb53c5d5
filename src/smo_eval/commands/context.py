"""What every command shares: the resolved config, the project folder and output paths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from smo_eval.config import find_conf_dir, load_config, to_plain
from smo_eval.lineage import git_commit


@dataclass(frozen=True)
class Context:
    """A command's configuration (as plain data) and where it reads and writes."""

    cfg: DictConfig
    project_root: Path

    @classmethod
    def load(cls, overrides: Sequence[str] | None, params: Path | None) -> Context:
        cfg = load_config(overrides or (), params)
        root = params.resolve().parent if params is not None else find_conf_dir().parent
        return cls(cfg, root)

    @property
    def plain(self) -> dict[str, Any]:
        value = to_plain(self.cfg)
        assert isinstance(value, dict)
        return value

    def section(self, name: str) -> dict[str, Any]:
        value = self.plain.get(name) or {}
        assert isinstance(value, dict)
        return value

    @property
    def out_dir(self) -> Path:
        return Path(str(self.cfg.out_dir))

    def stage_dir(self, stage: str) -> Path:
        path = self.out_dir / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)

    def base_tags(self) -> dict[str, Any]:
        return {"git_commit": git_commit(self.project_root)}
