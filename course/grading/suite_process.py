"""
The process of one hidden suite: pytest on ``autograder/`` in a session of its
own (so that ending it ends its sandboxes too), its output in the suite's log,
and dying with the grader however the grader ends.

A suite is forked from a server process that imported torch, scikit-learn and
pytest once (multiprocessing's forkserver), rather than started as a new
interpreter: a suite's start then costs a fork, not those imports again
(measured side by side on a loaded machine: 8.9 -> 5.4 CPU-seconds for a
submission whose every check fails). The server runs only the grader's own
code and never sees a submission; the submission's code runs, as before, in
the sandboxed worker that the suite starts. A daemonic process (a Dask worker) may not have children of
multiprocessing's, and a process that grades one submission gains nothing
from the server (Gradescope, where the server and its fork need more memory
than one interpreter): there a suite starts as a new interpreter.
"""
import ctypes
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from multiprocessing import forkserver

from course import REPO_ROOT

# What every suite imports before its first test (see autograder/conftest.py), imported once by the server.
# torchvision and captum (the Part 6 tests' references) take 1-2 CPU-seconds to import: once, not in every suite.
PRELOAD = ["torch", "numpy", "sklearn.metrics", "pytest", "torchvision", "captum.attr", "course.grading.sandbox", "course.records.review",
           "course.grading.isolation"]  # fmt: skip
PR_SET_PDEATHSIG = 1


def pytest_command(args):
    """``python -m pytest ARGS`` with this interpreter: a suite started as a new interpreter."""
    return [sys.executable, "-m", "pytest", *args]


def die_with_parent():
    """PR_SET_PDEATHSIG: the process is killed when its parent (the grader's thread, or the server) ends."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _forkserver():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


_CONTEXT = _forkserver()
_SERVER_STARTED = threading.Event()


def start_server():
    """
    Starts the fork server in the repository's folder, once: it runs as
    ``python -c``, which puts its working folder first on the path, and in the
    caller's folder a folder named like one of the repository's packages (a
    course folder called ``course/``) would be imported instead of it, and
    every suite would fail to start. Called before the grader starts threads
    (``grade``), since the working folder is the whole process's.
    """
    if _SERVER_STARTED.is_set():
        return
    previous = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        forkserver.ensure_running()
    finally:
        os.chdir(previous)
    _SERVER_STARTED.set()

# A Dask worker process has MALLOC_TRIM_THRESHOLD_ set by its nanny, which turns off glibc's adaptive threshold for
# serving large blocks from the system: every tensor of more than 128 KB is then mapped and unmapped again. The
# suites, their server and the reference trainings they run are the grader's children: they get glibc's defaults.
os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)


def _run_pytest(args, log_path, env):
    """In the forked suite: as ``python -m pytest ARGS`` in the repository, with its output in ``log_path``."""
    os.setsid()
    # Every child of the server holds the end of a pipe that keeps the server running while the grader or any child
    # lives. Closed here, the server ends with the grader, and the suite with the server (and its sandbox with it).
    os.close(forkserver._forkserver._forkserver_alive_fd)
    die_with_parent()
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.chdir(REPO_ROOT)
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(REPO_ROOT))
    import pytest

    code = pytest.main(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


class SuiteProcess:
    """A running hidden suite: ``wait(timeout)`` says whether it ended, ``end()`` kills it and all it started."""

    def __init__(self, args, log_path, env, fork=True):
        self._process = self._popen = None
        if not fork or multiprocessing.current_process().daemon:
            with open(log_path, "ab") as log:
                self._popen = subprocess.Popen(pytest_command(args), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                               preexec_fn=die_with_parent)  # fmt: skip
            self.pid = self._popen.pid
        else:
            start_server()
            self._process = _CONTEXT.Process(target=_run_pytest, args=(args, str(log_path), env), daemon=False)
            self._process.start()
            self.pid = self._process.pid

    def wait(self, timeout=None) -> bool:
        if self._popen:
            try:
                self._popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        self._process.join(timeout)
        return self._process.exitcode is not None

    def end(self):
        """Kills the suite's session (its sandboxes die with it) and reaps the suite."""
        for kill in (os.killpg, os.kill):  # os.kill: a suite ended before it had its own session
            try:
                kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.wait()
