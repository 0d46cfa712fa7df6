"""
What the grader writes of a submission is bounded and escaped: the notebooks formgrader shows are sanitised (bleach),
every CSV cell is neutralised as OWASP recommends, and what a student controls is cut to size in results.json, the
feedback and the gradebook.
"""
import base64
import csv
import json
import re
from html.parser import HTMLParser

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from course import ASSIGNMENT
from course.records.folder import bounded, csv_cell, load_reviews, MAX_FLAGS, MAX_MESSAGE_BYTES
from course.records.folder import write_gradebook
from course.records.review import CLEARED, decide, review_status, summary_of
from course.reports.feedback import write_student

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(24)).decode()
ORDINARY = "Ordinary **Markdown**: `x < 0`, $\\frac{a}{b} < 1$, $$\\sum_i x_i$$ and ![a plot](https://example.com/p.png)"


def hostile_cells():
    """A student's cells that aim scripts at the TA's browser, each marked XSS<n>, beside ordinary ones."""
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(\'XSS1\')">'
           "<script>alert('XSS2')</script><rect width=\"5\" height=\"5\" fill=\"red\"/>"
           '<a href="javascript:alert(\'XSS3\')"><text>t</text></a></svg>')  # fmt: skip
    code = new_code_cell("show()", execution_count=3, outputs=[
        new_output("display_data", data={"text/html": "<b>bold</b><script>alert('XSS4')</script>"
                                                      "<img src=x onerror=\"alert('XSS5')\">", "text/plain": "x"}),
        new_output("display_data", data={"application/javascript": "alert('XSS6')", "text/plain": "js"}),
        new_output("display_data", data={"image/svg+xml": svg}),
        new_output("display_data", data={"image/png": PNG}, metadata={"image/png": {"width": "1 onerror=alert('XSS7')"}}),
        new_output("display_data", data={"text/markdown": "<img src=x onerror=\"alert('XSS8')\"> [l](javascript:alert('XSS9'))"}),
        new_output("stream", name="stdout", text="<script>alert('XSS10')</script>"),
    ])  # fmt: skip
    return [
        new_markdown_cell("# My answer\n\nIt is *sparse*.\n\n<script>alert('XSS11')</script>\n\n<img src=x onerror=\"alert('XSS12')\">"
                          " [click](javascript:alert('XSS13')) <a href=\"JaVa&#x53;cript:alert('XSS14')\">y</a>"
                          " and ![pasted](attachment:shot.png)",
                          attachments={"shot.png": {"image/png": PNG}}),  # fmt: skip
        new_markdown_cell(ORDINARY),
        new_markdown_cell("<iframe src=\"javascript:alert('XSS18')\"></iframe><form action=\"javascript:alert('XSS19')\"><button>go</button>"
                          "</form><svg><script>alert('XSS20')</script></svg><style>@import 'XSS21';</style>"
                          "<!--x--!><img src=x onerror=\"alert('XSS22')\">--> <math><mi xlink:href=\"javascript:alert('XSS23')\">m</mi></math>"),  # fmt: skip
        new_raw_cell("<script>alert('XSS15')</script><b>raw</b>", metadata={"raw_mimetype": "text/html"}),
        code,
        new_code_cell("plot()", execution_count=4, outputs=[new_output("display_data", data={"image/png": PNG, "text/plain": "fig"})]),
    ]


class ActiveMarkup(HTMLParser):
    """Every place of a page where a browser would run something: script elements, on* attributes, javascript: URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag in ("script", "style")
        for name, value in attrs:
            if name.startswith("on") or re.sub(r"\s", "", (value or "")).lower().startswith(("javascript:", "vbscript:")):
                self.found.append(f"<{tag} {name}={value!r}>")
            elif tag in ("iframe", "object", "embed", "form", "base", "meta", "link", "math", "svg"):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "XSS" in data:
            self.found.append(f"<script>{data}</script>")


def formgrader_page(nb) -> str:
    """The page formgrader makes of an autograded notebook (its own exporter and template)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"assignment_id": ASSIGNMENT, "notebook_id": "Part1_Backprop", "submission_id": "x", "index": 0,
                 "total": 1, "base_url": "", "student": "mallory", "last_name": "", "first_name": "", "notebook_path": ""}  # fmt: skip
    page, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    return page


def active(page: str) -> list:
    parser = ActiveMarkup()
    parser.feed(page)
    return [f for f in parser.found if "XSS" in f]


def test_hostile_markup_would_run_in_formgrader_unsanitised():
    """The premise: formgrader renders a student's markup as it is."""
    nb = new_notebook(cells=hostile_cells())
    assert len(active(formgrader_page(nb))) >= 8


def test_sanitised_notebook_runs_nothing_in_formgrader_and_keeps_ordinary_content():
    from course.reports.nbgrader import SANITISED_NOTE, sanitize_notebook

    nb = sanitize_notebook(new_notebook(cells=hostile_cells()))
    page = formgrader_page(nb)
    assert active(page) == []
    # The attack is shown as text (the cell as written follows what is left of it), what is ordinary stays as it was.
    assert "&lt;script&gt;alert('XSS11')&lt;/script&gt;" in page and SANITISED_NOTE in nb.cells[0].source
    assert nb.cells[1].source == ORDINARY, "ordinary Markdown, LaTeX and images are kept as the student wrote them"
    assert "It is <em>sparse</em>" in nb.cells[0].source and f"data:image/png;base64,{PNG}" in nb.cells[0].source
    outputs = nb.cells[4].outputs
    assert outputs[0].data["text/html"].startswith("<b>bold</b>")
    assert "application/javascript" not in outputs[1].data and outputs[1].data["text/plain"] == "js"
    assert "<rect" in outputs[2].data["image/svg+xml"] and "script" not in outputs[2].data["image/svg+xml"]
    assert outputs[3].data["image/png"] == PNG and "width" not in outputs[3].metadata.get("image/png", {})
    assert nb.cells[5].outputs[0].data["image/png"] == PNG
    nbformat.validate(nb)


def test_sanitising_keeps_the_course_notebooks_as_they_are():
    from course.reports.nbgrader import sanitize_notebook
    from course import source_notebooks

    for path in source_notebooks():
        nb = nbformat.read(path, as_version=4)
        assert sanitize_notebook(nbformat.read(path, as_version=4)) == nb, path.name


def test_an_oversized_output_is_not_shown(monkeypatch):
    from course.reports import nbgrader as gradebook

    monkeypatch.setattr(gradebook, "MAX_SHOWN_CHARS", 1000)
    cell = new_code_cell("x", outputs=[new_output("display_data", data={"text/html": "<p>x</p>" * 500})])
    nb = gradebook.sanitize_notebook(new_notebook(cells=[cell]))
    assert nb.cells[0].outputs[0].data == {"text/markdown": gradebook._not_shown("An output (text/html)", 4000)}


def test_formgrader_gets_sanitised_notebooks_from_grading(tmp_path):
    """Through nbgrader's autograde: what lands in autograded/ (formgrader's source) runs nothing."""
    from course.authoring.examples import build_example, load_examples
    from course.reports.nbgrader import NbgraderCourse, scratch_course

    course_root = scratch_course(tmp_path / "course")
    example = next(e for e in load_examples() if e.name == "solution")
    folder = build_example(example, tmp_path / "mallory" / ASSIGNMENT)
    notebook = folder / "Part1_Backprop.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells += hostile_cells()
    nbformat.write(nb, notebook)
    summary = {"parts": {}, "tests": [], "answers": {"part1_q1": "<script>alert('XSS16')</script> my answer"}}
    problem, stand_ins = NbgraderCourse(course_root).autograde("mallory", folder, summary)
    assert problem is None and stand_ins == {}
    autograded = course_root / "autograded" / "mallory" / ASSIGNMENT / "Part1_Backprop.ipynb"
    shown = nbformat.read(autograded, as_version=4)
    page = formgrader_page(shown)
    assert active(page) == []
    assert "XSS11" in page and "It is <em>sparse</em>" in page, "the student's cells are there, harmless"
    assert any(c.source == ORDINARY for c in shown.cells)


def test_csv_cells_are_neutralised_as_owasp_recommends():
    for text in ("=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1", " =1", "＝1"):
        assert csv_cell(text) == "'" + text
    for value in (-1, 0, 2.5, "-1", "12", "-0.5", "1,000", "75%", "", "ann", "it has no hw/ folder"):
        assert csv_cell(value) == value, value


def test_gradebook_csv_neutralises_text_and_keeps_scores_numbers(tmp_path):
    tests = [{"name": "t1", "part": "part1", "points": -1, "max_points": 2, "passed": False, "message": "x"}]
    # An id never starts so (course.grading.submissions.student_id), but a results.json is a file: the CSV must not trust it.
    write_student(tmp_path, summary_of('=HYPERLINK("evil","x")', tests, ["part1"], [], None))
    write_student(tmp_path, summary_of("ann", tests, ["part1"], [], None, notebook_problem="@SUM(1+1)*cmd|' /C calc'!A0"))
    write_gradebook(tmp_path)
    with open(tmp_path / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"'=HYPERLINK(\"evil\",\"x\")", "ann"}
    assert rows["ann"]["problem"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert rows["ann"]["part1"] == rows["ann"]["total"] == "-1", "a negative score stays a number"


def test_exports_neutralise_every_text_cell(tmp_path):
    from course.reports.nbgrader import import_roster, scratch_course, write_canvas_export, write_export

    course_root = scratch_course(tmp_path / "course")
    roster = tmp_path / "roster.csv"
    roster.write_text('id,first_name,last_name,email\nann,"=HYPERLINK(""http://evil"",""x"")",-Smith,@evil.example\n')
    import_roster(roster, course_root)
    out = tmp_path / "grades"
    out.mkdir()
    write_export(out / "export.csv", course_root, results=out)
    write_canvas_export(out / "canvas.csv", course_root, results=out, column="=Homework 2")
    with open(out / "export.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["first_name"] == "'=HYPERLINK(\"http://evil\",\"x\")" and row["last_name"] == "'-Smith"
    assert row["email"] == "'@evil.example" and row["total"] == "0"
    with open(out / "canvas.csv", newline="") as f:
        header, points, student = list(csv.reader(f))
    assert header[-2:] == ["'=Homework 2", "'=Homework 2 (autograded)"] and points[0] == "Points Possible"
    assert student[0] == "'-Smith, =HYPERLINK(\"http://evil\",\"x\")" and student[3] == "'@evil.example"


def test_what_a_student_controls_is_bounded_in_results_feedback_and_gradebook(tmp_path):
    huge = "<b>x</b>é" * 10_000
    flags = [{"kind": "code", "message": f"hw/layers.py:{i}: {huge}"} for i in range(100)]
    tests = [{"name": f"t{i}", "part": "part1", "points": 0, "max_points": 1, "passed": False, "message": huge} for i in range(3)]
    left_out = [f"hw/{'n' * 300}{i}.py" for i in range(1000)]
    summary = summary_of("ann", tests, ["part1"], flags, None, problem=huge, left_out=left_out,
                         answers={"part1_q1": "a" * 50_000, "part1_q2": f"*Not answered: {'<i>y</i>' * 2000}*"})  # fmt: skip
    summary["notebook_problem"] = huge  # as grading adds it after the suite
    write_student(tmp_path, summary)
    saved = json.loads((tmp_path / "ann" / "results.json").read_text())
    texts = [saved["problem"], saved["notebook_problem"], *(t["message"] for t in saved["tests"]),
             *(f["message"] for f in saved["flags"])]  # fmt: skip
    assert all(len(t.encode()) <= MAX_MESSAGE_BYTES for t in texts)
    assert saved["problem"].endswith("characters, cut]"), "cut text says so"
    assert len(saved["flags"]) == MAX_FLAGS and "81 more findings" in saved["flags"][-1]["message"]
    assert len(saved["left_out"]) == 50 and saved["left_out_count"] == 1000 and max(map(len, saved["left_out"])) <= 200
    assert len(saved["answers"]["part1_q1"]) <= 20_000
    feedback = (tmp_path / "ann" / "feedback.html").read_text()
    assert len(feedback) < 200_000 and "1000 other files" in feedback and "and 980 more" in feedback
    assert "<b>x</b>" not in feedback, "and escaped"
    from course.reports.feedback import missing_answers

    assert len(missing_answers(saved)["part1_q2"].encode()) <= MAX_MESSAGE_BYTES
    write_gradebook(tmp_path)
    with open(tmp_path / "gradebook.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert all(len(cell.encode()) <= MAX_MESSAGE_BYTES + 1 for cell in row.values())
    # Bounding keeps a review decision: it is made on the flags as results.json keeps them.
    assert review_status(flags, None) == {"decision": "pending"}
    decide(tmp_path, "ann", CLEARED)
    assert review_status(flags, load_reviews(tmp_path)["ann"])["decision"] == CLEARED


@pytest.mark.parametrize("text", ["", "short", "é" * 5000, "x" * 2048, "x" * 2049])
def test_bounded_is_at_most_2_kb_and_idempotent(text):
    cut = bounded(text)
    assert len(cut.encode()) <= MAX_MESSAGE_BYTES and bounded(cut) == cut
    assert cut == text or cut.endswith("characters, cut]")


def test_a_notebook_too_large_to_show_is_named_not_read(tmp_path, monkeypatch):
    from course.reports import nbgrader as gradebook

    monkeypatch.setattr(gradebook, "MAX_NOTEBOOK_BYTES", 1000)
    nbformat.write(new_notebook(cells=[new_markdown_cell("x" * 2000)]), tmp_path / "Part1_Backprop.ipynb")
    nbformat.write(new_notebook(cells=[new_markdown_cell("x")]), tmp_path / "Part2_Optimization.ipynb")
    assert gradebook.unreadable_notebooks(tmp_path) == {"Part1_Backprop.ipynb": "it is larger than 0 MB (clear the "
                                                        "largest outputs, save it and hand it in again)"}  # fmt: skip
