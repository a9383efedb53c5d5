"""`smo-eval config show [section]`: every setting with its current value, its default and
what it does — from the schema, so it is always complete."""

from __future__ import annotations

from dataclasses import MISSING, fields, is_dataclass
from typing import Any

import pandas as pd

from smo_eval.config.loader import LoadedConfig
from smo_eval.config.schema import Config


def rows(loaded: LoadedConfig, section: str | None = None) -> pd.DataFrame:
    """key, value, default, help for every setting (of one section when given)."""
    out: list[dict[str, Any]] = []

    def walk(cls: Any, value: Any, prefix: str) -> None:
        for f in fields(cls):
            default = (f.default_factory() if callable(f.default_factory)
                       else f.default)
            current = getattr(value, f.name)
            path = f"{prefix}{f.name}"
            if is_dataclass(default) and is_dataclass(current):
                walk(type(default), current, path + ".")
                continue
            out.append({"key": path, "value": _text(current),
                        "default": "" if default is MISSING else _text(default),
                        "help": f.metadata.get("help", "")})

    walk(Config, loaded.config, "")
    frame = pd.DataFrame(out)
    if section:
        frame = frame[(frame["key"] == section) | frame["key"].str.startswith(section + ".")]
    return frame.reset_index(drop=True)


def _text(value: Any) -> str:
    if is_dataclass(value) and not isinstance(value, type):
        from dataclasses import asdict

        value = asdict(value)
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
