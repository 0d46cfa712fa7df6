"""
The ``course`` command: build, grade and validate the homework.

    course release            build release/hw2 from hw/ and source/hw2
    course assets             regenerate tests/assets from the solution
    course grade PATH...      grade submissions into grades/
    course demo               release + grade the bundled examples + print the gradebook
    course validate           the CI gate
"""
import argparse
import sys
from pathlib import Path

from course import ASSIGNMENT, REPO_ROOT
from course.submissions import SubmissionError


def cmd_release(args):
    from course.release import build_release

    out = build_release()
    print(f"Built {out.relative_to(REPO_ROOT)}")
    return 0


def cmd_assets(args):
    from course.assets import ASSETS_DIR, write_assets

    written = write_assets()
    where = ASSETS_DIR.relative_to(REPO_ROOT)
    print(f"Wrote {', '.join(written)} to {where}" if written else f"{where} is up to date")
    return 0


def print_table(outcomes, parts, expectations=None):
    """The gradebook as a text table; with expectations, a column saying whether each example behaved."""
    header = ["student", *parts, "total", "max"] + (["as expected"] if expectations else [])
    rows = []
    for o in outcomes:
        row = [o.student, *(str(o.points(p)) for p in parts), str(o.points()), str(o.max_points())]
        if expectations:
            row.append("yes" if expectations[o.student](o) else "NO")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def print_failures(outcomes):
    """What each student lost and why; tests that failed for the same reason share one line."""
    for o in outcomes:
        failed = [t for t in o.tests if not t["passed"]]
        if not failed:
            continue
        lost = "every test failed" if len(failed) == len(o.tests) else f"lost {o.max_points() - o.points()} points"
        print(f"\n{o.student}: {lost}")
        by_message = {}
        for t in failed:
            by_message.setdefault(t["message"], []).append(t["name"])
        for message, names in by_message.items():
            label = names[0] if len(names) == 1 else f"{len(names)} tests ({names[0]}, ...)"
            print(f"  - {label}: {message}")


def cmd_grade(args):
    from course.grade import grade

    course_root = args.course_root.resolve()
    if not (course_root / "nbgrader_config.py").is_file() or not (course_root / "source" / ASSIGNMENT).is_dir():
        print(f"course grade: {args.course_root} is not an nbgrader course folder "
              f"(expected nbgrader_config.py and source/{ASSIGNMENT}/ in it)", file=sys.stderr)  # fmt: skip
        return 2
    try:
        outcomes, parts, problems = grade(
            args.paths,
            args.out,
            jobs=args.jobs,
            probe_timeout=args.probe_timeout,
            execute=args.execute,
            course_root=course_root,
        )
    except SubmissionError as exc:
        print(f"course grade: {exc}", file=sys.stderr)
        return 2
    print_table(outcomes, parts)
    print(f"\nGradebook: {args.out / 'gradebook.csv'}; feedback: {args.out}/<student>/feedback.html")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def example_matches(example):
    """A predicate: does a graded outcome fail exactly the tests the example expects?"""

    def check(outcome):
        failed = {t["name"] for t in outcome.tests if not t["passed"]}
        if example.expect_failed == "all":
            return len(failed) == len(outcome.tests) and not outcome.harness_errors
        expected = set(example.expect_failed)
        expected |= {t["name"] for t in outcome.tests if t["part"] in example.expect_failed_parts}
        return failed == expected and not outcome.harness_errors

    return check


def cmd_demo(args):
    from course.examples import build_all
    from course.grade import grade
    from course.release import build_release

    print(f"1/3 Building the student release: {build_release().relative_to(REPO_ROOT)}")
    submitted = REPO_ROOT / "build" / "demo" / "submitted"
    examples = build_all(submitted)
    print(f"2/3 Built {len(examples)} example submissions in {submitted.relative_to(REPO_ROOT)}")
    print("3/3 Grading them (hidden suite in a sandboxed worker, then nbgrader autograde)")
    outcomes, parts, problems = grade([submitted], args.out, jobs=args.jobs)
    expectations = {e.name: example_matches(e) for e in examples}
    print()
    print_table(outcomes, parts, expectations)
    print_failures(outcomes)
    print(f"\nGradebook:  {args.out / 'gradebook.csv'}")
    print(f"Feedback:   {args.out}/<student>/feedback.html and results.json")
    print("Written answers: run `jupyter server` here and open /formgrader (nbgrader's gradebook is gradebook.db)")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    unexpected = [o.student for o in outcomes if not expectations[o.student](o)]
    if unexpected:
        print(f"These examples were not graded as expected: {', '.join(unexpected)}", file=sys.stderr)
    return 1 if unexpected or problems else 0


def cmd_validate(args):
    from course.validate import validate

    return 0 if validate(execute_notebooks=not args.skip_notebooks) else 1


def build_parser():
    parser = argparse.ArgumentParser(prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("release", help="build release/hw2 from the sources").set_defaults(func=cmd_release)
    sub.add_parser("assets", help="regenerate tests/assets from the solution").set_defaults(func=cmd_assets)

    p = sub.add_parser("grade", help="grade submissions")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a submission folder, an nbgrader submitted/ tree, a folder of .zip files, or a .zip")
    p.add_argument("--out", type=Path, default=Path("grades"), help="output folder (default: grades)")
    p.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel (default: 2)")
    p.add_argument("--probe-timeout", type=float, default=10.0, help="seconds each probe may run (default: 10)")
    p.add_argument("--execute", action="store_true", help="re-execute the notebooks in nbgrader autograde (HW_FAST=1)")
    p.add_argument("--course-root", type=Path, default=REPO_ROOT,
                   help="nbgrader course folder whose gradebook.db receives the notebooks for formgrader "
                        "(default: this repository)")  # fmt: skip
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("demo", help="build the release and grade the bundled examples")
    p.add_argument("--out", type=Path, default=Path("grades"), help="output folder (default: grades)")
    p.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel (default: 2)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("validate", help="check that the assignment is sound (CI gate)")
    p.add_argument("--skip-notebooks", action="store_true", help="do not execute the source notebooks")
    p.set_defaults(func=cmd_validate)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
