"""
The bundled example submissions, built from the current sources.

Each ``examples/submissions/<name>/submission.toml`` names a base (``solution``:
the instructor's ``hw/``; ``release``: the stripped student ``hw/``), the
edits that turn it into a realistic submission (each ``old`` text must occur
exactly once, so an edit can never silently stop applying), whether the
grader must flag it for staff review (``flagged``), and the hidden tests the
example is expected to fail: ``expect_failed`` lists test names (or
is "all"), ``expect_failed_parts`` names parts whose every test must fail
(a module that does not import breaks its part, not the others). Building them from the sources keeps
them in step with the homework as it grows.
"""
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from course import ASSIGNMENT, REPO_ROOT

EXAMPLES_DIR = REPO_ROOT / "examples" / "submissions"
ALL_TESTS = "all"


@dataclass
class Example:
    name: str
    description: str
    base: str
    edits: list
    expect_failed: list | str  # test names, or "all"
    expect_failed_parts: list  # parts, e.g. ["part1"], every test of which must fail
    flagged: bool = False  # the grader must flag it for staff review (its passed tests are withheld)


def load_examples(directory: Path = EXAMPLES_DIR):
    examples = []
    for spec in sorted(directory.glob("*/submission.toml")):
        data = tomllib.loads(spec.read_text())
        examples.append(
            Example(
                name=spec.parent.name,
                description=data["description"],
                base=data["base"],
                edits=data.get("edit", []),
                expect_failed=data.get("expect_failed", []),
                expect_failed_parts=data.get("expect_failed_parts", []),
                flagged=data.get("flagged", False),
            )
        )
    return examples


def build_example(example: Example, dest: Path, root: Path = REPO_ROOT) -> Path:
    """Writes the example as a student's folder (notebooks + hw/) at dest and returns it."""
    release = root / "release" / ASSIGNMENT
    package = {"solution": root / "hw", "release": release / "hw"}[example.base]
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for notebook in sorted(release.glob("*.ipynb")):
        shutil.copyfile(notebook, dest / notebook.name)
    shutil.copytree(package, dest / "hw", ignore=shutil.ignore_patterns("__pycache__"))
    for edit in example.edits:
        path = dest / edit["file"]
        text = path.read_text()
        count = text.count(edit["old"])
        if count != 1:
            raise ValueError(
                f"example {example.name}: the text to replace occurs {count} times in {edit['file']}, "
                f"expected exactly once; update examples/submissions/{example.name}/submission.toml"
            )
        path.write_text(text.replace(edit["old"], edit["new"]))
    return dest


def build_all(dest_root: Path, root: Path = REPO_ROOT):
    """Builds every example as an nbgrader submitted tree: dest_root/<name>/hw2/."""
    examples = load_examples(root / "examples" / "submissions")
    for example in examples:
        build_example(example, dest_root / example.name / ASSIGNMENT, root)
    return examples
