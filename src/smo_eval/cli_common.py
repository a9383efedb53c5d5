"""What every CLI module shares: the argument types and the guard that turns failures into a
message and an exit code (never a traceback)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

Overrides = Annotated[
    list[str] | None, typer.Argument(help="Hydra overrides, e.g. evaluate.threshold=0.6")]
Params = Annotated[
    Path | None, typer.Option("--params", help="Composed params file (DVC stages).")]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="A team's config file (default: smo-eval.yaml "
                              "in the working folder).")]


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user-caused failures into a message and exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from smo_eval import console
        from smo_eval.errors import SmoEvalError

        try:
            return func(*args, **kwargs)
        except SmoEvalError as exc:
            console.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.error("interrupted")
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except Exception as exc:
            if os.environ.get("SMO_EVAL_DEBUG"):
                raise
            console.error(f"unexpected {type(exc).__name__}: {exc} "
                          "(set SMO_EVAL_DEBUG=1 for the traceback)")
            raise typer.Exit(2) from None

    return wrapper


