"""Finding the submissions in what an instructor hands to `course grade`, and staging them."""
import re
import zipfile

import pytest

from course import ASSIGNMENT
from course.grading.submissions import Submission, SubmissionError, discover, stage, unique_students


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


def test_an_id_two_submissions_would_share_is_a_problem_for_both(tmp_path):
    """Never a silent rename (leo_m_2): which one is leo_m's cannot be guessed, so neither is graded as leo_m."""
    for name in ("leo m.zip", "leo_m.zip", "ann.zip"):
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            zf.writestr("hw/layers.py", "# student code\n")
    subs = unique_students(discover(tmp_path))
    assert sorted(s.student for s in subs) == ["ann", "leo_m"], "one record for the shared id, none under a guessed one"
    (leo,) = [s for s in subs if s.student == "leo_m"]
    assert "2 submissions would share the student id leo_m" in leo.problem
    assert "'leo m.zip'" in leo.problem and "leo_m.zip" in leo.problem and "none of them was graded" in leo.problem
    stage(leo, tmp_path / "staging")
    assert leo.folder is None and not (tmp_path / "staging" / "leo_m").exists(), "nothing of either is staged"
    (ann,) = [s for s in subs if s.student == "ann"]
    assert stage(ann, tmp_path / "staging").problem is None, "the rest of the class is graded"


def test_a_zip_named_like_another_students_folder_does_not_take_over_the_id(tmp_path):
    make_submission(tmp_path / "alice")
    with zipfile.ZipFile(tmp_path / "alice.zip", "w") as zf:
        zf.writestr("hw/layers.py", "# someone else's code\n")
    with zipfile.ZipFile(tmp_path / "Bob.zip", "w") as zf:  # ids that differ only in case share a folder on macOS
        zf.writestr("hw/layers.py", "# student code\n")
    make_submission(tmp_path / "bob")
    make_submission(tmp_path / "cat")
    subs = {s.student: s for s in unique_students(discover(tmp_path))}
    assert sorted(subs) == ["Bob", "alice", "bob", "cat"]
    assert "alice/" in subs["alice"].problem and "alice.zip" in subs["alice"].problem
    assert subs["Bob"].problem == subs["bob"].problem and "Bob / bob" in subs["bob"].problem
    assert subs["cat"].problem is None


def test_a_malformed_student_folder_is_that_students_problem(tmp_path):
    make_submission(tmp_path / "ann")
    (tmp_path / "Bob_123_assignsubmission_file_").mkdir()
    (tmp_path / "Bob_123_assignsubmission_file_" / "notes.txt").write_text("my homework is on my laptop")
    (tmp_path / "dan.rar").write_bytes(b"Rar!")
    subs = {s.student: s for s in discover(tmp_path)}
    assert subs["ann"].problem is None
    assert subs["Bob_123_assignsubmission_file"].problem == (
        "Bob_123_assignsubmission_file_/ holds no submission (expected hw/, hw2/ with hw/ inside, notebooks or one .zip; "
        "found: notes.txt)")  # fmt: skip
    assert "dan.rar is an archive the grader does not read" in subs["dan"].problem


# Layouts students hand in: each is found the same way in a folder, in a zip and on Gradescope (course.grading.submissions.locate).
LAYOUTS = {
    "hw": "hw/layers.py",
    "assignment": f"{ASSIGNMENT}/hw/layers.py",
    "nested_a_level_too_deep": f"{ASSIGNMENT}/{ASSIGNMENT}/hw/layers.py",
    "wrapped_in_a_folder": "carl-hw2/hw/layers.py",
    "wrapped_twice": f"Downloads/carl-hw2/{ASSIGNMENT}/hw/layers.py",
}


def _write_layout(folder, path, junk=True):
    (folder / path).parent.mkdir(parents=True, exist_ok=True)
    (folder / path).write_text("# student code\n")
    if junk:
        (folder / ".DS_Store").write_bytes(b"\0")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_folders_zips_and_gradescope_accept_the_same_layouts(tmp_path, layout):
    from course.grading.gradescope import find_submission

    cls = tmp_path / "class"
    _write_layout(cls / "carl", LAYOUTS[layout])
    make_submission(cls / "ann")
    with zipfile.ZipFile(cls / "dora.zip", "w") as zf:
        zf.writestr(LAYOUTS[layout], "# student code\n")
    upload = tmp_path / "gradescope" / "submission"
    _write_layout(upload, LAYOUTS[layout])
    subs = {s.student: s for s in discover(cls)}
    assert sorted(subs) == ["ann", "carl", "dora"]
    staged = [stage(subs[name], tmp_path / "staging") for name in ("carl", "dora")]
    staged.append(find_submission(upload, tmp_path / "gradescope" / "staging"))
    for sub in staged:
        assert sub.problem is None, (sub.source, sub.problem)
        assert (sub.folder / "hw" / "layers.py").read_text() == "# student code\n"


def test_a_folder_holding_one_zip_is_graded_as_its_zip(tmp_path):
    make_submission(tmp_path / "ann")
    (tmp_path / "Bob_123_assignsubmission_file_").mkdir()  # Moodle's download: a folder per student with their file
    with zipfile.ZipFile(tmp_path / "Bob_123_assignsubmission_file_" / "hw2.zip", "w") as zf:
        zf.writestr("hw2/hw/layers.py", "# student code\n")
    sub = next(s for s in discover(tmp_path) if s.student.startswith("Bob"))
    assert stage(sub, tmp_path / "staging").problem is None
    assert (sub.folder / "hw" / "layers.py").exists()


def test_a_submission_wrapped_too_deep_says_so(tmp_path):
    make_submission(tmp_path / "ann")
    make_submission(tmp_path / "bob" / "a" / "b" / "c" / "d" / "e")
    (bob,) = [s for s in discover(tmp_path) if s.student == "bob"]
    assert bob.problem == "bob/ wraps its hw/ in more than 4 folders"


def test_student_ids_are_bounded_and_never_start_with_a_dash():
    from course.grading.submissions import MAX_ID_CHARS, student_id

    assert student_id("--rm -rf") == "rm_-rf"
    assert student_id("=HYPERLINK(x)") == "HYPERLINK_x"
    assert len(student_id("a" * 300)) == MAX_ID_CHARS
    assert student_id("...") == "unnamed"


def test_names_in_other_scripts_are_different_students():
    """Two names that differ only in letters outside ASCII never share an id (a run cannot see an earlier run's name)."""
    from course.grading.submissions import student_id

    names = ["张伟", "李娜", "José", "Josè", "Jose\u0301", "müller", "Müller", "Ελένη", "Алёна"]
    ids = {name: student_id(name) for name in names}
    assert ids["José"] == ids["Jose\u0301"], "the same name, composed or not, is one student"
    assert len({ids[n] for n in names if n != "Jose\u0301"}) == len(names) - 1, ids
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", i) for i in ids.values()), ids


def test_apple_double_files_are_not_students(tmp_path):
    for name in ("alice.zip", "._alice.zip"):
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            zf.writestr("hw/layers.py", "# student code\n")
    assert [(s.student, s.source.name) for s in discover(tmp_path)] == [("alice", "alice.zip")]


def test_a_folder_with_no_submission_at_all_is_refused_with_what_it_holds(tmp_path):
    (tmp_path / "Bob_123_assignsubmission_file_").mkdir()  # the wrong folder given: the class is not graded as problems
    with pytest.raises(SubmissionError, match="Bob_123_assignsubmission_file_/ holds no submission"):
        discover(tmp_path)


@pytest.mark.parametrize("student", ["..", "", "/home", "a/b"])
def test_removing_refuses_what_is_not_a_student_id(tmp_path, student):
    from course.reports.nbgrader import remove_students

    (tmp_path / "submitted").mkdir()
    with pytest.raises(ValueError, match="not a student id"):
        remove_students([student], tmp_path, tmp_path / "grades")
    assert (tmp_path / "submitted").is_dir()


def test_notebooks_that_cannot_be_read_are_named_not_raised(tmp_path):
    from course.reports.nbgrader import unreadable_notebooks

    (tmp_path / "Part1_Backprop.ipynb").mkdir()
    (tmp_path / "Part2_Optimization.ipynb").write_text("[" * 200_000)
    (tmp_path / "Part3_Convolution.ipynb").write_text('{"nbformat": 99, "cells": []}')
    found = unreadable_notebooks(tmp_path)
    assert found["Part1_Backprop.ipynb"] == "it is a folder, not a notebook file"
    assert found["Part2_Optimization.ipynb"].startswith("it ")
    assert found["Part3_Convolution.ipynb"] == "it is not a Jupyter notebook (Unsupported nbformat version 99)"


def fill_as_a_student_does(write):
    """A homework folder as students leave it: a virtual environment, data, results and a checkpoint beside hw/."""
    write("hw/layers.py", "# student code\n")
    write("hw/__pycache__/layers.cpython-311.pyc", b"\0")
    write("Part1_Backprop.ipynb", "{}")
    write(".ipynb_checkpoints/Part1_Backprop-checkpoint.ipynb", "{}")
    for i in range(2500):  # more files than a submission may hold: all in the environment
        write(f".venv/lib/python3.11/site-packages/pkg/m{i}.py", "")
    write("data/cifar-10-batches-py/data_batch_1", b"\0" * (1 << 20))
    write("results/run_L2_K32.json", "{}")
    write("checkpoint.pt", b"\0")


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "zip"])
def test_environments_data_and_results_are_skipped_and_listed(tmp_path, packed):
    """The grader reads hw/ and the notebooks: what else a student's folder holds is no reason to refuse it."""
    if packed:
        source = tmp_path / "eve.zip"
        with zipfile.ZipFile(source, "w") as zf:
            fill_as_a_student_does(lambda name, data: zf.writestr(f"{ASSIGNMENT}/{name}", data))
    else:
        source = tmp_path / "eve"

        def write(name, data):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes(data.encode() if isinstance(data, str) else data)

        fill_as_a_student_does(write)
    sub = stage(Submission("eve", source), tmp_path / "staging")
    assert sub.problem is None
    assert sub.skipped == [".venv/", "checkpoint.pt", "data/", "results/"]
    staged = sorted(p.relative_to(sub.folder).as_posix() for p in sub.folder.rglob("*") if p.is_file())
    assert staged == ["Part1_Backprop.ipynb", "hw/layers.py"]


@pytest.mark.parametrize("count, size, said", [(2001, 1, "more than 2000 files"), (1, 201 << 20, "more than 200 MiB")],
                         ids=["files", "bytes"])  # fmt: skip
def test_a_limit_says_which_limit(tmp_path, count, size, said):
    folder = tmp_path / "fay"
    (folder / "hw").mkdir(parents=True)
    for i in range(count):
        with open(folder / "hw" / f"f{i}.txt", "wb") as f:
            f.truncate(size)  # sparse: nothing written
    sub = stage(Submission("fay", folder), tmp_path / "staging")
    assert sub.problem == f"fay/: hw/ and the notebooks hold {said}"


def test_a_zip_windows_powershell_made_is_read(tmp_path):
    """PowerShell 5.1's Compress-Archive separates folders with backslashes."""
    with zipfile.ZipFile(tmp_path / "gus.zip", "w") as zf:
        zf.writestr(f"{ASSIGNMENT}\\hw\\layers.py", "# student code\n")
        zf.writestr(f"{ASSIGNMENT}\\Part1_Backprop.ipynb", "{}")
    sub = stage(Submission("gus", tmp_path / "gus.zip"), tmp_path / "staging")
    assert sub.problem is None
    assert (sub.folder / "hw" / "layers.py").read_text() == "# student code\n"


def _patched_zip(path, patch):
    """A zip of one module whose headers ``patch(data, local_header_offset, central_header_offset)`` edits."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{ASSIGNMENT}/hw/layers\u00e9.py", "# student code\n")
    data = bytearray(path.read_bytes())
    patch(data, data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02"))
    path.write_bytes(bytes(data))


def _invalid_utf8_name(data, local, central):
    data[:] = data.replace("\u00e9".encode(), b"\xff\xff")


def _encrypted(data, local, central):
    data[local + 6] |= 1
    data[central + 8] |= 1


def _deflate64(data, local, central):
    data[local + 8] = data[central + 10] = 9


@pytest.mark.parametrize("patch, said", [
    (_invalid_utf8_name, "a file name in it is not valid UTF-8"),
    (_encrypted, "password-protected"),
    (_deflate64, "compressed with a method the grader cannot read"),
], ids=["name-not-utf8", "encrypted", "deflate64"])  # fmt: skip
def test_a_zip_the_grader_cannot_unpack_is_that_students_problem(tmp_path, patch, said):
    cls = tmp_path / "class"
    make_submission(cls / "ann")
    cls.mkdir(exist_ok=True)
    _patched_zip(cls / "hal.zip", patch)
    subs = {s.student: stage(s, tmp_path / "staging") for s in discover(cls)}
    assert subs["ann"].problem is None
    assert subs["hal"].problem.startswith("hal.zip: ") and said in subs["hal"].problem, subs["hal"].problem
