"""
``course validate``: the gate that proves the assignment is sound.

1. ``release/`` is what ``course release`` builds from the current sources;
2. ``tests/assets`` are what ``course assets`` builds from the solution;
3. the solution scores the maximum and the untouched release scores 0, both
   without a single grader error;
4. every source notebook executes top to bottom on the solution in fast mode.
"""
import filecmp
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from course import ASSIGNMENT, REPO_ROOT
from course.assets import stale_assets
from course.examples import build_example, load_examples
from course.grade import grading_settings, run_suite, suite_catalog
from course.release import build_release, release_dir, source_notebooks
from course.submissions import discover, stage

RELEASE_INPUTS = ["hw", "source", "tests/assets", "environment.yml", "nbgrader_config.py"]


def tree_differences(expected: Path, actual: Path):
    """Relative paths that are missing, extra or different between two trees."""
    def files(root):
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}

    want, have = files(expected), files(actual)
    diffs = [f"missing {p}" for p in sorted(want - have)] + [f"unexpected {p}" for p in sorted(have - want)]
    diffs += [f"differs {p}" for p in sorted(want & have) if not filecmp.cmp(expected / p, actual / p, shallow=False)]
    return diffs


def check_release():
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in RELEASE_INPUTS:
            src = REPO_ROOT / name
            if src.is_dir():
                shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
            else:
                shutil.copyfile(src, root / name)
        fresh = build_release(root)
        diffs = tree_differences(fresh, release_dir())
    return not diffs, "; ".join(diffs[:5]) + ("" if diffs else "release/ matches the sources") + (
        " - run `course release`" if diffs else ""
    )


def check_assets():
    stale = stale_assets()
    return not stale, (f"stale: {', '.join(stale)} - run `course assets`" if stale else "tests/assets match the solution")


def check_scores():
    examples = {e.name: e for e in load_examples()}
    catalog = suite_catalog()
    settings = grading_settings(time_budget=30 * 60, probe_timeout=30)
    maximum = sum(t["max_points"] for t in catalog)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        for name, expected in (("solution", maximum), ("release", 0)):
            folder = build_example(examples[name], tmp / "examples" / name / ASSIGNMENT)
            (sub,) = discover(folder)
            stage(sub, tmp / "staging")
            logs = tmp / "logs"
            logs.mkdir(exist_ok=True)
            outcome = run_suite(sub, catalog, logs, settings)
            errors = [f"{t['name']}: {t['message']}" for t in outcome.harness_errors]
            wrong = [t for t in outcome.tests if t["passed"] != (expected == maximum)]
            ok = outcome.points() == expected and not errors
            detail = f"{name} scores {outcome.points()}/{maximum} (expected {expected})"
            if errors:
                detail += f"; grader errors: {'; '.join(errors[:3])}"
            elif wrong:
                detail += f"; e.g. {wrong[0]['name']}: {wrong[0]['message'] or 'passed'}"
            results.append((ok, detail))
    return all(ok for ok, _ in results), "; ".join(d for _, d in results)


def execute_notebook(path: Path, timeout: int = 600):
    """Runs a notebook in a fresh kernel in its own folder with HW_FAST=1; raises on the first failing cell."""
    nb = nbformat.read(path, as_version=4)
    previous = os.environ.get("HW_FAST")
    os.environ["HW_FAST"] = "1"
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if previous is None:
            os.environ.pop("HW_FAST")
        else:
            os.environ["HW_FAST"] = previous


def check_notebooks():
    details, ok = [], True
    for path in source_notebooks():
        start = time.monotonic()
        try:
            execute_notebook(path)
            details.append(f"{path.name} ran in {time.monotonic() - start:.0f} s")
        except Exception as exc:  # noqa: BLE001 - any failure is reported as a failed check
            ok = False
            details.append(f"{path.name} failed: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}")
    return ok, "; ".join(details)


def validate(execute_notebooks: bool = True) -> bool:
    checks = [
        ("release in sync", check_release),
        ("assets in sync", check_assets),
        ("solution = max, release = 0", check_scores),
    ]
    if execute_notebooks:
        checks.append(("notebooks execute (HW_FAST=1)", check_notebooks))
    passed = True
    for name, check in checks:
        ok, detail = check()
        passed &= ok
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}", flush=True)
    print("validate: all checks passed" if passed else "validate: FAILED", flush=True)
    return passed
