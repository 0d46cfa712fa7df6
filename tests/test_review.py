"""Staff review of flagged submissions: points withheld, then cleared or upheld with `course review`."""
import csv
import json
import subprocess
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook

from course import ASSIGNMENT, REPO_ROOT
from course.authoring.examples import build_example, load_examples
from course.grading.run import grade
from course.grading.suite import grading_settings

# Flagged by the policy, harmless when it runs: the points are withheld only because of the flag.
FLAGGED_LINE = "DEBUG = '{0.real}'.format(1)  # a student's leftover debugging\n"


def course(*args):
    return subprocess.run([sys.executable, "-m", "course", *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True)


def gradebook_rows(out):
    with open(out / "gradebook.csv") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def hidden_scores(course_root, student="carol"):
    """The hidden-suite points per part in nbgrader's gradebook, as formgrader shows them."""
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        return {g.name.removeprefix("hidden_tests_"): g.score for nb in submission.notebooks for g in nb.grades
                if g.name.startswith("hidden_tests_")}  # fmt: skip


def hidden_cells_shown(course_root, student="carol"):
    """The first line of the hidden-suite result in each hidden-tests cell of the autograded notebooks."""
    shown = {}
    for path in (course_root / "autograded" / student / ASSIGNMENT).glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            if grade_id.startswith("hidden_tests_"):
                shown[grade_id.removeprefix("hidden_tests_")] = cell.source.split("\n---\n")[1].strip().splitlines()[0]
    return shown


def results(out, student="carol"):
    return json.loads((out / student / "results.json").read_text())


@pytest.fixture(scope="module")
def flagged(tmp_path_factory, course_root):
    """A correct solution with one line the tamper scan flags, graded once."""
    root = tmp_path_factory.mktemp("review")
    example = next(e for e in load_examples() if e.name == "solution")
    folder = build_example(example, root / "submitted" / "carol" / "hw2")
    optimizers = folder / "hw" / "optimizers.py"
    optimizers.write_text(FLAGGED_LINE + optimizers.read_text())
    settings = grading_settings(progress=False)
    out = root / "grades"
    grade([root / "submitted"], out, settings=settings, progress=False, course_root=course_root)
    return root, out, settings, course_root


def test_flagged_code_has_its_points_withheld(flagged):
    _, out, _, _ = flagged
    r = results(out)
    (flag,) = r["flags"]
    assert {k: flag[k] for k in ("kind", "message")} == {"kind": "code", "message": "hw/optimizers.py:1 formats a string with a field that reads an attribute or item"}
    assert len(flag["code"]) == 16, "the digest of the code it was found in: a decision holds for that code"
    assert r["review"] == {"decision": "pending"}
    assert r["score"] == 0 < r["max_score"]
    assert all(t["withheld"] and not t["passed"] for t in r["tests"])
    assert "withheld until the course staff review your code: hw/optimizers.py:1" in r["tests"][0]["message"]
    feedback = (out / "carol" / "feedback.html").read_text()
    assert "waiting for a review by the course staff" in feedback and "hw/optimizers.py:1" in feedback
    assert "withheld pending this review (not lost)" in feedback and "What to fix" not in feedback
    assert gradebook_rows(out)["carol"]["review"].startswith("pending: hw/optimizers.py:1")
    listing = course("review", "--out", out)
    assert listing.returncode == 0 and "carol: pending" in listing.stdout and "formats a string" in listing.stdout


def test_clear_then_uphold_then_regrade(flagged):
    root, out, settings, course_root = flagged
    scores = hidden_scores(course_root)
    assert len(scores) >= 3 and set(scores.values()) == {0}, scores
    cleared = course("review", "carol", "--clear", "--note", "debugging left-over", "--out", out, "--course-root", course_root)
    assert cleared.returncode == 0, cleared.stderr
    r = results(out)
    assert r["score"] == r["max_score"] and r["review"]["decision"] == "cleared"
    assert hidden_scores(course_root) == {p: r["parts"][p]["score"] for p in r["parts"]}, "formgrader sees the decision"
    shown = hidden_cells_shown(course_root)
    assert shown == {p: f"**Hidden tests: {r['parts'][p]['score']} / {r['parts'][p]['max_score']} points.**" for p in r["parts"]}
    assert all(t["passed"] for t in r["tests"])
    assert gradebook_rows(out)["carol"]["total"] == str(r["max_score"])
    assert json.loads((out / "reviews.json").read_text())["carol"]["note"] == "debugging left-over"

    # Grading the same code again keeps the decision.
    grade([root / "submitted"], out, settings=settings, progress=False, course_root=course_root)
    assert results(out)["score"] == r["max_score"]

    upheld = course("review", "carol", "--uphold", "--out", out, "--course-root", course_root)
    assert upheld.returncode == 0, upheld.stderr
    assert results(out)["score"] == 0 and results(out)["review"]["decision"] == "upheld"
    assert "stay withheld" in (out / "carol" / "feedback.html").read_text()

    # A new flag needs a new decision.
    layers = root / "submitted" / "carol" / "hw2" / "hw" / "layers.py"
    layers.write_text(layers.read_text() + "\nimport ctypes\n")
    grade([root / "submitted"], out, settings=settings, progress=False, course_root=course_root)
    assert results(out)["review"] == {"decision": "pending"} and len(results(out)["flags"]) == 2


def test_review_without_flags_or_decision_says_so(flagged, tmp_path):
    _, out, _, course_root = flagged
    proc = course("review", "nobody", "--clear", "--out", out, "--course-root", course_root)
    assert proc.returncode == 2 and "no results for 'nobody'" in proc.stderr
    proc = course("review", "carol", "--out", out)
    assert proc.returncode == 2 and "--clear (give back the points) or --uphold" in proc.stderr
    proc = course("review", "carol", "--clear", "--uphold", "--out", out)
    assert proc.returncode == 2 and "either --clear or --uphold, not both" in proc.stderr
    assert "No flagged submissions" in course("review", "--out", tmp_path).stdout


def test_a_decision_holds_for_the_code_it_was_made_on(tmp_path):
    """Two submissions flagged with the same words (the same line) are not the same code: clearing one clears only it."""
    from course.records.folder import load_reviews
    from course.records.review import CLEARED, decide, review_status, summary_of
    from course.reports.feedback import write_student

    message = "hw/layers.py:31 calls vars() on something other than self"
    innocent = [{"kind": "code", "message": message, "code": "a" * 16}]
    tests = [{"name": "test_x", "part": "part1", "points": 0, "max_points": 1, "passed": False, "message": "",
              "withheld": True}]  # fmt: skip
    write_student(tmp_path, summary_of("ann", tests, ["part1"], innocent, None))
    decide(tmp_path, "ann", CLEARED)
    review = load_reviews(tmp_path)["ann"]
    assert review_status(innocent, review)["decision"] == CLEARED
    other_code = [dict(innocent[0], code="b" * 16)]
    assert review_status(other_code, review) == {"decision": "pending"}
