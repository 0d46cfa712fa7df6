"""
Runs the Gradescope autograder on bundled examples inside a memory cgroup with
Gradescope's default limit, as its container would, and prints for each run the
score, the cgroup's peak, whether the kernel had to kill a process, and the
largest processes at the grader's own peak (proportional set size).

    .venv/bin/python bench/gradescope_memory.py [--python PATH] [--limit-mib 768] [--example solution ...]

Gradescope installs torch's CPU build (the zip's requirements.txt); a CUDA build
maps far more. --python names the interpreter of an environment that holds the
CPU build and the zip's other requirements (it becomes run_autograder's
AUTOGRADER_PYTHON). Needs root and a writable memory controller (cgroup v1 or v2).
The cgroup's peak counts the page cache too, which the kernel reclaims before it
kills anything: the kills and the score say whether the limit holds.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course import ASSIGNMENT
from course.grading import gradescope
from course.authoring.examples import build_example, load_examples

CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1 = Path("/sys/fs/cgroup/memory")


class MemoryCgroup:
    """A memory cgroup with a limit: v2 where the unified hierarchy is mounted at /sys/fs/cgroup, else v1."""

    def __init__(self, name: str, limit: int):
        self.v2 = (CGROUP_V2 / "cgroup.controllers").exists()
        self.path = (CGROUP_V2 if self.v2 else CGROUP_V1) / name
        self.path.mkdir(exist_ok=True)
        (self.path / ("memory.max" if self.v2 else "memory.limit_in_bytes")).write_text(str(limit))
        if not self.v2:
            (self.path / "memory.max_usage_in_bytes").write_text("0")

    def enter(self):
        """For subprocess's preexec_fn: the child and everything it starts are charged here."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def _counters(self, name):
        lines = (self.path / name).read_text().split("\n")
        return {key: int(value) for key, value in (line.split() for line in lines if line.strip())}

    def report(self) -> dict:
        if self.v2:
            return {"peak_mib": int((self.path / "memory.peak").read_text()) >> 20,
                    "oom_kills": self._counters("memory.events").get("oom_kill", 0)}  # fmt: skip
        return {"peak_mib": int((self.path / "memory.max_usage_in_bytes").read_text()) >> 20,
                "oom_kills": self._counters("memory.oom_control").get("oom_kill", 0)}  # fmt: skip

    def remove(self):
        """Once its last process is gone (the grader's fork server ends a moment after run_autograder)."""
        deadline = time.monotonic() + 30
        while (self.path / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.path.rmdir()


def run(root: Path, example: str, python: str, limit: int) -> dict:
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    built = build_example(next(e for e in load_examples() if e.name == example), Path(tempfile.mkdtemp()) / ASSIGNMENT)
    shutil.copytree(built / "hw", submission / "hw")
    shutil.rmtree(built.parent)
    cgroup = MemoryCgroup(f"hw-gradescope-bench-{os.getpid()}", limit)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": python}
    try:
        subprocess.run([str(root / "run_autograder")], cwd=root, env=env, preexec_fn=cgroup.enter,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)  # fmt: skip
        measured = cgroup.report()
    finally:
        cgroup.remove()
    results = json.loads((root / "results" / "results.json").read_text())
    extra = results.get("extra_data", {})
    return {
        "example": example,
        "score": results["score"],
        "max_score": sum(t["max_score"] for t in results["tests"]),
        **measured,
        "grader_peak_pss_mib": extra.get("peak_pss_mib"),
        "processes_at_peak_mib": extra.get("processes_at_peak_pss_mib"),
        "seconds": results["execution_time"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="run_autograder's interpreter (default: this one)")
    parser.add_argument("--limit-mib", type=int, default=768, help="the container's memory (Gradescope's default)")
    parser.add_argument("--example", action="append", help="bundled example to grade (default: solution, release)")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="gradescope-bench-"))
    base.chmod(0o755)  # as in the container: only run_autograder's own locks keep the sandbox out
    root = base / "autograder"
    try:
        archive = gradescope.build_zip(base / "autograder.zip")
        gradescope.unpack(archive, root / "source")
        shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
        print(f"{args.python}: limit {args.limit_mib} MiB")
        for example in args.example or ["solution", "release"]:
            print(json.dumps(run(root, example, args.python, args.limit_mib << 20), indent=1), flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
