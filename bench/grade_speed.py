"""
Times `course grade` on copies of the solution example and prints wall and CPU seconds per submission.

    python bench/grade_speed.py [--copies 20] [--jobs 2]

It grades the same submission under several student names, so the time is
the grader's own cost: starting the suite and the worker, the probes, the
reference trainings (once per course for the same hyper-parameters), the
feedback files and nbgrader autograde. CPU seconds count this process and
every process it started (the suites, their sandboxed workers), so they do
not depend on how busy the machine is. The hidden suite alone is timed too,
in the same run, to show how the total splits.
"""
import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from course import REPO_ROOT
from course.authoring.examples import build_example, load_examples
from course.grading.run import grade
from course.grading.suite import grading_settings, run_suite, suite_catalog
from course.reports.nbgrader import answer_names, scratch_course
from course.grading.submissions import discover, stage


def cpu_seconds():
    """CPU time of this process and of its finished children (user + system)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    solution = next(e for e in load_examples() if e.name == "solution")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        for i in range(args.copies):
            build_example(solution, tmp / "submitted" / f"student{i:02d}" / "hw2")

        settings = grading_settings(progress=False)
        course = scratch_course(tmp / "course")
        start, cpu = time.perf_counter(), cpu_seconds()
        run = grade(
            [tmp / "submitted"], tmp / "grades", jobs=args.jobs, settings=settings, progress=False, course_root=course
        )
        total, total_cpu = time.perf_counter() - start, cpu_seconds() - cpu
        assert not run.problems and all(o.points() == o.max_points() for o in run.outcomes)

        catalog = suite_catalog()
        (sub,) = discover(tmp / "submitted" / "student00" / "hw2")
        stage(sub, tmp / "staging")
        (tmp / "logs").mkdir()
        start, cpu = time.perf_counter(), cpu_seconds()
        run_suite(sub, catalog, tmp / "logs", settings, answer_names(REPO_ROOT))
        suite, suite_cpu = time.perf_counter() - start, cpu_seconds() - cpu

    print(f"isolation: {settings.isolation}")
    print(f"course grade, {args.copies} submissions, --jobs {args.jobs}: {total:.1f} s "
          f"= {total / args.copies:.1f} s per submission; CPU {total_cpu / args.copies:.1f} s per submission")
    print(f"hidden suite alone, one submission, sequential: {suite:.1f} s, CPU {suite_cpu:.1f} s "
          f"({len(catalog)} tests, {sum(t['max_points'] for t in catalog)} points)")


if __name__ == "__main__":
    main()
