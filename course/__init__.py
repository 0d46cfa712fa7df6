"""Instructor tooling: release, assets, grading and validation of the homework."""
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "hw2"
# The hw/ modules a student writes, which the hidden suite imports; the rest of hw/ is the course's.
STUDENT_MODULES = ("hw.layers", "hw.optimizers", "hw.training", "hw.answers", "hw.cnn", "hw.classifier", "hw.experiments",
                   "hw.text", "hw.interpret")  # fmt: skip

# nbgrader runs `alembic` by name when it creates a gradebook, so the scripts
# next to this interpreter must be on PATH even when the virtual environment
# was not activated (`.venv/bin/course ...`).
_SCRIPTS = str(Path(sys.executable).parent)
if _SCRIPTS not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_SCRIPTS, os.environ.get("PATH", "")])
