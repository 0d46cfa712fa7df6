"""
A term as the README's "A term, step by step" runs it, on a class of eight as
students hand in: a Mac zip, a folder nested a level too deep, a virtual
environment inside, no notebooks at all, an answer changed after a TA graded
it, late without and with an extension, all named as Canvas's bulk download
names them, and the roster from Canvas's gradebook export. A TA grades and
overrides through formgrader's own HTTP API (the server the README starts);
afterwards every number agrees in gradebook.db, gradebook.csv, export.csv,
canvas.csv and each student's feedback page, and a real browser (headless
Chromium) shows the math rendered and every question of the student who handed
in no notebook.

The README's commands are run as written, from its code block, with two
additions: --course-root (a scratch course, not this repository's gradebook)
and --time-budget (the solution's calibrated time is another test's subject).
"""
import csv
import datetime
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from course import ASSIGNMENT, REPO_ROOT
from course.reports.nbgrader import HIDDEN_CELL, NbgraderCourse, scratch_course

RELEASE = REPO_ROOT / "release" / ASSIGNMENT
DUE = datetime.datetime(2026, 12, 1, 23, 59)  # the README's --due, in this machine's zone

# Canvas's "Export Entire Gradebook", as it downloads: a BOM, "Points Possible", a student without a submission, and
# Canvas's Test Student (never a student of the course).
CANVAS_EXPORT = "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Homework 2 (1202)\n    Points Possible,,,,,100\n" + "".join(
    f'"{last}, {first}",{canvas_id},{sis},{first.lower()}@uni.edu,CNN 101,\n'
    for last, first, canvas_id, sis in [
        ("Abel", "Ann", 5001, "s5001"), ("Brook", "Ben", 5002, "s5002"), ("Cole", "Cat", 5003, "s5003"),
        ("Dunn", "Dan", 5004, "s5004"), ("Ennis", "Eve", 5005, "s5005"), ("Frey", "Fay", 5006, "s5006"),
        ("Gale", "Gus", 5007, "s5007"), ("Hart", "Hal", 5008, "s5008"), ("Ives", "Ivy", 5009, "s5009"),
    ]) + '"Student, Test",5999,,,CNN 101,\n'  # fmt: skip


def solution_module(name: str) -> str:
    """The solution's module as a student who solved it hands it in (no solution markers)."""
    text = (REPO_ROOT / "hw" / name).read_text()
    return "".join(line for line in text.splitlines(keepends=True) if "### BEGIN SOLUTION" not in line
                   and "### END SOLUTION" not in line)  # fmt: skip


def homework(folder: Path, solved=(), notebooks=True, when: datetime.datetime = DUE - datetime.timedelta(hours=2)):
    """The release as a student fills it in: the modules of ``solved`` from the solution, every file dated ``when``."""
    shutil.copytree(RELEASE / "hw", folder / "hw", ignore=shutil.ignore_patterns("__pycache__"))
    for name in solved:
        (folder / "hw" / name).write_text(solution_module(name))
    if notebooks:
        for notebook in RELEASE.glob("*.ipynb"):
            shutil.copy(notebook, folder)
    stamp = when.timestamp()
    for path in folder.rglob("*"):
        os.utime(path, (stamp, stamp))
    return folder


def zip_up(folder: Path, archive: Path, prefix: str, extra=()):
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{prefix}{path.relative_to(folder)}")
        for name, data in extra:
            zf.writestr(name, data)


def changed_answer(folder: Path):
    """Eve hands in again: her answer to part1_q1 is new, the rest is the same."""
    answers = folder / "hw" / "answers.py"
    text = answers.read_text()
    assert "**dY/dX.**" in text
    answers.write_text(text.replace("**dY/dX.**", "**dY/dX, revised.**", 1))


def hand_in(root: Path, downloads: Path):
    """The class as the LMS's bulk download gives it to the TA: Canvas's file names, zips and unzipped folders."""
    work = root / "students"
    late = DUE + datetime.timedelta(hours=5)
    # ann: a Mac zip (__MACOSX, .DS_Store) of her hw2 folder, Part 1 solved
    zip_up(homework(work / "ann", solved=["layers.py"]), downloads / "abelann_5001_7001_hw2.zip", "hw2/",
           extra=[("__MACOSX/hw2/._layers.py", b"\0\5\26\7"), ("hw2/.DS_Store", b"\0\0\0\1Bud1")])
    # ben: unzipped by the TA into a folder, one level too deep
    homework(downloads / "brookben_5002_7002_hw2" / ASSIGNMENT / ASSIGNMENT, solved=["layers.py"])
    # cat: her virtual environment, caches and a checkpoint inside the folder she zipped
    cat = homework(work / "cat", solved=["layers.py", "optimizers.py"])
    (cat / ".venv" / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (cat / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for i in range(300):
        (cat / ".venv" / "lib" / "python3.11" / "site-packages" / f"module_{i}.py").write_text("x = 1\n")
    (cat / "hw" / "__pycache__").mkdir()
    (cat / "hw" / "__pycache__" / "layers.cpython-311.pyc").write_bytes(b"\x00" * 64)
    (cat / "checkpoints").mkdir()
    (cat / "checkpoints" / "yourcnn.pt").write_bytes(os.urandom(4096))
    zip_up(cat, downloads / "colecat_5003_7003_hw2.zip", "")
    # dan: no notebook at all, every written answer in hw/answers.py
    zip_up(homework(work / "dan", solved=["layers.py", "answers.py"], notebooks=False),
           downloads / "dunndan_5004_7004_hw2.zip", "")  # fmt: skip
    # eve: every written answer; she hands in again after a TA graded them (changed_answer)
    zip_up(homework(work / "eve", solved=["answers.py"]), downloads / "enniseve_5005_7005_hw2.zip", "")
    # fay: 5 h late, no extension (Canvas marks the file LATE)
    zip_up(homework(work / "fay", solved=["layers.py"], when=late), downloads / "freyfay_LATE_5006_7006_hw2.zip", "")
    # gus: 5 h late, with an extension of a day
    zip_up(homework(work / "gus", solved=["layers.py"], when=late), downloads / "galegus_LATE_5007_7007_hw2.zip", "")
    # hal: on time; a TA overrides his Part 1 points in formgrader
    zip_up(homework(work / "hal", solved=["layers.py"]), downloads / "harthal_5008_7008_hw2.zip", "")
    return work


def readme_term_commands():
    """The commands of the README's "A term, step by step" block, in order, as written (comments dropped)."""
    text = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"### A term, step by step\n+```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no 'A term, step by step' bash block"
    commands = []
    for line in block.group(1).splitlines():
        line = line.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            commands.append(shlex.split(line))
    return commands


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Formgrader:
    """formgrader's HTTP API on a Jupyter server started in the course folder, as the README starts it."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def call(self, method: str, path: str, body=None):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"token {self.token}"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.loads(reply.read() or b"null")

    def notebook_id(self, student: str, notebook: str) -> str:
        ids = [s["id"] for s in self.call("GET", f"/formgrader/api/submitted_notebooks/{ASSIGNMENT}/{notebook}")
               if s["student"] == student]  # fmt: skip
        assert len(ids) == 1, (student, notebook, ids)
        return ids[0]

    def grades(self, student: str, notebook: str) -> dict:
        """{grade name: grade as formgrader's page reads it}"""
        submission = self.notebook_id(student, notebook)
        return {g["name"]: g for g in self.call("GET", f"/formgrader/api/grades?submission_id={submission}")}

    def score(self, student: str, notebook: str, name: str, points: float, comment: str | None = None):
        """What a TA's typing a score (and a comment) into formgrader's page sends."""
        grade = self.grades(student, notebook)[name]
        self.call("PUT", f"/formgrader/api/grade/{grade['id']}", {"manual_score": points})
        if comment is not None:
            submission = self.notebook_id(student, notebook)
            comments = {c["name"]: c for c in self.call("GET", f"/formgrader/api/comments?submission_id={submission}")}
            self.call("PUT", f"/formgrader/api/comment/{comments[name]['id']}", {"manual_comment": comment})


@contextmanager
def formgrader_server(course_root: Path):
    command = readme_term_commands()
    jupyter = next(c for c in command if c[0] == "jupyter")
    port, token = free_port(), secrets.token_hex(16)
    server = [str(Path(sys.executable).parent / "jupyter"), *jupyter[1:], f"--port={port}",
              f"--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1"] + (["--allow-root"] if os.geteuid() == 0 else [])  # fmt: skip
    log = open(course_root / "jupyter.log", "w")
    proc = subprocess.Popen(server, cwd=course_root, stdout=log, stderr=subprocess.STDOUT)
    api = Formgrader(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                api.call("GET", "/formgrader/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("formgrader did not start:\n" + (course_root / "jupyter.log").read_text()[-3000:])
                time.sleep(0.5)
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def run_readme(command, root: Path, course: Path, extra=()):
    """One README command, in the folder the TA works in, on the scratch course; its output."""
    argv = [str(Path(sys.executable).parent / command[0]), *command[1:], "--course-root", str(course), *extra]
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, f"{shlex.join(command)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


WRITTEN_MAX = {}  # filled by the fixture: {question: max points}


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """The README's term, steps 2-8 (step 1, the release, is test_release's), on the class of eight."""
    root = tmp_path_factory.mktemp("term")
    course = scratch_course(root / "course")
    downloads = root / "submissions"
    downloads.mkdir()
    work = hand_in(root, downloads)
    (root / "canvas-gradebook.csv").write_text(CANVAS_EXPORT, encoding="utf-8")
    (root / "extensions.csv").write_text("student,hours\ns5007,24\n")
    steps = readme_term_commands()
    assert steps[0] == [".", ".venv/bin/activate"], "the term starts in the course's environment"
    commands = {c[1] if c[0] == "course" else c[0]: c for c in steps[1:]}  # run with this environment's executables
    assert list(commands) == ["release", "roster", "grade", "review", "jupyter", "export", "feedback"], list(commands)
    budget = ["--time-budget", "120"]
    outputs = {"roster": run_readme(commands["roster"], root, course)}
    outputs["grade"] = run_readme(commands["grade"], root, course, budget)
    outputs["review"] = run_readme(commands["review"], root, course)
    with formgrader_server(course) as api:  # open all along, as a TA's is: the browser test reads its pages
        first = api.grades("s5005", "Part1_Backprop")
        for name, grade in first.items():
            if not HIDDEN_CELL.fullmatch(name):
                WRITTEN_MAX[name] = grade["max_score"]
        # eve's Part 1 answers graded, then she hands in again with part1_q1 changed
        api.score("s5005", "Part1_Backprop", "part1_q1", 3.0, "Good.")
        api.score("s5005", "Part1_Backprop", "part1_q2", 2.0)
        # dan handed in no notebook: his answers are graded all the same, one with a comment
        api.score("s5004", "Part1_Backprop", "part1_q1", 1.5, "The Jacobian's shape: <see the notes>")
        # hal's Part 1 hidden points are set by a TA (a regrade request, say)
        api.score("s5008", "Part1_Backprop", "hidden_tests_part1", 7.0)
        api_view = {s: api.grades(s, "Part1_Backprop") for s in ("s5004", "s5005", "s5008")}
        (downloads / "enniseve_5005_7005_hw2.zip").unlink()
        changed_answer(work / "eve")
        zip_up(work / "eve", downloads / "enniseve_5005_7105_hw2.zip", "")
        outputs["regrade"] = run_readme(commands["grade"], root, course, budget)
        outputs["export"] = run_readme(commands["export"], root, course)
        outputs["feedback"] = run_readme(commands["feedback"], root, course)
        yield root, course, root / "grades", outputs, api_view, api


def read_csv(path: Path, skip_first_row=False):
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    return rows[1:] if skip_first_row else rows


def number(text: str):
    return None if text == "" else float(text)


STUDENTS = {"s5001": "ann", "s5002": "ben", "s5003": "cat", "s5004": "dan", "s5005": "eve", "s5006": "fay",
            "s5007": "gus", "s5008": "hal"}  # fmt: skip


def test_every_bulk_download_name_is_a_rostered_student(term):
    root, course, out, outputs, _, _ = term
    assert "cannot match" not in outputs["export"], outputs["export"]
    graded = sorted(p.name for p in out.iterdir() if (p / "results.json").exists())
    assert graded == sorted(STUDENTS), graded
    with NbgraderCourse(course).gradebook() as gb:
        lms = {s.id: s.lms_user_id for s in gb.students}
    assert lms == {f"s{5000 + i}": str(5000 + i) for i in range(1, 10)}, "the roster: every student, no Test Student"


def test_mac_zip_nested_folder_and_venv_are_graded_as_handed_in(term):
    _, _, out, _, _, _ = term
    for student in ("s5001", "s5002", "s5003"):
        results = json.loads((out / student / "results.json").read_text())
        assert not results.get("problem"), (student, results.get("problem"))
        assert results["parts"]["part1"]["score"] == results["parts"]["part1"]["max_score"], student
    cat = json.loads((out / "s5003" / "results.json").read_text())
    assert cat["parts"]["part2"]["score"] > 0, "her optimizers were graded"
    assert any(".venv" in s for s in cat["skipped"]) and any("checkpoints" in s for s in cat["skipped"]), cat["skipped"]
    page = (out / "s5003" / "feedback.html").read_text()
    assert "Not read:" in page and ".venv" in page


def test_missing_notebooks_lose_no_written_answer(term):
    _, course, out, _, api_view, _ = term
    dan = json.loads((out / "s5004" / "results.json").read_text())
    assert len(dan["stand_in_notebooks"]) == len(list(RELEASE.glob("*.ipynb")))
    with NbgraderCourse(course).gradebook() as gb:
        written = {g.name for nb in gb.find_submission(ASSIGNMENT, "s5004").notebooks for g in nb.grades
                   if not HIDDEN_CELL.fullmatch(g.name)}  # fmt: skip
        every = {g.name for nb in gb.find_submission(ASSIGNMENT, "s5005").notebooks for g in nb.grades
                 if not HIDDEN_CELL.fullmatch(g.name)}  # fmt: skip
    assert written == every and len(every) >= 20, "every question of the homework, for him too"
    assert api_view["s5004"]["part1_q1"]["manual_score"] == 1.5
    export = {r["student"]: r for r in read_csv(out / "export.csv")}
    assert "not graded" not in export["s5004"]["problem"] and float(export["s5004"]["part1_q1"]) == 1.5


def test_a_changed_answer_loses_its_stale_grade(term):
    _, course, out, outputs, _, _ = term
    with NbgraderCourse(course).gradebook() as gb:
        q1 = gb.find_grade("part1_q1", "Part1_Backprop", ASSIGNMENT, "s5005")
        q2 = gb.find_grade("part1_q2", "Part1_Backprop", ASSIGNMENT, "s5005")
        assert q1.needs_manual_grade and q2.manual_score == 2.0 and not q2.needs_manual_grade
    export = {r["student"]: r for r in read_csv(out / "export.csv")}
    assert export["s5005"]["part1_q1"] == "" and "part1_q1" in export["s5005"]["missing"].split()
    assert float(export["s5005"]["part1_q2"]) == 2.0
    assert "Graded now: 1" in outputs["regrade"], outputs["regrade"]


def test_lateness_counts_the_extension(term):
    _, _, out, outputs, _, _ = term
    # Dated by the zips' own entries (no submission times CSV): the command says a student can set those.
    from course.cli import FILE_TIMES_WARNING

    assert FILE_TIMES_WARNING in outputs["grade"].replace("\n", " "), outputs["grade"]
    gradebook = {r["student"]: r for r in read_csv(out / "gradebook.csv")}
    assert gradebook["s5006"]["late"] == "5 h late"
    assert gradebook["s5007"]["late"] == "on time (extension 1 d)"
    assert gradebook["s5001"]["late"] == "on time"
    export = {r["student"]: r for r in read_csv(out / "export.csv")}
    assert export["s5006"]["late"] == "5 h late" and export["s5007"]["late"].startswith("on time")


def test_the_override_is_the_grade_everywhere(term):
    _, _, out, outputs, api_view, _ = term
    assert api_view["s5008"]["hidden_tests_part1"]["manual_score"] == 7.0
    # the first command after the TA's change picks it up and says so: here the regrade
    assert "now in gradebook.csv and the feedback: s5008" in outputs["regrade"], outputs["regrade"]
    assert float({r["student"]: r for r in read_csv(out / "gradebook.csv")}["s5008"]["part1"]) == 7.0
    assert "set by the course staff" in (out / "feedback-hw2" / "s5008.html").read_text()


def feedback_numbers(page: str) -> dict:
    """The points a student reads on their feedback page: per part, hidden in all, per question, and in all."""
    numbers = {}
    for title, score in re.findall(r"<tr><td>([^<]+)(?:<br><small>[^<]*</small>)?</td>\s*<td class=\"pts [a-z]+\">([\d.]+) / [\d.]+</td>", page):
        numbers[title.strip()] = float(score)
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):  # one question a row: its score, or "not graded yet"
        found = re.match(r"<td><code>(\w+)</code>.*<td class=\"pts\">([\d.]+) / [\d.]+</td>$", row.strip(), re.S)
        if found:
            numbers[found.group(1)] = float(found.group(2))
    for label in ("Hidden tests in all", "Written answers in all", "In all"):
        found = re.search(rf"<th>{label}</th><th class=\"pts\">([\d.-]+) / ", page)
        numbers[label] = float(found.group(1)) if found else None
    return numbers


def test_every_file_agrees(term):
    """gradebook.db, gradebook.csv, export.csv, canvas.csv and each feedback page: one set of numbers."""
    _, course, out, _, _, _ = term
    gradebook = {r["student"]: r for r in read_csv(out / "gradebook.csv")}
    export = {r["student"]: r for r in read_csv(out / "export.csv")}
    canvas = {r["SIS User ID"]: r for r in read_csv(out / "canvas.csv", skip_first_row=True)}
    with NbgraderCourse(course).gradebook() as gb:
        parts = sorted({HIDDEN_CELL.fullmatch(g.name).group(1) for nb in gb.find_submission(ASSIGNMENT, "s5001").notebooks
                        for g in nb.grades if HIDDEN_CELL.fullmatch(g.name)})  # fmt: skip
        for student in STUDENTS:
            submission = gb.find_submission(ASSIGNMENT, student)
            db = {g.name: g for nb in submission.notebooks for g in nb.grades}
            hidden = {p: db[f"hidden_tests_{p}"].score for p in parts}
            written = {n: g.score for n, g in db.items() if not HIDDEN_CELL.fullmatch(n)}
            open_questions = {n for n, g in db.items() if g.needs_manual_grade}
            penalty = submission.late_submission_penalty or 0
            total = sum(hidden.values()) + sum(v for n, v in written.items() if n not in open_questions and v is not None)
            total -= penalty
            where = f"{student} ({STUDENTS[student]})"
            # gradebook.csv: the hidden points
            assert {p: float(gradebook[student][p]) for p in parts} == hidden, where
            assert float(gradebook[student]["total"]) == sum(hidden.values()), where
            # export.csv: hidden, written, total
            row = export[student]
            assert {p: float(row[f"hidden {p}"]) for p in parts} == hidden, where
            assert float(row["autograded"]) == sum(hidden.values()), where
            for name, score in written.items():
                assert number(row[name]) == (None if name in open_questions else score), (where, name)
            assert float(row["total"]) == total, where
            # canvas.csv: the total once final, the autograded points at once
            assert canvas[student]["ID"] == student[1:], "Canvas's own id, from the roster"
            assert float(canvas[student]["Homework 2 (autograded)"]) == sum(hidden.values()), where
            assert number(canvas[student]["Homework 2"]) == (None if open_questions else total), where
            # the feedback page
            page = feedback_numbers((out / "feedback-hw2" / f"{student}.html").read_text())
            results = json.loads((out / student / "results.json").read_text())
            for part in parts:
                assert page[results["part_titles"][part]] == hidden[part], (where, part)
            assert page["Hidden tests in all"] == sum(hidden.values()), where
            for name, score in written.items():
                if name not in open_questions:
                    assert page[name] == score, (where, name)
            assert page["In all"] == total, where
    ivy = export["s5009"]
    assert ivy["problem"] == "no submission" and canvas["s5009"]["Homework 2"] == ""


def test_unanswered_questions_are_zero_and_said(term):
    _, course, out, _, _, _ = term
    export = {r["student"]: r for r in read_csv(out / "export.csv")}
    ann = export["s5001"]
    assert all(float(ann[name]) == 0 for name in WRITTEN_MAX), "nothing answered: every question scored 0"
    assert "not answered, scored 0" in ann["notes"]
    canvas = {r["SIS User ID"]: r for r in read_csv(out / "canvas.csv", skip_first_row=True)}
    assert canvas["s5001"]["Homework 2"] != "", "all of ann's grade is final: her total is published"
    assert canvas["s5004"]["Homework 2"] == "", "dan's answers are not all graded: his total waits"


def test_feedback_zip_for_the_lms(term):
    _, _, out, _, _, _ = term
    with zipfile.ZipFile(out / "feedback-hw2.zip") as bundle:
        assert sorted(bundle.namelist()) == sorted(f"{s}.html" for s in STUDENTS)
    page = (out / "feedback-hw2" / "s5004.html").read_text()
    assert "The Jacobian&#39;s shape: &lt;see the notes&gt;" in page or "The Jacobian's shape: &lt;see the notes&gt;" in page


def headless_chromium():
    """Chromium driven by WebDriver, as bootstrap.py installs them (as root); skipped, with the reason, where missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is installed with the dev extras")
    browser, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("headless Chromium is not installed: bootstrap.py installs the packages chromium and "
                    "chromium-driver when it runs as root on Debian or Ubuntu")  # fmt: skip
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def test_formgrader_in_a_browser_shows_every_question_with_its_math(term):
    """A TA opens Part 1 of dan (who handed in no notebook) in formgrader, in a real browser."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    *_, api = term
    questions = set(api.grades("s5004", "Part1_Backprop"))
    browser = headless_chromium()
    try:
        browser.get(f"{api.url}/formgrader?token={api.token}")  # the TA logs in where the README sends them
        browser.get(f"{api.url}/formgrader/submissions/{api.notebook_id('s5004', 'Part1_Backprop')}/")
        wait = WebDriverWait(browser, 90)
        # formgrader's script fills the page from the gradebook: the score and comment a TA gave arrive
        wait.until(lambda b: b.find_element(By.ID, "part1_q1").get_attribute("value") == "1.5")
        assert browser.find_element(By.ID, "part1_q1-comment").get_attribute("value") == "The Jacobian's shape: <see the notes>"
        shown = {box.get_attribute("id") for box in browser.find_elements(By.CSS_SELECTOR, "input.score")}
        assert shown == questions and WRITTEN_MAX.keys() <= shown, "a score box for every graded cell of Part 1"
        # MathJax from the Jupyter server typesets every formula: none left as TeX, none in error
        wait.until(lambda b: b.execute_script(
            "return !!(window.MathJax && MathJax.Hub) && MathJax.Hub.queue.pending === 0 && "
            "document.querySelectorAll('script[type^=\"math/tex\"]').length > 0 && "
            "document.querySelectorAll('.MathJax_Preview:not(:empty)').length === 0"))
        typeset = browser.execute_script("return document.querySelectorAll('script[type^=\"math/tex\"]').length")
        text = browser.find_element(By.TAG_NAME, "body").text
        assert typeset >= 10 and "Math Processing Error" not in text, f"{typeset} formulas; errors: {text.count('Math Processing Error')}"
        assert "dY/dX" in text, "his written answer, read from hw/answers.py, is on the page"
    finally:
        browser.quit()
