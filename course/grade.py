"""
``course grade``: the hidden suite for every submission, then nbgrader for the written answers.

For each student it writes ``<out>/<student>/results.json`` and
``<out>/<student>/feedback.html``, and for the class ``<out>/gradebook.csv``.
What the hidden suite and the submission printed goes to ``<out>/.logs/``,
which is for staff only.
"""
import copy
import csv
import hashlib
import html
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from tqdm import tqdm
from traitlets.config.loader import PyFileConfigLoader

from course import ASSIGNMENT, REPO_ROOT, isolation
from course.release import source_notebooks
from course.review import apply_review, load_reviews, summary_of, write_gradebook, write_student
from course.sandbox import Budget
from course.submissions import Submission, discover, stage

AUTOGRADER = REPO_ROOT / "autograder"
# The default time budget of a submission: this many times what the
# instructor's solution takes in its worker on this machine (measured: 2.5 s,
# the same for a correct loop-based convolution), and never less than
# MIN_TIME_BUDGET, which leaves room for a few checks that time out.
TIME_BUDGET_FACTOR = 5
MIN_TIME_BUDGET = 60.0
CALIBRATION_CACHE = REPO_ROOT / ".cache" / "time-budget.json"


@dataclass(frozen=True)
class Settings:
    """How every submission of one grading run is graded."""

    budget: Budget = Budget()
    isolation: str = isolation.PROCESS

    def suite_limit(self):
        """A backstop for the whole pytest run: the worker's budget plus the harness's own work."""
        return 2 * self.budget.seconds + 600


@dataclass
class Outcome:
    student: str
    tests: list = field(default_factory=list)
    answers: dict = field(default_factory=dict)  # answer function -> Markdown, for formgrader
    problem: str | None = None  # why the submission could not be graded at all
    flags: list = field(default_factory=list)  # findings for staff review: {"kind", "message"}
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


def _pytest_command(args):
    return [sys.executable, "-m", "pytest", "-c", str(AUTOGRADER / "pytest.ini"), str(AUTOGRADER), "-q", *args]


def suite_catalog():
    """Every hidden test with its part and points, as the solution would report them."""
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "catalog.json"
        command = _pytest_command(["--collect-only", "--results", str(results)])
        proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if proc.returncode != 0 or not results.exists():
            raise RuntimeError(f"the hidden suite does not collect:\n{proc.stdout}{proc.stderr}")
        return json.loads(results.read_text())["tests"]


def _suite_args(submission: Submission, settings: Settings, results: Path, logs: Path, scratch: Path, uid: int, answers):
    budget = settings.budget
    return [
        "--submission", str(submission.folder),
        "--results", str(results),
        "--worker-log", str(logs / f"{submission.student}.worker.log"),
        "--probe-timeout", str(budget.probe_seconds),
        "--time-budget", str(budget.seconds),
        "--memory-mib", str(budget.memory_bytes >> 20),
        "--disk-mib", str(budget.disk_bytes >> 20),
        "--processes", str(budget.processes),
        "--isolation", settings.isolation,
        "--slot-uid", str(uid),
        "--scratch", str(scratch),
        "--answers", ",".join(answers),
    ]  # fmt: skip


def _end_suite(proc: subprocess.Popen):
    """The suite's process group, and with it every sandbox (they die with their parent)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


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
    command = _pytest_command(_suite_args(submission, settings, results, logs, scratch, uid, answers))
    started = time.monotonic()
    stopped = None
    with open(logs / f"{submission.student}.pytest.log", "wb") as log:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        try:
            proc.wait(timeout=settings.suite_limit())
        except subprocess.TimeoutExpired:
            stopped = f"grading stopped: the hidden suite ran for more than {settings.suite_limit():.0f} s"
            log.write(f"\n{stopped}\n".encode())
        finally:
            _end_suite(proc)
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
    outcome.isolation = reported.get("isolation") or settings.isolation
    outcome.worker_seconds = reported.get("worker_seconds", 0.0)
    by_name = {t["name"]: t for t in reported.get("tests", [])}
    for test in catalog:
        ran = by_name.get(test["name"])
        if ran is None or ran.get("not_run"):
            ran = dict(test, passed=False, points=0, message=stopped or "grading stopped before this test ran")
        outcome.tests.append(ran)
    return outcome


def unique_students(submissions):
    seen = {}
    for sub in submissions:
        base, n = sub.student, 1
        while sub.student in seen:
            n += 1
            sub.student = f"{base}_{n}"
        seen[sub.student] = sub
    return submissions


ANSWER_CELL = re.compile(r"display_answer\(\s*answers\.(\w+)\s*\)")


def answer_names(root: Path = REPO_ROOT):
    """The answer functions the source notebooks display, e.g. ["part1_q1", "part1_q2"]."""
    names = []
    for path in source_notebooks(root):
        for cell in nbformat.read(path, as_version=4).cells:
            names += ANSWER_CELL.findall(cell.source) if cell.cell_type == "code" else []
    return names


def show_written_answers(notebook_folder: Path, answers: dict):
    """
    Writes the text of each answer in the submission's hw/answers.py (read
    by the sandboxed worker during the hidden suite) into the output of the
    autograded notebook cell that displays it, so formgrader shows the
    submitted answers whether or not the student ran that cell.
    """
    for path in sorted(notebook_folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            match = ANSWER_CELL.search(cell.source) if cell.cell_type == "code" else None
            if match:
                text = answers.get(match.group(1), "*This answer was not read: see the grading log.*")
                # The student's text is Markdown for a person to read, never markup to run in the
                # grader's browser: HTML is escaped (a <script> shows as text) and Markdown kept.
                shown = html.escape(text, quote=False)
                cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": shown, "text/plain": text})]
        path.chmod(0o644)  # nbgrader leaves autograded notebooks read-only
        nbformat.write(nb, path)
        path.chmod(0o444)


def scratch_course(dest: Path, with_solution_in_source: bool = False) -> Path:
    """
    A throw-away nbgrader course at ``dest`` (this repository's config and
    sources, an empty gradebook), for tests and benchmarks that must not add
    students to the instructor's gradebook. ``with_solution_in_source`` also
    puts the solution's hw/ into source/hw2, as an instructor might.
    """
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.copytree(REPO_ROOT / "source", dest / "source", ignore=ignore)
    shutil.copytree(REPO_ROOT / "hw", dest / "hw", ignore=ignore)
    if with_solution_in_source:
        shutil.copytree(dest / "hw", dest / "source" / ASSIGNMENT / "hw")
    return dest


def register_assignment(config):
    """
    Records the assignment and its graded cells in nbgrader's gradebook, as
    generate_assignment does, without touching release/ (a fresh clone has
    no gradebook.db, and autograde needs one). Returns a problem, or None.
    """
    with tempfile.TemporaryDirectory() as tmp:
        config = copy.deepcopy(config)
        config.CourseDirectory.release_directory = tmp
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        result = api.generate_assignment(ASSIGNMENT, force=True)
    if result["success"]:
        return None
    return f"nbgrader could not register {ASSIGNMENT} in its gradebook: {(result.get('error') or result['log'])[-800:]}"


def nbgrader_autograde(submissions, outcomes, execute: bool, course_root: Path = REPO_ROOT):
    """
    Puts the notebooks in nbgrader's submitted/ tree of ``course_root`` and
    autogrades them, so the manually graded answers appear in formgrader.
    Returns a problem description, or None.
    """
    submitted_root = course_root / "submitted"
    graded = []
    for sub in submissions:
        if sub.folder is None or not any(sub.folder.glob("*.ipynb")):
            continue
        dest = submitted_root / sub.student / ASSIGNMENT
        if dest.resolve() != sub.source.resolve():
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(sub.folder, dest)
        graded.append(sub)
    if not graded:
        return None
    # nbgrader's Python API, in this process: a command per student would
    # spend seconds importing nbgrader each time.
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    config.CourseDirectory.root = str(course_root)
    if not execute:
        config.Execute.enabled = False
        config.ClearOutput.enabled = False
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    registration_problem = register_assignment(config)
    if registration_problem:
        return registration_problem
    if execute:
        os.environ["HW_FAST"] = "1"  # the kernels inherit it
    problems = []
    for sub in graded:
        with warnings.catch_warnings():
            # nbgrader 0.9 with SQLAlchemy 2 warns on every new submission that an
            # autoflush skipped a relationship it adds explicitly right after.
            warnings.filterwarnings("ignore", message="Object of type .* not in session", category=SAWarning)
            result = api.autograde(ASSIGNMENT, sub.student, force=True, create=True)
        if not result["success"]:
            problems.append(f"{sub.student}: nbgrader autograde failed: {(result.get('error') or result['log'])[-500:]}")
            continue
        show_written_answers(course_root / "autograded" / sub.student / ASSIGNMENT, outcomes[sub.student].answers)
    return "\n".join(problems) or None


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
    return Settings(replace(base, seconds=seconds), level)


def _summary(outcome: Outcome, parts, reviews, settings: Settings):
    tests = apply_review(outcome.tests, outcome.flags, reviews.get(outcome.student))
    outcome.tests = tests
    extra = {
        "problem": outcome.problem,
        "isolation": outcome.isolation,
        "seconds": round(outcome.seconds, 1),
        "worker_seconds": outcome.worker_seconds,
        "time_budget": settings.budget.seconds,
    }
    return summary_of(outcome.student, tests, parts, outcome.flags, reviews.get(outcome.student), **extra)


def grade(
    paths,
    out: Path,
    jobs: int = 2,
    settings: Settings | None = None,
    execute: bool = False,
    progress=True,
    course_root: Path = REPO_ROOT,
):
    """
    Grades every submission under ``paths`` into ``out``; the notebooks go to
    the nbgrader course at ``course_root`` (its nbgrader_config.py, source/,
    submitted/, autograded/ and gradebook.db). ``settings`` default to
    ``grading_settings()``: the strongest isolation available and a
    calibrated time budget. Returns the outcomes, the parts and a list of
    problems (unreadable zips, nbgrader failures). Raises SubmissionError for
    a path that holds no submission.
    """
    out = Path(out)
    submissions = unique_students([s for p in paths for s in discover(p)])
    settings = settings or grading_settings(progress=progress)
    logs = out / ".logs"
    staging = out / ".staging"
    for folder in (logs, staging):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(staging, 0o700)

    catalog = suite_catalog()
    for sub in submissions:
        stage(sub, staging)

    # Each running suite holds a slot: with root, its worker runs as the slot's own uid.
    slots = queue.SimpleQueue()
    for slot in range(max(1, jobs)):
        slots.put(slot)
    answers = answer_names()

    def run_in_slot(sub):
        slot = slots.get()
        try:
            return run_suite(sub, catalog, logs, settings, answers, slot=slot)
        finally:
            slots.put(slot)

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(run_in_slot, sub) for sub in submissions]
            bar = tqdm(futures, desc="grading", unit="submission", disable=not progress)
            outcomes = [f.result() for f in bar]

        parts = sorted({t["part"] for t in catalog})
        reviews = load_reviews(out)
        for outcome in outcomes:
            write_student(out, _summary(outcome, parts, reviews, settings))
        write_gradebook(out)

        problems = [f"{o.student}: {o.problem}" for o in outcomes if o.problem]
        outcome_by_student = {o.student: o for o in outcomes}
        autograde_problem = nbgrader_autograde(submissions, outcome_by_student, execute, Path(course_root))
        if autograde_problem:
            problems.append(autograde_problem)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return outcomes, parts, problems
