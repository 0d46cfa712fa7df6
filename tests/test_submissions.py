"""Finding the submissions in what an instructor hands to `course grade`, and staging them."""
import zipfile

import pytest

from course import ASSIGNMENT
from course.submissions import Submission, SubmissionError, discover, stage, unique_students


def make_submission(folder):
    (folder / "hw").mkdir(parents=True)
    (folder / "hw" / "layers.py").write_text("# student code\n")
    return folder


def test_a_class_folder_may_mix_zips_nbgrader_folders_and_plain_folders(tmp_path):
    make_submission(tmp_path / "ann" / ASSIGNMENT)  # nbgrader's submitted/<student>/hw2
    make_submission(tmp_path / "ben")  # <student>/hw
    with zipfile.ZipFile(tmp_path / "cat.zip", "w") as zf:
        zf.writestr("hw/layers.py", "# student code\n")
    (tmp_path / "notes.txt").write_text("not a submission")
    found = {s.student: s.source for s in discover(tmp_path)}
    assert found == {"ann": tmp_path / "ann" / ASSIGNMENT, "ben": tmp_path / "ben", "cat": tmp_path / "cat.zip"}


def test_a_folder_without_submissions_says_what_it_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SubmissionError, match="<student>/hw/ folders, or .zip files"):
        discover(tmp_path)


@pytest.mark.parametrize("junk", [".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX/hw2/._layers.py"],
                         ids=["DS_Store", "Thumbs", "desktop-ini", "MACOSX"])  # fmt: skip
def test_files_the_operating_system_adds_do_not_hide_the_submission(tmp_path, junk):
    archive = tmp_path / "dan.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("hw2/hw/layers.py", "# student code\n")
        zf.writestr(junk, b"\0")
    sub = stage(Submission("dan", archive), tmp_path / "staging")
    assert sub.problem is None
    assert (sub.folder / "hw" / "layers.py").read_text() == "# student code\n"


def test_students_whose_names_clean_up_alike_are_told_apart_out_loud(tmp_path):
    said = []
    subs = unique_students([Submission("leo_m", tmp_path / "leo m.zip"), Submission("leo_m", tmp_path / "leo_m.zip")], said.append)
    assert [s.student for s in subs] == ["leo_m", "leo_m_2"]
    assert said == [f"{tmp_path / 'leo_m.zip'} is graded as student leo_m_2: {tmp_path / 'leo m.zip'} already has the id leo_m"]


def test_apple_double_files_are_not_students(tmp_path):
    for name in ("alice.zip", "._alice.zip"):
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            zf.writestr("hw/layers.py", "# student code\n")
    assert [(s.student, s.source.name) for s in discover(tmp_path)] == [("alice", "alice.zip")]


def test_a_folder_the_grader_does_not_understand_is_never_skipped_silently(tmp_path):
    make_submission(tmp_path / "ann")
    (tmp_path / "Bob_123_assignsubmission_file_").mkdir()
    with pytest.raises(SubmissionError, match="Bob_123_assignsubmission_file_ holds no submission"):
        discover(tmp_path)


@pytest.mark.parametrize("student", ["..", "", "/home", "a/b"])
def test_removing_refuses_what_is_not_a_student_id(tmp_path, student):
    from course.gradebook import remove_students

    (tmp_path / "submitted").mkdir()
    with pytest.raises(ValueError, match="not a student id"):
        remove_students([student], tmp_path, tmp_path / "grades")
    assert (tmp_path / "submitted").is_dir()


def test_notebooks_that_cannot_be_read_are_named_not_raised(tmp_path):
    from course.gradebook import unreadable_notebooks

    (tmp_path / "Part1_Backprop.ipynb").mkdir()
    (tmp_path / "Part2_Optimization.ipynb").write_text("[" * 200_000)
    (tmp_path / "Part3_Convolution.ipynb").write_text('{"nbformat": 99, "cells": []}')
    found = unreadable_notebooks(tmp_path)
    assert found["Part1_Backprop.ipynb"] == "it is a folder, not a notebook file"
    assert found["Part2_Optimization.ipynb"].startswith("it ")
    assert found["Part3_Convolution.ipynb"] == "it is not a Jupyter notebook (Unsupported nbformat version 99)"
