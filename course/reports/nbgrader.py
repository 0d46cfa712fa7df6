"""
nbgrader's side of grading: one gradebook for the hidden suite and the written answers.

Each notebook ``PartN_*.ipynb`` ends with a locked *hidden-tests* task cell
(grade id ``hidden_tests_partN``) whose points are that part's points in the
hidden suite. ``course grade`` autogrades a student's notebooks with nbgrader
and then sets the score of those cells to the points the hidden suite gave,
so formgrader, nbgrader's exports and its feedback show hidden + manual points
together. Graded by nbgrader alone (without ``course grade``), those cells wait
for a score like any manual task: they never give points by themselves.
"""
import base64
import binascii
import copy
import csv
import datetime
import hashlib
import html
import json
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import bleach
import bleach.html5lib_shim
import bleach.sanitizer
import nbformat
from bleach.css_sanitizer import ALLOWED_SVG_PROPERTIES, CSSSanitizer
from nbgrader.api import (Assignment, BaseCell, Grade, Gradebook, MissingEntry, SubmittedAssignment,
                          SubmittedNotebook)
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from traitlets.config.loader import PyFileConfigLoader

from course import ASSIGNMENT, REPO_ROOT, source_notebooks
from course.records.folder import describe_duration, late_note
from course.records.folder import bounded, csv_writer

HIDDEN_CELL = re.compile(r"hidden_tests_(part\d+)")
ANSWER_CELL = re.compile(r"display_answer\(\s*answers\.(\w+)\s*\)")


def hidden_cells(root: Path = REPO_ROOT):
    """{part: (notebook name without .ipynb, points)} of the hidden-tests cells in the source notebooks."""
    cells = {}
    for path in source_notebooks(root):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            match = HIDDEN_CELL.fullmatch(meta.get("grade_id", ""))
            if match:
                cells[match.group(1)] = (path.stem, meta.get("points", 0))
    return cells


def part_titles(root: Path = REPO_ROOT):
    """{part: the title of its notebook}, e.g. {"part1": "Part 1: Backpropagation from scratch"}."""
    titles = {}
    for part, (notebook, _) in hidden_cells(root).items():
        cells = nbformat.read(Path(root) / "source" / ASSIGNMENT / f"{notebook}.ipynb", as_version=4).cells
        headings = [line for c in cells if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("# ")]
        titles[part] = headings[0][2:].strip() if headings else part
    return titles


def hidden_cells_problem(catalog, root: Path = REPO_ROOT):
    """Why the hidden-tests cells do not match the hidden suite's points per part, or None."""
    suite = {}
    for test in catalog:
        suite[test["part"]] = suite.get(test["part"], 0) + test["max_points"]
    cells = hidden_cells(root)
    wrong = [
        f"{part}: the suite has {points} points, "
        + (f"the cell hidden_tests_{part} in {cells[part][0]}.ipynb says {cells[part][1]}" if part in cells else f"no notebook has a cell hidden_tests_{part}")
        for part, points in sorted(suite.items())
        if cells.get(part, (None, None))[1] != points
    ]  # fmt: skip
    if not wrong:
        return None
    return "the hidden-tests cells of the source notebooks do not match the hidden suite (" + "; ".join(wrong) + ")"


def answer_names(root: Path = REPO_ROOT):
    """The answer functions the source notebooks display, e.g. ["part1_q1", "part1_q2"]."""
    names = []
    for path in source_notebooks(root):
        for cell in nbformat.read(path, as_version=4).cells:
            names += ANSWER_CELL.findall(cell.source) if cell.cell_type == "code" else []
    return names


MAX_NOTEBOOK_BYTES = 50 << 20  # an executed notebook of this homework holds a few MB of figures


def unreadable_notebooks(folder: Path) -> dict:
    """The notebooks of a submission that nbformat cannot read, each with why in words: {name: reason}."""
    reasons = {path.name: unreadable_notebook(path) for path in sorted(folder.glob("*.ipynb"))}
    return {name: reason for name, reason in reasons.items() if reason}


def unreadable_notebook(path: Path) -> str | None:
    """Why nbformat cannot read the notebook at ``path``, in words, or None."""
    if not path.is_file():
        return "it is a folder, not a notebook file"
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return f"it is larger than {MAX_NOTEBOOK_BYTES >> 20} MB (clear the largest outputs, save it and hand it in again)"
    try:
        json.loads(path.read_bytes())
    except ValueError as exc:  # nbformat's own message quotes the file's first bytes as a Python string
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        return f"it is not valid JSON ({getattr(exc, 'msg', 'not UTF-8 text')}{where}; was it cut short?)"
    except (OSError, RecursionError) as exc:  # unreadable, or nested deeper than a parser will follow
        return f"it cannot be read ({type(exc).__name__})"
    try:
        nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises validation and reader errors of many kinds
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"it is not a Jupyter notebook ({reason[:200]})"
    return None


# -- What formgrader shows of a student's notebook ------------------------------------------------------------
#
# formgrader renders the autograded notebooks in the TA's browser, in the page that holds their Jupyter session:
# a script there could do anything they can. It renders Markdown cells with nbconvert's markdown2html, which passes
# raw HTML and javascript: links through, and HTML outputs as they are. So every notebook written into autograded/
# is sanitised first, by bleach (the sanitiser nbconvert itself uses) with the allowlists below. A Markdown cell is
# kept as written when its rendering is already what bleach lets through (ordinary Markdown, LaTeX, images);
# otherwise it becomes the sanitised rendering, and that is checked again the same way.

HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
HTML_TAGS = frozenset(bleach.ALLOWED_TAGS) | HEADINGS | {
    "p", "div", "span", "pre", "br", "hr", "img", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
    "sup", "sub", "del", "ins", "s", "u", "small", "mark", "kbd", "samp", "var", "q", "cite", "details", "summary",
    "dl", "dt", "dd", "figure", "figcaption",
}  # fmt: skip
# Classes that nbconvert's Markdown and pygments' highlighting write: never one of formgrader's own (tabbable, score).
HTML_CLASSES = re.compile(r"[a-z][a-z0-9]{0,2}|anchor-link|highlight|sanitized|dataframe|jp-Mermaid|mermaid")
DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml);base64,[a-z0-9+/=\s]*")
SVG_TAGS = {
    "svg", "g", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "tspan", "defs", "clipPath",
    "use", "title", "desc", "linearGradient", "radialGradient", "stop", "pattern", "mask", "marker", "symbol",
}  # fmt: skip
SVG_ATTRIBUTES = {
    "id", "class", "style", "d", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "dx", "dy", "width",
    "height", "viewBox", "transform", "clip-path", "clipPathUnits", "mask", "fill", "fill-opacity", "fill-rule",
    "stroke", "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-dasharray",
    "stroke-dashoffset", "stroke-miterlimit", "opacity", "points", "offset", "stop-color", "stop-opacity",
    "gradientUnits", "gradientTransform", "patternUnits", "patternTransform", "preserveAspectRatio", "font-size",
    "font-family", "font-weight", "font-style", "text-anchor", "dominant-baseline", "xmlns", "version", "href",
    "markerWidth", "markerHeight", "refX", "refY", "orient", "markerUnits", "visibility", "display",
}  # fmt: skip
SHOWN_OUTPUTS = {"text/plain", "text/latex", "application/json"}  # nbconvert's templates escape these
IMAGE_OUTPUTS = {"image/png", "image/jpeg", "image/gif"}  # base64 data, checked
# bleach reads about 50 KB a second: an HTML, SVG or Markdown output or a Markdown cell larger than MAX_SHOWN_CHARS,
# or beyond MAX_SANITIZED_CHARS in one notebook, is not shown (a note says so), so no notebook holds grading up long.
MAX_SHOWN_CHARS = 200_000
MAX_SANITIZED_CHARS = 1_000_000
_ids = re.compile(r"[A-Za-z0-9_-]+")


def _uri(value: str) -> str:
    """A URL as bleach reads it before it checks its protocol (entities decoded, invisible characters gone)."""
    value = bleach.html5lib_shim.convert_entities(value)
    return bleach.sanitizer.INVISIBLE_CHARACTERS_RE.sub("", value).strip().lower()


def _html_attribute(tag: str, name: str, value: str) -> bool:
    if name == "class":
        return all(HTML_CLASSES.fullmatch(c) for c in value.split())
    if name in ("title", "style"):
        return True
    if name == "id":
        return tag in HEADINGS  # nbconvert's heading anchors; no other id, which formgrader's own elements have
    if tag == "a":
        return name == "href" and not _uri(value).startswith("data:")
    if tag == "img":
        if name == "src":
            return not _uri(value).startswith("data:") or bool(DATA_IMAGE.fullmatch(_uri(value)))
        return name in ("alt", "width", "height")
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan", "align")
    return tag == "ol" and name == "start"


def _svg_attribute(tag: str, name: str, value: str) -> bool:
    return name in SVG_ATTRIBUTES and (name != "href" or tag == "use")


_html_cleaner = bleach.Cleaner(tags=HTML_TAGS, attributes=_html_attribute, protocols={"http", "https", "mailto", "data"},
                               strip_comments=True, css_sanitizer=CSSSanitizer())  # fmt: skip
_svg_cleaner = bleach.Cleaner(tags=SVG_TAGS, attributes=_svg_attribute, protocols=set(), strip=True, strip_comments=True,
                              css_sanitizer=CSSSanitizer(allowed_svg_properties=ALLOWED_SVG_PROPERTIES))  # fmt: skip
_exporter = None


def clean_html(text: str) -> str:
    """HTML without scripts, event handlers, frames, forms or foreign URLs (bleach, with HTML_TAGS)."""
    return _html_cleaner.clean(text)


def clean_svg(text: str) -> str:
    """An SVG image without scripts, event handlers, foreign objects or links out (bleach, with SVG_TAGS)."""
    return _svg_cleaner.clean(text)


def markdown_html(source: str, attachments=None) -> str:
    """The HTML formgrader makes of a Markdown cell: nbconvert's own markdown2html, with the cell's attachments."""
    global _exporter
    if _exporter is None:
        from nbconvert.exporters import HTMLExporter

        _exporter = HTMLExporter()
    return _exporter.markdown2html({"cell": {"attachments": attachments or {}}, "resources": {}}, source)


def _renders_clean(source: str, attachments=None) -> bool:
    """Whether formgrader's rendering of this Markdown is exactly what bleach lets through."""
    try:
        rendered = markdown_html(source, attachments)
    except Exception:  # nbconvert refuses it (a missing attachment): formgrader would fail on the page
        return False
    # Markdown's images end in " />", which bleach writes as ">": the same element to a browser (a void element's
    # slash means nothing in HTML, and bleach lets no SVG or MathML through, where it would).
    return clean_html(rendered) == rendered.replace(" />", ">")


def _as_html_block(cleaned: str) -> str:
    """Sanitised HTML as Markdown that renders to that HTML: one HTML block, without the blank lines that end one."""
    lines = [line if line.strip() else "&#10;" for line in cleaned.strip("\n").split("\n")]
    return '<div class="sanitized">' + "\n".join(lines) + "</div>"


def safe_markdown(source: str, attachments=None) -> str:
    """
    Markdown that formgrader shows without scripts or event handlers: the
    source itself when its rendering is already clean, else its sanitised
    rendering, else the source shown as text.
    """
    if len(source) > MAX_SHOWN_CHARS:
        return _not_shown("Markdown", len(source))
    if _renders_clean(source, attachments):
        return source
    # What was taken out is worth seeing (it may be an attack): the cell as written follows, as text.
    as_written = f"<details><summary>{SANITISED_NOTE}</summary><pre>{html.escape(source)}</pre></details>"
    try:
        candidate = _as_html_block(clean_html(markdown_html(source, attachments)) + as_written)
    except Exception:  # nbconvert refuses it (a missing attachment)
        candidate = None
    if candidate and _renders_clean(candidate, attachments):
        return candidate
    candidate = _as_html_block("<pre>" + html.escape(source) + "</pre>")  # the source, as text
    if _renders_clean(candidate):
        return candidate
    return "*This cell cannot be shown safely here; the student's own notebook has it.*"


SANITISED_NOTE = "Markup that could run in this page was taken out; the cell as the student wrote it:"


def _not_shown(what: str, size: int) -> str:
    return f"*[{what} of {size:,} characters: not shown here, the student's own notebook has it]*"


class _Budget:
    """What is left of MAX_SANITIZED_CHARS in one notebook."""

    def __init__(self):
        self.left = MAX_SANITIZED_CHARS

    def take(self, text: str) -> bool:
        if len(text) > min(self.left, MAX_SHOWN_CHARS):
            return False
        self.left -= len(text)
        return True


def _base64(value) -> bool:
    try:
        base64.b64decode(re.sub(r"\s+", "", value), validate=True)
        return isinstance(value, str)
    except (binascii.Error, TypeError, ValueError):
        return False


def _safe_attachments(attachments) -> dict:
    """Images only (SVG sanitised), as base64; anything else a student attached is left out."""
    safe = {}
    for name, bundle in (attachments or {}).items():
        kept = {}
        for mime, data in (bundle or {}).items() if isinstance(bundle, dict) else ():
            if mime in IMAGE_OUTPUTS and _base64(data):
                kept[mime] = data
            elif mime == "image/svg+xml" and _base64(data):
                svg = base64.b64decode(re.sub(r"\s+", "", data)).decode("utf-8", "replace")
                kept[mime] = base64.b64encode(clean_svg(svg).encode()).decode()
        if kept and isinstance(name, str):
            safe[name] = kept
    return safe


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value if isinstance(value, str) else str(value)


def _safe_output(output, budget: _Budget):
    """A code cell's output as formgrader may show it, or None to leave it out."""
    kind = output.get("output_type")
    if kind == "stream":  # nbconvert escapes the text
        return nbformat.v4.new_output("stream", name=output.get("name") if output.get("name") in ("stdout", "stderr")
                                      else "stdout", text=_text(output.get("text", "")))  # fmt: skip
    if kind == "error":
        return nbformat.v4.new_output("error", ename=_text(output.get("ename", "")), evalue=_text(output.get("evalue", "")),
                                      traceback=[_text(line) for line in output.get("traceback", [])])  # fmt: skip
    if kind not in ("display_data", "execute_result"):
        return None
    data, metadata = {}, {}
    for mime, value in (output.get("data") or {}).items():
        text = value if mime == "application/json" else _text(value)
        if mime in SHOWN_OUTPUTS:
            data[mime] = text
        elif mime in IMAGE_OUTPUTS and _base64(text):
            data[mime] = text
            size = (output.get("metadata") or {}).get(mime) or {}
            # width= and height= go into the page unquoted: numbers only.
            kept = {k: size[k] for k in ("width", "height") if isinstance(size, dict) and isinstance(size.get(k), (int, float))
                    and not isinstance(size.get(k), bool)}  # fmt: skip
            if kept:
                metadata[mime] = kept
        elif mime in ("text/html", "image/svg+xml", "text/markdown") and not budget.take(text):
            data["text/markdown"] = _not_shown(f"An output ({mime})", len(text))
        elif mime == "text/html":
            data[mime] = clean_html(text)
        elif mime == "image/svg+xml":
            data[mime] = clean_svg(text)
        elif mime == "text/markdown":
            data[mime] = safe_markdown(text)
        # Anything else (JavaScript, widgets, other front ends' data) is left out, as nbconvert's SanitizeHTML does.
    if kind == "execute_result":  # the count goes into the page as it is: a number or nothing
        return nbformat.v4.new_output(kind, data=data, metadata=metadata, execution_count=_count(output))
    return nbformat.v4.new_output(kind, data=data, metadata=metadata)


def _count(node):
    count = node.get("execution_count")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def sanitize_notebook(nb):
    """
    The notebook, in place, as formgrader may show it to a TA: Markdown and
    raw cells, HTML, SVG and Markdown outputs sanitised by bleach; JavaScript,
    widgets and unknown outputs left out; every field nbconvert's templates
    put into the page unescaped (execution counts, image sizes, nbgrader's
    grade ids) made plain. Ordinary Markdown, LaTeX and images stay as they are.
    """
    nb.metadata.pop("widgets", None)  # widget state: rendered by a script in the page
    budget = _Budget()
    for cell in nb.cells:
        if "id" in cell and not (isinstance(cell.id, str) and _ids.fullmatch(cell.id)):
            cell["id"] = nbformat.v4.new_code_cell().id  # nbformat 4.5's cell ids: letters, digits, '-' and '_'
        grader = cell.get("metadata", {}).get("nbgrader")
        if isinstance(grader, dict) and not _ids.fullmatch(str(grader.get("grade_id", "x"))):
            del cell.metadata["nbgrader"]  # formgrader writes the grade id into its page as it is
        if isinstance(cell.get("metadata", {}).get("tags"), list):
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if isinstance(t, str) and _ids.fullmatch(t)]
        if cell.cell_type == "markdown":
            if "attachments" in cell:
                cell.attachments = _safe_attachments(cell.attachments)
            source = _text(cell.source)
            if budget.take(source):
                cell.source = safe_markdown(source, cell.get("attachments"))
            else:
                cell.source = _not_shown("A Markdown cell", len(source))
        elif cell.cell_type == "raw":  # nbconvert's HTML puts a raw cell into the page as it is
            source = _text(cell.source)
            cell.source = clean_html(source) if budget.take(source) else ""
        elif cell.cell_type == "code":
            cell.execution_count = _count(cell)
            cell.outputs = [o for o in (_safe_output(o, budget) for o in cell.get("outputs", [])) if o is not None]
    return nb


def sanitize_notebooks(folder: Path):
    """Every notebook in ``folder`` sanitised for formgrader (sanitize_notebook); one that cannot be read is removed."""
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # nbgrader wrote it, so this is rare; nothing unsanitised stays for formgrader
            path.unlink()
            continue
        _rewrite(path, nb)


def _rewrite(path: Path, nb):
    """Writes an autograded notebook, sanitised: every notebook written for formgrader passes here."""
    sanitize_notebook(nb)
    path.chmod(0o644)  # nbgrader leaves autograded notebooks read-only
    nbformat.write(nb, path)
    path.chmod(0o444)


def show_written_answers(notebook_folder: Path, answers: dict):
    """
    Writes the text of each answer in the submission's hw/answers.py (read
    by the sandboxed worker during the hidden suite) into the output of the
    autograded notebook cell that displays it, so formgrader shows the
    submitted answers whether or not the student ran that cell.
    """
    for path in sorted(notebook_folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            match = ANSWER_CELL.search(cell.source) if cell.cell_type == "code" else None
            if match:
                text = answers.get(match.group(1), "*This answer was not read: see the grading log.*")
                # The student's text is Markdown for a person to read, never markup to run in the
                # grader's browser: HTML is escaped (a <script> shows as text) and Markdown kept.
                shown = html.escape(text, quote=False)
                cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": shown, "text/plain": text})]
        _rewrite(path, nb)


def hidden_results_markdown(summary: dict, part: str) -> str:
    """The hidden suite's result for one part, as Markdown for the autograded notebook (and nbgrader's feedback)."""
    from course.reports.feedback import failure_groups

    score = summary["parts"].get(part, {})
    lines = [f"**Hidden tests: {score.get('score', 0)} / {score.get('max_score', 0)} points.**"]
    if summary.get("problem"):  # the one reason every test failed: said once
        lines.append(f"Your submission could not be graded: {html.escape(summary['problem'], quote=False)}")
        return "\n".join(lines)
    for group in failure_groups([t for t in summary["tests"] if t["part"] == part]):
        lines.append(f"- {html.escape(group['message'], quote=False)} ({group['lost']} points: "
                     f"{', '.join(html.escape(d, quote=False) for d in group['descriptions'])})")  # fmt: skip
    return "\n".join(lines)


def show_hidden_results(notebook_folder: Path, summary: dict):
    """Appends each part's hidden-suite result to its hidden-tests cell of the autograded notebook."""
    for path in sorted(notebook_folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        changed = False
        for cell in nb.cells:
            match = HIDDEN_CELL.fullmatch(cell.metadata.get("nbgrader", {}).get("grade_id", ""))
            if match:
                cell.source = cell.source.split("\n\n---\n")[0] + "\n\n---\n" + hidden_results_markdown(summary, match.group(1))
                changed = True
        if changed:
            _rewrite(path, nb)


class NbgraderCourse:
    """
    The nbgrader course that receives the graded notebooks: its submitted/ and
    autograded/ trees and gradebook.db, driven through nbgrader's Python API
    in this process (a command per student would spend seconds importing
    nbgrader each time). Not thread-safe: call it from one thread.
    """

    def __init__(self, root: Path = REPO_ROOT, execute: bool = False):
        self.root = Path(root)
        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        config.CourseDirectory.root = str(self.root)
        if not execute:
            config.Execute.enabled = False
            config.ClearOutput.enabled = False
        self.config = config
        if "root" in config.Exchange:  # the course's own exchange (nbgrader_config.py) exists before nbgrader looks
            Path(config.Exchange.root).mkdir(parents=True, exist_ok=True)
        self.coursedir = CourseDirectory(config=config)
        self.api = NbGraderAPI(coursedir=self.coursedir, config=config)
        self.hidden = hidden_cells(self.root)
        self._registered = False

    @property
    def db_url(self):
        return self.coursedir.db_url

    def gradebook(self):
        return Gradebook(self.db_url, course_id=self.coursedir.course_id)

    def register(self):
        """
        Records the assignment and its graded cells in gradebook.db, as
        generate_assignment does, without touching release/ (a fresh clone has
        no gradebook.db, and autograde needs one). Done again only when the
        course's source notebooks or configuration changed, or the gradebook
        lost the assignment: a run with nothing to grade spends no second on it.
        """
        if self._registered:
            return
        key = self.registration_key()
        cache = self.root / ".cache" / f"released-{key[:16]}"
        if cache.is_dir() and self.has_assignment():
            self.released = {p.name: p.read_bytes() for p in cache.glob("*.ipynb")}
            self._registered = True
            return
        with tempfile.TemporaryDirectory() as tmp:
            config = copy.deepcopy(self.config)
            config.CourseDirectory.release_directory = tmp
            config.GenerateAssignment.post_convert_hook = None  # completes release/ folders: not wanted here
            api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
            result = api.generate_assignment(ASSIGNMENT, force=True)
            # The students' notebooks as released: they stand in for a notebook a student did not hand in.
            self.released = {p.name: p.read_bytes() for p in Path(tmp, ASSIGNMENT).glob("*.ipynb")}
        if not result["success"]:
            raise RuntimeError(f"nbgrader could not register {ASSIGNMENT} in its gradebook: "
                               f"{(result.get('error') or result['log'])[-800:]}")  # fmt: skip
        for stale in cache.parent.glob("released-*"):  # of an earlier source or configuration
            shutil.rmtree(stale, ignore_errors=True)
        partial = cache.with_name(cache.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for name, data in self.released.items():
            (partial / name).write_bytes(data)
        shutil.rmtree(cache, ignore_errors=True)
        partial.rename(cache)
        self._registered = True

    def registration_key(self) -> str:
        """What generate_assignment's result depends on: the source notebooks, the course's configuration, nbgrader."""
        import nbgrader

        digest = hashlib.sha256(nbgrader.__version__.encode())
        for path in [self.root / "nbgrader_config.py", *sorted((self.root / "source" / ASSIGNMENT).rglob("*.ipynb"))]:
            digest.update(str(path.relative_to(self.root)).encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def has_assignment(self) -> bool:
        """Whether gradebook.db holds the assignment with every notebook of its source."""
        with self.gradebook() as gb:
            try:
                recorded = {nb.name for nb in gb.find_assignment(ASSIGNMENT).notebooks}
            except MissingEntry:
                return False
        return recorded == {p.stem for p in (self.root / "source" / ASSIGNMENT).glob("*.ipynb")}

    def stand_ins(self, folder: Path | None) -> dict:
        """
        {notebook: why} for each released notebook that ``folder`` has not
        handed in readable: the released notebook stands in for it, since
        every written answer is read from hw/answers.py anyway.
        """
        self.register()
        why = {}
        for name in sorted(self.released):
            path = folder / name if folder is not None else None
            if path is None or not path.exists():
                why[name] = "was not handed in"
            elif unreadable_notebook(path):
                why[name] = f"could not be read: {unreadable_notebook(path)}"
        return why

    def autograde(self, student: str, folder: Path | None, summary: dict, previous_answers: dict | None = None):
        """
        Autogrades one student's notebooks (copied into submitted/ first, the
        released notebook standing in for each one not handed in readable),
        shows their written answers and hidden-suite results in the
        autograded notebooks and sets the hidden-tests scores in gradebook.db.
        A submission that could not be staged (``folder`` None) gets the
        hidden-suite scores only. ``previous_answers``: the written answers of
        the student's last grading, to tell a TA which answers changed since
        (see review_answers). Returns (a problem sentence or None, {notebook:
        why it was stood in for}).
        """
        dest = self.root / "submitted" / student / ASSIGNMENT
        if folder is None:
            # Nothing of theirs could be graded (the problem says why): no notebook, not even a stand-in, may reach
            # formgrader as theirs, and an earlier submission's must not stand in for this one.
            for tree in ("submitted", "autograded"):
                _remove(self.root / tree / student / ASSIGNMENT)
            self.set_hidden_scores(student, summary)
            return None, {}
        stand_ins = self.stand_ins(folder)
        if dest.resolve() != folder.resolve():
            _replace_tree(folder, dest, leave_out=set(stand_ins))
        for name in stand_ins:
            (dest / name).unlink(missing_ok=True)
            (dest / name).write_bytes(self.released[name])
        self.hand_in_time(student, dest, summary)
        with warnings.catch_warnings():
            # nbgrader 0.9 with SQLAlchemy 2 warns on every new submission that an
            # autoflush skipped a relationship it adds explicitly right after.
            warnings.filterwarnings("ignore", message="Object of type .* not in session", category=SAWarning)
            result = self.api.autograde(ASSIGNMENT, student, force=True, create=True)
        autograded = self.root / "autograded" / student / ASSIGNMENT
        problem = None
        if result["success"]:
            show_written_answers(autograded, summary.get("answers", {}))  # sanitises every notebook (_rewrite)
            show_hidden_results(autograded, summary)
            self.review_answers(student, summary.get("answers", {}), previous_answers)
        else:
            if autograded.is_dir():  # whatever nbgrader left there is shown by formgrader too
                sanitize_notebooks(autograded)
            problem = bounded("nbgrader could not autograde the notebooks: " + _last_error(result))
        self.set_hidden_scores(student, summary)
        return problem, stand_ins

    def hand_in_time(self, student: str, dest: Path, summary: dict):
        """
        When the student handed in, as nbgrader reads it (submitted/.../timestamp.txt),
        and their extension, on their submission in gradebook.db: nbgrader's
        autograde then computes the lateness and its LateSubmissionPlugin the penalty.
        """
        (dest / "timestamp.txt").unlink(missing_ok=True)
        if summary.get("submitted_at"):
            (dest / "timestamp.txt").write_text(summary["submitted_at"])  # ISO 8601 with its offset: parse_utc reads it
        with warnings.catch_warnings(), self.gradebook() as gb:
            warnings.filterwarnings("ignore", message="Object of type .* not in session", category=SAWarning)
            gb.update_or_create_student(student)
            submission = gb.update_or_create_submission(ASSIGNMENT, student)
            hours = summary.get("extension_hours") or 0
            submission.extension = datetime.timedelta(hours=hours) if hours else None
            gb.db.commit()

    def set_due(self, due: datetime.datetime | None):
        """The assignment's due date in gradebook.db (None: no due date), as nbgrader keeps it: UTC, without a zone."""
        self.register()
        with self.gradebook() as gb:
            utc = due.astimezone(datetime.timezone.utc).replace(tzinfo=None) if due is not None else None
            gb.update_or_create_assignment(ASSIGNMENT, duedate=utc)

    def due(self) -> datetime.datetime | None:
        """The assignment's due date in gradebook.db (set by course grade --due), or None."""
        self.register()
        with self.gradebook() as gb:
            duedate = gb.find_assignment(ASSIGNMENT).duedate
        return duedate.replace(tzinfo=datetime.timezone.utc) if duedate is not None else None

    def record_decision(self, student: str, summary: dict):
        """A review decision changed the hidden-suite points: into gradebook.db and the autograded notebooks."""
        self.set_hidden_scores(student, summary)
        autograded = self.root / "autograded" / student / ASSIGNMENT
        if autograded.is_dir():
            show_hidden_results(autograded, summary)

    def agrees(self, student: str, summary: dict, folder: Path | None, hidden_scores=None) -> bool:
        """
        Whether gradebook.db and submitted/ still hold what recording this
        summary wrote: the hidden-suite scores, and the same notebooks as
        ``folder`` (grading another --out into the same course may have
        replaced them). ``hidden_scores``: hidden_scores() of the class, read
        once for many students.
        """
        if folder is not None:
            self.register()
            submitted = self.root / "submitted" / student / ASSIGNMENT
            recorded = {p.name: p.read_bytes() for p in submitted.glob("*.ipynb")}
            if set(recorded) != set(self.released):
                return False
            for name, text in recorded.items():
                path = folder / name
                if path.is_file() and path.read_bytes() == text:
                    continue  # the student's notebook
                if text != self.released[name] or (path.exists() and not unreadable_notebook(path)):
                    return False  # the released notebook must stand in only for one not handed in readable
        scores = hidden_scores if hidden_scores is not None else self.hidden_scores([student])
        return all(scores.get((student, part)) == summary["parts"].get(part, {}).get("score", 0) for part in self.hidden)

    def hidden_overrides(self) -> dict:
        """{student: {part: points}} for the hidden-tests cells a TA scored in formgrader (their manual score wins)."""
        overrides = {}
        for (student, part), score in self._hidden_cells(Grade.manual_score).items():
            if score is not None:
                overrides.setdefault(student, {})[part] = score
        return overrides

    def hidden_scores(self, students=None) -> dict:
        """{(student, part): the hidden-tests cell's automatic score} in gradebook.db, in one query (of ``students``, or all)."""
        return self._hidden_cells(Grade.auto_score, students)

    def _hidden_cells(self, column, students=None) -> dict:
        """{(student, part): ``column`` of the grade of that part's hidden-tests cell}, for the class in one query."""
        cells = {f"hidden_tests_{part}": part for part in self.hidden}
        with self.gradebook() as gb:
            query = (gb.db.query(SubmittedAssignment.student_id, BaseCell.name, column).select_from(Grade)
                     .join(BaseCell, Grade.cell_id == BaseCell.id)
                     .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                     .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                     .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                     .filter(Assignment.name == ASSIGNMENT, BaseCell.name.in_(list(cells))))  # fmt: skip
            if students is not None:
                query = query.filter(SubmittedAssignment.student_id.in_(list(students)))
            return {(student, cells[name]): value for student, name, value in query.all()}

    def review_answers(self, student: str, answers: dict, previous_answers: dict | None):
        """
        After nbgrader's autograde, which marks every written answer for a
        manual grade again: an answer the student did not give is scored 0
        with a comment saying so (a TA may still change it); an answer a TA
        graded and that is the same text as then keeps its grade; one that
        changed keeps its old score, marked for a new grade (formgrader's
        "needs manual grade") with a comment giving the old score, and the
        export leaves it out of the total until it is graded again. Without
        ``previous_answers`` every graded answer counts as changed.
        """
        from course.reports.feedback import NO_ANSWER  # how the grader says an answer function gave no text

        with self.gradebook() as gb:
            for notebook in gb.find_submission(ASSIGNMENT, student).notebooks:
                for grade in notebook.grades:
                    if grade.name not in answers:
                        continue
                    comment = gb.find_comment(grade.name, notebook.name, ASSIGNMENT, student)
                    text, before = answers[grade.name], (previous_answers or {}).get(grade.name)
                    scored_by_us = comment.manual_comment == NOT_ANSWERED and grade.manual_score == 0
                    if NO_ANSWER.fullmatch(text) and (grade.manual_score is None or scored_by_us):
                        grade.manual_score, grade.needs_manual_grade, comment.manual_comment = 0, False, NOT_ANSWERED
                    elif scored_by_us:  # answered now: a TA grades it
                        grade.manual_score, grade.needs_manual_grade, comment.manual_comment = None, True, None
                    elif grade.manual_score is not None and before is not None and before == text:
                        grade.needs_manual_grade = False  # graded, and the same answer as then
                    elif grade.manual_score is not None:
                        changed = CHANGED_ANSWER.format(score=f"{grade.manual_score:g}")
                        if not (comment.manual_comment or "").startswith(changed.split("(")[0]):
                            comment.manual_comment = f"{changed}\n\n{comment.manual_comment or ''}".strip()
                        grade.needs_manual_grade = True
            gb.db.commit()

    def set_hidden_scores(self, student: str, summary: dict):
        """Each part's hidden-suite points as the score of its hidden-tests cell (a TA's manual score still wins)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Object of type .* not in session", category=SAWarning)
            with self.gradebook() as gb:
                record = gb.update_or_create_student(student)
                if not (record.first_name or record.last_name):
                    record.last_name = student  # formgrader shows "None, None" otherwise; `course roster` names them
                try:
                    gb.find_submission(ASSIGNMENT, student)
                except MissingEntry:
                    gb.add_submission(ASSIGNMENT, student)
                for part, (notebook, _) in self.hidden.items():
                    grade = gb.find_grade(f"hidden_tests_{part}", notebook, ASSIGNMENT, student)
                    grade.auto_score = summary["parts"].get(part, {}).get("score", 0)
                    grade.needs_manual_grade = False
                gb.db.commit()


def _replace_tree(src: Path, dest: Path, leave_out=frozenset()):
    """
    dest becomes a copy of src (without the top-level names in leave_out).
    The copy is made beside dest, then swapped in, so a run killed half-way
    leaves the old folder or the new one in place; what a killed run left
    beside it is removed, and a failure to remove it is raised, not hidden.
    """
    incoming, outgoing = dest.with_name(dest.name + ".incoming"), dest.with_name(dest.name + ".outgoing")
    for leftover in (incoming, outgoing):
        _remove(leftover)
    shutil.copytree(src, incoming, ignore=lambda folder, names: [n for n in names if Path(folder) == src and n in leave_out])
    if dest.exists() or dest.is_symlink():
        dest.rename(outgoing)
    incoming.rename(dest)
    _remove(outgoing)


def _remove(path: Path):
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _last_error(result) -> str:
    """The last line of an nbgrader log that says what went wrong, not its traceback."""
    text = result.get("error") or result.get("log") or ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line] or lines or ["no reason given"]
    return errors[-1][:300]


def forget_in_grading_folder(out: Path, student: str) -> bool:
    """A student's review decision and logs in a grading folder, removed; whether there were any."""
    from course.records.folder import load_reviews, REVIEWS_FILE, write_atomically

    found = False
    for log in (out / ".logs").glob(f"{student}.*"):
        log.unlink()
        found = True
    reviews = load_reviews(out)
    if reviews.pop(student, None) is not None:
        write_atomically(out / REVIEWS_FILE, json.dumps(reviews, indent=2))
        found = True
    return found


def remove_students(students, course_root: Path = REPO_ROOT, out: Path | None = None):
    """
    Takes students out of the course (a withdrawal, a test submission, the
    demo's examples): their rows in gradebook.db with every grade, their
    submitted/, autograded/ and feedback/ folders, and with the grading
    folder ``out`` their results there (the CSV and the class report are then rebuilt). Returns the
    students that were found anywhere.
    """
    from course.reports.class_report import write_class_files
    from course.grading.submissions import student_id

    bad = [s for s in students if not s or student_id(s) != s]
    if bad:  # an id is a folder name below: "..", "" or "/home" would delete far more than one student
        raise ValueError(f"not a student id: {', '.join(map(repr, bad))} (ids are letters, digits, '_' and '-')")
    found = []
    course = NbgraderCourse(course_root)
    with course.gradebook() as gb:
        for student in students:
            folders = [Path(course_root) / tree / student for tree in ("submitted", "autograded", "feedback")]
            folders += [Path(out) / student] if out else []
            known = any(f.is_dir() for f in folders)
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
            if out:
                known |= forget_in_grading_folder(Path(out), student)
            try:
                gb.remove_student(student)
                known = True
            except MissingEntry:
                pass
            if known:
                found.append(student)
    if out and Path(out).is_dir():
        write_class_files(Path(out))
    return found


ROSTER_COLUMNS = ("id", "first_name", "last_name", "email", "lms_user_id")
# The comments review_answers writes on a written answer's grade in gradebook.db (formgrader shows them).
NOT_ANSWERED = "Not answered: scored 0 automatically."
CHANGED_ANSWER = "The answer changed since it was graded ({score} points then): grade it again."
# Canvas's gradebook export (Grades > Export > CSV): "Last, First", the Canvas user id, the institution's ids.
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID")


def canvas_roster(rows) -> list:
    """
    Canvas's gradebook export as roster rows: the student id is the SIS User
    ID (else the SIS Login ID, else Canvas's ID), the Canvas ID is the
    lms_user_id that canvas.csv gives back and bulk-download file names carry,
    and the SIS Login ID is the e-mail where it is one. Canvas's "Points
    Possible" row and its Test Student are not students.
    """
    students = []
    for row in rows:
        name, canvas_id = (row.get("Student") or "").strip(), (row.get("ID") or "").strip()
        if not canvas_id.isdigit() or name in ("Points Possible", "Student, Test", "Test Student"):
            continue
        last, _, first = name.partition(",")
        login = (row.get("SIS Login ID") or "").strip()
        students.append({"id": (row.get("SIS User ID") or "").strip() or login or canvas_id, "first_name": first.strip(),
                         "last_name": last.strip(), "email": login if "@" in login else "", "lms_user_id": canvas_id})  # fmt: skip
    return students


# Canvas's bulk download of submissions: <name>_[LATE_]<Canvas user id>_<submission id>_<the student's file name>
CANVAS_DOWNLOAD = re.compile(r"[A-Za-z0-9-]+_(?:LATE_)?(?P<user>\d+)_\d+_.*")


def canvas_students(submissions, course_root: Path = REPO_ROOT):
    """
    The students of Canvas's bulk-download file names, by the Canvas user id
    in the name and the roster (course roster with Canvas's gradebook export):
    doejane_LATE_4567_1234567_hw2.zip is the rostered student whose Canvas ID
    is 4567. A name of that form whose id is not on the roster keeps its name,
    and is returned, to be said.
    """
    if not (Path(course_root) / "gradebook.db").exists():
        return []
    with NbgraderCourse(course_root).gradebook() as gb:
        by_canvas_id = {s.lms_user_id: s.id for s in gb.students if s.lms_user_id}
    unknown = []
    for sub in submissions:
        match = CANVAS_DOWNLOAD.fullmatch(sub.student)
        if match and match["user"] in by_canvas_id:
            sub.student = by_canvas_id[match["user"]]
        elif match:
            unknown.append(sub.student)
    return unknown


def import_roster(csv_path: Path, course_root: Path = REPO_ROOT):
    """
    Adds or updates the students of a CSV file (columns: id, and any of
    first_name, last_name, email, lms_user_id) in nbgrader's gradebook, so
    formgrader shows names. Returns how many students it wrote.
    """
    with open(csv_path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets often start a CSV with a BOM
        rows = list(csv.DictReader(f))
    if rows and set(CANVAS_COLUMNS) <= set(rows[0]):
        rows = canvas_roster(rows)
    extra = [i + 2 for i, row in enumerate(rows) if None in row]
    if extra:
        raise ValueError(f"{csv_path}: line {extra[0]} has more fields than the header (a trailing comma?)")
    if not rows or "id" not in rows[0]:
        raise ValueError(f"{csv_path}: expected a header with 'id' and any of {', '.join(ROSTER_COLUMNS[1:])}")
    unknown = set(rows[0]) - set(ROSTER_COLUMNS)
    if unknown:
        raise ValueError(f"{csv_path}: unknown columns {', '.join(sorted(unknown))} (known: {', '.join(ROSTER_COLUMNS)})")
    from course.grading.submissions import student_id

    course = NbgraderCourse(course_root)
    with course.gradebook() as gb:
        known = {s.id: s for s in gb.students}
        for row in rows:
            sid = student_id(row["id"])
            # A blank cell changes nothing: a roster of e-mails alone keeps the names already there.
            fields = {k: row[k].strip() for k in ROSTER_COLUMNS[1:] if (row.get(k) or "").strip()}
            before = known.get(sid)
            if before is not None and before.last_name == sid and "first_name" in fields and "last_name" not in fields:
                fields["last_name"] = ""  # the stand-in (the id as last name) grading gave an unnamed student
            if before is None and not ({"first_name", "last_name"} & set(fields)):
                fields["last_name"] = sid  # formgrader would show "None, None"
            gb.update_or_create_student(sid, **fields)
    return len(rows)


def export_rows(course_root: Path = REPO_ROOT, results: Path | None = None):
    """
    One row per student of nbgrader's gradebook: hidden-suite points per part,
    manual points per written question (empty until a TA grades it), the
    total, the maximum, and whether any score is still missing; with the
    grading folder ``results``, also each student's problem and review state.
    Returns (columns, rows, max points per column).
    """
    from course.reports.feedback import missing_answers
    from course.records.folder import notes_of, problem_of, read_summaries

    course = NbgraderCourse(course_root)
    summaries = {s["student"]: s for s in read_summaries(results)} if results else {}
    rows, maxima = [], {}
    with course.gradebook() as gb:
        for student in sorted(gb.students, key=lambda s: s.id):
            row = {"student": student.id, "first_name": student.first_name or "", "last_name": student.last_name or "",
                   "email": student.email or ""}  # fmt: skip
            try:
                submission = gb.find_submission(ASSIGNMENT, student.id)
            except MissingEntry:  # on the roster, nothing handed in (yet)
                row.update(total=0, autograded=0, missing="", problem="no submission", review="", notes="", late_penalty=0,
                           submitted="", late="")  # fmt: skip
                rows.append(row)
                continue
            missing = []
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    part = HIDDEN_CELL.fullmatch(grade.name)
                    column = f"hidden {part.group(1)}" if part else grade.name
                    maxima[column] = grade.max_score
                    # A written answer no TA has scored yet is not a 0: its cell stays empty.
                    ungraded = grade.needs_manual_grade or grade.score is None
                    row[column] = "" if ungraded else grade.score
                    if ungraded:
                        missing.append(column)
            # nbgrader's LateSubmissionPlugin (nbgrader_config.py) sets a penalty per notebook when it autogrades.
            row["late_penalty"] = submission.late_submission_penalty or 0
            row["total"] = sum(v for k, v in row.items() if k in maxima and v != "") - row["late_penalty"]
            row["autograded"] = sum(v for k, v in row.items() if k.startswith("hidden ") and k in maxima and v != "")
            row["missing"] = " ".join(sorted(missing))
            summary = summaries.get(student.id)
            if results and summary is None:
                row["problem"] = f"graded, but not in {Path(results).name}/ (another grading folder?)"
                summary = {}
            else:
                row["problem"] = problem_of(summary or {})
            row["review"] = ((summary or {}).get("review") or {}).get("decision", "")
            unanswered = sorted(missing_answers(summary or {}))
            row["notes"] = "; ".join(n for n in (notes_of(summary or {}), f"not answered, scored 0: {' '.join(unanswered)}"
                                                 if unanswered else "") if n)  # fmt: skip
            row["submitted"] = (submission.timestamp.isoformat(sep=" ", timespec="seconds") + " UTC") if submission.timestamp else ""
            row["late"] = late_note(summary or {}) or (describe_duration(submission.total_seconds_late) + " late"
                                                         if submission.total_seconds_late else "")  # fmt: skip
            rows.append(row)
    for row in rows:
        row["max"] = sum(maxima.values())
    grades = sorted(maxima, key=lambda c: (not c.startswith("hidden"), c))
    columns = ["student", "first_name", "last_name", "email", *grades, "autograded", "late_penalty", "total", "max",
               "missing", "problem", "review", "notes", "submitted", "late"]  # fmt: skip
    return columns, rows, maxima


def _number(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def not_final(row, autograded_only=False) -> str | None:
    """Why a row's total (or its autograded points alone) is not yet a grade to publish, or None."""
    if row["problem"] == "no submission":
        return "without a submission"
    if row["problem"]:
        return "with a problem to look at (see export.csv)"
    if row["review"] == "pending":
        return "waiting for a review of flagged code (course review)"
    if row["missing"] and not autograded_only:
        return "with written answers not graded yet in formgrader"
    return None


def write_export(path: Path, course_root: Path = REPO_ROOT, results: Path | None = None, bom: bool = False):
    """
    The class as one CSV: see export_rows (with ``bom``, a UTF-8 byte order
    mark first, for Excel). Returns the number of students and the students
    whose total is not final, by reason.
    """
    columns, rows, _ = export_rows(course_root, results)
    incomplete = {}
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv_writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_number(row.get(column, "")) for column in columns])
            if not_final(row):
                incomplete.setdefault(not_final(row), []).append(row["student"])
    return len(rows), incomplete


def write_canvas_export(path: Path, course_root: Path = REPO_ROOT, results: Path | None = None,
                        column: str = f"Homework {ASSIGNMENT[2:]}", bom: bool = False):  # fmt: skip
    """
    The totals in the layout of Canvas's gradebook import: Student ("Last,
    First"), ID (the roster's lms_user_id), SIS User ID (the nbgrader id),
    SIS Login ID (the e-mail), Section, then the assignment's column and a
    column of the autograded points alone (to publish before the written
    answers are graded), with a "Points Possible" row first. Canvas matches
    students on ID, SIS User ID or SIS Login ID, so import the roster first
    (course roster, from Canvas's own gradebook export). A value that is not
    final (see not_final) is left empty: Canvas then leaves that grade as it
    was, rather than publishing a number that will change. Returns the number
    of students and those Canvas cannot match (no Canvas ID on the roster).
    """
    _, rows, maxima = export_rows(course_root, results)
    course = NbgraderCourse(course_root)
    with course.gradebook() as gb:
        lms = {s.id: s.lms_user_id or "" for s in gb.students}
    autograded_max = sum(v for k, v in maxima.items() if k.startswith("hidden "))
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv_writer(f)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column, f"{column} (autograded)"])
        writer.writerow(["Points Possible", "", "", "", "", _number(float(sum(maxima.values()))), _number(float(autograded_max))])
        for row in rows:
            name = ", ".join(n for n in (row["last_name"], row["first_name"]) if n) or row["student"]
            total = "" if not_final(row) else _number(float(row["total"]))
            autograded = "" if not_final(row, autograded_only=True) else _number(float(row["autograded"]))
            writer.writerow([name, lms.get(row["student"], ""), row["student"], row["email"], "", total, autograded])
    unmatched = [row["student"] for row in rows if not lms.get(row["student"])]
    return len(rows), unmatched


def written_grades(gb, student: str) -> list:
    """A student's written answers as the staff graded them in formgrader: [{name, score, max_score, graded, comment}]."""
    try:
        submission = gb.find_submission(ASSIGNMENT, student)
    except MissingEntry:
        return []
    written = []
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            if HIDDEN_CELL.fullmatch(grade.name):
                continue
            graded = not grade.needs_manual_grade and grade.score is not None
            comment = gb.find_comment(grade.name, notebook.name, ASSIGNMENT, student).manual_comment
            written.append({"name": grade.name, "score": grade.score if graded else 0, "max_score": grade.max_score,
                            "graded": graded, "comment": comment or ""})  # fmt: skip
    return sorted(written, key=lambda w: w["name"])


def late_penalty(gb, student: str) -> float:
    """The points nbgrader's LateSubmissionPlugin took from a student's submission (0 without one)."""
    try:
        return gb.find_submission(ASSIGNMENT, student).late_submission_penalty or 0
    except MissingEntry:
        return 0


def give_back(out: Path, course_root: Path = REPO_ROOT) -> tuple[Path, list]:
    """
    One feedback page per student graded into ``out`` (the hidden suite's
    results, the staff's grades and comments of the written answers from
    gradebook.db, lateness), in ``out``/feedback-<assignment>/<student>.html, and all of
    them in ``out``/feedback-<assignment>.zip, to upload to an LMS in one go
    (each file named by the student's id). Returns (the zip, the students).
    """
    import zipfile

    from course.reports.feedback import render_feedback
    from course.records.folder import read_summaries, write_atomically

    folder = Path(out) / f"feedback-{ASSIGNMENT}"
    folder.mkdir(parents=True, exist_ok=True)
    archive = Path(out) / f"feedback-{ASSIGNMENT}.zip"
    students = []
    with NbgraderCourse(course_root).gradebook() as gb, zipfile.ZipFile(archive.with_suffix(".part"), "w",
                                                                       zipfile.ZIP_DEFLATED) as bundle:  # fmt: skip
        for summary in read_summaries(out):
            page = render_feedback(summary, written=written_grades(gb, summary["student"]),
                                   penalty=late_penalty(gb, summary["student"]))
            write_atomically(folder / f"{summary['student']}.html", page)
            bundle.writestr(f"{summary['student']}.html", page)
            students.append(summary["student"])
    archive.with_suffix(".part").replace(archive)
    return archive, students


def scratch_course(dest: Path, with_solution_in_source: bool = False) -> Path:
    """
    A throw-away nbgrader course at ``dest`` (this repository's config,
    sources, solution, assets and environment, an empty gradebook), for tests
    and benchmarks that must not add students to the instructor's gradebook.
    ``with_solution_in_source`` also puts the solution's hw/ into source/hw2,
    as an instructor might.
    """
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for name in ("nbgrader_config.py", "environment.yml"):
        shutil.copyfile(REPO_ROOT / name, dest / name)
    for name in ("source", "hw", "tests/assets"):
        shutil.copytree(REPO_ROOT / name, dest / name, ignore=ignore)
    if with_solution_in_source:
        shutil.copytree(dest / "hw", dest / "source" / ASSIGNMENT / "hw")
    return dest
