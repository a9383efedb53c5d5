"""MLflow in a recorder process beside the command, so its start-up runs while the stage does.

Importing MLflow and opening its SQLite store costs about 2 s of CPU: as much as a whole
evaluation of a million rows. A command started from the shell (`smo-eval evaluate`) forks a
recorder as soon as its configuration says MLflow is on; the recorder imports MLflow and opens
the store on the other core while the stage computes, then carries out the calls the command
sends it (`start_run`, `log_metrics`, `sklearn.log_model`, ...) one at a time, each answered
before the next is sent: when the command returns, its run is recorded as it would be
in-process. A failure in the recorder comes back as the call's exception (or as
`RecorderError` when it cannot be sent back), so the tracker reports it as it reports any
MLflow failure. The recorder ends when the command does (its pipe closes).

Only a fresh command process uses it (`cli.main` asks for it), and only on Linux, where
forking a process that has not started threads is safe; in a long-lived process (tests, a
notebook) MLflow is imported once and used in-process, and so it is with
`SMO_EVAL_RECORDER=0`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from multiprocessing.connection import Connection
from types import SimpleNamespace
from typing import Any

OFF_SWITCH = "SMO_EVAL_RECORDER"
_WANTED = False
_SPARE: list[Recorder] = []  # started before the configuration said where to record
_RECORDERS: dict[str, Recorder] = {}


class RecorderError(Exception):
    """The recorder could not carry out a call (or has ended); the text says why."""


def want_recorder() -> None:
    """Record through a recorder process in this process (called by the CLI's entry point);
    `SMO_EVAL_RECORDER=0` keeps MLflow in the command's own process."""
    global _WANTED
    _WANTED = sys.platform == "linux" and os.environ.get(OFF_SWITCH, "1") != "0"


def prestart() -> None:
    """Start a recorder now, before the configuration is read, so MLflow's import overlaps
    with it too; the first tracker binds it to its store, or it ends with the command."""
    if _WANTED and not _SPARE and not _RECORDERS and "mlflow" not in sys.modules:
        _SPARE.append(Recorder())


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
        elif _WANTED and "mlflow" not in sys.modules:
            _RECORDERS[uri] = Recorder()
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
    """A forked process holding MLflow; `module` stands in for the `mlflow` module."""

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._conn, theirs = context.Pipe()
        self._process = context.Process(target=_serve, args=(theirs, self._conn),
                                        name="smo-eval-mlflow-recorder", daemon=True)
        self._process.start()
        theirs.close()
        self._unanswered = 0
        self.module = Remote(self, ())

    def close(self) -> None:
        self._conn.close()
        self._process.kill()
        self._process.join()

    def bind(self, uri: str, timeout: float) -> None:
        """Point the recorder at its store; not waited for (the first call collects it)."""
        self._send((_OPEN,), (uri, timeout), {})
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
                if not self._process.is_alive():
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


def _serve(conn: Connection, commands_end: Connection) -> None:
    """The recorder: import MLflow and its SQL store at once, open the store it is pointed at,
    then answer calls until the command's end closes the pipe. Ctrl-C is the command's.

    The fork inherited the command's end of the pipe: closed here, so that the command's
    death, however abrupt (SIGKILL), ends the recorder too instead of leaving it holding the
    command's stdout."""
    commands_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    mlflow: Any = None
    failure: Exception | None = None
    try:
        import mlflow
        import mlflow.store.tracking.sqlalchemy_store
    except Exception as exc:
        failure = RecorderError(f"MLflow did not import ({type(exc).__name__}: {exc})")
    while True:
        try:
            path, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if failure is not None:
                raise failure
            if path == (_OPEN,):
                mlflow = open_mlflow(*args)
                answer: tuple[bool, Any] = (True, None)
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
