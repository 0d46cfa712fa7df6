"""
Staff review of flagged submissions, and the gradebook built from the result files.

A submission is flagged when the grader finds code that could reach around it
(hw/policy.py: code outside the closed world) or a forged message on its channel. Its passed
tests keep no points ("withheld") until a person decides:

    course review                          list the flagged submissions
    course review STUDENT --clear          the code is fine: give back the withheld points
    course review STUDENT --uphold         the code cheats: the withheld points stay at zero

Decisions live in ``<out>/reviews.json`` with the flags they were made on, so
re-grading the same code keeps the decision and new flags need a new one.
Every decision rewrites the student's results.json and feedback page and the
class gradebook, which is always rebuilt from the result files.
"""
import csv
import datetime
import getpass
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from course.deadlines import late_note
from course.feedback import render_feedback, shown_scores

REVIEWS_FILE = "reviews.json"
CLEARED, UPHELD, PENDING = "cleared", "upheld", "pending"

# What results.json, the feedback, the gradebook and the class report hold of what a submission controls
# (its messages, file names, exception texts, answers): bounded, so that no student can make a page or a CSV huge.
MAX_MESSAGE_BYTES = 2048  # a message, a problem, a flag (as autograder/conftest.py cuts failure messages)
MAX_ANSWER_CHARS = 20_000  # a written answer (the hidden suite cuts them there already)
MAX_FLAGS = 20  # findings listed per submission; the rest are counted
MAX_LISTED_FILES = 50  # files left out of grading, listed per submission; the rest are counted
MAX_FILE_NAME_CHARS = 200


def bounded(text, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``text`` in at most ``limit`` bytes of UTF-8; cut text ends by saying how much was cut."""
    text = "" if text is None else str(text)
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    note = f" ... [{len(text)} characters, cut]"
    kept = data[: limit - len(note.encode())].decode("utf-8", "ignore")
    return kept + note


def bounded_chars(text, limit: int) -> str:
    """``text`` in at most ``limit`` characters; cut text ends by saying how much was cut."""
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text
    note = f" ... [{len(text)} characters, cut]"
    return text[: max(0, limit - len(note))] + note


def bound_flags(flags) -> list:
    """At most MAX_FLAGS findings, each message bounded; the last one counts those left out. Idempotent."""
    flags = [dict(f, message=bounded(f.get("message", ""))) if isinstance(f, dict) else {"kind": "code", "message": bounded(f)}
             for f in flags or []]  # fmt: skip
    if len(flags) <= MAX_FLAGS:
        return flags
    more = len(flags) - (MAX_FLAGS - 1)
    return flags[: MAX_FLAGS - 1] + [{"kind": "more", "message": f"... and {more} more findings (see the grading log)"}]


def bound_summary(summary: dict) -> dict:
    """
    Bounds, in place, every field of a results.json that shows what a
    submission controls: problems and messages (MAX_MESSAGE_BYTES), flags
    (MAX_FLAGS of them), files left out (MAX_LISTED_FILES names), answers.
    Idempotent: a bounded summary stays as it is. Returns the summary.
    """
    for key in ("problem", "notebook_problem", "grader_problem"):
        if summary.get(key):
            summary[key] = bounded(summary[key])
    for test in summary.get("tests") or []:
        if isinstance(test, dict) and isinstance(test.get("message"), str):
            test["message"] = bounded(test["message"])
    if isinstance(summary.get("flags"), list):
        summary["flags"] = bound_flags(summary["flags"])
    for key in ("left_out", "skipped"):
        names = summary.get(key)
        if isinstance(names, list) and (len(names) > MAX_LISTED_FILES or any(len(str(n)) > MAX_FILE_NAME_CHARS for n in names)):
            summary[f"{key}_count"] = summary.get(f"{key}_count") or len(names)
            summary[key] = [bounded_chars(n, MAX_FILE_NAME_CHARS) for n in names[:MAX_LISTED_FILES]]
    answers = summary.get("answers")
    if isinstance(answers, dict):
        summary["answers"] = {bounded(k, 200): bounded_chars(v, MAX_ANSWER_CHARS) for k, v in answers.items()}
    return summary


# OWASP's CSV injection advice: a cell that starts with one of these is a formula to a spreadsheet (Excel, LibreOffice,
# Google Sheets), so a text cell starting with one gets a single quote in front. The full-width forms count too.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# A cell that is a number stays one (Canvas reads a score only if it matches this: -1 must stay -1).
NUMBER_CELL = re.compile(r"-?[0-9.,]+%?")


def csv_cell(value):
    """
    One CSV cell, neutralised as OWASP recommends: numbers as they are, text
    that a spreadsheet would take for a formula prefixed with a single quote.
    Every CSV the course writes goes through here (csv_writer).
    """
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    if NUMBER_CELL.fullmatch(text):
        return text
    if text.startswith(FORMULA_START) or text.lstrip().startswith(FORMULA_START):
        return "'" + text
    return text


class csv_writer:
    """``csv.writer`` whose every cell goes through ``csv_cell``: the one way the course writes a CSV."""

    def __init__(self, f, **options):
        self._writer = csv.writer(f, **options)

    def writerow(self, row):
        return self._writer.writerow([csv_cell(v) for v in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def load_reviews(out: Path) -> dict:
    path = Path(out) / REVIEWS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _flag_messages(flags):
    """The flags a decision is about, as results.json keeps them, each with the digest of the code it was found in."""
    return sorted(f"{f['message']} [code {f['code']}]" if f.get("code") else f["message"] for f in bound_flags(flags))


def review_status(flags, review) -> dict | None:
    """None without flags; else the decision that applies to exactly these flags, or pending."""
    if not flags:
        return None
    if review and review.get("flags") == _flag_messages(flags):
        return {k: review[k] for k in ("decision", "by", "when", "note") if k in review}
    return {"decision": PENDING}


def withheld_message(flags):
    reason = flags[0]["message"] + (f" (and {len(flags) - 1} more)" if len(flags) > 1 else "")
    return f"passed, but the points are withheld until the course staff review your code: {reason}"


def apply_review(tests, flags, review):
    """
    The tests with the points of the withheld ones (passed in the suite while
    the submission is flagged) set by the decision: given back when cleared,
    zero otherwise.
    """
    cleared = (review_status(flags, review) or {}).get("decision") == CLEARED
    result = []
    for t in tests:
        t = dict(t)
        if t.get("withheld"):
            t.update(passed=cleared, points=t["max_points"] if cleared else 0,
                     message="" if cleared else withheld_message(flags))  # fmt: skip
        result.append(t)
    return result


def summary_of(student, tests, parts, flags, review, **extra):
    """The content of results.json: scores per part, every test, flags and the review decision."""

    def points(part=None):
        return sum(t["points"] for t in tests if part in (None, t["part"]))

    def max_points(part=None):
        return sum(t["max_points"] for t in tests if part in (None, t["part"]))

    keys = ("name", "part", "description", "points", "max_points", "passed", "message", "withheld", "harness_error")
    return bound_summary({
        "student": student,
        "score": points(),
        "max_score": max_points(),
        "parts": {p: {"score": points(p), "max_score": max_points(p)} for p in parts},
        **extra,
        "flags": flags,
        "review": review_status(flags, review),
        "tests": [{k: t.get(k, False) for k in keys} for t in tests],
    })  # fmt: skip


def write_atomically(path: Path, text: str):
    """Replaces a file in one step: a reader (or a crash) sees the old content or the new, never half of one."""
    path = Path(path)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, path)


def write_student(out: Path, summary: dict):
    bound_summary(summary)  # also what was added after summary_of (a notebook problem)
    folder = Path(out) / summary["student"]
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / "results.json", json.dumps(summary, indent=2))
    write_atomically(folder / "feedback.html", render_feedback(summary))


GRADED_CODE = "code"  # <out>/<student>/code/hw/: the student modules the hidden suite graded


def write_graded_code(out: Path, student: str, folder: Path | None):
    """
    Keeps the student modules that were graded (as the grader read them: no
    link followed), replacing an earlier submission's, so that class-wide
    comparisons see every student graded into ``out``, not only this run's.
    """
    from hw.policy import collect

    modules = collect(folder).modules if folder is not None else {}
    dest = Path(out) / student / GRADED_CODE
    partial = dest.with_name(f".{GRADED_CODE}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "hw").mkdir(parents=True)
    for name, data in modules.items():
        (partial / "hw" / name).write_bytes(data)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(partial, dest)


def graded_code_folders(out: Path) -> dict:
    """{student: the folder of the code they were graded with} for every student graded into ``out``."""
    return {path.parent.name: path for path in sorted(Path(out).glob(f"*/{GRADED_CODE}")) if path.is_dir()}


def read_summary(out: Path, student: str):
    """A student's results.json, or None when there is none (or it cannot be read)."""
    try:
        return json.loads((Path(out) / student / "results.json").read_text())
    except (OSError, ValueError):
        return None


def read_summaries(out: Path):
    summaries = []
    for path in sorted(Path(out).glob("*/results.json")):
        try:
            summaries.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return summaries


def problem_of(summary) -> str:
    """Why a student's row is not a plain grade: the submission or its notebooks could not be graded."""
    return bounded("; ".join(p for p in (summary.get("problem"), summary.get("notebook_problem"),
                                         summary.get("grader_problem")) if p))  # fmt: skip


def notes_of(summary) -> str:
    """What a TA should know that changes no point: the notebooks the released ones stood in for."""
    stand_ins = summary.get("stand_in_notebooks") or {}
    return bounded("; ".join(f"{name} {why}, answers read from hw/answers.py" for name, why in stand_ins.items()))


def record_overrides(out: Path, overrides: dict) -> list:
    """
    A TA's scores of hidden-tests cells in formgrader ({student: {part:
    points}}, from gradebook.db, the one source of points) into each
    student's results.json, feedback and gradebook.csv. Returns the students
    whose record changed.
    """
    changed = []
    for summary in read_summaries(out):
        given = {p: {"score": v, "suite": summary["parts"].get(p, {}).get("score", 0)}
                 for p, v in (overrides.get(summary["student"]) or {}).items() if p in summary["parts"]}  # fmt: skip
        if given != (summary.get("overrides") or {}):
            summary = {k: v for k, v in summary.items() if k != "overrides"} | ({"overrides": given} if given else {})
            write_student(out, summary)
            changed.append(summary["student"])
    if changed:
        write_gradebook(out)
    return changed


def write_gradebook(out: Path):
    """
    grades/gradebook.csv from every results.json: points per part, total, max,
    the review state and any problem. A submission that could not be graded at
    all has no points in its row, only its problem: it is not a grade of 0.
    """
    summaries = read_summaries(out)
    parts = sorted({p for s in summaries for p in s["parts"]})
    rows = [["student", *parts, "total", "max", "review", "problem", "notes", "late"]]
    for s in summaries:
        review = s.get("review") or {}
        flagged = bounded(f"{review.get('decision', '')}: {'; '.join(fl['message'] for fl in s['flags'])}") if review else ""
        shown = shown_scores(s)
        scores = [shown.get(p, 0) for p in parts] + [sum(shown.values())]
        if s.get("problem"):
            scores = [""] * len(scores)
        rows.append([s["student"], *scores, s["max_score"], flagged, problem_of(s), notes_of(s), late_note(s)])
    buffer = io.StringIO()
    csv_writer(buffer).writerows(rows)
    write_atomically(Path(out) / "gradebook.csv", buffer.getvalue())


def decide(out: Path, student: str, decision: str, note: str = ""):
    """Records a decision on a student's current flags and rewrites their results, feedback and the gradebook."""
    out = Path(out)
    path = out / student / "results.json"
    if not path.exists():
        raise LookupError(f"no results for {student!r} in {out}")
    summary = json.loads(path.read_text())
    if not summary.get("flags"):
        raise LookupError(f"{student} has no flags to review")
    reviews = load_reviews(out)
    reviews[student] = {
        "decision": decision,
        "flags": _flag_messages(summary["flags"]),
        "by": getpass.getuser(),
        "when": datetime.datetime.now().isoformat(timespec="seconds"),
        "note": note,
    }
    write_atomically(out / REVIEWS_FILE, json.dumps(reviews, indent=2))
    extra = {k: v for k, v in summary.items() if k not in ("student", "score", "max_score", "parts", "flags", "review", "tests")}
    tests = apply_review(summary["tests"], summary["flags"], reviews[student])
    new = summary_of(student, tests, list(summary["parts"]), summary["flags"], reviews[student], **extra)
    write_student(out, new)
    write_class_files(out)
    return new


def write_class_files(out: Path):
    """gradebook.csv and class.html, both rebuilt from every results.json in ``out``."""
    from course.class_report import write_class_report  # it reads this module's summaries

    write_gradebook(out)
    write_class_report(out)

