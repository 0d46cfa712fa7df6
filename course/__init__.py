"""Instructor tooling: release, assets, grading and validation of the homework."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "hw2"
