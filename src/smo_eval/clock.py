"""The time written into outputs (JUnit timestamps, workbook properties, the report's date).

`SOURCE_DATE_EPOCH` (the reproducible-builds convention: seconds since 1970 UTC) replaces the
wall clock when set, so two runs on the same inputs give byte-identical files; without it the
current time is written, as a person reading the file expects.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from smo_eval.errors import ConfigError

ENV = "SOURCE_DATE_EPOCH"


def now() -> datetime:
    """The current UTC time, or `SOURCE_DATE_EPOCH` when it is set."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return datetime.now(UTC)
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        raise ConfigError(f"{ENV}={value!r}: expected whole seconds since 1970-01-01 UTC "
                          "(e.g. `git log -1 --format=%ct`)") from None
