"""How a setting is declared: its default, what it does, and the values it may take.

Every setting of smo-eval is a dataclass field declared once with `setting(...)`: the default
lives there and nowhere else, the help text feeds `smo-eval config show`, and `choices` /
`bounds` are checked when the configuration is loaded (with the setting's full dotted path).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, field
from typing import Any


def setting(default: Any = MISSING, help: str = "", *,
            factory: Callable[[], Any] | None = None, choices: Sequence[Any] | None = None,
            bounds: tuple[float | None, float | None] | None = None,
            item_bounds: tuple[float | None, float | None] | None = None) -> Any:
    """A dataclass field carrying its help text and its allowed values.

    `factory` is for mutable defaults (lists, dicts, nested sections); `choices` lists the
    allowed values; `bounds` is an inclusive (low, high) range, None for an open side;
    `item_bounds` is that range for every value of a list or map setting.
    """
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None,
                "bounds": bounds, "item_bounds": item_bounds}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type, help: str = "") -> Any:
    """A nested section whose defaults are its dataclass's own."""
    return field(default_factory=cls, metadata={"help": help, "choices": None, "bounds": None,
                                                "item_bounds": None})
