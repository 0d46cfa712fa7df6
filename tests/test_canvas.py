"""
Canvas in and out: its gradebook export is a roster, its bulk-download file
names are students, and canvas.csv says whom Canvas cannot match.
"""
from pathlib import Path

import pytest

from course.reports.nbgrader import NbgraderCourse, canvas_students, import_roster, scratch_course
from course.grading.submissions import Submission, student_id

# Canvas's gradebook export (Grades > Export > Export Entire Gradebook), as it downloads: a BOM, a "Points Possible"
# row, the Test Student, a student without an SIS User ID.
CANVAS_EXPORT = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Homework 1 (1201)\n"
    "    Points Possible,,,,,100\n"
    '"Doe, Jane",4567,s1234567,jane.doe@uni.edu,CS 101,88\n'
    '"van Rossum, Guido",4568,s7654321,gvr,CS 101,\n'
    '"Lee, Kim",4569,,kim.lee@uni.edu,CS 101,\n'
    '"Student, Test",4999,,,CS 101,\n'
)


@pytest.fixture()
def course(tmp_path):
    root = scratch_course(tmp_path / "course")
    NbgraderCourse(root).register()
    roster = tmp_path / "canvas.csv"
    roster.write_text(CANVAS_EXPORT, encoding="utf-8")
    assert import_roster(roster, root) == 3
    return root


def test_canvas_gradebook_export_is_a_roster(course):
    with NbgraderCourse(course).gradebook() as gb:
        students = {s.id: (s.first_name, s.last_name, s.email, s.lms_user_id) for s in gb.students}
    assert students == {
        "s1234567": ("Jane", "Doe", "jane.doe@uni.edu", "4567"),
        "s7654321": ("Guido", "van Rossum", None, "4568"),  # a login that is not an e-mail is not one
        student_id("kim.lee@uni.edu"): ("Kim", "Lee", "kim.lee@uni.edu", "4569"),  # no SIS User ID: the login
    }


def test_bulk_download_names_are_the_rostered_students(course):
    names = ["doejane_LATE_4567_1234567_Part1-hw2-1", "vanrossumguido_4568_1234568_hw2", "smithjo_4600_1234569_hw2",
             "alice"]  # fmt: skip
    submissions = [Submission(student_id(name), Path(f"/downloads/{name}.zip")) for name in names]
    unknown = canvas_students(submissions, course)
    assert [s.student for s in submissions] == ["s1234567", "s7654321", "smithjo_4600_1234569_hw2", "alice"]
    assert unknown == ["smithjo_4600_1234569_hw2"], "a Canvas name whose id is not on the roster is said"
