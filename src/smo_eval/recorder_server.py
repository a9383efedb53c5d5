"""The shared MLflow recorder: one long-lived process that has imported MLflow, forking a
recorder for each command that connects, so that only the first command of a session pays
MLflow's start-up (about 2 s of CPU, as much as evaluating a million rows).

Like Gradle's daemon or Bazel's server: the first `smo-eval` command that records a run
starts it (`python -m smo_eval.recorder_server SOCKET`, detached, in a session of its own);
later commands connect to its Unix socket and are answered by a fork of it, which has MLflow
and its SQL store imported already. Each fork takes on the command's environment, working
folder, umask, stdout and stderr (so credentials, relative paths and MLflow's messages are
the command's own) and ends when the command's connection closes, however the command ends.
The server ends after `SMO_EVAL_RECORDER_IDLE` seconds (default 900) without a connection.

One server per interpreter, smo-eval installation, version of this protocol and MLflow
installation: the socket's name hashes them, so another virtualenv, a changed recorder or an
upgraded MLflow never talks to a stale server.
The socket lives in a folder only its user can enter (`$XDG_RUNTIME_DIR/smo-eval`, else
`<tmp>/smo-eval-<uid>`), which is what makes unpickling a connection's calls safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.util import find_spec
from multiprocessing.connection import Client, Connection
from pathlib import Path

import smo_eval

IDLE_ENV = "SMO_EVAL_RECORDER_IDLE"
IDLE_SECONDS = 900.0
START_SECONDS = 10.0  # how long a command waits for a server it started to listen


class ServerUnavailable(Exception):
    """No shared recorder could be reached or started; the command forks its own."""


def runtime_dir() -> Path:
    """A folder only this user can enter, for the socket (sockets' paths are short-limited)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / (f"smo-eval-{os.getuid()}" if "XDG_RUNTIME_DIR" not in os.environ
                           else "smo-eval")
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.stat()
    except OSError as exc:
        raise ServerUnavailable(f"no folder for the recorder's socket ({exc})") from None
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ServerUnavailable(f"{folder} is not private to this user")
    return folder


def socket_path() -> Path:
    """The socket of the server for this interpreter, installation and protocol."""
    here = Path(__file__)
    identity = [sys.executable, str(Path(smo_eval.__file__).parent), smo_eval.__version__]
    mlflow = find_spec("mlflow")  # an upgraded MLflow is not served by the old one
    sources = [here, here.with_name("recorder.py")]
    if mlflow is not None and mlflow.origin:
        sources.append(Path(mlflow.origin))
    for source in sources:
        info = source.stat()
        identity.append(f"{source}:{info.st_mtime_ns}:{info.st_size}")
    key = hashlib.sha256("\0".join(identity).encode()).hexdigest()[:16]
    return runtime_dir() / f"recorder-{key}.sock"


def connect() -> Connection:
    """A connection to the shared recorder, starting it first if none listens."""
    path = socket_path()
    with contextlib.suppress(OSError):
        return Client(str(path), family="AF_UNIX")
    with _locked(path.with_suffix(".lock")):
        with contextlib.suppress(OSError):  # another command started it meanwhile
            return Client(str(path), family="AF_UNIX")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by a server that was killed
        _start(path)
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                return Client(str(path), family="AF_UNIX")
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise ServerUnavailable(f"the shared recorder did not start ({exc})") \
                        from None
                time.sleep(0.01)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start(path: Path) -> None:
    """Start a server on `path`; it detaches itself (the command does not wait for it)."""
    log = path.with_suffix(".log")
    with open(log, "w") as errors:
        starter = subprocess.Popen(
            [sys.executable, "-m", "smo_eval.recorder_server", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
            start_new_session=True, close_fds=True)
    if starter.wait(timeout=START_SECONDS) != 0:
        raise ServerUnavailable(f"the shared recorder did not start (see {log})")


def serve(path: Path, idle: float) -> None:
    """Listen on `path` (before importing MLflow: commands connect and wait in the backlog),
    import MLflow, then fork a recorder per connection until `idle` seconds pass without
    one. On the way out the socket is unlinked first and connections already waiting are
    still served, so a command never connects to a server that then leaves it unanswered."""
    from smo_eval.recorder import preload

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        ours = os.stat(path).st_ino
    except OSError:  # another server took the name first
        return
    listener.listen(64)
    failure = preload(first_use=True)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forks are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener.settimeout(idle)
    try:
        while True:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                break
            _fork(listener, client, failure)
    finally:
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == ours:  # not a successor's
                path.unlink()
        listener.setblocking(False)
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                break
            client.setblocking(True)
            _fork(listener, client, failure)
        listener.close()


def _fork(listener: socket.socket, client: socket.socket, failure: Exception | None) -> None:
    from smo_eval.recorder import serve_connection

    if os.fork() == 0:
        code = 0
        try:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            serve_connection(Connection(client.detach()), failure)
        except BaseException:
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)
    client.close()


def main(argv: list[str]) -> None:
    """`python -m smo_eval.recorder_server SOCKET`: detach (the starting command waits only
    for this first process), then serve."""
    if os.fork():
        os._exit(0)
    os.chdir("/")  # hold no folder of the command's (it may be removed or unmounted)
    idle = float(os.environ.get(IDLE_ENV, IDLE_SECONDS))
    serve(Path(argv[0]), idle)


if __name__ == "__main__":
    main(sys.argv[1:])
