"""Load the Hydra configuration: compose `conf/` with overrides, or read a composed params file.

Commands use Hydra's compose API rather than `@hydra.main`, so no command changes directory,
writes `outputs/<date>` folders or log files. Inside a DVC stage the composed configuration
is `params.yaml` (written by `dvc exp run` or `smo-eval params`), so commands accept
`--params params.yaml` and then apply the overrides on top of that file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from smo_eval.errors import ConfigError

CONF_ENV = "SMO_EVAL_CONF_DIR"


def find_conf_dir(start: Path | None = None) -> Path:
    """Locate `conf/`: $SMO_EVAL_CONF_DIR, else the nearest `conf/config.yaml` upward from cwd."""
    env = os.environ.get(CONF_ENV)
    if env:
        path = Path(env)
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"{CONF_ENV}={env} has no config.yaml")
        return path.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "conf" / "config.yaml").is_file():
            return folder / "conf"
    packaged = Path(__file__).resolve().parents[2] / "conf"
    if (packaged / "config.yaml").is_file():
        return packaged
    raise ConfigError(
        f"no conf/config.yaml found from {here} upward; run inside the project or set {CONF_ENV}"
    )


def load_config(overrides: Sequence[str] = (), params_file: Path | None = None) -> DictConfig:
    """Compose the configuration and resolve interpolations, so stages see plain values."""
    try:
        if params_file is not None:
            cfg = _load_params(params_file, overrides)
        else:
            conf_dir = find_conf_dir()
            with initialize_config_dir(str(conf_dir), version_base=None):
                cfg = compose("config", overrides=list(overrides))
        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"configuration error: {exc}") from None
    return cfg


def _load_params(params_file: Path, overrides: Sequence[str]) -> DictConfig:
    """Read a composed params file (as DVC writes it) and apply dotlist overrides."""
    if not params_file.is_file():
        raise ConfigError(f"params file {params_file} not found")
    cfg = OmegaConf.load(params_file)
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"{params_file} does not hold a mapping")
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        assert isinstance(cfg, DictConfig)
    return cfg


def to_plain(cfg: DictConfig | Any) -> Any:
    """A plain-Python copy of a config node (dicts, lists, scalars) for pure stage functions."""
    if isinstance(cfg, DictConfig) or OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def dump_params(cfg: DictConfig, path: Path) -> None:
    """Write the resolved configuration as a DVC params file."""
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")
