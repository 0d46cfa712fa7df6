"""
Deadlines: a due date kept in gradebook.db, extensions per student, the time a
submission was handed in (a CSV, the zip's files, a folder's files), lateness in
the gradebook, the feedback and the export, and nbgrader's own late penalty.
"""
import csv
import datetime
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course import ASSIGNMENT, REPO_ROOT
from course.grading.deadlines import DeadlineError, Deadlines, files_time, parse_time, read_extensions, read_times
from course.records.folder import describe_duration, late_note
from course.reports.nbgrader import NbgraderCourse, scratch_course
from course.grading.submissions import Submission

UTC = datetime.timezone.utc
DUE = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_times_are_read_with_their_zone_or_this_machines():
    assert parse_time("2026-12-01T23:59+01:00", "--due") == datetime.datetime(2026, 12, 1, 22, 59, tzinfo=UTC)
    assert parse_time("2026-12-01 12:00Z", "--due") == DUE
    local = parse_time("2026-12-01 12:00", "--due")
    assert local.tzinfo is not None and local.replace(tzinfo=None) == datetime.datetime(2026, 12, 1, 12, 0)
    with pytest.raises(DeadlineError, match="--due: 'next friday' is not a time"):
        parse_time("next friday", "--due")


def test_extensions_and_times_come_from_csv_files(tmp_path):
    extensions = tmp_path / "extensions.csv"
    extensions.write_text("\ufeffstudent,hours\nann,24\nben.x,1.5\n", encoding="utf-8")  # Excel's BOM, an odd id
    assert read_extensions(extensions) == {"ann": datetime.timedelta(hours=24), "ben_x": datetime.timedelta(hours=1.5)}
    extensions.write_text("student,hours\nann,two\n")
    with pytest.raises(DeadlineError, match="line 2: hours 'two' is not a number"):
        read_extensions(extensions)
    extensions.write_text("name,days\nann,2\n")
    with pytest.raises(DeadlineError, match="need the columns student, hours"):
        read_extensions(extensions)
    times = tmp_path / "times.csv"
    times.write_text("student,submitted\nann,2026-12-01T13:30:00+00:00\n")
    assert read_times(times) == {"ann": datetime.datetime(2026, 12, 1, 13, 30, tzinfo=UTC)}


def test_a_zip_is_as_late_as_its_newest_graded_file(tmp_path):
    archive = tmp_path / "ann.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(zipfile.ZipInfo("ann/hw/layers.py", (2026, 12, 1, 10, 0, 0)), "x = 1\n")
        z.writestr(zipfile.ZipInfo("ann/Part1_Backprop.ipynb", (2026, 12, 1, 11, 0, 0)), "{}")
        # a virtual environment zipped later does not make the homework late
        z.writestr(zipfile.ZipInfo("ann/.venv/lib/site.py", (2026, 12, 5, 0, 0, 0)), "")
        z.writestr(zipfile.ZipInfo("ann/notes.txt", (2026, 12, 6, 0, 0, 0)), "")
    when, how = files_time(Submission("ann", archive))
    assert when.replace(tzinfo=None) == datetime.datetime(2026, 12, 1, 11, 0) and how == "the newest file in the zip"


def test_a_folder_is_as_late_as_its_newest_graded_file(tmp_path):
    (tmp_path / "ann" / "hw").mkdir(parents=True)
    (tmp_path / "ann" / "hw" / "layers.py").write_text("x = 1\n")
    (tmp_path / "ann" / "results.txt").write_text("later\n")
    stamp = datetime.datetime(2026, 12, 1, 10, 0).timestamp()
    os.utime(tmp_path / "ann" / "hw" / "layers.py", (stamp, stamp))
    when, how = files_time(Submission("ann", tmp_path / "ann"))
    assert when.timestamp() == stamp and how == "the newest file's time"


def test_lateness_counts_the_extension():
    late = Submission("ann", Path("/nowhere"))
    deadlines = Deadlines(due=DUE, extensions={"ann": datetime.timedelta(hours=2)},
                          times={"ann": DUE + datetime.timedelta(hours=3, minutes=20)})  # fmt: skip
    fields = deadlines.lateness(late)
    assert fields["late_seconds"] == 80 * 60 and fields["extension_hours"] == 2
    assert late_note(fields) == "1 h 20 min late (extension 2 h)"
    assert late_note(Deadlines(due=DUE, times={"ann": DUE}).lateness(late)) == "on time"
    assert late_note(Deadlines(times={"ann": DUE}).lateness(late)) == "", "without a due date nothing is late"
    assert [describe_duration(s) for s in (40, 720, 3600, 90000)] == ["40 s", "12 min", "1 h", "1 d 1 h"]


@pytest.fixture(scope="module")
def late_class(tmp_path_factory):
    """Two release stubs graded with a due date: carl 22 h late, dana on time with an extension of 1 h."""
    root = tmp_path_factory.mktemp("deadlines")
    course = scratch_course(root / "course")
    for student, stamp in (("carl", "2026-12-02 10:00"), ("dana", "2026-12-01 12:30")):
        folder = root / "submitted" / student
        shutil.copytree(REPO_ROOT / "release" / ASSIGNMENT / "hw", folder / "hw", ignore=shutil.ignore_patterns("__pycache__"))
        seconds = datetime.datetime.fromisoformat(stamp + "+00:00").timestamp()
        for path in (folder / "hw").glob("*.py"):
            os.utime(path, (seconds, seconds))
    (root / "extensions.csv").write_text("student,hours\ndana,1\n")
    out = root / "grades"
    grade = [sys.executable, "-m", "course", "grade", root / "submitted", "--out", out, "--course-root", course,
             "--time-budget", "120", "--due", "2026-12-01T12:00+00:00", "--extensions", root / "extensions.csv"]  # fmt: skip
    proc = subprocess.run([str(a) for a in grade], capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, course, out, grade


def rows(path):
    with open(path, newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def test_lateness_is_in_the_gradebook_the_feedback_and_nbgrader(late_class):
    _, course, out, _ = late_class
    gradebook = rows(out / "gradebook.csv")
    assert gradebook["carl"]["late"] == "22 h late" and gradebook["dana"]["late"] == "on time (extension 1 h)"
    results = json.loads((out / "carl" / "results.json").read_text())
    assert results["late_seconds"] == 22 * 3600 and results["submitted_from"] == "the newest file's time"
    feedback = (out / "carl" / "feedback.html").read_text()
    assert "Handed in:</strong> 2026-12-02 10:00:00+00:00" in feedback and "22 h late" in feedback
    with NbgraderCourse(course).gradebook() as gb:
        assert gb.find_assignment(ASSIGNMENT).duedate == datetime.datetime(2026, 12, 1, 12, 0)
        assert gb.find_submission(ASSIGNMENT, "carl").total_seconds_late == 22 * 3600
        dana = gb.find_submission(ASSIGNMENT, "dana")
        assert dana.extension == datetime.timedelta(hours=1) and dana.total_seconds_late == 0


def test_the_export_shows_lateness_and_subtracts_nbgraders_penalty(late_class):
    root, course, out, _ = late_class
    with NbgraderCourse(course).gradebook() as gb:  # what LateSubmissionPlugin's "zero" method would have set
        notebook = gb.find_submission(ASSIGNMENT, "carl").notebooks[0]
        notebook.late_submission_penalty = 3.0
        gb.db.commit()
    try:
        proc = subprocess.run([sys.executable, "-m", "course", "export", "--out", str(out), "--course-root", str(course)],
                              capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        export = rows(out / "export.csv")
        assert export["carl"]["late"] == "22 h late" and export["carl"]["submitted"] == "2026-12-02 10:00:00 UTC"
        assert float(export["carl"]["late_penalty"]) == 3 and float(export["carl"]["total"]) == -3
        assert float(export["dana"]["late_penalty"]) == 0 and export["dana"]["late"] == "on time (extension 1 h)"
    finally:
        with NbgraderCourse(course).gradebook() as gb:
            gb.find_submission(ASSIGNMENT, "carl").notebooks[0].late_submission_penalty = None
            gb.db.commit()


def test_a_new_extension_changes_lateness_without_grading_again(late_class):
    root, course, out, grade = late_class
    (root / "extensions.csv").write_text("student,hours\ndana,1\ncarl,24\n")
    again = [str(a) for a in grade if str(a) not in ("--due", "2026-12-01T12:00+00:00")]  # the due date is kept
    proc = subprocess.run(again, capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Graded now: 0" in proc.stdout and "lateness updated (due date, extension or submission time changed): carl" in proc.stdout
    assert rows(out / "gradebook.csv")["carl"]["late"] == "on time (extension 1 d)"
    with NbgraderCourse(course).gradebook() as gb:
        assert gb.find_submission(ASSIGNMENT, "carl").total_seconds_late == 0


def test_a_tas_override_in_formgrader_is_the_grade_everywhere(late_class):
    """gradebook.db is the one source of points: a TA's score of a hidden-tests cell reaches gradebook.csv and the feedback."""
    _, course, out, _ = late_class
    with NbgraderCourse(course).gradebook() as gb:
        grade = gb.find_grade("hidden_tests_part1", "Part1_Backprop", ASSIGNMENT, "carl")
        grade.manual_score = 5.0  # as formgrader's save does
        gb.db.commit()
    proc = subprocess.run([sys.executable, "-m", "course", "export", "--out", str(out), "--course-root", str(course)],
                          capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    assert proc.returncode == 0 and "now in gradebook.csv and the feedback: carl" in proc.stdout, proc.stdout + proc.stderr
    assert rows(out / "gradebook.csv")["carl"]["part1"] == "5.0" and rows(out / "gradebook.csv")["carl"]["total"] == "5.0"
    assert rows(out / "export.csv")["carl"]["hidden part1"] == "5"
    feedback = (out / "carl" / "feedback.html").read_text()
    assert "set by the course staff (the hidden tests gave 0)" in feedback
    results = json.loads((out / "carl" / "results.json").read_text())
    assert results["parts"]["part1"]["score"] == 0 and results["overrides"]["part1"] == {"score": 5.0, "suite": 0}


def test_feedback_goes_back_with_the_written_answers_grades(late_class):
    """course feedback: a page per student with the staff's grades and comments, lateness, and one zip of them."""
    _, course, out, _ = late_class
    with NbgraderCourse(course).gradebook() as gb:
        grade = gb.find_grade("part1_q1", "Part1_Backprop", ASSIGNMENT, "dana")
        grade.manual_score, grade.needs_manual_grade = 1.0, False
        gb.find_comment("part1_q1", "Part1_Backprop", ASSIGNMENT, "dana").manual_comment = "Half right: <see the notes>"
        gb.db.commit()
    proc = subprocess.run([sys.executable, "-m", "course", "feedback", "--out", str(out), "--course-root", str(course)],
                          capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
    assert proc.returncode == 0 and "Wrote the feedback of 2 students" in proc.stdout, proc.stdout + proc.stderr
    page = (out / f"feedback-{ASSIGNMENT}" / "dana.html").read_text()
    assert "<h2>Written answers</h2>" in page and "Half right: &lt;see the notes&gt;" in page, "the comment, escaped"
    assert "1 / " in page and "Not answered: scored 0 automatically." in page and "on time (extension 1 h)" in page
    with zipfile.ZipFile(out / f"feedback-{ASSIGNMENT}.zip") as bundle:
        assert sorted(bundle.namelist()) == ["carl.html", "dana.html"]
        assert bundle.read("dana.html").decode() == page


def test_the_course_has_its_own_exchange(late_class):
    """formgrader's Release, Collect and Release Feedback need nbgrader's exchange: the course's config makes one."""
    _, course, _, _ = late_class
    api = NbgraderCourse(course).api
    assert not api.exchange_missing and api.exchange_is_functional
    assert Path(api.exchange_root) == course / "exchange"


def test_lateness_from_the_students_own_file_times_is_named():
    from course.grading.deadlines import dated_by_own_files, FROM_TIMES_CSV

    summaries = {"ann": {"late_seconds": 0.0, "submitted_from": "the newest file in the zip"},
                 "ben": {"late_seconds": 60.0, "submitted_from": FROM_TIMES_CSV},
                 "cat": {"submitted_from": "the newest file's time"}}  # fmt: skip  (no due date: no lateness)
    assert dated_by_own_files(summaries) == ["ann"]
