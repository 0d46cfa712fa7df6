"""
Finding submissions and staging private copies of them for grading.

A PATH given to ``course grade`` is one of:
- one submission folder (it holds ``hw/`` or notebooks);
- an nbgrader ``submitted/`` tree (``<student>/hw2/``), or one ``<student>`` or ``<student>/hw2`` of it;
- a folder of ``.zip`` files, one per student, or a single ``.zip`` file;
- a folder of ``<student>/`` folders that each hold ``hw/``; a class folder may mix these kinds.

Every submission is copied (regular files only, bounded in size) into a
staging folder that the grading worker can read, so grading never reads or
writes the originals.
"""
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from course import ASSIGNMENT

MAX_SUBMISSION_BYTES = 200 << 20
MAX_SUBMISSION_FILES = 2000
SKIPPED_DIRS = {".git", "__pycache__", ".ipynb_checkpoints", ".venv", "node_modules"}
JUNK_NAMES = {"Thumbs.db", "desktop.ini", "__MACOSX"}


class SubmissionError(Exception):
    """A path or archive that cannot be graded; the message says why."""


@dataclass
class Submission:
    student: str
    source: Path  # folder or .zip as given
    folder: Path | None = None  # the staged copy, once staged
    problem: str | None = None  # why it could not be staged


def student_id(name: str) -> str:
    """nbgrader student ids: letters, digits, '_' and '-'."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")
    return cleaned or "unnamed"


def looks_like_submission(folder: Path) -> bool:
    return (folder / "hw").is_dir() or any(folder.glob("*.ipynb"))


def discover(path) -> list[Submission]:
    """The submissions under one PATH; raises SubmissionError if there are none."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise SubmissionError(f"{path}: not a folder or a .zip file")
        return [Submission(student_id(path.stem), path)]
    if looks_like_submission(path):
        name = path.parent.name if path.name == ASSIGNMENT else path.name
        return [Submission(student_id(name), path)]
    if looks_like_submission(path / ASSIGNMENT):
        return [Submission(student_id(path.name), path / ASSIGNMENT)]
    # A class folder may mix the kinds: <student>/hw2/ (nbgrader's submitted/), <student>/ holding hw/, and zips.
    found, skipped = [], []
    for child in sorted(path.iterdir()):
        if is_junk(child):
            continue
        if child.is_dir() and (child / ASSIGNMENT).is_dir():
            found.append(Submission(student_id(child.name), child / ASSIGNMENT))
        elif child.is_dir() and looks_like_submission(child):
            found.append(Submission(student_id(child.name), child))
        elif child.is_file() and child.suffix.lower() == ".zip":
            found.append(Submission(student_id(child.stem), child))
        elif child.is_dir():
            skipped.append(child.name)
    if found and skipped:
        # A folder the grader does not understand is somebody's work: never left out silently.
        raise SubmissionError(
            f"{path}: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''} holds no submission "
            f"(expected <student>/{ASSIGNMENT}/, <student>/hw/ or <student>.zip); move it out or fix it, then grade again"
        )
    if found:
        return found
    raise SubmissionError(
        f"{path}: found no submission (expected a folder with hw/ or notebooks, "
        f"<student>/{ASSIGNMENT}/ or <student>/hw/ folders, or .zip files)"
    )


def _copy_tree(source: Path, dest: Path):
    """Copies regular files and folders only (no links, devices or caches), within limits."""
    total, count = 0, 0
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part in SKIPPED_DIRS for part in rel.parts):
            continue
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            (dest / rel).mkdir(parents=True, exist_ok=True)
        elif stat.S_ISREG(mode):
            total += path.stat().st_size
            count += 1
            if total > MAX_SUBMISSION_BYTES or count > MAX_SUBMISSION_FILES:
                raise SubmissionError(
                    f"submission is larger than {MAX_SUBMISSION_BYTES >> 20} MiB or {MAX_SUBMISSION_FILES} files"
                )
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)


def _extract_zip(archive: Path, dest: Path):
    """Extracts regular files only, refusing absolute paths, '..' and oversized archives."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > MAX_SUBMISSION_BYTES or len(members) > MAX_SUBMISSION_FILES:
                raise SubmissionError(f"{archive.name}: unpacks to more than {MAX_SUBMISSION_BYTES >> 20} MiB")
            for member in members:
                name = Path(member.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise SubmissionError(f"{archive.name}: refuses to unpack {member.filename!r} outside its folder")
                if stat.S_ISLNK(member.external_attr >> 16):
                    continue
                if any(part in SKIPPED_DIRS or part == "__MACOSX" for part in name.parts):
                    continue
                target = dest / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise SubmissionError(f"{archive.name}: not a readable zip file ({exc})") from exc


def is_junk(path: Path) -> bool:
    """Files an operating system or editor adds to a folder by itself (.DS_Store, Thumbs.db, ~$lock files)."""
    return path.name.startswith((".", "~$")) or path.name in JUNK_NAMES


def _submission_root(folder: Path) -> Path:
    """The folder holding hw/ or notebooks, unwrapping single top-level folders of an archive."""
    current = folder
    while not looks_like_submission(current):
        children = [p for p in current.iterdir() if p.is_dir() and not is_junk(p)]
        files = [p for p in current.iterdir() if p.is_file() and not is_junk(p)]
        if len(children) != 1 or files:
            return folder
        current = children[0]
    return current


def stage(submission: Submission, staging: Path) -> Submission:
    """Copies the submission into ``staging/<student>/hw2``; records a problem instead of raising."""
    dest = staging / submission.student / ASSIGNMENT
    if dest.exists():
        shutil.rmtree(dest)
    unpacked = staging / submission.student / "unpacked"
    try:
        if submission.source.is_file():
            unpacked.mkdir(parents=True)
            _extract_zip(submission.source, unpacked)
            root = _submission_root(unpacked)
        else:
            root = submission.source
        dest.mkdir(parents=True)
        _copy_tree(root, dest)
        submission.folder = dest
        if not (dest / "hw").is_dir():
            found = ", ".join(sorted(p.name for p in dest.iterdir())[:8]) or "nothing"
            submission.problem = f"it has no hw/ folder, which holds the code the hidden tests grade (found: {found})"
    except SubmissionError as exc:
        submission.problem = str(exc)
    finally:
        if unpacked.exists():
            shutil.rmtree(unpacked)
    return submission


def unique_students(submissions, report=None):
    """
    Gives every submission its own student id: when two names clean up to the
    same id ("leo m.zip", "leo_m.zip"), the second becomes leo_m_2, and
    ``report`` is told which file became which id.
    """
    seen = {}
    for sub in submissions:
        base, n = sub.student, 1
        while sub.student in seen:
            n += 1
            sub.student = f"{base}_{n}"
        if sub.student != base and report:
            report(f"{sub.source} is graded as student {sub.student}: {seen[base].source} already has the id {base}")
        seen[sub.student] = sub
    return submissions
