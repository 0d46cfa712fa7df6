"""`course grade` on the bundled examples: points, feedback, gradebook."""
import csv
import json

import pytest

from course.cli import example_matches
from course.examples import load_examples

EXAMPLE_NAMES = [e.name for e in load_examples()]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_loses_exactly_its_points(graded_examples, name):
    examples, outcomes, _ = graded_examples
    example, outcome = examples[name], outcomes[name]
    failed = sorted(t["name"] for t in outcome.tests if not t["passed"])
    assert not outcome.harness_errors, outcome.harness_errors
    assert example_matches(example)(outcome), f"{name} failed {failed}, expected {example.expect_failed}"


def test_solution_scores_maximum_and_release_zero(graded_examples):
    _, outcomes, _ = graded_examples
    assert outcomes["solution"].points() == outcomes["solution"].max_points() > 0
    assert outcomes["release"].points() == 0


def test_allclose_cheat_gains_nothing(graded_examples):
    """The cheat loses exactly the points of its TanH bug, as if torch.allclose were untouched."""
    _, outcomes, _ = graded_examples
    lost = {t["name"] for t in outcomes["allclose_cheat"].tests if not t["passed"]}
    assert "test_activation_backward[TanH]" in lost


@pytest.mark.parametrize(
    "name, reason",
    [("syntax_error", "SyntaxError: '(' was never closed (hw/layers.py:"), ("endless_forward", "timed out after")],
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
        assert int(row["total"]) == outcomes[student].points() == int(row["part1"])
        assert int(row["max"]) == outcomes[student].max_points()


def test_feedback_shows_reasons_not_hidden_source(graded_examples, hidden_sources):
    _, outcomes, out = graded_examples
    for student in outcomes:
        html = (out / student / "feedback.html").read_text()
        leaked = [line for line in hidden_sources if line in html]
        assert not leaked, f"{student}'s feedback shows hidden-suite source: {leaked[:3]}"
    html = (out / "leaky_relu_backward" / "feedback.html").read_text()
    assert "LeakyReLU.backward: dx: differs from the expected values" in html
    outcome = outcomes["leaky_relu_backward"]
    assert f"{outcome.points()} / {outcome.max_points()}" in html
