"""
Times `course grade` when it has nothing to do: a class graded once, graded
again with no submission, suite or budget changed (a TA who runs the command
twice, or after adding one late student's zip to a class that is done).

    python bench/noop_regrade.py [--students 200]

The class is the release handed in under N names. The first run grades one
of them with the hidden suite and gives the others the same outcome (the
suite's results of identical submissions are identical; running it N times
would take an hour and measure nothing this bench is about); nbgrader's
autograde, the gradebook, feedback and class-wide files (the similarity report
included) are all made for real. The second run is the `course grade` command itself, timed from the
shell's side: interpreter start and imports included, as a TA waits for it.
"""
import argparse
import copy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course import ASSIGNMENT, REPO_ROOT
from course.grading import run, suite
from course.reports.similarity import graded_class_report
from course.reports.nbgrader import scratch_course


BUDGET_SECONDS = 600


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="build the class in this new folder and keep it (to profile a run)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        release = REPO_ROOT / "release" / ASSIGNMENT
        for i in range(args.students):
            shutil.copytree(release, tmp / "submitted" / f"s{i:04d}", ignore=shutil.ignore_patterns("__pycache__"))
        course = scratch_course(tmp / "course")
        out = tmp / "grades"

        # A fixed budget (the calibrated one would be measured first, and is another bench's subject); the command
        # below is given the same, since the budget is part of what a grade depends on.
        settings = suite.grading_settings(time_budget=BUDGET_SECONDS, progress=False)
        graded = {}
        real_run_suite = suite.run_suite

        def run_suite_once(sub, catalog, logs, settings, answers=None, slot=0):
            if "outcome" not in graded:
                graded["outcome"] = real_run_suite(sub, catalog, logs, settings, answers, slot=slot)
            outcome = copy.deepcopy(graded["outcome"])
            outcome.student = sub.student
            return outcome

        suite.run_suite = run_suite_once
        start = time.perf_counter()
        first = run.grade([tmp / "submitted"], out, jobs=1, settings=settings, progress=False, course_root=course)
        graded_class_report(out)  # as `course grade` does after grading: the class's similarity, cached for the next run
        first_seconds = time.perf_counter() - start
        assert len(first.summaries) == args.students and not first.problems, first.problems[:3]

        command = [str(Path(sys.executable).parent / "course"), "grade", str(tmp / "submitted"), "--out", str(out),
                   "--course-root", str(course), "--time-budget", str(BUDGET_SECONDS)]  # fmt: skip
        start = time.perf_counter()
        again = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
        again_seconds = time.perf_counter() - start
        assert again.returncode == 0 and "Graded now: 0" in again.stdout, again.stdout[-2000:] + again.stderr[-2000:]

    print(f"{args.students} students: first run (one suite, every autograde and file) {first_seconds:.1f} s; "
          f"`course grade` again with nothing to do {again_seconds:.1f} s")


if __name__ == "__main__":
    main()
