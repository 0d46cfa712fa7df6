import os
import shutil

import pytest

from course import ASSIGNMENT, REPO_ROOT
from course.examples import build_all
from course.grade import grade


@pytest.fixture(scope="session")
def course_root(tmp_path_factory):
    """
    A scratch nbgrader course (config, sources, fresh gradebook), so the tests
    never add students to the instructor's gradebook. Its source folder also
    holds a copy of the solution's hw/, as an instructor might keep one there:
    autograde must still leave every student's hw/*.py alone.
    """
    root = tmp_path_factory.mktemp("course")
    shutil.copyfile(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO_ROOT / "source", root / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(REPO_ROOT / "hw", root / "hw", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root / "hw", root / "source" / ASSIGNMENT / "hw")
    return root


@pytest.fixture(scope="session")
def graded_examples(tmp_path_factory, course_root):
    """Every bundled example graded once: (examples by name, outcomes by student, output folder)."""
    root = tmp_path_factory.mktemp("examples")
    os.chmod(root, 0o755)
    examples = build_all(root / "submitted")
    out = root / "grades"
    outcomes, parts, problems = grade([root / "submitted"], out, jobs=2, progress=False, course_root=course_root)
    assert problems == []
    return {e.name: e for e in examples}, {o.student: o for o in outcomes}, out


DISTINCTIVE = ("def test_", "worker.call(", "check_close(", "check_equal(", "def layer_pass", "PROBES = {")


@pytest.fixture(scope="session")
def hidden_sources():
    """Lines of the hidden suite that could only come from it."""
    lines = set()
    for path in (REPO_ROOT / "autograder").glob("*.py"):
        lines |= {line.strip() for line in path.read_text().splitlines() if any(d in line for d in DISTINCTIVE)}
    assert len(lines) > 20
    return lines
