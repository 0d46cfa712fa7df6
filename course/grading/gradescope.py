"""
``course gradescope``: the hidden suite as a Gradescope programming assignment.

``build_zip(out)`` writes the autograder zip that Gradescope's "Configure
Autograder" page takes. Everything sits at the zip's root, as Gradescope
requires; the image build unpacks it into ``/autograder/source``:

    setup.sh            run once when Gradescope builds the image (root, Ubuntu): apt installs Python 3.11 and
                        bubblewrap, a virtual environment at /opt/hw2-venv, then `python -m course.grading.gradescope setup`
    run_autograder      run per submission: `python -m course.grading.gradescope run` under a time limit; if Python cannot
                        start or dies, the script itself writes a results.json that says so
    requirements.txt    the packages grading imports, pinned to the versions of the instructor's environment
                        (torch and torchvision as their CPU builds: Gradescope has no GPU)
    gradescope.json     what run_autograder needs to know: every hidden test with its part and points, the part
                        titles, the written answers' names, the time limits, the tests' visibility
    course/             the grading harness: the course modules that run_autograder, the worker and the hidden suite
                        import (course_modules), without reports/nbgrader.py (nbgrader is not installed on Gradescope)
    autograder/         the hidden suite and its probes
    hw/                 the course's provided hw/__init__.py, hw/data.py (the suite's datasets), hw/interpret.py
                        (its GAPNet) and hw/policy.py (the code rules), from the release
    release/hw2/hw/     the students' skeleton: the course's modules the worker runs beside a submission's own
    tests/assets/       the reference tensors
    .course-secret      the course's secret, from which the held-out values are drawn (course.grading.secret): keep the
                        zip as private as the gradebook

No file of the instructor's solution is in the zip: the suite's references
are the tensors in tests/assets and the models in autograder/.

In the container, ``run`` grades ``/autograder/submission`` (``hw/``, ``hw2/hw/``,
one .zip of either, or the loose ``hw/*.py`` files) with the same ``run_suite``
as ``course grade``, and writes ``/autograder/results/results.json`` once,
atomically, whatever happens. The root is ``$AUTOGRADER_ROOT`` (default
``/autograder``) so that tests can use a folder of their own.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from pathlib import Path

from course import ASSIGNMENT, REPO_ROOT
from course.grading.secret import course_secret
from hw.policy import STUDENT_FILES

DEFAULT_ROOT = "/autograder"
VENV = "/opt/hw2-venv"  # outside /autograder/source, which the sandboxed worker must not read, and readable by it
CONFIG = "gradescope.json"
# Gradescope's default timeout for a whole submission (raisable to 40 min in the assignment's settings).
GRADESCOPE_TIMEOUT = 600
# Of that timeout: what run_autograder's own start, staging and writing may need, and what the container's start
# and the upload of the results may need. The hidden suite gets the rest and is stopped when it is spent.
RESERVE_SECONDS = 60
WRITE_SECONDS = 15
KILL_MARGIN = 20  # run_autograder's `timeout` stops Python this long before Gradescope's timeout
# The time budget of a submission's code (all its checks together), not calibrated on the instructor's machine:
# Gradescope runs on half a CPU. The solution's code used 14-17 s of it there (a CPU torch under a 50 % CPU quota,
# whole run 70-90 s); a submission that hangs in every method spends all of it, then every remaining check fails at
# once (whole run: 166 s). YourCNN's training has its own 240 s (course.grading.sandbox.OWN_TIME_SECONDS) on top.
TIME_BUDGET = 150.0
# The memory budget of a submission's processes: the resident memory of all of them together (the grader's
# watchdog) and the address space of each one (RLIMIT_AS). It is at least this, and at least what a worker maps
# after its imports (measured by setup in the image: about 0.9 GiB with a CPU torch, 3.4 GiB with a CUDA one) plus
# ADDRESS_SPACE_HEADROOM. Where the container has less memory, the kernel's OOM killer stops the largest process
# first, which is the submission's when it hogs memory; the worker reports "killed (most likely it ran out of memory)".
MEMORY_BUDGET = 2 << 30
ADDRESS_SPACE_HEADROOM = 1 << 30
SETUP_RECORD = "setup.json"  # written by setup in the image: what it measured
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
# The autograder's own output (the budget, the staff data: memory, CPU, the grader's paths) is for the staff only.
STDOUT_VISIBILITY = "hidden"

# Where grading starts in the course package: run_autograder, the worker (a standalone script) and whatever the
# hidden suite imports; the zip holds these and every course module they import (course_modules).
COURSE = REPO_ROOT / "course"
COURSE_ROOTS = ("__init__", "grading/gradescope", "grading/worker")
# Left out of the zip: only `course grade`'s recording into nbgrader imports it (inside a function), and nbgrader
# and Jupyter's stack are not installed on Gradescope.
LEFT_OUT = ("reports/nbgrader",)
# What grading imports, with what they need; torch's CUDA libraries are left out (CPU builds on Gradescope).
REQUIREMENT_ROOTS = ("torch", "torchvision", "numpy", "scikit-learn", "matplotlib", "pytest", "tqdm", "jinja2", "captum")
CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")
CPU_BUILDS = {"torch": "+cpu", "torchvision": "+cpu"}
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu; this zip is in /autograder/source).
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
# bubblewrap: the strongest sandbox, when the container lets it create namespaces (Docker usually does not: then each
# submission runs under a uid of its own, which run_autograder records). setpriv (util-linux) is bwrap's uid switch.
apt-get install -y --no-install-recommends bubblewrap util-linux ca-certificates
if ! command -v python3.11 >/dev/null; then
    # Ubuntu 24.04 has no python3.11 and 22.04's is an early 3.11.0: the deadsnakes PPA first, the distribution's otherwise.
    if apt-get install -y --no-install-recommends software-properties-common gpg-agent \\
            && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update; then
        apt-get install -y --no-install-recommends python3.11 python3.11-venv
    else
        apt-get install -y --no-install-recommends python3.11 python3.11-venv
    fi
fi
# A virtual environment of its own: no clash with the image's Python (PEP 668), readable by the sandboxed worker.
python3.11 -m venv __VENV__
__VENV__/bin/python -m pip install --upgrade pip
# The Python part: installs requirements.txt (skipped when every pin is already there) and checks that the hidden
# suite collects the tests and points of gradescope.json.
cd /autograder/source
__VENV__/bin/python -m course.grading.gradescope setup
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission, as root, in /autograder. It always leaves results/results.json:
# course.grading.gradescope writes it once, atomically; if Python cannot start, dies or runs out of time, this script writes
# one that says so (staff: the reason is in this run's stdout, which Gradescope shows to instructors only).
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${AUTOGRADER_PYTHON:-__VENV__/bin/python}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
cd "$ROOT/source" || echo "no $ROOT/source"
export AUTOGRADER_ROOT="$ROOT" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
timeout --kill-after=10 __LIMIT__ "$PY" -m course.grading.gradescope run
status=$?
if [ ! -s "$RESULTS" ]; then
    echo "run_autograder: course.grading.gradescope ended with status $status and wrote no results.json"
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        why="it ran out of time"
    else
        why="the grader itself failed (exit status $status)"
    fi
    printf '{"score": 0, "execution_time": 0, "output": "%s", "tests": [], "extra_data": {"fallback": true, "exit_status": %d}}\\n' \\
        "Your submission could not be graded: $why. This is not a verdict on your code; please tell the course staff." \\
        "$status" > "$RESULTS.tmp" && mv -f "$RESULTS.tmp" "$RESULTS"
fi
exit 0
"""


# -- building the zip (instructor's machine) ---------------------------------------------------------------------


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements(roots=REQUIREMENT_ROOTS) -> list[str]:
    """``name==version`` for the installed distributions grading imports and everything they need (CUDA-only ones aside)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    pins, todo = {}, [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name = _normalise(req.name)
        if name in pins or CUDA_ONLY.match(name):
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        dist = metadata.distribution(req.name)
        pins[name] = f"{dist.metadata['Name']}=={dist.version.split('+')[0]}{CPU_BUILDS.get(name, '')}"
        todo += [Requirement(r) for r in dist.requires or []]
    return [pins[name] for name in sorted(pins)]


def requirements_text() -> str:
    lines = [
        "# Pinned by `course gradescope` from the instructor's environment: what grading imports and what it needs.",
        "# torch and torchvision are their CPU builds (Gradescope has no GPU), from PyTorch's own index.",
        f"--extra-index-url {CPU_INDEX}",
        *pinned_requirements(),
    ]
    return "\n".join(lines) + "\n"


def gradescope_config(visibility="visible", timeout=GRADESCOPE_TIMEOUT, time_budget=TIME_BUDGET,
                      memory_budget=MEMORY_BUDGET) -> dict:
    """The hidden suite's tests and parts, and the limits run_autograder keeps."""
    from course.grading.suite import suite_catalog
    from course.reports.nbgrader import answer_names, part_titles

    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    catalog = suite_catalog()
    return {
        "assignment": ASSIGNMENT,
        "catalog": [{k: t[k] for k in ("name", "part", "description", "max_points")} for t in catalog],
        "part_titles": part_titles(REPO_ROOT),
        "answers": answer_names(REPO_ROOT),
        "visibility": visibility,
        "timeout_seconds": timeout,
        "time_budget": time_budget,
        "memory_budget": memory_budget,
    }


def _course_imports(path: Path) -> set:
    """The course modules a file imports anywhere in it (at its top or inside a function), as paths in course/."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "course":
            base = node.module.split(".")[1:]
            found |= {"/".join(base + [alias.name]) for alias in node.names} | {"/".join(base)}
        elif isinstance(node, ast.Import):
            found |= {"/".join(a.name.split(".")[1:]) for a in node.names if a.name.startswith("course.")}
    return {name for name in found if name and (COURSE / f"{name}.py").is_file()}


def course_modules() -> list[str]:
    """
    COURSE_ROOTS, the course modules the hidden suite imports, every course
    module those import, and the packages they are in (as paths in course/,
    without .py: "grading/run", "grading/__init__").
    """
    todo = set(COURSE_ROOTS)
    for path in (REPO_ROOT / "autograder").glob("*.py"):
        todo |= _course_imports(path)
    found = set()
    while todo:
        name = todo.pop()
        if name in found or name in LEFT_OUT:
            continue
        found.add(name)
        todo |= _course_imports(COURSE / f"{name}.py") - found
        parent = name.rpartition("/")[0]
        while parent:
            todo.add(f"{parent}/__init__")
            parent = parent.rpartition("/")[0]
    return sorted(found)


def zip_members(config: dict) -> dict:
    """{path in the zip: (bytes, executable)}: what the zip holds, nothing of the solution."""
    release_hw = REPO_ROOT / "release" / ASSIGNMENT / "hw"
    executable = {"setup.sh", "run_autograder"}
    files = {
        "setup.sh": SETUP_SH.replace("__VENV__", VENV).encode(),
        "run_autograder": RUN_AUTOGRADER.replace("__VENV__", VENV)
        .replace("__LIMIT__", str(config["timeout_seconds"] - KILL_MARGIN))
        .encode(),
        "requirements.txt": requirements_text().encode(),
        CONFIG: (json.dumps(config, indent=1, sort_keys=True) + "\n").encode(),
    }
    for module in course_modules():
        files[f"course/{module}.py"] = (COURSE / f"{module}.py").read_bytes()
    for path in sorted((REPO_ROOT / "autograder").iterdir()):
        if path.is_file() and path.suffix in (".py", ".ini"):
            files[f"autograder/{path.name}"] = path.read_bytes()
    for path in sorted(release_hw.glob("*.py")):
        files[f"release/{ASSIGNMENT}/hw/{path.name}"] = path.read_bytes()
    # the suite's datasets, GAPNet and the code policy, as students received them
    for name in ("__init__.py", "data.py", "interpret.py", "policy.py"):
        files[f"hw/{name}"] = (release_hw / name).read_bytes()
    files[".course-secret"] = (course_secret() + "\n").encode()  # the held-out values' seeds (course.grading.secret)
    for path in sorted((REPO_ROOT / "tests" / "assets").glob("*.pt")):
        files[f"tests/assets/{path.name}"] = path.read_bytes()
    return {name: (data, name in executable) for name, data in files.items()}


def unpack(archive: Path, dest: Path):
    """As Gradescope unpacks the zip into /autograder/source: files with their permissions."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            target.chmod((info.external_attr >> 16) & 0o777 & (0o600 if info.filename == ".course-secret" else 0o777))


def build_zip(out_zip: Path, visibility="visible", timeout=GRADESCOPE_TIMEOUT, time_budget=TIME_BUDGET,
              memory_budget=MEMORY_BUDGET) -> Path:
    """
    Writes Gradescope's autograder zip to ``out_zip`` and returns its path. The
    same sources give the same bytes (entries sorted, fixed timestamps and
    permissions). ``visibility`` is every test's (VISIBILITIES); ``timeout``
    the assignment's timeout on Gradescope, in seconds; ``time_budget`` and
    ``memory_budget`` (bytes) those of a submission's code.
    """
    out_zip = Path(out_zip)
    if not 60 <= timeout <= 2400:
        raise ValueError("Gradescope's timeout is between 1 and 40 minutes")
    members = zip_members(gradescope_config(visibility, timeout, time_budget, memory_budget))
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_zip.with_name(f".{out_zip.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(members):
            data, executable = members[name]
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3  # Unix: unzip honours the permissions below
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=9)
    os.replace(tmp, out_zip)
    return out_zip


# -- setup (image build) -----------------------------------------------------------------------------------------


def unmet_requirements(requirements: Path) -> list[str]:
    """The pins of requirements.txt that the running interpreter lacks. A build label (+cpu, +cu130) is not compared."""
    from importlib import metadata

    unmet = []
    for line in Path(requirements).read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        name, _, version = line.partition("==")
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            unmet.append(f"{line} (not installed)")
            continue
        if installed.split("+")[0] != version.split("+")[0]:
            unmet.append(f"{line} (installed: {installed})")
    return unmet


def worker_address_space(source: Path) -> int:
    """What a fresh interpreter maps (VmSize, bytes) once it imported what the worker imports (probes.py's PRELOAD)."""
    import ast

    tree = ast.parse((source / "autograder" / "probes.py").read_text())
    preload = next(ast.literal_eval(node.value) for node in tree.body
                   if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "PRELOAD")  # fmt: skip
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]: importlib.import_module(name)\n"
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmSize:')))"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code, "torch", *preload], capture_output=True, text=True,
                         check=True, env={"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}).stdout  # fmt: skip
    return int(out.split()[-1]) << 10


def memory_budget(source: Path, config: dict) -> int:
    """The submission's memory budget: the configured one, or more where the worker's imports map more."""
    try:
        measured = json.loads((source / SETUP_RECORD).read_text())["worker_address_space"]
    except (OSError, ValueError, KeyError):
        measured = 6 << 30  # not measured: room for any torch build (the harness's own default)
    return max(config["memory_budget"], measured + ADDRESS_SPACE_HEADROOM)


def setup(source: Path) -> int:
    """
    The Python part of setup.sh: pip installs requirements.txt unless every
    pin is already installed, checks that the hidden suite collects exactly
    the tests and points of gradescope.json, and measures what the worker
    maps after its imports (for its memory budget). Returns an exit status.
    """
    requirements = source / "requirements.txt"
    unmet = unmet_requirements(requirements)
    if unmet:
        print(f"Installing {len(unmet)} pinned requirements: " + "; ".join(unmet), flush=True)
        status = subprocess.call([sys.executable, "-m", "pip", "install", "--no-cache-dir", "-r", str(requirements)])
        unmet = unmet_requirements(requirements)
        if status or unmet:
            print(f"setup: pip ended with status {status}; still missing: {'; '.join(unmet) or 'nothing'}")
            return status or 1
    else:
        print("Every pinned requirement is installed: nothing to install")
    from course.grading.suite import suite_catalog

    expected = json.loads((source / CONFIG).read_text())["catalog"]
    found = [{k: t[k] for k in ("name", "part", "description", "max_points")} for t in suite_catalog()]
    if found != expected:
        print(f"setup: the hidden suite collects {len(found)} tests, {CONFIG} lists {len(expected)}: rebuild the zip")
        return 1
    print(f"The hidden suite collects its {len(found)} tests ({sum(t['max_points'] for t in found)} points)")
    space = worker_address_space(source)
    (source / SETUP_RECORD).write_text(json.dumps({"worker_address_space": space}) + "\n")
    print(f"A worker maps {space >> 20} MiB after its imports")
    return 0


# -- grading one submission (in the container) -------------------------------------------------------------------


class MemoryWatch:
    """The peak memory of this process and every process below it (and of the sandbox's uid), sampled."""

    def __init__(self, uid=None, interval=0.25):
        self.uid, self.interval = uid, interval
        self.peak_pss = self.peak_rss = 0
        self.peak_processes = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _read(pid):
        pss = rss = 0
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        pss = int(line.split()[1]) << 10
                    elif line.startswith(b"Rss:"):
                        rss = int(line.split()[1]) << 10
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            return None
        return pss, rss, command

    def _run(self):
        from course.grading import isolation

        while not self._stop.is_set():
            pids = {os.getpid(), *isolation.descendants(os.getpid())}
            if self.uid is not None:
                pids |= set(isolation.pids_of_uid(self.uid))
            samples = {pid: s for pid in pids if (s := self._read(pid))}
            pss = sum(s[0] for s in samples.values())
            self.peak_rss = max(self.peak_rss, sum(s[1] for s in samples.values()))
            if pss > self.peak_pss:
                self.peak_pss = pss
                self.peak_processes = {f"{pid} {s[2][:100]}": s[0] >> 20 for pid, s in sorted(samples.items())}
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def report(self) -> dict:
        return {
            "peak_pss_mib": self.peak_pss >> 20,
            "peak_rss_mib": self.peak_rss >> 20,
            "processes_at_peak_pss_mib": self.peak_processes,
        }


def _container_memory():
    """The container's memory limit and peak (cgroup v2, as in Gradescope's Docker), where they can be read."""
    found = {}
    for key, name in (("limit", "memory.max"), ("peak", "memory.peak")):
        try:
            value = Path("/sys/fs/cgroup", name).read_text().strip()
            found[f"container_memory_{key}_mib"] = int(value) >> 20 if value.isdigit() else value
        except OSError:
            continue
    return found


def _cpu_use():
    """CPU seconds of run_autograder and the processes it waited for (the suite and, through it, the worker)."""
    import resource

    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_seconds": round(me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime, 1),
        "largest_child_max_rss_mib": children.ru_maxrss >> 10,
    }


def lock_down(root: Path):
    """
    Runs as root: the sandboxed worker's uid may not read the suite, the
    references or the harness (source/), nor read or plant results (results/).
    """
    for folder in (root / "source", root / "results"):
        if folder.is_dir():
            os.chmod(folder, 0o700)


def _loose_files(folder: Path, staging: Path) -> Path | None:
    """
    Students who drag their hw/*.py files onto Gradescope upload them without
    the folder: a submission with hw/ made of them (and of the course's own
    modules from the release that they did not upload), or None.
    """
    # Only regular files by the student modules' names: a link is never followed (it could point at the grader's files).
    files = {p.name: p for p in folder.rglob("*.py")
             if p.name in STUDENT_FILES and not p.is_symlink() and p.is_file() and "__MACOSX" not in p.parts}  # fmt: skip
    if not any(name in files for name in STUDENT_FILES):
        return None
    dest = staging / "loose" / ASSIGNMENT
    (dest / "hw").mkdir(parents=True)
    provided = REPO_ROOT / "release" / ASSIGNMENT / "hw"
    for path in sorted(provided.glob("*.py")):
        if path.name not in STUDENT_FILES:
            shutil.copyfile(path, dest / "hw" / path.name)
    for name, path in files.items():
        shutil.copyfile(path, dest / "hw" / name)
    return dest


def find_submission(folder: Path, staging: Path):
    """The staged submission in Gradescope's submission folder (Submission.problem says why it cannot be graded)."""
    from course.grading.submissions import Submission, SubmissionError, discover, shown_name, stage

    try:
        found = discover(folder)
    except SubmissionError:
        loose = _loose_files(folder, staging) if folder.is_dir() else None
        if loose is None:
            what = ", ".join(shown_name(p.name) for p in sorted(folder.iterdir())[:8]) if folder.is_dir() else ""
            return Submission("submission", folder, problem=(
                f"the upload holds no homework: expected your hw/ folder (or {ASSIGNMENT}/ with hw/ inside, or a .zip "
                f"of either, or the files of hw/); found {what or 'nothing'}"))  # fmt: skip
        found = discover(loose)
    # The same rule as `course grade` finds each submission (course.grading.submissions.locate); an upload is one student's,
    # so beside one submission a folder that holds none is left out, and two submissions are one too many.
    graded = [s for s in found if not s.problem] or found
    if len(graded) > 1:
        names = ", ".join(shown_name(s.source.name) for s in graded[:5]) + (" ..." if len(graded) > 5 else "")
        return Submission("submission", folder, problem=f"the upload holds {len(graded)} submissions ({names}); upload one")
    sub = graded[0]
    sub.student = "submission"
    return stage(sub, staging)


def _part_number(part: str) -> str:
    digits = re.sub(r"\D", "", part)
    return digits or part


def _test_name(test: dict) -> str:
    """The test's description, with its parameters when it has some: "Conv2d forward against torch's F.conv2d [1x1]"."""
    params = re.search(r"\[(.*)\]$", test["name"])
    description = test.get("description") or test["name"]
    return f"{description} [{params.group(1)}]" if params else description


def gradescope_tests(summary: dict, visibility: str) -> list[dict]:
    tests, index = [], {}
    for t in summary["tests"]:
        index[t["part"]] = index.get(t["part"], 0) + 1
        if t["passed"]:
            output = "passed"
        elif summary.get("problem"):
            output = f"not graded: {summary['problem']}"
        else:
            output = t["message"] or "failed"
        tests.append({
            "name": _test_name(t),
            "number": f"{_part_number(t['part'])}.{index[t['part']]}",
            "score": t["points"],
            "max_score": t["max_points"],
            "status": "passed" if t["passed"] else "failed",
            "output": output,
            "visibility": visibility,
        })  # fmt: skip
    return tests


def summary_output(summary: dict, titles: dict, answers: list) -> str:
    """The text above the tests: points per part, why the submission lost them, what else grades it."""
    from course.reports.feedback import failure_groups, missing_answers

    lines = []
    if summary.get("problem"):
        lines += [f"Your submission could not be graded: {summary['problem']}", ""]
    lines.append(f"Hidden tests: {summary['score']} / {summary['max_score']} points")
    for part, scores in summary["parts"].items():
        lines.append(f"  {titles.get(part, part)}: {scores['score']} / {scores['max_score']}")
    left_out = summary.get("left_out") or []
    if left_out:
        more = (summary.get("left_out_count") or len(left_out)) - min(20, len(left_out))
        lines += ["", f"Not graded: the grader runs only the homework's own modules of hw/, so it left out "
                      f"{', '.join(left_out[:20])}{f' and {more} more' if more > 0 else ''}. "
                      "Code your modules need must be in them (python -m hw.check says so before you hand in)."]
    skipped = summary.get("skipped") or []
    if skipped:
        more = (summary.get("skipped_count") or len(skipped)) - min(20, len(skipped))
        lines += ["", f"Not read: the grader reads only hw/ and the notebooks, so it skipped "
                      f"{', '.join(skipped[:20])}{f' and {more} more' if more > 0 else ''}. Nothing was lost."]
    flags = summary.get("flags") or []
    if flags:
        withheld = sum(1 for t in summary["tests"] if t.get("withheld"))
        checks = f"{withheld} check{'s' if withheld != 1 else ''}"
        held = f"; the points of the {checks} it passed are withheld until they have looked at it" if withheld else ""
        lines += ["", f"The grader flagged your code for review by the course staff{held}:"]
        lines += [f"  - {f['message']}" for f in flags[:10]]
        lines += [f"  ... and {len(flags) - 10} more"] if len(flags) > 10 else []
    groups = [] if summary.get("problem") else failure_groups(summary["tests"])
    if groups:
        lines += ["", "What to fix (each reason once, the costliest first):"]
        for g in groups[:6]:
            lines.append(f"  - {g['lost']} point{'s' if g['lost'] != 1 else ''} in {g['count']} "
                         f"check{'s' if g['count'] != 1 else ''}: {g['message']}")  # fmt: skip
        if len(groups) > 6:
            lines.append(f"  ... and {len(groups) - 6} more reasons: see the failed tests below")
    if answers:
        lines += ["", "Your written answers (hw/answers.py) are graded separately by the course staff; this score "
                  "does not include them."]  # fmt: skip
        missing = missing_answers(summary)
        if missing and not summary.get("problem"):
            lines.append(f"{len(missing)} of {len(answers)} gave no text:")
            lines += [f"  - {name}: {why}" for name, why in missing.items()]
    return "\n".join(lines)


def _settings_class():
    from dataclasses import dataclass

    from course.grading.suite import Settings

    @dataclass(frozen=True)
    class GradescopeSettings(Settings):
        """Settings whose backstop for the whole suite is what is left of Gradescope's timeout."""

        limit: float = 300.0

        def suite_limit(self):
            return self.limit

    return GradescopeSettings


def grade(root: Path, started: float) -> dict:
    """Grades ``root``/submission; returns Gradescope's results.json as a dict."""
    source = root / "source"
    config = json.loads((source / CONFIG).read_text())
    from course.grading import isolation
    from course.grading.budget import Budget
    from course.grading.suite import run_suite
    from course.records.folder import bound_summary
    from course.records.review import apply_review, summary_of

    if isolation.running_as_root():
        lock_down(root)
    level, sentence = isolation.choose_level(os.environ.get("AUTOGRADER_ISOLATION", "auto"))
    print(f"Isolation: {level}: {sentence}", flush=True)
    deadline = started + config["timeout_seconds"] - RESERVE_SECONDS
    work = Path(tempfile.mkdtemp(prefix="gradescope-"))  # 0700: staff only
    try:
        staging, logs = work / "staging", work / "logs"
        logs.mkdir()
        sub = find_submission(root / "submission", staging)
        limit = max(30.0, deadline - time.monotonic() - WRITE_SECONDS)
        budget = Budget(seconds=min(config["time_budget"], limit / 2), memory_bytes=memory_budget(source, config))
        settings = _settings_class()(budget=budget, isolation=level, limit=limit, fork_suites=False)
        print(f"Budget: {budget.seconds:.0f} s of the submission's code, {budget.memory_bytes >> 20} MiB; the suite "
              f"is stopped after {limit:.0f} s", flush=True)  # fmt: skip
        catalog = [dict(t, points=0, passed=False, message="", harness_error=False, withheld=False)
                   for t in config["catalog"]]  # fmt: skip
        with MemoryWatch(uid=isolation.slot_uid(0) if isolation.running_as_root() else None) as memory:
            outcome = run_suite(sub, catalog, logs, settings, answers=config["answers"], slot=0)
        for log in sorted(logs.iterdir()):
            text = log.read_text(errors="replace")
            print(f"--- {log.name} (last 3000 characters) ---\n{text[-3000:]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tests = apply_review(outcome.tests, outcome.flags, None)
    parts = sorted({t["part"] for t in config["catalog"]})
    summary = summary_of(outcome.student, tests, parts, outcome.flags, None, problem=outcome.problem,
                         answers=outcome.answers, left_out=outcome.left_out)  # fmt: skip
    if sub.skipped:
        summary["skipped"] = sub.skipped
        bound_summary(summary)
    extra = {
        "isolation": outcome.isolation,
        "suite_seconds": round(outcome.seconds, 1),
        "worker_seconds": outcome.worker_seconds,
        "time_budget": budget.seconds,
        "flags": summary["flags"],  # bounded, as everything of the submission's that results.json shows
        "harness_errors": [t["name"] for t in outcome.harness_errors],
        "problem": summary.get("problem"),
        "grader": str(Path(__file__).resolve()),
        **memory.report(),
        **_container_memory(),
        **_cpu_use(),
    }
    print("Staff data: " + json.dumps(extra, indent=1), flush=True)
    return {
        "score": summary["score"],
        "execution_time": round(time.monotonic() - started, 1),
        "output": summary_output(summary, config["part_titles"], config["answers"]),
        "output_format": "text",
        "visibility": config["visibility"],
        "stdout_visibility": STDOUT_VISIBILITY,
        "tests": gradescope_tests(summary, config["visibility"]),
        "extra_data": extra,
    }


class Stopped(BaseException):
    """run_autograder's `timeout` (or Gradescope) sent SIGTERM."""


def grader_error(exc: BaseException, started: float) -> dict:
    """The results when the grader itself failed: no points, and the students told it is not their code."""
    what = f"{type(exc).__name__}: {str(exc)[:300]}" if str(exc) else type(exc).__name__
    why = "the autograder ran out of time" if isinstance(exc, Stopped) else "the autograder itself failed"
    return {
        "score": 0,
        "execution_time": round(time.monotonic() - started, 1),
        "output": f"Your submission could not be graded: {why}. This is not a verdict on your code; the course staff "
        "can see what happened. Please tell them, and resubmit later.",
        "tests": [],
        "stdout_visibility": STDOUT_VISIBILITY,
        "extra_data": {"grader_error": what},
    }


def write_results(path: Path, results: dict):
    """One complete JSON document, put in place in one step."""
    # Not course.records.folder.write_atomically: the grader-error path must write results.json even when the course's
    # own modules do not import.
    text = json.dumps(results, indent=1, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".results.", delete=False) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(f.name, 0o644)
    os.replace(f.name, path)


def _terminated(signum, frame):
    raise Stopped(f"stopped by signal {signal.Signals(signum).name}")


def run(root: Path) -> int:
    """run_autograder's Python part: grades and writes results.json, whatever happens on the way."""
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _terminated)  # `timeout` ends it with SIGTERM first: the results still get written
    try:
        results = grade(root, started)
    except BaseException as exc:  # noqa: BLE001 - whatever went wrong, Gradescope must get a results.json
        traceback.print_exc(file=sys.stdout)
        results = grader_error(exc, started)
    write_results(root / "results" / "results.json", results)
    print(f"Wrote {root / 'results' / 'results.json'}: {results['score']} points in {results['execution_time']} s")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root = Path(os.environ.get("AUTOGRADER_ROOT") or DEFAULT_ROOT)
    if argv == ["run"]:
        return run(root)
    if argv == ["setup"]:
        return setup(REPO_ROOT)  # the unpacked zip, where setup.sh runs it
    print("usage: python -m course.grading.gradescope run|setup   (root: $AUTOGRADER_ROOT, default /autograder)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
