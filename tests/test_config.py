"""Configuration: Hydra overrides on every command, no chdir or stray files, params.yaml in sync."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from smo_eval.config import load_config
from tests.conftest import ROOT, run_cli


def test_committed_params_yaml_equals_composed_conf() -> None:
    """Plain `dvc repro` reads params.yaml; it must be what conf/ composes to."""
    from omegaconf import OmegaConf

    composed = OmegaConf.to_container(load_config(), resolve=True)
    committed = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert committed == composed, "run `smo-eval params` after changing conf/"


def test_overrides_apply_and_params_file_overrides_merge(tmp_path: Path) -> None:
    cfg = load_config(["evaluate.threshold=0.6", "slicing.crosses=[]"])
    assert cfg.evaluate.threshold == 0.6 and list(cfg.slicing.crosses) == []
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"evaluate": {"threshold": 0.3}, "out_dir": "o"}))
    cfg = load_config(["evaluate.threshold=0.7"], params_file=params)
    assert cfg.evaluate.threshold == 0.7 and cfg.out_dir == "o"


def test_bad_override_exits_2_with_a_message(project: Path) -> None:
    result = run_cli("evaluate", "evaluate.no_such_key=1")
    assert result.exit_code == 2
    assert "no_such_key" in result.output and "Traceback" not in result.output


def test_commands_leave_no_hydra_folders_and_keep_cwd(project: Path) -> None:
    before = Path.cwd()
    result = run_cli("params", "-o", "composed.yaml", "evaluate.threshold=0.4")
    assert result.exit_code == 0, result.output
    assert Path.cwd() == before
    assert sorted(p.name for p in project.iterdir()) == ["composed.yaml", "conf"]
    assert yaml.safe_load((project / "composed.yaml").read_text())["evaluate"]["threshold"] == 0.4
    assert not any(name.endswith(".log") for name in os.listdir(project))
