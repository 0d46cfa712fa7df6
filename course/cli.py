"""
The ``course`` command: build, grade and validate the homework.

    course release            build release/hw2 from hw/ and source/hw2
    course assets             regenerate tests/assets from the solution
    course grade PATH...      grade submissions into grades/
    course review [STUDENT]   list flagged submissions, or clear / uphold one
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


def print_flagged(outcomes, out):
    flagged = [o.student for o in outcomes if o.flags]
    if flagged:
        print(f"\nFlagged for staff review (points withheld): {', '.join(flagged)}; see `course review --out {out}`")


def settings_from(args):
    """The grading settings the options ask for; prints the isolation level and the budget in force."""
    from course.grade import grading_settings
    from course.isolation import choose_level

    level, sentence = choose_level(args.isolation)
    settings = grading_settings(
        time_budget=args.time_budget,
        probe_timeout=args.probe_timeout,
        isolation_level=level,
        memory_bytes=args.memory_mib << 20,
        disk_bytes=args.disk_mib << 20,
        processes=args.processes,
    )
    b = settings.budget
    print(f"Isolation: {sentence}")
    print(f"Budget per submission: {b.seconds:.0f} s in all, {b.probe_seconds:.0f} s per check, "
          f"{b.memory_bytes >> 20} MiB of memory, {b.processes} processes, {b.disk_bytes >> 20} MiB of disk")  # fmt: skip
    return settings


def cmd_grade(args):
    from course.grade import grade

    course_root = args.course_root.resolve()
    if not (course_root / "nbgrader_config.py").is_file() or not (course_root / "source" / ASSIGNMENT).is_dir():
        print(f"course grade: {args.course_root} is not an nbgrader course folder "
              f"(expected nbgrader_config.py and source/{ASSIGNMENT}/ in it)", file=sys.stderr)  # fmt: skip
        return 2
    try:
        settings = settings_from(args)
        outcomes, parts, problems = grade(
            args.paths,
            args.out,
            jobs=args.jobs,
            settings=settings,
            execute=args.execute,
            course_root=course_root,
        )
    except SubmissionError as exc:
        print(f"course grade: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # an isolation level that cannot run here, a solution that cannot calibrate
        print(f"course grade: {exc}", file=sys.stderr)
        return 2
    print_table(outcomes, parts)
    print_flagged(outcomes, args.out)
    print(f"\nGradebook: {args.out / 'gradebook.csv'}; feedback: {args.out}/<student>/feedback.html")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def example_matches(example):
    """A predicate: does a graded outcome fail exactly the tests the example expects?"""

    def check(outcome):
        failed = {t["name"] for t in outcome.tests if not t["passed"]}
        if bool(outcome.flags) != example.flagged:
            return False
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
    outcomes, parts, problems = grade([submitted], args.out, jobs=args.jobs, settings=settings_from(args))
    expectations = {e.name: example_matches(e) for e in examples}
    print()
    print_table(outcomes, parts, expectations)
    print_failures(outcomes)
    print_flagged(outcomes, args.out)
    print(f"\nGradebook:  {args.out / 'gradebook.csv'}")
    print(f"Feedback:   {args.out}/<student>/feedback.html and results.json")
    print("Written answers: run `jupyter server` here and open /formgrader (nbgrader's gradebook is gradebook.db)")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    unexpected = [o.student for o in outcomes if not expectations[o.student](o)]
    if unexpected:
        print(f"These examples were not graded as expected: {', '.join(unexpected)}", file=sys.stderr)
    return 1 if unexpected or problems else 0


def cmd_review(args):
    from course.review import CLEARED, UPHELD, decide, read_summaries

    if args.student is None:
        flagged = [s for s in read_summaries(args.out) if s.get("flags")]
        if not flagged:
            print(f"No flagged submissions in {args.out}")
        for s in flagged:
            print(f"{s['student']}: {s['review']['decision']}")
            for flag in s["flags"]:
                print(f"  - {flag['message']}")
        return 0
    if args.clear == args.uphold:
        print("course review: give --clear or --uphold with a student", file=sys.stderr)
        return 2
    try:
        summary = decide(args.out, args.student, CLEARED if args.clear else UPHELD, args.note)
    except LookupError as exc:
        print(f"course review: {exc}", file=sys.stderr)
        return 2
    print(f"{args.student}: {summary['review']['decision']}; score {summary['score']} / {summary['max_score']}")
    return 0


def cmd_validate(args):
    from course.validate import validate

    return 0 if validate(execute_notebooks=not args.skip_notebooks) else 1


def add_budget_options(p):
    from course.sandbox import Budget

    b = Budget()
    p.add_argument("--isolation", default="auto", choices=["auto", "bubblewrap", "uid", "process"],
                   help="how submissions are kept apart (default: the strongest available; see the README)")
    p.add_argument("--time-budget", type=float, default=None,
                   help="seconds a submission's code may run in all (default: a multiple of the solution's time "
                        "on this machine, measured once)")
    p.add_argument("--probe-timeout", type=float, default=b.probe_seconds,
                   help=f"seconds one check may run (default: {b.probe_seconds:.0f})")
    p.add_argument("--memory-mib", type=int, default=b.memory_bytes >> 20,
                   help=f"memory of all of a submission's processes together (default: {b.memory_bytes >> 20})")
    p.add_argument("--disk-mib", type=int, default=b.disk_bytes >> 20,
                   help=f"disk a submission may write (default: {b.disk_bytes >> 20})")
    p.add_argument("--processes", type=int, default=b.processes,
                   help=f"processes and threads a submission may run at once (default: {b.processes})")  # fmt: skip


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
    p.add_argument("--execute", action="store_true", help="re-execute the notebooks in nbgrader autograde (HW_FAST=1)")
    p.add_argument("--course-root", type=Path, default=REPO_ROOT,
                   help="nbgrader course folder whose gradebook.db receives the notebooks for formgrader "
                        "(default: this repository)")  # fmt: skip
    add_budget_options(p)
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("demo", help="build the release and grade the bundled examples")
    p.add_argument("--out", type=Path, default=Path("grades"), help="output folder (default: grades)")
    p.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel (default: 2)")
    add_budget_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("review", help="list flagged submissions, or clear or uphold one")
    p.add_argument("student", nargs="?", help="the student whose flags are decided")
    p.add_argument("--out", type=Path, default=Path("grades"), help="grading output folder (default: grades)")
    p.add_argument("--clear", action="store_true", help="the code is fine: give back the withheld points")
    p.add_argument("--uphold", action="store_true", help="the code cheats: the withheld points stay at zero")
    p.add_argument("--note", default="", help="why, for the record in reviews.json")
    p.set_defaults(func=cmd_review)

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
