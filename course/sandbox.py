"""
The trusted side of grading: runs probes in a worker process and gets plain data back.

A ``Worker`` starts ``course/worker.py`` in a separate process that can see
the submission and nothing of the instructor's, with a time limit per probe,
memory, file-size and process limits, no network (a fresh network namespace
where the kernel allows one) and, when grading as root, the unprivileged user
``nobody`` for everything the submission runs (the worker drops privileges
itself after loading torch, because the interpreter may live where ``nobody``
cannot reach, such as a pyenv under /root). A probe that raises, hangs, exhausts memory or kills its process
fails with a one-line reason (``ProbeError``); the worker is restarted for the
next probe. Results are loaded with ``torch.load(weights_only=True)``, which
accepts tensors and plain containers only.
"""
import ctypes
import io
import os
import pwd
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker.py"
IGNORED = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", ".git")
CLONE_NEWNET = 0x40000000
UNPRIVILEGED_USER = "nobody"


class ProbeError(Exception):
    """A probe could not produce a result; the message is meant for the student."""


def _limit_child(memory_bytes: int, file_bytes: int):
    """Runs in the child between fork and exec: resource limits and no network."""

    def preexec():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # An empty network namespace has only a loopback device, and it is down.
        ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET)

    return preexec


class Worker:
    """
    One worker process for one submission, restarted on demand.

    Inputs:
    - submission: folder that contains the submission's ``hw`` package.
    - probes: path of the trusted probes file loaded by the worker.
    - modules: student modules imported at start-up, e.g. ("hw.layers",).
    - timeout: seconds each probe may take.
    - startup_timeout: seconds the start-up (torch and student imports) may take.
    - memory_bytes: address-space limit of the worker.
    - log_path: file that collects whatever the worker prints.
    """

    def __init__(
        self,
        submission,
        probes,
        modules=(),
        timeout: float = 30.0,
        startup_timeout: float = 60.0,
        memory_bytes: int = 6 << 30,
        file_bytes: int = 64 << 20,
        threads: int = 1,
        log_path=None,
    ):
        self.probes = Path(probes).resolve()
        self.modules = tuple(modules)
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self.memory_bytes = memory_bytes
        self.file_bytes = file_bytes
        self.threads = threads
        self.scratch = Path(tempfile.mkdtemp(prefix="hw-worker-"))
        # The worker reads its own copy: the original may sit where an
        # unprivileged user cannot read it, and stays safe from tampering.
        self.submission = self.scratch / "submission"
        shutil.copytree(Path(submission), self.submission, symlinks=False, ignore=IGNORED)
        for path in [self.submission, *self.submission.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.log_path = Path(log_path) if log_path else self.scratch / "worker.log"
        self.import_errors = {}
        self.fatal = None  # set when start-up itself fails: every probe fails with it
        self.starts = 0
        self._proc = None
        self._log = None
        self._to_worker = self._from_worker = None

    # -- process management -------------------------------------------------

    def _unprivileged_ids(self):
        if os.geteuid() != 0:
            return None, None
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chmod(self.scratch, 0o777)
        return user.pw_uid, user.pw_gid

    def start(self):
        uid, gid = self._unprivileged_ids()
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        self._log = open(self.log_path, "ab")
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.scratch),
            "TMPDIR": str(self.scratch),
            "OMP_NUM_THREADS": str(self.threads),
            "MKL_NUM_THREADS": str(self.threads),
            "MPLBACKEND": "Agg",
            "HW_FAST": "1",
        }
        command = [
            sys.executable, "-I", str(WORKER_SCRIPT),
            "--submission", str(self.submission),
            "--probes", str(self.probes),
            "--fd-in", str(request_read),
            "--fd-out", str(response_write),
            "--modules", ",".join(self.modules),
            "--threads", str(self.threads),
        ]  # fmt: skip
        if uid is not None:
            command += ["--uid", str(uid), "--gid", str(gid)]
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            cwd=self.scratch,
            env=env,
            pass_fds=(request_read, response_write),
            preexec_fn=_limit_child(self.memory_bytes, self.file_bytes),
            start_new_session=True,
        )
        os.close(request_read)
        os.close(response_write)
        self._to_worker, self._from_worker = request_write, response_read
        hello = self._receive(self.startup_timeout, "starting up and importing your code")
        self.import_errors = hello["import_errors"]

    def _kill(self):
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._proc.wait()
        for fd in (self._to_worker, self._from_worker):
            os.close(fd)
        self._log.close()
        self._proc = None

    def close(self):
        self._kill()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- messages -----------------------------------------------------------

    def _read_exactly(self, size, deadline, doing):
        chunks = []
        while size:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_worker], [], [], max(remaining, 0))
            if not ready:
                raise ProbeError(f"timed out after {self._limit_for_message:.0f} s while {doing}")
            chunk = os.read(self._from_worker, min(size, 1 << 20))
            if not chunk:
                raise ProbeError(self._death_reason(doing))
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _death_reason(self, doing):
        code = self._proc.wait()
        if code < 0 and -code == signal.SIGKILL:
            cause = "killed (most likely it ran out of memory)"
        elif code < 0 and -code == signal.SIGXFSZ:
            cause = f"killed for writing more than {self.file_bytes >> 20} MiB to a file or the console"
        elif code < 0:
            cause = f"killed by signal {signal.Signals(-code).name}"
        else:
            cause = f"ended with exit code {code}"
        return f"the process running your code was {cause} while {doing}"

    def _receive(self, limit, doing):
        self._limit_for_message = limit
        deadline = time.monotonic() + limit
        try:
            (size,) = struct.unpack(">I", self._read_exactly(4, deadline, doing))
            payload = self._read_exactly(size, deadline, doing)
            return torch.load(io.BytesIO(payload), weights_only=True)
        except ProbeError:
            self._kill()
            raise
        except Exception as exc:  # an unreadable answer: never trust the process again
            self._kill()
            raise ProbeError(f"the process running your code sent back data that is not allowed ({type(exc).__name__})")

    # -- probes -------------------------------------------------------------

    def call(self, probe: str, timeout: float | None = None, **kwargs):
        """
        Runs ``probe(**kwargs)`` in the worker and returns its plain-data result.

        Raises ProbeError with a reason for the student when the submission
        fails to import, raises, hangs, crashes or returns something invalid.
        """
        if self.fatal:
            raise ProbeError(self.fatal)
        if self._proc is None:
            try:
                self.start()
            except ProbeError as exc:
                self.fatal = str(exc)
                raise
            self.starts += 1
        buffer = io.BytesIO()
        torch.save({"probe": probe, "kwargs": kwargs}, buffer)
        payload = buffer.getvalue()
        try:
            data = memoryview(struct.pack(">I", len(payload)) + payload)
            while data:
                data = data[os.write(self._to_worker, data):]
        except BrokenPipeError:
            self._kill()
            raise ProbeError("the process running your code ended unexpectedly")
        response = self._receive(timeout or self.timeout, f"running {probe}")
        if not response["ok"]:
            raise ProbeError(response["error"])
        return response["value"]
