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
so), and a headless Chromium for the tests that open formgrader in a browser. Extra arguments are passed on:
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


# The system's packages the course uses, by the command each provides: bubblewrap, the sandbox the grader runs
# submissions in, and a headless Chromium with its WebDriver, in which the tests open formgrader's pages as a TA does.
SYSTEM_PACKAGES = {
    "bwrap": ("bubblewrap", "the grader will isolate submissions less well"),
    "chromium": ("chromium", "the tests that open formgrader in a browser are skipped"),
    "chromedriver": ("chromium-driver", "the tests that open formgrader in a browser are skipped"),
}


def install_system_packages():
    """The SYSTEM_PACKAGES that are missing, where this user may install them (root, apt); otherwise a note for each."""
    missing = {command: package for command, (package, _) in SYSTEM_PACKAGES.items() if not shutil.which(command)}
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(["apt-get", "update", "-qq"], env=env).returncode == 0:
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *sorted(set(missing.values()))],
                           env=env)
    for command, (package, without) in SYSTEM_PACKAGES.items():
        if not shutil.which(command):
            print(f"Note: {command} is not installed, so {without}; install the package '{package}' (see the README).",
                  flush=True)


def set_up():
    install_system_packages()
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
