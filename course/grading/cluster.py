"""
Grading on a Dask distributed cluster: ``course grade --scheduler ADDRESS``.

Dask (``distributed``) is the engine because it runs the same code on a
laptop (``LocalCluster``), on lab machines over SSH (``SSHCluster``,
``dask-ssh``) and on Slurm or PBS (``dask-jobqueue``), and it already does
what a home-made queue would have to learn: it retries the tasks of a worker
that was lost, and it hands results back as they finish.

One task grades one submission: the grading machine sends the staged files,
the worker machine runs the hidden suite on them in its own sandbox (exactly
``run_suite``, as local grading does) and sends back the outcome and the
logs. Recording (results.json, feedback, nbgrader's gradebook) stays on the
grading machine, as each result arrives. A worker machine needs the course's
repository at the same commit, set up the same way (``python3 bootstrap.py``),
and bubblewrap; ``check_workers`` refuses a cluster whose workers differ.
"""
import queue
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

from course.grading import isolation
from course.grading.submissions import Submission

# A task whose worker died is rerun by the scheduler (distributed's
# "allowed-failures", 3 by default); these retries are for a task that
# raised on its worker (a full disk, a vanished temporary folder).
RETRIES = 2
MAX_LOG_BYTES = 1 << 20  # what comes back of each log: submissions can print without end


class ClusterError(RuntimeError):
    """The cluster cannot grade: unreachable, no workers, or workers unlike this machine."""


def connect(address: str):
    """A Dask client of the scheduler at ``address`` that has at least one worker (the grids' connection)."""
    from hw.grid import GridError
    from hw.grid import connect as connect_to_scheduler

    try:
        return connect_to_scheduler(address)
    except GridError as exc:
        raise ClusterError(str(exc)) from None


def worker_problem(expected_code: str, level: str) -> str | None:
    """
    Runs on a worker: why it cannot grade as this machine does (another
    version of the suite, the solution or the grader; an isolation level it
    cannot provide), or None.
    """
    from course.grading.suite import code_fingerprint

    host = socket.gethostname()
    if code_fingerprint() != expected_code:
        return (f"{host}: its course repository differs from this one (hidden suite, solution, references or grader); "
                "check out the same commit there and set it up with `python3 bootstrap.py`")  # fmt: skip
    try:
        chosen, _ = isolation.choose_level(level)
    except (RuntimeError, ValueError) as exc:
        return f"{host}: {exc}"
    if chosen != level:
        return f"{host}: cannot isolate submissions with {level} (it would fall back to {chosen}); install bubblewrap there"
    return None


def check_workers(client, expected_code: str, level: str):
    """Raises ClusterError naming every worker that cannot grade as this machine would."""
    answers = client.run(worker_problem, expected_code, level)
    problems = sorted({p for p in answers.values() if p})
    if problems:
        raise ClusterError("the cluster's workers cannot grade like this machine:\n  " + "\n  ".join(problems))


# The grading slots of this worker process: tasks that run at once need distinct uids.
_slots = queue.SimpleQueue()
for _slot in range(isolation.SLOTS_PER_PROCESS):
    _slots.put(_slot)


def read_files(folder: Path) -> dict:
    """A staged submission as {relative path: bytes}, for the trip to a worker."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _tail(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - MAX_LOG_BYTES))
            return f.read()
    except OSError:
        return b""


def grade_on_worker(student: str, files: dict, settings, catalog, answers, expected_code: str):
    """
    The task: writes the submission into a private folder on the worker,
    runs the hidden suite on it, and returns (Outcome, {log name: bytes}).
    A worker unlike the grading machine raises ClusterError instead of
    grading differently.
    """
    from course.grading.suite import run_suite

    problem = worker_problem(expected_code, settings.isolation)
    if problem:
        raise ClusterError(problem)
    work = Path(tempfile.mkdtemp(prefix="hw-task-"))
    work.chmod(0o700)  # as the grading folder's .staging: the submission is for its own sandbox only
    slot = _slots.get()
    try:
        folder = work / student / "hw2"
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        logs = work / "logs"
        logs.mkdir()
        submission = Submission(student, source=folder, folder=folder)
        outcome = run_suite(submission, catalog, logs, settings, answers, slot=slot)
        returned = {path.name: _tail(path) for path in logs.glob("*.log")}
        return outcome, returned
    finally:
        _slots.put(slot)
        shutil.rmtree(work, ignore_errors=True)


def outcomes(client, submissions, settings, catalog, answers, expected_code: str, logs: Path, report):
    """
    Grades ``submissions`` (staged) on the cluster; yields each Outcome as it
    arrives, after writing its logs into ``logs``. A submission the cluster
    could not grade is reported and skipped: it has no results.json, so the
    next run grades it. Closing the generator (Ctrl-C) cancels what has not
    finished.
    """
    from distributed import as_completed

    from course.grading.suite import run_suite

    futures = {
        client.submit(grade_on_worker, sub.student, read_files(sub.folder), settings, catalog, answers, expected_code,
                      key=f"grade-{sub.student}-{uuid.uuid4().hex}", retries=RETRIES, pure=False): sub.student
        for sub in submissions
        if not sub.problem
    }  # fmt: skip
    try:
        for sub in submissions:
            if sub.problem:  # nothing to run: a submission that could not be staged scores zero here and now
                yield run_suite(sub, catalog, logs, settings)
        for future in as_completed(futures):
            student = futures[future]
            try:
                outcome, returned = future.result()
            except Exception as exc:  # a task the cluster gave up on (its workers lost again and again, ClusterError)
                report(f"{student}: not graded, the cluster could not run it ({type(exc).__name__}: {exc}); "
                       "grading again retries it")  # fmt: skip
                continue
            for name, data in returned.items():
                (logs / name).write_bytes(data)
            yield outcome
    finally:
        client.cancel(list(futures))
