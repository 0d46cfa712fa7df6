"""
The trusted side of grading: runs probes in a sandboxed worker and gets plain data back.

A ``Worker`` starts ``course/grading/worker.py`` for one submission at the isolation
level chosen by ``course.grading.isolation`` and talks to it over two pipes. Budgets
hold for the whole submission, not only for one probe: time in the worker,
memory of all its processes together, the number of its processes and the
disk it writes. A probe that raises, hangs, exhausts a budget or kills its
process fails with a one-line reason (``ProbeError``); the worker is
restarted for the next probe unless the submission is out of budget.

Protocol: every frame is a 4-byte big-endian length and a ``torch.save``
payload, loaded with ``torch.load(weights_only=True)`` (tensors and plain
containers only). Each request carries a random id that the reply must echo.
A frame that is too large, unreadable or carries another id is a protocol
violation: the submission wrote to the grader's channel itself. Its worker is
killed, the rest of its tests fail, and it is flagged for staff review.
"""
import ctypes
import io
import os
import resource
import secrets
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from course.grading import isolation
from course.grading.budget import OWN_TIME_SECONDS, Budget  # noqa: F401 (part of this module's interface)
from hw.policy import MODULES

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker.py"


def package_texts(package: Path) -> dict:
    """
    {file name: its bytes as a latin-1 string} of the package's modules: its
    regular .py files (no link followed, nothing else). Latin-1 maps every
    byte to one character and back (the worker's weights-only unpickler reads
    strings, not bytes).
    """
    if not package.is_dir() or package.is_symlink():
        return {}
    return {path.name: path.read_bytes().decode("latin-1") for path in sorted(package.iterdir())
            if path.suffix == ".py" and path.is_file() and not path.is_symlink()}  # fmt: skip
CLONE_NEWNET = 0x40000000
MAX_FRAME_BYTES = 256 << 20
LOG_LIMIT_BYTES = 4 << 20  # of what a submission's workers print, all starts together; the rest is read and dropped
WATCH_INTERVAL = 0.2  # seconds between two looks at the worker's memory and disk
# RLIMIT_FSIZE stops one large file at the budget with an error the feedback can place
# (file and line); the watcher is there for many smaller files, so it leaves room for
# one file at the limit plus the file system's own blocks, or which of the two fired
# first would depend on how busy the machine is.
WATCH_DISK_SLACK_BYTES = 1 << 20


# A time limit counts the time the worker ran or could have run, not the time it waited for a CPU that other work
# held (Linux's per-task run-queue wait, /proc/<pid>/schedstat): a grade does not move with the machine's load. When
# the wall time reaches this many times a limit first, the machine, not the submission, is too slow.
MAX_LOAD_FACTOR = 4.0
POLL_SECONDS = 0.5  # how often a wait looks at the worker's run-queue time


class ProbeError(Exception):
    """A probe could not produce a result; the message is meant for the student."""


class MachineBusy(Exception):
    """The grading machine was too busy for a probe to finish in time: the grader's problem, never the student's."""


def runqueue_wait(pid) -> float:
    """Seconds the task ``pid`` has spent runnable but waiting for a CPU (0 where Linux does not say)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError, TypeError):
        return 0.0


def worker_task(pid):
    """The worker's own Python process under ``pid`` (bubblewrap's child, or ``pid`` itself), or None before it runs."""
    todo = [pid]
    while todo:
        current = todo.pop(0)
        try:
            with open(f"/proc/{current}/comm") as f:
                if f.read().startswith("python"):
                    return current
            with open(f"/proc/{current}/task/{current}/children") as f:
                todo += [int(child) for child in f.read().split()]
        except (OSError, ValueError):
            continue
    return None


class Clock:
    """
    The time that counts against one limit: wall time less the time the
    worker's Python process waited for a CPU. ``remaining()`` is what is left
    of the limit, or of the wall-time cap (MAX_LOAD_FACTOR x the limit).
    """

    def __init__(self, pid, limit):
        self.pid, self.limit = pid, limit
        self.started = time.monotonic()
        self.task, self.waited_before = None, 0.0
        self.stopped = None  # the time used when the wait ended: the grader's own work after it is not counted
        self._find_task()

    def stop(self):
        self.stopped = self.used()

    def _find_task(self):
        if self.task is None and self.pid is not None:
            self.task = worker_task(self.pid)
            self.waited_before = runqueue_wait(self.task) if self.task else 0.0

    def used(self) -> float:
        if self.stopped is not None:
            return self.stopped
        self._find_task()
        waited = runqueue_wait(self.task) - self.waited_before if self.task else 0.0
        return max(0.0, time.monotonic() - self.started - waited)

    def remaining(self) -> float:
        wall_left = self.started + self.limit * MAX_LOAD_FACTOR - time.monotonic()
        return min(self.limit - self.used(), wall_left)

    def machine_was_busy(self) -> bool:
        """Whether the wall-time cap ran out while the worker had used less than its limit."""
        return self.used() < self.limit


class ProtocolViolation(ProbeError):
    """The submission forged or corrupted a message on the grader's channel."""


def _mib(n):
    return f"{n / (1 << 30):.0f} GiB" if n >= 1 << 30 else f"{n >> 20} MiB"


def _limit_child(budget: Budget, set_process_limit: bool, new_network: bool):
    """Runs in the child between fork and exec: resource limits and, without bwrap, no network."""

    def preexec():
        resource.setrlimit(resource.RLIMIT_AS, (budget.memory_bytes, budget.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (budget.disk_bytes, budget.disk_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if set_process_limit:
            resource.setrlimit(resource.RLIMIT_NPROC, (budget.processes, budget.processes))
        if new_network:
            # An empty network namespace has only a loopback device, and it is down.
            import ctypes

            ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET)

    return preexec


def return_freed_memory():
    """
    Hands memory this process freed back to the system (glibc keeps freed
    small blocks for later). The harness and its worker share a machine's
    memory; on Gradescope, a container's 768 MB by default.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class Worker:
    """
    One sandboxed worker process for one submission, restarted on demand.

    Inputs:
    - submission: folder that contains the submission's ``hw`` package.
    - probes: path of the trusted probes file, or a list of them (probes.py
      first); their text is sent to the worker over the pipe, so the worker
      never sees a path into the repository.
    - modules: student modules imported at start-up, e.g. ("hw.layers",); what they import is limited to
      hw.policy.MODULES.
    - unavailable: {module: why} for student modules that must not be imported (the reason is their import error).
    - allowed_imports: the modules an import statement of a student module may name (None: any; the sandbox's own
      tests run code that the policy would never let through).
    - budget: a Budget for the whole submission.
    - slot: the grading slot (0 .. jobs-1); with root, it sets the worker's uid.
    - uid: the worker's uid when grading as root, if the caller chose it (default: the slot's).
    - level: an isolation level (course.grading.isolation); default: the strongest available.
    - scratch_parent: where the private scratch folder goes (default: the system's temp folder).
    - log_path: file that collects whatever the worker prints.
    """

    def __init__(
        self,
        submission,
        probes,
        modules=(),
        unavailable=None,
        allowed_imports=tuple(MODULES),
        budget: Budget = Budget(),
        slot: int = 0,
        uid: int | None = None,
        level: str | None = None,
        scratch_parent=None,
        threads: int = 1,
        log_path=None,
        describe=None,
    ):
        paths = [probes] if isinstance(probes, (str, Path)) else list(probes)
        self.probes_sources = [Path(path).read_text() for path in paths]
        # describe(probe, kwargs): what a call does, in the student's words, for "timed out while ..." messages.
        self.describe = describe or (lambda probe, kwargs: f"running {probe}")
        self.modules = tuple(modules)
        self.unavailable = dict(unavailable or {})
        self.allowed_imports = None if allowed_imports is None else sorted(allowed_imports)
        self.budget = budget
        self.threads = threads
        self.level = level or isolation.choose_level()[0]
        root = isolation.running_as_root()
        own_uid = root and self.level in (isolation.BUBBLEWRAP, isolation.UID)
        self.uid = (uid if uid is not None else isolation.slot_uid(slot)) if own_uid else None
        self.scratch = Path(tempfile.mkdtemp(prefix="hw-worker-", dir=scratch_parent))
        self.log_path = Path(log_path) if log_path else self.scratch / "worker.log"
        self._prepare_scratch(Path(submission))
        self.import_errors = {}
        self.fatal = None  # set when the worker must not run again: every later probe fails with it
        self.flags = []  # (kind, message) for staff review
        self.starts = 0
        self.seconds_used = 0.0
        self._proc = None
        self._log = None
        self._to_worker = self._from_worker = None
        self._stop_reason = None  # why the watchdog killed the worker
        self._limited_by_budget = False  # the current deadline is the end of the time budget
        self._watchdog = None
        self._printer = None
        self._log_kept = 0  # bytes of the workers' output written to the log so far

    # -- scratch folder ---------------------------------------------------------

    def _prepare_scratch(self, submission: Path):
        """
        scratch/grader: the worker script, mounted read-only with bwrap. The
        submission's package travels as text in the first request (see
        package_texts), never as files: no file of the submission is there for
        its code to read as data (a module's own source holding numbers).
        scratch/home, without bwrap, is the worker's home, which only the
        slot's uid may enter.
        """
        grader = self.scratch / "grader"
        grader.mkdir()
        shutil.copyfile(WORKER_SCRIPT, grader / "worker.py")
        self.package = package_texts(submission / "hw")
        for path in [grader, *grader.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        if self.level == isolation.BUBBLEWRAP:
            self.scratch.chmod(0o700)
        else:
            home = self.scratch / "home"
            (home / "tmp").mkdir(parents=True)
            (home / "submission" / "hw").mkdir(parents=True)  # the worker's (it starts as root, then becomes the uid)
            if self.uid is not None:
                for path in [self.scratch, home, *home.rglob("*")]:
                    os.chown(path, self.uid, self.uid, follow_symlinks=False)
            self.scratch.chmod(0o700)
            home.chmod(0o700)

    # -- process management -------------------------------------------------

    def _command(self, fd_in, fd_out):
        """The worker's command line, its home folder and its temporary folder."""
        if self.level == isolation.BUBBLEWRAP:
            worker = [sys.executable, "-I", "-B", f"{isolation.SANDBOX_GRADER}/worker.py",
                      "--fd-in", str(fd_in), "--fd-out", str(fd_out),
                      "--home", isolation.SANDBOX_HOME]  # fmt: skip
            command = isolation.bubblewrap_command(self.scratch / "grader", self.budget.disk_bytes, self.uid, worker)
            return command, isolation.SANDBOX_HOME, isolation.SANDBOX_TMP
        home = self.scratch / "home"
        command = [sys.executable, "-I", "-B", str(self.scratch / "grader" / "worker.py"),
                   "--fd-in", str(fd_in), "--fd-out", str(fd_out), "--home", str(home)]  # fmt: skip
        if self.uid is not None:
            command += ["--uid", str(self.uid), "--gid", str(self.uid)]
        return command, str(home), str(home / "tmp")

    def start(self):
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        self._log = open(self.log_path, "ab")
        command, home, tmp = self._command(request_read, response_write)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": tmp,
            "OMP_NUM_THREADS": str(self.threads),
            "MKL_NUM_THREADS": str(self.threads),
            "MPLBACKEND": "Agg",
            "HW_FAST": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        bubblewrap = self.level == isolation.BUBBLEWRAP
        self._stop_reason = None
        self._clock = None
        started = time.monotonic()
        self._limited_by_budget = self.budget.seconds - self.seconds_used < self.budget.startup_seconds
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.scratch,
            env=env,
            pass_fds=(request_read, response_write),
            preexec_fn=_limit_child(self.budget, set_process_limit=self.uid is not None or not bubblewrap,
                                    new_network=not bubblewrap),  # fmt: skip
            start_new_session=True,
        )
        os.close(request_read)
        os.close(response_write)
        os.set_blocking(request_write, False)
        self._to_worker, self._from_worker = request_write, response_read
        self._watchdog = threading.Thread(target=self._watch, args=(self._proc,), daemon=True)
        self._watchdog.start()
        self._printer = threading.Thread(target=self._keep_output, args=(self._proc.stdout, self._log), daemon=True)
        self._printer.start()
        try:
            hello = self._exchange(
                {"probes": self.probes_sources, "package": self.package, "modules": list(self.modules), "threads": self.threads,
                 "disk_bytes": self.budget.disk_bytes, "unavailable": self.unavailable, "allowed_imports": self.allowed_imports},
                min(self.budget.startup_seconds, self.budget.seconds - self.seconds_used),
                "starting up and importing your code",
            )  # fmt: skip
        finally:
            self.seconds_used += self._clock.used() if self._clock else time.monotonic() - started
        self.import_errors = hello["import_errors"]
        self.starts += 1

    def _keep_output(self, stream, log):
        """
        Copies what the worker prints into the log, up to LOG_LIMIT_BYTES for
        the whole submission (all its starts together); a flood costs no disk.
        """
        try:
            while chunk := stream.read1(1 << 20):
                if self._log_kept < LOG_LIMIT_BYTES:
                    log.write(chunk[: LOG_LIMIT_BYTES - self._log_kept])
                    self._log_kept += len(chunk)
                    if self._log_kept >= LOG_LIMIT_BYTES:
                        log.write(f"\n[the rest of the output is not kept: more than {LOG_LIMIT_BYTES >> 20} MiB]\n".encode())
                    log.flush()
        except (OSError, ValueError):  # the log was closed under a process that escaped the kill (process level only)
            pass
        finally:
            stream.close()

    def _sandbox_pids(self, proc):
        if self.uid is not None:
            return isolation.pids_of_uid(self.uid)
        return [proc.pid, *isolation.descendants(proc.pid)]

    def _watch(self, proc):
        """Kills the worker when all its processes together exceed the memory or disk budget."""
        checks = 0
        home = self.scratch / "home"
        disk_limit = isolation.folder_bytes(home) + self.budget.disk_bytes + WATCH_DISK_SLACK_BYTES
        while proc.poll() is None:
            checks += 1
            reason = None
            if isolation.resident_bytes(self._sandbox_pids(proc)) > self.budget.memory_bytes:
                reason = f"used more than its memory budget of {_mib(self.budget.memory_bytes)} (all its processes together)"
            elif self.level != isolation.BUBBLEWRAP and checks % 5 == 0:
                if isolation.folder_bytes(home) > disk_limit:
                    reason = f"wrote more than its disk budget of {_mib(self.budget.disk_bytes)}"
            if reason:
                self._stop_reason = reason
                self._end_processes(proc)
                return
            time.sleep(WATCH_INTERVAL)

    def _end_processes(self, proc):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.uid is not None:
            isolation.kill_uid(self.uid)

    def _kill(self):
        if self._proc is None:
            return
        self._end_processes(self._proc)
        self._proc.wait()
        for fd in (self._to_worker, self._from_worker):
            os.close(fd)
        # The pipe closes when the last process holding it is gone (all are killed by now).
        self._printer.join(timeout=5)
        self._log.close()
        self._proc = None

    def close(self):
        self._kill()
        if self.uid is not None:
            isolation.kill_uid(self.uid)
            isolation.remove_files_of_uid(self.uid)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- messages -----------------------------------------------------------

    def _exchange(self, message: dict, limit: float, doing: str):
        """Sends one request and returns the reply that echoes its id; kills the worker on any failure."""
        request_id = secrets.randbits(62)
        buffer = io.BytesIO()
        buffer.write(bytes(4))  # the frame's length, filled in below: the payload is never copied
        torch.save({**message, "id": request_id}, buffer)
        clock = Clock(self._proc.pid if self._proc else None, limit)
        self._clock = clock
        try:
            with buffer.getbuffer() as frame:
                struct.pack_into(">I", frame, 0, len(frame) - 4)
                self._write(frame, clock, doing)
            del buffer
            return_freed_memory()  # before the wait: the request's data is not needed while the worker computes
            reply = self._read_frame(clock, doing)
            clock.stop()
            if not isinstance(reply, dict) or reply.get("id") != request_id:
                raise self._violation("a message that is not the answer to the grader's request")
            return reply
        except (ProbeError, MachineBusy):
            clock.stop()
            self._kill()
            raise

    def _violation(self, what):
        message = (
            f"protocol violation: the grader received {what}; your code wrote to the grader's own channel. "
            "Grading stopped and the course staff will review your submission"
        )
        self.flags.append(("protocol", message))
        self.fatal = message
        return ProtocolViolation(message)

    def _timed_out(self, clock, doing):
        if clock.machine_was_busy():
            return MachineBusy(f"the grading machine was too busy to finish {doing} in {clock.limit * MAX_LOAD_FACTOR:.0f} s "
                               f"(your code had {clock.used():.0f} s of its {clock.limit:.0f} s)")  # fmt: skip
        if self._limited_by_budget:
            return self._out_of_time()
        return ProbeError(f"timed out after {clock.limit:.0f} s while {doing}")

    def _out_of_time(self):
        self.fatal = (
            f"time budget exceeded: your code ran for more than {self.budget.seconds:.0f} s in all "
            "(the budget for a whole submission), so the remaining tests were not run"
        )
        return ProbeError(self.fatal)

    def _write(self, data, clock, doing):
        view = memoryview(data)
        while view:
            remaining = clock.remaining()
            if remaining <= 0:
                raise self._timed_out(clock, doing)
            _, ready, _ = select.select([], [self._to_worker], [], min(remaining, POLL_SECONDS))
            if not ready:
                continue
            try:
                view = view[os.write(self._to_worker, view[: 1 << 16]) :]
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise ProbeError(self._death_reason(doing)) from None

    def _read_exactly(self, size, clock, doing):
        chunks = []
        while size:
            remaining = clock.remaining()
            if remaining <= 0:
                raise self._timed_out(clock, doing)
            ready, _, _ = select.select([self._from_worker], [], [], min(remaining, POLL_SECONDS))
            if not ready:
                continue
            chunk = os.read(self._from_worker, min(size, 1 << 20))
            if not chunk:
                raise ProbeError(self._death_reason(doing))
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self, clock, doing):
        (size,) = struct.unpack(">I", self._read_exactly(4, clock, doing))
        if size > MAX_FRAME_BYTES:
            raise self._violation(f"a message of {size} bytes (more than any answer can be)")
        payload = self._read_exactly(size, clock, doing)
        try:
            return torch.load(io.BytesIO(payload), weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable frame is a forgery: the worker only sends plain data
            raise self._violation(f"data it does not accept ({type(exc).__name__})") from None

    def _death_reason(self, doing):
        code = self._proc.wait()
        if self._stop_reason:
            return f"the process running your code was stopped: it {self._stop_reason} while {doing}"
        if code < 0 and -code == signal.SIGKILL:
            cause = "killed (most likely it ran out of memory)"
        elif code < 0 and -code == signal.SIGXFSZ:
            cause = f"killed for writing more than {_mib(self.budget.disk_bytes)} to a file or the console"
        elif code < 0:
            cause = f"killed by signal {signal.Signals(-code).name}"
        else:
            cause = f"ended with exit code {code}"
        return f"the process running your code was {cause} while {doing}"

    # -- probes -------------------------------------------------------------

    def call(self, probe: str, timeout: float | None = None, **kwargs):
        """
        Runs ``probe(**kwargs)`` in the worker and returns its plain-data result.

        Raises ProbeError with a reason for the student when the submission
        fails to import, raises, hangs, crashes, exhausts a budget or returns
        something invalid. A probe of OWN_TIME_SECONDS runs for at most its own
        time, which the submission's time budget neither limits nor pays for
        (once that budget is spent, though, no probe runs). Time is counted
        without the machine's load (Clock); a probe the machine was too busy
        to finish runs once more in a fresh worker, and then raises
        MachineBusy, the grader's problem.
        """
        try:
            return self._call(probe, timeout, kwargs)
        except MachineBusy:
            return self._call(probe, timeout, kwargs)

    def _call(self, probe, timeout, kwargs):
        own_time = OWN_TIME_SECONDS.get(probe)
        if self.fatal:
            raise ProbeError(self.fatal)
        if self.seconds_used >= self.budget.seconds:
            raise self._out_of_time()
        if self._proc is None:
            try:
                self.start()
            except ProbeError as exc:
                self.fatal = self.fatal or str(exc)
                raise
        if own_time:
            limit = own_time
            self._limited_by_budget = False
        else:
            probe_limit = timeout or self.budget.probe_seconds
            limit = min(probe_limit, self.budget.seconds - self.seconds_used)
            self._limited_by_budget = limit < probe_limit
        self._clock = None
        started = time.monotonic()
        try:
            response = self._exchange({"probe": probe, "kwargs": kwargs}, limit, self.describe(probe, kwargs))
        finally:
            if not own_time:
                self.seconds_used += self._clock.used() if self._clock else time.monotonic() - started
        if not response.get("ok"):
            raise ProbeError(str(response.get("error")))
        return response.get("value")

