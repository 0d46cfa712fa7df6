"""
``course grade``: the hidden suite for every submission, then nbgrader for the written answers.

For each student it writes ``<out>/<student>/results.json`` and
``<out>/<student>/feedback.html``, and for the class ``<out>/gradebook.csv``.
What the hidden suite and the submission printed goes to ``<out>/.logs/``,
which is for staff only.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from course import ASSIGNMENT, REPO_ROOT, cluster, isolation
from course.class_report import write_class_report
from course.review import (apply_review, load_reviews, read_summary, record_overrides, summary_of, write_gradebook,
                           write_graded_code, write_student)
from course.budget import OWN_TIME_SECONDS, Budget
from course.deadlines import LATENESS_FIELDS, Deadlines
from course.secret import SECRET_ENV, course_secret
from course.submissions import Submission, discover, stage, unique_students
from course.suite_process import SuiteProcess, pytest_command, start_server

AUTOGRADER = REPO_ROOT / "autograder"
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
CSV_INTERVAL = 10.0  # seconds between rebuilds of gradebook.csv during a run (and once at its end, however it ends)


@dataclass(frozen=True)
class Settings:
    """How every submission of one grading run is graded."""

    budget: Budget = Budget()
    isolation: str = isolation.PROCESS
    # Each suite forked from a server that imported torch once (course.suite_process): cheaper for many suites;
    # a process that grades one submission (Gradescope) starts a new interpreter, which needs less memory.
    fork_suites: bool = True
    # The course's secret (course.secret), handed to each suite; set by grading_settings, so that a Dask worker grades
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
                  + [REPO_ROOT / "course" / "worker.py", REPO_ROOT / "course" / "sandbox.py"])  # fmt: skip
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


@dataclass
class Run:
    """What one `course grade` run did."""

    parts: list
    outcomes: list = field(default_factory=list)  # the students graded now, as they finished
    summaries: dict = field(default_factory=dict)  # student -> results.json, for every student of the run
    problems: list = field(default_factory=list)  # "<student>: <why>", one line each
    unchanged: list = field(default_factory=list)  # students not regraded: same submission, suite and budget
    restored: list = field(default_factory=list)  # of those, students whose gradebook.db record was put back
    retimed: list = field(default_factory=list)  # of those, students whose lateness changed (due date, extension, time)
    overridden: list = field(default_factory=list)  # students whose hidden points a TA set in formgrader since


def _summary(outcome: Outcome, parts, reviews, settings: Settings, **extra):
    tests = apply_review(outcome.tests, outcome.flags, reviews.get(outcome.student))
    outcome.tests = tests
    extra = {
        "problem": outcome.problem,
        "isolation": outcome.isolation,
        "seconds": round(outcome.seconds, 1),
        "worker_seconds": outcome.worker_seconds,
        "time_budget": settings.budget.seconds,
        "answers": outcome.answers,
        "left_out": outcome.left_out,
        **extra,
    }
    return summary_of(outcome.student, tests, parts, outcome.flags, reviews.get(outcome.student), **extra)


def code_fingerprint() -> str:
    """The code a grade depends on: the hidden suite, its references, the solution, the grader and the notebooks."""
    files = [p for folder in ("autograder", "hw", "tests/assets") for p in sorted((REPO_ROOT / folder).glob("*.p[ty]"))]
    files += [REPO_ROOT / "course" / name for name in ("grade.py", "worker.py", "sandbox.py", "isolation.py", "review.py")]
    return _digest(files + source_notebook_paths())


def suite_fingerprint(settings: Settings) -> str:
    """What a grade depends on besides the submission: the code and the budget."""
    return f"{code_fingerprint()}|{settings}"


def source_notebook_paths():
    return sorted((REPO_ROOT / "source" / ASSIGNMENT).glob("*.ipynb"))


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


@contextlib.contextmanager
def _interrupts_deferred():
    """
    Ctrl-C or SIGTERM during the block takes effect after it: recording a
    student (a few seconds of nbgrader) is never cut in half.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            raise KeyboardInterrupt


def _autograde(nbgrader, student: str, folder, summary: dict, previous_answers=None):
    """
    nbgrader autograde of one student's notebooks, never an exception: records
    in ``summary`` the notebooks the released ones stood in for (a note) and a
    problem sentence, if any (returned too).
    """
    try:
        problem, stand_ins = nbgrader.autograde(student, folder, summary, previous_answers)
    except Exception as exc:  # nbgrader on a malformed notebook: this student's problem, never the run's end
        problem, stand_ins = f"nbgrader failed on the notebooks ({type(exc).__name__}: {str(exc)[:300]})", {}
    summary.pop("notebook_problem", None)
    summary.pop("stand_in_notebooks", None)
    if problem:
        summary["notebook_problem"] = problem
    if stand_ins:
        summary["stand_in_notebooks"] = stand_ins
    return problem


def _record(out: Path, outcome: Outcome, sub: Submission, parts, settings, nbgrader, fingerprint, titles, lateness):
    """
    Writes one student's grade the moment it exists: results.json (atomically)
    and the feedback page, then the notebooks into nbgrader's gradebook. The
    fingerprint is written last, so a student whose recording was cut short is
    graded again by the next run.
    """
    reviews = load_reviews(out)
    previous_answers = (read_summary(out, outcome.student) or {}).get("answers")
    summary = _summary(outcome, parts, reviews, settings, part_titles=titles, **lateness)
    if sub.skipped:
        summary["skipped"] = sub.skipped  # bounded by write_student
    write_student(out, summary)
    write_graded_code(out, outcome.student, sub.folder if not sub.problem else None)
    _autograde(nbgrader, outcome.student, sub.folder, summary, previous_answers)
    broken = [t["name"] for t in outcome.harness_errors]
    if broken:
        # Not the student's failure: without the fingerprint, the next run grades this submission again.
        summary["grader_problem"] = (f"{len(broken)} check(s) could not run for the grader's sake ({', '.join(broken[:5])}"
                                     f"{' ...' if len(broken) > 5 else ''}): grade again to run them")  # fmt: skip
    else:
        summary["fingerprint"] = fingerprint
    write_student(out, summary)
    return summary


def grade(
    paths,
    out: Path,
    jobs: int = 2,
    settings: Settings | None = None,
    execute: bool = False,
    progress=True,
    course_root: Path = REPO_ROOT,
    force: bool = False,
    report=None,
    scheduler: str | None = None,
    deadlines: Deadlines | None = None,
):
    """
    Grades every submission under ``paths`` into ``out``; the notebooks go to
    the nbgrader course at ``course_root`` (its nbgrader_config.py, source/,
    submitted/, autograded/ and gradebook.db). ``settings`` default to
    ``grading_settings()``: the strongest isolation available and a
    calibrated time budget.

    Each student's results are written as soon as they are graded, and the
    gradebook is rebuilt from every result under ``out``: an interrupted run
    loses only the students in flight, and the next run grades only the
    students whose submission, suite or budget changed (all with ``force``).
    ``report(line)`` receives one line per student with a problem (default:
    printed above the progress bar). With ``scheduler`` (a Dask scheduler's
    address) the hidden suites run on that cluster's workers instead of
    ``jobs`` at a time here (see course.cluster); recording stays here.
    ``deadlines``: a due date (kept in gradebook.db for the next runs: None
    keeps the one there), extensions and submission times (course.deadlines);
    lateness is recorded with each grade, and updated without grading again.

    Returns a Run. Raises SubmissionError for a path that holds no
    submission, RuntimeError when the course cannot grade (its hidden-tests
    cells do not match the suite, nbgrader cannot register the assignment).
    """
    # nbgrader changes the process's working folder while it converts a notebook, and the other slots keep going
    # meanwhile: a relative path would then name another file.
    out = Path(out).absolute()
    paths = [Path(p).absolute() for p in paths]
    course_root = Path(course_root).absolute()
    out.mkdir(parents=True, exist_ok=True)
    with _grading_folder_lock(out), contextlib.ExitStack() as stack:
        client = stack.enter_context(cluster.connect(scheduler)) if scheduler else None
        return _grade(paths, out, jobs, settings, execute, progress, course_root, force, report, client,
                      deadlines or Deadlines())  # fmt: skip


def _grade(paths, out: Path, jobs, settings, execute, progress, course_root, force, report, client, deadlines):
    report = report or (lambda line: tqdm.write(line, file=sys.stderr))
    from course.gradebook import canvas_students

    found = [s for p in paths for s in discover(p)]
    for name in canvas_students(found, Path(course_root)):  # Canvas's bulk-download names: the roster says whose
        report(f"{name}: a file of Canvas's bulk download whose Canvas ID is not on the roster (course roster with "
               "Canvas's gradebook export): graded under its file name")  # fmt: skip
    submissions = unique_students(found, report)
    settings = settings or grading_settings(progress=progress)
    catalog = suite_catalog()
    # nbgrader's stack is imported only here: a machine that runs suites alone (a Dask worker, Gradescope) needs none of it.
    from course.gradebook import NbgraderCourse, answer_names, hidden_cells_problem, part_titles

    mismatch = hidden_cells_problem(catalog, Path(course_root))
    if mismatch:
        raise RuntimeError(mismatch)
    nbgrader = NbgraderCourse(Path(course_root), execute=execute)
    nbgrader.register()
    if deadlines.due is not None:
        nbgrader.set_due(deadlines.due)
    else:
        deadlines = replace(deadlines, due=nbgrader.due())

    logs = out / ".logs"
    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)  # what a killed run left: no other run can be using it now
    for folder in (logs, staging):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)  # staff only: what submissions printed, and their private copies
    if execute:
        os.environ["HW_FAST"] = "1"  # nbgrader's kernels inherit it

    answers = answer_names(Path(course_root))
    titles = part_titles(Path(course_root))
    code = code_fingerprint()
    suite = suite_fingerprint(settings)
    run = Run(parts=sorted({t["part"] for t in catalog}))

    def note_problem(line):
        run.problems.append(line)
        report(line)

    csv_written = 0.0
    if client:
        cluster.check_workers(client, code, settings.isolation)
    with contextlib.ExitStack() as stack:
        stack.callback(write_gradebook, out)
        stack.callback(shutil.rmtree, staging, ignore_errors=True)
        todo = {}
        recorded_scores = nbgrader.hidden_scores()  # one query for the class, not one per student
        for sub in submissions:
            stage(sub, staging)
            fingerprint = submission_fingerprint(sub, suite)
            previous = read_summary(out, sub.student)
            if not force and previous and previous.get("fingerprint") == fingerprint:
                lateness = deadlines.lateness(sub)
                retimed = any(previous.get(k) != lateness.get(k) for k in LATENESS_FIELDS)
                if retimed:
                    # A due date, an extension or a time that changed since: the grade stands, its lateness is redone
                    # (here, and in nbgrader's record below, whose late penalty depends on it).
                    previous = {k: v for k, v in previous.items() if k not in LATENESS_FIELDS} | lateness
                    write_student(out, previous)
                    run.retimed.append(sub.student)
                if retimed or not nbgrader.agrees(sub.student, previous, sub.folder, recorded_scores):
                    # Grading another --out into this course replaced this student's notebooks or scores:
                    # their record goes back from the saved results, without running the suite again.
                    with _interrupts_deferred():
                        notebook_problem = _autograde(nbgrader, sub.student, sub.folder, previous, previous.get("answers"))
                    if notebook_problem:
                        report(f"{sub.student}: {notebook_problem}")
                    if not retimed:
                        run.restored.append(sub.student)
                run.unchanged.append(sub.student)
                run.summaries[sub.student] = previous
                shutil.rmtree(staging / sub.student, ignore_errors=True)
            else:
                todo[sub.student] = (sub, fingerprint)
        subs = [sub for sub, _ in todo.values()]
        if client:
            graded = cluster.outcomes(client, subs, settings, catalog, answers, code, logs, note_problem)
        else:
            graded = _local_outcomes(subs, catalog, logs, settings, answers, jobs)
        with contextlib.closing(graded):  # interrupted (Ctrl-C, SIGTERM): no new suite starts, the running ones end
            bar = tqdm(graded, total=len(subs), desc="grading", unit="submission", disable=not progress)
            for outcome in bar:
                sub, fingerprint = todo[outcome.student]
                with _interrupts_deferred():
                    summary = _record(out, outcome, sub, run.parts, settings, nbgrader, fingerprint, titles,
                                      deadlines.lateness(sub))  # fmt: skip
                shutil.rmtree(staging / sub.student, ignore_errors=True)
                run.outcomes.append(outcome)
                run.summaries[outcome.student] = summary
                if time.monotonic() - csv_written > CSV_INTERVAL:
                    # Rebuilt from every results.json: often enough to follow a long run, not once per student.
                    write_gradebook(out)
                    csv_written = time.monotonic()
                for problem in (summary.get("problem"), summary.get("notebook_problem"), summary.get("grader_problem")):
                    if problem:
                        note_problem(f"{outcome.student}: {problem}")
                for name, why in (summary.get("stand_in_notebooks") or {}).items():
                    if why.startswith("could not be read"):  # a broken file is worth a line; a missing one is common
                        report(f"{outcome.student}: note: {name} {why}; the released notebook stands in for it "
                               "(answers are read from hw/answers.py)")  # fmt: skip
    # A TA's score of a hidden-tests cell in formgrader wins: gradebook.db is the one source of points.
    for student in record_overrides(out, nbgrader.hidden_overrides()):
        run.summaries[student] = read_summary(out, student)
        run.overridden.append(student)
    write_class_report(out)
    run.summaries = {student: run.summaries[student] for student in sorted(run.summaries)}
    return run


def _local_outcomes(subs, catalog, logs, settings, answers, jobs):
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


@contextlib.contextmanager
def _grading_folder_lock(out: Path):
    """
    One grading run at a time writes into a grading folder: two would stage,
    record and rebuild the gradebook over each other. The kernel releases the
    lock when the run ends, even when it is killed.
    """
    with open(out / ".grading.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise RuntimeError(
                f"{out} is being graded by another `course grade` ({holder}): wait for it to finish, or stop it "
                "(Ctrl-C keeps what it graded), then run this again"
            ) from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        yield
