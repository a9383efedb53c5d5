"""MLflow in a recorder process beside the command, so its start-up runs while the stage does.

Importing MLflow and opening its SQLite store costs about 2 s of CPU: as much as a whole
evaluation of a million rows. A command started from the shell (`smo-eval evaluate`) hands
its MLflow calls (`start_run`, `log_metrics`, `sklearn.log_model`, ...) to a recorder, which
carries them out one at a time, each answered before the next is sent: when the command
returns, its run is recorded as it would be in-process. A failure in the recorder comes back
as the call's exception (or as `RecorderError` when it cannot be sent back), so the tracker
reports it as it reports any MLflow failure.

Where the recorder comes from (`SMO_EVAL_RECORDER`):

- by default, a fork of the shared recorder (`smo_eval.recorder_server`), a long-lived
  process that has MLflow imported already: only the first command of a session waits for
  MLflow's import; the fork takes on the command's environment, folder, umask, stdout and
  stderr, and ends when the command does;
- `fork`: a recorder forked from the command as it starts, which imports MLflow on the other
  core while the command reads its configuration and computes (no process outlives the
  command); also the fallback when the shared recorder cannot be reached;
- `0`: MLflow in the command's own process.

Only a fresh command process uses a recorder (`cli.main` asks for it), and only on Linux,
where forking a process that has not started threads is safe; in a long-lived process
(tests, a notebook) MLflow is imported once and used in-process.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import socket
import sys
from multiprocessing.connection import Connection
from types import SimpleNamespace
from typing import Any

MODE_ENV = "SMO_EVAL_RECORDER"
_MODE = "off"  # off | fork | shared
_SPARE: list[Recorder] = []  # started before the configuration said where to record
_RECORDERS: dict[str, Recorder] = {}


class RecorderError(Exception):
    """The recorder could not carry out a call (or has ended); the text says why."""


def want_recorder() -> None:
    """Record through a recorder process in this process (called by the CLI's entry point),
    as `SMO_EVAL_RECORDER` says: the shared recorder (default), `fork` or `0` (in-process)."""
    global _MODE
    setting = os.environ.get(MODE_ENV, "shared").strip().lower()
    if sys.platform != "linux" or setting in ("0", "off", "false", "no"):
        _MODE = "off"
    else:
        _MODE = "fork" if setting == "fork" else "shared"


def prestart() -> None:
    """Start a recorder now, before the configuration is read, so MLflow's import overlaps
    with it too; the first tracker binds it to its store, or it ends with the command."""
    if _MODE != "off" and not _SPARE and not _RECORDERS and "mlflow" not in sys.modules:
        _SPARE.append(_new_recorder())


def _new_recorder() -> Recorder:
    """A fork of the shared recorder, or, when that cannot be had, a fork of this process."""
    if _MODE == "shared":
        from smo_eval.recorder_server import ServerUnavailable, connect

        try:
            return Recorder.shared(connect())
        except (ServerUnavailable, OSError):
            pass
    return Recorder.forked()


def drop_spare() -> None:
    """End the spare recorder: the configuration turned MLflow off."""
    while _SPARE:
        _SPARE.pop().close()


def recorder_for(uri: str, timeout: float) -> Recorder | None:
    """The process's recorder for `uri` (the spare one, else a new one); None when MLflow is
    used in-process (not asked for, not Linux, or MLflow already imported here)."""
    if uri not in _RECORDERS:
        if _SPARE:
            _RECORDERS[uri] = _SPARE.pop()
        elif _MODE != "off" and "mlflow" not in sys.modules:
            _RECORDERS[uri] = _new_recorder()
        else:
            return None
        _RECORDERS[uri].bind(uri, timeout)
    return _RECORDERS[uri]


def open_mlflow(uri: str, timeout: float) -> Any:
    """MLflow, pointed at `uri`, with short requests and no retries and without the store's
    chatter ("Creating initial MLflow database tables..."): warnings and errors still show."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(max(1, timeout)))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    import mlflow

    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


class Recorder:
    """A process holding MLflow at the other end of `conn`; `module` stands in for the
    `mlflow` module. `process` is the recorder when this command forked it itself."""

    def __init__(self, conn: Connection, process: Any = None) -> None:
        self._conn = conn
        self._process = process
        self._unanswered = 0
        self.module = Remote(self, ())

    @classmethod
    def forked(cls) -> Recorder:
        """A recorder forked from this process: it imports MLflow itself."""
        import multiprocessing

        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs, ours),
                                  name="smo-eval-mlflow-recorder", daemon=True)
        process.start()
        theirs.close()
        return cls(ours, process)

    @classmethod
    def shared(cls, conn: Connection) -> Recorder:
        """The shared recorder's fork at the other end of `conn`: it is handed this
        command's stdout and stderr, then its environment, folder and umask."""
        from multiprocessing.reduction import sendfds

        with socket.socket(fileno=os.dup(conn.fileno())) as channel:
            sendfds(channel, [1, 2])
        umask = os.umask(0o022)
        os.umask(umask)
        recorder = cls(conn)
        recorder._send((_CONTEXT,), (dict(os.environ), os.getcwd(), umask, list(sys.argv)), {})
        recorder._unanswered += 1
        return recorder

    def close(self) -> None:
        self._conn.close()
        if self._process is not None:
            self._process.kill()
            self._process.join()

    def bind(self, uri: str, timeout: float) -> None:
        """Point the recorder at its store; not waited for (the first call collects it)."""
        self._send((_OPEN,), (uri, timeout), {})
        self._unanswered += 1

    def prepare(self, experiment: str, location: str | None) -> None:
        """Make `experiment` the active one (`use_experiment`) while the stage computes; a
        failure comes back with the next call."""
        self._send((_EXPERIMENT,), (experiment, location), {})
        self._unanswered += 1

    def call(self, path: tuple[str, ...], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
        """Send one call and wait for its answer (as long as the recorder lives: MLflow's own
        request timeouts bound the wait, as in-process)."""
        while self._unanswered:
            self._unanswered -= 1
            self._answer()
        self._send(path, args, kwargs)
        return self._answer()

    def _send(self, path: tuple[str, ...], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> None:
        try:
            self._conn.send((path, args, kwargs))
        except (OSError, ValueError) as exc:
            raise RecorderError(f"the MLflow recorder is unreachable ({exc})") from None

    def _answer(self) -> Any:
        try:
            while not self._conn.poll(0.5):
                if self._process is not None and not self._process.is_alive():
                    raise RecorderError("the MLflow recorder process ended")
            ok, value = self._conn.recv()
        except RecorderError:
            raise
        except Exception as exc:  # a closed pipe, an answer that does not unpickle
            raise RecorderError(f"the MLflow recorder is unreachable ({exc})") from None
        if ok:
            return value
        raise value


class Remote:
    """`remote.log_metrics(...)`, `remote.sklearn.log_model(...)`: calls carried out by the
    recorder on the `mlflow` module."""

    def __init__(self, recorder: Recorder, path: tuple[str, ...]) -> None:
        self._recorder = recorder
        self._path = path

    def __getattr__(self, name: str) -> Remote:
        return Remote(self._recorder, (*self._path, name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._recorder.call(self._path, args, kwargs)


_OPEN = "__open__"
_CONTEXT = "__context__"
_EXPERIMENT = "__experiment__"


def use_experiment(mlflow: Any, name: str, location: str | None) -> None:
    """Make `name` the active experiment, creating it with its artifacts at `location` (a
    local store keeps them in the project folder) when it does not exist yet."""
    if location is not None and mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)


def _from_mlflow(value: Any) -> bool:
    return type(value).__module__.partition(".")[0] == "mlflow"


def _detached(value: Any, depth: int = 3) -> Any:
    """An MLflow object (a run, an experiment, a model's info) as plain attributes: unpickling
    it in the command would import MLflow there, the cost the recorder exists to avoid."""
    if not _from_mlflow(value):
        return value
    if depth == 0:
        return repr(value)
    fields = {}
    for name in dir(value):
        if name.startswith("_"):
            continue
        try:
            attribute = getattr(value, name)
        except Exception:
            continue
        if not callable(attribute):
            fields[name] = _detached(attribute, depth - 1)
    return SimpleNamespace(**fields)


def _detached_error(exc: Exception) -> Exception:
    """Python's own exceptions travel as they are (a TypeError is still a bug to raise);
    the store's and its libraries' (MLflow, SQLAlchemy, requests) as a RecorderError naming
    them: they may not unpickle, and would import their library in the command."""
    if type(exc).__module__ == "builtins":
        return exc
    return RecorderError(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")


# What a run's calls import on first use (the store's schema check, SQLite's dialect, the
# git context of a run's tags): a long-lived recorder imports them once, not per command.
_FIRST_USE = ("alembic.command", "alembic.config", "sqlalchemy.dialects.sqlite", "git",
              "mlflow.tracking.context.registry", "mlflow.store.artifact.local_artifact_repo")


def preload(first_use: bool = False) -> Exception | None:
    """Import MLflow and its SQL store (what the recorder is there to take off the command),
    and with `first_use` what a run imports later; the failure to report to every call when
    MLflow does not import."""
    try:
        import mlflow
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    except Exception as exc:
        return RecorderError(f"MLflow did not import ({type(exc).__name__}: {exc})")
    for name in _FIRST_USE if first_use else ():
        with contextlib.suppress(Exception):  # optional (GitPython) or moved in another MLflow
            importlib.import_module(name)
    return None


def _serve(conn: Connection, commands_end: Connection) -> None:
    """The recorder forked by the command: import MLflow, then answer its calls until the
    command's end closes the pipe. Ctrl-C is the command's.

    The fork inherited the command's end of the pipe: closed here, so that the command's
    death, however abrupt (SIGKILL), ends the recorder too instead of leaving it holding the
    command's stdout."""
    commands_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _answer_calls(conn, preload())


def serve_connection(conn: Connection, failure: Exception | None) -> None:
    """A fork of the shared recorder serving one command: take the command's stdout and
    stderr (MLflow's messages are the command's), then answer its calls; the first sets its
    environment, folder and umask."""
    from multiprocessing.reduction import recvfds

    with socket.socket(fileno=os.dup(conn.fileno())) as channel:
        for target, fd in zip((1, 2), recvfds(channel, 2), strict=True):
            os.dup2(fd, target)
            os.close(fd)
    _answer_calls(conn, failure)


def _set_context(environ: dict[str, str], folder: str, umask: int, argv: list[str]) -> None:
    """The command's environment, folder, umask and argv (MLflow's source tags name it)."""
    sys.argv[:] = argv
    os.environ.clear()
    os.environ.update(environ)
    with contextlib.suppress(OSError):  # a folder removed since: absolute paths still work
        os.chdir(folder)
    os.umask(umask)


def _answer_calls(conn: Connection, failure: Exception | None) -> None:
    """Carry out the calls that come down `conn` on the `mlflow` module until it closes."""
    mlflow: Any = None
    while True:
        try:
            path, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if path == (_CONTEXT,):
                _set_context(*args)
                answer: tuple[bool, Any] = (True, None)
            elif failure is not None:
                raise failure
            elif path == (_OPEN,):
                mlflow = open_mlflow(*args)
                answer = (True, None)
            elif path == (_EXPERIMENT,):
                use_experiment(mlflow, *args)
                answer = (True, None)
            else:
                target: Any = mlflow
                for part in path:
                    target = getattr(target, part)
                answer = (True, _detached(target(*args, **kwargs)))
        except Exception as exc:
            answer = (False, _detached_error(exc))
        try:
            conn.send(answer)
        except Exception as exc:  # an answer or exception that does not pickle
            conn.send((False, RecorderError(f"{'.'.join(path)}: {type(exc).__name__}: "
                                            f"{exc}; answer was {answer[1]!r:.200}")))
