"""Hydra multirun for a compose-API CLI: expand sweep overrides into one override list per run.

`smo-eval` composes config with Hydra's compose API (no `@hydra.main`), so Hydra's launcher
never sees `-m`. This module parses the overrides with Hydra's own grammar and forms their
cartesian product the way Hydra's BasicSweeper does, so `key=a,b,c`, `key=range(1,4)`,
`key=choice(a,b)` and quoting mean here exactly what they mean to Hydra.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from smo_eval.errors import ConfigError


def expand_sweep(overrides: Sequence[str]) -> list[list[str]]:
    """One override list per run: the cartesian product of every sweep override's values."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise ConfigError(f"cannot parse overrides: {exc}") from None
    lists: list[list[str]] = []
    for override in parsed:
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                raise ConfigError(f"{override.input_line}: interval sweeps need a sweeper "
                                  "plugin; list the values (a,b,c) or use range()")
            lists.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            lists.append([f"{key}={override.get_value_element_as_str()}"])
    return [list(combo) for combo in itertools.product(*lists)]


def has_sweep(overrides: Sequence[str]) -> bool:
    """Whether any override is a sweep (then the command needs `-m`)."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:
        return False
    return any(o.is_sweep_override() for o in parsed)
