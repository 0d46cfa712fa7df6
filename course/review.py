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
import tempfile
from pathlib import Path

from course.feedback import render_feedback

REVIEWS_FILE = "reviews.json"
CLEARED, UPHELD, PENDING = "cleared", "upheld", "pending"


def load_reviews(out: Path) -> dict:
    path = Path(out) / REVIEWS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _flag_messages(flags):
    return sorted(f["message"] for f in flags)


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
    return {
        "student": student,
        "score": points(),
        "max_score": max_points(),
        "parts": {p: {"score": points(p), "max_score": max_points(p)} for p in parts},
        **extra,
        "flags": flags,
        "review": review_status(flags, review),
        "tests": [{k: t.get(k, False) for k in keys} for t in tests],
    }


def write_atomically(path: Path, text: str):
    """Replaces a file in one step: a reader (or a crash) sees the old content or the new, never half of one."""
    path = Path(path)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, path)


def write_student(out: Path, summary: dict):
    folder = Path(out) / summary["student"]
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / "results.json", json.dumps(summary, indent=2))
    write_atomically(folder / "feedback.html", render_feedback(summary))


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
    return "; ".join(p for p in (summary.get("problem"), summary.get("notebook_problem")) if p)


def write_gradebook(out: Path):
    """
    grades/gradebook.csv from every results.json: points per part, total, max,
    the review state and any problem. A submission that could not be graded at
    all has no points in its row, only its problem: it is not a grade of 0.
    """
    summaries = read_summaries(out)
    parts = sorted({p for s in summaries for p in s["parts"]})
    rows = [["student", *parts, "total", "max", "review", "problem"]]
    for s in summaries:
        review = s.get("review") or {}
        flagged = f"{review.get('decision', '')}: {'; '.join(fl['message'] for fl in s['flags'])}" if review else ""
        scores = [s["parts"].get(p, {}).get("score", 0) for p in parts] + [s["score"]]
        if s.get("problem"):
            scores = [""] * len(scores)
        rows.append([s["student"], *scores, s["max_score"], flagged, problem_of(s)])
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
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

