"""The class report: failures per hidden test with their most common reason, and the scores per part."""
import json
import re
import subprocess
import sys

from course import REPO_ROOT
from course.reports.class_report import (HARNESS, bin_edges, clean_summary, part_rows, reason_key, tally_tests,
                                 write_class_report)
from course.records.folder import read_summaries
from course.records.review import apply_review, summary_of
from course.reports.feedback import write_student

TITLES = {"part1": "Part 1: Backpropagation from scratch", "part2": "Part 2: Optimization and training"}
SUITE = [("test_linear", "part1"), ("test_conv", "part1"), ("test_relu", "part1"), ("test_sgd", "part2")]
PROBLEM = "it has no hw/ folder, which holds the code the hidden tests grade (found: notes.txt)"


def student(out, name, failures=None, problem=None, flags=(), harness=()):
    """
    Writes a student's results.json with the grader's own functions: every
    test of SUITE passes except those in ``failures`` (name: message); a
    ``problem`` fails them all, as the grader does for a submission it cannot
    grade; ``flags`` withhold the passed ones, pending a review.
    """
    failures = failures or {}
    tests = []
    for test, part in SUITE:
        message = problem or failures.get(test, "")
        passed = not message
        tests.append({"name": test, "part": part, "description": f"checks {test[5:]}", "max_points": 2,
                      "points": 2 if passed else 0, "passed": passed, "message": message,
                      "withheld": passed and bool(flags), "harness_error": test in harness})  # fmt: skip
    flags = [{"kind": "code", "message": m} for m in flags]
    tests = apply_review(tests, flags, None)
    write_student(out, summary_of(name, tests, ["part1", "part2"], flags, None, problem=problem, part_titles=TITLES))


def rows_of(out):
    return {row["name"]: row for row in tally_tests([clean_summary(s) for s in read_summaries(out)])}


def report(out):
    return write_class_report(out).read_text()


def test_failures_are_counted_per_test_most_failed_first(tmp_path):
    student(tmp_path, "ann", {"test_conv": "wrong padding", "test_sgd": "no momentum"})
    student(tmp_path, "bob", {"test_conv": "wrong padding"})
    student(tmp_path, "cid")
    rows = rows_of(tmp_path)
    assert {name: (row["failed"], row["students"]) for name, row in rows.items()} == {
        "test_linear": (0, 3), "test_conv": (2, 3), "test_relu": (0, 3), "test_sgd": (1, 3)}  # fmt: skip
    html = report(tmp_path)
    assert html.index("test_conv") < html.index("test_sgd"), "the test most students failed comes first"
    assert re.search(r"2 of 3<br>67%", html)
    nobody = html[html.index("Nobody failed") :]
    assert "test_linear" in nobody and "test_relu" in nobody and "test_conv" not in nobody
    assert 'class="most"' in html, "a test two thirds of the class failed is highlighted"
    assert rows["test_conv"]["reasons"][0]["students"] == ["ann", "bob"]
    assert "<summary>who</summary><small>ann, bob</small>" in html, "the students behind a reason are named"


def test_messages_that_differ_only_in_numbers_are_one_reason(tmp_path):
    student(tmp_path, "ann", {"test_conv": "Conv2d on (4, 3, 8, 8): expected 0.123, got 0.456"})
    student(tmp_path, "bob", {"test_conv": "Conv2d on (2, 3, 7): expected -1.5e-3, got 12"})
    student(tmp_path, "cid", {"test_conv": "Conv2d forgot its bias"})
    reasons = rows_of(tmp_path)["test_conv"]["reasons"]
    assert [(r["count"], len(r["messages"])) for r in reasons] == [(2, 2), (1, 1)]
    assert reasons[0]["example"] == "Conv2d on (4, 3, 8, 8): expected 0.123, got 0.456", "a real message, not the key"
    html = report(tmp_path)
    assert "expected 0.123, got 0.456" in html and "Conv2d forgot its bias" in html
    assert "expected -1.5e-3" not in html, "the group shows one example message"
    assert "2 students (2 variants)" in html


def test_reason_key_keeps_words_and_drops_values():
    assert reason_key("largest error 4.8 at index (15, 3)") == reason_key("largest error 0.61 at index (16, 7, 2, 1)")
    assert reason_key("got nan") == reason_key("got 3.0") == reason_key("got True")
    assert reason_key("dx differs") != reason_key("dw differs")
    assert len(reason_key("x" * 10_000)) <= 200


def test_histogram_bins_hold_whole_points_and_full_marks_has_its_own_bar():
    for maximum in (1, 2, 40, 44, 47, 181, 500):
        edges = bin_edges(maximum)
        bins = [sum(1 for low, high in zip(edges, edges[1:]) if low < x < high) for x in range(maximum + 1)]
        assert bins == [1] * (maximum + 1), "every score in exactly one bin, never on an edge"
        assert edges[-1] == maximum + 0.5 and len(edges) - 1 <= 41, "at most 41 bars"


def test_students_who_could_not_be_graded_are_counted_apart(tmp_path):
    student(tmp_path, "ann", {"test_conv": "wrong padding"})
    student(tmp_path, "bob")
    student(tmp_path, "zoe", problem=PROBLEM)
    rows = rows_of(tmp_path)
    assert (rows["test_conv"]["failed"], rows["test_conv"]["students"]) == (1, 2)
    assert rows["test_linear"]["failed"] == 0, "the problem is not a reason of any test"
    summaries = [clean_summary(s) for s in read_summaries(tmp_path)]
    total = part_rows(summaries, TITLES)[-1]
    assert (total["count"], total["mean"], total["low"]) == (2, 7, 6), "zoe has no grade, not a 0"
    html = report(tmp_path)
    assert re.search(r"Could not be graded</td><td[^>]*>1<", html)
    assert html.count(PROBLEM.split("(")[0].strip()) == 1, "said once, next to the student"


def test_withheld_tests_are_not_failures(tmp_path):
    student(tmp_path, "ann", {"test_conv": "wrong padding"})
    student(tmp_path, "eve", {"test_conv": "wrong padding"}, flags=["hw/layers.py:20 replaces torch.allclose"])
    rows = rows_of(tmp_path)
    assert (rows["test_conv"]["failed"], rows["test_conv"]["students"]) == (2, 2), "a real failure still counts"
    linear = rows["test_linear"]
    assert (linear["failed"], linear["withheld"], linear["students"]) == (0, 1, 1), "eve passed it: withheld, not failed"
    summaries = [clean_summary(s) for s in read_summaries(tmp_path)]
    assert part_rows(summaries, TITLES)[-1]["count"] == 1, "a score waiting for review is not in the distribution"
    html = report(tmp_path)
    assert "Flagged for staff review (1 waiting for a decision)" in html
    assert "withheld until the course staff review" not in html, "withholding is not a reason of failure"


def test_harness_errors_are_told_apart(tmp_path):
    error = "internal grader error (KeyError: 'dx'); please tell the course staff"
    student(tmp_path, "ann", {"test_sgd": error}, harness=["test_sgd"])
    student(tmp_path, "bob", {"test_sgd": "no momentum"})
    kinds = {r["kind"] for r in rows_of(tmp_path)["test_sgd"]["reasons"]}
    assert HARNESS in kinds and len(kinds) == 2
    html = report(tmp_path)
    assert "The grader itself failed (harness error) in 1 test" in html
    assert "internal grader error (KeyError: &#39;dx&#39;)" in html


def test_page_is_self_contained_and_escapes_messages(tmp_path):
    student(tmp_path, "ann", {"test_conv": "<script>alert('x')</script> expected 1"})
    student(tmp_path, "bob", {"test_relu": 'see <a href="https://evil.example">this</a>'})
    html = report(tmp_path)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I), "no network asset, no outside link"
    assert html.count('src="data:image/png;base64,') == 3, "a histogram per part and one of the total, embedded"
    assert "Part 1: Backpropagation from scratch" in html


def test_an_empty_folder_says_nobody_was_graded(tmp_path):
    html = report(tmp_path)
    assert "No students were graded" in html
    assert (tmp_path / "class.html").exists()


def test_odd_result_files_never_break_the_page(tmp_path):
    student(tmp_path, "ann", {"test_conv": "wrong padding"})
    odd = {
        "empty": {},
        "a_list": [],
        "no_tests": {"student": "no_tests"},
        "odd_types": {"student": "odd_types", "score": "NaN", "max_score": None, "parts": {"part1": 5, "part2": None},
                      "tests": [{"name": "test_conv"}, "oops", {"part": "part1"}], "flags": "yes", "review": "?",
                      "part_titles": ["x"]},  # fmt: skip
        "nan_score": {"student": "nan_score", "score": float("nan"), "parts": {"part1": {"score": 1e309}},
                      "tests": None},  # fmt: skip
    }
    for name, content in odd.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(content))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    html = report(tmp_path)
    assert "wrong padding" in html
    assert re.search(r"Students graded</td><td[^>]*>4<", html), "ann and the three odd files that name a student"


def test_matplotlib_is_imported_only_to_draw():
    code = "import sys, course.reports.class_report; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_class_report_of_the_examples(graded_examples):
    examples, outcomes, out = graded_examples
    html = write_class_report(out).read_text()
    graded = sum(1 for o in outcomes.values() if not o.problem)
    assert re.search(rf"Students graded</td><td[^>]*>{graded}<", html)
    rows = {row["name"]: row for row in tally_tests([clean_summary(s) for s in read_summaries(out)])}

    def reasons(test):
        return set().union(*(r["messages"] for r in rows[test["name"]]["reasons"]))

    release = outcomes["release"].tests
    assert release and all(t["message"] in reasons(t) for t in release), "the release's failures are counted"
    broken = [t for t in outcomes["syntax_error"].tests if not t["passed"]]
    assert broken and all(t["message"] in reasons(t) for t in broken), "so is the syntax error, a reason of each test"
    assert "SyntaxError" in html
    flagged = [name for name, e in examples.items() if e.flagged]
    assert flagged and all(name in html[html.index("Flagged:") :] for name in flagged)
