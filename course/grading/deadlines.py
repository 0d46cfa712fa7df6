"""
Deadlines: the assignment's due date, extensions per student, when each
submission was handed in, and how late that was.

The due date is kept in nbgrader's gradebook.db (the assignment's duedate, as
``nbgrader db assignment add --duedate`` sets it), so every later run, the
export and formgrader see the same one. An extension is a number of hours per
student (a CSV); nbgrader keeps it on the student's submission. The time a
submission was handed in comes, in this order, from a CSV of times (what an
LMS reports), from the newest time of the files the grader reads in the zip
(the time they were zipped), or from the newest modification time of those
files in a folder. nbgrader's own LateSubmissionPlugin turns lateness into a
penalty when it autogrades (nbgrader_config.py: none by default).
"""
import csv
import datetime
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from course.grading.submissions import SKIPPED_DIRS, Submission, student_id

EXTENSION_COLUMNS = ("student", "hours")
TIME_COLUMNS = ("student", "submitted")


class DeadlineError(ValueError):
    """A due date, an extension or a submission time that cannot be read; the message says which and why."""


def parse_time(text: str, what: str) -> datetime.datetime:
    """An ISO 8601 time ("2026-12-01 23:59", with or without a UTC offset; without one it is this machine's local time)."""
    try:
        moment = datetime.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise DeadlineError(f"{what}: {str(text)[:60]!r} is not a time (write it as 2026-12-01 23:59 or "
                            "2026-12-01T23:59+01:00)") from None  # fmt: skip
    return moment if moment.tzinfo else moment.astimezone()


def _rows(path: Path, columns: tuple, what: str) -> list:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # a BOM from Excel is not part of the first name
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DeadlineError(f"{path}: cannot read the {what} ({exc})") from None
    if rows and not set(columns) <= set(rows[0]):
        raise DeadlineError(f"{path}: the {what} need the columns {', '.join(columns)}; it has {', '.join(rows[0])}")
    return rows


def read_extensions(path: Path) -> dict:
    """{student id: timedelta} from a CSV with the columns student and hours (a student listed twice: the last row)."""
    extensions = {}
    for line, row in enumerate(_rows(path, EXTENSION_COLUMNS, "extensions"), start=2):
        try:
            hours = float(row["hours"])
        except (TypeError, ValueError):
            raise DeadlineError(f"{path}, line {line}: hours {row['hours']!r} is not a number") from None
        if not 0 <= hours <= 24 * 365:
            raise DeadlineError(f"{path}, line {line}: hours {hours:g} is not between 0 and a year")
        extensions[student_id(row["student"])] = datetime.timedelta(hours=hours)
    return extensions


def read_times(path: Path) -> dict:
    """{student id: when they handed in} from a CSV with the columns student and submitted (ISO 8601 times)."""
    return {student_id(row["student"]): parse_time(row["submitted"], f"{path}, line {line}")
            for line, row in enumerate(_rows(path, TIME_COLUMNS, "submission times"), start=2)}  # fmt: skip


def files_time(sub: Submission):
    """
    (the newest time of the modules and notebooks in the submission as it was
    handed in, how that was found) or (None, None): a zip keeps the time each
    file had when it was zipped; a folder, each file's modification time.
    """
    source = Path(sub.source)
    try:
        if source.is_file() and zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as archive:
                stamps = [datetime.datetime(*info.date_time) for info in archive.infolist() if _counts(Path(info.filename))]
            return (max(stamps).astimezone(), "the newest file in the zip") if stamps else (None, None)
        if source.is_dir():
            stamps = [p.lstat().st_mtime for p in source.rglob("*")  # a link is never followed, as in staging
                      if not p.is_symlink() and p.is_file() and _counts(p.relative_to(source))]  # fmt: skip
            return (datetime.datetime.fromtimestamp(max(stamps)).astimezone(), "the newest file's time") if stamps else (None, None)
    except (OSError, ValueError, OverflowError, zipfile.BadZipFile):
        pass
    return None, None


def _counts(rel: Path) -> bool:
    """A notebook or a module of hw/: what the grader reads (not a file of an environment or a cache beside them)."""
    if any(part in SKIPPED_DIRS or part.startswith(".") for part in rel.parts[:-1]):
        return False
    return rel.suffix == ".ipynb" or (rel.suffix == ".py" and rel.parent.name == "hw")


@dataclass
class Deadlines:
    """The course's deadlines for one run of course grade."""

    due: datetime.datetime | None = None
    extensions: dict = field(default_factory=dict)  # student -> timedelta
    times: dict = field(default_factory=dict)  # student -> datetime, from a CSV

    def submitted(self, sub: Submission):
        """(when ``sub`` was handed in, how that is known) or (None, None)."""
        if sub.student in self.times:
            return self.times[sub.student], FROM_TIMES_CSV
        return files_time(sub)

    def lateness(self, sub: Submission) -> dict:
        """The fields results.json keeps about the submission's time (empty without a due date or a time)."""
        when, how = self.submitted(sub)
        fields = {}
        if when is not None:
            fields.update(submitted_at=when.isoformat(timespec="seconds"), submitted_from=how)
        if self.due is not None:
            extension = self.extensions.get(sub.student, datetime.timedelta(0))
            fields.update(due=self.due.isoformat(timespec="seconds"), extension_hours=extension.total_seconds() / 3600)
            if when is not None:
                fields["late_seconds"] = max(0.0, (when - (self.due + extension)).total_seconds())
        return fields


LATENESS_FIELDS = ("submitted_at", "submitted_from", "due", "extension_hours", "late_seconds")
FROM_TIMES_CSV = "the submission times CSV"


def dated_by_own_files(summaries: dict) -> list:
    """The students whose lateness comes from their files' times (which their own computer wrote), not a CSV."""
    return sorted(student for student, summary in summaries.items()
                  if "late_seconds" in summary and summary.get("submitted_from") != FROM_TIMES_CSV)  # fmt: skip
