"""The student release: in sync, deterministic, importable, and free of solutions and hidden tests."""
import re
import subprocess
import sys

import nbformat
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

from course import ASSIGNMENT, REPO_ROOT
from course.reports.nbgrader import scratch_course
from course.authoring.strip import BEGIN, END
from course.authoring.validate import check_release, tree_differences
from course.authoring.release import release_dir


def test_release_builds_byte_identical_twice():
    """Built twice in a row from a copy of the sources, the release is release/ byte for byte, and git has release/."""
    ok, detail = check_release(builds=2)
    assert ok, detail
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "release"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert status.stdout == "", f"release/ is not committed as `course release` builds it:\n{status.stdout}"


def test_formgrader_generate_builds_the_complete_release(tmp_path, monkeypatch):
    """
    formgrader's Generate and Preview buttons call NbGraderAPI.generate_assignment
    (nbgrader alone writes only the notebooks): the release it builds must be
    the one `course release` builds, hw/, assets and README included.
    """
    root = scratch_course(tmp_path / "course")
    (root / "release" / ASSIGNMENT).mkdir(parents=True)
    (root / "release" / ASSIGNMENT / "stale.txt").write_text("from an earlier release")
    monkeypatch.chdir(tmp_path)  # the Jupyter server runs wherever it was started
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.generate_assignment(ASSIGNMENT)
    assert result["success"], result.get("error") or result["log"]
    assert tree_differences(release_dir(), root / "release" / ASSIGNMENT) == []


def test_release_has_no_solutions():
    for path in release_dir().rglob("*"):
        if path.suffix in {".py", ".ipynb", ".md"}:
            text = path.read_text()
            assert BEGIN not in text and END not in text, f"{path} contains solution markers"
    layers = (release_dir() / "hw" / "layers.py").read_text()
    assert "self.dw += dout.T @ x" not in layers, "a solution line leaked into the release"
    assert layers.count("raise NotImplementedError()") >= 15


def test_release_has_no_hidden_tests(hidden_sources):
    assert not (release_dir() / "autograder").exists()
    for path in release_dir().rglob("*"):
        if path.suffix in {".py", ".ipynb", ".md", ".yml"}:
            text = path.read_text()
            leaked = [line for line in hidden_sources if line in text]
            assert not leaked, f"{path} contains hidden-suite source: {leaked[:3]}"


def test_release_package_imports_and_raises():
    code = (
        "import sys; sys.path.insert(0, '.')\n"
        "import hw.layers as L, hw.answers as A, hw.grad_compare\n"
        "assert '/release/' in L.__file__, L.__file__\n"
        "try:\n    L.ReLU()\nexcept NotImplementedError:\n    print('stub')\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", code], cwd=release_dir(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "stub"


def test_release_notebooks_are_nbgrader_tagged():
    nb = nbformat.read(release_dir() / "Part1_Backprop.ipynb", as_version=4)
    tasks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("task")]
    assert [(c.metadata.nbgrader.grade_id, c.metadata.nbgrader.points) for c in tasks] == [
        ("part1_q1", 4), ("part1_q2", 2), ("hidden_tests_part1", 47)]
    assert all(c.metadata.get("nbgrader", {}).get("locked") for c in nb.cells)


# What a student has is the release alone: its text never speaks of where the content came from.
PROVENANCE = [
    r"\bseeds? ?\d{3}\b",  # the source homeworks' numbering
    r"\b(cs ?231n|stanford|technion|deep learning course|236781)\b",
    r"\bbench/",  # the repository's benchmarks
    r"\bpyproject\b",
    r"\.\./shared|DESIGN\.md|REFERENCES\.md",
    r"\bautograder/|\bexamples/submissions",  # the hidden suite and its examples
]


def test_release_never_speaks_of_where_it_came_from():
    found = []
    for path in sorted(release_dir().rglob("*")):
        if path.is_file() and path.suffix in {".py", ".ipynb", ".md", ".yml", ".txt"}:
            for number, line in enumerate(path.read_text().splitlines(), 1):
                found += [f"{path.relative_to(release_dir())}:{number}: {line.strip()[:120]}"
                          for pattern in PROVENANCE if re.search(pattern, line, re.I)]  # fmt: skip
    assert not found, "the release mentions things a student does not have:\n" + "\n".join(found)
