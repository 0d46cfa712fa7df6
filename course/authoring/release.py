"""
Builds the student release ``release/hw2`` from the instructor's sources.

- notebooks: ``nbgrader generate_assignment`` (strips solution cells, locks cells);
- ``hw/*.py``: our stripper (nbgrader copies .py files verbatim);
- the reference assets the visible tests load, ``environment.yml`` and a student README.

The notebooks come from nbgrader; the rest is added by nbgrader's post-convert
hook (``complete_release``), so every way of generating the assignment,
formgrader's buttons included, gives the same complete release. The result
depends only on the sources, so building twice gives identical bytes.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from traitlets.config.loader import PyFileConfigLoader

from course import ASSIGNMENT, REPO_ROOT, source_notebooks
from course.authoring.strip import strip_solutions

STUDENT_README = """\
# Homework 2: convolutional neural networks

## Set up

With conda:

    conda env create -f environment.yml
    conda activate cnn-hw

or with pip (Python 3.11):

    python3 -m venv ../cnn-hw-env && . ../cnn-hw-env/bin/activate
    pip install {pip_packages}

(The environment lives next to this folder, not inside it: it is large and is not part of what you hand in;
the grader reads only `hw/` and the notebooks, and skips anything else you leave in the folder.)

On Linux without an NVIDIA GPU, install PyTorch's CPU build first, from PyTorch's own index: the default
build brings CUDA libraries of several GB that a CPU never uses, the CPU build is a few hundred MB:

    pip install {torch_packages} --index-url https://download.pytorch.org/whl/cpu

then the `pip install` line above (pip keeps the CPU build). macOS and Windows builds are CPU-only already.

Then open the notebooks from this folder:

    jupyter lab

Python started in this folder finds the `hw` package (`python -c "import hw.layers"`).
To use it from anywhere else (a script in another folder, pytest), put this folder on
the path: `PYTHONPATH=/path/to/this/folder python my_script.py`.

## Data

The experiments use real data sets, read from the folder named by the
environment variable `HW_DATA_DIR` (default `~/.pytorch-datasets`). Download
them once with:

    python -m hw.data cifar10          # Parts 2 to 5
    python -m hw.data cifar100         # Part 5
    python -m hw.data fashion_mnist    # Part 5
    python -m hw.text download         # Part 5: the TREC questions
    python -m hw.detection download    # Part 6: the detector's weights (74 MB, into torch's cache)

Part 5's experiment grids run from the command line (`python -m hw.experiments
grid exp1_1`), on this machine or on a Dask cluster; its notebook says how.

To work without them, start Jupyter with `HW_FAST=1` (`HW_FAST=1 jupyter lab`):
every notebook then uses small datasets bundled with the homework and short
training schedules. The autograder checks your hyper-parameters this way.

## What to do

Work through the notebooks in order ({notebooks}). Each one tells you which
functions of the `hw/` package to implement; every place to fill in raises
`NotImplementedError` under a `# TODO:` comment. Written answers go into
`hw/answers.py`.

The checks in the notebooks are for you and carry no points. Your grade comes
from a hidden test suite, which runs your `hw/` package on other inputs, and
from the course staff, who read your written answers.

## Submit

Run every notebook top to bottom and save them. Then, in this folder:

    python -m hw.check

It checks your homework as the grader will, before you hand it in: which
files of `hw/` are graded (only the homework's own modules; a helper module
of yours, a `.pyc` or a data file is left out), the rules your code must keep
(`hw/policy.py`: what your modules may import and use, and what the
from-scratch parts may call; code that breaks them fails those tests or is
held for review by the course staff), that every module imports, and what
still raises `NotImplementedError`. When nothing stops the grader it writes
`submission.zip` with exactly what the grader reads (your `hw/` modules and
the notebooks): hand in that zip. Do not rename files or cells, and do not
edit the locked cells.
"""


def release_dir(root: Path = REPO_ROOT) -> Path:
    return root / "release" / ASSIGNMENT


def release_files(root: Path):
    """{path in the release: its bytes} for everything but the notebooks: stripped hw/, assets, environment, README."""
    files = {}
    for module in sorted((root / "hw").glob("*.py")):
        files[f"hw/{module.name}"] = strip_solutions(module.read_text(), str(module.relative_to(root))).encode()
    for asset in sorted((root / "tests" / "assets").glob("*.pt")):
        files[f"tests/assets/{asset.name}"] = asset.read_bytes()
    files["environment.yml"] = (root / "environment.yml").read_bytes()
    names = ", ".join(nb.name for nb in source_notebooks(root))
    packages = pip_packages(root)
    torch_packages = " ".join(p for p in packages if p.startswith(("torch==", "torchvision==")))
    files["README.md"] = STUDENT_README.format(notebooks=names, pip_packages=" ".join(packages),
                                               torch_packages=torch_packages).encode()  # fmt: skip
    return files


def pip_packages(root: Path):
    """The pip requirements of environment.yml: the README's pip line installs exactly what conda would."""
    environment = yaml.safe_load((root / "environment.yml").read_text())
    pip = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d]
    return [f"'{requirement}'" if ">" in requirement or "<" in requirement else requirement for requirement in pip[0]]


def complete_release(assignment, student, notebooks, **_):
    """
    nbgrader's post-convert hook of generate_assignment (nbgrader_config.py):
    nbgrader writes only the notebooks, so after it, whoever runs it
    (`course release`, `nbgrader generate_assignment`, formgrader's Generate
    or Preview button), this adds the rest of the student release. It runs in
    the course root. If it fails, it removes the incomplete release, so that
    an assignment without hw/ can never be handed out.
    """
    root = Path.cwd()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    release_root = root / config.CourseDirectory.get("release_directory", "release")
    out = release_root / assignment
    try:
        for rel, data in release_files(root).items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(data)
    except Exception as exc:
        shutil.rmtree(out, ignore_errors=True)
        print(f"course: could not complete the release {out} ({exc!r}); removed it", file=sys.stderr)
        raise


def run_nbgrader(args, root: Path = REPO_ROOT):
    """Runs an nbgrader command in the course root; raises with its log on failure."""
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def build_release(root: Path = REPO_ROOT) -> Path:
    """
    Regenerates the release folder with nbgrader's generate_assignment (whose
    post-convert hook, complete_release, adds everything but the notebooks)
    and returns its path.
    """
    out = release_dir(root)
    proc = run_nbgrader(["generate_assignment", ASSIGNMENT, "--force", "--log-level=WARN"], root)
    missing = [rel for rel in release_files(root) if not (out / rel).is_file()]
    if missing:
        raise RuntimeError(f"nbgrader generated {out} without {', '.join(missing[:4])}: is "
                           f"GenerateAssignment.post_convert_hook set in nbgrader_config.py?\n{proc.stderr}")  # fmt: skip
    return out
