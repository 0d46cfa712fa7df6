"""The `course` command on good and bad paths."""
import csv
import subprocess
import sys
import zipfile

import pytest

from course import REPO_ROOT
from course.examples import build_example, load_examples


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
    assert rows["carol"]["total"] == "0" and rows["mallory"]["total"] == "0"


def test_single_submission_folder(tmp_path, solution_folder, course_root):
    proc = course("grade", solution_folder, "--out", tmp_path / "grades", "--course-root", course_root)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "grades" / "alice" / "feedback.html").exists()
