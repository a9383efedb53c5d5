"""Wall time and peak memory of a function in-process, or of a whole command in a subprocess."""

from __future__ import annotations

import contextlib
import resource
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil


def measure_call(func: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, peak GB of this process's RSS while `func` ran), sampled every 10 ms."""
    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.01)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    start = time.perf_counter()
    try:
        result = func()
    finally:
        seconds = time.perf_counter() - start
        done.set()
        watcher.join()
    return result, seconds, peak[0] / 1e9


def measure_command(argv: Sequence[str], cwd: Path,
                    helpers: Callable[[], list[psutil.Process]] = list,
                    env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(wall seconds, peak GB RSS, CPU seconds) of one command.

    The peak is polled on the process and its children together, plus the `helpers` that
    work for it elsewhere (the fork of the shared MLflow recorder answering it,
    smo_eval.recorder_server): the kernel's RUSAGE_CHILDREN maximum would also count earlier
    commands of the same benchmark. CPU seconds (user + system, of the command and its
    children) are reported because load from other processes inflates wall time on a shared
    machine, not CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = psutil.Popen(list(argv), cwd=cwd, stdout=subprocess.DEVNULL, env=env)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, _rss(proc) + sum(_rss(h) for h in helpers()))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if proc.wait() != 0:
        raise subprocess.CalledProcessError(proc.returncode, list(argv))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, peak / 1e9, cpu


def measure_repeated(argv: Sequence[str], cwd: Path, repeat: int,
                     helpers: Callable[[], list[psutil.Process]] = list,
                     env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """`measure_command` `repeat` times: the median wall and CPU seconds (a noisy neighbour
    moves one run, not the median) and the largest peak."""
    runs = [measure_command(argv, cwd, helpers, env) for _ in range(max(1, repeat))]
    return (statistics.median(r[0] for r in runs), max(r[1] for r in runs),
            statistics.median(r[2] for r in runs))


def _rss(proc: psutil.Process) -> int:
    """Resident memory of a process and its children (pages a fork still shares with its
    parent count twice: the figure errs high, never low). Not PSS: reading it walks every
    page of the process, 0.1 s at 4 GB, which would slow the command being measured."""
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # it ended meanwhile
            total += child.memory_info().rss
    return total
