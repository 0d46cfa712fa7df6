import multiprocessing.util
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from course import REPO_ROOT
from course.grading.secret import SECRET_ENV

# The repository's own tests grade with a fixed course secret (course.grading.secret), so that the held-out images and the
# hidden tests' inputs are the same in every run; a real course makes a random one (the solution scored 237/237
# under three other secrets, each drawing other inputs and held-out images).
os.environ.setdefault(SECRET_ENV, "the repository's tests")
from course.authoring.examples import build_all
from course.grading.run import grade
from course.reports.nbgrader import scratch_course


# `python3 bootstrap.py test` runs the suite on several processes (pytest-xdist). Every module's tests stay on one
# process, so that a fixture the module shares is built once; the three modules that share the graded examples stay
# together for the same reason, and each red team level is a group of its own. The groups that take longest start
# first, so that the others fill the time around them. (xdist's own --dist=loadgroup relies on a pytest internal
# that pytest 9 renamed, so the grouping is this scheduler's.)
SHARING_GRADED_EXAMPLES = {"test_grading.py", "test_class_report.py", "test_cluster.py"}
# The two red team levels do not start together: their hanging attacks would hold every core between them.
# Each source notebook is a group of its own, so that the long ones can run on different processes.
LONGEST_FIRST = ["redteam-bubblewrap", "graded-examples", "redteam-uid", "notebook-Part5_Experiments.ipynb",
                 "notebook-Part2_Optimization.ipynb", "test_incremental.py", "test_term.py", "test_cli.py", "test_gradescope.py",
                 "notebook-Part3_Convolution.ipynb", "test_review.py"]  # fmt: skip


def test_group(nodeid: str) -> str:
    """'tests/test_redteam.py::test_x[uid-name]' -> 'redteam-uid'; 'tests/test_cli.py::test_y' -> 'test_cli.py'."""
    path, _, test = nodeid.partition("::")
    module = Path(path).name
    if module in SHARING_GRADED_EXAMPLES:
        return "graded-examples"
    if module == "test_redteam.py" and "[" in test:  # the level is the first parameter: [bubblewrap-cpu_burner]
        return "redteam-" + test.split("[", 1)[1].rstrip("]").split("-", 1)[0]
    if module == "test_notebooks.py" and "[" in test:  # test_source_notebook_executes[Part5_Experiments.ipynb]
        return "notebook-" + test.split("[", 1)[1].rstrip("]")
    return module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return test_group(nodeid)

    config.option.loadscopereorder = False  # the collection's order (below), not the groups' sizes
    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        group = test_group(item.nodeid)
        return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: within a group, the collection's order


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


@pytest.fixture(scope="session")
def own_grader_temp():
    """``with own_grader_temp() as folder:`` (see _own_grader_temp)."""
    return _own_grader_temp


@contextmanager
def _own_grader_temp():
    """
    A temporary folder of the grader's own while the block runs (where its
    suites' scratch folders go), so that a test can check that nothing was
    left behind without taking the scratch folders of another test grading
    at the same time for leftovers. Like the system's temporary folder, a
    sandbox's uid may pass through it.
    """
    # multiprocessing's own folder (the suites' fork server listens there) lives as long as this process: made here,
    # before the block, it is not taken for something a suite left behind.
    multiprocessing.util.get_temp_dir()
    folder = Path(tempfile.mkdtemp(prefix="hw-test-temp-"))
    folder.chmod(0o711)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(tempfile, "tempdir", str(folder))
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
