"""Wall time and peak memory of a function in-process, or of a whole command in a subprocess."""

from __future__ import annotations

import resource
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


def measure_command(argv: Sequence[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak GB RSS) of a whole command, from the kernel's accounting of children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(list(argv), cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kb < before:  # ru_maxrss is the max over all children so far
        peak_kb = before
    return seconds, peak_kb / 1e6
