"""`course grade` on the bundled examples: points, feedback, gradebook."""
import csv
import json
import re
import subprocess
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook

from course import ASSIGNMENT
from course.grading import isolation
from course.cli import example_matches
from course.authoring.examples import build_example, load_examples
from course.grading.suite import Settings, grading_settings, run_suite, suite_catalog
from course.grading.sandbox import Budget
from course.grading.submissions import discover, stage

EXAMPLE_NAMES = [e.name for e in load_examples()]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_loses_exactly_its_points(graded_examples, name):
    examples, outcomes, out = graded_examples
    example, outcome = examples[name], outcomes[name]
    failed = sorted(t["name"] for t in outcome.tests if not t["passed"])
    assert not outcome.harness_errors, outcome.harness_errors
    results = json.loads((out / name / "results.json").read_text())
    assert example_matches(example)(results), f"{name} failed {failed}, expected {example.expect_failed}"


def test_solution_scores_maximum_and_release_zero(graded_examples):
    _, outcomes, _ = graded_examples
    assert outcomes["solution"].points() == outcomes["solution"].max_points() > 0
    assert outcomes["release"].points() == 0


def test_allclose_cheat_gains_nothing(graded_examples):
    """
    The cheat changed torch.allclose: the worker answers no probe after that
    (every test fails on its merits, none is merely withheld), and the policy
    flagged it for the staff before it ran.
    """
    _, outcomes, _ = graded_examples
    outcome = outcomes["allclose_cheat"]
    for test in outcome.tests:
        assert not test["passed"] and not test["withheld"], test
    part1 = [t for t in outcome.tests if t["part"] == "part1"]
    assert part1 and all("your code changed torch.allclose" in t["message"] for t in part1), part1[0]["message"]
    assert [f["message"] for f in outcome.flags] == [
        "hw/layers.py:20 assigns to something imported (homework code changes no library)"
    ]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("syntax_error", "SyntaxError: '(' was never closed (hw/layers.py:"),
        ("endless_forward", "s while running your Sigmoid (forward and backward)"),
        ("autograd_backward", "uses torch.enable_grad: this part's layers compute their forward and backward passes"),
    ],
)
def test_broken_examples_say_why(graded_examples, name, reason):
    _, outcomes, _ = graded_examples
    messages = [t["message"] for t in outcomes[name].tests if not t["passed"]]
    assert messages and all(reason in m for m in messages), messages[:3]


def test_results_json_per_student(graded_examples):
    _, outcomes, out = graded_examples
    for student in outcomes:
        results = json.loads((out / student / "results.json").read_text())
        assert results["student"] == student
        assert results["score"] == sum(t["points"] for t in results["tests"])
        for test in results["tests"]:
            assert set(test) >= {"name", "points", "max_points", "passed", "message"}
            assert test["passed"] == (test["points"] == test["max_points"])
            assert test["passed"] or test["message"]


def test_gradebook_csv(graded_examples):
    _, outcomes, out = graded_examples
    with open(out / "gradebook.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(outcomes)
    for student, row in rows.items():
        parts = [key for key in row if key.startswith("part")]
        assert parts == sorted(parts) and {"part1", "part2"} <= set(parts)
        assert int(row["total"]) == outcomes[student].points() == sum(int(row[part]) for part in parts)
        for part in parts:
            assert int(row[part]) == outcomes[student].points(part)
        assert int(row["max"]) == outcomes[student].max_points()


def test_feedback_shows_reasons_not_hidden_source(graded_examples, hidden_sources):
    _, outcomes, out = graded_examples
    for student in outcomes:
        html = (out / student / "feedback.html").read_text()
        leaked = [line for line in hidden_sources if line in html]
        assert not leaked, f"{student}'s feedback shows hidden-suite source: {leaked[:3]}"
        assert not re.search(r"\bseed \d", html, re.I), f"{student}'s feedback speaks of where the checks came from"
    html = (out / "leaky_relu_backward" / "feedback.html").read_text()
    assert "LeakyReLU.backward: dx: differs from the expected values" in html
    summary = html.index("What to fix")
    assert summary < html.index("Every check") and html.index("Part 1: Backpropagation from scratch") < summary
    outcome = outcomes["leaky_relu_backward"]
    assert f"{outcome.points()} / {outcome.max_points()}" in html


def test_nbgrader_gradebook_holds_every_submission(graded_examples, course_root):
    """formgrader reads gradebook.db: every example is there with its manually graded answers."""
    _, outcomes, _ = graded_examples
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}", course_id="cnn-homework") as gb:
        for student in outcomes:
            submission = gb.find_submission(ASSIGNMENT, student)
            max_scores = {grade.name: grade.max_score for nb in submission.notebooks for grade in nb.grades}
            assert max_scores.get("part1_q1") == 4 and max_scores.get("part1_q2") == 2, max_scores


def test_one_gradebook_holds_hidden_and_manual_points(graded_examples, course_root):
    """The hidden suite's points per part are grades in nbgrader's gradebook, next to the written answers."""
    _, outcomes, _ = graded_examples
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}", course_id="cnn-homework") as gb:
        for student, outcome in outcomes.items():
            submission = gb.find_submission(ASSIGNMENT, student)
            grades = {g.name: g for nb in submission.notebooks for g in nb.grades}
            hidden = {name.removeprefix("hidden_tests_"): g.score for name, g in grades.items() if name.startswith("hidden_tests_")}
            parts = sorted({t["part"] for t in outcome.tests})
            assert len(parts) >= 4 and hidden == {part: outcome.points(part) for part in parts}, student
            assert not any(grades[f"hidden_tests_{p}"].needs_manual_grade for p in hidden)
        solution = gb.find_submission(ASSIGNMENT, "solution")
        manual = sum(g.max_score for nb in solution.notebooks for g in nb.grades if not g.name.startswith("hidden_tests_"))
        assert solution.max_score == outcomes["solution"].max_points() + manual and manual > 0
        assert solution.score == outcomes["solution"].max_points(), "all hidden points, written answers not yet graded"


def test_hidden_results_shown_in_autograded_notebook(graded_examples, course_root):
    """nbgrader's own feedback (generate_feedback) shows the hidden suite's result per part."""
    notebook = nbformat.read(course_root / "autograded" / "leaky_relu_backward" / ASSIGNMENT / "Part1_Backprop.ipynb", as_version=4)
    (cell,) = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "hidden_tests_part1"]
    outcome = graded_examples[1]["leaky_relu_backward"]
    assert f"Hidden tests: {outcome.points('part1')} / {outcome.max_points('part1')} points" in cell.source
    assert "LeakyReLU.backward: dx: differs from the expected values" in cell.source


def test_written_answers_shown_in_autograded_notebook(graded_examples, course_root):
    """The answers live in hw/answers.py; the autograded notebook shows them next to the grading cell."""
    _, outcomes, _ = graded_examples
    notebook = nbformat.read(course_root / "autograded" / "solution" / ASSIGNMENT / "Part1_Backprop.ipynb", as_version=4)
    shown = {cell.id: "".join(o.get("data", {}).get("text/markdown", "") for o in cell.outputs)
             for cell in notebook.cells if cell.cell_type == "code"}  # fmt: skip
    assert shown["show_part1_q1"] == outcomes["solution"].answers["part1_q1"]
    assert "Jacobian" in shown["show_part1_q1"]


def test_autograde_leaves_student_modules_alone(graded_examples, course_root):
    """nbgrader#940: autograde must not replace a student's hw/*.py with the instructor's copy in source/."""
    assert (course_root / "source" / ASSIGNMENT / "hw" / "layers.py").exists()
    for student in ("linear_backward_transpose", "release"):
        submitted = (course_root / "submitted" / student / ASSIGNMENT / "hw" / "layers.py").read_text()
        autograded = (course_root / "autograded" / student / ASSIGNMENT / "hw" / "layers.py").read_text()
        assert autograded == submitted, f"autograde replaced {student}'s hw/layers.py"


class QuickStop(Settings):
    def suite_limit(self):
        return 20.0


def test_a_suite_stopped_for_time_keeps_its_log_and_leaves_nothing(tmp_path, own_grader_temp):
    """The backstop on a whole suite: it is killed, the log is written, the scratch folder and every process are gone."""
    example = next(e for e in load_examples() if e.name == "solution")
    folder = build_example(example, tmp_path / "sleepy" / ASSIGNMENT)
    layers = folder / "hw" / "layers.py"
    layers.write_text(layers.read_text() + "\nimport time\n_f = Sigmoid.forward\nSigmoid.forward = lambda self, x, **kw: (time.sleep(9), _f(self, x))[1]\n")
    (sub,) = discover(folder)
    stage(sub, tmp_path / "staging")
    (tmp_path / "logs").mkdir()
    settings = QuickStop(Budget(seconds=600), grading_settings(time_budget=600).isolation)
    with own_grader_temp() as grader_temp:
        outcome = run_suite(sub, suite_catalog(), tmp_path / "logs", settings)
        left = list(grader_temp.iterdir())
    assert 20 <= outcome.seconds < 60
    stopped = [t for t in outcome.tests if t["message"] == "grading stopped: the hidden suite ran for more than 20 s"]
    assert stopped and all(not t["passed"] for t in stopped)
    assert "grading stopped: the hidden suite ran for more than 20 s" in (tmp_path / "logs" / "sleepy.pytest.log").read_text()
    assert not left, "the suite's scratch folder is removed"
    if isolation.running_as_root():
        assert isolation.pids_of_uid(isolation.slot_uid(0)) == [], "the stopped worker's processes are gone"


def test_a_suite_that_cannot_start_is_the_graders_problem(tmp_path, monkeypatch):
    """A suite that ends without a report (here: pytest given an option it does not know) is never the student's zero."""
    from course.grading import suite

    example = next(e for e in load_examples() if e.name == "release")
    folder = build_example(example, tmp_path / "ann" / ASSIGNMENT)
    (sub,) = discover(folder)
    stage(sub, tmp_path / "staging")
    (tmp_path / "logs").mkdir()
    catalog, settings = suite_catalog(), grading_settings(time_budget=600)
    monkeypatch.setattr(suite, "_pytest_args", lambda args: ["--no-such-option", *args])
    outcome = run_suite(sub, catalog, tmp_path / "logs", settings)
    assert outcome.tests and len(outcome.harness_errors) == len(outcome.tests), "every test is the grader's failure"
    message = outcome.tests[0]["message"]
    assert message.startswith("the grader could not run the hidden suite (") and "grade again" in message, message
    assert "--no-such-option" in message, "the log's last line says why"


def test_the_suite_starts_whatever_folder_the_grader_runs_in(tmp_path):
    """A folder named like the grader's package where the TA works (their course called course/) shadows nothing."""
    (tmp_path / "course").mkdir()
    script = tmp_path / "bin" / "start_suite.py"  # as the `course` command runs: a script, the package installed
    script.parent.mkdir()
    script.write_text("import sys\nfrom course.grading.suite_process import SuiteProcess\n\nif __name__ == '__main__':\n"
                      "    p = SuiteProcess(['--version'], sys.argv[1], {})\n    p.wait(120)\n    p.end()\n")  # fmt: skip
    log = tmp_path / "suite.log"
    log.write_bytes(b"")
    subprocess.run([sys.executable, str(script), str(log)], cwd=tmp_path, check=True, timeout=180)
    assert "pytest" in log.read_text(), log.read_text()[-2000:]


def test_hidden_test_cells_carry_the_suites_points():
    """Each notebook's hidden-tests cell has its part's points in the hidden suite (course grade refuses otherwise)."""
    from course.reports.nbgrader import hidden_cells_problem

    assert hidden_cells_problem(suite_catalog()) is None
    assert "the suite has 1 points" in hidden_cells_problem([{"part": "part1", "max_points": 1}])


def grade_written_answers(course_root, student, fraction):
    """What a TA does in formgrader: a manual score for each written answer of one student."""
    from course.reports.nbgrader import NbgraderCourse

    with NbgraderCourse(course_root).gradebook() as gb:
        for notebook in gb.find_submission(ASSIGNMENT, student).notebooks:
            for grade in notebook.grades:
                if grade.needs_manual_grade:
                    grade.manual_score = grade.max_score * fraction
                    grade.needs_manual_grade = False  # as formgrader's save does
        gb.db.commit()


def test_export_and_roster(graded_examples, course_root, tmp_path):
    """`course roster` names the students; `course export` writes the one gradebook as CSV and for Canvas."""
    from course.reports.nbgrader import import_roster, write_canvas_export, write_export

    _, outcomes, out = graded_examples
    roster = tmp_path / "roster.csv"
    # As a spreadsheet saves it: with a byte-order mark. zoe is enrolled but has handed nothing in.
    roster.write_text("\ufeffid,first_name,last_name,email\nsolution,Sol,Ution,sol@example.edu\n"
                      "release,Rel,,\nzoe,Zoe,Ortiz,zoe@example.edu\n", encoding="utf-8")  # fmt: skip
    assert import_roster(roster, course_root) == 3
    count, incomplete = write_export(tmp_path / "export.csv", course_root, results=out)
    assert count >= len(outcomes) + 1
    with open(tmp_path / "export.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    solution = rows["solution"]
    assert (solution["first_name"], solution["last_name"], solution["email"]) == ("Sol", "Ution", "sol@example.edu")
    assert (rows["release"]["first_name"], rows["release"]["last_name"]) == ("Rel", ""), "the id stand-in is replaced"
    parts = sorted({t["part"] for t in outcomes["solution"].tests})
    assert [solution[f"hidden {p}"] for p in parts] == [str(outcomes["solution"].points(p)) for p in parts]
    assert solution["part1_q1"] == "" and "part1_q1" in solution["missing"].split(), "an ungraded answer is not a 0"
    assert int(solution["total"]) == outcomes["solution"].max_points() < int(solution["max"])
    assert rows["allclose_cheat"]["review"] == "pending"
    assert rows["zoe"]["problem"] == "no submission" and rows["zoe"]["total"] == "0"
    assert "solution" in incomplete["with written answers not graded yet in formgrader"]
    assert incomplete["without a submission"] == ["zoe"]
    assert "allclose_cheat" in incomplete["waiting for a review of flagged code (course review)"]

    grade_written_answers(course_root, "solution", 0.5)
    _, unmatched = write_canvas_export(tmp_path / "canvas.csv", course_root, results=out, column="Homework 2 (42)")
    assert "solution" in unmatched, "a student without a Canvas ID on the roster cannot be matched by Canvas"
    with open(tmp_path / "canvas.csv") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 2 (42)",
                        "Homework 2 (42) (autograded)"]  # fmt: skip
    assert lines[1][0] == "Points Possible" and lines[1][-2] == solution["max"]
    assert lines[1][-1] == str(outcomes["solution"].max_points())
    final = outcomes["solution"].max_points() + (int(solution["max"]) - outcomes["solution"].max_points()) / 2
    assert ["Ution, Sol", "", "solution", "sol@example.edu", "", f"{final:g}", str(outcomes["solution"].max_points())] in lines
    # Totals that will still change are left empty, so Canvas keeps what it had; the autograded points alone are
    # final once the hidden suite's are (no problem, no pending review), whatever the written answers wait for.
    by_id = {line[2]: line for line in lines[2:]}
    assert by_id["zoe"][-2] == by_id["allclose_cheat"][-2] == ""
    assert by_id["allclose_cheat"][-1] == "" and by_id["zoe"][-1] == ""
    # The stubs answer no written question: each is scored 0 automatically, so their total is final.
    assert by_id["release"][-2] == by_id["release"][-1] == "0"
    assert by_id["release"][0] == "Rel"


def test_roster_with_unknown_columns_says_so(course_root, tmp_path):
    from course.reports.nbgrader import import_roster

    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\nsolution,Sol\n")
    with pytest.raises(ValueError, match="unknown columns name"):
        import_roster(roster, course_root)


def test_missing_notebooks_lose_no_written_answer(tmp_path):
    """
    A student who handed in only Parts 1-2's notebooks (or none) but answered every question in hw/answers.py:
    the released notebooks stand in, formgrader has every question with its answer, and the export says why.
    """
    from course.reports.nbgrader import NbgraderCourse, answer_names, export_rows, scratch_course

    course_root = scratch_course(tmp_path / "course")
    course = NbgraderCourse(course_root)
    solution = next(e for e in load_examples() if e.name == "solution")
    folder = build_example(solution, tmp_path / "maria" / ASSIGNMENT)
    handed_in = {"Part1_Backprop.ipynb", "Part2_Optimization.ipynb"}
    for notebook in folder.glob("*.ipynb"):
        if notebook.name not in handed_in:
            notebook.unlink()
            continue
        nb = nbformat.read(notebook, as_version=4)
        nb.cells.append(nbformat.v4.new_markdown_cell("maria's notes"))  # as students hand them in: worked on
        nbformat.write(nb, notebook)
    (folder / "Part3_Convolution.ipynb").write_text('{"cells": [')  # cut short: unreadable
    questions = answer_names(course_root)
    assert len(questions) > 20
    summary = {"parts": {}, "tests": [], "answers": {q: f"maria's answer to {q}" for q in questions}}
    problem, stand_ins = course.autograde("maria", folder, summary)
    assert problem is None
    assert set(stand_ins) == set(course.released) - handed_in and len(stand_ins) == 4
    assert stand_ins["Part4_Architectures.ipynb"] == "was not handed in"
    assert stand_ins["Part3_Convolution.ipynb"].startswith("could not be read: it is not valid JSON")
    assert course.agrees("maria", {"parts": {}}, folder)
    with Gradebook(course.db_url, course_id="cnn-homework") as gb:
        submission = gb.find_submission(ASSIGNMENT, "maria")
        graded = {g.name for nb in submission.notebooks for g in nb.grades}
    assert set(questions) <= graded, sorted(set(questions) - graded)
    shown = nbformat.read(course_root / "autograded" / "maria" / ASSIGNMENT / "Part5_Experiments.ipynb", as_version=4)
    texts = "".join(o.get("data", {}).get("text/plain", "") for c in shown.cells if c.cell_type == "code" for o in c.outputs)
    part5 = [q for q in questions if q.startswith("part5_")]
    assert part5 and all(f"maria's answer to {q}" in texts for q in part5)

    (folder / "Part4_Architectures.ipynb").write_bytes(next((tmp_path / "maria").glob("**/Part1_Backprop.ipynb")).read_bytes())
    assert not course.agrees("maria", {"parts": {}}, folder), "a notebook handed in since replaces its stand-in"

    summary["stand_in_notebooks"] = stand_ins
    (tmp_path / "grades" / "maria").mkdir(parents=True)
    (tmp_path / "grades" / "maria" / "results.json").write_text(json.dumps({"student": "maria", **summary}))
    columns, rows, _ = export_rows(course_root, tmp_path / "grades")
    (row,) = [r for r in rows if r["student"] == "maria"]
    assert "Part4_Architectures.ipynb was not handed in, answers read from hw/answers.py" in row["notes"]
    assert not row["problem"] and set(part5) <= set(row["missing"].split()), "answers wait for a TA, not zero"


def test_feedback_says_which_notebooks_stood_in():
    from course.reports.feedback import render_feedback

    page = render_feedback({"student": "maria", "score": 0, "max_score": 0, "parts": {}, "tests": [], "answers": {"part1_q1": "x"},
                            "stand_in_notebooks": {"Part6_Inside.ipynb": "was not handed in"}})  # fmt: skip
    assert "<code>Part6_Inside.ipynb</code> was not handed in." in page and "Nothing is lost" in page
