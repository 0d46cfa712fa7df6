"""
``course validate``: the gate that proves the assignment is sound.

1. ``release/`` is what ``course release`` builds from the current sources;
2. ``tests/assets`` are what ``course assets`` builds from the solution;
3. the solution scores the maximum and the untouched release scores 0, both
   without a single grader error;
4. every source notebook executes top to bottom on the solution in fast mode
   (with nbval, so a failure names the notebook, the cell and the error).

``course validate --real`` instead executes every notebook on the real datasets
(from HW_DATA_DIR), as a student without HW_FAST would, and reports each cell
that fails with its time: every accuracy a notebook promises must hold there.
"""
import contextlib
import filecmp
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import nbformat
from tqdm import tqdm

from course import ASSIGNMENT, REPO_ROOT, source_notebooks
from course.authoring.assets import stale_assets
from course.authoring.examples import build_example, load_examples
from course.grading.suite import grading_settings, run_suite, suite_catalog
from course.authoring.release import build_release, release_dir
from course.grading.submissions import discover, stage

RELEASE_INPUTS = ["hw", "source", "tests/assets", "environment.yml", "nbgrader_config.py"]


def tree_differences(expected: Path, actual: Path):
    """Relative paths that are missing, extra or different between two trees."""
    def files(root):
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}

    want, have = files(expected), files(actual)
    diffs = [f"missing {p}" for p in sorted(want - have)] + [f"unexpected {p}" for p in sorted(have - want)]
    diffs += [f"differs {p}" for p in sorted(want & have) if not filecmp.cmp(expected / p, actual / p, shallow=False)]
    return diffs


def check_release(builds=1):
    """Whether release/ is what `course release` builds from the sources (in a copy of them, ``builds`` times over)."""
    diffs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in RELEASE_INPUTS:
            src = REPO_ROOT / name
            if src.is_dir():
                shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
            else:
                shutil.copyfile(src, root / name)
        for _ in range(builds):
            diffs = diffs or tree_differences(build_release(root), release_dir())
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


@dataclass
class CellResult:
    notebook: str
    number: int  # the n-th code cell, as nbval counts them
    cell_id: str
    seconds: float
    error: str = ""  # the failing line of the traceback, e.g. "AssertionError: ..."


def _code_cell_ids(path: Path):
    return [cell.get("id", "") for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


ANSI = re.compile(r"(\x1b|#x1B)\[[0-9;]*m")  # colours of IPython tracebacks (junit writes ESC as #x1B)


def _last_error_line(text: str) -> str:
    lines = [ANSI.sub("", line).strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception|Interrupt|Timeout)\b", line)]
    return (errors or lines or ["failed"])[-1][:400]


def run_notebooks(paths, fast: bool = True, cell_timeout: int = 900, progress: bool = True):
    """
    Executes notebooks with nbval (`pytest --nbval-lax`, each code cell one
    test, in a kernel of this environment started in the notebook's folder),
    with HW_FAST=1 or on the real datasets. What the cells print (training
    progress bars included) stays in the kernels; a progress bar of cells goes
    to stderr. Returns a CellResult for every code cell that ran.
    """
    paths = [Path(p) for p in paths]
    env = dict(os.environ)
    if fast:
        env["HW_FAST"] = "1"
    else:
        env.pop("HW_FAST", None)
    ids = {p.name: _code_cell_ids(p) for p in paths}
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "cells.xml"
        command = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={cell_timeout}",
                   f"--timeout={cell_timeout + 60}", "-p", "no:cacheprovider", "-v", "--color=no", f"--junitxml={junit}",
                   "-o", "junit_family=xunit1", *map(str, paths)]  # fmt: skip
        env["PYTHONUNBUFFERED"] = "1"  # each cell's result line as it comes, for the progress bar
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        bar = tqdm(total=sum(map(len, ids.values())), unit="cell", disable=not progress, file=sys.__stderr__)
        with bar:
            for line in proc.stdout:
                match = re.search(r"([\w.-]+\.ipynb)::Cell (\d+) (PASSED|FAILED|ERROR|SKIPPED)", line)
                if match:
                    bar.set_description(match.group(1))
                    bar.update(1)
        proc.wait()
        if not junit.exists():
            raise RuntimeError(f"nbval did not run (pytest exited with {proc.returncode})")
        results = []
        for case in ElementTree.parse(junit).iter("testcase"):
            notebook = Path(case.get("file") or case.get("classname", "")).name
            if not notebook.endswith(".ipynb"):
                notebook = next((n for n in ids if n[: -len(".ipynb")] in case.get("classname", "")), notebook)
            number = int(case.get("name", "Cell -1").split()[-1])
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            error = "" if failure is None else _last_error_line(failure.text or failure.get("message") or "")
            cell_ids = ids.get(notebook, [])
            cell_id = cell_ids[number] if 0 <= number < len(cell_ids) else ""
            results.append(CellResult(notebook, number, cell_id, float(case.get("time", 0)), error))
    return results


def execute_notebook(path: Path, timeout: int = 900):
    """Runs one notebook in fast mode with nbval; raises AssertionError naming each failing cell."""
    failed = [r for r in run_notebooks([path], fast=True, cell_timeout=timeout, progress=False) if r.error]
    assert not failed, "; ".join(f"{r.notebook} cell {r.number} ({r.cell_id}): {r.error}" for r in failed)


def check_notebooks(fast: bool = True):
    results = run_notebooks(source_notebooks(), fast=fast)
    failed = [r for r in results if r.error]
    by_notebook = {}
    for r in results:
        by_notebook[r.notebook] = by_notebook.get(r.notebook, 0) + r.seconds
    details = [f"{name} ran in {seconds:.0f} s" for name, seconds in by_notebook.items()]
    details += [f"{r.notebook} cell {r.number} ({r.cell_id}, {r.seconds:.0f} s) failed: {r.error}" for r in failed]
    if not results:
        return False, "no notebook cell ran"
    return not failed, "; ".join(details)


def validate(execute_notebooks: bool = True, real: bool = False) -> bool:
    """Runs every check, printing each stage as it starts and its result with its duration."""
    if real:
        checks = [("notebooks execute on the real datasets", lambda: check_notebooks(fast=False))]
    else:
        checks = [
            ("release in sync", check_release),
            ("assets in sync", check_assets),
            ("solution = max, release = 0", check_scores),
        ]
        if execute_notebooks:
            checks.append(("notebooks execute (HW_FAST=1)", check_notebooks))
    passed = True
    for number, (name, check) in enumerate(checks, 1):
        print(f"[{number}/{len(checks)}] {name} ...", flush=True)
        start = time.monotonic()
        # What a check prints (the solution's training progress bars while it computes the assets) stays out
        # of the report; the notebooks' progress bar writes to the terminal's stderr itself.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ok, detail = check()
        passed &= ok
        print(f"[{'PASS' if ok else 'FAIL'}] {name} ({time.monotonic() - start:.0f} s): {detail}", flush=True)
    print("validate: all checks passed" if passed else "validate: FAILED", flush=True)
    return passed
