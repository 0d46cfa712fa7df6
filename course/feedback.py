"""
The student's feedback page: points per test and, for each failed test, why.

Built only from results.json (test descriptions and the harness's messages),
so it can never show the hidden tests' source.
"""
from pathlib import Path

from jinja2 import Environment

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Feedback for {{ r.student }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
td.pts { white-space: nowrap; text-align: right; }
tr.fail td.pts { color: #b00020; font-weight: bold; }
tr.pass td.pts { color: #1b7f3b; }
code, .why { font-family: ui-monospace, monospace; font-size: .9em; }
.why { color: #7a1f1f; white-space: pre-wrap; }
.problem { background: #fdecea; padding: .75rem 1rem; border-radius: .3rem; }
</style>
</head>
<body>
<h1>Feedback for {{ r.student }}</h1>
<p><strong>Autograded score: {{ r.score }} / {{ r.max_score }}</strong>
{%- for name, part in r.parts.items() %} &middot; {{ name }}: {{ part.score }} / {{ part.max_score }}{% endfor %}</p>
<p>Written answers are graded separately by the course staff.</p>
{% if r.problem %}<p class="problem">Your submission could not be graded: {{ r.problem }}</p>{% endif %}
{% if r.review %}<div class="problem"><p><strong>{% if r.review.decision == "cleared" %}Reviewed by the course staff: the points are yours.
{%- elif r.review.decision == "upheld" %}Reviewed by the course staff: the points stay withheld.
{%- else %}Your code is waiting for a review by the course staff.{% endif %}</strong>
The grader found code that could reach around it:</p>
<ul>{% for f in r.flags %}<li><code>{{ f.message }}</code></li>{% endfor %}</ul>
{% if r.review.decision == "pending" %}<p>The points of the checks it passed are withheld until then. Code that solves the
homework never needs this; if yours does it for a good reason, tell the staff.</p>{% endif %}</div>{% endif %}
{% for name, part in r.parts.items() %}
<h2>{{ name }}</h2>
<table>
<tr><th>Check</th><th>Result</th><th>Points</th></tr>
{% for t in r.tests if t.part == name %}
<tr class="{{ 'pass' if t.passed else 'fail' }}">
<td>{{ t.description }}<br><code>{{ t.name }}</code></td>
<td>{% if t.passed %}passed{% else %}<span class="why">{{ t.message }}</span>{% endif %}</td>
<td class="pts">{{ t.points }} / {{ t.max_points }}</td>
</tr>
{% endfor %}
</table>
{% endfor %}
</body>
</html>
"""

_template = Environment(autoescape=True).from_string(TEMPLATE)


def write_feedback(results: dict, path: Path):
    path.write_text(_template.render(r=results))
