"""
The student's feedback page: a summary first (points per part, what to fix,
each reason once with the checks it cost), then every check.

Built only from results.json (test descriptions and the harness's messages),
so it can never show the hidden tests' source.
"""
import re
from pathlib import Path

from jinja2 import Environment
from markupsafe import Markup

from course.records.folder import bounded, late_note, read_summary, shown_scores, write_atomically, write_results

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Feedback for {{ r.student }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 50rem; margin: 1.5rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
td.pts, th.pts { white-space: nowrap; text-align: right; }
.full { color: #1b7f3b; } .lost { color: #b00020; font-weight: bold; }
.why { font-family: ui-monospace, monospace; font-size: .9em; color: #7a1f1f; white-space: pre-wrap; overflow-wrap: anywhere; }
.banner { background: #fdecea; padding: .75rem 1rem; border-radius: .3rem; }
.comment { white-space: pre-wrap; color: #333; }
.reason { border-left: 4px solid #b00020; padding: .25rem .75rem; margin: .75rem 0; }
.reason ul { margin: .25rem 0; padding-left: 1.2rem; }
details { margin: .5rem 0; } summary { cursor: pointer; font-weight: bold; padding: .3rem 0; }
small.id { color: #666; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
</style>
</head>
<body>
<h1>Feedback for {{ r.student }}</h1>
{% for problem in problems %}<p class="banner"><strong>{{ problem }}</strong></p>{% endfor %}
{% if r.review %}<div class="banner"><p><strong>{% if r.review.decision == "cleared" %}Reviewed by the course staff: the points are yours.
{%- elif r.review.decision == "upheld" %}Reviewed by the course staff: the points stay withheld.
{%- else %}Your code is waiting for a review by the course staff.{% endif %}</strong>
The grader found code that could reach around it:</p>
<ul>{% for f in r.flags %}<li><code>{{ f.message }}</code></li>{% endfor %}</ul>
{% if withheld.count %}<p>{{ withheld.points }} point{{ 's' if withheld.points != 1 }} of {{ withheld.count }} passed check{{ 's' if withheld.count != 1 }}
{{ 'are' if withheld.points != 1 else 'is' }} withheld pending this review (not lost).</p>{% endif %}
{% if r.review.decision == "pending" %}<p>The points of the checks it passed are withheld until then. Code that solves the
homework never needs this; if yours does it for a good reason, tell the staff.</p>{% endif %}</div>{% endif %}

{% if r.left_out %}{% set left_out_count = r.left_out_count or r.left_out|length %}<p><strong>Not graded:</strong> the grader runs only the homework's own modules of <code>hw/</code>,
so it left out {{ left_out_count }} other file{{ 's' if left_out_count != 1 }} of yours:
{% for f in r.left_out[:20] %}<code>{{ f }}</code>{{ ", " if not loop.last }}{% endfor %}{% if left_out_count > 20 %} and {{ left_out_count - 20 }} more{% endif %}.
Code your modules need must be in them (<code>python -m hw.check</code> says so before you hand in).</p>{% endif %}
{% if r.skipped %}{% set skipped_count = r.skipped_count or r.skipped|length %}<p><strong>Not read:</strong> the grader reads
only <code>hw/</code> and the notebooks, so it skipped {% for f in r.skipped[:20] %}<code>{{ f }}</code>{{ ", " if not loop.last }}{% endfor %}{% if skipped_count > 20 %} and {{ skipped_count - 20 }} more{% endif %}.
Nothing was lost; <code>python -m hw.check</code> writes a zip without them.</p>{% endif %}

<h2>Summary</h2>
{% if late %}<p{% if r.late_seconds %} class="lost"{% endif %}><strong>Handed in:</strong> {{ r.submitted_at.replace("T", " ") }}
(from {{ r.submitted_from }}){% if r.due %}, due {{ r.due.replace("T", " ") }}{% endif %}: {{ late }}.</p>{% endif %}
<table>
<tr><th>Part</th><th class="pts">Points</th></tr>
{% for name, part in r.parts.items() %}{% set score = shown[name] %}
<tr><td>{{ titles.get(name, name) }}{% if name in (r.overrides or {}) %}<br><small>set by the course staff (the hidden tests gave {{ r.overrides[name].suite }})</small>{% endif %}</td>
<td class="pts {{ 'full' if score == part.max_score else 'lost' }}">{{ score }} / {{ part.max_score }}</td></tr>
{% endfor %}
<tr><th>Hidden tests in all</th><th class="pts">{{ shown.values()|sum }} / {{ r.max_score }}</th></tr>
</table>
{% if written %}
<h2>Written answers</h2>
<table>
<tr><th>Question</th><th class="pts">Points</th></tr>
{% for w in written %}
<tr><td><code>{{ w.name }}</code>{% if w.comment %}<br><span class="comment">{{ w.comment }}</span>{% endif %}</td>
<td class="pts">{% if w.graded %}{{ w.score|num }} / {{ w.max_score|num }}{% else %}not graded yet{% endif %}</td></tr>
{% endfor %}
<tr><th>Written answers in all</th><th class="pts">{{ written|sum(attribute="score")|num }} / {{ written|sum(attribute="max_score")|num }}{% if written|rejectattr("graded")|list %} (so far){% endif %}</th></tr>
</table>
<h2>Your grade</h2>
<table>
<tr><td>Hidden tests</td><td class="pts">{{ shown.values()|sum|num }}</td></tr>
<tr><td>Written answers{% if written|rejectattr("graded")|list %} graded so far{% endif %}</td><td class="pts">{{ written|sum(attribute="score")|num }}</td></tr>
{% if penalty %}<tr><td>Late penalty</td><td class="pts">&minus;{{ penalty|num }}</td></tr>{% endif %}
<tr><th>In all</th><th class="pts">{{ (shown.values()|sum + written|sum(attribute="score") - penalty)|num }} / {{ (r.max_score + written|sum(attribute="max_score"))|num }}{% if written|rejectattr("graded")|list %} (so far){% endif %}</th></tr>
</table>
{% elif missing_answers %}<p>Written answers are graded separately by the course staff, from the text your <code>hw/answers.py</code>
returns. {{ missing_answers|length }} of {{ r.answers|length }} did not reach them:</p>
<ul>{% for name, why in missing_answers.items() %}<li><code>{{ name }}</code>: {{ why|code_spans }}</li>{% endfor %}</ul>
{% elif r.answers %}<p>Written answers are graded separately by the course staff.</p>{% endif %}
{% if r.stand_in_notebooks %}<p>Notebooks: {% for name, why in r.stand_in_notebooks.items() %}<code>{{ name }}</code> {{ why }}{{ "; " if not loop.last else "." }}{% endfor %}
Nothing is lost: the staff read every written answer from your <code>hw/answers.py</code>, and the hidden tests grade
your <code>hw/</code> modules.</p>{% endif %}

{% if groups %}
<h2>What to fix</h2>
{% for g in groups %}
<div class="reason">
<p class="why">{{ g.message }}</p>
{% if g.messages|length > 1 %}<p>(one of {{ g.messages|length }} messages that differ only in their numbers)</p>{% endif %}
<p>{{ g.lost }} point{{ 's' if g.lost != 1 }} lost in {{ g.count }} check{{ 's' if g.count != 1 }}{% if g.descriptions|length <= 6 %}:{% endif %}</p>
{% if g.descriptions|length <= 6 %}<ul>{% for d in g.descriptions %}<li>{{ d }}</li>{% endfor %}</ul>
{% else %}<details><summary>show the {{ g.descriptions|length }} kinds of check</summary><ul>{% for d in g.descriptions %}<li>{{ d }}</li>{% endfor %}</ul></details>{% endif %}
</div>
{% endfor %}
{% elif not problems %}<p class="full"><strong>Every check passed.</strong></p>{% endif %}

<h2>Every check</h2>
{% for name, part in r.parts.items() %}
<details{% if part.score != part.max_score and not problems %} open{% endif %}>
<summary>{{ titles.get(name, name) }}: {{ part.score }} / {{ part.max_score }}</summary>
<table>
<tr><th>Check</th><th class="pts">Points</th></tr>
{% for t in r.tests if t.part == name %}
<tr><td>{{ t.description }}{% if not t.passed and not r.problem %}<br><span class="why">{{ t.message }}</span>{% endif %}<br><small class="id">{{ t.name }}</small></td>
<td class="pts {{ 'full' if t.passed else 'lost' }}">{{ t.points }} / {{ t.max_points }}</td></tr>
{% endfor %}
</table>
</details>
{% endfor %}
</body>
</html>
"""

def code_spans(text) -> Markup:
    """The text, escaped, with its `backticked` names as code (the grader's messages quote code that way)."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: nothing is code
        return Markup.escape(text)
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else Markup.escape(p) for i, p in enumerate(parts))


_environment = Environment(autoescape=True)
_environment.filters["code_spans"] = code_spans
_environment.filters["num"] = lambda value: f"{float(value):g}"
_template = _environment.from_string(TEMPLATE)


NUMBER = re.compile(r"-?\d+(\.\d+)?(e[-+]?\d+)?")


def failure_groups(tests):
    """
    Failed tests grouped by their reason, most points lost first: each reason
    once (its first message; messages that differ only in their numbers, such
    as shapes or sizes, are one reason), with the checks it covers.
    """
    groups = {}
    for t in tests:
        if t["passed"] or t.get("withheld"):  # a withheld check passed: its points wait for the review, not for a fix
            continue
        reason = NUMBER.sub("#", t["message"])
        group = groups.setdefault(reason, {"message": t["message"], "lost": 0, "count": 0, "descriptions": [], "messages": set()})
        group["lost"] += t["max_points"] - t["points"]
        group["count"] += 1
        group["messages"].add(t["message"])
        description = t.get("description") or t["name"]
        if description not in group["descriptions"]:
            group["descriptions"].append(description)
    return sorted(groups.values(), key=lambda g: -g["lost"])


def problems_of(results: dict):
    """The sentences at the top of the page: why the submission, or its notebooks, could not be graded."""
    problems = []
    if results.get("problem"):
        problems.append(f"Your submission could not be graded: {results['problem']}")
    if results.get("notebook_problem"):
        problems.append(f"Not every notebook could be graded: {results['notebook_problem']}")
    return problems


# How the grader says that an answer function gave no text (autograder/probes.py, written_answers).
NO_ANSWER = re.compile(r"\*(Not answered: .*|No answer: .*|hw/answers\.py has no function .*|The answers could not be read: .*|`\w+\(\)` returned .*)\*", re.S)


def missing_answers(results: dict) -> dict:
    """The written answers that gave no text, each with why."""
    missing = {}
    for name, text in (results.get("answers") or {}).items():
        match = NO_ANSWER.fullmatch(text)
        if match:
            missing[name] = bounded(match.group(1))  # it may quote what the student's function returned
    return missing


def render_feedback(results: dict, written=None, penalty: float = 0) -> str:
    """
    The page; ``written``: the staff's grades of the written answers (course
    feedback reads them from gradebook.db: [{name, score, max_score, graded,
    comment}]), shown once they are given back, with the grade in all (hidden
    tests and written answers, less ``penalty``, nbgrader's late penalty).
    """
    problems = problems_of(results)
    # One reason for every test (the submission did not import, the budget ran out) is said once, in the banner.
    groups = [] if results.get("problem") else failure_groups(results["tests"])
    pending = (results.get("review") or {}).get("decision") == "pending"
    held = [t for t in results["tests"] if t.get("withheld") and not t["passed"]] if pending else []
    withheld = {"count": len(held), "points": sum(t["max_points"] for t in held)}
    return _template.render(r=results, groups=groups, problems=problems, titles=results.get("part_titles", {}),
                            missing_answers=missing_answers(results), withheld=withheld, late=late_note(results),
                            shown=shown_scores(results), written=written or [], penalty=penalty or 0)  # fmt: skip


def write_feedback(out: Path, summary: dict):
    """``<out>/<student>/feedback.html``, from the student's results."""
    write_atomically(Path(out) / summary["student"] / "feedback.html", render_feedback(summary))


def write_student(out: Path, summary: dict):
    """A student's record (results.json, course.records) and then the page made from it."""
    write_results(out, summary)
    write_feedback(out, summary)


def rewrite_feedback(out: Path, students):
    """The feedback pages of ``students`` again, from their results.json (after a review or a TA's scores)."""
    for student in students:
        summary = read_summary(out, student)
        if summary is not None:
            write_feedback(out, summary)
