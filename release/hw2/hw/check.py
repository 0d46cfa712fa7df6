"""
Checks your homework as the grader will, and writes the zip to hand in.

    python -m hw.check              # in the homework folder (the one that holds hw/ and the notebooks)
    python -m hw.check FOLDER       # another homework folder
    python -m hw.check --no-zip     # only check

It applies the grader's rules (hw/policy.py): which files of hw/ are graded,
what your modules may import and use, and what the from-scratch parts may
call. Then it imports each of your modules in a fresh Python (with a time
limit), lists what still raises NotImplementedError, and, when nothing
stops the grader, writes ``submission.zip`` with exactly what the grader
reads: your modules in hw/ and the notebooks. It never runs the hidden tests,
so it says nothing about points.
"""
import argparse
import ast
import json
import os
import select
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from hw import policy

ZIP_NAME = "submission.zip"
IMPORT_SECONDS = 120  # to import one module: torch alone takes a few seconds on a slow laptop


def left_to_do(source: bytes) -> list[str]:
    """The functions and methods of a module that still raise NotImplementedError, as "Class.method"."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    todo = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef):
                raises = any(
                    isinstance(n, ast.Raise) and n.exc is not None
                    and "NotImplementedError" in ast.unparse(n.exc) for n in ast.walk(child)
                )  # fmt: skip
                abstract = any("abstractmethod" in ast.unparse(d) for d in child.decorator_list)
                if raises and not abstract:
                    todo.append(f"{prefix}{child.name}")

    visit(tree, "")
    return todo


# Run in a fresh interpreter in the homework folder: imports each module named on the command line and says how it went,
# one JSON line per module ("start" before, then "ok" or the error), so that a module that hangs is known by name.
IMPORTER = """
import importlib, json, sys, traceback
for name in sys.argv[1:]:
    print(json.dumps({"start": name}), flush=True)
    try:
        importlib.import_module(name)
        print(json.dumps({"ok": name}), flush=True)
    except BaseException as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/hw/" in f.filename.replace("\\\\", "/")]
        where = f" (hw/{frames[-1].filename.replace(chr(92), '/').rsplit('/hw/', 1)[1]}:{frames[-1].lineno})" if frames else ""
        text = str(exc).strip().splitlines()
        print(json.dumps({"error": name, "why": f"{type(exc).__name__}: {text[0][:300] if text else ''}{where}"}), flush=True)
"""


def import_problems(folder: Path, modules: list) -> dict:
    """{module: why it does not import} for the modules that fail, each imported in turn by one fresh interpreter."""
    env = dict(os.environ, HW_FAST="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    problems, todo = {}, list(modules)
    while todo:
        child = subprocess.Popen([sys.executable, "-c", IMPORTER, *todo], cwd=folder, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
        current, deadline = None, time.monotonic() + IMPORT_SECONDS
        try:
            while todo:
                ready, _, _ = select.select([child.stdout], [], [], max(0.0, deadline - time.monotonic()))
                line = child.stdout.readline() if ready else None
                if not line:  # timed out, or the module ended the interpreter (exit(), a crash)
                    name = current or todo[0]
                    problems[name] = (f"importing it took more than {IMPORT_SECONDS} s (code at the top level of the "
                                      "module that runs too long?)") if ready is not None and not ready else \
                        "importing it ended Python (exit() or a crash at the top level of the module)"  # fmt: skip
                    todo.remove(name)
                    break
                message = json.loads(line)
                if "start" in message:
                    current, deadline = message["start"], time.monotonic() + IMPORT_SECONDS
                    continue
                name = message.get("ok") or message["error"]
                if "error" in message:
                    problems[name] = message["why"]
                todo.remove(name)
                current = None
        finally:
            child.kill()
            child.wait()
    return problems


def write_zip(folder: Path, files: policy.Files, destination: Path) -> list[str]:
    """The zip the grader reads: hw/<your modules> and the notebooks, under the folder's name. Returns its members."""
    root = folder.resolve().name
    members = [f"{root}/hw/{name}" for name in sorted(files.modules)]
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink())
    members += [f"{root}/{p.name}" for p in notebooks]
    partial = destination.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, source in sorted(files.modules.items()):
            zf.writestr(f"{root}/hw/{name}", source)
        for path in notebooks:
            zf.write(path, f"{root}/{path.name}")
    partial.replace(destination)
    return members


def check(folder: Path, make_zip: bool = True, out=print) -> int:
    """Checks the homework in ``folder`` and tells ``out`` what it found; 0 when it is ready to hand in."""
    report = policy.check_folder(folder)
    files = report.files
    blocking = 0

    out(f"Checking {folder.resolve()}")
    out("\nFiles")
    if files.missing:
        blocking += len(files.missing)
        out(f"  missing: {', '.join(files.missing)} (the grader needs every one of them)")
    for name, why in sorted(files.unreadable.items()):
        blocking += 1
        out(f"  cannot be graded: {why}")
    if files.left_out:
        out(f"  not graded (the grader uses only hw/{{{', '.join(policy.STUDENT_FILES)}}}): {', '.join(files.left_out)}")
        out("  move what they hold into your modules if your code needs it")
    if not (files.missing or files.unreadable or files.left_out):
        out("  every module is there, and nothing else")

    out("\nRules (hw/policy.py)")
    for finding in report.findings:
        consequence = "fails the tests of the code that runs it" if finding.from_scratch else \
            "flags your submission for review by the course staff: no points until they decide"  # fmt: skip
        out(f"  {finding.describe()}\n      -> {consequence}")
    blocking += len(report.findings)
    if not report.findings:
        out("  your modules follow every rule")

    out("\nImports")
    importable = [f"hw.{name[:-3]}" for name in sorted(files.modules) if f"hw/{name}" not in files.unreadable]
    problems = import_problems(folder, importable)
    for module, problem in problems.items():
        out(f"  hw/{module[3:]}.py does not import: {problem}")
    blocking += len(problems)
    if not problems:
        out(f"  {'every module imports' if len(importable) == len(policy.STUDENT_FILES) else 'the others import'}")

    out("\nLeft to do (still raising NotImplementedError)")
    todo = {name: left_to_do(source) for name, source in sorted(files.modules.items())}
    for name, functions in todo.items():
        if functions:
            out(f"  hw/{name}: {', '.join(functions)}")
    remaining = sum(len(f) for f in todo.values())
    if not remaining:
        out("  nothing")

    if blocking:
        out(f"\nNot ready: fix the {blocking} problem{'s' if blocking != 1 else ''} above before you hand in.")
        return 1
    if make_zip:
        destination = folder / ZIP_NAME
        members = write_zip(folder, files, destination)
        out(f"\nWrote {destination} ({len(members)} files: your hw/ modules and the notebooks). Hand in this zip.")
    if remaining:
        out(f"\nThe grader can run your code; {remaining} function{'s' if remaining != 1 else ''} still to write.")
    else:
        out("\nReady to hand in.")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.check", description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("folder", nargs="?", default=".", help="the homework folder, which holds hw/ (default: here)")
    parser.add_argument("--no-zip", action="store_true", help=f"only check; do not write {ZIP_NAME}")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    if not (folder / "hw").is_dir():
        parser.error(f"{folder.resolve()} holds no hw/ folder: run this in the homework folder or name it")
    return check(folder, make_zip=not args.no_zip)


if __name__ == "__main__":
    sys.exit(main())
