"""The feedback page: a summary first, each reason once, a problem said once."""
from course.reports.feedback import failure_groups, render_feedback


def a_test(name, part="part1", passed=False, message="", points=None, max_points=2):
    return {"name": name, "part": part, "description": f"check {name}", "passed": passed, "message": message,
            "points": max_points if passed else 0 if points is None else points, "max_points": max_points}  # fmt: skip


SIZE = "RuntimeError: The size of tensor a ({}) must match the size of tensor b (3) (hw/layers.py:311, in Linear.backward)"


def results(tests, **extra):
    parts = sorted({t["part"] for t in tests})
    return {"student": "ann", "score": sum(t["points"] for t in tests), "max_score": sum(t["max_points"] for t in tests),
            "parts": {p: {"score": sum(t["points"] for t in tests if t["part"] == p),
                          "max_score": sum(t["max_points"] for t in tests if t["part"] == p)} for p in parts},
            "part_titles": {"part1": "Part 1: Backpropagation from scratch"}, "flags": [], "review": None,
            "tests": tests, **extra}  # fmt: skip


def test_messages_differing_only_in_numbers_are_one_reason():
    tests = [a_test("a", message=SIZE.format(5)), a_test("b", message=SIZE.format(64)), a_test("c", message="dx differs"),
             a_test("d", passed=True), a_test("e", message=SIZE.format(5), max_points=4)]  # fmt: skip
    groups = failure_groups(tests)
    assert [(g["message"], g["lost"], g["count"]) for g in groups] == [(SIZE.format(5), 8, 3), ("dx differs", 2, 1)]
    assert groups[0]["descriptions"] == ["check a", "check b", "check e"]


def test_summary_comes_first_with_part_titles():
    html = render_feedback(results([a_test("a", message="dx differs"), a_test("b", passed=True)]))
    assert html.index("Part 1: Backpropagation from scratch") < html.index("What to fix") < html.index("Every check")
    assert html.count("dx differs") == 2, "once in the summary, once next to its check"
    assert 'name="viewport"' in html


def test_a_problem_is_said_once():
    problem = "it has no hw/ folder, which holds the code the hidden tests grade (found: Part1_Backprop.ipynb)"
    tests = [a_test(str(i), message=problem) for i in range(60)]
    html = render_feedback(results(tests, problem=problem))
    assert html.count("it has no hw/ folder") == 1 and "What to fix" not in html


def test_answers_that_did_not_reach_the_staff_are_named():
    answers = {"part1_q1": "The Jacobian is *sparse*.", "part1_q2": "*Not answered: `part1_q2()` still raises NotImplementedError.*"}
    html = render_feedback(results([a_test("a", passed=True)], answers=answers))
    assert "1 of 2 did not reach them" in html
    assert "<code>part1_q2</code>: Not answered: <code>part1_q2()</code> still raises NotImplementedError." in html
    assert "part1_q1</code>" not in html, "an answer in italics is still an answer"


def test_all_answers_read():
    html = render_feedback(results([a_test("a", passed=True)], answers={"part1_q1": "Yes."}))
    assert "Written answers are graded separately by the course staff." in html and "did not reach" not in html


def test_hidden_results_in_the_notebook_say_a_problem_once():
    from course.reports.nbgrader import hidden_results_markdown

    problem = "it has no hw/ folder, which holds the code the hidden tests grade (found: nothing)"
    text = hidden_results_markdown(results([a_test(str(i), message=problem) for i in range(5)], problem=problem), "part1")
    assert text.count("it has no hw/ folder") == 1


def test_feedback_lists_what_the_grader_skipped():
    from course.reports.feedback import render_feedback

    page = render_feedback({"student": "eve", "score": 0, "max_score": 0, "parts": {}, "tests": [],
                            "skipped": [".venv/", "data/"]})  # fmt: skip
    assert "it skipped <code>.venv/</code>, <code>data/</code>." in page and "Nothing was lost" in page
