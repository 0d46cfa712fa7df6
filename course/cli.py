"""
The ``course`` command: build, grade and validate the homework.

    course release            build release/hw2 from hw/ and source/hw2
    course assets             regenerate tests/assets from the solution
    course grade PATH...      grade submissions into grades/ (--scheduler: on a Dask cluster)
    course similarity PATH... rank pairs of submissions by how alike their code is
    course gradescope         build the autograder zip for Gradescope
    course review [STUDENT]   list flagged submissions, or clear / uphold one
    course export             the one gradebook as CSV (and for Canvas)
    course feedback           each student's feedback (hidden results, written answers' grades), and a zip of them
    course roster FILE.csv    students' names and e-mails into nbgrader's gradebook
    course remove STUDENT...  take students (or the demo's --examples) out of the course
    course demo               release + grade the bundled examples + print the gradebook
    course validate           the CI gate
    course targets            every accuracy a notebook promises, measured on the real data sets
"""
import argparse
import csv
import signal
import sys
from pathlib import Path

from course import ASSIGNMENT, REPO_ROOT
from course.grading.submissions import SubmissionError


def cmd_release(args):
    from course.authoring.release import build_release

    try:
        out = build_release()
    except RuntimeError as exc:
        return fail("release", exc)
    print(f"Built {out.relative_to(REPO_ROOT)}")
    return 0


def cmd_assets(args):
    from course import ASSETS_DIR
    from course.authoring.assets import write_assets

    written = write_assets()
    where = ASSETS_DIR.relative_to(REPO_ROOT)
    print(f"Wrote {', '.join(written)} to {where}" if written else f"{where} is up to date")
    return 0


def print_table(summaries, parts, expectations=None):
    """The gradebook as a text table; with expectations, a column saying whether each example behaved."""
    header = ["student", *parts, "total", "max", "note"] + (["as expected"] if expectations else [])
    rows = []
    for s in summaries.values():
        scores = [str(s["parts"].get(p, {}).get("score", "")) for p in parts] + [str(s["score"])]
        if s.get("problem"):
            scores = ["-"] * len(scores)
        row = [s["student"], *scores, str(s["max_score"]), table_note(s)]
        if expectations:
            row.append("yes" if expectations[s["student"]](s) else "NO")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def table_note(summary):
    """Why a row of the results table is not a plain grade."""
    if summary.get("problem"):
        return "problem: not graded"
    if summary.get("notebook_problem"):
        return "problem: notebooks"
    review = (summary.get("review") or {}).get("decision")
    return f"review {review}" if review else ""


def print_failures(summaries, out, shown=4):
    """What each student lost and why, the costliest reasons first; tests that failed for the same reason share one line."""
    from course.reports.feedback import failure_groups

    for s in summaries.values():
        groups = failure_groups(s["tests"])
        if not groups:
            continue
        if (s.get("review") or {}).get("decision") == "pending":
            lost = f"{s['score']} / {s['max_score']} while its points are withheld pending staff review"
        elif all(not t["passed"] for t in s["tests"]):
            lost = "every test failed"
        else:
            lost = f"lost {s['max_score'] - s['score']} points"
        print(f"\n{s['student']}: {lost}")
        for g in groups[:shown]:
            label = g["descriptions"][0] if g["count"] == 1 else f"{g['count']} checks"
            print(f"  - {label}: {g['message']}")
        if len(groups) > shown:
            print(f"  ... and {len(groups) - shown} more reasons: {out / s['student'] / 'feedback.html'}")


def print_flagged(summaries, out):
    flagged = [s["student"] for s in summaries.values() if s.get("flags")]
    if flagged:
        print(f"\nFlagged for staff review (points withheld): {', '.join(flagged)}; see `course review --out {out}`")


def settings_from(args):
    """The grading settings the options ask for; prints the isolation level and the budget in force."""
    from course.grading.suite import grading_settings
    from course.grading.isolation import choose_level

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


def fail(command, message):
    print(f"course {command}: {message}", file=sys.stderr)
    return 2


def is_course(root: Path):
    return (root / "nbgrader_config.py").is_file() and (root / "source" / ASSIGNMENT).is_dir()


def not_a_course(root: Path):
    return f"{root} is not an nbgrader course folder (expected nbgrader_config.py and source/{ASSIGNMENT}/ in it)"


OVERRIDES_RECORDED = "Hidden-test points set in formgrader, now in gradebook.csv and the feedback"


FILE_TIMES_WARNING = ("Lateness comes from the times of the students' files, which their own computers wrote (a zip's "
                      "entries, a folder's modification times) and a student can set: for a deadline that counts, give "
                      "--submission-times with the times your LMS recorded")  # fmt: skip


def print_run(run, out):
    if run.unchanged:
        print(f"Not graded again (same submission, suite and budget; --force regrades): {len(run.unchanged)} "
              f"student{'s' if len(run.unchanged) != 1 else ''}")  # fmt: skip
        if run.restored:
            print(f"  put back into gradebook.db (another grading folder had replaced them): {', '.join(run.restored)}")
        if run.retimed:
            print(f"  lateness updated (due date, extension or submission time changed): {', '.join(run.retimed)}")
        from course.records.folder import problem_of

        for student in run.unchanged:  # a problem found by an earlier run is still a problem
            problem = problem_of(run.summaries[student])
            if problem:
                print(f"  {student} still has a problem: {problem}")
    print(f"Graded now: {len(run.outcomes)}\n")
    if run.overridden:
        print(f"{OVERRIDES_RECORDED}: {', '.join(run.overridden)}")
    from course.grading.deadlines import dated_by_own_files

    guessed = dated_by_own_files(run.summaries)
    if guessed:
        print(f"{FILE_TIMES_WARNING} ({len(guessed)} student{'s' if len(guessed) != 1 else ''})\n")


def cmd_grade(args):
    # The paths are checked before anything heavy is imported: a typo is answered at once.
    from course.grading.submissions import discover

    course_root = args.course_root.resolve()
    if not is_course(course_root):
        return fail("grade", not_a_course(args.course_root))
    try:
        for path in args.paths:
            discover(path)
    except SubmissionError as exc:
        return fail("grade", exc)
    from course.grading.deadlines import DeadlineError, Deadlines, parse_time, read_extensions, read_times
    from course.grading.run import grade

    try:
        deadlines = Deadlines(
            due=parse_time(args.due, "--due") if args.due else None,
            extensions=read_extensions(args.extensions) if args.extensions else {},
            times=read_times(args.submission_times) if args.submission_times else {},
        )
    except DeadlineError as exc:
        return fail("grade", exc)
    try:
        settings = settings_from(args)
        if args.scheduler:
            print(f"Grading on the Dask cluster at {args.scheduler} (its workers decide how many at once)")
        run = grade(args.paths, args.out, jobs=args.jobs, settings=settings, execute=args.execute,
                    course_root=course_root, force=args.force, scheduler=args.scheduler, deadlines=deadlines)  # fmt: skip
    except (SubmissionError, RuntimeError) as exc:  # a level that cannot run here, a solution that cannot calibrate
        return fail("grade", exc)
    print_run(run, args.out)
    print_table(run.summaries, run.parts)
    print_flagged(run.summaries, args.out)
    print_similarity(args.out)
    print(f"\nGradebook: {args.out / 'gradebook.csv'} (every student in {args.out}); "
          f"feedback: {args.out}/<student>/feedback.html; the class: {args.out / 'class.html'}")  # fmt: skip
    if run.problems:
        print(f"\n{len(run.problems)} submission(s) with a problem (see above and the 'problem' column)", file=sys.stderr)
    return 1 if run.problems else 0


def cmd_similarity(args):
    # The paths are checked before anything heavy is imported: a typo is answered at once.
    from course.grading.submissions import discover

    try:
        for path in args.paths:
            discover(path)
    except SubmissionError as exc:
        return fail("similarity", exc)
    from course.reports.similarity import similarity_report, summary_line

    out_html = args.out / "similarity.html"
    try:
        pairs = similarity_report(args.paths, out_html)  # problems are printed to stderr as well
    except (SubmissionError, FileNotFoundError) as exc:  # FileNotFoundError: release/hw2/hw not built
        return fail("similarity", exc)
    print(summary_line(pairs, out_html))
    return 0


def print_similarity(out):
    """The similarity report of every student graded into ``out``, and its most similar pair; the grades are written already."""
    from course.reports.similarity import graded_class_report, summary_line

    try:
        pairs = graded_class_report(out)
        print(summary_line(pairs, out / "similarity.html"))
    except OSError as exc:
        print(f"Similarity report not written: {exc}", file=sys.stderr)


def cmd_gradescope(args):
    from course.grading.gradescope import build_zip

    try:
        out = build_zip(args.out, visibility=args.visibility, timeout=args.timeout)
    except (RuntimeError, ValueError) as exc:  # a suite that does not collect, a timeout out of range
        return fail("gradescope", exc)
    print(f"Built {out} ({out.stat().st_size >> 10} KiB). On Gradescope: Configure Autograder > Zip file upload, "
          "then Update Autograder; give it at least 2 GB of memory in its settings (see the README)")  # fmt: skip
    return 0


def example_matches(example):
    """A predicate: does a graded student (results.json) fail exactly the tests the example expects?"""

    def check(summary):
        tests = summary["tests"]
        failed = {t["name"] for t in tests if not t["passed"]}
        if bool(summary.get("flags")) != example.flagged or any(t.get("harness_error") for t in tests):
            return False
        if example.expect_failed == "all":
            return len(failed) == len(tests)
        expected = set(example.expect_failed)
        expected |= {t["name"] for t in tests if t["part"] in example.expect_failed_parts}
        return failed == expected

    return check


def cmd_demo(args):
    from course.authoring.examples import build_all
    from course.grading.run import grade
    from course.authoring.release import build_release

    print(f"1/3 Building the student release: {build_release().relative_to(REPO_ROOT)}")
    submitted = REPO_ROOT / "build" / "demo" / "submitted"
    examples = build_all(submitted)
    print(f"2/3 Built {len(examples)} example submissions in {submitted.relative_to(REPO_ROOT)}")
    print("3/3 Grading them (hidden suite in a sandboxed worker, then nbgrader autograde)")
    run = grade([submitted], args.out, jobs=args.jobs, settings=settings_from(args), force=args.force)
    expectations = {e.name: example_matches(e) for e in examples}
    print_run(run, args.out)
    print_table(run.summaries, run.parts, expectations)
    print_failures(run.summaries, args.out)
    print_flagged(run.summaries, args.out)
    print(f"\nGradebook:  {args.out / 'gradebook.csv'}")
    print(f"Feedback:   {args.out}/<student>/feedback.html and results.json")
    print("Written answers and the one gradebook (hidden + manual points): see the README's section for TAs")
    print(f"The {len(examples)} examples are students of this course's gradebook.db now (formgrader shows them); "
          "before grading a real class, `course remove --examples` takes them out.")  # fmt: skip
    unexpected = [s for s in run.summaries if not expectations[s](run.summaries[s])]
    if unexpected:
        print(f"These examples were not graded as expected: {', '.join(unexpected)}", file=sys.stderr)
    return 1 if unexpected or run.problems else 0


def cmd_review(args):
    from course.records.folder import read_summaries
    from course.records.review import CLEARED, decide, UPHELD

    if args.student is None:
        flagged = [s for s in read_summaries(args.out) if s.get("flags")]
        if not flagged:
            print(f"No flagged submissions in {args.out}")
        for s in flagged:
            print(f"{s['student']}: {s['review']['decision']}")
            for flag in s["flags"]:
                print(f"  - {flag['message']}")
        return 0
    if args.clear and args.uphold:
        return fail("review", "give either --clear or --uphold, not both")
    if not (args.clear or args.uphold):
        return fail("review", f"say what to decide for {args.student}: --clear (give back the points) or --uphold")
    if not is_course(args.course_root.resolve()):
        return fail("review", not_a_course(args.course_root))
    try:
        summary = decide(args.out, args.student, CLEARED if args.clear else UPHELD, args.note)
    except LookupError as exc:
        return fail("review", exc)
    from course.reports.nbgrader import NbgraderCourse

    from course.reports.class_report import write_class_report
    from course.reports.feedback import write_feedback

    write_feedback(args.out, summary)
    write_class_report(args.out)
    NbgraderCourse(args.course_root.resolve()).record_decision(args.student, summary)
    print(f"{args.student}: {summary['review']['decision']}; score {summary['score']} / {summary['max_score']}")
    return 0


def cmd_export(args):
    course_root = args.course_root.resolve()
    if not is_course(course_root):
        return fail("export", not_a_course(args.course_root))
    if not (course_root / "gradebook.db").exists():
        return fail("export", f"{course_root / 'gradebook.db'} does not exist yet: grade the submissions first")
    if not args.out.is_dir():
        return fail("export", f"{args.out}: no such grading folder (give the --out that `course grade` wrote to)")
    from course.reports.nbgrader import NbgraderCourse, write_canvas_export, write_export
    from course.records.folder import write_gradebook
    from course.records.review import record_overrides
    from course.reports.feedback import rewrite_feedback

    overridden = record_overrides(args.out, NbgraderCourse(course_root).hidden_overrides())
    rewrite_feedback(args.out, overridden)
    if overridden:
        print(f"{OVERRIDES_RECORDED}: {', '.join(overridden)}")
    write_gradebook(args.out)  # after students were removed by hand, the CSV follows too
    csv_path, canvas_path = args.out / "export.csv", args.out / "canvas.csv"
    count, incomplete = write_export(csv_path, course_root, results=args.out, bom=args.bom)
    _, unmatched = write_canvas_export(canvas_path, course_root, results=args.out, column=args.canvas_column, bom=args.bom)
    print(f"Wrote {count} students to {csv_path} (hidden points per part, manual points per question, total) "
          f"and {canvas_path} (Canvas gradebook import)")  # fmt: skip
    if unmatched:
        print(f"Canvas cannot match {len(unmatched)} student(s) of {canvas_path.name} (no Canvas ID: import Canvas's "
              f"gradebook export with `course roster` first): {', '.join(unmatched[:10])}"
              f"{' ...' if len(unmatched) > 10 else ''}", file=sys.stderr)  # fmt: skip
    for reason, students in incomplete.items():
        print(f"Not final, so left empty in {canvas_path.name}: {len(students)} {reason}: {', '.join(students[:10])}"
              f"{' ...' if len(students) > 10 else ''}")  # fmt: skip
    return 0


def cmd_feedback(args):
    course_root = args.course_root.resolve()
    if not is_course(course_root):
        return fail("feedback", not_a_course(args.course_root))
    if not (course_root / "gradebook.db").exists() or not args.out.is_dir():
        return fail("feedback", f"nothing graded yet: grade into {args.out} first (course grade --out {args.out})")
    from course.reports.nbgrader import NbgraderCourse, give_back
    from course.records.review import record_overrides
    from course.reports.feedback import rewrite_feedback

    rewrite_feedback(args.out, record_overrides(args.out, NbgraderCourse(course_root).hidden_overrides()))
    archive, students = give_back(args.out, course_root)
    print(f"Wrote the feedback of {len(students)} students to {archive.with_suffix('')}/<student>.html and {archive} "
          "(one file per student, named by their id, for an LMS's bulk upload of feedback files)")  # fmt: skip
    return 0


def cmd_remove(args):
    course_root = args.course_root.resolve()
    if not is_course(course_root):
        return fail("remove", not_a_course(args.course_root))
    students = list(args.students)
    if args.examples:
        from course.authoring.examples import load_examples

        students += [e.name for e in load_examples()]
    if not students:
        return fail("remove", "name the students to remove, or give --examples")
    if not (course_root / "gradebook.db").exists():
        return fail("remove", f"{course_root / 'gradebook.db'} does not exist: there is nobody to remove")
    from course.reports.nbgrader import remove_students

    try:
        found = remove_students(students, course_root, args.out)
    except ValueError as exc:
        return fail("remove", exc)
    missing = [s for s in students if s not in found]
    if found:
        also = f", and from {args.out}" if args.out.is_dir() else ""
        print(f"Removed {len(found)} student{'s' if len(found) != 1 else ''} from {course_root.name}'s gradebook.db, "
              f"submitted/, autograded/ and feedback/{also}: {', '.join(found)}")  # fmt: skip
    if missing:
        print(f"Not found: {', '.join(missing)}", file=sys.stderr)
    return 0 if found or args.examples else 2


def cmd_roster(args):
    course_root = args.course_root.resolve()
    if not is_course(course_root):
        return fail("roster", not_a_course(args.course_root))
    if not args.csv.is_file():
        return fail("roster", f"{args.csv}: no such file")
    from course.reports.nbgrader import import_roster

    try:
        count = import_roster(args.csv, course_root)
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        return fail("roster", exc)
    print(f"Added or updated {count} students in {course_root / 'gradebook.db'}")
    return 0


def cmd_validate(args):
    from course.authoring.validate import validate

    if args.real:
        from hw.data import data_dir

        print(f"Executing every notebook on the real datasets in {data_dir()} (HW_DATA_DIR); this takes a while")
    return 0 if validate(execute_notebooks=not args.skip_notebooks, real=args.real) else 1


def cmd_targets(args):
    from course.authoring.targets import measure, table
    from hw.data import data_dir
    from hw.grid import GridError

    where = f"the Dask cluster at {args.scheduler}" if args.scheduler else f"{args.workers} worker process(es) here"
    print(f"Running the notebooks on the real data sets ({data_dir()} on each machine) with {where}; "
          "this takes hours on a CPU (see the README)", flush=True)  # fmt: skip
    try:
        results = measure(args.notebooks, args.scheduler, args.workers)
    except GridError as exc:
        return fail("targets", exc)
    text, all_met = table(results)
    print(text)
    print("every target met" if all_met else "some targets were not met (or their notebook did not finish)")
    return 0 if all_met else 1


def positive(kind):
    """An argparse type: a number above zero, or a clear message."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if not value > 0 or value == float("inf"):  # `not >` also refuses nan
            raise argparse.ArgumentTypeError(f"{text} is not a number above zero")
        return value

    return parse


def add_budget_options(p):
    from course.grading.budget import Budget

    b = Budget()
    p.add_argument("--isolation", default="auto", choices=["auto", "bubblewrap", "uid", "process"],
                   help="how submissions are kept apart (default: the strongest available; see the README)")
    p.add_argument("--time-budget", type=positive(float), default=None,
                   help="seconds a submission's code may run in all (default: a multiple of the solution's time "
                        "on this machine, measured once and cached in .cache/)")
    p.add_argument("--probe-timeout", type=positive(float), default=b.probe_seconds,
                   help=f"seconds one check may run (default: {b.probe_seconds:.0f})")
    p.add_argument("--memory-mib", type=positive(int), default=b.memory_bytes >> 20,
                   help=f"memory of all of a submission's processes together (default: {b.memory_bytes >> 20})")
    p.add_argument("--disk-mib", type=positive(int), default=b.disk_bytes >> 20,
                   help=f"disk a submission may write (default: {b.disk_bytes >> 20})")
    p.add_argument("--processes", type=positive(int), default=b.processes,
                   help=f"processes and threads a submission may run at once (default: {b.processes})")
    p.add_argument("--force", action="store_true",
                   help="grade every submission again, even those whose submission, hidden suite and budget are "
                        "unchanged since their results were written")  # fmt: skip


def add_out(p, what):
    p.add_argument("--out", type=Path, default=Path("grades"), help=f"the grading folder {what} (default: grades)")


def add_course_root(p):
    p.add_argument("--course-root", type=Path, default=REPO_ROOT,
                   help="the nbgrader course (nbgrader_config.py, source/, gradebook.db; default: this repository)")


def build_parser():
    parser = argparse.ArgumentParser(prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, summary, description):
        return sub.add_parser(name, help=summary, description=f"{summary}.\n\n{description}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip

    command("release", "build the student release", f"Reads hw/*.py, source/{ASSIGNMENT}/*.ipynb, tests/assets and "
            f"environment.yml; writes release/{ASSIGNMENT}/ (replaced whole; commit it). Runs nbgrader "
            "generate_assignment, which also records the assignment in gradebook.db.").set_defaults(func=cmd_release)
    command("assets", "regenerate the reference tensors", "Reads the solution in hw/; writes tests/assets/*.pt "
            "(only those that changed).").set_defaults(func=cmd_assets)

    p = command("grade", "grade submissions", "Reads the submissions (never changes them) and the hidden suite in "
                "autograder/. Writes, in --out: <student>/results.json and feedback.html the moment each student is "
                "graded, gradebook.csv (rebuilt from every student in --out), .logs/ (staff only). Writes, in the "
                "course: submitted/<student>/, autograded/<student>/ and gradebook.db (hidden and manual points; one "
                "gradebook.db per course, shared by every --out folder). "
                "A student whose submission, suite and budget did not change is not graded again (see --force); an "
                "interrupted run loses only the students in flight: run it again to continue.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a submission folder, an nbgrader submitted/ tree, a folder of .zip files, or a .zip")
    add_out(p, "that receives the results")
    p.add_argument("--jobs", type=positive(int), default=2, help="submissions graded in parallel (default: 2)")
    p.add_argument("--execute", action="store_true", help="re-execute the notebooks in nbgrader autograde (HW_FAST=1)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="grade on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786) instead of here; "
                        "every worker machine needs this repository at the same commit, set up, and bubblewrap")  # fmt: skip
    p.add_argument("--due", metavar="WHEN", default=None,
                   help="the due date, as 2026-12-01 23:59 (this machine's time zone) or 2026-12-01T23:59+01:00; kept "
                        "in gradebook.db for the next runs, the export and formgrader")  # fmt: skip
    p.add_argument("--extensions", metavar="FILE.csv", type=Path, default=None,
                   help="extensions per student: a CSV with the columns student and hours")
    p.add_argument("--submission-times", metavar="FILE.csv", type=Path, default=None,
                   help="when each student handed in (a CSV with the columns student and submitted, ISO 8601 times); "
                        "without it, the newest time of the files the grader reads in the zip or folder")  # fmt: skip
    add_course_root(p)
    add_budget_options(p)
    p.set_defaults(func=cmd_grade)

    p = command("similarity", "compare every pair of submissions' code", "Reads the submissions (never changes them) "
                f"and the starter code in release/{ASSIGNMENT}/hw, which is left out. Writes --out/similarity.html: "
                "every pair ranked by how much of their hw/*.py they share (copydetect's fingerprints; answers.py as "
                "text), the most similar side by side with the shared passages highlighted. Evidence, not proof. "
                "`course grade` writes the same report at the end of each run.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a submission folder, an nbgrader submitted/ tree, a folder of .zip files, or a .zip")
    add_out(p, "that receives similarity.html")
    p.set_defaults(func=cmd_similarity)

    p = command("gradescope", "build Gradescope's autograder zip", "Reads autograder/, course/, tests/assets, "
                f"release/{ASSIGNMENT}/hw and the source notebooks; writes --out: setup.sh, run_autograder, "
                "requirements.txt (pinned to this environment, CPU torch) and what grading needs, nothing of the "
                "solution. The same sources give the same bytes.")
    p.add_argument("--out", type=Path, default=Path("gradescope/autograder.zip"),
                   help="the zip to write (default: gradescope/autograder.zip)")
    p.add_argument("--visibility", choices=["visible", "after_due_date", "after_published", "hidden"], default="visible",
                   help="when students see the tests (default: visible; hidden also hides their total)")
    p.add_argument("--timeout", type=positive(int), default=600,
                   help="the assignment's autograder timeout on Gradescope, in seconds (default: 600)")
    p.set_defaults(func=cmd_gradescope)

    p = command("demo", "build the release and grade the bundled examples", "Writes release/, build/demo/submitted/ "
                "(the examples), the --out folder and the course's gradebook.db, as `course grade` does.")
    add_out(p, "that receives the results")
    p.add_argument("--jobs", type=positive(int), default=2, help="submissions graded in parallel (default: 2)")
    add_budget_options(p)
    p.set_defaults(func=cmd_demo)

    p = command("review", "list flagged submissions, or clear or uphold one", "Reads --out/*/results.json. A "
                "decision writes --out/reviews.json, the student's results.json and feedback.html, gradebook.csv and "
                "the hidden-test scores in the course's gradebook.db.")
    p.add_argument("student", nargs="?", help="the student whose flags are decided")
    add_out(p, "of the graded submissions")
    add_course_root(p)
    p.add_argument("--clear", action="store_true", help="the code is fine: give back the withheld points")
    p.add_argument("--uphold", action="store_true", help="the code cheats: the withheld points stay at zero")
    p.add_argument("--note", default="", help="why, for the record in reviews.json")
    p.set_defaults(func=cmd_review)

    p = command("export", "export the one gradebook", "Reads the course's gradebook.db (hidden-suite points, set by "
                "`course grade`, and the manual points given in formgrader) and --out/*/results.json (problems, "
                "reviews). Writes --out/export.csv (a row per student of gradebook.db, whichever folder graded them, and "
                "per rostered student without a submission: hidden points per part, manual points per question, total, "
                "what is still ungraded, problem, review) and --out/canvas.csv (Canvas's gradebook import layout; a "
                "total that is not final is left empty there, and listed).")
    add_out(p, "that receives export.csv and canvas.csv")
    add_course_root(p)
    p.add_argument("--canvas-column", default=f"Homework {ASSIGNMENT[2:]}",
                   help="the assignment's column in Canvas, e.g. 'Homework 2 (123456)' to fill an existing one")
    p.add_argument("--bom", action="store_true", help="start both files with a UTF-8 byte order mark (for Excel)")
    p.set_defaults(func=cmd_export)

    p = command("feedback", "the feedback to give back to each student", "Reads --out/*/results.json and the course's "
                "gradebook.db (the staff's grades and comments of the written answers, scores set in formgrader). Writes "
                f"--out/feedback-{ASSIGNMENT}/<student>.html (the hidden suite's results, the written answers' grades and comments, "
                f"lateness) and --out/feedback-{ASSIGNMENT}.zip with all of them, to upload to an LMS in one go.")
    add_out(p, "that course grade wrote to")
    add_course_root(p)
    p.set_defaults(func=cmd_feedback)

    p = command("roster", "put the students' names and e-mails in nbgrader's gradebook", "Reads a CSV file with "
                "the columns id (the student's id: the name of their .zip or folder) and any of first_name, last_name, "
                "email, lms_user_id, or Canvas's gradebook export as it is (Grades > Export: the SIS User ID becomes "
                "the id, Canvas's ID the lms_user_id that canvas.csv gives back and that names the files of Canvas's "
                "bulk download of submissions); adds or updates those students in the course's gradebook.db, so "
                "formgrader and the exports show names, and course grade knows whose each downloaded file is.")
    p.add_argument("csv", type=Path, metavar="FILE.csv", help="the roster: a header line, then a student per line")
    add_course_root(p)
    p.set_defaults(func=cmd_roster)

    p = command("remove", "take students out of the course", "Writes (deletes) each student's rows in the course's "
                "gradebook.db (with every grade), their submitted/, autograded/ and feedback/ folders, and their results "
                "in --out (gradebook.csv is rebuilt). For a withdrawal, a trial submission, or the demo's examples (--examples).")
    p.add_argument("students", nargs="*", metavar="STUDENT", help="a student id, as in gradebook.csv")
    p.add_argument("--examples", action="store_true",
                   help="also every example student that `course demo` graded into the course")
    add_out(p, "whose results of these students are removed too")
    add_course_root(p)
    p.set_defaults(func=cmd_remove)

    p = command("validate", "check that the assignment is sound (the CI gate)", "Reads the sources; writes nothing "
                "in the repository. Checks that release/ and tests/assets are in sync, that the solution scores "
                "the maximum and the release zero, and that every notebook executes in fast mode (with nbval: a failure "
                "names the notebook, the cell and the error).")
    p.add_argument("--skip-notebooks", action="store_true", help="do not execute the source notebooks")
    p.add_argument("--real", action="store_true",
                   help="only execute every source notebook on the real datasets (without HW_FAST, from HW_DATA_DIR) "
                        "and report each cell that fails, with its time")  # fmt: skip
    p.set_defaults(func=cmd_validate)

    p = command("targets", "measure every accuracy a notebook promises, on the real data sets",
                "Runs the source notebooks (the solution) without HW_FAST, each as a task on a Dask cluster (by default "
                "worker processes on this machine), and prints a table: every target, what was reached, and each "
                "notebook's time. Needs the data sets in HW_DATA_DIR on every machine that runs a notebook.")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="e.g. Part5_Experiments (default: every notebook)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://gpu01:8786")
    p.add_argument("--workers", type=positive(int), default=1,
                   help="notebooks run at once on this machine (default 1: each uses every core)")
    p.set_defaults(func=cmd_targets)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` ends a grading run as cleanly as Ctrl-C does
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted: every student graded so far is saved; the same command continues where this one stopped",
              file=sys.stderr)  # fmt: skip
        return 130


if __name__ == "__main__":
    sys.exit(main())
