"""
Finding submissions and staging private copies of them for grading.

A PATH given to ``course grade`` is one of:
- one submission folder (it holds ``hw/`` or notebooks);
- an nbgrader ``submitted/`` tree (``<student>/hw2/``), or one ``<student>`` or ``<student>/hw2`` of it;
- a folder of ``.zip`` files, one per student, or a single ``.zip`` file;
- a folder of ``<student>/`` folders that each hold ``hw/``; a class folder may mix these kinds.

One rule (``locate``) finds the submission inside a student's folder, an
unpacked ``.zip`` and a Gradescope upload alike: ``hw/`` or notebooks, else
``hw2/``, else whatever a chain of single wrapping folders leads to. A student
folder in which it finds nothing is that student's problem, and two
submissions that would share a student id are a problem for both
(``unique_students``): the rest of the class is graded either way.

Every submission is copied (regular files only, bounded in size) into a
staging folder that the grading worker can read, so grading never reads or
writes the originals.
"""
import re
import shutil
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from course import ASSIGNMENT

# What is copied of a submission: hw/ and the notebooks beside it, the only files the grader reads; everything else
# (a virtual environment, data sets, checkpoints, results) is skipped and listed. The limits are on what is copied.
MAX_SUBMISSION_BYTES = 200 << 20
MAX_SUBMISSION_FILES = 2000
MAX_WRAPPERS = 4  # single folders around a submission that are looked through (alice/hw2/hw2/hw, an archive's top folder)
MAX_ID_CHARS = 100  # a student id is a folder name and a key in nbgrader's gradebook (whose columns hold 128)
MAX_NAME_CHARS = 80  # a file name a student chose, as a problem sentence quotes it
ARCHIVES = (".tar.gz", ".tar.bz2", ".tar.xz", ".rar", ".7z", ".tar", ".tgz", ".gz", ".bz2", ".xz")  # archives that are not read: said so
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
    skipped: list | None = None  # what the staged copy leaves out: top-level names, folders ending in "/"


def student_id(name: str) -> str:
    """
    nbgrader student ids: ASCII letters, digits, '_' and '-', at most
    MAX_ID_CHARS, never starting with '-' (an option on a command line, a
    formula in a spreadsheet). A letter or digit of another script is kept as
    its code point ("José" is Josxe9, "张伟" x5f20x4f1f): two names that differ
    only there are two students, also when they are graded in different runs.
    """
    spelled = "".join(c if c.isascii() or not c.isalnum() else f"x{ord(c):x}" for c in unicodedata.normalize("NFC", name))
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", spelled).strip("_").lstrip("-_")[:MAX_ID_CHARS].rstrip("_")
    return cleaned or "unnamed"


def shown_name(name: str) -> str:
    """A name a student chose (a file, a folder), quoted and cut for a sentence: it may be long or odd."""
    name = name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 3] + "..."
    return repr(name) if not re.fullmatch(r"[\w.@+-]+/?", name) else name


def looks_like_submission(folder: Path) -> bool:
    return (folder / "hw").is_dir() or any(folder.glob("*.ipynb"))


def _listing(folder: Path, limit: int = 8) -> str:
    """What a folder holds, for a sentence: 'notes.txt, stuff/' (a few names, cut)."""
    try:
        entries = sorted(p for p in folder.iterdir() if not is_junk(p))
    except OSError:
        return "nothing readable"
    names = [shown_name(p.name + ("/" if p.is_dir() else "")) for p in entries[:limit]]
    return ", ".join(names) + (f" and {len(entries) - limit} more" if len(entries) > limit else "") or "nothing"


def locate(folder: Path) -> tuple[Path | None, str]:
    """
    Where the submission in ``folder`` is, by the one rule for a student's
    folder, an unpacked .zip and a Gradescope upload: the folder itself when it
    holds hw/ or notebooks; else its hw2/ when that does; else what the only
    entry of the folder holds (a folder, looked into the same way, through at
    most MAX_WRAPPERS of them, or one .zip file). Junk that an operating system
    adds (.DS_Store, __MACOSX) does not count; a link is never followed.
    Returns (the folder or .zip, "") or (None, why not: "holds no submission (...)").
    """
    current = folder
    for _ in range(MAX_WRAPPERS + 1):
        try:
            if looks_like_submission(current):
                return current, ""
            if looks_like_submission(current / ASSIGNMENT):
                return current / ASSIGNMENT, ""
            entries = [p for p in current.iterdir() if not is_junk(p)]
        except OSError as exc:
            return None, f"cannot be read ({type(exc).__name__})"
        if len(entries) != 1 or entries[0].is_symlink():
            break
        (only,) = entries
        if only.is_file() and only.suffix.lower() == ".zip":
            return only, ""
        if not only.is_dir():
            break
        current = only
    else:
        return None, f"wraps its hw/ in more than {MAX_WRAPPERS} folders"
    where = "" if current == folder else f" in {shown_name(str(current.relative_to(folder)) + '/')}"
    return None, (
        f"holds no submission (expected hw/, {ASSIGNMENT}/ with hw/ inside, notebooks or one .zip; "
        f"found{where}: {_listing(current)})"
    )


def _archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVES)


def discover(path) -> list[Submission]:
    """
    The submissions under one PATH; raises SubmissionError if there are none.
    In a class folder, a student's folder (or archive) that holds no
    submission is a Submission with a problem: that student's, not the class's.
    """
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
    found = []
    try:
        children = sorted(path.iterdir())
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({type(exc).__name__})") from exc
    for child in children:
        if is_junk(child):
            continue
        if child.is_dir():
            root, why = locate(child)
            # A folder the grader does not understand is somebody's work: never left out silently.
            problem = None if root else f"{shown_name(child.name + '/')} {why}"
            found.append(Submission(student_id(child.name), root or child, problem=problem))
        elif child.is_file() and child.suffix.lower() == ".zip":
            found.append(Submission(student_id(child.stem), child))
        elif child.is_file() and _archive(child):
            name = child.name[: -len(next(e for e in ARCHIVES if child.name.lower().endswith(e)))]
            found.append(Submission(student_id(name), child, problem=(
                f"{shown_name(child.name)} is an archive the grader does not read: hand in a .zip file")))  # fmt: skip
    if any(not s.problem for s in found):
        return found
    # Nothing here is a submission: not a class folder (a typo, the wrong folder), said at once.
    seen = "".join(f"; {s.problem}" for s in found[:3]) + (f"; and {len(found) - 3} more" if len(found) > 3 else "")
    raise SubmissionError(
        f"{path}: found no submission (expected a folder with hw/ or notebooks, "
        f"<student>/{ASSIGNMENT}/ or <student>/hw/ folders, or .zip files){seen}"
    )


def read_by_grader(rel: Path) -> bool:
    """Whether a path of a submission (relative to its root) is one the grader reads: hw/ or a notebook beside it."""
    parts = rel.parts
    if not parts or any(part in SKIPPED_DIRS for part in parts):
        return False
    return parts[0] == "hw" or (len(parts) == 1 and rel.suffix == ".ipynb")


QUIET = {"__pycache__", ".ipynb_checkpoints", "__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}  # made by tools


def note_skipped(skipped: set, rel: Path, is_dir: bool):
    """Adds the top-level name of a path that is not copied (``data/``, ``.venv/``) to ``skipped``, unless a tool made it."""
    top = rel.parts[0]
    if top not in QUIET and not top.startswith("~$") and not (len(rel.parts) > 1 and rel.parts[0] == "hw"):
        skipped.add(top + ("/" if is_dir or len(rel.parts) > 1 else ""))


class _Limits:
    """The copy's size and file count, refused with the limit that was hit."""

    def __init__(self, name: str):
        self.name, self.bytes, self.files = name, 0, 0

    def add(self, size: int):
        self.bytes, self.files = self.bytes + size, self.files + 1
        if self.bytes > MAX_SUBMISSION_BYTES:
            raise SubmissionError(f"{self.name}: hw/ and the notebooks hold more than {MAX_SUBMISSION_BYTES >> 20} MiB")
        if self.files > MAX_SUBMISSION_FILES:
            raise SubmissionError(f"{self.name}: hw/ and the notebooks hold more than {MAX_SUBMISSION_FILES} files")


def _copy_tree(source: Path, dest: Path, skipped: set):
    """Copies the regular files the grader reads (no links, devices or caches), within limits; names the rest in ``skipped``."""
    limits = _Limits(shown_name(source.name + "/"))
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        mode = path.lstat().st_mode
        if not read_by_grader(rel):
            note_skipped(skipped, rel, stat.S_ISDIR(mode))
            continue
        if stat.S_ISDIR(mode):
            (dest / rel).mkdir(parents=True, exist_ok=True)
        elif stat.S_ISREG(mode):
            limits.add(path.stat().st_size)
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)


def _zip_root(names: list) -> tuple | None:
    """The folder of an archive that holds the submission (hw/ or notebooks), as path parts; None when none does."""
    roots = []
    for name in names:
        parts = Path(name).parts
        if any(part in SKIPPED_DIRS for part in parts):
            continue
        if "hw" in parts[:-1]:
            roots.append(parts[: parts.index("hw")])
        elif parts and parts[-1].endswith(".ipynb"):
            roots.append(parts[:-1])
    return min(roots, key=lambda r: (len(r), r)) if roots else None


def _extract_zip(archive: Path, dest: Path, skipped: set):
    """
    Extracts the regular files the grader reads (hw/ and the notebooks beside
    it, wherever the archive puts them), refusing absolute paths and '..';
    names what else it holds in ``skipped``. An archive without hw/ or
    notebooks is extracted whole (caches and environments aside), so that
    the problem can say what it holds.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and not stat.S_ISLNK(m.external_attr >> 16)]
            for member in members:
                # Windows PowerShell 5.1's Compress-Archive writes hw2\hw\layers.py: the zip format's separator is /.
                member.filename = member.filename.replace("\\", "/")
                name = Path(member.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise SubmissionError(f"{archive.name}: refuses to unpack {member.filename!r} outside its folder")
            members = [m for m in members if "__MACOSX" not in Path(m.filename).parts]
            root = _zip_root([m.filename for m in members])
            kept = []
            for member in members:
                parts = Path(member.filename).parts
                if root is None:
                    if not any(part in SKIPPED_DIRS for part in parts):
                        kept.append(member)
                elif parts[: len(root)] == root and read_by_grader(Path(*parts[len(root):])):
                    kept.append(member)
                elif parts[: len(root)] == root:
                    note_skipped(skipped, Path(*parts[len(root):]), False)
            limits = _Limits(shown_name(archive.name))
            for member in kept:
                limits.add(member.file_size)
            for member in kept:
                target = dest / member.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error) as exc:
        raise SubmissionError(f"{archive.name}: not a readable zip file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{archive.name}: a file name in it is not valid UTF-8 though the zip says it is; "
                              "zip the folder again") from exc  # fmt: skip
    except NotImplementedError as exc:  # Deflate64 (Windows Explorer, for large files) and other rare methods
        raise SubmissionError(f"{archive.name}: compressed with a method the grader cannot read ({exc}); zip the "
                              "folder again with the standard method (Deflate)") from exc  # fmt: skip
    except RuntimeError as exc:  # zipfile's word for an encrypted entry (NotImplementedError is one too: above)
        raise SubmissionError(f"{archive.name}: its files are password-protected ({exc}); zip the folder again "
                              "without a password") from exc  # fmt: skip


def is_junk(path: Path) -> bool:
    """Files an operating system or editor adds to a folder by itself (.DS_Store, Thumbs.db, ~$lock files)."""
    return path.name.startswith((".", "~$")) or path.name in JUNK_NAMES


def stage(submission: Submission, staging: Path) -> Submission:
    """
    Copies the submission into ``staging/<student>/hw2``; records a problem
    instead of raising. A submission that has a problem already (found by
    ``discover`` or ``unique_students``) is not copied.
    """
    if submission.problem:
        return submission
    dest = staging / submission.student / ASSIGNMENT
    if dest.exists():
        shutil.rmtree(dest)
    unpacked = staging / submission.student / "unpacked"
    try:
        skipped = set()
        if submission.source.is_file():
            unpacked.mkdir(parents=True)
            _extract_zip(submission.source, unpacked, skipped)
            root, _ = locate(unpacked)
            if root is not None and root.is_file():
                raise SubmissionError(f"{submission.source.name}: holds another .zip ({shown_name(root.name)}); "
                                      "hand in one .zip of your hw/ folder")  # fmt: skip
            root = root or unpacked
        else:
            root, _ = locate(submission.source)
            root = root if root is not None and root.is_dir() else submission.source
        dest.mkdir(parents=True)
        _copy_tree(root, dest, skipped)
        submission.folder = dest
        submission.skipped = sorted(skipped)
        if not (dest / "hw").is_dir():
            found = _listing(dest)
            submission.problem = f"it has no hw/ folder, which holds the code the hidden tests grade (found: {found})"
    except SubmissionError as exc:
        submission.problem = str(exc)
    except Exception as exc:  # whatever else a file does to the unpacking is this submission's, never the class's
        submission.problem = (f"{_source_name(submission)}: the grader could not unpack it ({type(exc).__name__}: "
                              f"{shown_name(str(exc))}); the course staff will look at it")  # fmt: skip
    finally:
        if unpacked.exists():
            shutil.rmtree(unpacked)
    return submission


def _source_name(sub: Submission) -> str:
    """How a submission was handed in, for a sentence: 'leo m.zip', 'alice/hw2/'."""
    source = sub.source
    if source.name == ASSIGNMENT and source.parent.name:
        return shown_name(f"{source.parent.name}/{ASSIGNMENT}/")
    return shown_name(source.name + ("/" if source.is_dir() else ""))


def unique_students(submissions, report=None):
    """
    One submission per student id. Names that make the same id ("leo m.zip"
    and "leo_m.zip", or alice/ beside alice.zip; ids that differ only in case
    share a folder on some file systems) cannot be told apart: which one is
    that student's would be a guess, so none of them is graded, and each id
    is a submission whose problem names them all, recorded and reported
    where every problem is (``report`` is not needed for it: it is kept for
    the callers that pass one).
    """
    groups = {}
    for sub in submissions:
        groups.setdefault(sub.student.casefold(), []).append(sub)
    result = []
    for group in groups.values():
        if len(group) == 1:
            result += group
            continue
        names = [_source_name(s) for s in group]
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        ids = sorted({s.student for s in group})
        problem = (
            f"{len(group)} submissions would share the student id {' / '.join(ids[:3])} ({listed}), so none of them "
            "was graded: which one is this student's cannot be told. Give each its student's own name (ids are "
            "letters, digits, '_' and '-'), then grade again"
        )
        for sid in ids:  # one record per id: an id that differs only in case is a folder of its own where it can be
            first = next(s for s in group if s.student == sid)
            result.append(Submission(sid, first.source, problem=problem))
    return result
