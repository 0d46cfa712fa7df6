"""
The hidden suite of one submission: its settings, its run and what came of it.

``run_suite`` runs pytest on ``autograder/`` for one staged submission in a
process of its own (``suite_process``), whose probes reach the student's code
only through a sandboxed worker; it never raises, and every test of the
catalog comes back passed, failed with a reason, or a harness error. The
fingerprints say when a grade must be made again: the code a grade depends on
(suite, references, solution, grader, notebooks), the budget, the submission.
``course grade`` (``run``), the Dask cluster and Gradescope all grade through
here.
"""
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from course import REPO_ROOT, source_notebooks
from course.grading import isolation
from course.grading.budget import OWN_TIME_SECONDS, Budget
from course.grading.secret import SECRET_ENV, course_secret
from course.grading.submissions import Submission, discover, stage
from course.grading.suite_process import SuiteProcess, pytest_command, start_server

AUTOGRADER = REPO_ROOT / "autograder"
GRADING = Path(__file__).resolve().parent
# The default time budget of a submission: this many times what the
# instructor's solution takes in its worker on this machine (measured: 2.5 s,
# the same for a correct loop-based convolution), and never less than
# MIN_TIME_BUDGET, which leaves room for a few checks that time out.
TIME_BUDGET_FACTOR = 5
MIN_TIME_BUDGET = 60.0
CALIBRATION_CACHE = REPO_ROOT / ".cache" / "time-budget.json"
CATALOG_CACHE = REPO_ROOT / ".cache" / "suite-catalog.json"
# The harness's reference trainings (Part 2's hyper-parameters), kept across submissions and runs.
REFERENCE_CACHE = REPO_ROOT / ".cache" / "reference-training"


@dataclass(frozen=True)
class Settings:
    """How every submission of one grading run is graded."""

    budget: Budget = Budget()
    isolation: str = isolation.PROCESS
    # Each suite forked from a server that imported torch once (course.grading.suite_process): cheaper for many suites;
    # a process that grades one submission (Gradescope) starts a new interpreter, which needs less memory.
    fork_suites: bool = True
    # The course's secret (course.grading.secret), handed to each suite; set by grading_settings, so that a Dask worker grades
    # with the client's ("": this machine's).
    secret: str = field(default="", repr=False)

    def suite_limit(self):
        """A backstop for the whole pytest run: the worker's budget and the probes' own times, plus the harness's work."""
        return 2 * self.budget.seconds + sum(OWN_TIME_SECONDS.values()) + 600


@dataclass
class Outcome:
    student: str
    tests: list = field(default_factory=list)
    answers: dict = field(default_factory=dict)  # answer function -> Markdown, for formgrader
    problem: str | None = None  # why the submission could not be graded at all
    flags: list = field(default_factory=list)  # findings for staff review: {"kind", "message"}
    left_out: list = field(default_factory=list)  # files of the submission's hw/ that the grader did not run
    isolation: str | None = None
    seconds: float = 0.0  # wall time its grading held a slot
    worker_seconds: float = 0.0  # what it used of its time budget

    def points(self, part=None):
        return sum(t["points"] for t in self.tests if part in (None, t["part"]))

    def max_points(self, part=None):
        return sum(t["max_points"] for t in self.tests if part in (None, t["part"]))

    @property
    def harness_errors(self):
        return [t for t in self.tests if t.get("harness_error")]


def _pytest_args(args):
    return ["-c", str(AUTOGRADER / "pytest.ini"), str(AUTOGRADER), "-q", *args]


def _suite_env():
    """The hidden suite needs no installed pytest plugin (nbval alone imports Jupyter's stack: two seconds a suite)."""
    return {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def suite_catalog():
    """Every hidden test with its part and points, as the solution would report them (cached with the suite's code)."""
    key = code_fingerprint()
    try:
        cached = json.loads(CATALOG_CACHE.read_text())
        if cached.get("key") == key:
            return cached["tests"]
    except (OSError, ValueError, AttributeError):
        pass
    tests = _collect_suite()
    CATALOG_CACHE.parent.mkdir(parents=True, exist_ok=True)
    CATALOG_CACHE.write_text(json.dumps({"key": key, "tests": tests}))
    return tests


def _collect_suite():
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "catalog.json"
        command = pytest_command(_pytest_args(["--collect-only", f"--results={results}"]))
        proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env=_suite_env())
        if proc.returncode != 0 or not results.exists():
            raise RuntimeError(f"the hidden suite does not collect:\n{proc.stdout}{proc.stderr}")
        return json.loads(results.read_text())["tests"]


def _suite_args(submission: Submission, settings: Settings, results: Path, logs: Path, scratch: Path, uid: int, answers):
    # One word per option (--name=value): pytest takes the value of an option it does not know yet for a path to
    # collect, and an empty one for the current folder, whose tests/conftest.py it would then load.
    budget = settings.budget
    options = {
        "submission": submission.folder,
        "results": results,
        "worker-log": logs / f"{submission.student}.worker.log",
        "probe-timeout": budget.probe_seconds,
        "time-budget": budget.seconds,
        "memory-mib": budget.memory_bytes >> 20,
        "disk-mib": budget.disk_bytes >> 20,
        "processes": budget.processes,
        "isolation": settings.isolation,
        "slot-uid": uid,
        "scratch": scratch,
        "answers": ",".join(answers),
        "reference-cache": REFERENCE_CACHE,
    }
    return [f"--{name}={value}" for name, value in options.items()]


def run_suite(submission: Submission, catalog, logs: Path, settings: Settings = Settings(), answers=(), slot=0) -> Outcome:
    """
    Runs the hidden suite on one staged submission; never raises. Whatever
    happens, the suite's log is written and its scratch folder removed.
    """
    outcome = Outcome(submission.student, isolation=settings.isolation)
    if submission.problem:
        outcome.problem = submission.problem
        outcome.tests = [dict(t, passed=False, points=0, message=submission.problem) for t in catalog]
        return outcome
    results = logs / f"{submission.student}.results.json"
    results.unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="hw-suite-"))
    scratch.chmod(0o711)  # the sandbox's uid must reach its own folder inside
    uid = isolation.slot_uid(slot)
    args = _pytest_args(_suite_args(submission, settings, results, logs, scratch, uid, answers))
    log_path = logs / f"{submission.student}.pytest.log"
    log_path.write_bytes(b"")
    started = time.monotonic()
    stopped = None
    proc = None
    try:
        proc = SuiteProcess(args, log_path, {**_suite_env(), SECRET_ENV: settings.secret or course_secret()}, fork=settings.fork_suites)
        with _running_lock:
            _running.add(proc)
        if not proc.wait(timeout=settings.suite_limit()):
            stopped = f"grading stopped: the hidden suite ran for more than {settings.suite_limit():.0f} s"
            with open(log_path, "ab") as log:
                log.write(f"\n{stopped}\n".encode())
    finally:
        if proc:
            proc.end()
            with _running_lock:
                _running.discard(proc)
        if isolation.running_as_root() and settings.isolation in (isolation.BUBBLEWRAP, isolation.UID):
            # A suite killed by the backstop never closed its worker: end what still runs as the slot's uid.
            isolation.kill_uid(uid)
            isolation.remove_files_of_uid(uid)
        shutil.rmtree(scratch, ignore_errors=True)
    outcome.seconds = time.monotonic() - started
    try:
        reported = json.loads(results.read_text())
    except (OSError, ValueError):
        reported = {}
    outcome.answers = reported.get("answers", {})
    outcome.flags = reported.get("flags", [])
    outcome.left_out = reported.get("left_out", [])
    outcome.isolation = reported.get("isolation") or settings.isolation
    outcome.worker_seconds = reported.get("worker_seconds", 0.0)
    by_name = {t["name"]: t for t in reported.get("tests", [])}
    if not stopped and not by_name:
        # The suite is the grader's own code (the submission runs in its worker): ending without a report, it could
        # not start at all. Never the student's zero: harness errors, graded again by the next run.
        outcome.tests = [dict(test, passed=False, points=0, harness_error=True,
                              message=f"the grader could not run the hidden suite ({_log_reason(log_path)}): grade "
                                      "again; the suite's log is in the grades' .logs folder") for test in catalog]  # fmt: skip
        return outcome
    for test in catalog:
        ran = by_name.get(test["name"])
        if ran is None or ran.get("not_run"):
            ran = dict(test, passed=False, points=0, message=stopped or "grading stopped before this test ran")
        outcome.tests.append(ran)
    return outcome


def _log_reason(log_path: Path) -> str:
    """The last line of a log that names an error (else its last line), at most 300 characters."""
    try:
        with open(log_path, "rb") as log:
            log.seek(max(0, log_path.stat().st_size - 4096))
            lines = [line.strip() for line in log.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["it wrote nothing"])[-1][:300]


def _digest(paths):
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.name.encode() + path.read_bytes())
    return sha.hexdigest()


def calibrated_time_budget(level: str, budget: Budget, progress=True) -> float:
    """
    TIME_BUDGET_FACTOR times the worker time of the instructor's solution on
    this machine (at least MIN_TIME_BUDGET). Measured once by grading the
    solution, then cached until the solution, the suite or the isolation
    level change.
    """
    key = _digest(sorted((REPO_ROOT / "hw").glob("*.py")) + sorted(AUTOGRADER.glob("*.py"))
                  + [GRADING / "worker.py", GRADING / "sandbox.py"])  # fmt: skip
    key = f"{key}-{level}-{os.cpu_count()}-{os.uname().nodename}"
    try:
        cached = json.loads(CALIBRATION_CACHE.read_text())
        if cached.get("key") == key:
            return cached["seconds"]
    except (OSError, ValueError):
        pass
    if progress:
        print("Measuring the solution's grading time once, to set the time budget of a submission", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copytree(REPO_ROOT / "hw", tmp / "solution" / "hw", ignore=shutil.ignore_patterns("__pycache__"))
        (sub,) = discover(tmp / "solution")
        stage(sub, tmp / "staging")
        (tmp / "logs").mkdir()
        settings = Settings(replace(budget, seconds=30 * 60), level)
        outcome = run_suite(sub, suite_catalog(), tmp / "logs", settings)
    if outcome.points() != outcome.max_points():
        raise RuntimeError(
            f"the instructor's solution scores {outcome.points()}/{outcome.max_points()}, so it cannot set the time "
            "budget; fix it (course validate) or give --time-budget"
        )
    seconds = round(max(MIN_TIME_BUDGET, TIME_BUDGET_FACTOR * outcome.worker_seconds), 1)
    CALIBRATION_CACHE.parent.mkdir(parents=True, exist_ok=True)
    CALIBRATION_CACHE.write_text(json.dumps({"key": key, "solution_seconds": outcome.worker_seconds, "seconds": seconds}))
    return seconds


def grading_settings(time_budget=None, probe_timeout=None, isolation_level="auto", progress=True, **budget):
    """The Settings of a run: the isolation level in force and the budget (the time budget calibrated when not given)."""
    level, _ = isolation.choose_level(isolation_level)
    base = Budget(**budget)
    if probe_timeout is not None:
        base = replace(base, probe_seconds=probe_timeout)
    seconds = time_budget if time_budget is not None else calibrated_time_budget(level, base, progress)
    return Settings(replace(base, seconds=seconds), level, secret=course_secret())


def code_fingerprint() -> str:
    """The code a grade depends on: the hidden suite, its references, the solution, the grader and the notebooks."""
    files = [p for folder in ("autograder", "hw", "tests/assets") for p in sorted((REPO_ROOT / folder).glob("*.p[ty]"))]
    files += [GRADING / name for name in ("suite.py", "worker.py", "sandbox.py", "isolation.py")]
    files += [REPO_ROOT / "course" / "records" / "review.py"]
    return _digest(files + source_notebooks())


def suite_fingerprint(settings: Settings) -> str:
    """What a grade depends on besides the submission: the code and the budget."""
    return f"{code_fingerprint()}|{settings}"


def submission_fingerprint(submission: Submission, suite: str) -> str:
    """The staged files of a submission (or its archive, when it could not be staged) and the suite's fingerprint."""
    sha = hashlib.sha256(suite.encode())
    if submission.folder is None:
        sha.update(submission.source.read_bytes() if submission.source.is_file() else str(submission.source).encode())
        sha.update(str(submission.problem).encode())
    else:
        for path in sorted(p for p in submission.folder.rglob("*") if p.is_file()):
            sha.update(str(path.relative_to(submission.folder)).encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


# The suites running now, so that an interrupted grading run can end them.
_running = set()
_running_lock = threading.Lock()


def end_running_suites():
    """Kills every hidden suite this process started and still runs (with their sandboxes)."""
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        proc.end()


def local_outcomes(subs, catalog, logs, settings, answers, jobs):
    """Grades ``subs`` on this machine, ``jobs`` at a time; yields each Outcome as it finishes."""
    # Each running suite holds a slot: with root, its worker runs as the slot's own uid.
    if subs and settings.fork_suites:
        start_server()  # before the threads: it changes the working folder a moment
    slots = queue.SimpleQueue()
    for slot in range(max(1, jobs)):
        slots.put(slot)

    def run_in_slot(sub):
        slot = slots.get()
        try:
            return run_suite(sub, catalog, logs, settings, answers, slot=slot)
        finally:
            slots.put(slot)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        for future in as_completed([pool.submit(run_in_slot, sub) for sub in subs]):
            yield future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        end_running_suites()
        pool.shutdown(wait=True)
