"""
The grading folder (``grades/`` by default): the one place that reads and writes its records.

    <out>/<student>/results.json   one student's grade (``write_results``; the hidden suite's tests, the parts,
                                   flags and review, lateness, answers, the fingerprint of what was graded)
    <out>/<student>/code/hw/       the student modules that were graded (``write_graded_code``)
    <out>/gradebook.csv            the class, rebuilt from every results.json (``write_gradebook``)
    <out>/reviews.json             the staff's decisions on flagged code (``course.records.review``)

Every file is replaced in one step (``write_atomically``): a reader, or a
crash, sees the old content or the new. Everything a submission controls
(messages, file names, answers) is bounded before it is kept, and every CSV
cell is neutralised for spreadsheets. The pages made from these records
(feedback, class report) are ``course.reports``'.
"""
import csv
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

REVIEWS_FILE = "reviews.json"

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


def write_atomically(path: Path, text: str):
    """Replaces a file in one step: a reader (or a crash) sees the old content or the new, never half of one."""
    path = Path(path)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, path)


def write_results(out: Path, summary: dict):
    """A student's results.json, bounded (also what was added after summary_of, a notebook problem), atomically."""
    bound_summary(summary)
    folder = Path(out) / summary["student"]
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / "results.json", json.dumps(summary, indent=2))


def save_reviews(out: Path, reviews: dict):
    write_atomically(Path(out) / REVIEWS_FILE, json.dumps(reviews, indent=2))


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



def shown_scores(results) -> dict:
    """{part: points}: the hidden suite's, or a TA's override in formgrader."""
    overrides = results.get("overrides") or {}
    return {p: overrides.get(p, {}).get("score", v.get("score", 0)) for p, v in results["parts"].items()}


def describe_duration(seconds: float) -> str:
    """3 d 4 h, 5 h 20 min, 12 min, 40 s."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else f"{secs} s"


def late_note(summary: dict) -> str:
    """'3 h 20 min late (extension 24 h)', 'on time', or '' when the grade knows no due date or time."""
    if "late_seconds" not in summary:
        return ""
    extension = summary.get("extension_hours") or 0
    with_extension = f" (extension {describe_duration(extension * 3600)})" if extension else ""
    late = summary["late_seconds"]
    return (f"{describe_duration(late)} late" if late > 0 else "on time") + with_extension
