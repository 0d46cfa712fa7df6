"""
``course grade``: the hidden suite for every submission, then nbgrader for the written answers.

For each student it writes ``<out>/<student>/results.json`` and
``<out>/<student>/feedback.html``, and for the class ``<out>/gradebook.csv``.
What the hidden suite and the submission printed goes to ``<out>/.logs/``,
which is for staff only.
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from course import ASSIGNMENT, REPO_ROOT
from course.feedback import write_feedback
from course.sandbox import ProbeError, Worker
from course.submissions import Submission, discover, stage

AUTOGRADER = REPO_ROOT / "autograder"
SUITE_TIMEOUT = 30 * 60  # seconds for one student's whole hidden suite


@dataclass
class Outcome:
    student: str
    tests: list = field(default_factory=list)
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


def run_suite(submission: Submission, catalog, logs: Path, probe_timeout: float) -> Outcome:
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
    ]  # fmt: skip
    try:
        proc = _pytest(args, timeout=SUITE_TIMEOUT)
        (logs / f"{submission.student}.pytest.log").write_text(proc.stdout + proc.stderr)
        reported = json.loads(results.read_text())["tests"] if results.exists() else []
    except subprocess.TimeoutExpired:
        reported = json.loads(results.read_text())["tests"] if results.exists() else []
    by_name = {t["name"]: t for t in reported}
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


def show_written_answers(folder: Path, probe_timeout: float):
    """
    Writes the text of each answer in the submission's hw/answers.py into
    the output of the notebook cell that displays it, so formgrader shows
    the submitted answers whether or not the student ran that cell. The
    answers are read in the sandboxed worker, like everything a submission runs.
    """
    notebooks = {path: nbformat.read(path, as_version=4) for path in sorted(folder.glob("*.ipynb"))}
    cells = [
        (cell, match.group(1))
        for nb in notebooks.values()
        for cell in nb.cells
        if cell.cell_type == "code" and (match := ANSWER_CELL.search(cell.source))
    ]
    if not cells:
        return
    try:
        with Worker(folder, AUTOGRADER / "probes.py", modules=("hw.answers",), timeout=probe_timeout) as worker:
            answers = worker.call("written_answers", names=sorted({name for _, name in cells}))
    except ProbeError as exc:
        answers = {name: f"*The answers could not be read: {exc}*" for _, name in cells}
    for cell, name in cells:
        text = answers[name]
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": text, "text/plain": text})]
    for path, nb in notebooks.items():
        nbformat.write(nb, path)


def nbgrader_autograde(submissions, execute: bool, probe_timeout: float):
    """
    Puts the notebooks in nbgrader's submitted/ tree and autogrades them, so
    the manually graded answers appear in formgrader. Returns a problem
    description, or None.
    """
    submitted_root = REPO_ROOT / "submitted"
    graded = []
    for sub in submissions:
        if sub.folder is None or not any(sub.folder.glob("*.ipynb")):
            continue
        if not execute:
            try:
                show_written_answers(sub.folder, probe_timeout)
            except Exception as exc:  # noqa: BLE001 - a malformed notebook; nbgrader reports it below
                print(f"{sub.student}: could not show the written answers ({type(exc).__name__}: {exc})", file=sys.stderr)
        dest = submitted_root / sub.student / ASSIGNMENT
        if dest.resolve() != sub.source.resolve():
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(sub.folder, dest)
        graded.append(sub.student)
    if not graded:
        return None
    args = ["autograde", ASSIGNMENT, "--force", "--log-level=WARN"]
    if not execute:
        args.append("--no-execute")
    env = dict(os.environ, HW_FAST="1")
    problems = []
    for student in graded:
        proc = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args, "--student", student],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode != 0:
            problems.append(f"{student}: nbgrader autograde failed: {(proc.stdout + proc.stderr).strip()[-500:]}")
    return "\n".join(problems) or None


def grade(paths, out: Path, jobs: int = 2, probe_timeout: float = 10.0, execute: bool = False, progress=True):
    """
    Grades every submission under ``paths`` into ``out``. Returns the outcomes
    and a list of problems with the inputs (unreadable zips and the like).
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
        futures = [pool.submit(run_suite, sub, catalog, logs, probe_timeout) for sub in submissions]
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
    autograde_problem = nbgrader_autograde(submissions, execute, probe_timeout)
    if autograde_problem:
        problems.append(autograde_problem)
    shutil.rmtree(staging)
    return outcomes, parts, problems
