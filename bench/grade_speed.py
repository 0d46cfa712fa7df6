"""
Times `course grade` on copies of the solution example and prints seconds per submission.

    python bench/grade_speed.py [--copies 4] [--jobs 2]

It grades the same submission under several student names, so the time is
the grader's own cost: starting the suite and the worker, the probes, the
feedback files and nbgrader autograde. The hidden suite alone is timed too,
in the same run, to show how the total splits.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

from course.examples import build_example, load_examples
from course.grade import grade, grading_settings, run_suite, suite_catalog
from course.gradebook import scratch_course
from course.submissions import discover, stage


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    solution = next(e for e in load_examples() if e.name == "solution")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        for i in range(args.copies):
            build_example(solution, tmp / "submitted" / f"student{i:02d}" / "hw2")

        settings = grading_settings(progress=False)
        start = time.perf_counter()
        course = scratch_course(tmp / "course")
        run = grade(
            [tmp / "submitted"], tmp / "grades", jobs=args.jobs, settings=settings, progress=False, course_root=course
        )
        total = time.perf_counter() - start
        assert not run.problems and all(o.points() == o.max_points() for o in run.outcomes)

        catalog = suite_catalog()
        (sub,) = discover(tmp / "submitted" / "student00" / "hw2")
        stage(sub, tmp / "staging")
        (tmp / "logs").mkdir()
        start = time.perf_counter()
        run_suite(sub, catalog, tmp / "logs", settings)
        suite = time.perf_counter() - start

    print(f"isolation: {settings.isolation}")
    print(f"course grade, {args.copies} submissions, --jobs {args.jobs}: {total:.1f} s "
          f"= {total / args.copies:.1f} s per submission")
    print(f"hidden suite alone, one submission, sequential: {suite:.1f} s "
          f"({len(catalog)} tests, {sum(t['max_points'] for t in catalog)} points)")


if __name__ == "__main__":
    main()
