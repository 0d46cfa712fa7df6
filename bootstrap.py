#!/usr/bin/env python3
"""
Set-up and entry point that needs nothing but python3 (3.11).

    python3 bootstrap.py demo    set up .venv, then build the release and grade the examples
    python3 bootstrap.py test    set up .venv, then run the whole test suite
    python3 bootstrap.py setup   set up .venv only (e.g. on a machine that will be a grading worker)

Set-up creates .venv in this folder if it is missing and installs the project
into it (again whenever pyproject.toml changes). As root on Debian or Ubuntu
it also installs bubblewrap, the sandbox the grader runs submissions in (see
the README: without it the grader falls back to weaker isolation and says
so). Extra arguments are passed on:
`python3 bootstrap.py test -k harness`, `python3 bootstrap.py demo --jobs 1`.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed-from"
PYTHON = VENV / "bin" / "python"


def run(*command):
    print("+", " ".join(str(c) for c in command), flush=True)
    subprocess.run([str(c) for c in command], cwd=ROOT, check=True)


def install_bubblewrap():
    """bwrap from the system's packages, where this user may install them; otherwise a note."""
    if shutil.which("bwrap"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        update = subprocess.run(["apt-get", "update", "-qq"], env=env)
        install = subprocess.run(["apt-get", "install", "-y", "-qq", "bubblewrap"], env=env) if update.returncode == 0 else update
        if install.returncode == 0 and shutil.which("bwrap"):
            return
    print("Note: bubblewrap (bwrap) is not installed, so the grader will isolate submissions less well; "
          "install the package 'bubblewrap' (see the README).", flush=True)


def set_up():
    install_bubblewrap()
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"Python 3.11 is required (torch 2.14.1 wheels); this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"Creating {VENV.relative_to(ROOT)}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    run(PYTHON, "-m", "pip", "install", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "-e", ".[dev]")
    STAMP.write_text(wanted)


def main():
    commands = {
        "demo": [VENV / "bin" / "course", "demo"],
        # Grading waits on sandboxes and kernels much of the time: two or more processes keep the CPUs busy
        # (tests/conftest.py says which tests share a process).
        "test": [PYTHON, "-m", "pytest", "--numprocesses=auto", "--maxprocesses=4"],
        "setup": None,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    set_up()
    if commands[sys.argv[1]] is None:
        return
    command = [str(c) for c in commands[sys.argv[1]] + sys.argv[2:]]
    print("+", " ".join(command), flush=True)
    os.chdir(ROOT)
    # As `source .venv/bin/activate` would: tools the project calls by name
    # (nbgrader runs `alembic`, Jupyter starts kernels) come from .venv.
    os.environ["VIRTUAL_ENV"] = str(VENV)
    os.environ["PATH"] = os.pathsep.join([str(VENV / "bin"), os.environ.get("PATH", "")])
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
