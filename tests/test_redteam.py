"""
The red team: every hostile submission in tests/redteam/ graded in one
`course grade --jobs 2` run with innocent students between them, at each
isolation level this machine offers, and compared with a run of the innocent
students alone.

What must hold (tests/redteam/README.md describes an attack's fields):
- no attack scores above what its code honestly earns, and the grader flags
  exactly the attacks it should, with a readable reason;
- every innocent student's grade is the same, test by test, as without the attackers;
- nothing of the submissions is left on disk or running afterwards, and the
  grader's own files are untouched;
- no hidden test and no solution text appears in any feedback;
- the run's wall time stays within WALL_TIME_FACTOR of a clean run's time per
  submission, and no submission holds a slot much past its time budget.
"""
import hashlib
import os
import py_compile
import shutil
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from course import ASSIGNMENT, REPO_ROOT
from course.grading import isolation
from course.authoring.examples import Example, build_example, load_examples
from course.grading.run import grade
from course.grading.suite import grading_settings
from course.reports.nbgrader import scratch_course
from course.grading.secret import course_secret

ATTACKS_DIR = Path(__file__).resolve().parent / "redteam"
# Full marks, a bug that costs points and no work at all.
INNOCENTS = ["solution", "momentum_sign", "release"]
INNOCENT_EVERY = 8  # an innocent student after every so many attackers
WALL_TIME_FACTOR = 3.0  # attack run <= factor x (clean seconds per submission) x submissions
# Half of a real run's minimum budget (course.grading.suite.MIN_TIME_BUDGET): the innocents use a few seconds of it (the
# solution's worker about 3 s) and the attacks that spin until their budget is spent end sooner. What the red team
# checks (no attack gains, no innocent grade moves, nothing is left behind) does not depend on the budget's size.
REDTEAM_TIME_BUDGET = 30.0
SLOT_ALLOWANCE = 150.0  # seconds a suite may run past its worker's time budget (the harness's own work)
SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm")
# Both levels' runs take more than an hour of a core (six attacks train YourCNN): the first test of a level waits for
# its class to be graded, longer than the suite's default timeout.
pytestmark = pytest.mark.timeout(3000)
GRADER_FOLDERS = ("autograder", "course", "hw", "release", "tests/assets")


@dataclass
class Attack:
    name: str
    description: str
    kind: str
    base: str
    honest_max: int
    flagged: bool
    reason: str | None = None
    edits: list = field(default_factory=list)
    appends: list = field(default_factory=list)
    symlinks: list = field(default_factory=list)
    files: list = field(default_factory=list)  # new files of the submission: {"path", "code"}
    compiled: list = field(default_factory=list)  # modules handed in as a sourceless .pyc only: {"module"}
    release_files: list = field(default_factory=list)  # modules as the release has them (not implemented): {"file"}
    levels: tuple = isolation.LEVELS  # the isolation levels that must stop it
    must_fail: list = field(default_factory=list)  # tests that fail on their merits, not only withheld
    # False: the policy flags it before anything of it runs, so every point it could pass is withheld whatever it
    # does; it is checked with the policy the grader applies (test_flagged_before_it_runs), not graded again.
    graded: bool = True


# Attacks on the sandbox itself run at every isolation level. The others (faking what a probe measures, forging
# the protocol, payloads for the harness's loader, markup for the grader's browser) aim at the harness and the
# worker's protocol, which are the same at every level: they run once, at the strongest level.
ISOLATION_CLASSES = {
    "reading outside the sandbox", "writing outside the sandbox", "reaching other students",
    "processes that outlive their student", "processes and threads", "memory", "disk", "network",
    "exits", "hangs", "time", "output floods",
}


def strongest_level():
    """The strongest isolation level the red team can run at on this machine."""
    if not isolation.bubblewrap_problem():
        return isolation.BUBBLEWRAP
    return isolation.UID if isolation.running_as_root() else None


def load_attacks():
    attacks = []
    for path in sorted(ATTACKS_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        attacks.append(
            Attack(
                name=path.stem,
                description=data["description"],
                kind=data["class"],
                base=data["base"],
                honest_max=data["honest_max"],
                flagged=data["flagged"],
                reason=data.get("reason"),
                edits=data.get("edit", []),
                appends=data.get("append", []),
                symlinks=data.get("symlink", []),
                files=data.get("file", []),
                compiled=data.get("compiled", []),
                release_files=data.get("release_file", []),
                levels=tuple(data.get("levels", isolation.LEVELS if data["class"] in ISOLATION_CLASSES else (strongest_level(),))),
                must_fail=data.get("must_fail", []),
                graded=data.get("graded", True),
            )
        )
    return attacks


ATTACKS = load_attacks()


def build_attack(attack: Attack, dest: Path):
    build_example(Example(attack.name, attack.description, attack.base, attack.edits, [], []), dest)
    for append in attack.appends:
        with open(dest / append["file"], "a") as f:
            f.write(append["code"])
    for link in attack.symlinks:
        path = dest / link["path"]
        path.unlink(missing_ok=True)
        path.symlink_to(link["target"].format(repository=REPO_ROOT))
    for stub in attack.release_files:
        shutil.copyfile(REPO_ROOT / "release" / ASSIGNMENT / stub["file"], dest / stub["file"])
    for new in attack.files:
        path = dest / new["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new["code"])
    for path in (dest / "hw").glob("*.py"):  # an attack may name the repository's folder on this machine
        text = path.read_text()
        if "@REPOSITORY@" in text:
            path.write_text(text.replace("@REPOSITORY@", str(REPO_ROOT)))
    for module in attack.compiled:
        source = dest / module["module"]
        py_compile.compile(str(source), cfile=str(source.with_suffix(".pyc")), doraise=True)
        source.unlink()


def student_names(level):
    """Attackers and innocents interleaved, in the order the grader takes them (sorted names)."""
    names, innocents = [], iter(INNOCENTS)
    for i, attack in enumerate(a for a in ATTACKS if level in a.levels and a.graded):
        if i % INNOCENT_EVERY == 0:
            innocent = next(innocents, None)
            if innocent:
                names.append(("innocent", innocent))
        names.append(("attack", attack.name))
    names += [("innocent", name) for name in innocents]
    return [(f"{i:02d}-{kind}-{name}", kind, name) for i, (kind, name) in enumerate(names)]


def shared_temp_entries():
    """What attacks left in the shared temporary folders (their files' names say REDTEAM)."""
    entries = set()
    for folder in SHARED_TEMP:
        try:
            entries |= {os.path.join(folder, name) for name in os.listdir(folder) if "REDTEAM" in name}
        except OSError:
            pass
    return entries


def grader_fingerprint():
    """A hash of every file of the grader and of the interpreter's torch package."""
    import torch

    sha = hashlib.sha256()
    files = [p for folder in GRADER_FOLDERS for p in sorted((REPO_ROOT / folder).rglob("*")) if p.is_file()]
    files = [p for p in files if "__pycache__" not in p.parts]
    for path in files + [Path(torch.__file__)]:
        sha.update(str(path).encode() + path.read_bytes())
    return sha.hexdigest()


def leftover_processes():
    """Processes of the red team (their command line says REDTEAM) or of this process's grading slots' uids."""
    first_slot = isolation.slot_uid(0)
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if b"REDTEAM" in cmdline or first_slot <= uid < first_slot + isolation.SLOTS_PER_PROCESS:
            found.append((pid, uid, cmdline[:120]))
    return found


@dataclass
class RedTeamRun:
    level: str
    out: Path
    course: Path  # the nbgrader course that received the notebooks
    clean: dict  # innocent student -> Outcome, graded alone
    attacked: dict  # student -> Outcome, graded with the attackers
    clean_seconds: float
    attack_seconds: float
    budget_seconds: float
    temp_before: set
    temp_after: set
    grader_temp_left: list  # what remained in the grader's temporary folder after the run
    fingerprint_before: str
    fingerprint_after: str
    processes_after: list


def available_levels():
    levels = []
    bubblewrap_missing = isolation.bubblewrap_problem()
    if bubblewrap_missing and os.environ.get("CI"):
        pytest.fail(f"CI must run the red team in the bubblewrap sandbox, but {bubblewrap_missing}")
    levels.append(pytest.param(isolation.BUBBLEWRAP, marks=pytest.mark.skipif(
        bool(bubblewrap_missing), reason=f"no bubblewrap here: {bubblewrap_missing}")))  # fmt: skip
    levels.append(pytest.param(isolation.UID, marks=pytest.mark.skipif(
        not isolation.running_as_root(), reason="the uid fallback needs root")))  # fmt: skip
    return levels


@pytest.fixture(scope="module", params=available_levels())
def redteam(request, tmp_path_factory, own_grader_temp):
    level = request.param
    root = tmp_path_factory.mktemp(f"redteam-{level}")
    names = student_names(level)
    examples = {e.name: e for e in load_examples()}
    attacks = {a.name: a for a in ATTACKS}
    for student, kind, name in names:
        dest = root / "submitted" / student / ASSIGNMENT
        if kind == "attack":
            build_attack(attacks[name], dest)
        else:
            build_example(examples[name], dest)
            clean_dest = root / "clean" / student / ASSIGNMENT
            build_example(examples[name], clean_dest)
    course = scratch_course(root / "course")
    # The uid fallback cannot hide files every user may read: as its README
    # says, the repository must not be one of them.
    mode = REPO_ROOT.stat().st_mode
    if level == isolation.UID:
        REPO_ROOT.chmod(0o700)
    try:
        settings = grading_settings(isolation_level=level, time_budget=REDTEAM_TIME_BUDGET, progress=False)
        fingerprint_before = grader_fingerprint()
        start = time.monotonic()
        clean_run = grade([root / "clean"], root / "clean-grades", settings=settings, progress=False, course_root=course)
        clean_seconds = time.monotonic() - start
        assert clean_run.problems == []
        temp_before = shared_temp_entries()
        start = time.monotonic()
        with own_grader_temp() as grader_temp:
            attacked = grade([root / "submitted"], root / "grades", settings=settings, progress=False,
                             course_root=course).outcomes  # fmt: skip
            grader_temp_left = sorted(grader_temp.iterdir())
        attack_seconds = time.monotonic() - start
    finally:
        REPO_ROOT.chmod(mode & 0o7777)
    time.sleep(1)  # a process that survived would still be running a second later
    return RedTeamRun(
        level=level,
        out=root / "grades",
        course=course,
        clean={o.student: o for o in clean_run.outcomes},
        attacked={o.student: o for o in attacked},
        clean_seconds=clean_seconds,
        attack_seconds=attack_seconds,
        budget_seconds=settings.budget.seconds,
        temp_before=temp_before,
        temp_after=shared_temp_entries(),
        grader_temp_left=grader_temp_left,
        fingerprint_before=fingerprint_before,
        fingerprint_after=grader_fingerprint(),
        processes_after=leftover_processes(),
    )


def attacker(level, name):
    (student,) = [s for s, kind, n in student_names(level) if kind == "attack" and n == name]
    return student


GRADED = [a for a in ATTACKS if a.graded]
STATIC = [a for a in ATTACKS if not a.graded]


@pytest.mark.parametrize("attack", STATIC, ids=[a.name for a in STATIC])
def test_flagged_before_it_runs(tmp_path, attack):
    """What the grader does first with a submission (autograder/conftest.py): the policy on the files it stages."""
    from hw import policy

    assert attack.flagged and not attack.must_fail, f"{attack.name}: an attack that is not graded can only be flagged"
    build_attack(attack, tmp_path / attack.name)
    report = policy.check_folder(tmp_path / attack.name)
    messages = [finding.describe() for finding in report.flags]
    assert messages, f"{attack.name}: the policy lets it through; grade it (graded = true) to see what it gains"
    if attack.reason:
        assert any(attack.reason in m for m in messages), f"{attack.name}: no flag says {attack.reason!r}: {messages[:3]}"


@pytest.mark.parametrize("attack", GRADED, ids=[a.name for a in GRADED])
def test_attack_gains_nothing(redteam, attack):
    if redteam.level not in attack.levels:
        pytest.skip(f"the {redteam.level} level does not claim to stop {attack.name} (see the README)")
    outcome = redteam.attacked[attacker(redteam.level, attack.name)]
    assert outcome.points() <= attack.honest_max, (
        f"{attack.name} scored {outcome.points()}, more than the {attack.honest_max} its code honestly earns"
    )
    assert bool(outcome.flags) == attack.flagged, f"{attack.name}: flags {outcome.flags}, expected flagged={attack.flagged}"
    messages = [t["message"] for t in outcome.tests if not t["passed"]]
    assert all(messages), "every lost point has a reason"
    if attack.reason:
        assert any(attack.reason in m for m in messages), f"{attack.name}: no message says {attack.reason!r}: {messages[:3]}"
    assert not outcome.harness_errors, outcome.harness_errors[:2]
    by_name = {t["name"]: t for t in outcome.tests}
    for name in attack.must_fail:
        assert not by_name[name]["passed"] and not by_name[name]["withheld"], f"{attack.name}: {name}: {by_name[name]}"


def test_innocent_grades_are_untouched(redteam):
    innocents = [s for s, kind, _ in student_names(redteam.level) if kind == "innocent"]
    assert len(innocents) == len(INNOCENTS)
    for student in innocents:
        clean = {t["name"]: t["points"] for t in redteam.clean[student].tests}
        attacked = {t["name"]: t["points"] for t in redteam.attacked[student].tests}
        changed = {name: (clean[name], attacked[name]) for name in clean if clean[name] != attacked[name]}
        assert not changed, f"{student}: (alone, with attackers) {changed}"
        assert not redteam.attacked[student].flags


def test_nothing_is_left_behind(redteam):
    assert not redteam.temp_after - redteam.temp_before
    assert not redteam.grader_temp_left, "the grader's scratch folders are removed"
    assert not os.path.exists("/tmp/REDTEAM_pwned"), "an unpickled payload ran in the grader"
    assert not redteam.processes_after, redteam.processes_after
    assert not (redteam.out / ".staging").exists()


def test_grader_files_are_untouched(redteam):
    assert redteam.fingerprint_after == redteam.fingerprint_before


def solution_only_lines():
    """Lines of the solution that the student release does not have (solution text)."""
    release = {line.strip() for p in (REPO_ROOT / "release" / ASSIGNMENT / "hw").glob("*.py") for line in p.read_text().splitlines()}
    solution = {line.strip() for p in (REPO_ROOT / "hw").glob("*.py") for line in p.read_text().splitlines()}
    return {line for line in solution - release if len(line) >= 30}


def test_the_course_secret_reaches_no_student(redteam):
    """The held-out values' secret (course.grading.secret) is in no results, feedback or log: a student who had it could draw them."""
    secret = course_secret()
    for path in [*redteam.out.rglob("*.json"), *redteam.out.rglob("*.html"), *redteam.out.rglob("*.log")]:
        assert secret not in path.read_text(errors="replace"), f"{path} shows the course's secret"


def test_no_hidden_or_solution_text_in_feedback(redteam, hidden_sources):
    solution_lines = solution_only_lines()
    assert len(solution_lines) > 50
    for student in redteam.attacked:
        for name in ("feedback.html", "results.json"):
            text = (redteam.out / student / name).read_text()
            leaked = [line for line in hidden_sources if line in text]
            assert not leaked, f"{student}/{name} shows hidden test source: {leaked[:2]}"
            if "-release" in student or "-attack-" in student and _base(student) == "release":
                leaked = [line for line in solution_lines if line in text]
                assert not leaked, f"{student}/{name} shows solution text: {leaked[:2]}"


def _base(student):
    name = student.split("-attack-", 1)[1]
    return next(a.base for a in ATTACKS if a.name == name)


# What grading one student may leave in the grading folder: the results (every message at most 2 KB, every written
# answer at most 20,000 characters), the feedback page and the logs (4 MiB of what the worker printed).
MAX_RESULTS_BYTES = 2 << 20
MAX_STUDENT_BYTES = 16 << 20


def test_every_students_files_are_bounded(redteam):
    """However large the names, messages or output an attack makes, its results and logs stay small."""
    for student in redteam.attacked:
        results = (redteam.out / student / "results.json").stat().st_size
        assert results <= MAX_RESULTS_BYTES, f"{student}: results.json has {results >> 10} KiB"
        files = [*(redteam.out / student).iterdir(), *(redteam.out / ".logs").glob(f"{student}.*")]
        total = sum(p.stat().st_size for p in files if p.is_file())
        assert total <= MAX_STUDENT_BYTES, f"{student}: its results, feedback and logs take {total >> 20} MiB"


def test_wall_time_is_bounded(redteam):
    per_submission = redteam.clean_seconds / len(INNOCENTS)
    bound = WALL_TIME_FACTOR * per_submission * len(redteam.attacked)
    assert redteam.attack_seconds <= bound, (
        f"{redteam.attack_seconds:.0f} s for {len(redteam.attacked)} submissions; a clean run takes "
        f"{per_submission:.1f} s per submission, so at most {bound:.0f} s"
    )
    slow = {s: o.seconds for s, o in redteam.attacked.items() if o.seconds > redteam.budget_seconds + SLOT_ALLOWANCE}
    assert not slow, f"held a grading slot past the time budget of {redteam.budget_seconds:.0f} s: {slow}"


def test_markup_in_answers_is_shown_as_text(redteam):
    """formgrader shows the answers from the autograded notebooks: there, markup must be text."""
    attack = next(a for a in ATTACKS if a.name == "html_in_answers")
    if redteam.level not in attack.levels:
        pytest.skip(f"html_in_answers attacks the harness, which runs only at the {strongest_level()} level")
    student = attacker(redteam.level, "html_in_answers")
    shown = []
    for path in (redteam.course / "autograded" / student / ASSIGNMENT).glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                shown.append(output.get("data", {}).get("text/markdown", ""))
    answers = [text for text in shown if "REDTEAM" in text]
    assert len(answers) == 2, shown
    for text in answers:
        assert "<script" not in text and "<img" not in text and "<iframe" not in text, text
    assert "&lt;script&gt;" in answers[0]
