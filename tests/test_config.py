"""Configuration: one typed schema with packaged defaults; Hydra overrides on every command,
mistakes named with their path and the nearest valid key; no chdir or stray files;
params.yaml in sync with conf/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from smo_eval.config import load_config
from smo_eval.config.schema import Config
from smo_eval.errors import ConfigError
from tests.conftest import ROOT, run_cli


def test_committed_params_yaml_equals_composed_conf() -> None:
    """Plain `dvc repro` reads params.yaml; it must be what conf/ composes to."""
    composed = OmegaConf.to_container(load_config().tree, resolve=True)
    committed = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert committed == composed, "run `smo-eval params` after changing conf/"


def test_overrides_apply_and_params_file_overrides_merge(tmp_path: Path) -> None:
    cfg = load_config(["evaluate.threshold=0.6", "slicing.crosses=[]"]).config
    assert isinstance(cfg, Config)
    assert cfg.evaluate.threshold == 0.6 and cfg.slicing.crosses == []
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"evaluate": {"threshold": 0.3}, "out_dir": "o"}))
    cfg = load_config(["evaluate.threshold=0.7"], params_file=params).config
    assert cfg.evaluate.threshold == 0.7 and cfg.out_dir == "o"
    # Defaults the params file leaves out come from the schema, not from anywhere else.
    assert cfg.evaluate.ci.level == 0.95


@pytest.mark.parametrize(("override", "expected"), [
    ("evaluate.treshold=0.6", "did you mean evaluate.threshold?"),
    ("evalute.ci.levl=0.9", "did you mean evaluate.ci.level?"),
    ("gate.checks.overall_recall.kinds=floor", "did you mean gate.checks.overall_recall.kind?"),
    ("evaluate.threshold=high", "'high'"),
    ("evaluate.threshold=1.5", "evaluate.threshold=1.5: must be in [0, 1]"),
    ("+evaluate.thresholds.v2=-0.1", "evaluate.thresholds.v2=-0.1: must be in [0, 1]"),
    ("data.on_error=skip", "use one of fail, quarantine"),
    ("gate=nope", "options for gate: default, release, sample"),
])
def test_mistakes_fail_at_load_with_the_path_and_the_nearest_key(override: str,
                                                                 expected: str) -> None:
    with pytest.raises(ConfigError) as found:
        load_config([override])
    assert expected in str(found.value)


def test_misspelt_key_exits_2_on_the_command_line(project: Path) -> None:
    result = run_cli("evaluate", "evaluate.treshold=0.6")
    assert result.exit_code == 2
    assert "did you mean evaluate.threshold" in result.output
    assert "Traceback" not in result.output


def test_chinese_values_need_no_quoting() -> None:
    cfg = load_config(["data.labels.positive=[违规,涉黄]", "data.gold=金标.csv"]).config
    assert cfg.data.labels.positive == ["违规", "涉黄"] and cfg.data.gold == "金标.csv"


def test_naming_input_files_drops_the_sample_worlds_paths() -> None:
    cfg = load_config(["data.gold=qa/gold.csv", "data.predictions=preds.csv"]).config
    assert (cfg.data.items, cfg.data.annotations) == (None, None)
    assert load_config([]).config.data.items == "data/sample/items.parquet"


def test_packaged_defaults_apply_with_no_project_conf(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed package runs from any folder: no conf/ needed, no sample paths inherited."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMO_EVAL_CONF_DIR", raising=False)
    loaded = load_config([])
    assert loaded.sources == [f"packaged {loaded.sources[0].split(' ', 1)[1]}"]
    assert loaded.config.data.gold is None and loaded.config.gate.name == "default"
    (tmp_path / "smo-eval.yaml").write_text("evaluate: {threshold: 0.7}\n", encoding="utf-8")
    team = load_config(["evaluate.ci.level=0.9"]).config
    assert team.evaluate.threshold == 0.7 and team.evaluate.ci.level == 0.9
    assert load_config(["evaluate.threshold=0.2"]).config.evaluate.threshold == 0.2
    (tmp_path / "smo-eval.yaml").write_text("evaluate: {treshold: 0.7}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"evaluate\.treshold"):
        load_config([])


def test_commands_leave_no_hydra_folders_and_keep_cwd(project: Path) -> None:
    before = Path.cwd()
    result = run_cli("params", "-o", "composed.yaml", "evaluate.threshold=0.4")
    assert result.exit_code == 0, result.output
    assert Path.cwd() == before
    assert sorted(p.name for p in project.iterdir()) == ["composed.yaml", "conf"]
    assert yaml.safe_load((project / "composed.yaml").read_text())["evaluate"]["threshold"] == 0.4
    assert not any(name.endswith(".log") for name in os.listdir(project))
