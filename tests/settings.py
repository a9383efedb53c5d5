"""The configuration tests use: this project's sample-world settings, typed, with overrides."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from smo_eval.config import Config, load_config


def config(*overrides: str) -> Config:
    """The sample-world configuration (packaged defaults + the sample preset + overrides)."""
    return load_config(list(overrides), preset="sample").config


def plain(section: Any) -> Any:
    """A typed section as plain data (for the stage functions that take mappings)."""
    return asdict(section)


def planted() -> dict[str, Any]:
    """The sample world's planted effects (the single source the tests read them from)."""
    return dict(config().sample.planted)


def world_config(**changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sample world's parameters and taxonomy as `generate_world` takes them."""
    cfg = config()
    return plain(cfg.sample) | changes, plain(cfg.taxonomy)
