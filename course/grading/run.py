"""
``course grade``: the hidden suite for every submission, then nbgrader for the written answers.

For each student it writes ``<out>/<student>/results.json`` and
``<out>/<student>/feedback.html``, and for the class ``<out>/gradebook.csv``.
What the hidden suite and the submission printed goes to ``<out>/.logs/``,
which is for staff only.
"""
import contextlib
import fcntl
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from course import REPO_ROOT
from course.grading import cluster
from course.grading.deadlines import Deadlines, LATENESS_FIELDS
from course.grading.submissions import Submission, discover, stage, unique_students
from course.grading.suite import (Outcome, Settings, code_fingerprint, grading_settings, local_outcomes, submission_fingerprint,
                                  suite_catalog, suite_fingerprint)
from course.records.folder import load_reviews, read_summary, write_gradebook, write_graded_code
from course.records.review import apply_review, record_overrides, summary_of
from course.reports.class_report import write_class_report
from course.reports.feedback import write_feedback, write_student

CSV_INTERVAL = 10.0  # seconds between rebuilds of gradebook.csv during a run (and once at its end, however it ends)


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
    ``jobs`` at a time here (see course.grading.cluster); recording stays here.
    ``deadlines``: a due date (kept in gradebook.db for the next runs: None
    keeps the one there), extensions and submission times (course.grading.deadlines);
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
    from course.reports.nbgrader import canvas_students

    found = [s for p in paths for s in discover(p)]
    for name in canvas_students(found, Path(course_root)):  # Canvas's bulk-download names: the roster says whose
        report(f"{name}: a file of Canvas's bulk download whose Canvas ID is not on the roster (course roster with "
               "Canvas's gradebook export): graded under its file name")  # fmt: skip
    submissions = unique_students(found, report)
    settings = settings or grading_settings(progress=progress)
    catalog = suite_catalog()
    # nbgrader's stack is imported only here: a machine that runs suites alone (a Dask worker, Gradescope) needs none of it.
    from course.reports.nbgrader import NbgraderCourse, answer_names, hidden_cells_problem, part_titles

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
            graded = local_outcomes(subs, catalog, logs, settings, answers, jobs)
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
        write_feedback(out, run.summaries[student])
        run.overridden.append(student)
    write_class_report(out)
    run.summaries = {student: run.summaries[student] for student in sorted(run.summaries)}
    return run


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

