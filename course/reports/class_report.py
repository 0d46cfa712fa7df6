"""
The class report, ``<out>/class.html``: how the class did, part by part, and
for every hidden test how many students failed it and why, so the staff see
which part of the homework was unclear.

Built only from the students' results.json (like gradebook.csv), so it can be
rebuilt at any time and follows every review decision. One page, no network
assets: the histograms are embedded as PNG images.

Three kinds of student are kept apart so they cannot distort the numbers:

- a submission that could not be graded at all (``problem``) failed every test
  for that one reason: it is counted once, at the top, not in every test;
- a flagged submission has its passed tests withheld until the staff clear
  it: a withheld test passed, so it is counted as withheld, not as failed,
  and a score still waiting for a decision is left out of the distributions;
- a harness error is the grader's fault, not the student's: it is said so.
"""
import base64
import datetime
import hashlib
import io
import math
import re
import statistics
from collections import Counter
from pathlib import Path

from jinja2 import Environment

from course.reports.feedback import NUMBER
from course.records.folder import bounded, read_summaries, write_atomically, write_gradebook
from course.records.review import PENDING

REPORT_FILE = "class.html"
MOST = 0.5  # a test failed by at least this share of the class: most of the class found it unclear
MANY = 0.25  # ... by at least this share: worth a look
KEY_LENGTH = 160  # messages that agree on their first characters (numbers aside) are one reason
SHOWN_LENGTH = 400  # an example message longer than this is cut on the page
SHOWN_STUDENTS = 100  # the students named under a reason (the count says how many more)

# Kinds of failure, as the page names them.
CHECK, HARNESS = "failed the check", "harness error"

# "(4, 3, 8, 8)" and "(15, 3)", or "8x8" and "28x28", are shapes: after NUMBER they differ only in their length.
SEQUENCE = re.compile(r"#(?:\s*[,x×]\s*#)+")
OTHER_VALUE = re.compile(r"\b(?:nan|inf|True|False|None)\b", re.I)


def reason_key(message: str) -> str:
    """What a message says without its numbers, shapes or values: messages that differ only there are one reason."""
    key = SEQUENCE.sub("#", NUMBER.sub("#", OTHER_VALUE.sub("#", message or "")))
    return " ".join(key.split())[:KEY_LENGTH]


def _number(value) -> float | None:
    """A score from results.json, or None when it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _text(value) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def clean_summary(raw) -> dict | None:
    """
    The part of a results.json the report uses, with every key present and of
    the right type, or None when it is no student's result. The rest of the
    module trusts this shape: an odd file (an older grader, a hand edit) must
    not break the page that every grading run writes at its end.
    """
    if not isinstance(raw, dict) or not _text(raw.get("student")):
        return None
    flagged = bool(_list(raw.get("flags")))
    tests = []
    for t in _list(raw.get("tests")):
        if isinstance(t, dict) and _text(t.get("name")):
            tests.append({
                "name": _text(t["name"]),
                "part": _text(t.get("part")),
                "description": _text(t.get("description")),
                "max_points": _number(t.get("max_points")) or 0,
                "passed": t.get("passed") is True,
                "withheld": bool(t.get("withheld")),
                "harness_error": bool(t.get("harness_error")),
                "message": bounded(_text(t.get("message"))),
            })  # fmt: skip
    return {
        "student": _text(raw["student"]),
        "problem": bounded(_text(raw.get("problem"))),  # bounded when written; an older or edited file too
        "notebook_problem": bounded(_text(raw.get("notebook_problem"))),
        "flagged": flagged,
        "pending": flagged and _dict(raw.get("review")).get("decision", PENDING) == PENDING,
        "score": _number(raw.get("score")),
        "max_score": _number(raw.get("max_score")),
        "parts": {_text(p): (_number(v.get("score")), _number(v.get("max_score")))
                  for p, v in _dict(raw.get("parts")).items() if isinstance(v, dict)},  # fmt: skip
        "part_titles": _dict(raw.get("part_titles")),
        "tests": tests,
    }


def add_reason(reasons: dict, kind: str, message: str, student: str):
    """Counts one student's failure under its reason; the first message of a reason is the example the page shows."""
    new = {"kind": kind, "example": message, "count": 0, "messages": set(), "students": []}
    reason = reasons.setdefault((kind, reason_key(message)), new)
    reason["count"] += 1
    reason["messages"].add(message)
    reason["students"].append(student)


def tally_tests(summaries) -> list[dict]:
    """
    One row per hidden test, in the suite's order: how many of the students
    whose tests ran failed it, how many had it withheld, and the reasons of
    the failures, most common first (alphabetically among equals).
    """
    rows = {}
    for s in summaries:
        if s["problem"]:
            continue  # every test failed for the one problem, counted once at the top of the page
        for t in s["tests"]:
            row = rows.setdefault(t["name"], {**{k: t[k] for k in ("name", "part", "description", "max_points")},
                                              "students": 0, "failed": 0, "withheld": 0, "reasons": {}})  # fmt: skip
            if t["withheld"] and not t["passed"]:
                row["withheld"] += 1  # it passed; the points wait for a review: says nothing about the homework
                continue
            row["students"] += 1
            if not t["passed"]:
                row["failed"] += 1
                add_reason(row["reasons"], HARNESS if t["harness_error"] else CHECK, t["message"], s["student"])
    for row in rows.values():
        row["reasons"] = sorted(row["reasons"].values(), key=lambda r: (-r["count"], r["example"]))  # stable order
        row["share"] = row["failed"] / row["students"] if row["students"] else 0.0
        row["level"] = "most" if row["share"] >= MOST else "many" if row["share"] >= MANY else ""
    return list(rows.values())


def part_titles(summaries) -> dict:
    """The parts' titles, from the newest grader's results (older ones have none)."""
    titles = {}
    for s in summaries:
        titles.update({_text(k): _text(v) for k, v in s["part_titles"].items()})
    return titles


def distribution(scores: list, max_score) -> dict:
    """Mean, median, lowest, highest and full marks of a list of scores (all None when there is none)."""
    if not scores:
        return {"count": 0, "mean": None, "median": None, "low": None, "high": None, "full": 0}
    full = sum(1 for x in scores if max_score and x >= max_score)
    return {"count": len(scores), "mean": statistics.fmean(scores), "median": statistics.median(scores),
            "low": min(scores), "high": max(scores), "full": full}  # fmt: skip


def most_common(values):
    """The most common of the values (a part's maximum: the same for every student unless the suite changed)."""
    counts = Counter(v for v in values if v is not None)
    return counts.most_common(1)[0][0] if counts else None


def part_rows(summaries, titles) -> list[dict]:
    """
    The score distribution of every part and of the total, over the students
    with a grade: neither a submission that could not be graded (it has no
    grade, not a 0) nor one whose points wait for a review.
    """
    graded = [s for s in summaries if not s["problem"] and not s["pending"]]
    rows = []
    for part in sorted({p for s in summaries for p in s["parts"]}):
        of_part = [s["parts"][part] for s in graded if part in s["parts"]]
        rows.append(part_row(titles.get(part, part), [score for score, _ in of_part], [m for _, m in of_part]))
    total = part_row("Hidden tests in all", [s["score"] for s in graded], [s["max_score"] for s in graded])
    return rows + [dict(total, total=True)]


def part_row(title, scores, maxima) -> dict:
    """One line of the table of parts: its numbers and its histogram."""
    scores = [x for x in scores if x is not None]
    maximum = most_common(maxima)
    return {"title": title, "max": maximum, "total": False, **distribution(scores, maximum),
            "figure": histogram(scores, maximum)}


def bin_edges(maximum) -> list[float]:
    """
    Edges of bins that hold whole points: one point per bin up to 40 points,
    wider bins above, so a part of 181 points has ~30 bars. Counted down from
    full marks, so that the bar of full marks is whole (a cut bar is at 0).
    """
    width = math.ceil(maximum / 30) if maximum > 40 else 1
    count = math.ceil((maximum + 1) / width)
    return [maximum + 0.5 - (count - i) * width for i in range(count + 1)]


def histogram(scores: list, maximum) -> str:
    """
    A histogram of the scores out of ``maximum`` as a base64 PNG, or "" when
    there is nothing to draw or matplotlib is missing (the numbers are on the
    page anyway). matplotlib is imported here, not at the top: the grader
    imports this module when it starts and must start fast.
    """
    if not scores or not maximum or maximum <= 0:
        return ""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return ""
    # Figure and its canvas directly, not pyplot: no global state, no backend switched in the caller's process.
    figure = Figure(figsize=(5.5, 1.9), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.hist([min(max(x, 0), maximum) for x in scores], bins=bin_edges(maximum), color="#4a78b5", edgecolor="white")
    axes.axvline(statistics.median(scores), color="#b00020", linestyle="--", linewidth=1, label="median")
    axes.set_xlim(-0.5 - maximum * 0.01, maximum + 0.5 + maximum * 0.01)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=10))
    axes.set_xlabel("points")
    axes.set_ylabel("students")
    axes.legend(loc="upper left", frameon=False, fontsize="small")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Class report: {{ folder }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 1.5rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
td.pts, th.pts { white-space: nowrap; text-align: right; }
.full { color: #1b7f3b; } .lost { color: #b00020; font-weight: bold; }
.why { font-family: ui-monospace, monospace; font-size: .9em; color: #7a1f1f; white-space: pre-wrap; overflow-wrap: anywhere; }
.banner { background: #fdecea; padding: .75rem 1rem; border-radius: .3rem; }
details { margin: .5rem 0; } summary { cursor: pointer; font-weight: bold; padding: .3rem 0; }
small.id { color: #666; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
small.note { color: #555; }
tr.most { background: #fdecea; } tr.many { background: #fff6e0; }
.kind { font-size: .8em; color: #555; text-transform: uppercase; letter-spacing: .03em; }
.kind.harness { color: #b00020; font-weight: bold; }
img.hist { max-width: 100%; height: auto; display: block; }
ul.compact { columns: 18rem; padding-left: 1.2rem; font-size: .9em; }
</style>
</head>
<body>
<h1>Class report: {{ folder }}</h1>
<p><small class="note">Written {{ written }} from {{ summaries|length }} result file{{ 's' if summaries|length != 1 }}.</small></p>
{% if not summaries %}
<p class="banner"><strong>No students were graded in {{ folder }} yet: there is no results.json to report on.</strong></p>
{% else %}
<table>
<tr><td>Students graded</td><td class="pts">{{ graded|length }}</td></tr>
<tr><td>Could not be graded</td><td class="pts {{ 'lost' if unusable }}">{{ unusable|length }}</td></tr>
<tr><td>Flagged for staff review{% if pending %} ({{ pending|length }} waiting for a decision){% endif %}</td>
<td class="pts">{{ flagged|length }}</td></tr>
{% if notebook_problems %}<tr><td>Notebooks could not be autograded</td><td class="pts">{{ notebook_problems|length }}</td></tr>{% endif %}
</table>
{% if unusable %}<details><summary>Could not be graded: {{ unusable|length }} (left out of every count below; each failed every test for this reason)</summary>
<ul>{% for s in unusable %}<li><strong>{{ s.student }}</strong>: <span class="why">{{ s.problem }}</span></li>{% endfor %}</ul></details>{% endif %}
{% if flagged %}<details><summary>Flagged: {{ flagged|length }} (a withheld test is counted as withheld, not failed{% if pending %}; scores waiting for a decision are left out of the distributions{% endif %})</summary>
<ul>{% for s in flagged %}<li>{{ s.student }}{% if s.pending %} (waiting for review: <code>course review</code>){% endif %}</li>{% endfor %}</ul></details>{% endif %}
{% if harness %}<p class="banner"><strong>The grader itself failed (harness error) in {{ harness|length }} test{{ 's' if harness|length != 1 }}:
{% for t in harness %}{{ t.name }}{{ ', ' if not loop.last }}{% endfor %}.</strong> These failures are not the students' fault: look at them first.</p>{% endif %}

<h2>Scores per part</h2>
<p><small class="note">Over the {{ distributed }} student{{ 's' if distributed != 1 }} with a grade. The dashed line is the median.</small></p>
<table>
<tr><th>Part</th><th class="pts">Mean</th><th class="pts">Median</th><th class="pts">Lowest&ndash;highest</th><th class="pts">Full marks</th><th>Distribution</th></tr>
{% for p in parts %}
<tr><td>{% if p.total %}<strong>{{ p.title }}</strong>{% else %}{{ p.title }}{% endif %}</td>
{% if p.count %}<td class="pts">{{ '%.1f'|format(p.mean) }} / {{ p.max|num }}</td><td class="pts">{{ p.median|num }}</td>
<td class="pts">{{ p.low|num }}&ndash;{{ p.high|num }}</td><td class="pts">{{ p.full }} of {{ p.count }}</td>
{% else %}<td class="pts" colspan="4">no grade</td>{% endif %}
<td>{% if p.figure %}<img class="hist" alt="histogram of {{ p.title }}" src="data:image/png;base64,{{ p.figure }}">{% endif %}</td></tr>
{% endfor %}
</table>

<h2>Hidden tests that students failed</h2>
{% if failed_tests %}
{% set unclear = failed_tests|selectattr("level", "equalto", "most")|list %}
{% if unclear %}<p class="banner"><strong>Failed by at least {{ (most * 100)|round|int }}% of the class: {{ unclear|length }} test{{ 's' if unclear|length != 1 }}</strong>
({% for part, tests in unclear|groupby("part") %}{{ titles.get(part, part) }}: {{ tests|length }}{{ '; ' if not loop.last }}{% endfor %}).
The homework (or the test) may be unclear there.</p>
{% else %}<p>No test was failed by {{ (most * 100)|round|int }}% of the class or more.</p>{% endif %}
<p><small class="note">Ordered by how many failed. Out of the students whose tests ran (a withheld test is not counted).
A reason is the check's message (or a <span class="kind harness">harness error</span>, the grader's own fault);
messages that differ only in their numbers, shapes or values are one reason, shown by one real message.
<span style="background:#fdecea">&nbsp;Red&nbsp;</span>: at least {{ (most * 100)|round|int }}% failed it, most of the class found it unclear;
<span style="background:#fff6e0">&nbsp;amber&nbsp;</span>: at least {{ (many * 100)|round|int }}%.</small></p>
<table>
<tr><th>Test</th><th>Part</th><th class="pts">Points</th><th class="pts">Failed</th><th>Most common reason</th><th>Next reason</th>{% if flagged %}<th class="pts">Withheld</th>{% endif %}</tr>
{% for t in failed_tests %}
<tr{% if t.level %} class="{{ t.level }}"{% endif %}><td>{{ t.description or t.name }}<br><small class="id">{{ t.name }}</small></td>
<td title="{{ titles.get(t.part, t.part) }}">{{ t.part }}</td><td class="pts">{{ t.max_points|num }}</td>
<td class="pts lost">{{ t.failed }} of {{ t.students }}<br>{{ (t.share * 100)|round|int }}%</td>
{% for r in t.reasons[:2] %}<td>{% if r.kind == harness_kind %}<span class="kind harness">{{ r.kind }}</span>: {% endif %}{{ r.count }} student{{ 's' if r.count != 1 }}{% if r.messages|length > 1 %} ({{ r.messages|length }} variants){% endif %}<br>
<span class="why">{{ r.example|truncate(shown_length, true, '…', 0) }}</span>
<details><summary>who</summary><small>{{ r.students[:shown_students]|join(", ") }}{% if r.students|length > shown_students %} and {{ r.students|length - shown_students }} more{% endif %}</small></details>
{%- if loop.index == 2 and t.reasons|length > 2 %}<br><small class="note">and {{ t.reasons|length - 2 }} other reason{{ 's' if t.reasons|length > 3 }}</small>{% endif %}</td>{% endfor %}
{% if t.reasons|length < 2 %}<td></td>{% endif %}
{% if flagged %}<td class="pts">{{ t.withheld or '' }}</td>{% endif %}</tr>
{% endfor %}
</table>
{% else %}<p class="full"><strong>No student failed any hidden test.</strong></p>{% endif %}
{% if passed_tests %}
<details><summary>Nobody failed: {{ passed_tests|length }} test{{ 's' if passed_tests|length != 1 }}</summary>
<ul class="compact">{% for t in passed_tests %}<li><small class="id">{{ t.name }}</small></li>{% endfor %}</ul></details>
{% endif %}
{% endif %}
</body>
</html>
"""


def _num(value) -> str:
    """A score as people write it: 12, not 12.0; 2.5 stays 2.5."""
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


_environment = Environment(autoescape=True)
_environment.filters["num"] = _num
_template = _environment.from_string(TEMPLATE)


def render_class_report(raw_summaries, folder: str = "") -> str:
    """The page for these results.json contents."""
    summaries = sorted((s for s in map(clean_summary, raw_summaries) if s), key=lambda s: s["student"])
    titles = part_titles(summaries)
    tests = tally_tests(summaries)
    # Most failed first; sorted() is stable, so ties keep the suite's order.
    failed = sorted((t for t in tests if t["failed"]), key=lambda t: (-t["failed"], -t["share"]))
    return _template.render(
        folder=folder,
        written=datetime.datetime.now().isoformat(sep=" ", timespec="minutes"),
        summaries=summaries,
        graded=[s for s in summaries if not s["problem"]],
        unusable=[s for s in summaries if s["problem"]],
        flagged=[s for s in summaries if s["flagged"]],
        pending=[s for s in summaries if s["pending"]],
        notebook_problems=[s for s in summaries if s["notebook_problem"]],
        distributed=sum(1 for s in summaries if not s["problem"] and not s["pending"]),
        parts=part_rows(summaries, titles) if summaries else [],
        titles=titles,
        failed_tests=failed,
        passed_tests=[t for t in tests if not t["failed"]],
        harness=[t for t in tests if any(r["kind"] == HARNESS for r in t["reasons"])],
        harness_kind=HARNESS,
        most=MOST,
        many=MANY,
        shown_length=SHOWN_LENGTH,
        shown_students=SHOWN_STUDENTS,
    )  # fmt: skip


def write_class_report(out: Path) -> Path:
    """
    ``<out>/class.html`` from every ``<out>/*/results.json``, replaced in one
    step; returns its path. Kept as it is while no results.json (and not this
    module) changed: its histograms take a second to draw.
    """
    out = Path(out)
    path, key_file = out / REPORT_FILE, out / REPORT_KEY_FILE
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for results in sorted(out.glob("*/results.json")):
        digest.update(results.parent.name.encode() + b"\0" + hashlib.sha256(results.read_bytes()).digest())
    key = digest.hexdigest()
    try:
        if path.exists() and key_file.read_text() == key:
            return path
    except OSError:
        pass
    write_atomically(path, render_class_report(read_summaries(out), folder=str(out)))
    write_atomically(key_file, key)
    return path


REPORT_KEY_FILE = ".class-report.key"  # in the grading folder: the results the page was made from


def write_class_files(out: Path):
    """gradebook.csv (course.records) and class.html, both rebuilt from every results.json in ``out``."""
    write_gradebook(out)
    write_class_report(out)
