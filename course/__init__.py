"""Instructor tooling: release, assets, grading and validation of the homework."""
import os
import sys
from pathlib import Path

from hw.policy import STUDENT_FILES

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "hw2"
# The reference tensors that the visible and the hidden tests compare with (course.authoring.assets makes them).
ASSETS_DIR = REPO_ROOT / "tests" / "assets"
# The hw/ modules a student writes, which the hidden suite imports; the rest of hw/ is the course's (hw/policy.py).
STUDENT_MODULES = tuple(f"hw.{name.removesuffix('.py')}" for name in STUDENT_FILES)


def source_notebooks(root: Path = REPO_ROOT):
    """The instructor's notebooks (with solutions), from which nbgrader makes the students'."""
    return sorted((root / "source" / ASSIGNMENT).glob("*.ipynb"))

# nbgrader runs `alembic` by name when it creates a gradebook, so the scripts
# next to this interpreter must be on PATH even when the virtual environment
# was not activated (`.venv/bin/course ...`).
_SCRIPTS = str(Path(sys.executable).parent)
if _SCRIPTS not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_SCRIPTS, os.environ.get("PATH", "")])
