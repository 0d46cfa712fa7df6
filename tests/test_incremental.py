"""
Grades are never lost: each student is saved the moment they are graded, a run
killed half-way loses only the students in flight, the next run continues,
and grading one late submission leaves every other row of the gradebook.
"""
import csv
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course import REPO_ROOT
from course.authoring.examples import build_example, load_examples
from course.reports.nbgrader import scratch_course

STUDENTS = ["ann", "ben", "cat"]


def gradebook(out):
    if not (out / "gradebook.csv").exists():
        return {}
    with open(out / "gradebook.csv") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def completed(out):
    """Students whose results are completely recorded (the fingerprint is written last)."""
    done = []
    for path in sorted(out.glob("*/results.json")):
        if "fingerprint" in json.loads(path.read_text()):
            done.append(path.parent.name)
    return done


def processes_mentioning(text):
    """Processes whose command line or open files mention ``text`` (a suite forked by the grader has its log open)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            mentions = [(proc / "cmdline").read_bytes().decode(errors="replace")]
            mentions += [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:
            continue
        if any(text in mention for mention in mentions):
            pids.append(int(proc.name))
    return pids


def grading_command(submitted, out, course, *extra):
    command = [sys.executable, "-m", "course", "grade", submitted, "--out", out, "--course-root", course, "--jobs", "1", *extra]
    return [str(c) for c in command]


def start_grading(submitted, out, course, *extra):
    """A grading run in the background."""
    return subprocess.Popen(grading_command(submitted, out, course, *extra), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def run_grading(submitted, out, course, *extra):
    """A grading run to its end."""
    return subprocess.run(grading_command(submitted, out, course, *extra), cwd=REPO_ROOT, capture_output=True, text=True)


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def class_of_three(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    os.chmod(root, 0o755)
    examples = {e.name: e for e in load_examples()}
    for student, example in zip(STUDENTS, ["solution", "leaky_relu_backward", "momentum_sign"]):
        build_example(examples[example], root / "submitted" / student / "hw2")
    return root, scratch_course(root / "course")


def test_a_killed_run_loses_only_students_in_flight_and_the_next_continues(class_of_three):
    root, course = class_of_three
    out = root / "grades"
    grader = start_grading(root / "submitted", out, course)
    try:
        assert wait_for(lambda: completed(out), 300), "no student was graded"
        grader.kill()  # SIGKILL: no clean-up of its own
        grader.wait()
    finally:
        grader.kill()
    done = completed(out)
    assert 1 <= len(done) < len(STUDENTS)
    # The CSV follows the results at most a few seconds behind; it never holds a student graded half-way.
    assert set(gradebook(out)) <= set(done)
    for path in out.glob("*/results.json"):
        json.loads(path.read_text())  # whole, never half-written
    assert wait_for(lambda: not processes_mentioning(str(out)), 10), "a hidden suite outlived the killed grader"

    # Ctrl-C on the next run: it stops cleanly and keeps what it finished.
    grader = start_grading(root / "submitted", out, course)
    try:
        assert wait_for(lambda: len(completed(out)) > len(done) or grader.poll() is not None, 300)
        grader.send_signal(signal.SIGINT)
        _, stderr = grader.communicate(timeout=60)
    finally:
        grader.kill()
    if grader.returncode == 130:  # it was still grading when interrupted
        assert "every student graded so far is saved" in stderr and "Traceback" not in stderr
    assert wait_for(lambda: not processes_mentioning(str(out)), 10), "a hidden suite outlived the interrupted grader"

    # The next run grades only what is left.
    before = {s: (out / s / "results.json").stat().st_mtime_ns for s in completed(out)}
    proc = run_grading(root / "submitted", out, course)
    assert proc.returncode == 0, proc.stderr
    assert f"Not graded again (same submission, suite and budget; --force regrades): {len(before)} student" in proc.stdout
    assert {s: (out / s / "results.json").stat().st_mtime_ns for s in before} == before, "finished students were regraded"
    rows = gradebook(out)
    assert set(rows) == set(STUDENTS), "every student graded before the kill is in the gradebook"
    assert rows["ann"]["total"] == rows["ann"]["max"] and int(rows["ben"]["total"]) < int(rows["ben"]["max"])


def test_one_late_submission_adds_one_row(class_of_three, tmp_path):
    root, course = class_of_three
    out = root / "grades"
    if set(gradebook(out)) != set(STUDENTS):
        pytest.skip("needs the class graded by the test above")
    rows_before = gradebook(out)
    late = build_example(next(e for e in load_examples() if e.name == "release"), tmp_path / "dan")
    proc = run_grading(late, out, course)
    assert proc.returncode == 0, proc.stderr
    rows = gradebook(out)
    assert set(rows) == {*STUDENTS, "dan"} and rows["dan"]["total"] == "0"
    assert {s: rows[s] for s in STUDENTS} == rows_before, "the other rows are untouched"
    # The class-wide files cover the whole class, not only this run's student.
    similarity = (out / "similarity.html").read_text()
    assert all(f"<td>{s}</td>" in similarity for s in [*STUDENTS, "dan"]), "every pair of the four is compared"
    assert "Most similar:" in proc.stdout
    assert re.search(r"Students graded</td><td[^>]*>4<", (out / "class.html").read_text())


def test_a_student_graded_into_another_folder_is_put_back(class_of_three, tmp_path):
    """Every --out shares the course's gradebook.db: a re-run restores what another folder replaced there."""
    from course.reports.nbgrader import NbgraderCourse

    root, course = class_of_three
    out = root / "grades"
    if "ann" not in completed(out):
        pytest.skip("needs the class graded by the tests above")
    ann = json.loads((out / "ann" / "results.json").read_text())
    trial = build_example(next(e for e in load_examples() if e.name == "release"), tmp_path / "ann")
    proc = run_grading(trial, tmp_path / "trial-grades", course)
    assert proc.returncode == 0, proc.stderr
    assert not NbgraderCourse(course).agrees("ann", ann, None), "the trial run replaced ann's scores"

    proc = run_grading(root / "submitted", out, course)
    assert proc.returncode == 0, proc.stderr
    assert "put back into gradebook.db (another grading folder had replaced them): ann" in proc.stdout
    assert NbgraderCourse(course).agrees("ann", ann, root / "submitted" / "ann" / "hw2")


def test_a_second_run_into_the_same_folder_is_refused(class_of_three, tmp_path):
    root, course = class_of_three
    out = tmp_path / "grades"
    first = start_grading(root / "submitted", out, course, "--force")
    try:
        assert wait_for(lambda: (out / ".grading.lock").exists() and (out / ".grading.lock").read_text(), 120)
        second = run_grading(root / "submitted", out, course)
        assert second.returncode == 2 and f"pid {first.pid}" in second.stderr, second.stderr
        assert "is being graded by another `course grade`" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.kill()
        first.wait()
    assert wait_for(lambda: not processes_mentioning(str(out)), 10), "a hidden suite outlived the killed grader"
    with open(out / ".grading.lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the killed run's lock went with it: the next run may grade


@pytest.mark.parametrize("spelling", [{"time_budget": 600}, {"time_budget": 600.0, "memory_bytes": float(6 << 30)}],
                         ids=["int-seconds", "float-bytes"])  # fmt: skip
def test_a_budget_is_the_same_however_its_numbers_are_written(spelling):
    """`--time-budget 600` (a float) after grading with time_budget=600 (an int) grades nobody again."""
    from course.grading.suite import grading_settings, suite_fingerprint

    written = grading_settings(progress=False, **spelling)
    canonical = grading_settings(time_budget=600.0, memory_bytes=6 << 30, progress=False)
    assert suite_fingerprint(written) == suite_fingerprint(canonical), (written.budget, canonical.budget)
