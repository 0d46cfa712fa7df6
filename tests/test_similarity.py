"""`course similarity`: every pair of submissions compared with copydetect's fingerprints, the starter excluded."""
import ast
import html
import io
import py_compile
import random
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import find_fingerprint_overlap, get_copied_slices

from course import REPO_ROOT
from course.reports.similarity import (
    COPIES_LOWEST,
    INDEPENDENT_HIGHEST,
    K,
    SEPARATION_SLACK,
    STARTER,
    TEXT_FILES,
    _fingerprint_all,
    _overlap_matrix,
    compare,
    disguise,
    fingerprint,
    module_names,
    normalise,
    similarity_report,
    starter_hashes,
    write_report,
)

ASSETS = Path(__file__).parent / "assets" / "similarity"
SOLUTION = REPO_ROOT / "hw"
MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\n", re.M)
STARTER_NEAR_ZERO = 0.05


def edited_modules():
    """The modules a student edits: those in which the solution differs from the starter."""
    return [n for n in module_names(STARTER) if (SOLUTION / n).read_text() != (STARTER / n).read_text()]


def copy_hw(folder: Path, texts: dict) -> Path:
    """A submission folder: the starter's hw/, with ``texts`` ({module: text}) written over it."""
    shutil.copytree(STARTER, folder / "hw", ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in texts.items():
        (folder / "hw" / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def pair_of(pairs, a, b):
    (found,) = [p for p in pairs if {p.a, p.b} == {a, b}]
    return found


@pytest.fixture(scope="module")
def independent():
    """The instructor's solution and every independent student solution in tests/assets/similarity/."""
    folders = {"solution": REPO_ROOT}
    folders.update({f.name: f for f in sorted(ASSETS.iterdir()) if (f / "hw").is_dir()})
    assert len(folders) >= 2, f"no independent solution in {ASSETS}"
    return folders


def test_the_independent_solutions_are_not_the_instructors(independent):
    """A module taken from the solution (or left as the starter) would make a 'copy' of an independent pair."""
    for student, folder in independent.items():
        if student == "solution":
            continue
        modules = sorted(p.name for p in (folder / "hw").glob("*.py"))
        assert modules, f"{student}: no hw/*.py"
        for name in modules:
            text = (folder / "hw" / name).read_text()
            assert text != MARKERS.sub("", (SOLUTION / name).read_text()), f"{student}/hw/{name} is the solution's"
            assert text != (STARTER / name).read_text(), f"{student}/hw/{name} is the starter: leave it out"


@pytest.fixture(scope="module")
def disguised(tmp_path_factory):
    """The solution as a student who copies it might hand it in: names, order and layout changed."""
    copy = {name: disguise((SOLUTION / name).read_text(), seed=1) for name in edited_modules()}
    for name, text in copy.items():
        assert text != (SOLUTION / name).read_text()
    return copy_hw(tmp_path_factory.mktemp("disguised"), copy)


@pytest.fixture(scope="module")
def ranked(independent, disguised):
    """Every pair of the independent solutions and the disguised copy."""
    return compare({**independent, "copy": disguised})


def test_a_disguised_copy_ranks_above_every_pair_of_independent_solutions(ranked):
    pairs = ranked
    copied = pair_of(pairs, "solution", "copy")
    honest = [p for p in pairs if "copy" not in (p.a, p.b)]
    best = max(honest, key=lambda p: p.score)
    print(f"copy of the solution: {copied.score:.1%} (code {copied.code}, answers {copied.text}); "
          f"best independent pair: {best.a} and {best.b} {best.score:.1%}")  # fmt: skip
    assert pairs[0] is copied
    assert copied.score > best.score
    assert {m.name for m in copied.files} == set(edited_modules())  # every copied module shows


def test_the_starter_alone_scores_near_zero_against_every_solution(independent, disguised):
    pairs = compare({**independent, "copy": disguised, "starter": STARTER.parent})
    against = [p for p in pairs if "starter" in (p.a, p.b)]
    assert len(against) == len(independent) + 1
    print("starter against: " + ", ".join(f"{p.a if p.b == 'starter' else p.b} {p.score:.2%}" for p in against))
    for pair in against:
        assert pair.score < STARTER_NEAR_ZERO, pair


def test_written_answers_are_compared_as_text(ranked):
    """As code every answer is one string token: any two complete answers.py would look alike, a copied one not."""
    pairs = ranked
    assert min(pair_of(pairs, "solution", "copy").text) > 0.5
    for pair in pairs:
        if "copy" not in (pair.a, pair.b):
            assert max(pair.text) < 0.15, pair


def test_without_the_starter_excluded_the_starter_would_look_copied():
    """What the exclusion is for: the starter's scaffolding is most of every submission."""
    pairs = compare({"solution": REPO_ROOT, "starter": STARTER.parent}, starter=None, names=module_names(STARTER))
    assert pairs[0].score > 0.3


# -- The ranking is copydetect's ----------------------------------------------


def starter_tokens(fp, boilerplate):
    """Tokens of the filtered code under a k-gram of the starter, k-gram by k-gram."""
    under = np.zeros(len(fp.filtered_code), bool)
    for p in range(len(fp.filtered_code) - K + 1):
        if hash(fp.filtered_code[p : p + K]) in boilerplate:  # copydetect's k-gram hash
            under[p : p + K] = True
    return under


def check_against_copydetect(folders: dict, names, normalised=False):
    """
    _overlap_matrix, all pairs at once, counts copydetect's copied slices less
    the starter, for every ordered pair (of the normalised code, with ``normalised``).
    """
    boilerplate = starter_hashes(STARTER, normalised)
    subs = _fingerprint_all(folders, names, starter_hashes(STARTER), starter_hashes(STARTER, True), progress=False)
    for name in names:
        files = [(sub.normalised if normalised else sub.files).get(name) for sub in subs]
        overlap = _overlap_matrix(files)
        code = [(sub.folder / "hw" / name).read_text() if f else None for sub, f in zip(subs, files)]
        fps = [fingerprint(normalise(text) if normalised else text, name, boilerplate) if text is not None else None
               for text in code]  # fmt: skip
        starter = [starter_tokens(fp, boilerplate) if fp else None for fp in fps]
        for i, j in np.ndindex(len(subs), len(subs)):
            if i != j and fps[i] and fps[j]:
                copied, _ = find_fingerprint_overlap(fps[i].hashes, fps[j].hashes, fps[i].hash_idx, fps[j].hash_idx)
                under = np.zeros(len(fps[i].filtered_code), bool)
                for start, end in get_copied_slices(copied, K).T:
                    under[start:end] = True
                assert under.sum() == compare_files(fps[i], fps[j])[0]
                assert overlap[i, j] == np.count_nonzero(under & ~starter[i]), (name, subs[i].student, subs[j].student)
        for f, under in zip(files, starter):
            assert f is None or f.own == (np.count_nonzero(~under) if f.hashes.size else 0)


def test_the_ranking_counts_what_copydetect_counts(independent, disguised):
    check_against_copydetect({**independent, "copy": disguised, "starter": STARTER.parent}, edited_modules())


def test_the_ranking_of_the_normalised_code_counts_what_copydetect_counts(independent, copies):
    """The same for the normalised code, of a copy with junk after every statement, two solutions and the starter."""
    folders = {"solution": independent["solution"], "student_c": independent["student_c"],
               "copy": copies["junk after every statement (1)"], "starter": STARTER.parent}  # fmt: skip
    check_against_copydetect(folders, [n for n in edited_modules() if n not in TEXT_FILES], normalised=True)


SNIPPETS = [  # {0}: a variant
    "def f{0}(a, b):\n    total = a * {0} + b\n    for k in range(b):\n        total -= k % 3\n    return total\n",
    "class Box{0}:\n    def __init__(self, w):\n        self.w = w + {0}\n\n"
    "    def area(self):\n        return self.w ** 2\n",
    "def g{0}(xs):\n    return sorted(x for x in xs if x > {0}) + [len(xs), min(xs, default=0)]\n",
    "TABLE{0} = {{'a': {0}, 'b': [1, 2, 3], 'c': ('x', 'y')}}\n",
    "def h{0}(s):\n    out = []\n    while s:\n        out.append(s[:2])\n"
    "        s = s[2:]\n    return '-'.join(out)\n",
]


def test_the_ranking_counts_what_copydetect_counts_for_a_class_of_many(tmp_path):
    """Twelve students, more than one byte of bits per k-gram, sharing random parts in random orders."""
    rng = random.Random(3)
    folders = {}
    for s in range(12):
        parts = [SNIPPETS[i].format(v) for i in range(len(SNIPPETS)) for v in range(3) if rng.random() < 0.5]
        rng.shuffle(parts)
        folder = tmp_path / f"s{s}"
        (folder / "hw").mkdir(parents=True)
        (folder / "hw" / "layers.py").write_text("\n\n".join(parts))
        folders[folder.name] = folder
    check_against_copydetect(folders, ["layers.py"])


def test_repeated_passages_all_count_when_the_starter_is_excluded(tmp_path):
    """copydetect's own boilerplate removal keeps only the last occurrence of a repeated k-gram."""
    boilerplate = starter_hashes(STARTER)
    block = "    total = 0\n    for item in values:\n        total += item * item - 3\n    return total / len(values)\n"
    text = f"def first(values):\n{block}\n\ndef second(values):\n{block}"
    ours = fingerprint(text, "layers.py", boilerplate)
    theirs = CodeFingerprint("layers.py", K, 1, boilerplate=np.array(sorted(boilerplate)), fp=io.StringIO(text))
    assert max(len(v) for v in ours.hash_idx.values()) == 2
    assert ours.token_coverage > theirs.token_coverage


def test_a_side_with_no_code_of_its_own_is_no_division_by_zero(tmp_path):
    """The starter's functions swapped: k-grams the starter lacks, every token of them the starter's."""
    first = "def first(values, scale):\n    total = 0\n    for item in values:\n        total += item * scale - 1\n"
    second = "def second(values):\n    total = sum(values) + len(values) * 3\n    return total * 2\n"
    folders = {}
    for name, text in [("starter", f"{first}\n{second}"), ("swapped", f"{second}\n{first}"),
                       ("other", f"def other(total):\n    return total * 2\n{first}")]:  # fmt: skip
        (tmp_path / name / "hw").mkdir(parents=True)
        (tmp_path / name / "hw" / "layers.py").write_text(text)
        folders[name] = tmp_path / name
    (pair,) = compare({n: folders[n] for n in ("other", "swapped")}, starter=folders["starter"] / "hw")
    (match,) = pair.files
    assert match.tokens_a > 0 and match.tokens_b == 0 and match.fraction_b == 0
    assert 0 < pair.score < 0.5


# -- The disguise is a real one -------------------------------------------------

TOY = '''
import math

SCALE = 3


def area(radius, *, exact=False):
    squared = radius * radius
    return math.pi * squared if exact else 3 * squared


def perimeter(radius):
    return 2 * math.pi * radius


def volume(radius):
    factor = 4 / 3
    return factor * math.pi * radius ** 3


class Shape:
    sides = 0

    def __init__(self, size):
        self.size = size

    def scaled(self, by):
        result = Shape(self.size * by)
        return result

    def describe(self):
        parts = [f"{self.sides} sides", f"size {self.size}"]
        return ", ".join(parts)


class Square(Shape):
    sides = 4

    def area(self):
        side = self.size
        return side * side


def total(shapes):
    acc = 0
    for shape in shapes:
        acc += shape.size * SCALE
    return acc
'''


@pytest.mark.parametrize("options", [{}, {"junk": True}, {"comments": True}, {"junk": True, "comments": True}],
                         ids=["plain", "junk", "comments", "junk and comments"])  # fmt: skip
def test_the_disguise_renames_and_reorders_but_keeps_the_program(options):
    copy = disguise(TOY, seed=0, **options)
    assert disguise(TOY, seed=0, **options) == copy
    statements = [len([n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.stmt)]) for code in (TOY, copy)]
    if options.get("junk"):
        assert statements[1] >= 2 * statements[0]  # one after every statement
    else:
        assert statements[1] == statements[0]
    assert (copy.count("#") >= 10) == bool(options.get("comments"))
    for local in ("squared", "factor", "result", "parts", "side", "acc", "shape", "radius"):
        assert not re.search(rf"\b{local}\b", copy), local
    order = re.findall(r"^(?:def|class) (\w+)", copy, re.M)
    assert sorted(order) == sorted(re.findall(r"^(?:def|class) (\w+)", TOY, re.M))
    assert order != re.findall(r"^(?:def|class) (\w+)", TOY, re.M)
    assert order.index("Square") > order.index("Shape")  # a base class still comes first
    original, disguised_ = {}, {}
    exec(compile(TOY, "toy", "exec"), original)
    exec(compile(copy, "toy", "exec"), disguised_)
    for module in (original, disguised_):
        shapes = [module["Square"](2), module["Shape"](5).scaled(2)]
        module["answers"] = (module["area"](2), module["volume"](1), module["total"](shapes),
                             shapes[0].area(), shapes[1].describe())  # fmt: skip
    assert original["answers"] == disguised_["answers"]


# -- Seeing through disguise ----------------------------------------------------

DISGUISES = {  # the ways a copy of the solution is disguised, each with disguise()'s options
    "renamed and reordered": {},
    "commented": {"comments": True},
    "junk after every statement": {"junk": True},
    "junk and comments": {"junk": True, "comments": True},
}
SEEDS = (1, 2)
COPY_AT_LEAST = 0.9  # the requirement: every disguised copy scores this much with the solution, or more
INDEPENDENT_AT_MOST = 0.6  # ... and independent solutions this much, or less, with each other


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """The solution disguised each way, with each seed: {name: folder}."""
    root = tmp_path_factory.mktemp("copies")
    folders = {}
    for number, (kind, options) in enumerate(DISGUISES.items()):
        for seed in SEEDS:
            texts = {name: disguise((SOLUTION / name).read_text(), seed, **options) for name in edited_modules()}
            folders[f"{kind} ({seed})"] = copy_hw(root / f"copy{number}-{seed}", texts)
    return folders


@pytest.fixture(scope="module")
def everyone(independent, copies):
    """Every pair of the independent solutions and the disguised copies."""
    return compare({**independent, **copies})


def test_every_disguised_copy_scores_at_least_90_percent_with_the_solution(everyone, copies):
    for name in copies:
        pair = pair_of(everyone, "solution", name)
        print(f"{name}: {pair.score:.1%} (as written {np.mean(pair.written):.1%}, "
              f"normalised {np.mean(pair.normalised):.1%}, answers {np.mean(pair.text):.1%})")  # fmt: skip
        assert pair.score >= COPY_AT_LEAST, (name, pair)
        assert np.mean(pair.code) >= COPY_AT_LEAST, (name, pair)  # the code, not only the copied answers
        if "junk" in name:  # what the normalised code is for: junk breaks the passages of the code as written
            assert np.mean(pair.written) < 0.5 and pair.view == "normalised", (name, pair)
            assert all(m.normalised for m in pair.files if m.name not in TEXT_FILES)


def test_independent_solutions_score_at_most_60_percent(everyone, independent):
    assert len(independent) >= 5, "the instructor's, trial, student_b and at least two more"
    honest = [p for p in everyone if p.a in independent and p.b in independent]
    assert len(honest) == len(independent) * (len(independent) - 1) // 2
    for pair in sorted(honest, key=lambda p: -p.score):
        print(f"{pair.a} and {pair.b}: {pair.score:.1%} (as written {np.mean(pair.written):.1%}, "
              f"normalised {np.mean(pair.normalised):.1%})")  # fmt: skip
        assert pair.score <= INDEPENDENT_AT_MOST, pair


def test_the_separation_the_report_states_is_the_one_measured(everyone, independent, copies, tmp_path):
    """COPIES_LOWEST and INDEPENDENT_HIGHEST hold on the assets, and are no more than SEPARATION_SLACK loose."""
    lowest = min(pair_of(everyone, "solution", name).score for name in copies)
    highest = max(p.score for p in everyone if p.a in independent and p.b in independent)
    print(f"disguised copies: {lowest:.1%} at least; independent solutions: {highest:.1%} at most")
    assert lowest >= COPIES_LOWEST >= lowest - SEPARATION_SLACK, f"set COPIES_LOWEST to {lowest:.2f}"
    assert highest <= INDEPENDENT_HIGHEST <= highest + SEPARATION_SLACK, f"set INDEPENDENT_HIGHEST to {highest:.2f}"
    folders = {**independent, **copies}
    page = write_report(everyone, tmp_path / "similarity.html", folders, top=0, threshold=2).read_text(encoding="utf-8")
    (separation,) = re.findall(r'<p class="note separation">(.*?)</p>', page, re.S)
    lowest_, highest_ = (f"{x:.0%}".replace("%", " %") for x in (COPIES_LOWEST, INDEPENDENT_HIGHEST))
    assert f"score at least {lowest_} with it, independent solutions" in separation
    assert f"at most {highest_} with each other" in separation
    above = sum(p.score >= COPIES_LOWEST for p in everyone)
    below = sum(p.score <= INDEPENDENT_HIGHEST for p in everyone)
    assert above >= len(copies) and below >= len(independent) * (len(independent) - 1) // 2
    assert f"{above} pairs score at least {lowest_}" in separation and f"and {below} score at most" in separation


@pytest.mark.parametrize("name", ["layers.py", "optimizers.py", "training.py", "cnn.py", "classifier.py"])
@pytest.mark.parametrize("kind", list(DISGUISES))
def test_a_disguised_module_normalises_to_the_original(name, kind):
    original = (SOLUTION / name).read_text()
    assert normalise(disguise(original, seed=5, **DISGUISES[kind])) == normalise(original)


NORMALISED = """
import math

LIMIT = 3


def spread(values, scale):
    total = 0
    for value in values:
        total = total + value * scale
    return total / max(len(values), 1)


class Meter:
    unit = "m"

    def __init__(self, size):
        self.size = size

    def describe(self, digits=2):
        return f"{round(self.size, digits)} {self.unit} of {LIMIT}"
"""
# Statements without effect, each put after every statement of spread() (``scale`` and ``total`` are its names).
NO_OPS = {
    "pass": "pass",
    "a constant": "0",
    "an ellipsis": "...",
    "a string (a docstring)": "'the sum, scaled'",
    "a name": "scale",
    "an expression that calls nothing": "(scale + 1, [scale])",
    "a self-assignment": "scale = scale",
    "an unused assignment": "unused = 42",
    "an unused assignment of a pure built-in": "unused = isinstance(scale, int)",
    "an unused augmented assignment": "unused = 0\nunused += 1",
    "a chain of unused assignments": "first = 1\nsecond = first * 2",
    "an annotated unused assignment": "unused: int = 4",
    "an if False block": "if False:\n    print('never')",
    "an if 0 block with an else": "if 0:\n    print('never')\nelse:\n    pass",
    "a while False loop": "while False:\n    scale = 1",
    "an assert of a true constant": "assert True",
    "a print of nothing": "print(end='')",
    "a print (output, not computation)": "print('step', scale)",
}
# Statements with an effect: the normalised code keeps them.
EFFECTS = {
    "a call": "math.sqrt(scale)",
    "an assignment of a call, unused": "unused = math.sqrt(scale)",
    "a store into an object": "values.count = scale",
    "an assignment that is read": "scale = scale * 2",
    "an arithmetic identity": "scale = scale + 0",
    "an if True block": "if True:\n    values.sort()",
}


def after_every_statement(code: str, function: str, extra: str) -> str:
    """``extra`` (a statement or several) after every statement of ``function``'s body, nested blocks included."""
    lines, out, inside = code.splitlines(), [], False
    for number, line in enumerate(lines):
        out.append(line)
        if line.startswith(f"def {function}("):
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            inside = False
        if inside and line.strip() and not line.rstrip().endswith(":"):
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + part for part in extra.splitlines()]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("statement", list(NO_OPS.values()), ids=list(NO_OPS))
def test_statements_without_effect_are_normalised_away(statement):
    junk = after_every_statement(NORMALISED, "spread", statement)
    assert junk.count(statement.splitlines()[0]) >= 3
    assert normalise(junk) == normalise(NORMALISED)


@pytest.mark.parametrize("statement", list(EFFECTS.values()), ids=list(EFFECTS))
def test_statements_with_an_effect_stay(statement):
    assert normalise(after_every_statement(NORMALISED, "spread", statement)) != normalise(NORMALISED)


def test_calls_of_identity_helpers_are_normalised_away():
    """Values wrapped in helpers that return their argument (a function, a named lambda) are the values themselves."""
    helpers = 'def same(x):\n    """Keeps x."""\n    return x\n\n\nkeep = lambda y, unused=0: y\n'
    wrapped = NORMALISED.replace("total = total + value * scale", "total = keep(same(total) + same(value) * keep(scale))")
    wrapped = helpers + wrapped.replace("return total / max(len(values), 1)", "return same(total) / max(len(same(values)), 1)")
    assert wrapped.count("same(") >= 5
    assert normalise(wrapped) == normalise(NORMALISED)
    doing_something = "def twice(x):\n    return x * 2\n" + NORMALISED.replace("value * scale", "twice(value) * scale")
    assert normalise(doing_something) != normalise(NORMALISED)


def test_the_normalised_code_has_no_names_docstrings_or_order_of_its_own():
    renamed = NORMALISED.replace("values", "xs").replace("value", "x").replace("total", "acc").replace("digits", "n")
    reordered = renamed.replace("import math\n", "")
    reordered = reordered.replace("\nLIMIT = 3\n", '"""A module."""\nimport math\nLIMIT = 3\n')
    spread = reordered[reordered.index("def spread") : reordered.index("class Meter")]
    reordered = reordered.replace(spread, "") + "\n\n" + spread  # spread() after the class
    assert "values" not in reordered and reordered.index("class Meter") < reordered.index("def spread")
    assert normalise(reordered) == normalise(NORMALISED)
    normalised = normalise(NORMALISED)
    assert re.search(r"def spread\(v0, v1\):", normalised) and "self" not in normalised
    assert normalised.index("import math") < normalised.index("LIMIT = 3") < normalised.index("class Meter")


# -- A submission without source is a problem, not 0 % ----------------------------


def test_a_submission_without_source_is_a_problem_not_0_percent(tmp_path):
    """Compiled modules only, one compiled module, and a module that is not Python: each a problem, none 0 %."""
    alice = copy_hw(tmp_path / "alice", {n: (SOLUTION / n).read_text() for n in edited_modules()})
    bob = copy_hw(tmp_path / "bob", {n: disguise((SOLUTION / n).read_text(), 3) for n in edited_modules()})
    for name in module_names(STARTER):  # bob hands in what Python compiled, no source
        compiled = bob / "hw" / "__pycache__" / f"{name[:-3]}.cpython-311.pyc"
        py_compile.compile(str(bob / "hw" / name), cfile=str(compiled))
        (bob / "hw" / name).unlink()
    carol = copy_hw(tmp_path / "carol", {n: disguise((SOLUTION / n).read_text(), 4) for n in edited_modules()})
    py_compile.compile(str(carol / "hw" / "layers.py"), cfile=str(carol / "hw" / "layers.pyc"))
    (carol / "hw" / "layers.py").unlink()  # carol's layers.py: compiled only
    dave = copy_hw(tmp_path / "dave", {n: disguise((SOLUTION / n).read_text(), 5) for n in edited_modules()})
    (dave / "hw" / "cnn.py").write_text((dave / "hw" / "cnn.py").read_text() + "\ndef broken(:\n    pass\n")
    problems = []
    pairs = compare({"alice": alice, "bob": bob, "carol": carol, "dave": dave}, problems=problems)
    print("\n".join(problems))
    assert {s for p in pairs for s in (p.a, p.b)} == {"alice", "carol", "dave"}  # bob: nothing to compare
    assert any(line.startswith("bob: left out of the ranking: no source") for line in problems)
    assert any(line.startswith("bob: hw/layers.py is missing, only its compiled code "
                               "(hw/__pycache__/layers.cpython-311.pyc)") for line in problems)  # fmt: skip
    assert any(line.startswith("carol: hw/layers.py is missing, only its compiled code (hw/layers.pyc)")
               for line in problems)  # fmt: skip
    assert any(line.startswith("dave: hw/cnn.py is not valid Python (line ") and "compared as written only" in line
               for line in problems)  # fmt: skip
    carols, daves = pair_of(pairs, "alice", "carol"), pair_of(pairs, "alice", "dave")
    assert carols.notes == ("carol's hw/layers.py: only compiled, compared without it",)
    (note,) = daves.notes
    assert note.startswith("dave's hw/cnn.py: not valid Python (line ") and note.endswith("compared as written only")
    # What they have is still compared: all of carol's code is alice's, but alice's layers.py, which carol's compiled
    # layers.pyc may copy, counts as not shared; dave's cnn.py is compared as written, where its copy shows.
    assert carols.code[1] >= COPY_AT_LEAST and carols.code[0] < COPY_AT_LEAST
    # dave's code as written, cnn.py included, holds 90 % of alice's own code; without cnn.py (the normalised
    # comparison, which cannot read it) alice's side would be about 80 %.
    assert daves.score > 0.8 and daves.written[0] > 0.9 > daves.normalised[0]
    page = write_report(pairs, tmp_path / "similarity.html", {"alice": alice, "carol": carol, "dave": dave},
                        problems=problems).read_text(encoding="utf-8")  # fmt: skip
    for line in problems + list(carols.notes + daves.notes):
        assert html.escape(line) in page


def test_a_folder_of_compiled_code_through_the_command_is_a_problem(tmp_path):
    """Through ``course similarity``: the staged copy keeps hw/*.pyc (not __pycache__/), and the problem is listed."""
    cls = tmp_path / "class"
    shutil.copytree(SOLUTION, cls / "alice" / "hw", ignore=shutil.ignore_patterns("__pycache__"))
    erin = copy_hw(cls / "erin", {})
    for name in module_names(STARTER):
        py_compile.compile(str(erin / "hw" / name), cfile=str(erin / "hw" / f"{name}c"))
        (erin / "hw" / name).unlink()
    copy_hw(cls / "frank", {n: disguise((SOLUTION / n).read_text(), 6, junk=True) for n in edited_modules()})
    said = []
    pairs = similarity_report([cls], tmp_path / "grades" / "similarity.html", report=said.append)
    page = (tmp_path / "grades" / "similarity.html").read_text()
    assert [(p.a, p.b) for p in pairs] == [("alice", "frank")] and pairs[0].score >= COPY_AT_LEAST
    assert any(line.startswith("erin: left out of the ranking") for line in said)
    assert any(line.startswith("erin: hw/layers.py is missing, only its compiled code (hw/layers.pyc)")
               for line in said)  # fmt: skip
    for line in said:
        assert html.escape(line) in page
    assert "<td>erin</td>" not in page  # listed as a problem, not ranked at 0 %


# -- The report -----------------------------------------------------------------

SHARED_CLASS = '''

class Mirror(Layer):
    """A layer the two wrote together."""

    def forward(self, x, **kw):
        banner = "</script><b>"
        self.grad_cache["x"] = x
        flipped = torch.flip(x, dims=(-1,)) * 2 + len(banner)
        return flipped.clamp(min=0)

    def backward(self, dout):
        x = self.grad_cache["x"]
        return torch.flip(dout * (x > 0), dims=(-1,)) * 2
'''


@pytest.fixture(scope="module")
def report(tmp_path_factory, disguised):
    """Two students who share a new class (and a string that would end a script), the solution and its copy."""
    root = tmp_path_factory.mktemp("report")
    layers = (STARTER / "layers.py").read_text() + SHARED_CLASS
    folders = {
        "solution": REPO_ROOT,
        "copy": disguised,
        "mallory": copy_hw(root / "mallory", {"layers.py": layers}),
        "<i>eve</i>": copy_hw(root / "eve", {"layers.py": "# mine\n" + layers}),
    }
    problems = ["<i>eve</i>: a problem <b>noted</b>"]
    pairs = compare(folders, problems=problems)
    out = write_report(pairs, root / "grades" / "similarity.html", folders, problems=problems, top=2)
    return pairs, out.read_text(encoding="utf-8")


def test_the_report_ranks_the_pairs(report):
    pairs, page = report
    table = page[page.index("<table>"): page.index("</table>")]
    rows = re.findall(r"<tr[^>]*><td>.*?</td><td>(.*?)</td><td>(.*?)</td><td class=num>(\d+) %</td>", table)
    assert len(rows) == len(pairs) == 6
    assert [(html.unescape(a), html.unescape(b)) for a, b, _ in rows] == [(p.a, p.b) for p in pairs]
    assert [int(score) for _, _, score in rows] == sorted((int(s) for _, _, s in rows), reverse=True)
    assert {pairs[0].a, pairs[0].b} in ({"mallory", "<i>eve</i>"}, {"solution", "copy"})


def test_the_report_escapes_code_names_and_problems(report):
    _, page = report
    assert "</script><b>" not in page
    assert "&lt;/script&gt;&lt;b&gt;" in page
    assert "<i>eve</i>" not in page and "&lt;i&gt;eve&lt;/i&gt;" in page
    assert "<b>noted</b>" not in page
    assert not re.search(r"<(script|link|img|iframe)\b|\bsrc=|url\(", page)  # self-contained, nothing to fetch


def test_the_report_highlights_the_shared_passages(report):
    _, page = report
    sections = re.findall(r'<section class="pair" id="pair-\d+">(.*?)</section>', page, re.S)
    assert len(sections) == 2  # top=2: the other pairs share nothing
    (shared,) = [s for s in sections if "mallory" in s]
    code = re.findall(r"<pre>(.*?)</pre>", shared, re.S)
    assert len(code) == 2
    for side in code:
        marked = "".join(html.unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", side, re.S))
        assert "flipped.clamp(min=0)" in marked and "torch.flip(dout * (x > 0)" in marked
        assert "class Layer(" not in marked  # the starter is no shared passage


def raw_positions(fp):
    """Where copydetect's compare_files puts each position of the filtered code in the file's text."""
    at = np.arange(len(fp.filtered_code))
    return at + fp.offsets[:, 1][np.clip(np.searchsorted(fp.offsets[:, 0], at), 0, len(fp.offsets) - 1)]


@pytest.mark.parametrize("exact", [True, False], ids=["fixed", "copydetect"])
def test_highlighted_passages_begin_where_they_begin_in_the_code(exact):
    """
    copydetect maps a class name to near the top of the file, so a passage that
    begins there (the first line of a student's forward after the starter's
    docstrings: 24 filtered characters) was highlighted from near the top.
    When copydetect fixes it, the 'copydetect' case fails: drop _class_offsets_fixed.
    """
    text = (SOLUTION / "layers.py").read_text()
    fp = fingerprint(text, "layers.py", exact_offsets=exact)
    raw = raw_positions(fp)
    wrong = [p for p, c in enumerate(fp.filtered_code)
             if (c == "O" and not re.search(r"class\s+$", text[: raw[p]])) or (c not in 'VFOS"' and text[raw[p]] != c)]
    assert fp.filtered_code.count("O") > 5
    assert (wrong == []) == exact


# -- Problems are reported, not raised --------------------------------------------


def test_a_broken_submission_is_reported_not_a_crash(tmp_path, disguised):
    cls = tmp_path / "class"
    shutil.copytree(SOLUTION, cls / "alice" / "hw", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(disguised / "hw", cls / "bob" / "hw")
    carol = copy_hw(cls / "carol", {"layers.py": b"\xff\xfe# caf\xe9\n" + (SOLUTION / "layers.py").read_bytes()})
    (carol / "hw" / "cnn.py").unlink()
    (carol / "hw" / "classifier.py").unlink()
    (carol / "hw" / "classifier.py").mkdir()
    (cls / "dave").mkdir()
    (cls / "dave" / "Part1_Backprop.ipynb").write_text("{}")  # notebooks, no hw/
    (cls / "erin.zip").write_bytes(b"not a zip")
    with zipfile.ZipFile(cls / "frank.zip", "w") as zf:  # a zip with a whole hw2/ in it
        for path in sorted(STARTER.glob("*.py")):
            zf.write(path, f"hw2/hw/{path.name}")
    said = []
    pairs = similarity_report([cls], tmp_path / "grades" / "similarity.html", report=said.append)
    page = (tmp_path / "grades" / "similarity.html").read_text()
    students = {s for p in pairs for s in (p.a, p.b)}
    assert students == {"alice", "bob", "carol", "frank"}
    assert {pairs[0].a, pairs[0].b} in ({"alice", "bob"}, {"alice", "carol"})
    assert pair_of(pairs, "alice", "carol").score > 0.5  # carol's layers.py is still compared
    expected = {
        "carol": ["layers.py is not UTF-8", "cnn.py is missing", "classifier.py cannot be read"],
        "dave": ["left out, it has no hw/ folder"],
        "erin": ["left out, erin.zip: not a readable zip file"],
    }
    for student, problems in expected.items():
        for problem in problems:
            assert any(line.startswith(f"{student}: ") and problem in line for line in said), (problem, said)
            assert html.escape(problem) in page


def test_the_class_report_compares_with_the_solution_and_names_its_markers(tmp_path):
    """course grade's report: the instructor's solution is one of the compared, and its markers in a submission are named."""
    from course.reports.similarity import SOLUTION as SOLUTION_NAME, graded_class_report

    out = tmp_path / "grades"
    edited = edited_modules()
    copied = {name: MARKERS.sub("", (SOLUTION / name).read_text()) for name in edited}
    marked = {name: (SOLUTION / name).read_text() for name in edited}
    copy_hw(out / "ann" / "code", copied)
    copy_hw(out / "bob" / "code", marked)
    copy_hw(out / "cid" / "code", {})
    pairs = graded_class_report(out)
    assert pair_of(pairs, "ann", SOLUTION_NAME).score >= COPIES_LOWEST, "a copy of the solution is as close to it as it gets"
    report = (out / "similarity.html").read_text()
    assert "bob: hw/" in report and "holds the instructor&#x27;s solution markers" in report
    assert "ann: hw/" not in report, "a copy without the markers has nothing to name (its similarity says it)"
    again = graded_class_report(out)
    assert [(p.a, p.b, p.score) for p in again] == [(p.a, p.b, p.score) for p in pairs], "the kept report says the same"
