"""
``course grade``: the hidden suite for every submission, then nbgrader for the written answers.

For each student it writes ``<out>/<student>/results.json`` and
``<out>/<student>/feedback.html``, and for the class ``<out>/gradebook.csv``.
What the hidden suite and the submission printed goes to ``<out>/.logs/``,
which is for staff only.
"""
import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from tqdm import tqdm
from traitlets.config.loader import PyFileConfigLoader

from course import ASSIGNMENT, REPO_ROOT
from course.feedback import write_feedback
from course.release import source_notebooks
from course.submissions import Submission, discover, stage

AUTOGRADER = REPO_ROOT / "autograder"
SUITE_TIMEOUT = 30 * 60  # seconds for one student's whole hidden suite


@dataclass
class Outcome:
    student: str
    tests: list = field(default_factory=list)
    answers: dict = field(default_factory=dict)  # answer function -> Markdown, for formgrader
    problem: str | None = None  # why the submission could not be graded at all

    def points(self, part=None):
        return sum(t["points"] for t in self.tests if part in (None, t["part"]))

    def max_points(self, part=None):
        return sum(t["max_points"] for t in self.tests if part in (None, t["part"]))

    @property
    def harness_errors(self):
        return [t for t in self.tests if t.get("harness_error")]


def suite_catalog():
    """Every hidden test with its part and points, as the solution would report them."""
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "catalog.json"
        proc = _pytest(["--collect-only", "--results", str(results)])
        if proc.returncode != 0 or not results.exists():
            raise RuntimeError(f"the hidden suite does not collect:\n{proc.stdout}{proc.stderr}")
        return json.loads(results.read_text())["tests"]


def _pytest(args, timeout=None):
    command = [sys.executable, "-m", "pytest", "-c", str(AUTOGRADER / "pytest.ini"), str(AUTOGRADER), "-q", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


def run_suite(submission: Submission, catalog, logs: Path, probe_timeout: float, answers=()) -> Outcome:
    """Runs the hidden suite on one staged submission; never raises."""
    outcome = Outcome(submission.student)
    if submission.problem:
        outcome.problem = submission.problem
        outcome.tests = [dict(t, passed=False, points=0, message=submission.problem) for t in catalog]
        return outcome
    results = logs / f"{submission.student}.results.json"
    results.unlink(missing_ok=True)
    args = [
        "--submission", str(submission.folder),
        "--results", str(results),
        "--worker-log", str(logs / f"{submission.student}.worker.log"),
        "--probe-timeout", str(probe_timeout),
        "--answers", ",".join(answers),
    ]  # fmt: skip
    try:
        proc = _pytest(args, timeout=SUITE_TIMEOUT)
        (logs / f"{submission.student}.pytest.log").write_text(proc.stdout + proc.stderr)
    except subprocess.TimeoutExpired:
        pass
    reported = json.loads(results.read_text()) if results.exists() else {"tests": [], "answers": {}}
    outcome.answers = reported["answers"]
    by_name = {t["name"]: t for t in reported["tests"]}
    for test in catalog:
        ran = by_name.get(test["name"])
        if ran is None or ran.get("not_run"):
            ran = dict(test, passed=False, points=0, message="grading stopped before this test ran")
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


def write_gradebook(outcomes, parts, path: Path):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *parts, "total", "max"])
        for o in outcomes:
            writer.writerow([o.student, *(o.points(p) for p in parts), o.points(), o.max_points()])


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
                cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": text, "text/plain": text})]
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


def grade(
    paths,
    out: Path,
    jobs: int = 2,
    probe_timeout: float = 10.0,
    execute: bool = False,
    progress=True,
    course_root: Path = REPO_ROOT,
):
    """
    Grades every submission under ``paths`` into ``out``; the notebooks go to
    the nbgrader course at ``course_root`` (its nbgrader_config.py, source/,
    submitted/, autograded/ and gradebook.db). Returns the outcomes, the
    parts and a list of problems (unreadable zips, nbgrader failures).
    Raises SubmissionError for a path that holds no submission.
    """
    out = Path(out)
    submissions = unique_students([s for p in paths for s in discover(p)])
    logs = out / ".logs"
    staging = out / ".staging"
    for folder in (logs, staging):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(staging, 0o755)

    catalog = suite_catalog()
    for sub in submissions:
        stage(sub, staging)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        answers = answer_names()
        futures = [pool.submit(run_suite, sub, catalog, logs, probe_timeout, answers) for sub in submissions]
        bar = tqdm(futures, desc="grading", unit="submission", disable=not progress)
        outcomes = [f.result() for f in bar]

    parts = sorted({t["part"] for t in catalog})
    for outcome in outcomes:
        folder = out / outcome.student
        folder.mkdir(parents=True, exist_ok=True)
        summary = {
            "student": outcome.student,
            "score": outcome.points(),
            "max_score": outcome.max_points(),
            "parts": {p: {"score": outcome.points(p), "max_score": outcome.max_points(p)} for p in parts},
            "problem": outcome.problem,
            "tests": [
                {k: t[k] for k in ("name", "part", "description", "points", "max_points", "passed", "message")}
                for t in outcome.tests
            ],
        }
        (folder / "results.json").write_text(json.dumps(summary, indent=2))
        write_feedback(summary, folder / "feedback.html")
    write_gradebook(outcomes, parts, out / "gradebook.csv")

    problems = [f"{o.student}: {o.problem}" for o in outcomes if o.problem]
    autograde_problem = nbgrader_autograde(submissions, {o.student: o for o in outcomes}, execute, Path(course_root))
    if autograde_problem:
        problems.append(autograde_problem)
    shutil.rmtree(staging)
    return outcomes, parts, problems
