"""
Written answers in gradebook.db after each autograde: an answer a student did
not give is scored 0 with a comment; an answer a TA graded keeps its grade while
its text is the same, and is marked for a new grade (with its old score said)
when it changed.
"""
import shutil

import pytest

from course import ASSIGNMENT, REPO_ROOT
from course.reports.nbgrader import CHANGED_ANSWER, NOT_ANSWERED, NbgraderCourse, scratch_course

RELEASE = REPO_ROOT / "release" / ASSIGNMENT


def summary(answers):
    """What course grade hands nbgrader: no hidden test ran here, only the written answers matter."""
    return {"parts": {}, "tests": [], "answers": answers}


def grade_of(course, name):
    with course.gradebook() as gb:
        for notebook in gb.find_submission(ASSIGNMENT, "ann").notebooks:
            for grade in notebook.grades:
                if grade.name == name:
                    comment = gb.find_comment(name, notebook.name, ASSIGNMENT, "ann")
                    return grade.manual_score, grade.needs_manual_grade, comment.manual_comment
    raise LookupError(name)


def ta_grades(course, name, score):
    """What formgrader's save does."""
    with course.gradebook() as gb:
        for notebook in gb.find_submission(ASSIGNMENT, "ann").notebooks:
            for grade in notebook.grades:
                if grade.name == name:
                    grade.manual_score, grade.needs_manual_grade = score, False
        gb.db.commit()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("answers")
    course = NbgraderCourse(scratch_course(root / "course"))
    folder = root / "ann"
    folder.mkdir()
    for notebook in RELEASE.glob("*.ipynb"):
        shutil.copy(notebook, folder)
    course.folder = folder
    return course


def autograde(course, answers, previous):
    problem, _ = course.autograde("ann", course.folder, summary(answers), previous)
    assert problem is None


NOT_GIVEN = "*Not answered: `part1_q1()` still raises NotImplementedError.*"


def test_an_answer_not_given_is_zero_until_it_is_given(course):
    first = {"part1_q1": NOT_GIVEN, "part1_q2": "Because the gradient flows."}
    autograde(course, first, None)
    assert grade_of(course, "part1_q1") == (0, False, NOT_ANSWERED)
    assert grade_of(course, "part1_q2")[:2] == (None, True), "a given answer waits for a TA"
    second = {"part1_q1": "Now I know.", "part1_q2": "Because the gradient flows."}
    autograde(course, second, first)
    assert grade_of(course, "part1_q1") == (None, True, None), "answered now: graded by a TA, not left at 0"


def test_a_graded_answer_keeps_its_grade_until_it_changes(course):
    answers = {"part1_q1": "Now I know.", "part1_q2": "Because the gradient flows."}
    autograde(course, answers, None)
    ta_grades(course, "part1_q2", 2.0)
    autograde(course, answers, answers)  # graded again, same answer (a late penalty recomputed, say)
    assert grade_of(course, "part1_q2")[:2] == (2.0, False)
    changed = dict(answers, part1_q2="Because of the chain rule, really.")
    autograde(course, changed, answers)
    score, needs_grade, comment = grade_of(course, "part1_q2")
    assert (score, needs_grade) == (2.0, True) and comment.startswith(CHANGED_ANSWER.format(score="2"))
    autograde(course, changed, changed)
    assert grade_of(course, "part1_q2")[2].count("changed since it was graded") == 1, "said once"
