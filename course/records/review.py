"""
Staff review of flagged submissions: the decisions and what they do to a grade.

A submission is flagged when the grader finds code that could reach around it
(hw/policy.py: code outside the closed world) or a forged message on its channel. Its passed
tests keep no points ("withheld") until a person decides:

    course review                          list the flagged submissions
    course review STUDENT --clear          the code is fine: give back the withheld points
    course review STUDENT --uphold         the code cheats: the withheld points stay at zero

Decisions live in ``<out>/reviews.json`` with the flags they were made on, so
re-grading the same code keeps the decision and new flags need a new one.
A decision rewrites the student's results.json and the class's gradebook.csv;
the pages made from them (``course.reports``) follow when ``course review``
rewrites them.
"""
import datetime
import getpass
from pathlib import Path

from course.records.folder import (bound_flags, bound_summary, load_reviews, read_summaries, read_summary, save_reviews, write_gradebook,
                                   write_results)
CLEARED, UPHELD, PENDING = "cleared", "upheld", "pending"


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


def record_overrides(out: Path, overrides: dict) -> list:
    """
    A TA's scores of hidden-tests cells in formgrader ({student: {part:
    points}}, from gradebook.db, the one source of points) into each
    student's results.json and into gradebook.csv. Returns the students whose
    record changed (their feedback pages are to be written again).
    """
    changed = []
    for summary in read_summaries(out):
        given = {p: {"score": v, "suite": summary["parts"].get(p, {}).get("score", 0)}
                 for p, v in (overrides.get(summary["student"]) or {}).items() if p in summary["parts"]}  # fmt: skip
        if given != (summary.get("overrides") or {}):
            summary = {k: v for k, v in summary.items() if k != "overrides"} | ({"overrides": given} if given else {})
            write_results(out, summary)
            changed.append(summary["student"])
    if changed:
        write_gradebook(out)
    return changed


def decide(out: Path, student: str, decision: str, note: str = ""):
    """
    Records a decision on a student's current flags and rewrites their
    results.json and the gradebook; returns the new results (their feedback
    page and the class report are to be written again).
    """
    out = Path(out)
    summary = read_summary(out, student)
    if summary is None:
        raise LookupError(f"no results for {student!r} in {out}")
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
    save_reviews(out, reviews)
    extra = {k: v for k, v in summary.items() if k not in ("student", "score", "max_score", "parts", "flags", "review", "tests")}
    tests = apply_review(summary["tests"], summary["flags"], reviews[student])
    new = summary_of(student, tests, list(summary["parts"]), summary["flags"], reviews[student], **extra)
    write_results(out, new)
    write_gradebook(out)
    return new
