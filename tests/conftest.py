"""Shared fixtures: the project root, the real datasets, isolated project folders."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_ENV = "SMO_EVAL_SHARED_DATA"
CACHE_ENV = "SMO_EVAL_CACHE_DIR"
_CACHE_DIR: list[str] = []
RUNTIME_ENV = "XDG_RUNTIME_DIR"
_RUNTIME_DIR: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """The configuration cache stays on (the suite exercises it), in a folder of this run:
    tests and the commands they start never read or write the user's ~/.cache."""
    _CACHE_DIR.append(tempfile.mkdtemp(prefix="smo-eval-cache-"))
    os.environ[CACHE_ENV] = _CACHE_DIR[-1]
    os.environ.pop("SMO_EVAL_CONFIG_CACHE", None)
    # The shared MLflow recorder that commands started by tests use is this run's own (a
    # short path: sockets' paths are limited), never one a developer's shell started; it is
    # stopped when the run ends instead of idling on.
    _RUNTIME_DIR.append(tempfile.mkdtemp(prefix="smo-rt-", dir="/tmp"))
    os.environ[RUNTIME_ENV] = _RUNTIME_DIR[-1]


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _CACHE_DIR:
        shutil.rmtree(folder, ignore_errors=True)
    for folder in _RUNTIME_DIR:
        stop_recorder_servers(Path(folder))
        shutil.rmtree(folder, ignore_errors=True)


def recorder_servers(folder: Path) -> list[Any]:
    """The shared recorder servers (psutil processes) listening in runtime folder `folder`."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "smo_eval.recorder_server" in cmdline and any(str(folder) in a for a in cmdline):
            found.append(process)
    return found


def stop_recorder_servers(folder: Path) -> None:
    import psutil

    for process in recorder_servers(folder):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets: skip when $SMO_EVAL_SHARED_DATA is unset, fail when it is set and
    the data is missing (so CI cannot pass by silently skipping)."""
    value = os.environ.get(SHARED_ENV)
    if not value:
        pytest.skip(f"{SHARED_ENV} not set")
    path = Path(value)
    missing = [p for p in ("cold/test.csv", "cold/train.csv", "mhc/cases/mandarin.csv")
               if not (path / p).is_file()]
    if missing:
        pytest.fail(f"{SHARED_ENV}={value} lacks {missing}")
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away project folder with this repo's conf/, as cwd (outputs and mlflow.db land
    there, never in the repo)."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMO_EVAL_CONF_DIR", raising=False)
    return tmp_path


def run_cli(*args: str) -> Any:
    """Invoke `smo-eval` in-process (the real Typer app), returning exit code and output."""
    from typer.testing import CliRunner

    from smo_eval.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def project_with_stages(folder: Path, stages: tuple[str, ...], *overrides: str) -> Path:
    """`folder` as a project (this repo's conf/) in which `stages` ran in-process, each with
    `overrides`; for module-scoped fixtures that share one prepared world."""
    shutil.copytree(ROOT / "conf", folder / "conf")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.delenv("SMO_EVAL_CONF_DIR", raising=False)
        for stage in stages:
            result = run_cli(stage, *overrides)
            assert result.exit_code == 0, result.output
    return folder


def browser() -> str:
    """Headless Chromium's path: skip where it is not installed, fail in CI (.ci/apt-packages
    installs it, so a missing browser there is a broken set-up, not a reason to skip)."""
    from smo_eval.report.browser import find_browser

    path = find_browser()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium missing in CI (.ci/apt-packages installs it)")
        pytest.skip("chromium not installed")
    return path
