import os

import pytest

from course import REPO_ROOT
from course.examples import build_all
from course.grade import grade
from course.gradebook import scratch_course


@pytest.fixture(scope="session")
def course_root(tmp_path_factory):
    """
    A scratch nbgrader course, so the tests never add students to the
    instructor's gradebook. Its source folder also holds the solution's hw/:
    autograde must still leave every student's hw/*.py alone.
    """
    return scratch_course(tmp_path_factory.mktemp("course"), with_solution_in_source=True)


@pytest.fixture(scope="session")
def graded_examples(tmp_path_factory, course_root):
    """Every bundled example graded once: (examples by name, outcomes by student, output folder)."""
    root = tmp_path_factory.mktemp("examples")
    os.chmod(root, 0o755)
    examples = build_all(root / "submitted")
    out = root / "grades"
    run = grade([root / "submitted"], out, jobs=2, progress=False, course_root=course_root)
    assert run.problems == []
    return {e.name: e for e in examples}, {o.student: o for o in run.outcomes}, out


DISTINCTIVE = ("def test_", "worker.call(", "check_close(", "check_equal(", "def layer_pass", "PROBES = {")


@pytest.fixture(scope="session")
def hidden_sources():
    """Lines of the hidden suite that could only come from it."""
    lines = set()
    for path in (REPO_ROOT / "autograder").glob("*.py"):
        lines |= {line.strip() for line in path.read_text().splitlines() if any(d in line for d in DISTINCTIVE)}
    assert len(lines) > 20
    return lines
