"""The `course` command on good and bad paths."""
import csv
import json
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from course import ASSIGNMENT, REPO_ROOT
from course.authoring.examples import build_example, load_examples


def course(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, "-m", "course", *map(str, args)], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def solution_folder(tmp_path_factory):
    example = next(e for e in load_examples() if e.name == "solution")
    return build_example(example, tmp_path_factory.mktemp("solution") / "alice")


def zip_folder(folder, archive, prefix=""):
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + str(path.relative_to(folder)))
    return archive


def test_wrong_path_says_so_without_traceback(tmp_path):
    proc = course("grade", tmp_path / "nope", "--out", tmp_path / "grades")
    assert proc.returncode == 2
    assert "no such file or folder" in proc.stderr and "Traceback" not in proc.stderr


def test_folder_without_submissions(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = course("grade", tmp_path / "empty", "--out", tmp_path / "grades")
    assert proc.returncode == 2
    assert "found no submission" in proc.stderr and "Traceback" not in proc.stderr


def test_course_root_that_is_not_a_course(tmp_path, solution_folder):
    proc = course("grade", solution_folder, "--out", tmp_path / "grades", "--course-root", tmp_path)
    assert proc.returncode == 2
    assert "is not an nbgrader course folder" in proc.stderr and "Traceback" not in proc.stderr


def test_folder_of_zips_with_a_malformed_one(tmp_path, solution_folder, course_root):
    zips = tmp_path / "zips"
    zips.mkdir()
    zip_folder(solution_folder, zips / "bob.zip", prefix="hw2-bob/")  # wrapped in a top-level folder
    with zipfile.ZipFile(zips / "bob.zip", "a") as zf:  # with what macOS's Finder adds beside it
        zf.writestr(".DS_Store", b"\0\0\0\1Bud1")
        zf.writestr("__MACOSX/hw2-bob/._README.md", b"")
    (zips / "carol.zip").write_bytes(b"this is not a zip file")
    evil = zips / "mallory.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escaped.py", "print('outside')")
    proc = course("grade", zips, "--out", tmp_path / "grades", "--course-root", course_root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "carol: carol.zip: not a readable zip file" in proc.stderr
    assert "mallory: mallory.zip: refuses to unpack '../../escaped.py'" in proc.stderr
    assert not (tmp_path / "escaped.py").exists()
    with open(tmp_path / "grades" / "gradebook.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert rows["bob"]["total"] == rows["bob"]["max"], "the well-formed zip gets full marks"
    for student, reason in (("carol", "not a readable zip file"), ("mallory", "refuses to unpack")):
        assert rows[student]["total"] == "" and reason in rows[student]["problem"], "a problem, not a grade of 0"


def test_single_submission_folder(tmp_path, solution_folder, course_root):
    proc = course("grade", solution_folder, "--out", tmp_path / "grades", "--course-root", course_root)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "grades" / "alice" / "feedback.html").exists()


def grade_one(tmp_path, folder, course_root):
    out = tmp_path / "grades"
    proc = course("grade", folder, "--out", out, "--course-root", course_root)
    assert "Traceback" not in proc.stderr
    with open(out / "gradebook.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return proc, rows, out


def test_unreadable_notebook_is_one_clear_note(tmp_path, solution_folder, course_root):
    """A notebook that cannot be read costs nothing: the released one stands in, and the TA and the student are told."""
    folder = tmp_path / "dora"
    shutil.copytree(solution_folder, folder)
    (folder / "Part2_Optimization.ipynb").write_text('{"cells": [ this is not JSON')
    proc, rows, out = grade_one(tmp_path, folder, course_root)
    assert proc.returncode == 0, proc.stderr
    said = "Part2_Optimization.ipynb could not be read: it is not valid JSON (Expecting value at line 1, column 13; " \
           "was it cut short?)"
    notes = [line for line in proc.stderr.splitlines() if line.startswith("dora: ")]
    assert notes == [f"dora: note: {said}; the released notebook stands in for it (answers are read from "
                     "hw/answers.py)"], proc.stderr  # fmt: skip
    assert rows["dora"]["problem"] == "" and rows["dora"]["notes"] == f"{said}, answers read from hw/answers.py"
    assert rows["dora"]["total"] == rows["dora"]["max"], "its hw/ is still graded"
    feedback = (out / "dora" / "feedback.html").read_text()
    assert feedback.count("Part2_Optimization.ipynb</code> could not be read") == 1 and "Nothing is lost" in feedback
    # Every notebook reaches formgrader: the broken one as released, with the answers from hw/answers.py.
    autograded = course_root / "autograded" / "dora" / ASSIGNMENT
    assert sorted(p.name for p in autograded.glob("*.ipynb")) == sorted(p.name for p in solution_folder.glob("*.ipynb"))

    # A trial submission is taken out of the course again.
    assert list((out / ".logs").glob("dora.*"))
    proc = course("remove", "dora", "nobody", "--out", out, "--course-root", course_root)
    assert proc.returncode == 0 and "Removed 1 student" in proc.stdout and "Not found: nobody" in proc.stderr
    assert not (out / "dora").exists() and not (course_root / "submitted" / "dora").exists()
    assert not list((out / ".logs").glob("dora.*")), "what the grader logged for dora goes too"
    with open(out / "gradebook.csv") as f:
        assert "dora" not in {row["student"] for row in csv.DictReader(f)}
    from course.reports.nbgrader import NbgraderCourse

    with NbgraderCourse(course_root).gradebook() as gb:
        assert "dora" not in {s.id for s in gb.students}


def test_submission_without_hw_is_one_clear_line(tmp_path, solution_folder, course_root):
    folder = tmp_path / "eve"
    folder.mkdir()
    for notebook in solution_folder.glob("*.ipynb"):
        shutil.copyfile(notebook, folder / notebook.name)
    proc, rows, out = grade_one(tmp_path, folder, course_root)
    assert proc.returncode == 1
    problems = [line for line in proc.stderr.splitlines() if line.startswith("eve: ")]
    assert len(problems) == 1 and "it has no hw/ folder" in problems[0], proc.stderr
    assert rows["eve"]["total"] == "" and "it has no hw/ folder" in rows["eve"]["problem"]
    feedback = (out / "eve" / "feedback.html").read_text()
    assert feedback.count("it has no hw/ folder") == 1, "said once, not on every check"


def test_every_command_answers_a_bad_path_at_once(tmp_path):
    """The command line imports nothing heavy before it has checked its arguments."""
    for args in (["grade", tmp_path / "nope"], ["roster", tmp_path / "nope.csv"], ["export", "--course-root", tmp_path],
                 ["remove", "ann", "--course-root", tmp_path], ["export", "--out", tmp_path / "nope"]):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "course", *map(str, args)], cwd=REPO_ROOT,
                              capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-500:]
        heavy = [m for m in ("torch", "nbgrader", "nbformat", "jinja2") if re.search(rf"\|\s+{m}$", proc.stderr, re.M)]
        assert not heavy, f"course {args[0]} imports {heavy} before it checks its arguments"


def test_every_command_says_what_it_reads_and_writes():
    for command in ("release", "assets", "grade", "demo", "review", "export", "roster", "remove", "validate"):
        help_text = course(command, "--help").stdout
        assert "Reads" in help_text or "Writes" in help_text, f"course {command} --help: {help_text[:300]}"


@pytest.mark.parametrize("option, value, said", [("--jobs", "0", "0 is not a number above zero"), ("--jobs", "-3", "-3 is not a number above zero"),
                                                 ("--time-budget", "-5", "-5 is not a number above zero"), ("--time-budget", "nan", "nan is not a number above zero"),
                                                 ("--memory-mib", "lots", "'lots' is not a whole number")])  # fmt: skip
def test_numbers_that_make_no_sense_are_refused(tmp_path, option, value, said):
    proc = course("grade", tmp_path, option, value)
    assert proc.returncode == 2 and f"argument {option}: {said}" in proc.stderr, proc.stderr


def test_a_malformed_folder_or_a_shared_id_is_one_students_problem_and_the_class_is_graded(tmp_path, solution_folder, course_root):
    """
    nia's folder is nested a level too deep (read as a zip would be), omar's holds no homework, two zips clean up to
    the id leo_m, and pia's folder has a zip beside it: each is a problem of its own, and the rest is graded.
    """
    cls = tmp_path / "class"
    shutil.copytree(solution_folder, cls / "nia" / ASSIGNMENT / ASSIGNMENT)
    (cls / "omar").mkdir(parents=True)
    (cls / "omar" / "notes.txt").write_text("the homework is on my other laptop")
    for name in ("leo m.zip", "leo_m.zip", "pia.zip"):
        zip_folder(solution_folder, cls / name)
    (cls / "pia" / "hw").mkdir(parents=True)
    proc, rows, out = grade_one(tmp_path, cls, course_root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert rows["nia"]["total"] == rows["nia"]["max"] and rows["nia"]["problem"] == "", "graded, not refused"
    said = {s: [line for line in proc.stderr.splitlines() if line.startswith(f"{s}: ")] for s in ("omar", "leo_m", "pia")}
    assert len(said["omar"]) == 1 and "omar/ holds no submission" in said["omar"][0] and "notes.txt" in said["omar"][0]
    assert len(said["leo_m"]) == 1 and "'leo m.zip'" in said["leo_m"][0] and "leo_m.zip" in said["leo_m"][0]
    assert len(said["pia"]) == 1 and "pia/" in said["pia"][0] and "pia.zip" in said["pia"][0]
    assert not [s for s in rows if s.startswith(("leo_m_", "pia_"))], "no id is guessed"
    for student in ("omar", "leo_m", "pia"):
        assert rows[student]["total"] == "" and rows[student]["problem"], "a problem, not a grade"
        assert json.loads((out / student / "results.json").read_text())["score"] == 0
        assert "could not be graded" in (out / student / "feedback.html").read_text()
        assert not (course_root / "submitted" / student / ASSIGNMENT).exists(), "no notebook of theirs reaches formgrader"
